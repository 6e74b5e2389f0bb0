"""Checks for the exercises at the end of each notebook.

A learner writes a function (or sets a value) in one cell and calls its check in the next:

    def split_heads(x, num_heads):
        ...

    mha.exercises.check_split_heads(split_heads);

A check runs the learner's function on fresh random inputs of several shapes, compares the result with the
package (``mha.attention``) and prints one short line. When the answer is wrong it names the likely mistake
(a reshape without transpose, a missing sqrt(d_k), softmax over the wrong axis, ...), not just "wrong".

Every check returns a ``CheckResult`` (exercise, passed, points, max_points, status, feedback). It never raises
because of the learner's code and never hangs: an exception is reported with its type and message, a function
still raising ``NotImplementedError`` (or a value still ``...``) is "not done yet", and a function that runs for
more than ``TIME_LIMIT`` seconds is stopped.

For the grader (``python -m mha.course grade``): when the environment variable ``MHA_EXERCISE_RESULTS`` names a
file, every check also appends its result to that file as one JSON line.

This module imports only ``mha.attention`` (no plotly, no ipywidgets).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import textwrap
import threading
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from mha.attention import (
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    count_parameters,
    merge_heads,
    scaled_dot_product_attention,
    softmax_np,
    split_heads,
)

__all__ = [
    "CheckResult",
    "Exercise",
    "EXERCISES",
    "exercises_for",
    "check_softmax",
    "check_scaled_attention",
    "check_score_spread",
    "check_softmax_axis",
    "check_attention_shapes",
    "check_split_heads",
    "check_merge_heads",
    "check_mha_forward",
    "check_param_count",
    "check_causal_mask",
    "check_masked_attention",
    "check_run_heads",
    "check_block_param_count",
    "check_layer_norm",
    "check_role_score",
    "check_accuracy_by_heads",
    "check_experts_seed_5",
    "check_accuracy_without",
]

TIME_LIMIT = 10.0  # seconds one check may spend in the learner's code
RESULTS_ENV = "MHA_EXERCISE_RESULTS"


# ---------------------------------------------------------------- the list of exercises


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id ("04.2" = notebook 04, exercise 2), the name the learner defines, its check."""

    id: str
    title: str
    name: str  # the function or value the learner defines, and the check receives
    check: str  # the name of the check function in this module
    hint: str  # what the student version's stub says
    points: int = 1

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in [
        Exercise(
            "01.1",
            "A softmax over each row",
            "softmax_rows",
            "check_softmax",
            "exponentiate the scores (after subtracting each row's maximum), then divide by each row's sum",
        ),
        Exercise(
            "01.2",
            "Scaled dot-product attention",
            "attention",
            "check_scaled_attention",
            "scores = q @ k^T / sqrt(d_k), softmax over the last axis, then weights @ v; return out, weights",
            points=2,
        ),
        Exercise(
            "01.3",
            "Why divide by sqrt(d_k)?",
            "score_spread",
            "check_score_spread",
            "draw many random q and k, compute their dot products, return their std before and after dividing by "
            "sqrt(d_k)",
        ),
        Exercise(
            "02.1",
            "How much does each head look at the right place?",
            "role_score",
            "check_role_score",
            "keep the (example, query) pairs where keys >= 0, read weights[b, :, q, keys[b, q]], average them",
            points=2,
        ),
        Exercise(
            "02.2",
            "An experiment: more heads",
            "accuracy_by_heads",
            "check_accuracy_by_heads",
            "train with num_heads = 4 as above, and put train.evaluate(model, test) of the 1, 2 and 4 heads in a dict",
        ),
        Exercise(
            "03.1",
            "Run a panel of heads",
            "run_heads",
            "check_run_heads",
            "call every head on x, keep its z (not its weights), and concatenate them along the last axis",
        ),
        Exercise(
            "03.2",
            "Count the parameters",
            "mha_param_count",
            "check_param_count",
            "four (d_model x d_model) weight matrices plus four bias vectors of length d_model",
        ),
        Exercise(
            "04.1",
            "Read the shapes",
            "attention_shapes",
            "check_attention_shapes",
            "return a dict of shape tuples; d_k = d_model // num_heads",
        ),
        Exercise(
            "04.2",
            "Split the heads",
            "split_heads",
            "check_split_heads",
            "reshape (B, T, d_model) to (B, T, num_heads, d_k), then swap the T and head axes",
            points=2,
        ),
        Exercise(
            "04.3",
            "Merge the heads",
            "merge_heads",
            "check_merge_heads",
            "swap the head and T axes back, then flatten the last two axes",
        ),
        Exercise(
            "04.4",
            "Which axis does the softmax normalise?",
            "softmax_dim",
            "check_softmax_axis",
            "set softmax_dim to the int you would pass as torch.softmax(scores, dim=...)",
        ),
        Exercise(
            "05.1",
            "A full multi-head forward pass",
            "mha_forward",
            "check_mha_forward",
            "project with W_q, W_k, W_v, split the heads, attend, merge the heads, project with W_o",
            points=3,
        ),
        Exercise(
            "05.2",
            "A causal mask",
            "make_causal_mask",
            "check_causal_mask",
            "a (T, T) boolean tensor, True on and below the diagonal (torch.ones(...).tril())",
        ),
        Exercise(
            "05.3",
            "Attention with a mask",
            "masked_attention",
            "check_masked_attention",
            "fill the scores where the mask is False with float('-inf') before the softmax",
            points=2,
        ),
        Exercise(
            "06.1",
            "An experiment: another seed, other experts",
            "experts_seed_5",
            "check_experts_seed_5",
            "train with seed=5, compute train.head_role_scores, and find the best head (1 to 4) for each role",
        ),
        Exercise(
            "06.2",
            "An experiment: switch off one head",
            "accuracy_without",
            "check_accuracy_without",
            "for each head i, evaluate the seed-2 model with a head_mask that is 0 for head i and 1 elsewhere",
        ),
        Exercise(
            "08.1",
            "Count the parameters of a block",
            "block_param_count",
            "check_block_param_count",
            "add up attention (4 linear layers), two LayerNorms (scale and shift) and the FFN (two linear layers)",
        ),
        Exercise(
            "08.2",
            "Layer normalisation by hand",
            "layer_norm",
            "check_layer_norm",
            "subtract each vector's mean over the last axis, divide by sqrt(variance + eps) (biased variance)",
        ),
    ]
}


