"""Notebook 4, heads in parallel: the checks of exercises 04.1 (read the shapes), 04.2 (split the heads),
04.3 (merge the heads) and 04.4 (which axis the softmax normalises)."""

from __future__ import annotations

import numpy as np

from mha.attention import merge_heads, split_heads
from mha.exercises import engine

__all__ = [
    "check_attention_shapes",
    "check_split_heads",
    "check_merge_heads",
    "check_softmax_axis",
]  # the checks the notebook calls

# ---------------------------------------------------------------- 04.1 read the shapes


def check_attention_shapes(attention_shapes) -> engine.CheckResult:
    """Exercise 04.1: attention_shapes(B, T, d_model, num_heads) -> dict of the shapes inside multi-head attention.

    Keys: "q" (after W_Q), "q_heads" (after split_heads), "scores", "z_heads" (each head's output),
    "concat" (after merge_heads), "out" (after W_O).

    Hint: return a dict of shape tuples; d_k = d_model // num_heads
    """
    keys = ("q", "q_heads", "scores", "z_heads", "concat", "out")

    def body(fn):
        for B, T, d_model, h in [(2, 5, 12, 3), (1, 7, 16, 8), (3, 10, 64, 4)]:
            d_k = d_model // h
            expected = {
                "q": (B, T, d_model),
                "q_heads": (B, h, T, d_k),
                "scores": (B, h, T, T),
                "z_heads": (B, h, T, d_k),
                "concat": (B, T, d_model),
                "out": (B, T, d_model),
            }
            hints = {
                ("q_heads", (B, T, h, d_k)): "the head axis comes before T after split_heads: (B, h, T, d_k)",
                ("q_heads", (B, h, d_k, T)): "after split_heads each head holds a (T, d_k) matrix: (B, h, T, d_k)",
                ("q_heads", (B, h, T, d_model)): "each head gets d_k = d_model // num_heads features, not d_model",
                ("scores", (B, h, T, d_k)): "scores compare every query with every key: (B, h, T, T)",
                ("scores", (B, T, T)): "each head has its own scores: (B, h, T, T)",
                ("z_heads", (B, h, T, T)): "z = weights @ v has one d_k-vector per token: (B, h, T, d_k)",
                ("z_heads", (B, h, T, d_model)): "each head's output has width d_k = d_model // num_heads",
                ("concat", (B, T, d_k)): "concatenating h heads of width d_k gives width h * d_k = d_model",
                ("concat", (B, h, T, d_k)): "merge_heads concatenates the heads: (B, T, d_model)",
                ("out", (B, T, d_k)): "W_O maps the concatenation back to d_model: (B, T, d_model)",
            }
            where = f"B={B}, T={T}, d_model={d_model}, num_heads={h}"
            got = engine.call(fn, B, T, d_model, h)
            if not isinstance(got, dict):
                raise engine.Verdict(
                    "wrong", f"return a dict with the keys {', '.join(keys)}; got {type(got).__name__}."
                )
            missing = [key for key in keys if key not in got]
            if missing:
                raise engine.Verdict("wrong", f"the dict lacks the key(s) {', '.join(missing)}.")
            for key in keys:
                try:
                    shape = tuple(int(n) for n in got[key])
                except (TypeError, ValueError):
                    raise engine.Verdict(
                        "wrong", f"{key!r} should be a tuple of ints like (2, 5, 12), got {got[key]!r}."
                    ) from None
                if shape != expected[key]:
                    hint = hints.get((key, shape), f"expected {expected[key]}")
                    raise engine.Verdict("wrong", f"{key!r} is {shape}: {hint} ({where}).")
        return "You can read every shape in multi-head attention."

    return engine.run_check("04.1", attention_shapes, body)


# ---------------------------------------------------------------- 04.2 split the heads


def _split_mistakes(x, h):
    B, T, d_model = x.shape
    d_k = d_model // h
    return [
        (
            "you reshaped straight to (B, h, T, d_k): a reshape alone mixes the tokens between heads. Reshape "
            "to (B, T, h, d_k), then .transpose(1, 2)",
            lambda: x.reshape(B, h, T, d_k),
        ),
        (
            "you returned (B, T, h, d_k): the head axis must come before T. Add .transpose(1, 2)",
            lambda: x.reshape(B, T, h, d_k),
        ),
        (
            "the axes are in the wrong order, (B, h, d_k, T): use .transpose(1, 2) on the (B, T, h, d_k) "
            "tensor, not a permute that moves T last",
            lambda: x.reshape(B, T, h, d_k).permute(0, 2, 3, 1),
        ),
        (
            "the features are interleaved: head i got every h-th feature. Split the last axis as (h, d_k), "
            "not (d_k, h), so each head gets a contiguous slice",
            lambda: x.reshape(B, T, d_k, h).permute(0, 3, 1, 2),
        ),
        (
            "you transposed before reshaping: reshape to (B, T, h, d_k) first, then .transpose(1, 2)",
            lambda: x.transpose(1, 2).reshape(B, h, T, d_k),
        ),
    ]


