"""Instructor commands: the student version of the notebooks, and a grader for submitted notebooks.

    python -m mha.course student OUT_DIR            # notebooks without solutions, into OUT_DIR
    python -m mha.course grade PATH... [--out DIR]  # run submissions, print and save a table of points
    python -m mha.course list                       # the exercises and their points
    python -m mha.course gradescope OUT.zip         # a Gradescope autograder (see mha.gradescope)
    python -m mha.course classroom OUT_DIR --notebook 04  # a GitHub Classroom template (mha.classroom)

A solution is a code cell tagged ``solution``. The student version replaces it by a stub that keeps the
function's signature and docstring and raises ``NotImplementedError`` with a hint (a value becomes ``...``).

The grader runs every submission in a fresh kernel (a copy, in a temporary folder; the file itself is never
changed) with a time limit per cell and per notebook and limits on the kernel's memory, CPU time and files. The
kernel is the learner's: nothing it reports is believed. After the learner's cells, the grader asks it only for
values (what each exercise's name holds; the learner's function run on inputs drawn from a secret salt of this
grading run) and runs every check in its own process on those values (``mha.grading``), so a missing or moved
check cell does not matter, and neither does a cell that replaces functions of ``mha``, ``torch`` or
``mha.exercises``. What the grader cannot prevent (an answer that calls the package's own function, a cell that
changes a module) is reported in the notes.
"""

from __future__ import annotations

import argparse
import csv
import json
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mha.exercises import EXERCISES, exercises_for
from mha.kernel import Limits, run_notebook
from mha.student import (
    NOTEBOOKS,
    notebook_number,
    student_version,
    write_student_versions,
)

# ---------------------------------------------------------------- the grader


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
    file: str
    notebook: str | None
    grades: list[Grade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)  # seconds: kernel start, learner's cells, grading

    @property
    def points(self) -> float:
        return sum(g.points for g in self.grades)

    @property
    def max_points(self) -> float:
        return sum(g.max_points for g in self.grades)