def exercises_for(notebook) -> list[Exercise]:
    """The exercises of one notebook ("04", "4" or 4), in order."""
    key = f"{int(notebook):02d}"
    return [e for e in EXERCISES.values() if e.notebook == key]


# ---------------------------------------------------------------- results


@dataclass
class CheckResult:
    """What a check found. ``status`` is passed, wrong, error, timeout, not done or missing."""

    exercise: str
    passed: bool
    points: float
    max_points: float
    status: str
    feedback: str

    def line(self) -> str:
        """The friendly message a check prints, wrapped to fit a notebook or book column."""
        ex = EXERCISES.get(self.exercise)
        name = f"Exercise {self.exercise}" + (f" ({ex.name})" if ex else "")
        score = f"{self.points:g}/{self.max_points:g} point" + ("" if self.max_points == 1 else "s")
        if self.passed:
            text = f"✅ {name} passed, {score}. {self.feedback}"
        else:
            icon = {"not done": "⏳", "timeout": "⌛"}.get(self.status, "❌")
            label = {"not done": "not done yet"}.get(self.status, "not yet right")
            text = f"{icon} {name} {label} ({score}): {self.feedback}"
        return textwrap.fill(text, width=76, subsequent_indent="   ", break_on_hyphens=False)

    def _ipython_display_(self) -> None:
        # the check already printed the line in this cell: showing the returned result again would repeat it
        if getattr(self, "_printed_in", None) != _execution_count():
            print(self.line())

    def __repr__(self) -> str:
        return (
            f"CheckResult(exercise={self.exercise!r}, passed={self.passed}, points={self.points:g}/"
            f"{self.max_points:g}, status={self.status!r})"
        )


def _emit(result: CheckResult, source: str = "cell") -> None:
    """Append the result to $MHA_EXERCISE_RESULTS (one JSON line) when the grader asked for it."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({**asdict(result), "source": source}) + "\n")
    except OSError:
        pass


def _execution_count():
    """The number of the running IPython cell (None outside IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "execution_count", None) if shell is not None else None


# ---------------------------------------------------------------- running the learner's code safely


class CheckTimeout(BaseException):
    """Raised inside the learner's code when a check runs out of time (a BaseException: `except Exception`
    in the learner's code does not swallow it)."""


class _Verdict(Exception):
    """A finished judgement: raised from deep inside a check to end it."""

    def __init__(self, status: str, feedback: str):
        super().__init__(feedback)
        self.status, self.feedback = status, feedback


def _wrong_count(got_value, known, where: str, hint: str):
    """End a counting check that got a wrong number: name the known mistake that gives it, else give the hint.

    known: a list of (value, message) pairs, one per typical mistake.
    """
    for value, message in known:
        if got_value == value:
            raise _Verdict("wrong", f"{message} ({where}).")
    raise _Verdict("wrong", f"got {got_value:g} ({where}). {hint}")


def _run_limited(func, seconds: float):
    """func() with a time limit: a SIGALRM timer in the main thread, else a watcher thread."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        active = [True]

        def on_alarm(signum, frame):
            if active[0]:
                raise CheckTimeout()

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        # repeat every 0.25 s, so a learner's bare `except:` inside a loop cannot swallow it for ever
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
        try:
            return func()
        finally:
            active[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
    box: dict = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as e:  # handed over to the caller below
            box["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CheckTimeout()
    if "error" in box:
        raise box["error"]
    return box.get("value")


_EXCEPTION_HINTS = [
    (
        "view size is not compatible",
        "after a transpose the tensor is not contiguous: use .reshape(...) or "
        ".contiguous().view(...) instead of .view(...)",
    ),
    (".T on tensors of dimension", "x.T reverses every axis of a batched tensor: use k.transpose(-2, -1)"),
    ("use of `x.T`", "x.T reverses every axis of a batched tensor: use k.transpose(-2, -1)"),
    ("shapes cannot be multiplied", "check your matrix products: the scores are q @ k.transpose(-2, -1)"),
    (
        "must match the size of tensor",
        "two shapes do not fit together: print the shapes of your tensors (a mean or a sum over one axis needs "
        "keepdim=True to line up with the tensor it came from)",
    ),
    ("got tuple", "a head returns a pair (z, weights): unpack it, z, weights = head(x)"),
    ("could not be broadcast", "two shapes do not fit together: did you forget keepdims=True in the sum?"),
    (
        "invalid for input of size",
        "the sizes in your reshape/view do not multiply to the tensor's size: read "
        "B, T and d_model from x.shape, and d_k = d_model // num_heads",
    ),
    ("is not defined", "a name your function uses does not exist: define it, or pass it in"),
    ("Dimension out of range", "you used an axis that the tensor does not have: print its shape"),
]


def _call(fn, *args):
    """fn(*args), turning the learner's exceptions into verdicts (KeyboardInterrupt and timeouts pass through)."""
    try:
        return fn(*args)
    except (CheckTimeout, KeyboardInterrupt):
        raise
    except NotImplementedError:
        raise _Verdict("not done", _NOT_DONE) from None
    except BaseException as e:  # the learner's bug, SystemExit included: report it, never crash
        message = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else ""
        if len(message) > 200:
            message = message[:200] + "..."
        text = f"your code raised {type(e).__name__}" + (f": {message}" if message else "")
        hint = next((h for key, h in _EXCEPTION_HINTS if key.lower() in str(e).lower()), None)
        raise _Verdict("error", text + (f". Hint: {hint}." if hint else ".")) from None


