"""Grading a class: every file found, each submission in its own sandboxed kernel, results kept as they finish.

``grade_files`` finds what to grade (``collect``: a row for every file, whether it is a course notebook, invalid,
or a duplicate of another file of the same learner), starts the run's kernels (``mha.grading.kernel.Kernels``:
bubblewrap and the fork server by default), grades ``jobs`` submissions at a time and writes each result to
``OUT/submissions/`` the moment it is done, so that a rerun with the same ``--out`` resumes where a killed run
stopped. A kernel that dies costs its own submission only. After each submission the ``Guard`` checks that the
package and site-packages are as they were (undoing what changed).

Learners: one folder per learner under a folder given on the command line (``submissions/alice/04_....ipynb``);
a file directly in a given folder, or given by name, is a learner of its own, named by the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mha.exercises import exercises_for
from mha.grading import sandbox
from mha.grading.forkserver import ERROR_FILE
from mha.grading.kernel import Kernels, Limits, run_notebook
from mha.grading.student import NOTEBOOKS, notebook_number, student_version

RESULTS_FOLDER = "submissions"  # OUT/submissions/<file>.json: one per submission, written as it finishes


@dataclass
class Grade:
    file: str
    notebook: str | None
    exercise: str
    title: str
    points: float
    max_points: float
    status: str
    feedback: str


@dataclass
class Submission:
    file: str  # relative to the folder it was found in (or as given)
    notebook: str | None
    learner: str = ""
    status: str = "graded"  # graded, invalid, not a course notebook, duplicate, could not run
    grades: list[Grade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)  # seconds: kernel start, learner's cells, grading
    digest: str = ""  # sha256 of the file: a rerun resumes only a file that did not change

    @property
    def points(self) -> float:
        return sum(g.points for g in self.grades)

    @property
    def max_points(self) -> float:
        return sum(g.max_points for g in self.grades)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["exercises"] = data.pop("grades")
        data.update(points=self.points, max_points=self.max_points)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Submission:
        fields = {k: data[k] for k in ("file", "notebook", "learner", "status", "notes", "seconds", "timing", "digest")}
        return cls(grades=[Grade(**g) for g in data["exercises"]], **fields)


@dataclass
class Found:
    """A file to grade: where it is, how the report names it, whose it is."""

    path: Path
    name: str
    learner: str
    duplicate_of: str | None = None
    number: str | None = None


def collect(paths: list[str]) -> tuple[list[Found], list[str]]:
    """Every notebook under ``paths`` (a row each) and the paths that do not exist (reported, not fatal)."""
    found: list[Found] = []
    bad: list[str] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            for q in sorted(p.rglob("*.ipynb")):
                if ".ipynb_checkpoints" in q.parts:
                    continue
                rel = q.relative_to(p)
                learner = rel.parts[0] if len(rel.parts) > 1 else rel.stem
                found.append(Found(q, str(Path(p.name) / rel) if p.name else str(rel), learner))
        elif p.is_file():
            found.append(Found(p, given, p.stem))
        else:
            bad.append(given)
    return found, bad


def _prefer(item: Found) -> tuple:
    """The copy that counts among a learner's files for one notebook: named like the course's, then the first."""
    return (not re.match(r"\d\d_", item.path.name), item.name)


def mark_duplicates(found: list[Found], numbers: dict[str, str | None]) -> None:
    """Flag every file after the first of one learner for one notebook (``Copy of 04_...``) as a duplicate."""
    groups: dict[tuple[str, str], list[Found]] = {}
    for item in found:
        item.number = numbers.get(item.name)
        if item.number:
            groups.setdefault((item.learner, item.number), []).append(item)
    for items in groups.values():
        items.sort(key=_prefer)
        for item in items[1:]:
            item.duplicate_of = items[0].name


def _read(path: Path, notebook: str | None):
    """(the notebook, its course number, why it is not gradable or None)."""
    import nbformat

    try:
        nb = nbformat.reads(path.read_bytes().decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as e:  # not JSON, not UTF-8, not a notebook, truncated
        first = str(e).splitlines()[0][:120] if str(e) else ""
        return None, notebook or notebook_number(path), f"not a valid notebook ({type(e).__name__}: {first})"
    return nb, (notebook or notebook_number(path, nb)), None


_KNOWN: dict[str, frozenset] = {}
_KNOWN_LOCK = threading.Lock()


def course_cells(number: str) -> frozenset:
    """The sources of the course's own cells of notebook ``number`` (solution and student versions)."""
    import nbformat

    with _KNOWN_LOCK:
        if number not in _KNOWN:
            sources: set[str] = set()
            for path in sorted(NOTEBOOKS.glob(f"{number}_*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                for version in (nb, student_version(nb, number)):
                    sources |= {c.source.strip() for c in version.cells if c.cell_type == "code"}
            _KNOWN[number] = frozenset(sources)
        return _KNOWN[number]


def grade_file(
    path: Path,
    timeout: float = 300,
    cell_timeout: float = 60,
    limits: Limits | None = None,
    salt: int | None = None,
    notebook: str | None = None,
    kernels: Kernels | None = None,
    name: str | None = None,
) -> Submission:
    """Grade one submitted notebook. Never raises and never writes to ``path``.

    limits: what the submission may use (``timeout`` and ``cell_timeout`` are used when it is None); salt: the
    grading run's secret mixed into the checks' inputs (a fresh one when None); notebook: grade the file as this
    course notebook ("04"), whatever its name says; kernels: how to start the kernel (see ``Kernels``; None: a plain
    kernel, not isolated); name: how the report names the file.
    """
    limits = limits or Limits(timeout=timeout, cell_timeout=cell_timeout)
    salt = secrets.randbits(62) if salt is None else salt
    started = time.monotonic()
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = ""
    nb, number, reason = _read(path, notebook)
    sub = Submission(name or str(path), number, digest=digest)
    results = []
    if reason:
        sub.status = "invalid"
        sub.notes.append(reason)
    elif number is None:
        sub.status = "not a course notebook"
        sub.notes.append("no course exercise found: name the file like the course notebook (e.g. 04_....ipynb)")
    else:
        root = kernels.workroot if kernels is not None else None
        with tempfile.TemporaryDirectory(prefix="mha-sub-", dir=root) as tmp:
            try:
                known = course_cells(number)
                results, notes = run_notebook(nb, number, Path(tmp), limits, salt, sub.timing, kernels, known)
                sub.notes += notes
            except Exception as e:  # a kernel that does not start, a broken cell structure, ...
                sub.status = "could not run"
                sub.notes.append(f"could not run the notebook ({type(e).__name__}: {str(e)[:160]})")
                why = Path(tmp) / ERROR_FILE
                if why.is_file():
                    sub.notes.append(f"the kernel did not start: {why.read_text(errors='replace')[:300]}")
    by_id = {r.exercise: r for r in results}
    for ex in exercises_for(number) if number else []:
        r = by_id.get(ex.id)
        if r is None:
            why = reason or "no result: the notebook could not be run"
            sub.grades.append(Grade(sub.file, number, ex.id, ex.title, 0.0, float(ex.points), "missing", why))
        else:
            points = float(ex.points) if r.passed else 0.0
            sub.grades.append(Grade(sub.file, number, ex.id, ex.title, points, float(ex.points), r.status, r.feedback))
    sub.seconds = round(time.monotonic() - started, 1)
    return sub


def _duplicate(item: Found, notebook: str | None) -> Submission:
    try:
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
    except OSError:
        digest = ""
    sub = Submission(item.name, item.number, item.learner, "duplicate", digest=digest)
    sub.notes.append(f"duplicate of {item.duplicate_of} (same learner, same notebook): not graded, not counted")
    return sub


def _result_path(out: Path, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-150:]
    return out / RESULTS_FOLDER / f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}.json"


def _write_result(out: Path, sub: Submission) -> None:
    path = _result_path(out, sub.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(sub.to_dict(), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def _resumed(out: Path, item: Found) -> Submission | None:
    path = _result_path(out, item.name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sub = Submission.from_dict(data)
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sub if sub.digest == digest and sub.file == item.name else None


class Progress:
    """One line per finished submission on stderr: k/N, a bar, elapsed and remaining time, the file's points."""

    def __init__(self, total: int, out=None) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.out = out or sys.stderr
        self.lock = threading.Lock()

    def step(self, sub: Submission, resumed: bool = False) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.monotonic() - self.started
            left = elapsed / self.done * (self.total - self.done)
            bar = "#" * round(20 * self.done / max(1, self.total))
            what = (
                "resumed" if resumed else sub.status if sub.status != "graded" else f"{sub.points:g}/{sub.max_points:g}"
            )
            print(
                f"[{bar:<20}] {self.done}/{self.total}  {_clock(elapsed)} elapsed, ~{_clock(left)} left  "
                f"{sub.file}: {what}",
                file=self.out,
                flush=True,
            )


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _clean_stale_workroots() -> None:
    """Remove the working folders of earlier runs whose grader is gone (killed, say)."""
    for folder in Path(tempfile.gettempdir()).glob("mha-grade-*"):
        try:
            pid = int((folder / "grader.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue


def grade_files(
    files: list[Path] | list[Found],
    timeout: float = 300,
    cell_timeout: float = 60,
    jobs: int | None = None,
    limits: Limits | None = None,
    notebook: str | None = None,
    fork_server: bool = True,
    isolation: sandbox.Isolation | None = None,
    out: Path | None = None,
    resume: bool = True,
    hide: list[Path] | None = None,
    progress: bool = True,
) -> list[Submission]:
    """Grade many notebooks, ``jobs`` kernels at a time (default: one per core); the result is in the order found.

    One secret salt is drawn for the whole run. fork_server: start every kernel as a fork of one process that
    imported the course's modules once (``mha.grading.forkserver``); isolation: ``sandbox.choose()`` when None;
    out: where each result is written as it finishes (and read back by a rerun when ``resume``); hide: what the
    kernels must not see besides the defaults (``sandbox.default_hidden``).
    """
    items = [f if isinstance(f, Found) else Found(Path(f), str(f), Path(f).stem) for f in files]
    limits = limits or Limits(timeout=timeout, cell_timeout=cell_timeout)
    jobs = jobs or os.cpu_count() or 1
    isolation = isolation or sandbox.choose()
    numbers = {item.name: _read(item.path, notebook)[1] for item in items}
    mark_duplicates(items, numbers)
    salt = secrets.randbits(62)
    results: dict[str, Submission] = {}
    todo: list[Found] = []
    bar = Progress(len(items)) if progress else None
    for item in items:
        old = _resumed(out, item) if (out is not None and resume) else None
        if item.duplicate_of:
            results[item.name] = _duplicate(item, notebook)
        elif old is not None:
            results[item.name] = old
        else:
            todo.append(item)
            continue
        if bar:
            bar.step(results[item.name], resumed=old is not None)
    _clean_stale_workroots()
    if not todo:
        return [results[i.name] for i in items]
    workroot = Path(tempfile.mkdtemp(prefix="mha-grade-"))
    (workroot / "grader.pid").write_text(str(os.getpid()))
    # unisolated, a kernel can write to the package and site-packages: checked (and undone) after each notebook;
    # in the sandbox they are read-only to kernels, and a change can only be the instructor's own edit
    guard = sandbox.Guard() if not isolation.isolated else None
    hidden = sandbox.default_hidden(out, [i.path for i in items]) + list(hide or [])
    kernels = None
    try:
        kernels = Kernels.start(isolation, workroot, hidden, fork_server and bool(todo))
        running: set[str] = set()
        shared: dict[str, list[str]] = {}  # notes for submissions still running when a change was found
        lock = threading.Lock()

        def one(item: Found) -> Submission:
            with lock:
                running.add(item.name)
            sub = grade_file(item.path, limits=limits, salt=salt, notebook=notebook, kernels=kernels, name=item.name)
            sub.learner = item.learner
            changed = guard.check() if guard is not None else []
            with lock:
                running.discard(item.name)
                others = sorted(running)
                for other in others:  # one of them may have made the change: each is told
                    shared.setdefault(other, []).extend(f"{c} (found while this ran)" for c in changed)
                sub.notes += shared.pop(item.name, [])
            if changed:
                during = f" (while {', '.join(others)} also ran)" if others else ""
                sub.notes += [f"{c}{during}" for c in changed]
            if out is not None:
                _write_result(out, sub)
            if bar:
                bar.step(sub)
            return sub

        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
            futures = [pool.submit(one, item) for item in todo]
            for future in as_completed(futures):
                sub = future.result()
                results[sub.file] = sub
    finally:
        if kernels is not None:
            kernels.close()
        shutil.rmtree(workroot, ignore_errors=True)
    return [results[i.name] for i in items]
