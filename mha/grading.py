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
   (``answer_requests`` runs there), then replays again, until every check has all its answers. The checks draw
   their inputs from a salt drawn per grading run (``engine.salted_inputs``), after the learner's cells have run: a
   learner cannot know them in advance.
3. What the kernel sends back must be plain data (``plain``): tensors of the exact class ``torch.Tensor``, numbers,
   strings, and lists, tuples and dicts of them; the grader reads it with ``torch.load(weights_only=True)`` (no code
   runs while loading) and checks it again (``check_plain``). An object whose ``__eq__`` is always true, or a tensor
   subclass that lies, arrives as its type's name only.

The kernel's answers can still be computed by any code the learner wrote, including the package's own function
(``mha.split_heads``): ``scan_cells`` reads the submitted cells and reports such uses, and every place where a cell
changes a module (``torch.softmax = ...``) or reaches for the grader (``atexit``, ``os._exit``, the results file),
in the grade's notes.

The kernel side (``answer_requests``, ``plain``) imports only torch and numpy; the grader side uses
``mha.exercises``.
"""

from __future__ import annotations

import ast
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

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a bigger answer file is refused (no check needs more than a few KB)
MAX_NUMEL = 10_000_000  # elements in one tensor of an answer
MAX_ITEMS = 100_000  # numbers, strings and containers in one answer
MAX_DEPTH = 8  # nesting of lists, tuples and dicts
MAX_ROUNDS = 16  # rounds of questions to the kernel for one notebook
_PLAIN_SCALARS = (type(None), bool, int, float, str)
_PLAIN_DTYPES = {
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
}


class NotPlain(ValueError):
    """A value that is not plain data (see ``plain``)."""


# ---------------------------------------------------------------- the kernel's side


def plain(value, depth: int = 0, budget: list | None = None):
    """``value`` as plain data the grader can load without running code, or NotPlain.

    Plain: None, bool, int, float, str (their exact types, not subclasses), tensors of the exact class
    ``torch.Tensor`` (copied, detached, on the CPU, strided, of a numeric or bool dtype), and tuples, lists and dicts
    of plain data. numpy arrays and numbers become tensors and Python numbers, ``torch.Size`` a tuple, an
    ``nn.Parameter`` a plain tensor.
    """
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise NotPlain("too large or too deeply nested")
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is torch.nn.Parameter:
        value, kind = value.detach(), torch.Tensor
    if kind is torch.Tensor:
        if value.layout != torch.strided or value.dtype not in _PLAIN_DTYPES or value.numel() > MAX_NUMEL:
            raise NotPlain(f"a tensor of layout {value.layout}, dtype {value.dtype}, {value.numel()} elements")
        return value.detach().to("cpu").clone().contiguous()
    if kind is torch.Size:
        return tuple(int(n) for n in value)
    if kind is np.ndarray:
        if value.dtype == object or value.size > MAX_NUMEL:
            raise NotPlain("a numpy array of objects or too many elements")
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, np.generic) and kind.__module__ == "numpy":
        return value.item()
    if kind in (tuple, list):
        return kind(plain(v, depth + 1, budget) for v in value)
    if kind is dict:
        return {plain(k, depth + 1, budget): plain(v, depth + 1, budget) for k, v in value.items()}
    raise NotPlain(kind.__name__)


def _outcome_of_call(fn, args, rng_state, time_limit: float) -> tuple:
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    try:
        result = engine.run_limited(lambda: fn(*copy.deepcopy(args)), time_limit)
    except CheckTimeout:
        return ("timeout",)
    except NotImplementedError:
        return ("not done",)
    except BaseException as e:  # SystemExit and KeyboardInterrupt included: the learner's, reported by name
        try:
            message = str(e)[:500]
        except BaseException:  # an exception whose __str__ fails
            message = ""
        return ("raised", str(type(e).__name__)[:80], message if type(message) is str else "")
    return _outcome_of_value(result)


def _outcome_of_value(value) -> tuple:
    if value is Ellipsis:
        return ("ellipsis",)
    try:
        return ("ok", plain(value))
    except NotPlain:
        name = type(value).__name__[:80]
        return ("unsupported", "TooLargeOrSparseTensor" if type(value) is torch.Tensor else name)
    except Exception as e:  # a learner's object that breaks while being read
        return ("unsupported", f"{type(value).__name__[:80]} ({type(e).__name__})")


def answer_requests(namespace: dict, requests_path: str, answers_dir: str, time_limit: float | None = None) -> None:
    """Runs in the learner's kernel: answer each request of the grader into ``answers_dir/<key>.pt``.

    A request is a dict: ``{"key", "name", "kind": "inspect"}`` asks what ``namespace[name]`` is (("missing",),
    ("function",), or the value as an outcome); ``{"key", "name", "kind": "call", "args", "rng"}`` runs the function
    ``namespace[name](*args)`` with torch's random state ``rng``, within ``time_limit`` seconds. An outcome is one of
    ("ok", plain value), ("raised", exception's type name, message), ("not done",), ("timeout",), ("ellipsis",),
    ("unsupported", type name), ("missing",), ("function",).
    """
    limit = engine.TIME_LIMIT if time_limit is None else time_limit
    requests = torch.load(requests_path, weights_only=False)
    for request in requests:
        value = namespace.get(request["name"], _MISSING)
        if value is _MISSING:
            outcome = ("missing",)
        elif request["kind"] == "inspect":
            outcome = ("function",) if callable(value) and not isinstance(value, type) else _outcome_of_value(value)
        else:
            outcome = _outcome_of_call(value, request["args"], request.get("rng"), limit)
        path = os.path.join(answers_dir, f"{request['key']}.pt")
        try:
            torch.save(outcome, path)
        except Exception as e:  # e.g. the limit on the size of files
            torch.save(("unsupported", f"answer not saved: {type(e).__name__}"), path)


_MISSING = object()


# ---------------------------------------------------------------- the grader's side


def check_plain(value, depth: int = 0, budget: list | None = None) -> None:
    """Raise NotPlain unless ``value`` (loaded from the kernel's answer) is plain data (see ``plain``)."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise NotPlain("too large or too deeply nested")
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind is torch.Tensor:
        if value.layout != torch.strided or value.dtype not in _PLAIN_DTYPES or value.numel() > MAX_NUMEL:
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


def load_answer(path: Path) -> tuple:
    """The kernel's outcome in the file ``path``, checked; ("no answer", why) when there is none worth reading."""
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


def in_process_ask(namespace: dict, workdir: Path) -> Ask:
    """An ``ask`` that answers from ``namespace`` in this process, through the same files (for tests and tools)."""
    counter = [0]

    def ask(requests: list[dict]) -> dict[str, tuple]:
        counter[0] += 1
        request_file, answers = workdir / f"requests-{counter[0]}.pt", workdir / f"answers-{counter[0]}"
        answers.mkdir()
        torch.save(requests, request_file)
        answer_requests(namespace, str(request_file), str(answers))
        return {r["key"]: load_answer(answers / f"{r['key']}.pt") for r in requests}

    return ask


# ---------------------------------------------------------------- reading the submitted cells


_MODULE_ROOTS = {"mha", "torch", "numpy", "np", "math", "sys", "os", "builtins", "F", "nn", "random", "json"}
_WATCHED = {
    "atexit": "registers code to run at exit (atexit)",
    "_exit": "ends the process (os._exit)",
    "settrace": "installs a tracer (sys.settrace)",
    "setprofile": "installs a profiler (sys.setprofile)",
    "setrlimit": "changes its resource limits",
    "prlimit": "changes resource limits",
    "MHA_EXERCISE_RESULTS": "touches the results file of the in-cell checks",
    "ctypes": "uses ctypes",
    "__builtins__": "changes the builtins",
    "grading": "touches mha.grading",
    "getsource": "reads source code (inspect.getsource)",
    "__file__": "looks for files of a module (__file__)",
    "site-packages": "reads the installed packages' files",
}


def _chain(node) -> list[str] | None:
    """The dotted name of an attribute chain, ["torch", "nn", "functional", "softmax"], or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def scan_cells(sources: list[tuple[int, str]], number: str | None) -> list[str]:
    """Notes for the instructor about what the submitted cells do that the grader does not trust or cannot prevent.

    sources: (cell index, source) of the learner's code cells. Reports cells that change attributes of modules
    (``torch.softmax = ...``, ``setattr(mha, ...)``), reach for the grader (``atexit``, ``os._exit``, the results
    file, tracers), and exercise answers that are the package's own function (``split_heads = mha.split_heads``, or
    a ``def split_heads`` that calls ``mha.split_heads`` or ``F.layer_norm``).
    """
    names = {ex.name for ex in exercises_for(number)} if number else set()
    notes: list[str] = []
    modules = set(_MODULE_ROOTS)
    from_package: dict[str, str] = {}  # local name -> "mha.attention.split_heads"
    for index, source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module.startswith("mha.exercises") and not alias.name.startswith("check_"):
                        found.append(f"imports {alias.name} from {node.module} (the checks' own code)")
                    if node.module.split(".")[0] in ("mha", "torch"):
                        from_package[local] = f"{node.module}.{alias.name}"
                        if alias.name in names:
                            found.append(f"imports {alias.name} from {node.module} (the package's own answer)")
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            for target in targets:
                chain = _chain(target) if isinstance(target, ast.Attribute) else None
                if chain and chain[0] in modules:
                    found.append(f"changes {'.'.join(chain)} (ignored: the checks run outside the notebook)")
            if isinstance(node, ast.Attribute):
                chain = _chain(node)
                if chain and chain[:2] == ["mha", "exercises"] and len(chain) > 2 and not chain[2].startswith("check_"):
                    found.append(f"reads {'.'.join(chain)} (the checks' own code)")
            if isinstance(node, ast.Call):
                fn = _chain(node.func)
                if fn and fn[-1] in ("setattr", "delattr") and node.args:
                    owner = _chain(node.args[0])
                    if owner and owner[0] in modules:
                        found.append(f"calls {fn[-1]} on {'.'.join(owner)}")
            if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)):
                word = (
                    node.id
                    if isinstance(node, ast.Name)
                    else node.attr
                    if isinstance(node, ast.Attribute)
                    else node.value
                    if isinstance(node.value, str)
                    else None
                )
                if word in _WATCHED:
                    found.append(_WATCHED[word])
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                value = _chain(node.value)
                if name in names and value and (value[0] in modules or value[0] in from_package):
                    found.append(f"sets {name} = {'.'.join(value)} (the package's own answer)")
            answer = None  # (the exercise's name, the code that defines it)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
                answer = (node.name, node)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in names:
                    answer = (target.id, node.value)
            if answer is not None:
                name, code = answer
                for inner in ast.walk(code):
                    chain = _chain(inner) if isinstance(inner, (ast.Attribute, ast.Name)) else None
                    if not chain:
                        continue
                    full = chain if chain[0] not in from_package else from_package[chain[0]].split(".") + chain[1:]
                    if len(full) > 1 and full[0] in modules | {"mha", "torch"} and full[-1] == name:
                        found.append(f"{name} calls {'.'.join(full)} (the package's own answer)")
        for text in dict.fromkeys(found):  # in order, once each
            notes.append(f"cell {index} {text}")
    return notes