_NOT_DONE = "replace `raise NotImplementedError(...)` with your code, run that cell, then this one again."
_NOT_DONE_VALUE = "replace the `...` with your answer, run that cell, then this one again."


def _run_check(exercise_id: str, answer, body, *, value: bool = False) -> CheckResult:
    """Run body(answer) safely and turn its verdict into a printed, recorded CheckResult."""
    ex = EXERCISES[exercise_id]
    try:
        if answer is Ellipsis:
            raise _Verdict("not done", _NOT_DONE_VALUE if value else _NOT_DONE)
        if not value and not callable(answer):
            raise _Verdict(
                "wrong",
                f"expected a function, got {type(answer).__name__}: pass the function itself, "
                f"e.g. check({ex.name}), not check({ex.name}(...)).",
            )
        with warnings.catch_warnings():  # the learner's code may warn on every call: keep the line short
            warnings.simplefilter("ignore")
            feedback = _run_limited(lambda: body(answer), TIME_LIMIT) or "Well done!"
        status = "passed"
    except _Verdict as v:
        status, feedback = v.status, v.feedback
    except CheckTimeout:
        status = "timeout"
        feedback = (
            f"stopped after {TIME_LIMIT:g} s. Is there an infinite loop (a `while` whose condition "
            "never becomes False), or a very large tensor?"
        )
    passed = status == "passed"
    result = CheckResult(exercise_id, passed, float(ex.points if passed else 0), float(ex.points), status, feedback)
    _emit(result)
    print(result.line())
    result._printed_in = _execution_count()
    return result


# ---------------------------------------------------------------- comparing tensors


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(gen, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=gen)


def _to_tensor(value, what: str) -> torch.Tensor:
    """The learner's result as a CPU float64 tensor, or a verdict that says what was returned instead."""
    if value is None:
        raise _Verdict("wrong", f"{what} is None: did you forget the `return`?")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (np.ndarray, list, float, int, np.number)):
        try:
            return torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError):
            pass
    raise _Verdict("wrong", f"{what} should be a tensor, got {type(value).__name__}.")


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    a, b = a.double(), b.double()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return bool(torch.equal(torch.nan_to_num(a, 1.0, 9.0, -9.0), torch.nan_to_num(b, 1.0, 9.0, -9.0)))
    return bool(torch.allclose(a, b, atol=tol, rtol=tol))


def _shape(t) -> str:
    return str(tuple(t.shape))


def _diagnose(got: torch.Tensor, expected: torch.Tensor, variants, where: str, what: str = "your result") -> None:
    """Raise a verdict naming the first known mistake that reproduces ``got``, else describe the difference.

    variants: list of (message, callable returning the mistaken result) tried in order.
    """
    for message, make in variants:
        try:
            wrong = make()
        except Exception:  # a mistake that cannot happen for these shapes
            continue
        if isinstance(wrong, (torch.Tensor, np.ndarray)) and _close(got, _to_tensor(wrong, "variant")):
            raise _Verdict("wrong", f"{message} ({where})")
    if tuple(got.shape) != tuple(expected.shape):
        raise _Verdict("wrong", f"{what} has shape {_shape(got)}, expected {_shape(expected)} ({where}).")
    if not torch.isfinite(got).all():
        raise _Verdict("wrong", f"{what} contains NaN or inf ({where}).")
    diff = (got.double() - expected.double()).abs().max().item()
    raise _Verdict(
        "wrong",
        f"{what} has the right shape {_shape(got)} but different values (largest difference {diff:.3g}, {where}).",
    )


# ---------------------------------------------------------------- 01: one head


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


def check_softmax(softmax_rows) -> CheckResult:
    """Exercise 01.1: softmax_rows(scores) -> weights, a NumPy softmax over the last axis (each row sums to 1)."""

    def body(fn):
        rng = np.random.default_rng(101)
        cases = [rng.normal(size=(4, 4)) * 2, rng.normal(size=(3, 5)) * 2, rng.normal(size=(2, 3, 6)) * 2]
        for scores in cases:
            got = _to_tensor(_call(fn, scores.copy()), "softmax_rows(scores)")
            expected = torch.as_tensor(softmax_np(scores, axis=-1))
            if _close(got, expected):
                continue
            _diagnose(got, expected, _softmax_mistakes(scores), f"scores of shape {scores.shape}")
        big = rng.normal(size=(3, 4)) + 1000.0  # exp(1000) overflows float64; the softmax does not change
        got = _to_tensor(_call(fn, big.copy()), "softmax_rows(scores)")
        if not _close(got, torch.as_tensor(softmax_np(big))):
            raise _Verdict(
                "wrong",
                "right for small scores, but NaN or wrong for large ones (around 1000): subtract "
                "each row's maximum before np.exp, it does not change the softmax and avoids overflow.",
            )
        return "Every row sums to 1, even for very large scores."

    return _run_check("01.1", softmax_rows, body)


