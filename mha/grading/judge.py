"""Verdicts outside the learner's reach: the learner's kernel only produces values, the grader judges them.

The grader (``python -m mha.course grade``) runs a submitted notebook in a kernel. Everything in that kernel is the
learner's: a cell may replace functions of ``mha``, ``torch`` or ``mha.exercises``, write files, print anything. So
nothing the kernel *says about itself* is believed. After the learner's cells, the grader asks the kernel only for
values, and every check runs in the grader's own process on those values:

1. ``grade_notebook`` asks the kernel what each exercise's name holds: a function, or a value (sent back as plain
   data).
2. A function is graded by *replaying* its check in the grader: the check runs as usual, but the learner's function
   is replaced by ``KernelFunction``, a stand-in that, for each call the check makes, asks the kernel to run the
   learner's function on exactly those inputs and hands back the kernel's result. A call the kernel has not answered
   yet ends the replay (``AnswerPending``); the grader sends all such calls to the kernel in one round
   (``answers.answer_requests``, sent into the kernel as source, runs there), then replays again, until every check
   has all its answers. The checks draw their inputs from a salt drawn per grading run (``engine.salted_inputs``),
   after the learner's cells have run: a learner cannot know them in advance.
3. What the kernel sends back must be plain data (``plain``): tensors of the exact class ``torch.Tensor``, numbers,
   strings, and lists, tuples and dicts of them; the grader reads it with ``torch.load(weights_only=True)`` (no code
   runs while loading) and checks it again (``check_plain``). An object whose ``__eq__`` is always true, or a tensor
   subclass that lies, arrives as its type's name only.

The kernel's answers can still be computed by any code the learner wrote, including the package's own function
(``mha.split_heads``): the kernel's profiler notes such calls however they were reached (``reach_notes``), and
``mha.grading.scan`` reads the submitted cells and reports such uses, and every place where a cell changes a module
or reaches for the grader, in the grade's notes.

The kernel side (``mha.grading.answers``) imports only torch and numpy; the judging here uses ``mha.exercises``,
whose reference functions run only in this process.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import random
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mha.exercises import engine
from mha.exercises.engine import AnswerPending, CheckResult, CheckTimeout, Exercise, exercises_for
from mha.grading import answers
from mha.grading.answers import _PLAIN_SCALARS, MAX_DEPTH, NotPlain, count_item, dense_tensor

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a bigger answer file is refused (no check needs more than a few KB)
MAX_ROUNDS = 16  # rounds of questions to the kernel for one notebook


# ---------------------------------------------------------------- the grader's side


def check_plain(value, depth: int = 0, budget: list | None = None) -> None:
    """Raise NotPlain unless ``value`` (loaded from the kernel's answer) is plain data (see ``plain``)."""
    budget = count_item(depth, budget)
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind is torch.Tensor:
        if not dense_tensor(value):
            raise NotPlain("a tensor that is not a plain dense one")
        if value.requires_grad or value.device.type != "cpu":
            raise NotPlain("a tensor that needs grad or is not on the CPU")
        return
    if kind in (tuple, list):
        for v in value:
            check_plain(v, depth + 1, budget)
        return
    if kind is dict:
        for k, v in value.items():
            check_plain(k, depth + 1, budget)
            check_plain(v, depth + 1, budget)
        return
    raise NotPlain(kind.__name__)


_OUTCOME_SIZES = {
    "ok": 2,
    "raised": 3,
    "not done": 1,
    "timeout": 1,
    "ellipsis": 1,
    "unsupported": 2,
    "missing": 1,
    "function": 1,
}


def load_answer(path: Path, shape: bool = True):
    """The kernel's outcome in the file ``path``, checked; ("no answer", why) when there is none worth reading.

    shape: check that it is an outcome (a tuple such as ("ok", value)); False: any plain data."""
    try:
        info = os.lstat(path)
    except OSError:
        return ("no answer", "your notebook gave no answer (the grading cell did not finish)")
    if not os.path.isfile(path) or os.path.islink(path):
        return ("no answer", "the answer is not a plain file")
    if info.st_size > MAX_ANSWER_BYTES:
        return ("no answer", f"the answer is too large ({info.st_size / 1e6:.0f} MB)")
    try:
        with warnings.catch_warnings():  # a learner's pickle protocol is reported below, not warned about
            warnings.simplefilter("ignore")
            outcome = torch.load(path, weights_only=True, map_location="cpu")
        check_plain(outcome)
    except Exception as e:
        return ("no answer", f"the answer could not be read safely ({type(e).__name__})")
    if not shape:
        return outcome
    if type(outcome) is not tuple or not outcome or outcome[0] not in _OUTCOME_SIZES:
        return ("no answer", "the answer is not in the grader's format")
    if len(outcome) != _OUTCOME_SIZES[outcome[0]] or not all(
        type(x) is str for x in outcome[1 : 3 if outcome[0] == "raised" else 1]
    ):
        return ("no answer", "the answer is not in the grader's format")
    return outcome


def _fingerprint(value, depth: int = 0):
    """A summary of a check's inputs that is equal for equal inputs (the replay checks it sees the same call)."""
    if depth > MAX_DEPTH:
        return "..."
    if isinstance(value, torch.Tensor):
        v = value.detach()
        return ("T", tuple(v.shape), str(v.dtype), float(v.double().sum()) if v.numel() else 0.0)
    if isinstance(value, np.ndarray):
        return ("A", value.shape, str(value.dtype), float(np.asarray(value, dtype=float).sum()))
    if isinstance(value, torch.nn.Module):
        return ("M", type(value).__name__, tuple(_fingerprint(t, depth + 1) for t in value.state_dict().values()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v, depth + 1) for v in value))
    if isinstance(value, dict):
        return ("D", tuple((repr(k), _fingerprint(v, depth + 1)) for k, v in value.items()))
    return repr(value)[:200]


