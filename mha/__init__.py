"""mha: the package behind the course "Multi-Head Attention, from one head to h heads".

The math lives in ``mha.attention`` and is re-exported here; figures live in ``mha.viz``.
"""

from mha.attention import (
    HeadPanel,
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    count_parameters,
    get_device,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    self_attention_np,
    softmax_np,
    split_heads,
)
from mha.validate import valid_head_counts

__version__ = "0.1.0"

__all__ = [
    "HeadPanel",
    "MultiHeadAttention",
    "SelfAttention",
    "causal_mask",
    "count_parameters",
    "get_device",
    "merge_heads",
    "padding_mask",
    "scaled_dot_product_attention",
    "self_attention_np",
    "setup_notebook",
    "softmax_np",
    "split_heads",
    "valid_head_counts",
]


def setup_notebook() -> None:
    """Prepare a notebook kernel: choose the plotly renderer (Colab's or the course's) and print options.

    Every notebook's setup cell calls this; it prints nothing.
    """
    import numpy as np
    import torch

    from mha.viz import setup_notebook as _setup_plotly

    np.set_printoptions(precision=4, suppress=True)
    torch.set_printoptions(precision=4, sci_mode=False)
    _setup_plotly()