def _attention_variants(q, k, v, mask=None):
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


def _check_attention_pair(result, q, k, v, mask, where, extra_variants=()):
    """Compare an (out, weights) pair with the package's, diagnosing the weights first."""
    if isinstance(result, torch.Tensor) or not isinstance(result, (tuple, list)):
        raise _Verdict("wrong", "return two things, the output and the weights: `return out, weights`.")
    if len(result) != 2:
        raise _Verdict("wrong", f"return exactly two things, `return out, weights`; you returned {len(result)}.")
    out = _to_tensor(result[0], "out")
    weights = _to_tensor(result[1], "weights")
    exp_out, exp_w = scaled_dot_product_attention(q, k, v, mask)
    if tuple(out.shape) == tuple(exp_w.shape) != tuple(exp_out.shape) and tuple(weights.shape) == tuple(exp_out.shape):
        raise _Verdict(
            "wrong", f"out and weights are swapped: return the output first, `return out, weights` ({where})."
        )
    if not _close(weights, exp_w):
        _diagnose(weights, exp_w, list(extra_variants) + _attention_variants(q, k, v, mask), where, "weights")
    if not _close(out, exp_out):
        _diagnose(
            out,
            exp_out,
            [
                ("the weights are right but out is not: out = weights @ v", lambda: v),
                ("out uses the transposed weights: out = weights @ v", lambda: exp_w.transpose(-2, -1) @ v),
            ],
            where,
            "out",
        )


_BATCHED_HINT = (
    " It works on 2-D inputs but not on batched ones: did you use k.T? On a batched tensor .T reverses every "
    "axis; use k.transpose(-2, -1)."
)


def check_scaled_attention(attention) -> CheckResult:
    """Exercise 01.2: attention(q, k, v) -> (out, weights), softmax(q k^T / sqrt(d_k)) v.

    q, k, v: (..., T, d_k); out (..., T, d_k); weights (..., T, T).
    """

    def body(fn):
        g = _gen(102)
        for shape in [(5, 4), (2, 3, 8), (2, 2, 6, 4)]:
            q, k, v = (_randn(g, *shape) for _ in range(3))
            where = f"q, k, v of shape {shape}"
            try:
                result = _call(fn, q.clone(), k.clone(), v.clone())
                _check_attention_pair(result, q, k, v, None, where)
            except _Verdict as v:
                if len(shape) > 2 and v.status == "error":
                    v.feedback += _BATCHED_HINT
                raise
        return "Your attention equals mha.scaled_dot_product_attention, batched inputs included."

    return _run_check("01.2", attention, body)


def check_score_spread(score_spread) -> CheckResult:
    """Exercise 01.3: score_spread(d_k) -> (std_before, std_after) of q.k scores for random unit-variance q, k.

    Before scaling the spread grows like sqrt(d_k); after dividing by sqrt(d_k) it stays near 1.
    """

    def body(fn):
        for d_k in (4, 64, 256):
            torch.manual_seed(d_k)  # the learner draws their own random numbers
            result = _call(fn, d_k)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise _Verdict("wrong", "return two numbers: `return std_before, std_after`.")
            try:
                before, after = (float(torch.as_tensor(r).double().reshape(())) for r in result)
            except (TypeError, ValueError, RuntimeError):
                raise _Verdict(
                    "wrong", "return two numbers (floats or 0-d tensors), `std_before, std_after`."
                ) from None
            where = f"d_k={d_k}, expected about {math.sqrt(d_k):.3g} and 1"
            if abs(after - 1) < 0.25 and abs(before - 1) < 0.25:
                raise _Verdict(
                    "wrong",
                    f"both spreads are near 1: compute std_before from the raw dot products "
                    f"q @ k (not divided) ({where}).",
                )
            if abs(after - 1 / math.sqrt(d_k)) < 0.25 / math.sqrt(d_k):
                raise _Verdict(
                    "wrong", f"std_after is about 1/sqrt(d_k): you divided by d_k instead of sqrt(d_k) ({where})."
                )
            if abs(before - d_k) < 0.25 * d_k:
                raise _Verdict(
                    "wrong",
                    f"std_before is about d_k: did you return the variance instead of the "
                    f"standard deviation (.std(), not .var()) ({where})?",
                )
            if abs(before / math.sqrt(d_k) - 1) > 0.25:
                raise _Verdict(
                    "wrong",
                    f"std_before={before:.3g}: the spread of q.k for unit-variance entries "
                    f"should be about sqrt(d_k); use at least a few thousand random pairs, and "
                    f"torch.randn (variance 1) ({where}).",
                )
            if abs(after - 1) > 0.25:
                raise _Verdict(
                    "wrong",
                    f"std_after={after:.3g}: after dividing by sqrt(d_k) the spread should be about 1 ({where}).",
                )
        return "The raw scores spread like sqrt(d_k); the scaled ones stay near 1 whatever d_k."

    return _run_check("01.3", score_spread, body)


