"""One head of self-attention in NumPy: the equations written out, the reference the PyTorch code is checked against.

Notebook 1 builds a head step by step in NumPy and compares its steps with these two functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_np", "self_attention_np"]


def softmax_np(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``: subtract the row maximum before exp."""
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def self_attention_np(x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray):
    """One head of self-attention in NumPy, the equation written out.

    x: (T, d_model); w_q, w_k, w_v: (d_model, d_k). Returns z (T, d_k) and weights (T, T).
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != np.shape(w_q)[0]:
        raise ValueError(f"x must have shape (T, d_model={np.shape(w_q)[0]}), got {x.shape}")
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, d_k) each
    scores = q @ k.T / np.sqrt(k.shape[-1])  # (T, T)
    weights = softmax_np(scores, axis=-1)  # each row sums to 1
    return weights @ v, weights