def grade_file(
    path: Path,
    timeout: float = 300,
    cell_timeout: float = 60,
    limits: Limits | None = None,
    salt: int | None = None,
    notebook: str | None = None,
    server=None,
) -> Submission:
    """Grade one submitted notebook. Never raises and never writes to ``path``.

    limits: what the submission may use (``timeout`` and ``cell_timeout`` are used when it is None); salt: the
    grading run's secret mixed into the checks' inputs (a fresh one when None); notebook: grade the file as this
    course notebook ("04"), whatever its name says; server: a running ``mha.forkserver.ForkServer`` to start the
    kernel from (None: a kernel started the usual way).
    """
    import nbformat

    limits = limits or Limits(timeout=timeout, cell_timeout=cell_timeout)
    salt = secrets.randbits(62) if salt is None else salt
    started = time.monotonic()
    nb, reason = None, None
    try:
        nb = nbformat.reads(path.read_bytes().decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as e:  # not JSON, not UTF-8, not a notebook
        reason = f"not a valid notebook ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
        nb = None
    number = f"{int(notebook):02d}" if notebook else notebook_number(path, nb)
    sub = Submission(str(path), number)
    results = []
    if reason:
        sub.notes.append(reason)
    elif number is None:
        sub.notes.append("no course exercise found: name the file like the course notebook (e.g. 04_....ipynb)")
    else:
        with tempfile.TemporaryDirectory(prefix="mha-grade-") as tmp:
            try:
                results, notes = run_notebook(nb, number, Path(tmp), limits, salt, sub.timing, server)
                sub.notes += notes
            except Exception as e:  # a kernel that does not start, a broken cell structure, ...
                sub.notes.append(f"could not run the notebook ({type(e).__name__}: {str(e)[:160]})")
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


def grade_files(
    files: list[Path],
    timeout: float = 300,
    cell_timeout: float = 60,
    jobs: int = 1,
    limits: Limits | None = None,
    notebook: str | None = None,
    fork_server: bool = False,
) -> list[Submission]:
    """Grade many notebooks, ``jobs`` kernels at a time; the result is in the order of ``files``.

    One secret salt is drawn for the whole run: every submission gets the same fresh inputs. fork_server: start
    every kernel as a fork of one process that imported the course's modules once (``mha.forkserver``).
    """
    limits = limits or Limits(timeout=timeout, cell_timeout=cell_timeout)
    salt = secrets.randbits(62)
    server = None
    if fork_server:
        from mha.forkserver import ForkServer

        server = ForkServer()

    def one(path: Path) -> Submission:
        print(f"grading {path} ...", file=sys.stderr, flush=True)
        return grade_file(path, limits=limits, salt=salt, notebook=notebook, server=server)

    try:
        if jobs <= 1 or len(files) <= 1:
            return [one(p) for p in files]
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # the kernels do the work; the threads mostly wait
            return list(pool.map(one, files))
    finally:
        if server is not None:
            server.close()


def _find_submissions(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def _print_table(subs: list[Submission], out=sys.stdout) -> None:
    rows = [("student file", "exercise", "points", "status", "feedback")]
    for sub in subs:
        for g in sub.grades:
            feedback = g.feedback if len(g.feedback) <= 70 else g.feedback[:67] + "..."
            rows.append((sub.file, g.exercise, f"{g.points:g}/{g.max_points:g}", g.status, feedback))
        rows.append((sub.file, "TOTAL", f"{sub.points:g}/{sub.max_points:g}", "", "; ".join(sub.notes)[:200]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4], file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 8, file=out)


def _write_reports(subs: list[Submission], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "grades.csv", out_dir / "grades.json"
    fields = list(Grade.__dataclass_fields__)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for sub in subs:
            for g in sub.grades:
                writer.writerow(asdict(g))
    report = {
        "submissions": [
            {
                "file": s.file,
                "notebook": s.notebook,
                "points": s.points,
                "max_points": s.max_points,
                "seconds": s.seconds,
                "timing": s.timing,
                "notes": s.notes,
                "exercises": [asdict(g) for g in s.grades],
            }
            for s in subs
        ]
    }
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return csv_path, json_path


# ---------------------------------------------------------------- command line


def known_notebooks() -> set[str]:
    """The course notebooks that have exercises ("01", ..., "09")."""
    return {e.notebook for e in EXERCISES.values()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mha.course",
        description="Instructor commands for the course: a student version of the notebooks, and a grader.",
        epilog="Examples:\n  python -m mha.course student student/\n"
        "  python -m mha.course grade submissions/ --out grades/\n  python -m mha.course list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{student,grade,gradescope,classroom,list}")
    p = sub.add_parser(
        "student",
        help="write the notebooks without their solutions",
        description="Write every notebook with each solution cell (tagged 'solution') replaced by a stub that "
        "raises NotImplementedError with a hint, its output cleared; everything else is kept.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the student notebooks into (created)")
    p.add_argument("--source", default=str(NOTEBOOKS), help="folder of the course notebooks (default: %(default)s)")
    g = sub.add_parser(
        "grade",
        help="run submitted notebooks and grade their exercises",
        description="Run each submitted notebook in a fresh kernel (on a copy) and grade its exercises. Prints "
        "a table and writes grades.csv and grades.json. A file that cannot be read gets zero and a reason.",
    )
    g.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders searched for *.ipynb")
    g.add_argument("--out", default="grades", help="folder for grades.csv and grades.json (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default: %(default)s)")
    g.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default: %(default)s)")
    g.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run at the same time (default: %(default)s)")
    g.add_argument(
        "--memory-mb", type=int, default=Limits.memory_mb, help="memory per kernel, MB (default: %(default)s)"
    )
    g.add_argument(
        "--cpu-seconds", type=int, default=Limits.cpu_seconds, help="CPU time per kernel, s (default: %(default)s)"
    )
    g.add_argument("--notebook", help="grade every file as this course notebook (e.g. 04), whatever its name")
    g.add_argument(
        "--fork-server",
        action="store_true",
        help="start each kernel as a fork of one process that imported torch and the course once (faster)",
    )
    z = sub.add_parser(
        "gradescope",
        help="build a Gradescope autograder zip",
        description="Write a zip to upload as a Gradescope programming assignment's autograder: setup.sh, "
        "run_autograder, requirements.txt and the package. Each submission is graded like `grade` does, in its "
        "own container, and gets one test per exercise in results.json.",
    )
    z.add_argument("out_zip", metavar="OUT.zip", help="the zip to write")
    z.add_argument(
        "--notebook", action="append", default=[], help="a notebook the assignment covers, e.g. 04 (repeatable)"
    )
    z.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default: %(default)s)")
    z.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default: %(default)s)")
    z.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory per kernel, MB")
    c = sub.add_parser(
        "classroom",
        help="write a GitHub Classroom template repository",
        description="Write a template repository for a GitHub Classroom assignment: the student version of the "
        "chosen notebooks and a workflow that grades them on every push, one autograding test per exercise.",
    )
    c.add_argument("out_dir", metavar="OUT_DIR", help="folder of the template repository (created)")
    c.add_argument("--notebook", action="append", required=True, help="a notebook of the assignment, e.g. 04")
    c.add_argument("--package", default=None, help="pip requirement for the course's package (default: the repository)")
    c.add_argument("--source", default=str(NOTEBOOKS), help="folder of the course notebooks (default: %(default)s)")
    sub.add_parser("list", help="list the exercises and their points", description="List the exercises.")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        for ex in EXERCISES.values():
            print(f"{ex.id}  {ex.points} pt  {ex.name:<18} {ex.title}")
        return 0
    if args.command == "student":
        source, out_dir = Path(args.source), Path(args.out_dir)
        if not source.is_dir() or not any(source.glob("*.ipynb")):
            parser.error(f"--source {source} is not a folder with notebooks")
        if out_dir.resolve() == source.resolve():
            parser.error("OUT_DIR must not be the source folder: the solutions would be overwritten")
        written = write_student_versions(out_dir, source)
        print(f"wrote {len(written)} student notebooks to {out_dir}")
        return 0
    if args.command == "classroom":
        from mha import classroom

        numbers = [f"{int(n):02d}" if n.isdigit() else n for n in args.notebook]
        if any(n not in known_notebooks() for n in numbers):
            parser.error(f"--notebook must be one of {', '.join(sorted(known_notebooks()))}")
        out_dir, source = Path(args.out_dir), Path(args.source)
        import nbformat

        for number in numbers:
            path = next((p for p in sorted(source.glob(f"{number}_*.ipynb"))), None)
            if path is None:
                parser.error(f"no notebook {number}_*.ipynb in {source}")
            nb = student_version(nbformat.read(path, as_version=4), number)
            out_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out_dir / path.name)
        exercises = [e for n in numbers for e in exercises_for(n)]
        grade_args = f"--notebook {numbers[0]}" if len(numbers) == 1 else ""
        text = classroom.workflow(exercises, args.package or classroom.PACKAGE_SPEC, grade_args)
        workflow = out_dir / ".github" / "workflows" / "classroom.yml"
        workflow.parent.mkdir(parents=True, exist_ok=True)
        workflow.write_text(text, encoding="utf-8")
        print(f"wrote the template repository {out_dir}: {len(numbers)} notebook(s) and {workflow}")
        return 0
    if args.command == "gradescope":
        from mha import gradescope

        known = known_notebooks()
        numbers = [f"{int(n):02d}" if n.isdigit() else n for n in args.notebook]
        if any(n not in known for n in numbers):
            parser.error(f"--notebook must be one of {', '.join(sorted(known))}")
        options = ["--timeout", f"{args.timeout:g}", "--cell-timeout", f"{args.cell_timeout:g}"]
        options += ["--memory-mb", str(args.memory_mb)]
        out = gradescope.build_zip(Path(args.out_zip), numbers, options)
        print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment")
        return 0
    if args.notebook is not None and (
        not args.notebook.isdigit() or f"{int(args.notebook):02d}" not in known_notebooks()
    ):
        parser.error(f"--notebook must be one of {', '.join(sorted(known_notebooks()))}")
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(missing)}")
    if min(args.timeout, args.cell_timeout, args.jobs, args.memory_mb, args.cpu_seconds) <= 0:
        parser.error("--timeout, --cell-timeout, --jobs, --memory-mb and --cpu-seconds must be positive")
    files = _find_submissions(args.paths)
    if not files:
        parser.error(f"no notebooks (*.ipynb) found in {', '.join(args.paths)}")
    limits = Limits(args.timeout, args.cell_timeout, args.memory_mb, args.cpu_seconds)
    subs = grade_files(files, jobs=args.jobs, limits=limits, notebook=args.notebook, fork_server=args.fork_server)
    _print_table(subs)
    csv_path, json_path = _write_reports(subs, Path(args.out))
    print(f"\nwrote {csv_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