def check_split_heads(split_heads_fn) -> engine.CheckResult:
    """Exercise 04.2: split_heads(x, num_heads): (B, T, d_model) -> (B, num_heads, T, d_k).

    Hint: reshape (B, T, d_model) to (B, T, num_heads, d_k), then swap the T and head axes
    """

    def body(fn):
        g = engine.generator(402)
        for B, T, d_model, h in [(2, 5, 8, 2), (1, 3, 12, 3), (2, 6, 16, 4), (3, 4, 6, 6)]:
            x = engine.randn(g, B, T, d_model)
            got = engine.to_tensor(engine.call(fn, x.clone(), h), "split_heads(x, num_heads)")
            expected = split_heads(x, h)
            if engine.close(got, expected):
                continue
            where = f"x of shape {(B, T, d_model)}, num_heads={h}"
            engine.diagnose(got, expected, _split_mistakes(x, h), where, "split_heads(x, num_heads)")
        return "Each head gets its own contiguous slice of d_k features, for every shape tried."

    return engine.run_check("04.2", split_heads_fn, body)


# ---------------------------------------------------------------- 04.3 merge the heads


def _merge_mistakes(z):
    B, h, T, d_k = z.shape
    return [
        (
            "you reshaped (B, h, T, d_k) straight to (B, T, h * d_k): that mixes tokens and heads. First "
            ".transpose(1, 2) to (B, T, h, d_k), then reshape",
            lambda: z.reshape(B, T, h * d_k),
        ),
        (
            "you returned (B, T, h, d_k): flatten the last two axes, e.g. .reshape(B, T, h * d_k)",
            lambda: z.transpose(1, 2),
        ),
        (
            "you added the heads up: concatenate them instead, so the width becomes h * d_k",
            lambda: z.sum(1),
        ),
        (
            "you averaged the heads: concatenate them instead, so the width becomes h * d_k",
            lambda: z.mean(1),
        ),
        (
            "the heads are interleaved: each head's d_k features must stay together. Transpose to "
            "(B, T, h, d_k), then flatten",
            lambda: z.permute(0, 2, 3, 1).reshape(B, T, h * d_k),
        ),
    ]


def check_merge_heads(merge_heads_fn) -> engine.CheckResult:
    """Exercise 04.3: merge_heads(z): (B, num_heads, T, d_k) -> (B, T, num_heads * d_k), the inverse of split_heads.

    Hint: swap the head and T axes back, then flatten the last two axes
    """

    def body(fn):
        g = engine.generator(403)
        for B, h, T, d_k in [(2, 2, 5, 4), (1, 3, 4, 2), (2, 4, 6, 3)]:
            z = engine.randn(g, B, h, T, d_k)
            got = engine.to_tensor(engine.call(fn, z.clone()), "merge_heads(z)")
            expected = merge_heads(z)
            if engine.close(got, expected):
                continue
            engine.diagnose(got, expected, _merge_mistakes(z), f"z of shape {(B, h, T, d_k)}", "merge_heads(z)")
        return "merge_heads undoes split_heads: the heads sit side by side again."

    return engine.run_check("04.3", merge_heads_fn, body)


# ---------------------------------------------------------------- 04.4 which axis does the softmax normalise?


def check_softmax_axis(answer) -> engine.CheckResult:
    """Exercise 04.4, a question: for scores of shape (B, h, T_q, T_k), which `dim` of torch.softmax gives each
    query's weights?

    Hint: set softmax_dim to the int you would pass as torch.softmax(scores, dim=...)
    """

    def body(a):
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise engine.Verdict("wrong", f"answer with one int, the dim you would pass to torch.softmax; got {a!r}.")
        a = int(a)
        if a in (-1, 3):
            return "dim=-1 (the keys' axis): each query's weights sum to 1."
        feedback = {
            -2: "dim=-2 is the queries' axis: then each key's column would sum to 1, not each query's row",
            2: "dim=2 is the queries' axis: then each key's column would sum to 1, not each query's row",
            1: "dim=1 is the heads' axis: the softmax would mix the heads",
            -3: "dim=-3 is the heads' axis: the softmax would mix the heads",
            0: "dim=0 is the batch axis: the softmax would mix different sentences",
            -4: "dim=-4 is the batch axis: the softmax would mix different sentences",
        }
        raise engine.Verdict("wrong", feedback.get(a, f"scores have 4 axes (dims 0..3 or -4..-1); {a} is none of them"))

    return engine.run_check("04.4", answer, body, value=True)


# ---------------------------------------------------------------- the exercises of notebook 4, in order

EXERCISES = (
    engine.Exercise("04.1", "Read the shapes", "attention_shapes", check_attention_shapes),
    engine.Exercise("04.2", "Split the heads", "split_heads", check_split_heads, points=2),
    engine.Exercise("04.3", "Merge the heads", "merge_heads", check_merge_heads),
    engine.Exercise("04.4", "Which axis does the softmax normalise?", "softmax_dim", check_softmax_axis),
)
