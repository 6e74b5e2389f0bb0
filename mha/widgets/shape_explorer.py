"""Explorer 1: the shape of every tensor of one MultiHeadAttention layer as h and d_model change."""

from __future__ import annotations

from mha import viz
from mha.widgets.base import Explorer, int_setting, slider

__all__ = ["ShapeExplorer"]

# ---------------------------------------------------------------- 1. shapes


class ShapeExplorer(Explorer):
    """Sliders for d_model, num_heads and the sequence length; a figure of every tensor's shape in the layer.

    The figure shows X, Q/K/V cut into heads, the weights, each Z_i, the concatenation and the output, with
    d_k, the parameter count and the FLOPs. d_model not divisible by num_heads gives a message naming the
    nearest valid choices (``mha.valid_head_counts``) and keeps the last figure.
    """

    defaults = {"d_model": 64, "num_heads": 8, "seq_len": 11}

    def __init__(self, d_model: int = 64, num_heads: int = 8, seq_len: int = 11):
        super().__init__(d_model=d_model, num_heads=num_heads, seq_len=seq_len)

    def _make_controls(self):
        return {
            "d_model": slider("d_model", 64, 4, 256, 4),
            "num_heads": slider("num_heads (h)", 8, 1, 16),
            "seq_len": slider("tokens (T)", 11, 1, 32),
        }

    def _check(self, name, value):
        return int_setting(name, value)

    def _draw(self, p):
        self._check_divisible(p["d_model"], p["num_heads"])
        return viz.shape_parts(p["d_model"], p["num_heads"], p["seq_len"])

    @staticmethod
    def static_figure(d_models=(32, 64, 128), head_counts=(1, 2, 4, 8), seq_len: int = 11):
        """The explorer without a kernel: buttons for d_model, a slider for num_heads, over precomputed figures."""
        figures = {(d, h): viz.shape_figure(d, h, seq_len) for d in d_models for h in head_counts}
        active = (64 if 64 in d_models else d_models[0], 4 if 4 in head_counts else head_counts[0])
        return viz.controls_figure(figures, "num_heads", "d_model", active=active)
