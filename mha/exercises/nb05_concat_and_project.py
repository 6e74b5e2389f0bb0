"""Notebook 5, concatenate and project: the checks of exercises 05.1 (a full multi-head forward pass), 05.2
(a causal mask) and 05.3 (attention with a mask).

05.3 compares with notebook 1's attention and names the same mistakes (``call_and_compare``), plus the
mistakes of masking.
"""

from __future__ import annotations

import math

import torch

from mha.attention import MultiHeadAttention, causal_mask
from mha.exercises import engine
from mha.exercises.nb01_one_head import call_and_compare

__all__ = ["check_mha_forward", "check_causal_mask", "check_masked_attention"]  # the checks the notebook calls

# ---------------------------------------------------------------- 05.1 a full multi-head forward pass


def _mha_reference(
    x,
    W_q,
    W_k,
    W_v,
    W_o,
    h,
    *,
    scale="sqrt_dk",
    softmax_dim=-1,
    split="ok",
    merge="ok",
    w_o="ok",
    qkv_t=False,
    one_head=False,
):
    """Multi-head attention with x @ W matrices, with switches that reproduce the usual mistakes."""
    B, T, d_model = x.shape
    d_k = d_model // h
    t = (lambda W: W.T) if qkv_t else (lambda W: W)
    q, k, v = x @ t(W_q), x @ t(W_k), x @ t(W_v)  # (B, T, d_model)
    if one_head:
        h, d_k = 1, d_model

    def to_heads(a):
        if split == "no_transpose":
            return a.reshape(B, h, T, d_k)
        return a.reshape(B, T, h, d_k).transpose(1, 2)  # (B, h, T, d_k)

    q, k, v = to_heads(q), to_heads(k), to_heads(v)
    divisor = {"sqrt_dk": math.sqrt(d_k), "none": 1.0, "dk": d_k, "sqrt_dmodel": math.sqrt(d_model)}[scale]
    weights = torch.softmax(q @ k.transpose(-2, -1) / divisor, dim=softmax_dim)  # (B, h, T, T)
    z = weights @ v  # (B, h, T, d_k)
    z = z.reshape(B, T, d_model) if merge == "no_transpose" else z.transpose(1, 2).reshape(B, T, d_model)
    if w_o == "none":
        return z
    return z @ (W_o.T if w_o == "T" else W_o)


def _mha_mistakes(x, W_q, W_k, W_v, W_o, h):
    def ref(**kw):
        return lambda: _mha_reference(x, W_q, W_k, W_v, W_o, h, **kw)

    return [
        ("W_O is missing: after merging the heads, project with W_o (concat @ W_o)", ref(w_o="none")),
        (
            "W_O is transposed: the weights are used as x @ W, so the last step is concat @ W_o",
            ref(w_o="T"),
        ),
        ("W_Q, W_K and W_V are transposed: these weights are used as x @ W_q", ref(qkv_t=True)),
        ("the scores are not scaled: divide q @ k^T by sqrt(d_k)", ref(scale="none")),
        ("you divided the scores by d_k: divide by sqrt(d_k)", ref(scale="dk")),
        (
            "you scaled by sqrt(d_model): each head's scores come from d_k = d_model / num_heads features, "
            "so divide by sqrt(d_k)",
            ref(scale="sqrt_dmodel"),
        ),
        (
            "the softmax runs over dim=-2 (the queries): use dim=-1 so each query's weights sum to 1",
            ref(softmax_dim=-2),
        ),
        (
            "split_heads reshaped straight to (B, h, T, d_k) without the transpose, and merge_heads too: "
            "reshape to (B, T, h, d_k) then transpose(1, 2), and the reverse",
            ref(split="no_transpose", merge="no_transpose"),
        ),
        (
            "the heads were split by a reshape without transpose: reshape to (B, T, h, d_k), then .transpose(1, 2)",
            ref(split="no_transpose"),
        ),
        (
            "the heads were merged by a reshape without transpose: .transpose(1, 2) back to (B, T, h, d_k) "
            "before flattening",
            ref(merge="no_transpose"),
        ),
        (
            "this is one big head: split q, k and v into num_heads heads before the attention",
            ref(one_head=True),
        ),
    ]


def check_mha_forward(mha_forward) -> engine.CheckResult:
    """Exercise 05.1: mha_forward(x, W_q, W_k, W_v, W_o, num_heads) -> out (B, T, d_model).

    x: (B, T, d_model); W_q, W_k, W_v, W_o: (d_model, d_model), used as x @ W (no biases).
    The check compares with mha.MultiHeadAttention(d_model, num_heads, bias=False) holding the same weights.

    Hint: project with W_q, W_k, W_v, split the heads, attend, merge the heads, project with W_o
    """

    def body(fn):
        g = engine.generator(501)
        for B, T, d_model, h in [(2, 5, 8, 2), (1, 4, 12, 3), (2, 3, 16, 4)]:
            x = engine.randn(g, B, T, d_model)
            W_q, W_k, W_v, W_o = (engine.randn(g, d_model, d_model) / math.sqrt(d_model) for _ in range(4))
            module = MultiHeadAttention(d_model, h, bias=False)
            with torch.no_grad():
                module.qkv.weight.copy_(torch.cat([W_q.T, W_k.T, W_v.T]))
                module.out_proj.weight.copy_(W_o.T)
                expected, _ = module(x)
            if not engine.close(expected, _mha_reference(x, W_q, W_k, W_v, W_o, h), 1e-5):
                raise engine.Verdict("error", "internal check failed: the reference disagrees with the package")
            args = (x.clone(), W_q.clone(), W_k.clone(), W_v.clone(), W_o.clone(), h)
            got = engine.to_tensor(engine.call(fn, *args), "mha_forward(...)")
            if engine.close(got, expected):
                continue

            where = f"x of shape {(B, T, d_model)}, num_heads={h}"
            engine.diagnose(got, expected, _mha_mistakes(x, W_q, W_k, W_v, W_o, h), where, "your output")
        return "Your forward pass equals mha.MultiHeadAttention, for every shape tried."

    return engine.run_check("05.1", mha_forward, body)


