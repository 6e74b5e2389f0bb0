"""The engine behind every exercise check: run the learner's code safely, compare, name the mistake, report.

A check (one per exercise, in the module of its notebook) hands ``run_check`` a *body*: a function that runs the
learner's answer on fresh inputs and either returns a short "well done" sentence or raises a ``Verdict`` that says
what is wrong. ``run_check`` does the rest, the same way for every exercise:

- it never raises because of the learner's code: an exception becomes an "error" verdict with its type, message
  and a hint (``call``); a function still raising ``NotImplementedError``, or a value still ``...``, is
  "not done yet";
- it never hangs: code that runs for more than ``TIME_LIMIT`` seconds is stopped (``mha.timelimit``);
- it prints one short line (``CheckResult.line``) and returns the ``CheckResult``;
- when the environment variable ``RESULTS_ENV`` (``MHA_EXERCISE_RESULTS``) names a file, it appends the result to
  that file as one JSON line, for the grader (``python -m mha.course grade``).

The comparisons the bodies share are here too: ``to_tensor`` and ``close`` for tensors, ``diagnose`` to name the
known mistake that reproduces a wrong tensor, ``wrong_count`` for a wrong number, ``compare_number_dict`` for the
results of an experiment.

The registry ``EXERCISES`` (id -> ``Exercise``) is filled by ``register`` from the notebooks' modules (see
``mha.exercises``). ``final_check`` is what the grader runs after a submitted notebook.

This module imports only torch, numpy and ``mha.timelimit`` (no plotly, no ipywidgets).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mha.timelimit import TIME_LIMIT, CheckTimeout, run_limited  # the learner's code stopped after TIME_LIMIT s

RESULTS_ENV = "MHA_EXERCISE_RESULTS"  # names the file the grader reads the results from


# ---------------------------------------------------------------- the exercises


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id ("04.2" = notebook 04, exercise 2), the name the learner defines, its check.

    The hint, what the student version's stub says, is the last paragraph of the check's docstring, after "Hint:".
    """

    id: str
    title: str
    name: str  # the function or value the learner defines, and the check receives
    check: Callable[..., CheckResult]  # the check function, in the module of the exercise's notebook
    points: int = 1

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]

    @property
    def hint(self) -> str:
        _, found, hint = inspect.cleandoc(self.check.__doc__ or "").rpartition("Hint:")
        return " ".join(hint.split()) if found else ""


EXERCISES: dict[str, Exercise] = {}  # id -> Exercise, in the course's order; filled by register()


def register(exercises: Iterable[Exercise]) -> None:
    """Add one notebook's exercises to ``EXERCISES``; a second registration of the same record changes nothing.

    Raises ValueError for an id that is not "NN.k", an id already taken by another exercise, a name that is not a
    Python identifier, a check that is not callable or points below 1.
    """
    for ex in exercises:
        if not re.fullmatch(r"\d\d\.\d+", ex.id):
            raise ValueError(f"exercise id {ex.id!r}: expected 'NN.k', the notebook's number, a dot, the exercise's")
        if EXERCISES.get(ex.id, ex) != ex:
            raise ValueError(f"exercise id {ex.id!r} is taken by {EXERCISES[ex.id].title!r}: give {ex.title!r} another")
        if not ex.name.isidentifier():
            raise ValueError(f"exercise {ex.id}: the learner's name {ex.name!r} must be a Python identifier")
        if not callable(ex.check):
            raise ValueError(f"exercise {ex.id}: check must be the check function itself, got {ex.check!r}")
        if ex.points < 1:
            raise ValueError(f"exercise {ex.id}: points must be at least 1, got {ex.points}")
        if not ex.hint:
            raise ValueError(
                f"exercise {ex.id}: end the docstring of {ex.check.__name__} with 'Hint: ...' for the stub"
            )
        EXERCISES[ex.id] = ex


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


def emit(result: CheckResult, source: str = "cell") -> None:
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


class AnswerPending(BaseException):
    """Raised by the grader's stand-in for a learner's function when it needs an answer from the learner's kernel
    (``mha.grading``): it ends the check at once, and ``call`` and ``run_check`` let it through."""


class Verdict(Exception):
    """A finished judgement, raised from deep inside a check to end it: ``status`` is "wrong", "error" or
    "not done", ``feedback`` the sentence the learner reads."""

    def __init__(self, status: str, feedback: str):
        super().__init__(feedback)
        self.status, self.feedback = status, feedback


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