def check_softmax_axis(answer) -> CheckResult:
    """Exercise 04.4, a question: for scores of shape (B, h, T_q, T_k), which `dim` of torch.softmax gives each
    query's weights?"""

    def body(a):
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise _Verdict("wrong", f"answer with one int, the dim you would pass to torch.softmax; got {a!r}.")
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
        raise _Verdict("wrong", feedback.get(a, f"scores have 4 axes (dims 0..3 or -4..-1); {a} is none of them"))

    return _run_check("04.4", answer, body, value=True)


# ---------------------------------------------------------------- 04: heads in parallel


def check_attention_shapes(attention_shapes) -> CheckResult:
    """Exercise 04.1: attention_shapes(B, T, d_model, num_heads) -> dict of the shapes inside multi-head attention.

    Keys: "q" (after W_Q), "q_heads" (after split_heads), "scores", "z_heads" (each head's output),
    "concat" (after merge_heads), "out" (after W_O).
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
            got = _call(fn, B, T, d_model, h)
            if not isinstance(got, dict):
                raise _Verdict("wrong", f"return a dict with the keys {', '.join(keys)}; got {type(got).__name__}.")
            missing = [key for key in keys if key not in got]
            if missing:
                raise _Verdict("wrong", f"the dict lacks the key(s) {', '.join(missing)}.")
            for key in keys:
                try:
                    shape = tuple(int(n) for n in got[key])
                except (TypeError, ValueError):
                    raise _Verdict(
                        "wrong", f"{key!r} should be a tuple of ints like (2, 5, 12), got {got[key]!r}."
                    ) from None
                if shape != expected[key]:
                    hint = hints.get((key, shape), f"expected {expected[key]}")
                    raise _Verdict("wrong", f"{key!r} is {shape}: {hint} ({where}).")
        return "You can read every shape in multi-head attention."

    return _run_check("04.1", attention_shapes, body)


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


def check_split_heads(split_heads_fn) -> CheckResult:
    """Exercise 04.2: split_heads(x, num_heads): (B, T, d_model) -> (B, num_heads, T, d_k)."""

    def body(fn):
        g = _gen(402)
        for B, T, d_model, h in [(2, 5, 8, 2), (1, 3, 12, 3), (2, 6, 16, 4), (3, 4, 6, 6)]:
            x = _randn(g, B, T, d_model)
            got = _to_tensor(_call(fn, x.clone(), h), "split_heads(x, num_heads)")
            expected = split_heads(x, h)
            if _close(got, expected):
                continue
            where = f"x of shape {(B, T, d_model)}, num_heads={h}"
            _diagnose(got, expected, _split_mistakes(x, h), where, "split_heads(x, num_heads)")
        return "Each head gets its own contiguous slice of d_k features, for every shape tried."

    return _run_check("04.2", split_heads_fn, body)


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


def check_merge_heads(merge_heads_fn) -> CheckResult:
    """Exercise 04.3: merge_heads(z): (B, num_heads, T, d_k) -> (B, T, num_heads * d_k), the inverse of split_heads."""

    def body(fn):
        g = _gen(403)
        for B, h, T, d_k in [(2, 2, 5, 4), (1, 3, 4, 2), (2, 4, 6, 3)]:
            z = _randn(g, B, h, T, d_k)
            got = _to_tensor(_call(fn, z.clone()), "merge_heads(z)")
            expected = merge_heads(z)
            if _close(got, expected):
                continue
            _diagnose(got, expected, _merge_mistakes(z), f"z of shape {(B, h, T, d_k)}", "merge_heads(z)")
        return "merge_heads undoes split_heads: the heads sit side by side again."

    return _run_check("04.3", merge_heads_fn, body)


# ---------------------------------------------------------------- 05: concatenate and project


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


def check_mha_forward(mha_forward) -> CheckResult:
    """Exercise 05.1: mha_forward(x, W_q, W_k, W_v, W_o, num_heads) -> out (B, T, d_model).

    x: (B, T, d_model); W_q, W_k, W_v, W_o: (d_model, d_model), used as x @ W (no biases).
    The check compares with mha.MultiHeadAttention(d_model, num_heads, bias=False) holding the same weights.
    """

    def body(fn):
        g = _gen(501)
        for B, T, d_model, h in [(2, 5, 8, 2), (1, 4, 12, 3), (2, 3, 16, 4)]:
            x = _randn(g, B, T, d_model)
            W_q, W_k, W_v, W_o = (_randn(g, d_model, d_model) / math.sqrt(d_model) for _ in range(4))
            module = MultiHeadAttention(d_model, h, bias=False)
            with torch.no_grad():
                module.qkv.weight.copy_(torch.cat([W_q.T, W_k.T, W_v.T]))
                module.out_proj.weight.copy_(W_o.T)
                expected, _ = module(x)
            if not _close(expected, _mha_reference(x, W_q, W_k, W_v, W_o, h), 1e-5):
                raise _Verdict("error", "internal check failed: the reference disagrees with the package")
            args = (x.clone(), W_q.clone(), W_k.clone(), W_v.clone(), W_o.clone(), h)
            got = _to_tensor(_call(fn, *args), "mha_forward(...)")
            if _close(got, expected):
                continue

            where = f"x of shape {(B, T, d_model)}, num_heads={h}"
            _diagnose(got, expected, _mha_mistakes(x, W_q, W_k, W_v, W_o, h), where, "your output")
        return "Your forward pass equals mha.MultiHeadAttention, for every shape tried."

    return _run_check("05.1", mha_forward, body)


def check_param_count(answer) -> CheckResult:
    """Exercise 03.2: mha_param_count(d_model, num_heads) -> the number of parameters of
    mha.MultiHeadAttention(d_model, num_heads) (with biases). A plain number is checked for d_model=512, num_heads=8.
    """

    def body(a):
        configs = [(8, 2), (12, 3), (64, 8), (512, 8)]
        if not callable(a):
            configs = [(512, 8)]
        for d_model, h in configs:
            got = _call(a, d_model, h) if callable(a) else a
            try:
                got_value = float(got)
            except (TypeError, ValueError):
                raise _Verdict("wrong", f"the count should be a number, got {got!r}.") from None
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
            _wrong_count(
                got_value,
                known,
                where=f"d_model={d_model}, num_heads={h}: expected {expected}",
                hint="Count the weights and biases of the four linear layers; "
                "mha.count_parameters(module) tells you the truth.",
            )
        return "4 * d_model**2 + 4 * d_model, whatever the number of heads."

    return _run_check("03.2", answer, body, value=not callable(answer))


# ---------------------------------------------------------------- 05: masks


def check_causal_mask(make_causal_mask) -> CheckResult:
    """Exercise 05.2: make_causal_mask(T) -> a (T, T) bool tensor, True where token t may attend (keys 0..t)."""

    def body(fn):
        for T in (4, 7, 1):
            got = _call(fn, T)
            mask = _to_tensor(got, f"make_causal_mask({T})")
            expected = causal_mask(T)
            where = f"T={T}"
            if tuple(mask.shape) != (T, T):
                raise _Verdict("wrong", f"the mask has shape {_shape(mask)}, expected {(T, T)} ({where}).")
            if mask.dtype != torch.bool:
                if mask.is_floating_point() and torch.isinf(mask).any():
                    raise _Verdict(
                        "wrong",
                        "this is an additive float mask (0 and -inf), the convention of "
                        "nn.MultiheadAttention: this course uses a boolean mask, True = may attend.",
                    )
                if torch.equal(mask != 0, expected):
                    raise _Verdict(
                        "wrong",
                        f"the pattern is right, but the dtype is {mask.dtype}: make it "
                        "boolean (dtype=torch.bool), True = may attend.",
                    )
                raise _Verdict("wrong", f"the mask should be boolean (torch.bool), got {mask.dtype} ({where}).")
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
                    raise _Verdict("wrong", f"{message} ({where}).")
            raise _Verdict(
                "wrong",
                f"the mask is not the causal pattern: row t must be True for keys 0..t and False after ({where}).",
            )
        return "Each token sees itself and the tokens before it, never the future."

    return _run_check("05.2", make_causal_mask, body)


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


def check_masked_attention(masked_attention) -> CheckResult:
    """Exercise 05.3: masked_attention(q, k, v, mask) -> (out, weights), with a bool mask (True = may attend).

    q, k, v: (..., T, d_k); mask: broadcastable to (..., T, T). Every row of the mask allows at least one key.
    """

    def body(fn):
        g = _gen(702)
        cases = []
        for shape in [(5, 4), (2, 2, 6, 3)]:
            T = shape[-2]
            cases.append((shape, causal_mask(T), "a causal mask"))
            random_mask = (torch.rand(*shape[:-1], T, generator=g) < 0.5) | torch.eye(T, dtype=torch.bool)
            cases.append((shape, random_mask, "a random mask"))
        for shape, mask, label in cases:
            q, k, v = (_randn(g, *shape) for _ in range(3))
            where = f"q, k, v of shape {shape} and {label} of shape {tuple(mask.shape)}"
            try:
                result = _call(fn, q.clone(), k.clone(), v.clone(), mask.clone())
                _check_attention_pair(result, q, k, v, mask, where, _mask_mistakes(q, k, mask))
            except _Verdict as v:
                if len(shape) > 2 and v.status == "error":
                    v.feedback += _BATCHED_HINT
                raise
        return "Masked keys get exactly zero weight, and every row still sums to 1."

    return _run_check("05.3", masked_attention, body)


# ---------------------------------------------------------------- 03: a panel of heads


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


def check_run_heads(run_heads) -> CheckResult:
    """Exercise 03.1: run_heads(x, heads) -> the heads' outputs z side by side, (B, T, h * d_k).

    x: (B, T, d_model); heads: a list of mha.SelfAttention(d_model, d_k).
    """

    def body(fn):
        g = _gen(301)
        for B, T, d_model, h in [(1, 5, 8, 2), (2, 4, 12, 3), (2, 3, 16, 4)]:
            torch.manual_seed(300 + h)
            heads = [SelfAttention(d_model, d_model // h) for _ in range(h)]
            x = _randn(g, B, T, d_model)
            with torch.no_grad():
                expected = torch.cat([head(x)[0] for head in heads], dim=-1)
                got = _to_tensor(_call(fn, x.clone(), list(heads)), "run_heads(x, heads)")
                if not _close(got, expected):
                    where = f"x of shape {(B, T, d_model)}, {h} heads of width {d_model // h}"
                    _diagnose(got, expected, _panel_mistakes(x, heads), where, "run_heads(x, heads)")
        return "Every head's z, side by side: h * d_k = d_model features per token."

    return _run_check("03.1", run_heads, body)


# ---------------------------------------------------------------- 07: the Transformer block


def _block_parameters(d_model: int) -> int:
    """The parameters of notebook 8's PreviewBlock: LayerNorm, MultiHeadAttention, LayerNorm, FFN d -> 4d -> d."""
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


