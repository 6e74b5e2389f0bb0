"""Notebook 3, a panel of experts: the checks of exercises 03.1 (run a panel of heads) and 03.2 (count the
parameters of the layer)."""

from __future__ import annotations

import torch

from mha.attention import MultiHeadAttention, SelfAttention, count_parameters
from mha.exercises import engine

__all__ = ["check_run_heads", "check_param_count"]  # the checks the notebook calls

# ---------------------------------------------------------------- 03.1 run a panel of heads


def _panel_mistakes(x, heads):
    results = [head(x) for head in heads]
    zs = [z for z, _ in results]
    return [
        (
            "you stacked the heads on a new axis, (B, h, T, d_k): concatenate them along the last axis instead, "
            "torch.cat(zs, dim=-1)",
            lambda: torch.stack(zs, dim=1),
        ),
        (
            f"the heads' features are interleaved: torch.stack(zs, dim=-1).flatten(-2) puts feature j of head i at "
            f"j*h+i (h = {len(zs)}), so no head has its own slice; concatenate with torch.cat(zs, dim=-1) so that "
            "head i fills features i*d_k ... (i+1)*d_k - 1",
            lambda: torch.stack(zs, dim=-1).flatten(-2),
        ),
        (
            "you concatenated along the tokens axis: the heads go side by side along the features, dim=-1",
            lambda: torch.cat(zs, dim=1),
        ),
        ("you added the heads up: concatenate them, so the width becomes h * d_k", lambda: sum(zs)),
        ("you averaged the heads: concatenate them, so the width becomes h * d_k", lambda: sum(zs) / len(zs)),
        (
            "you concatenated the attention weights: each head returns (z, weights); keep z",
            lambda: torch.cat([w for _, w in results], dim=-1),
        ),
        ("the heads are in the wrong order: head 1 first, then head 2, ...", lambda: torch.cat(zs[::-1], dim=-1)),
        ("only the first head is there: run every head in the list", lambda: zs[0]),
    ]


def check_run_heads(run_heads) -> engine.CheckResult:
    """Exercise 03.1: run_heads(x, heads) -> the heads' outputs z side by side, (B, T, h * d_k).

    x: (B, T, d_model); heads: a list of mha.SelfAttention(d_model, d_k).

    Hint: call every head on x, keep its z (not its weights), and concatenate them along the last axis
    """

    def body(fn):
        g = engine.generator(301)
        for B, T, d_model, h in [(1, 5, 8, 2), (2, 4, 12, 3), (2, 3, 16, 4)]:
            torch.manual_seed(300 + h)
            heads = [SelfAttention(d_model, d_model // h) for _ in range(h)]
            x = engine.randn(g, B, T, d_model)
            with torch.no_grad():
                expected = torch.cat([head(x)[0] for head in heads], dim=-1)
                got = engine.to_tensor(engine.call(fn, x.clone(), list(heads)), "run_heads(x, heads)")
                if not engine.close(got, expected):
                    where = f"x of shape {(B, T, d_model)}, {h} heads of width {d_model // h}"
                    engine.diagnose(got, expected, _panel_mistakes(x, heads), where, "run_heads(x, heads)")
        return "Every head's z, side by side: h * d_k = d_model features per token."

    return engine.run_check("03.1", run_heads, body)


# ---------------------------------------------------------------- 03.2 count the parameters


def check_param_count(answer) -> engine.CheckResult:
    """Exercise 03.2: mha_param_count(d_model, num_heads) -> the number of parameters of
    mha.MultiHeadAttention(d_model, num_heads) (with biases). A plain number is checked for d_model=512, num_heads=8.

    Hint: four (d_model x d_model) weight matrices plus four bias vectors of length d_model
    """

    def body(a):
        configs = [(8, 2), (12, 3), (64, 8), (512, 8)]
        if not callable(a):
            configs = [(512, 8)]
        for d_model, h in configs:
            got = engine.call(a, d_model, h) if callable(a) else a
            try:
                got_value = float(got)
            except (TypeError, ValueError):
                raise engine.Verdict("wrong", f"the count should be a number, got {got!r}.") from None
            expected = count_parameters(MultiHeadAttention(d_model, h))
            if got_value == expected:
                continue
            d, d_k = d_model, d_model // h
            known = [
                (
                    4 * d * d,
                    "you forgot the biases: each of the four linear layers (W_Q, W_K, W_V, W_O) also has "
                    "d_model biases",
                ),
                (
                    3 * d * d + 3 * d,
                    "you forgot W_O: the output projection adds d_model * d_model weights and d_model biases",
                ),
                (3 * d * d, "you forgot W_O and the biases"),
                (
                    h * (4 * d * d + 4 * d),
                    "you gave every head full (d_model x d_model) matrices: each head's W_Q "
                    "is d_model x d_k, so the total does not grow with num_heads",
                ),
                (
                    h * 4 * d * d,
                    "you gave every head full (d_model x d_model) matrices (and forgot the biases): "
                    "each head's W_Q is d_model x d_k",
                ),
                (4 * d * d_k + 4 * d_k, "you counted one head only: there are num_heads heads of width d_k"),
                (
                    3 * d * d_k + d * d + 3 * d_k + d,
                    "you counted the Q, K, V weights of one head only: all heads "
                    "together have d_model x d_model of each",
                ),
            ]
            engine.wrong_count(
                got_value,
                known,
                where=f"d_model={d_model}, num_heads={h}: expected {expected}",
                hint="Count the weights and biases of the four linear layers; "
                "mha.count_parameters(module) tells you the truth.",
            )
        return "4 * d_model**2 + 4 * d_model, whatever the number of heads."

    return engine.run_check("03.2", answer, body, value=not callable(answer))


# ---------------------------------------------------------------- the exercises of notebook 3, in order

EXERCISES = (
    engine.Exercise("03.1", "Run a panel of heads", "run_heads", check_run_heads),
    engine.Exercise("03.2", "Count the parameters", "mha_param_count", check_param_count),
)