def _synthetic_exception(name: str, message: str) -> BaseException:
    """The learner's exception, re-created by name in the grader so that the check reports it as usual."""
    builtin = {"NotImplementedError": NotImplementedError}.get(name)
    if builtin is not None:
        return builtin(message)
    safe = name if name.isidentifier() else "Exception"
    return type(safe, (Exception,), {"__module__": "learner"})(message)


class _Unsupported:
    """Stands for a learner's result that is not plain data: checks see its type's name and nothing else."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


class KernelFunction:
    """The learner's function as the grader sees it: each call is answered by the kernel, or is pending.

    answers: {call number: (fingerprint of the inputs, outcome)} from earlier rounds. A call without an answer (or
    whose inputs differ from the answered ones) is stored in ``pending`` and ends the check (AnswerPending).
    """

    def __init__(self, name: str, answers: dict[int, tuple]):
        self.__name__ = name
        self.answers = answers
        self.calls = 0
        self.pending: tuple | None = None

    def __call__(self, *args):
        number = self.calls
        self.calls += 1
        fingerprint = _fingerprint(args)
        known = self.answers.get(number)
        if known is None or known[0] != fingerprint:
            self.pending = (number, fingerprint, copy.deepcopy(args), torch.get_rng_state())
            raise AnswerPending()
        return value_of(known[1])


def value_of(outcome: tuple):
    """What the check sees for one kernel outcome: the value, or the learner's exception raised again."""
    kind = outcome[0]
    if kind == "ok":
        return copy.deepcopy(outcome[1])
    if kind == "ellipsis":
        return Ellipsis
    if kind == "raised":
        raise _synthetic_exception(outcome[1], outcome[2])
    if kind == "not done":
        raise NotImplementedError()
    if kind == "timeout":
        raise CheckTimeout()
    if kind == "unsupported":
        name = outcome[1].split(" ")[0]
        return type(name if name.isidentifier() else "object", (_Unsupported,), {})()
    if kind == "no answer":
        raise _synthetic_exception("NoAnswer", outcome[1])
    raise _synthetic_exception("NoAnswer", f"unexpected answer {kind!r}")


_REPLAY_LOCK = threading.Lock()  # checks reseed torch's global generator: one replay at a time in this process


@contextlib.contextmanager
def _judging(salt: int | None):
    """The grader's conditions for one check: quiet, no results file, seeded, salted inputs, one at a time."""
    with _REPLAY_LOCK, contextlib.redirect_stdout(io.StringIO()), engine.salted_inputs(salt):
        saved_env = os.environ.pop(engine.RESULTS_ENV, None)
        saved_rng = torch.get_rng_state()
        seed = 0 if salt is None else salt
        torch.manual_seed(seed % (2**63))
        np.random.seed(seed % (2**32))
        random.seed(seed)
        try:
            yield
        finally:
            torch.set_rng_state(saved_rng)
            if saved_env is not None:
                os.environ[engine.RESULTS_ENV] = saved_env


def _result(ex: Exercise, status: str, feedback: str) -> CheckResult:
    return CheckResult(ex.id, status == "passed", 0.0, float(ex.points), status, feedback)