def call(fn, *args):
    """fn(*args), turning the learner's exceptions into verdicts (KeyboardInterrupt and timeouts pass through)."""
    try:
        return fn(*args)
    except (CheckTimeout, KeyboardInterrupt, AnswerPending):
        raise
    except NotImplementedError:
        raise Verdict("not done", _NOT_DONE) from None
    except BaseException as e:  # the learner's bug, SystemExit included: report it, never crash
        message = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else ""
        if len(message) > 200:
            message = message[:200] + "..."
        text = f"your code raised {type(e).__name__}" + (f": {message}" if message else "")
        hint = next((h for key, h in _EXCEPTION_HINTS if key.lower() in str(e).lower()), None)
        raise Verdict("error", text + (f". Hint: {hint}." if hint else ".")) from None


_NOT_DONE = "replace `raise NotImplementedError(...)` with your code, run that cell, then this one again."
_NOT_DONE_VALUE = "replace the `...` with your answer, run that cell, then this one again."


def run_check(exercise_id: str, answer, body, *, value: bool = False) -> CheckResult:
    """Run body(answer) safely and turn its verdict into a printed, recorded CheckResult.

    exercise_id: a registered id ("04.2"); answer: what the learner handed to the check; body(answer) returns the
    feedback of a right answer or raises a Verdict; value: True when the learner sets a value (``softmax_dim = -1``)
    rather than writing a function.
    """
    ex = EXERCISES[exercise_id]
    try:
        if answer is Ellipsis:
            raise Verdict("not done", _NOT_DONE_VALUE if value else _NOT_DONE)
        if not value and not callable(answer):
            raise Verdict(
                "wrong",
                f"expected a function, got {type(answer).__name__}: pass the function itself, "
                f"e.g. check({ex.name}), not check({ex.name}(...)).",
            )
        with warnings.catch_warnings():  # the learner's code may warn on every call: keep the line short
            warnings.simplefilter("ignore")
            feedback = run_limited(lambda: body(answer), TIME_LIMIT) or "Well done!"
        status = "passed"
    except Verdict as v:
        status, feedback = v.status, v.feedback
    except CheckTimeout:
        status = "timeout"
        feedback = (
            f"stopped after {TIME_LIMIT:g} s. Is there an infinite loop (a `while` whose condition "
            "never becomes False), or a very large tensor?"
        )
    passed = status == "passed"
    result = CheckResult(exercise_id, passed, float(ex.points if passed else 0), float(ex.points), status, feedback)
    emit(result)
    print(result.line())
    result._printed_in = _execution_count()
    return result


# ---------------------------------------------------------------- comparing tensors


_INPUT_SALT: list[int | None] = [None]  # set by the grader (salted_inputs): inputs no learner can know in advance


def generator(seed: int) -> torch.Generator:
    """A CPU random generator of its own for one check: the same inputs on every machine, whatever ran before.

    While the grader draws inputs for one grading run (``salted_inputs``), ``seed`` is mixed with that run's secret
    salt, so the inputs are new in every grading run.
    """
    salt = _INPUT_SALT[0]
    if salt is not None:
        seed = (seed * 1_000_003 + salt) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def numpy_rng(seed: int) -> np.random.Generator:
    """A NumPy generator of its own for one check, salted like ``generator`` while the grader draws inputs."""
    salt = _INPUT_SALT[0]
    if salt is not None:
        seed = (seed * 1_000_003 + salt) % (2**63 - 1)
    return np.random.default_rng(seed)


@contextmanager
def salted_inputs(salt: int | None):
    """Within the block, every check's ``generator(seed)`` also depends on ``salt`` (None: the course's inputs)."""
    old, _INPUT_SALT[0] = _INPUT_SALT[0], salt
    try:
        yield
    finally:
        _INPUT_SALT[0] = old


def randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """A tensor of the given shape, standard normal numbers drawn from ``gen`` (on the CPU)."""
    return torch.randn(*shape, generator=gen)


