"""Notebook 7, two layers: the check of exercise 07.1 (each head's term of W_O). The seed study against a baseline
is exercise 02.3 (notebook 2), not repeated here."""

from __future__ import annotations

import math

import torch
from torch import nn

from mha.exercises import engine

__all__ = ["check_head_terms"]  # the checks the notebook calls

# ---------------------------------------------------------------- 07.1 each head's term of W_O


def _head_terms(z, out_proj, mode="ok"):
    """(B, h, T, d_model): head i's term z_i W_O,i^T, with switches that reproduce the usual mistakes."""
    B, h, T, d_k = z.shape
    W = out_proj.weight.detach()  # (d_model, d_model): y = concat @ W.T + b
    terms = []
    for i in range(h):
        if mode == "rows":
            part = W[i * d_k : (i + 1) * d_k, :]  # (d_k, d_model): rows, not the head's columns
            terms.append(z[:, i] @ part)
            continue
        cols = slice(i, None, h) if mode == "interleaved" else slice(i * d_k, (i + 1) * d_k)
        terms.append(z[:, i] @ W[:, cols].T)  # (B, T, d_model)
    out = torch.stack(terms, dim=1)  # (B, h, T, d_model)
    if mode == "bias":
        out = out + out_proj.bias.detach()
    if mode == "reversed":
        out = out.flip(1)
    return out


def check_head_terms(head_terms) -> engine.CheckResult:
    """Exercise 07.1: head_terms(z, out_proj) -> (B, h, T, d_model), head i's term of the layer's output.

    z: (B, h, T, d_k), the heads' outputs before they are concatenated; out_proj: the layer's W_O, an
    nn.Linear(d_model, d_model) (out = concat(z_1, ..., z_h) @ out_proj.weight.T + out_proj.bias).
    The terms must add up, over heads, to the layer's output minus the bias.

    Hint: term i is z[:, i] @ out_proj.weight[:, i*d_k:(i+1)*d_k].T, stacked on a new axis 1; no bias
    """

    def body(fn):
        g = engine.generator(701)
        for B, h, T, d_k in [(2, 4, 5, 3), (1, 2, 3, 4), (2, 3, 4, 2)]:
            d_model = h * d_k
            z = engine.randn(g, B, h, T, d_k)
            with torch.random.fork_rng(devices=[]):  # nn.Linear's own random start must not move the learner's RNG
                out_proj = nn.Linear(d_model, d_model)
            with torch.no_grad():
                out_proj.weight.copy_(engine.randn(g, d_model, d_model) / math.sqrt(d_model))
                out_proj.bias.copy_(engine.randn(g, d_model))
            expected = _head_terms(z, out_proj)
            with torch.no_grad():
                full = out_proj(z.transpose(1, 2).reshape(B, T, d_model))  # (B, T, d_model): concat, then W_O
            if not engine.close(expected.sum(1) + out_proj.bias.detach(), full, 1e-5):
                raise engine.Verdict("error", "internal check failed: the reference terms do not add up")
            got = engine.to_tensor(engine.call(fn, z.clone(), out_proj), "head_terms(...)")
            if engine.close(got, expected):
                continue
            where = f"z of shape {(B, h, T, d_k)}"
            if tuple(got.shape) == (B, T, d_model):
                raise engine.Verdict(
                    "wrong",
                    f"this has the shape of the whole layer's output: keep one term per head, (B, h, T, d_model) "
                    f"({where}).",
                )
            variants = [
                (
                    "you sliced ROWS of out_proj.weight: head i meets the COLUMNS i*d_k ... (i+1)*d_k - 1 "
                    "(W[:, cols]), because the layer computes concat @ W.T",
                    lambda z=z, p=out_proj: _head_terms(z, p, "rows"),
                ),
                (
                    "you took every h-th column (W[:, i::h]): head i owns one block of d_k columns side by side, "
                    "W[:, i*d_k:(i+1)*d_k]",
                    lambda z=z, p=out_proj: _head_terms(z, p, "interleaved"),
                ),
                (
                    "you added the bias to every head's term: the bias is added once, to the sum, so the terms "
                    "add up to the output minus the bias",
                    lambda z=z, p=out_proj: _head_terms(z, p, "bias"),
                ),
                (
                    "the heads come out in reverse order: term i belongs to z[:, i]",
                    lambda z=z, p=out_proj: _head_terms(z, p, "reversed"),
                ),
            ]
            engine.diagnose(got, expected, variants, where, "your terms")
        return (
            "Each head's term z_i W_O,i^T is right, and the terms add up to the layer's output minus the bias: "
            "W_O after the concatenation is a sum of one term per head."
        )

    return engine.run_check("07.1", head_terms, body)


# ---------------------------------------------------------------- the exercises of notebook 7, in order

EXERCISES = (engine.Exercise("07.1", "Each head's term of W_O", "head_terms", check_head_terms),)