def check_block_param_count(block_param_count) -> CheckResult:
    """Exercise 08.1: block_param_count(d_model) -> the parameters of one PreviewBlock of notebook 8
    (pre-norm: LayerNorm, MultiHeadAttention with biases, LayerNorm, FFN d_model -> 4 d_model -> d_model)."""

    def body(fn):
        for d in (8, 16, 64, 768):
            expected = _block_parameters(d)
            if d <= 64 and expected != 12 * d * d + 13 * d:
                raise _Verdict("error", "internal check failed: the block's parameter formula")
            got = _call(fn, d)
            try:
                got_value = float(got)
            except (TypeError, ValueError):
                raise _Verdict("wrong", f"the count should be a number, got {got!r}.") from None
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
            _wrong_count(
                got_value,
                known,
                where=f"d_model={d}: expected {expected}",
                hint="Add up the attention, both LayerNorms and both FFN layers; "
                "mha.count_parameters(PreviewBlock(d_model, 4)) tells you the truth.",
            )
        return "12 d_model^2 + 13 d_model: two thirds of a block's weights sit in its feed-forward network."

    return _run_check("08.1", block_param_count, body)


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


def check_layer_norm(layer_norm) -> CheckResult:
    """Exercise 08.2: layer_norm(x, eps=1e-5) -> each vector of x (last axis) rescaled to mean 0 and variance 1.

    The same as torch.nn.functional.layer_norm(x, (d_model,), eps=eps) (no learned scale and shift).
    """

    def body(fn):
        g = _gen(702)
        for shape in [(2, 5, 8), (1, 7, 16), (3, 4, 6)]:
            x = _randn(g, *shape) * 3 + torch.arange(shape[-1]) - 2  # means and spreads far from 0 and 1
            expected = torch.nn.functional.layer_norm(x, (shape[-1],), eps=1e-5)
            got = _to_tensor(_call(fn, x.clone()), "layer_norm(x)")
            if not _close(got, expected):
                _diagnose(got, expected, _layer_norm_mistakes(x), f"x of shape {shape}", "layer_norm(x)")
        return "Every token's vector now has mean 0 and variance 1, like nn.LayerNorm before its scale and shift."

    return _run_check("08.2", layer_norm, body)