# ---------------------------------------------------------------- 05.2 a causal mask


def check_causal_mask(make_causal_mask) -> engine.CheckResult:
    """Exercise 05.2: make_causal_mask(T) -> a (T, T) bool tensor, True where token t may attend (keys 0..t).

    Hint: a (T, T) boolean tensor, True on and below the diagonal (torch.ones(...).tril())
    """

    def body(fn):
        for T in (4, 7, 1):
            got = engine.call(fn, T)
            mask = engine.to_tensor(got, f"make_causal_mask({T})")
            expected = causal_mask(T)
            where = f"T={T}"
            if tuple(mask.shape) != (T, T):
                shape = engine.shape_of(mask)
                raise engine.Verdict("wrong", f"the mask has shape {shape}, expected {(T, T)} ({where}).")
            if mask.dtype != torch.bool:
                if mask.is_floating_point() and torch.isinf(mask).any():
                    raise engine.Verdict(
                        "wrong",
                        "this is an additive float mask (0 and -inf), the convention of "
                        "nn.MultiheadAttention: this course uses a boolean mask, True = may attend.",
                    )
                if torch.equal(mask != 0, expected):
                    raise engine.Verdict(
                        "wrong",
                        f"the pattern is right, but the dtype is {mask.dtype}: make it "
                        "boolean (dtype=torch.bool), True = may attend.",
                    )
                raise engine.Verdict("wrong", f"the mask should be boolean (torch.bool), got {mask.dtype} ({where}).")
            if torch.equal(mask, expected):
                continue
            known = [
                (~expected, "the mask is inverted: True must mean 'may attend', so True on and below the diagonal"),
                (
                    expected.T,
                    "this is the upper triangle: it lets each token see the future. Use .tril(), the lower triangle",
                ),
                (
                    expected.tril(-1),
                    "the diagonal is missing: each token may attend to itself, use .tril() (diagonal=0)",
                ),
                (~expected.T, "the mask is inverted and transposed: keep True on and below the diagonal"),
            ]
            for wrong, message in known:
                if torch.equal(mask, wrong):
                    raise engine.Verdict("wrong", f"{message} ({where}).")
            raise engine.Verdict(
                "wrong",
                f"the mask is not the causal pattern: row t must be True for keys 0..t and False after ({where}).",
            )
        return "Each token sees itself and the tokens before it, never the future."

    return engine.run_check("05.2", make_causal_mask, body)


# ---------------------------------------------------------------- 05.3 attention with a mask


def _mask_mistakes(q, k, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return [
        (
            "masked scores were set to 0, not -inf: exp(0) = 1 still gives them weight. Use "
            "scores.masked_fill(~mask, float('-inf'))",
            lambda: torch.softmax(scores.masked_fill(~mask, 0.0), -1),
        ),
        (
            "the mask is inverted: True means 'may attend', so fill the scores where the mask is False (~mask)",
            lambda: torch.softmax(scores.masked_fill(mask, float("-inf")), -1),
        ),
        (
            "you multiplied the weights by the mask after the softmax: the rows no longer sum to 1. Mask the "
            "scores with -inf before the softmax",
            lambda: torch.softmax(scores, -1) * mask,
        ),
        (
            "the mask is ignored: fill the scores where the mask is False with float('-inf') before the softmax",
            lambda: torch.softmax(scores, -1),
        ),
    ]


def check_masked_attention(masked_attention) -> engine.CheckResult:
    """Exercise 05.3: masked_attention(q, k, v, mask) -> (out, weights), with a bool mask (True = may attend).

    q, k, v: (..., T, d_k); mask: broadcastable to (..., T, T). Every row of the mask allows at least one key.

    Hint: fill the scores where the mask is False with float('-inf') before the softmax
    """

    def body(fn):
        g = engine.generator(702)
        cases = []
        for shape in [(5, 4), (2, 2, 6, 3)]:
            T = shape[-2]
            cases.append((shape, causal_mask(T), "a causal mask"))
            random_mask = (torch.rand(*shape[:-1], T, generator=g) < 0.5) | torch.eye(T, dtype=torch.bool)
            cases.append((shape, random_mask, "a random mask"))
        for shape, mask, label in cases:
            q, k, v = (engine.randn(g, *shape) for _ in range(3))
            where = f"q, k, v of shape {shape} and {label} of shape {tuple(mask.shape)}"
            call_and_compare(fn, q, k, v, mask, where, _mask_mistakes(q, k, mask))
        return "Masked keys get exactly zero weight, and every row still sums to 1."

    return engine.run_check("05.3", masked_attention, body)


# ---------------------------------------------------------------- the exercises of notebook 5, in order

EXERCISES = (
    engine.Exercise("05.1", "A full multi-head forward pass", "mha_forward", check_mha_forward, points=3),
    engine.Exercise("05.2", "A causal mask", "make_causal_mask", check_causal_mask),
    engine.Exercise("05.3", "Attention with a mask", "masked_attention", check_masked_attention, points=2),
)
