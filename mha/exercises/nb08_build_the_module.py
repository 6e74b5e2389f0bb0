"""Notebook 8, build the module: the checks of exercises 08.1 (one mask from a mask and a padding mask), 08.2 (a
padding mask from lengths), 08.3 (the shapes of cross-attention), 08.4 (dropout only in training) and 08.5 (the
weight mapping into torch.nn.MultiheadAttention).

Every learner's function takes and returns plain tensors, numbers and dicts, so the grader can replay the checks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mha.attention import MultiHeadAttention, padding_mask
from mha.exercises import engine

__all__ = [
    "check_combine_masks",
    "check_padding_mask",
    "check_cross_attention_shapes",
    "check_attention_dropout",
    "check_torch_mha_weights",
]  # the checks the notebook calls

# ---------------------------------------------------------------- 08.1 one mask from a mask and a padding mask


def check_combine_masks(combine_masks) -> engine.CheckResult:
    """Exercise 08.1: combine_masks(mask (T, T) bool, padding_mask (B, T) bool) -> (B, 1, T, T) bool, True where
    query t of sequence b may attend to key s: mask[t, s] and padding_mask[b, s] (what the module builds).

    Hint: mask[None, None] & padding_mask[:, None, None, :]: the padding mask hides keys, the result is (B, 1, T, T)
    """

    def body(fn):
        g = engine.generator(707)
        for B, T, kind in [(3, 5, "causal"), (2, 6, "causal"), (4, 4, "causal"), (3, 5, "any")]:
            lengths = torch.randint(1, T + 1, (B,), generator=g)
            lengths[0] = T  # one sequence without padding
            pad = padding_mask(lengths, T)
            if kind == "causal":
                mask = torch.ones(T, T, dtype=torch.bool).tril()
            else:  # another mask: the function must use the one it is given
                mask = (torch.rand(T, T, generator=g) < 0.6) | torch.eye(T, dtype=torch.bool)
            expected = mask[None, None] & pad[:, None, None, :]  # (B, 1, T, T)
            got = engine.to_tensor(engine.call(fn, mask.clone(), pad.clone()), "combine_masks(mask, padding_mask)")
            where = f"B={B}, T={T}, lengths={lengths.tolist()}" + ("" if kind == "causal" else ", a non-causal mask")
            if got.dtype != torch.bool:
                raise engine.Verdict(
                    "wrong", f"the result has dtype {got.dtype}: masks are torch.bool (combine them with &) ({where})."
                )
            if tuple(got.shape) == (B, T, T) and torch.equal(got, expected[:, 0]):
                raise engine.Verdict(
                    "wrong",
                    f"the values are right, but shape (B, T, T) does not line up with the scores (B, h, T, T): "
                    f"add an axis of size 1 for the heads, (B, 1, T, T) ({where}).",
                )
            if torch.equal(got, expected):
                continue
            keys, own_causal = pad[:, None, None, :], torch.ones(T, T, dtype=torch.bool).tril()
            mistakes = [
                (
                    "the padding mask hides keys (the last axis), not queries: index it as "
                    "padding_mask[:, None, None, :]",
                    mask[None, None] & pad[:, None, :, None],
                ),
                ("a key must be allowed by both masks: combine them with & (and), not | (or)", mask[None, None] | keys),
                ("True must mean 'may attend' (mha's convention): your mask is the other way round", ~expected),
                (
                    "padding_mask is True for the real tokens: you hid the real tokens and kept the padding",
                    mask[None, None] & ~keys,
                ),
                ("you left out the padding mask", mask[None, None].expand(B, 1, T, T)),
                ("you left out the first mask (the causal one): combine both", keys.expand(B, 1, T, T)),
                ("the mask is indexed mask[query, key]: you used its transpose", mask.T[None, None] & keys),
                ("use the mask you are given, not a causal mask of your own", own_causal[None, None] & keys),
            ]
            variants = [(message, lambda wrong=wrong: wrong.int()) for message, wrong in mistakes]
            engine.diagnose(got.int(), expected.int(), variants, where)
        return (
            "Query t of sequence b may attend to key s when both masks allow it: one (B, 1, T, T) mask for all heads."
        )

    return engine.run_check("08.1", combine_masks, body)


# ---------------------------------------------------------------- 08.2 a padding mask from lengths


def check_padding_mask(make_padding_mask) -> engine.CheckResult:
    """Exercise 08.2: make_padding_mask(lengths (B,) int64, T) -> (B, T) bool, True for a real token.

    Hint: compare torch.arange(T) with the lengths: True where position < length
    """

    def body(fn):
        g = engine.generator(717)
        for B, T in [(3, 5), (4, 8), (1, 6), (5, 3)]:
            lengths = torch.randint(1, T + 1, (B,), generator=g)
            lengths[0] = T  # one full sequence
            expected = padding_mask(lengths, T)
            got = engine.call(fn, lengths.clone(), T)
            got = engine.to_tensor(got, "make_padding_mask(lengths, T)")
            where = f"lengths={lengths.tolist()}, T={T}"
            if got.dtype != torch.bool:
                if tuple(got.shape) == (B, T) and torch.equal(got.ne(0), expected):
                    raise engine.Verdict(
                        "wrong",
                        f"the values are right but the dtype is {got.dtype}: masks are torch.bool "
                        f"(compare, e.g. `<`, or call .bool()) ({where}).",
                    )
                if tuple(got.shape) == (B, T) and torch.equal(got.ne(0), ~expected):
                    raise engine.Verdict(
                        "wrong",
                        f"True must mark the real tokens, not the padding, and the dtype must be torch.bool ({where}).",
                    )
            if tuple(got.shape) == (T, B) and B != T:
                raise engine.Verdict(
                    "wrong", f"shape (T, B) = {engine.shape_of(got)}: one row per sequence, (B, T) ({where})."
                )
            if torch.equal(got, expected):
                continue
            positions = torch.arange(T)
            variants = [
                (
                    "True must mark the real tokens and False the padding: your mask is the other way round "
                    "(that is torch's key_padding_mask)",
                    lambda expected=expected: ~expected,
                ),
                (
                    "off by one: position t is real when t < length (positions start at 0), not t <= length",
                    lambda positions=positions, lengths=lengths: positions[None] <= lengths[:, None],
                ),
                (
                    "off by one: position t is real when t < length, so position length - 1 is still real",
                    lambda positions=positions, lengths=lengths: positions[None] < (lengths[:, None] - 1),
                ),
            ]
            engine.diagnose(got, expected, variants, where, "make_padding_mask(lengths, T)")
        return "True for the real tokens, False for the padding, one row per sequence: mha.padding_mask's convention."

    return engine.run_check("08.2", make_padding_mask, body)


# ---------------------------------------------------------------- 08.3 the shapes of cross-attention


def check_cross_attention_shapes(cross_attention_shapes) -> engine.CheckResult:
    """Exercise 08.3: cross_attention_shapes(B, T_q, T_k, d_model, num_heads) -> {name: shape tuple}.

    Hint: queries follow x (T_q); keys, values and the padding mask follow the context (T_k)
    """
    keys = ("q_heads", "k_heads", "v_heads", "weights", "out", "padding_mask")

    def body(fn):
        for B, T_q, T_k, d_model, h in [(2, 3, 11, 16, 4), (1, 5, 2, 12, 3), (3, 7, 4, 8, 8)]:
            x, context = torch.zeros(B, T_q, d_model), torch.zeros(B, T_k, d_model)
            m = MultiHeadAttention(d_model, h)
            d_k = d_model // h
            with torch.no_grad():
                out, weights = m(x, context=context, padding_mask=torch.ones(B, T_k, dtype=torch.bool))
            expected = {
                "q_heads": (B, h, T_q, d_k),
                "k_heads": (B, h, T_k, d_k),
                "v_heads": (B, h, T_k, d_k),
                "weights": tuple(weights.shape),
                "out": tuple(out.shape),
                "padding_mask": (B, T_k),
            }
            got = engine.call(fn, B, T_q, T_k, d_model, h)
            if not isinstance(got, dict):
                raise engine.Verdict("wrong", f"return a dict with the keys {list(keys)}, got {type(got).__name__}.")
            missing = [k for k in keys if k not in got]
            if missing:
                raise engine.Verdict("wrong", f"the dict is missing the keys {missing}.")
            where = f"B={B}, T_q={T_q}, T_k={T_k}, d_model={d_model}, h={h}"
            for k in keys:
                try:
                    value = tuple(int(n) for n in got[k])
                except (TypeError, ValueError):
                    raise engine.Verdict("wrong", f"{k!r} should be a tuple of ints, got {got[k]!r}.") from None
                if value == expected[k]:
                    continue
                hints = {
                    "weights": "one row per query (T_q) and one column per context token (T_k): (B, h, T_q, T_k)",
                    "out": "the output has one row per query: (B, T_q, d_model), whatever the context's length",
                    "padding_mask": "the padding mask hides keys, which come from the context: (B, T_k)",
                    "q_heads": "the queries come from x: (B, h, T_q, d_k)",
                    "k_heads": "the keys come from the context: (B, h, T_k, d_k)",
                    "v_heads": "the values come from the context, like the keys: (B, h, T_k, d_k)",
                }
                raise engine.Verdict("wrong", f"{k!r}: got {value}, expected {expected[k]}: {hints[k]} ({where}).")
        return "Queries follow x (T_q), keys, values and the padding mask follow the context (T_k)."

    return engine.run_check("08.3", cross_attention_shapes, body)


# ---------------------------------------------------------------- 08.4 dropout only in training


def check_attention_dropout(attention_dropout) -> engine.CheckResult:
    """Exercise 08.4: attention_dropout(weights, p, training, noise) -> weights, dropped where noise < p and scaled by
    1/(1-p) in training; unchanged in evaluation.

    Hint: in training: zero where noise < p, divide the rest by (1 - p); in evaluation: return the weights
    """

    def body(fn):
        g = engine.generator(747)
        for shape, p in [((2, 2, 4, 4), 0.2), ((1, 3, 5, 6), 0.5), ((2, 1, 3, 3), 0.1)]:
            weights = torch.softmax(engine.randn(g, *shape), dim=-1)
            noise = torch.rand(shape, generator=g)
            where = f"weights of shape {shape}, p={p}"
            got_eval = engine.to_tensor(
                engine.call(fn, weights.clone(), p, False, noise.clone()), "attention_dropout(..., training=False)"
            )
            if not engine.close(got_eval, weights, 1e-7):
                if engine.close(got_eval, weights / (1 - p), 1e-7):
                    raise engine.Verdict(
                        "wrong", f"in evaluation return the weights unchanged: no scaling by 1/(1-p) either ({where})."
                    )
                raise engine.Verdict(
                    "wrong",
                    f"in evaluation (training=False) dropout does nothing: return the weights unchanged ({where}).",
                )
            expected = torch.where(noise >= p, weights / (1 - p), torch.zeros_like(weights))
            got = engine.to_tensor(
                engine.call(fn, weights.clone(), p, True, noise.clone()), "attention_dropout(..., training=True)"
            )
            if engine.close(got, expected, 1e-6):
                continue
            variants = [
                (
                    "you dropped the weights but did not scale the kept ones by 1/(1-p): the rows then sum to about "
                    "1 - p on average",
                    lambda noise=noise, p=p, weights=weights: torch.where(
                        noise >= p, weights, torch.zeros_like(weights)
                    ),
                ),
                (
                    "scale the kept weights by 1/(1-p), not by (1-p)",
                    lambda noise=noise, p=p, weights=weights: torch.where(
                        noise >= p, weights * (1 - p), torch.zeros_like(weights)
                    ),
                ),
                (
                    "you dropped where noise >= p, so a fraction 1 - p is dropped: drop where noise < p",
                    lambda noise=noise, p=p, weights=weights: torch.where(
                        noise < p, weights / p, torch.zeros_like(weights)
                    ),
                ),
                (
                    "you dropped where noise >= p, so a fraction 1 - p is dropped: drop where noise < p",
                    lambda noise=noise, p=p, weights=weights: torch.where(
                        noise < p, weights / (1 - p), torch.zeros_like(weights)
                    ),
                ),
                (
                    "you renormalised the rows after dropping: dropout only zeroes and scales by 1/(1-p)",
                    lambda noise=noise, p=p, weights=weights: (lambda w: w / w.sum(-1, keepdim=True).clamp_min(1e-12))(
                        torch.where(noise >= p, weights, torch.zeros_like(weights))
                    ),
                ),
            ]
            engine.diagnose(got, expected, variants, where, "attention_dropout(..., training=True)")
        return "Dropped with probability p and scaled by 1/(1-p) in training, untouched in evaluation."

    return engine.run_check("08.4", attention_dropout, body)


# ---------------------------------------------------------------- 08.5 the weights of nn.MultiheadAttention


def check_torch_mha_weights(torch_mha_weights) -> engine.CheckResult:
    """Exercise 08.5: torch_mha_weights(W_q, W_k, W_v, W_O) -> {"in_proj_weight": (3 d, d), "out_proj.weight": (d, d)}
    for nn.MultiheadAttention(d_model, h, bias=False, batch_first=True), from the per-head (d_k, d_model) matrices.

    Hint: in_proj_weight = all heads' W_Q, then all W_K, then all W_V, stacked along the rows; out_proj.weight = W_O
    """

    def body(fn):
        g = engine.generator(757)
        for d_model, h in [(8, 2), (12, 3), (16, 4)]:
            d_k = d_model // h
            W_q, W_k, W_v = ([engine.randn(g, d_k, d_model) for _ in range(h)] for _ in range(3))
            W_O = engine.randn(g, d_model, h * d_k)
            expected_in = torch.cat([torch.cat(W_q), torch.cat(W_k), torch.cat(W_v)])
            got = engine.call(
                fn, [w.clone() for w in W_q], [w.clone() for w in W_k], [w.clone() for w in W_v], W_O.clone()
            )
            where = f"d_model={d_model}, h={h}"
            if not isinstance(got, dict) or not {"in_proj_weight", "out_proj.weight"} <= set(got):
                raise engine.Verdict(
                    "wrong",
                    "return a dict with the keys 'in_proj_weight' and 'out_proj.weight' (the names "
                    "in nn.MultiheadAttention's state_dict).",
                )
            got_in = engine.to_tensor(got["in_proj_weight"], "in_proj_weight")
            got_out = engine.to_tensor(got["out_proj.weight"], "out_proj.weight")
            if not engine.close(got_in, expected_in, 1e-6):
                interleaved = torch.cat([torch.cat([W_q[i], W_k[i], W_v[i]]) for i in range(h)])
                variants = [
                    (
                        "you stacked head by head (q, k, v of head 1, then head 2 ...): PyTorch wants every head's W_Q "
                        "first, then every W_K, then every W_V",
                        lambda interleaved=interleaved: interleaved,
                    ),
                    (
                        "in_proj_weight is (3 d_model, d_model) as stored by nn.Linear: do not transpose",
                        lambda expected_in=expected_in: expected_in.T,
                    ),
                    (
                        "concatenate the heads along the rows (dim=0): each head's W_Q is (d_k, d_model)",
                        lambda W_q=W_q, W_k=W_k, W_v=W_v: torch.cat(
                            [torch.cat(W_q, 1), torch.cat(W_k, 1), torch.cat(W_v, 1)], 1
                        ),
                    ),
                ]
                engine.diagnose(got_in, expected_in, variants, where, "in_proj_weight")
            if not engine.close(got_out, W_O, 1e-6):
                variants = [
                    (
                        "W_O is already stored as (d_model, h * d_k), like out_proj.weight: do not transpose it",
                        lambda W_O=W_O: W_O.T,
                    )
                ]
                engine.diagnose(got_out, W_O, variants, where, "out_proj.weight")
            # the real test: the same function as the panel of heads
            ref = nn.MultiheadAttention(d_model, h, bias=False, batch_first=True).double()
            ref.load_state_dict({"in_proj_weight": got_in.double(), "out_proj.weight": got_out.double()})
            x = engine.randn(g, 2, 5, d_model).double()
            zs = []
            for i in range(h):
                q, k, v = (x @ W[i].double().T for W in (W_q, W_k, W_v))  # (B, T, d_k)
                zs.append(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_k), -1) @ v)
            loop = torch.cat(zs, -1) @ W_O.double().T
            with torch.no_grad():
                if not engine.close(ref(x, x, x, need_weights=False)[0], loop, 1e-8):
                    raise engine.Verdict("error", "internal check failed: nn.MultiheadAttention differs from the loop")
        return "nn.MultiheadAttention with these weights computes exactly what the panel of heads computes."

    return engine.run_check("08.5", torch_mha_weights, body)


# ---------------------------------------------------------------- the exercises of notebook 8, in order

EXERCISES = (
    engine.Exercise("08.1", "Combine a mask and a padding mask", "combine_masks", check_combine_masks, points=2),
    engine.Exercise("08.2", "A padding mask from lengths", "make_padding_mask", check_padding_mask),
    engine.Exercise("08.3", "The shapes of cross-attention", "cross_attention_shapes", check_cross_attention_shapes),
    engine.Exercise("08.4", "Dropout only in training", "attention_dropout", check_attention_dropout),
    engine.Exercise(
        "08.5", "Copy the weights into nn.MultiheadAttention", "torch_mha_weights", check_torch_mha_weights
    ),
)