Ask = Callable[[list[dict]], dict[str, tuple]]


def grade_notebook(number: str, ask: Ask, salt: int | None = None) -> list[CheckResult]:
    """Grade the exercises of notebook ``number``: every check runs here, on the values ``ask`` gets from the kernel.

    ask(requests) sends requests (see ``answer_requests``) to the learner's kernel and returns {key: outcome} (an
    outcome per key; ("no answer", why) where there was none). salt: this grading run's secret, mixed into every
    check's inputs.
    """
    exercises = exercises_for(number)
    inspected = ask([{"key": f"inspect-{i}", "name": ex.name, "kind": "inspect"} for i, ex in enumerate(exercises)])
    results: dict[str, CheckResult] = {}
    functions: dict[str, dict[int, tuple]] = {}
    for i, ex in enumerate(exercises):
        outcome = inspected.get(f"inspect-{i}", ("no answer", "your notebook gave no answer"))
        if outcome[0] == "missing":
            results[ex.id] = _result(ex, "missing", f"`{ex.name}` is not defined: its cell is missing or did not run.")
        elif outcome[0] == "function":
            functions[ex.id] = {}
        elif outcome[0] == "no answer":
            results[ex.id] = _result(ex, "error", outcome[1])
        else:
            with _judging(salt):
                try:
                    answer = value_of(outcome)
                except BaseException as e:  # a value cannot raise; kept for safety
                    answer = e
                results[ex.id] = ex.check(answer)
    for round_number in range(MAX_ROUNDS):
        requests, pending = [], {}
        for ex in exercises:
            if ex.id not in functions:
                continue
            stand_in = KernelFunction(ex.name, functions[ex.id])
            with _judging(salt):
                try:
                    results[ex.id] = ex.check(stand_in)
                    continue
                except AnswerPending:
                    pass
            number_, fingerprint, args, rng = stand_in.pending
            key = f"r{round_number}-{ex.id}-{number_}"
            requests.append({"key": key, "name": ex.name, "kind": "call", "args": args, "rng": rng})
            pending[key] = (ex.id, number_, fingerprint)
        for ex_id in list(functions):
            if ex_id in results:
                del functions[ex_id]
        if not requests:
            break
        answers = ask(requests)
        for key, (ex_id, number_, fingerprint) in pending.items():
            functions[ex_id][number_] = (fingerprint, answers.get(key, ("no answer", "your notebook gave no answer")))
    for ex in exercises:
        if ex.id not in results:
            results[ex.id] = _result(ex, "error", "the grader could not finish this check (too many rounds).")
    return [results[ex.id] for ex in exercises]


def watched_roots() -> dict:
    """What the kernel's profiler watches (see ``answers``): the folders of ``mha`` and ``torch`` as this process
    imported them, and the folder of the checks' code."""
    package = Path(__file__).resolve().parents[1]  # mha/
    return {
        "roots": [str(package) + os.sep, str(Path(torch.__file__).resolve().parent) + os.sep],
        "checks": str(Path(engine.__file__).resolve().parent) + os.sep,
    }


def load_reached(folder: Path) -> list[str]:
    """The watched calls the kernel noted while answering (``answers.REACHED_FILE`` in ``folder``), checked."""
    outcome = load_answer(folder / answers.REACHED_FILE, shape=False)
    if type(outcome) is list and all(type(x) is str for x in outcome):
        return [x[:200] for x in outcome]
    return []


def reach_notes(reached: list[str]) -> list[str]:
    """Notes for the watched calls: a learner's function that ran the package's own code while it was graded."""
    return [f"while graded, {r} (the package's own code)" for r in dict.fromkeys(reached)]


def in_process_ask(namespace: dict, workdir: Path, reached: list | None = None) -> Ask:
    """An ``ask`` that answers from ``namespace`` in this process, through the same files (for tests and tools).

    reached: a list that collects the watched calls (see ``answers``)."""
    counter = [0]
    watch = watched_roots()

    def ask(requests: list[dict]) -> dict[str, tuple]:
        counter[0] += 1
        request_file, folder = workdir / f"requests-{counter[0]}.pt", workdir / f"answers-{counter[0]}"
        folder.mkdir()
        torch.save(requests, request_file)
        answers.answer_requests(namespace, str(request_file), str(folder), watch=watch)
        if reached is not None:
            reached.extend(load_reached(folder))
        return {r["key"]: load_answer(folder / f"{r['key']}.pt") for r in requests}

    return ask