def to_tensor(value, what: str) -> torch.Tensor:
    """The learner's result as a CPU float64 tensor, or a verdict that says what was returned instead."""
    if value is None:
        raise Verdict("wrong", f"{what} is None: did you forget the `return`?")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (np.ndarray, list, float, int, np.number)):
        try:
            return torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError):
            pass
    raise Verdict("wrong", f"{what} should be a tensor, got {type(value).__name__}.")


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    """Same shape and the same values within ``tol`` (absolute and relative); NaN and inf must sit at the same
    places."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    a, b = a.double(), b.double()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return bool(torch.equal(torch.nan_to_num(a, 1.0, 9.0, -9.0), torch.nan_to_num(b, 1.0, 9.0, -9.0)))
    return bool(torch.allclose(a, b, atol=tol, rtol=tol))


def shape_of(t) -> str:
    """A tensor's shape as the learner would write it, "(2, 5, 8)"."""
    return str(tuple(t.shape))


def diagnose(got: torch.Tensor, expected: torch.Tensor, variants, where: str, what: str = "your result") -> None:
    """Raise a verdict naming the first known mistake that reproduces ``got``, else describe the difference.

    variants: list of (message, callable returning the mistaken result) tried in order.
    """
    for message, make in variants:
        try:
            wrong = make()
        except Exception:  # a mistake that cannot happen for these shapes
            continue
        if isinstance(wrong, (torch.Tensor, np.ndarray)) and close(got, to_tensor(wrong, "variant")):
            raise Verdict("wrong", f"{message} ({where})")
    if tuple(got.shape) != tuple(expected.shape):
        raise Verdict("wrong", f"{what} has shape {shape_of(got)}, expected {shape_of(expected)} ({where}).")
    if not torch.isfinite(got).all():
        raise Verdict("wrong", f"{what} contains NaN or inf ({where}).")
    diff = (got.double() - expected.double()).abs().max().item()
    raise Verdict(
        "wrong",
        f"{what} has the right shape {shape_of(got)} but different values (largest difference {diff:.3g}, {where}).",
    )


def wrong_count(got_value, known, where: str, hint: str):
    """End a counting check that got a wrong number: name the known mistake that gives it, else give the hint.

    known: a list of (value, message) pairs, one per typical mistake.
    """
    for value, message in known:
        if got_value == value:
            raise Verdict("wrong", f"{message} ({where}).")
    raise Verdict("wrong", f"got {got_value:g} ({where}). {hint}")


def compare_number_dict(answer, expected: dict, known: list, what: str, tol: float = 0.015) -> None:
    """Compare a learner's {key: number} with ``expected``; ``known`` holds (wrong dict, message) pairs."""
    if not isinstance(answer, dict):
        raise Verdict(
            "wrong",
            f"{what} should be a dict like {{{', '.join(f'{k}: ...' for k in expected)}}}, got "
            f"{type(answer).__name__}.",
        )
    try:
        got = {int(k): float(v) for k, v in answer.items()}
    except (TypeError, ValueError):
        raise Verdict("wrong", f"{what} should map whole numbers to numbers.") from None

    def same(a, b):
        return set(a) == set(b) and all(abs(a[k] - b[k]) <= tol for k in b)

    if same(got, expected):
        return
    for wrong, message in known:
        if same(got, wrong):
            raise Verdict("wrong", message)
    if set(got) != set(expected):
        raise Verdict("wrong", f"{what} should have the keys {sorted(expected)}, got {sorted(got)}.")
    off = [k for k in expected if abs(got[k] - expected[k]) > tol]
    raise Verdict(
        "wrong",
        f"the value for {off[0]} does not match a run with the settings of the task (and the "
        f"others {'do' if len(off) == 1 else 'may not either'}): check the seed, steps and lr, and that "
        f"you evaluate on `test`.",
    )


# ---------------------------------------------------------------- for the grader


def final_check(namespace: dict, notebook) -> list[CheckResult]:
    """Check every exercise of ``notebook`` ("04", "4" or 4) on the names the learner defined in ``namespace``.

    The grader (``python -m mha.course grade``) runs ``mha.exercises.final_check(globals(), "04")`` in the
    learner's kernel after the whole notebook, so a missing or moved check cell does not matter. Each exercise's
    result is printed and returned; an exercise whose name is not defined is "missing" (0 points). When
    ``RESULTS_ENV`` names a file, each result is appended to it once, tagged ``"source": "final"`` (the checks'
    own "cell" records are not written a second time).
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
                result = ex.check(namespace[ex.name])
            finally:
                if path is not None:
                    os.environ[RESULTS_ENV] = path
        emit(result, source="final")
        results.append(result)
    return results