# ---------------------------------------------------------------- 02 and 06: trained models


def _role_mistakes(weights, keys):
    b, q = (keys >= 0).nonzero(as_tuple=True)
    every_b, every_q = torch.meshgrid(torch.arange(keys.shape[0]), torch.arange(keys.shape[1]), indexing="ij")
    every_b, every_q = every_b.flatten(), every_q.flatten()
    on_key = weights[b, :, q, keys[b, q]]  # (pairs, h)
    return [
        (
            "you read row `key`, column `query`: in weights (n, h, T, T) axis 2 is the query that looks and axis 3 "
            "the key it looks at, so read weights[b, :, q, key]",
            lambda: weights[b, :, keys[b, q], q].mean(0),
        ),
        (
            "the queries where the role does not apply (keys == -1) were counted too: keep only keys >= 0",
            lambda: weights[every_b, :, every_q, keys[every_b, every_q]].mean(0),
        ),
        (
            "you divided by every position, not by the number of queries where the role applies",
            lambda: on_key.sum(0) / keys.numel(),
        ),
        ("one score per head: average over the examples and queries, not over the heads", lambda: on_key.mean()),
        ("one score per head: average over the examples and queries too", lambda: on_key),
    ]


def check_role_score(role_score) -> CheckResult:
    """Exercise 02.1: role_score(weights, keys) -> (h,) the mean weight each head puts on the role's key.

    weights: (n, h, T, T) attention weights; keys: (n, T) long, the key position the role links each query to,
    -1 where the role does not apply. The same as one column of mha.train.head_role_scores.
    """

    def body(fn):
        g = _gen(201)
        for n, h, T in [(6, 2, 5), (4, 3, 7), (9, 1, 4)]:
            weights = torch.softmax(_randn(g, n, h, T, T) * 2, dim=-1)
            keys = torch.randint(-1, T, (n, T), generator=g)
            keys[0, 0] = 1  # the role applies at least once
            b, q = (keys >= 0).nonzero(as_tuple=True)
            expected = weights[b, :, q, keys[b, q]].mean(0)  # (h,)
            got = _to_tensor(_call(fn, weights.clone(), keys.clone()), "role_score(weights, keys)")
            if not _close(got, expected):
                where = f"weights of shape {(n, h, T, T)}"
                _diagnose(got, expected, _role_mistakes(weights, keys), where, "role_score(weights, keys)")
        return "One number per head: how much of its attention lands where the role says."

    return _run_check("02.1", role_score, body)


def _check_number_dict(answer, expected: dict, known: list, what: str, tol: float = 0.015) -> None:
    """Compare a learner's {key: number} with ``expected``; ``known`` holds (wrong dict, message) pairs."""
    if not isinstance(answer, dict):
        raise _Verdict(
            "wrong",
            f"{what} should be a dict like {{{', '.join(f'{k}: ...' for k in expected)}}}, got "
            f"{type(answer).__name__}.",
        )
    try:
        got = {int(k): float(v) for k, v in answer.items()}
    except (TypeError, ValueError):
        raise _Verdict("wrong", f"{what} should map whole numbers to numbers.") from None

    def same(a, b):
        return set(a) == set(b) and all(abs(a[k] - b[k]) <= tol for k in b)

    if same(got, expected):
        return
    for wrong, message in known:
        if same(got, wrong):
            raise _Verdict("wrong", message)
    if set(got) != set(expected):
        raise _Verdict("wrong", f"{what} should have the keys {sorted(expected)}, got {sorted(got)}.")
    off = [k for k in expected if abs(got[k] - expected[k]) > tol]
    raise _Verdict(
        "wrong",
        f"the value for {off[0]} does not match a run with the settings of the task (and the "
        f"others {'do' if len(off) == 1 else 'may not either'}): check the seed, steps and lr, and that "
        f"you evaluate on `test`.",
    )


