"""The kernel's side of judging: the code the grader sends into the learner's kernel, as source, to get answers.

The grader never asks the kernel to import anything of ``mha`` for grading: a learner's cell could have replaced
it. ``SOURCE`` (this file's text, with ``mha/timelimit.py``'s text in place of its import, read by the grader when
it imports this module) is sent into the kernel in a cell and run there in a namespace of its own; it answers the
grader's requests (``answer_requests``) and writes every answer as plain data (``plain``) that the grader loads
without running code. In the kernel it imports only the standard library, numpy and torch.

While the learner's function runs, a profiler notes every call into a watched function: one of the package's own
(a function of ``mha`` or ``torch`` named like the exercise's answer, or anything in ``mha.exercises``), however the
learner reached it (by name, ``gc.get_objects()``, ``importlib``, ...). The grader names such calls in the notes.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import torch

from mha.timelimit import TIME_LIMIT, CheckTimeout, run_limited  # in the kernel: that file's text (see SOURCE)

MAX_NUMEL = 10_000_000  # elements in one tensor of an answer
MAX_ITEMS = 100_000  # numbers, strings and containers in one answer
MAX_DEPTH = 8  # nesting of lists, tuples and dicts
REACHED_FILE = "reached.pt"  # the watched calls, written next to the answers
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


def count_item(depth: int, budget: list | None) -> list:
    """Count one more item of an answer at nesting ``depth``: the budget left (a fresh one for the whole answer
    when ``budget`` is None), or NotPlain once the answer is too large or too deeply nested."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise NotPlain("too large or too deeply nested")
    return budget


def dense_tensor(t: torch.Tensor) -> bool:
    """A tensor the grader accepts in an answer: strided, of a numeric or bool dtype, at most MAX_NUMEL elements."""
    return t.layout == torch.strided and t.dtype in _PLAIN_DTYPES and t.numel() <= MAX_NUMEL


def plain(value, depth: int = 0, budget: list | None = None):
    """``value`` as plain data the grader can load without running code, or NotPlain.

    Plain: None, bool, int, float, str (their exact types, not subclasses), tensors of the exact class
    ``torch.Tensor`` (copied, detached, on the CPU, strided, of a numeric or bool dtype), and tuples, lists and dicts
    of plain data. numpy arrays and numbers become tensors and Python numbers, ``torch.Size`` a tuple, an
    ``nn.Parameter`` a plain tensor.
    """
    budget = count_item(depth, budget)
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is torch.nn.Parameter:
        value, kind = value.detach(), torch.Tensor
    if kind is torch.Tensor:
        if not dense_tensor(value):
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


class _Watcher:
    """A profiler that notes calls into watched functions while the learner's function runs."""

    def __init__(self, name: str, roots: list[str], checks_root: str | None):
        self.name, self.roots, self.checks_root = name, tuple(roots), checks_root
        self.reached: list[str] = []

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        filename = code.co_filename
        watched = (code.co_name == self.name and filename.startswith(self.roots)) or (
            self.checks_root is not None and filename.startswith(self.checks_root)
        )
        if watched:
            module = frame.f_globals.get("__name__")
            found = f"{module if type(module) is str else '?'}.{code.co_name}"
            if found not in self.reached:
                self.reached.append(found)


def _outcome_of_call(fn, args, rng_state, time_limit: float, watcher: _Watcher | None) -> tuple:
    if rng_state is not None:
        torch.set_rng_state(rng_state)

    def call():
        if watcher is None:
            return fn(*copy.deepcopy(args))
        _setprofile(watcher)
        try:
            return fn(*copy.deepcopy(args))
        finally:
            _setprofile(None)

    try:
        result = run_limited(call, time_limit)
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


_setprofile = sys.setprofile  # taken when this source runs (checked below: a learner's cell may have replaced it)
_PROFILER_REPLACED = not (
    type(_setprofile) is type(len)
    and getattr(_setprofile, "__self__", None) is sys
    and _setprofile.__name__ == "setprofile"
)
_MISSING = object()


def answer_requests(
    namespace: dict,
    requests_path: str,
    answers_dir: str,
    time_limit: float | None = None,
    watch: dict | None = None,
) -> None:
    """Answer each request of the grader into ``answers_dir/<key>.pt``; the watched calls into ``reached.pt``.

    A request is a dict: ``{"key", "name", "kind": "inspect"}`` asks what ``namespace[name]`` is (("missing",),
    ("function",), or the value as an outcome); ``{"key", "name", "kind": "call", "args", "rng"}`` runs the function
    ``namespace[name](*args)`` with torch's random state ``rng``, within ``time_limit`` seconds. An outcome is one of
    ("ok", plain value), ("raised", exception's type name, message), ("not done",), ("timeout",), ("ellipsis",),
    ("unsupported", type name), ("missing",), ("function",). watch: {"roots": folders of the packages whose
    function named like the answer counts as the package's own, "checks": the folder of the checks' code}.
    """
    limit = TIME_LIMIT if time_limit is None else time_limit
    requests = torch.load(requests_path, weights_only=False)
    reached: list[str] = ["sys.setprofile was replaced before grading"] if _PROFILER_REPLACED else []
    for request in requests:
        value = namespace.get(request["name"], _MISSING)
        if value is _MISSING:
            outcome = ("missing",)
        elif request["kind"] == "inspect":
            outcome = ("function",) if callable(value) and not isinstance(value, type) else _outcome_of_value(value)
        else:
            watcher = None
            if watch and not _PROFILER_REPLACED:
                watcher = _Watcher(request["name"], watch["roots"], watch.get("checks"))
            outcome = _outcome_of_call(value, request["args"], request.get("rng"), limit, watcher)
            if watcher is not None:
                reached += [f"{request['name']} called {r}" for r in watcher.reached]
        path = os.path.join(answers_dir, f"{request['key']}.pt")
        try:
            torch.save(outcome, path)
        except Exception as e:  # e.g. the limit on the size of files
            torch.save(("unsupported", f"answer not saved: {type(e).__name__}"), path)
    torch.save(list(dict.fromkeys(reached))[:50], os.path.join(answers_dir, REACHED_FILE))


_TIMELIMIT_IMPORT = "from mha.timelimit import TIME_LIMIT, CheckTimeout, run_limited"


def _read_source() -> str:
    """This file's text with ``mha/timelimit.py``'s in place of the line that imports it."""
    own = Path(__file__).read_text(encoding="utf-8")
    shared = (Path(__file__).parents[1] / "timelimit.py").read_text(encoding="utf-8")
    lines = own.splitlines(keepends=True)
    (at,) = [i for i, line in enumerate(lines) if line.startswith(_TIMELIMIT_IMPORT)]
    return "".join(lines[:at]) + shared + "".join(lines[at + 1 :])


# read once, in the grader, when it imports this module (before any submission ran); not defined in the kernel
SOURCE = _read_source() if "__file__" in globals() else ""
