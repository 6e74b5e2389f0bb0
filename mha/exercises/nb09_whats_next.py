"""Notebook 9, what's next: the checks of exercises 09.1 (the parameters of a Transformer block) and 09.2
(layer normalisation by hand)."""

from __future__ import annotations

import torch
from torch import nn

from mha.attention import MultiHeadAttention, count_parameters
from mha.exercises import engine

__all__ = ["check_block_param_count", "check_layer_norm"]  # the checks the notebook calls

# ---------------------------------------------------------------- 09.1 the parameters of a Transformer block


def _block_parameters(d_model: int) -> int:
    """The parameters of notebook 9's PreviewBlock: LayerNorm, MultiHeadAttention, LayerNorm, FFN d -> 4d -> d."""
    if d_model > 64:  # the formula, checked against real modules for the small widths below
        return 12 * d_model**2 + 13 * d_model
    parts = [
        nn.LayerNorm(d_model),
        MultiHeadAttention(d_model, 1),
        nn.LayerNorm(d_model),
        nn.Linear(d_model, 4 * d_model),
        nn.Linear(4 * d_model, d_model),
    ]
    return sum(count_parameters(p) for p in parts)


def check_block_param_count(block_param_count) -> engine.CheckResult:
    """Exercise 09.1: block_param_count(d_model) -> the parameters of one PreviewBlock of notebook 9
    (pre-norm: LayerNorm, MultiHeadAttention with biases, LayerNorm, FFN d_model -> 4 d_model -> d_model).

    Hint: add up attention (4 linear layers), two LayerNorms (scale and shift) and the FFN (two linear layers)
    """

    def body(fn):
        for d in (8, 16, 64, 768):
            expected = _block_parameters(d)
            if d <= 64 and expected != 12 * d * d + 13 * d:
                raise engine.Verdict("error", "internal check failed: the block's parameter formula")
            got = engine.call(fn, d)
            try:
                got_value = float(got)
            except (TypeError, ValueError):
                raise engine.Verdict("wrong", f"the count should be a number, got {got!r}.") from None
            if got_value == expected:
                continue
            known = [
                (12 * d * d + 9 * d, "you forgot the two LayerNorms: each has a scale and a shift of d_model numbers"),
                (12 * d * d + 11 * d, "each LayerNorm has two vectors of d_model numbers (scale and shift), not one"),
                (12 * d * d + 4 * d, "you forgot the biases of the six linear layers (4 in attention, 2 in the FFN)"),
                (12 * d * d, "you forgot all the biases and the LayerNorms"),
                (6 * d * d + 10 * d, "the FFN's hidden layer is 4 * d_model wide, not d_model"),
                (4 * d * d + 8 * d, "you forgot the feed-forward network (two linear layers d -> 4d -> d)"),
                (8 * d * d + 9 * d, "you forgot the attention layer (4 d_model^2 + 4 d_model)"),
                (11 * d * d + 12 * d, "you forgot W_O, the attention's output projection"),
                (12 * d * d + 10 * d, "the second FFN layer has d_model biases, not 4 * d_model"),
            ]
            engine.wrong_count(
                got_value,
                known,
                where=f"d_model={d}: expected {expected}",
                hint="Add up the attention, both LayerNorms and both FFN layers; "
                "mha.count_parameters(PreviewBlock(d_model, 4)) tells you the truth.",
            )
        return "12 d_model^2 + 13 d_model: two thirds of a block's weights sit in its feed-forward network."

    return engine.run_check("09.1", block_param_count, body)


# ---------------------------------------------------------------- 09.2 layer normalisation by hand


def _layer_norm_mistakes(x):
    def norm(dims, unbiased=False, root=True, center=True):
        mean = x.mean(dim=dims, keepdim=True) if center else 0
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        return (x - mean) / ((var + 1e-5).sqrt() if root else var + 1e-5)

    return [
        (
            "x.std() and x.var() divide by n - 1 by default: layer norm uses the plain variance, "
            "x.var(dim=-1, unbiased=False, keepdim=True)",
            lambda: norm(-1, unbiased=True),
        ),
        (
            "you normalised over the tokens (dim=-2): layer norm normalises each token's vector, over the last axis",
            lambda: norm(-2),
        ),
        (
            "you normalised over the tokens (dim=-2), with the n - 1 variance: use the last axis, unbiased=False",
            lambda: norm(-2, unbiased=True),
        ),
        (
            "you normalised over the whole tensor: use each token's own mean and variance, over the last axis",
            lambda: norm((0, 1, 2)),
        ),
        (
            "you divided by the variance: divide by its square root, the standard deviation",
            lambda: norm(-1, root=False),
        ),
        ("you forgot to subtract the mean", lambda: norm(-1, center=False)),
    ]


def check_layer_norm(layer_norm) -> engine.CheckResult:
    """Exercise 09.2: layer_norm(x, eps=1e-5) -> each vector of x (last axis) rescaled to mean 0 and variance 1.

    The same as torch.nn.functional.layer_norm(x, (d_model,), eps=eps) (no learned scale and shift).

    Hint: subtract each vector's mean over the last axis, divide by sqrt(variance + eps) (biased variance)
    """

    def body(fn):
        g = engine.generator(702)
        for shape in [(2, 5, 8), (1, 7, 16), (3, 4, 6)]:
            x = engine.randn(g, *shape) * 3 + torch.arange(shape[-1]) - 2  # means and spreads far from 0 and 1
            expected = torch.nn.functional.layer_norm(x, (shape[-1],), eps=1e-5)
            got = engine.to_tensor(engine.call(fn, x.clone()), "layer_norm(x)")
            if not engine.close(got, expected):
                engine.diagnose(got, expected, _layer_norm_mistakes(x), f"x of shape {shape}", "layer_norm(x)")
        return "Every token's vector now has mean 0 and variance 1, like nn.LayerNorm before its scale and shift."

    return engine.run_check("09.2", layer_norm, body)


# ---------------------------------------------------------------- the exercises of notebook 9, in order

EXERCISES = (
    engine.Exercise("09.1", "Count the parameters of a block", "block_param_count", check_block_param_count),
    engine.Exercise("09.2", "Layer normalisation by hand", "layer_norm", check_layer_norm),
)