# Results of mha.train.train on CPU (identical on every machine): see the exercises' tasks in notebooks 2 and 6.
_ACCURACY_BY_HEADS = {1: 0.532, 2: 0.9527, 4: 0.9523}  # on test, d_model=16, seed 0, 150 steps
_TRAIN_ACCURACY_BY_HEADS = {1: 0.6258, 2: 1.0, 4: 1.0}
_ACCURACY_WITHOUT = {1: 0.8008, 2: 0.4277, 3: 0.7148, 4: 0.3711}  # seed-2 model of notebook 6, one head removed
_ACCURACY_ONLY = {1: 0.0684, 2: 0.2012, 3: 0.166, 4: 0.1191}  # ... with only that head kept
_EXPERTS_SEED_5 = {"reference": 2, "verb": 4}


def check_accuracy_by_heads(accuracy_by_heads) -> CheckResult:
    """Exercise 02.2: {num_heads: accuracy on the new sequences} for 1, 2 and 4 heads (d_model = 16, seed 0)."""

    def body(answer):
        known = [
            (
                _TRAIN_ACCURACY_BY_HEADS,
                "these are the accuracies on the training sequences: measure on the new "
                "ones, train.evaluate(result, test)",
            ),
        ]
        _check_number_dict(answer, _ACCURACY_BY_HEADS, known, "accuracy_by_heads")
        return "Two heads are what this task needs; four narrower heads add nothing."

    return _run_check("02.2", accuracy_by_heads, body, value=True)


def check_experts_seed_5(experts_seed_5) -> CheckResult:
    """Exercise 06.1: {"reference": head, "verb": head}, heads numbered 1 to 4, for the model trained with seed 5."""

    def body(answer):
        if not isinstance(answer, dict) or set(answer) != set(_EXPERTS_SEED_5):
            raise _Verdict("wrong", 'answer with a dict {"reference": head, "verb": head}, heads numbered 1 to 4.')
        try:
            got = {k: int(v) for k, v in answer.items()}
        except (TypeError, ValueError):
            raise _Verdict("wrong", "each head should be a whole number from 1 to 4.") from None
        if got == _EXPERTS_SEED_5:
            return "With seed 5 the resolver is head 2 and the verb went to head 4: other seed, other experts."
        if got == {k: v - 1 for k, v in _EXPERTS_SEED_5.items()}:
            raise _Verdict(
                "wrong",
                "these look like positions counted from 0: number the heads from 1 to 4, "
                "as the notebook does (argmax + 1).",
            )
        if got == {"reference": _EXPERTS_SEED_5["verb"], "verb": _EXPERTS_SEED_5["reference"]}:
            raise _Verdict("wrong", "the two roles are swapped: column 0 of the scores is 'reference', 1 is 'verb'.")
        raise _Verdict(
            "wrong",
            "not the heads of a seed-5 run: train with seed=5 (num_heads=4, d_model=16, "
            "steps=150, lr=0.02), then take the argmax of each column of train.head_role_scores.",
        )

    return _run_check("06.1", experts_seed_5, body, value=True)


def check_accuracy_without(accuracy_without) -> CheckResult:
    """Exercise 06.2: {head: accuracy on the new sentences with that head switched off}, for the seed-2 model."""

    def body(answer):
        shifted = {k - 1: v for k, v in _ACCURACY_WITHOUT.items()}
        known = [
            (
                _ACCURACY_ONLY,
                "these are the accuracies with ONLY that head kept: the head_mask must be 0 for the "
                "head you remove and 1 for the others",
            ),
            (shifted, "number the heads from 1 to 4, as the notebook does (head_mask[i - 1] = 0 removes head i)"),
        ]
        _check_number_dict(answer, _ACCURACY_WITHOUT, known, "accuracy_without")
        return "Without the verb head (4) or the resolver (2) the model falls far; heads 1 and 3 matter less."

    return _run_check("06.2", accuracy_without, body, value=True)


# ---------------------------------------------------------------- for the grader


def _final_check(namespace: dict, notebook) -> list[CheckResult]:
    """Check every exercise of ``notebook`` against the names the learner defined in ``namespace``.

    The grader runs this after the whole notebook, so a missing or moved check cell does not matter.
    """
    results = []
    for ex in exercises_for(notebook):
        if ex.name not in namespace:
            result = CheckResult(
                ex.id,
                False,
                0.0,
                float(ex.points),
                "missing",
                f"`{ex.name}` is not defined: its cell is missing or did not run.",
            )
            print(result.line())
        else:
            path = os.environ.pop(RESULTS_ENV, None)  # record below, tagged as the final check
            try:
                result = globals()[ex.check](namespace[ex.name])
            finally:
                if path is not None:
                    os.environ[RESULTS_ENV] = path
        _emit(result, source="final")
        results.append(result)
    return results
