"""Notebook 1, one head: the checks of exercises 01.1 to 01.3 (a softmax, scaled dot-product attention, why
divide by sqrt(d_k)).

The diagnostics of attention itself (``attention_mistakes``, ``compare_attention_pair``) are public: notebook 5's
masked attention (05.3) is the same recipe with a mask, and names the same mistakes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mha.attention import scaled_dot_product_attention
from mha.exercises import engine
from mha.numpy_attention import softmax_np

__all__ = ["check_softmax", "check_scaled_attention", "check_score_spread"]  # the checks the notebook calls

# ---------------------------------------------------------------- 01.1 a softmax over each row


def _softmax_mistakes(scores):
    e = np.exp(scores)
    return [
        (
            "each column sums to 1 instead of each row: take the softmax over the last axis (axis=-1)",
            lambda: softmax_np(scores, axis=-2),
        ),
        (
            "you divided by the sum of the whole array: sum each row separately (axis=-1, keepdims=True)",
            lambda: e / e.sum(),
        ),
        (
            "the sum needs keepdims=True: without it, row i is divided by the sum of another row",
            lambda: e / e.sum(axis=-1),
        ),
        (
            "you forgot the exponential: softmax divides exp(score) by the sum of the exps",
            lambda: scores / scores.sum(axis=-1, keepdims=True),
        ),
    ]


def check_softmax(softmax_rows) -> engine.CheckResult:
    """Exercise 01.1: softmax_rows(scores) -> weights, a NumPy softmax over the last axis (each row sums to 1).

    Hint: exponentiate the scores (after subtracting each row's maximum), then divide by each row's sum
    """

    def body(fn):
        rng = np.random.default_rng(101)
        cases = [rng.normal(size=(4, 4)) * 2, rng.normal(size=(3, 5)) * 2, rng.normal(size=(2, 3, 6)) * 2]
        for scores in cases:
            got = engine.to_tensor(engine.call(fn, scores.copy()), "softmax_rows(scores)")
            expected = torch.as_tensor(softmax_np(scores, axis=-1))
            if engine.close(got, expected):
                continue
            engine.diagnose(got, expected, _softmax_mistakes(scores), f"scores of shape {scores.shape}")
        big = rng.normal(size=(3, 4)) + 1000.0  # exp(1000) overflows float64; the softmax does not change
        got = engine.to_tensor(engine.call(fn, big.copy()), "softmax_rows(scores)")
        if not engine.close(got, torch.as_tensor(softmax_np(big))):
            raise engine.Verdict(
                "wrong",
                "right for small scores, but NaN or wrong for large ones (around 1000): subtract "
                "each row's maximum before np.exp, it does not change the softmax and avoids overflow.",
            )
        return "Every row sums to 1, even for very large scores."

    return engine.run_check("01.1", softmax_rows, body)


# ---------------------------------------------------------------- 01.2 scaled dot-product attention


def attention_mistakes(q, k, v, mask=None):
    """(message, weights) of the usual mistakes in scaled dot-product attention."""
    d_k, T = q.shape[-1], k.shape[-2]
    qk = q @ k.transpose(-2, -1)

    def soft(scores, dim=-1):
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=dim)

    return [
        ("the scores are not scaled: divide q @ k^T by math.sqrt(d_k)", lambda: soft(qk)),
        ("you divided the scores by d_k: divide by its square root, math.sqrt(d_k)", lambda: soft(qk / d_k)),
        (
            "you divided by the square root of the sequence length T: the scale is sqrt(d_k), the width of q and k",
            lambda: soft(qk / math.sqrt(T)),
        ),
        (
            "the softmax runs over the wrong axis (dim=-2: each column sums to 1): use dim=-1, so that each "
            "query's row of weights sums to 1",
            lambda: soft(qk / math.sqrt(d_k), dim=-2),
        ),
        (
            "the softmax runs over dim=1, which is only the keys' axis for 2-D inputs: use dim=-1, the last axis",
            lambda: soft(qk / math.sqrt(d_k), dim=1),
        ),
        (
            "the scores are transposed (k @ q^T): each row must belong to a query, scores = q @ k^T",
            lambda: soft((k @ q.transpose(-2, -1)) / math.sqrt(d_k)),
        ),
        (
            "the scores use q @ k without transposing k: use q @ k.transpose(-2, -1)",
            lambda: soft((q @ k) / math.sqrt(d_k)),
        ),
    ]


def compare_attention_pair(result, q, k, v, mask, where, extra_variants=()):
    """Compare an (out, weights) pair with the package's, diagnosing the weights first."""
    if isinstance(result, torch.Tensor) or not isinstance(result, (tuple, list)):
        raise engine.Verdict("wrong", "return two things, the output and the weights: `return out, weights`.")
    if len(result) != 2:
        raise engine.Verdict("wrong", f"return exactly two things, `return out, weights`; you returned {len(result)}.")
    out = engine.to_tensor(result[0], "out")
    weights = engine.to_tensor(result[1], "weights")
    exp_out, exp_w = scaled_dot_product_attention(q, k, v, mask)
    if tuple(out.shape) == tuple(exp_w.shape) != tuple(exp_out.shape) and tuple(weights.shape) == tuple(exp_out.shape):
        raise engine.Verdict(
            "wrong", f"out and weights are swapped: return the output first, `return out, weights` ({where})."
        )
    if not engine.close(weights, exp_w):
        engine.diagnose(weights, exp_w, list(extra_variants) + attention_mistakes(q, k, v, mask), where, "weights")
    if not engine.close(out, exp_out):
        engine.diagnose(
            out,
            exp_out,
            [
                ("the weights are right but out is not: out = weights @ v", lambda: v),
                ("out uses the transposed weights: out = weights @ v", lambda: exp_w.transpose(-2, -1) @ v),
            ],
            where,
            "out",
        )


BATCHED_HINT = (
    " It works on 2-D inputs but not on batched ones: did you use k.T? On a batched tensor .T reverses every "
    "axis; use k.transpose(-2, -1)."
)


def call_and_compare(fn, q, k, v, mask, where, extra_variants=()):
    """Call the learner's attention on copies of q, k, v (and the mask) and compare its (out, weights) with the
    package's; when a batched call (q with more than 2 axes) fails, the feedback ends with BATCHED_HINT."""
    args = (q, k, v) if mask is None else (q, k, v, mask)
    try:
        result = engine.call(fn, *(t.clone() for t in args))
        compare_attention_pair(result, q, k, v, mask, where, extra_variants)
    except engine.Verdict as verdict:
        if q.dim() > 2 and verdict.status == "error":
            verdict.feedback += BATCHED_HINT
        raise


def check_scaled_attention(attention) -> engine.CheckResult:
    """Exercise 01.2: attention(q, k, v) -> (out, weights), softmax(q k^T / sqrt(d_k)) v.

    q, k, v: (..., T, d_k); out (..., T, d_k); weights (..., T, T).

    Hint: scores = q @ k^T / sqrt(d_k), softmax over the last axis, then weights @ v; return out, weights
    """

    def body(fn):
        g = engine.generator(102)
        for shape in [(5, 4), (2, 3, 8), (2, 2, 6, 4)]:
            q, k, v = (engine.randn(g, *shape) for _ in range(3))
            call_and_compare(fn, q, k, v, None, f"q, k, v of shape {shape}")
        return "Your attention equals mha.scaled_dot_product_attention, batched inputs included."

    return engine.run_check("01.2", attention, body)


# ---------------------------------------------------------------- 01.3 why divide by sqrt(d_k)?


def check_score_spread(score_spread) -> engine.CheckResult:
    """Exercise 01.3: score_spread(d_k) -> (std_before, std_after) of q.k scores for random unit-variance q, k.

    Before scaling the spread grows like sqrt(d_k); after dividing by sqrt(d_k) it stays near 1.

    Hint: draw many random q and k, compute their dot products, return their std before and after dividing by sqrt(d_k)
    """

    def body(fn):
        for d_k in (4, 64, 256):
            torch.manual_seed(d_k)  # the learner draws their own random numbers
            result = engine.call(fn, d_k)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise engine.Verdict("wrong", "return two numbers: `return std_before, std_after`.")
            try:
                before, after = (float(torch.as_tensor(r).double().reshape(())) for r in result)
            except (TypeError, ValueError, RuntimeError):
                raise engine.Verdict(
                    "wrong", "return two numbers (floats or 0-d tensors), `std_before, std_after`."
                ) from None
            where = f"d_k={d_k}, expected about {math.sqrt(d_k):.3g} and 1"
            if abs(after - 1) < 0.25 and abs(before - 1) < 0.25:
                raise engine.Verdict(
                    "wrong",
                    f"both spreads are near 1: compute std_before from the raw dot products "
                    f"q @ k (not divided) ({where}).",
                )
            if abs(after - 1 / math.sqrt(d_k)) < 0.25 / math.sqrt(d_k):
                raise engine.Verdict(
                    "wrong", f"std_after is about 1/sqrt(d_k): you divided by d_k instead of sqrt(d_k) ({where})."
                )
            if abs(before - d_k) < 0.25 * d_k:
                raise engine.Verdict(
                    "wrong",
                    f"std_before is about d_k: did you return the variance instead of the "
                    f"standard deviation (.std(), not .var()) ({where})?",
                )
            if abs(before / math.sqrt(d_k) - 1) > 0.25:
                raise engine.Verdict(
                    "wrong",
                    f"std_before={before:.3g}: the spread of q.k for unit-variance entries "
                    f"should be about sqrt(d_k); use at least a few thousand random pairs, and "
                    f"torch.randn (variance 1) ({where}).",
                )
            if abs(after - 1) > 0.25:
                raise engine.Verdict(
                    "wrong",
                    f"std_after={after:.3g}: after dividing by sqrt(d_k) the spread should be about 1 ({where}).",
                )
        return "The raw scores spread like sqrt(d_k); the scaled ones stay near 1 whatever d_k."

    return engine.run_check("01.3", score_spread, body)


# ---------------------------------------------------------------- the exercises of notebook 1, in order

EXERCISES = (
    engine.Exercise("01.1", "A softmax over each row", "softmax_rows", check_softmax),
    engine.Exercise("01.2", "Scaled dot-product attention", "attention", check_scaled_attention, points=2),
    engine.Exercise("01.3", "Why divide by sqrt(d_k)?", "score_spread", check_score_spread),
)
