"""The instructor's command line (``python -m mha.course``): student version, grader, exports.

    python -m mha.course student OUT_DIR            # notebooks without solutions, into OUT_DIR
    python -m mha.course grade PATH... [--out DIR]  # run submissions; a summary; grades.csv, learners.csv, ...
    python -m mha.course list                       # the exercises and their points
    python -m mha.course gradescope OUT.zip         # a Gradescope autograder (mha.grading.gradescope)
    python -m mha.course classroom OUT_DIR --notebook 04  # a GitHub Classroom template (mha.grading.classroom)

A solution is a code cell tagged ``solution``. The student version replaces it by a stub that keeps the
function's signature and docstring and raises ``NotImplementedError`` with a hint (a value becomes ``...``).

The grader runs every submission in a fresh kernel (a copy, in a temporary folder; the file itself is never
changed) with a time limit per cell and per notebook and limits on the kernel's memory, CPU time and files. The
kernel is the learner's: nothing it reports is believed. After the learner's cells, the grader asks it only for
values (what each exercise's name holds; the learner's function run on inputs drawn from a secret salt of this
grading run) and runs every check in its own process on those values (``mha.grading.judge``), so a missing or moved
check cell does not matter, and neither does a cell that replaces functions of ``mha``, ``torch`` or
``mha.exercises``. What the grader cannot prevent (an answer that calls the package's own function, a cell that
changes a module) is reported in the notes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mha.exercises import EXERCISES, exercises_for
from mha.grading import report, sandbox
from mha.grading.kernel import Limits
from mha.grading.run import collect, grade_files
from mha.grading.student import NOTEBOOKS, student_version, write_student_versions

# ---------------------------------------------------------------- command line


def known_notebooks() -> set[str]:
    """The course notebooks that have exercises ("01", ..., "08")."""
    return {e.notebook for e in EXERCISES.values()}


def _add_limits(command: argparse.ArgumentParser) -> None:
    """The limits a submission's kernel runs under, the same options for ``grade`` and ``gradescope``."""
    command.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default: %(default)s)")
    command.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default: %(default)s)")
    command.add_argument(
        "--memory-mb", type=int, default=Limits.memory_mb, help="memory per kernel, MB (default: %(default)s)"
    )


def notebook_numbers(parser: argparse.ArgumentParser, values, option: str) -> list[str]:
    """The course notebooks named by ``option`` ("4", "04", or "4,5" in one value), as "04"; an unknown one is
    refused with the list of those that have exercises."""
    known = known_notebooks()
    texts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    numbers = [f"{int(t):02d}" if t.isdigit() else t for t in texts]
    if any(n not in known for n in numbers):
        parser.error(f"{option} takes notebooks among {', '.join(sorted(known))}, got {', '.join(texts)}")
    return numbers


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
        description="Run each submitted notebook in a fresh, sandboxed kernel (on a copy) and grade its exercises. "
        "Prints a summary and writes grades.csv (a row per file), learners.csv (a row per learner), grades.json and "
        "table.txt into --out; each submission's result is kept in OUT/submissions/ as it finishes, and a rerun "
        "with the same --out resumes. A file that cannot be read gets zero and a reason; a path that does not "
        "exist is reported and the rest graded. Learners: one folder per learner under a folder you give "
        "(submissions/alice/04_....ipynb); a file directly in it is a learner of its own.",
    )
    g.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders searched for *.ipynb")
    g.add_argument("--out", default="grades", help="folder for the reports (default: %(default)s)")
    _add_limits(g)
    g.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks at a time (default: the cores, %(default)s)",
    )
    g.add_argument(
        "--cpu-seconds", type=int, default=Limits.cpu_seconds, help="CPU time per kernel, s (default: %(default)s)"
    )
    g.add_argument("--notebook", help="grade every file as this course notebook (e.g. 04), whatever its name")
    g.add_argument(
        "--no-fork-server",
        dest="fork_server",
        action="store_false",
        help="start each kernel the usual way instead of forking it from one process that imported torch and the "
        "course once (slower)",
    )
    g.add_argument("--fork-server", dest="fork_server", action="store_true", help=argparse.SUPPRESS)
    g.add_argument(
        "--isolation",
        choices=["auto", "bubblewrap", "none"],
        default="auto",
        help="auto: a bubblewrap sandbox per submission where bwrap works, else none (said in the report); "
        "bubblewrap: fail without it (default: %(default)s)",
    )
    g.add_argument("--expect", help="the notebooks every learner hands in, e.g. 04,05: missing ones get a row")
    g.add_argument("--roster", help="a file with one learner (folder name) a line: learners without files get a row")
    g.add_argument("--fresh", action="store_true", help="grade everything again instead of resuming from --out")
    g.add_argument("--table", action="store_true", help="print the full table (always written to OUT/table.txt)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
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
    _add_limits(z)
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
        from mha.grading import classroom

        numbers = notebook_numbers(parser, args.notebook, "--notebook")
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
        from mha.grading import gradescope

        numbers = notebook_numbers(parser, args.notebook, "--notebook")
        options = ["--timeout", f"{args.timeout:g}", "--cell-timeout", f"{args.cell_timeout:g}"]
        options += ["--memory-mb", str(args.memory_mb)]
        out = gradescope.build_zip(Path(args.out_zip), numbers, options)
        print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment")
        return 0
    return grade_command(parser, args)


def grade_command(parser: argparse.ArgumentParser, args) -> int:
    notebook = None
    if args.notebook is not None:
        numbers = notebook_numbers(parser, [args.notebook], "--notebook")
        if len(numbers) != 1:
            parser.error(f"--notebook takes one notebook, e.g. 04, got {args.notebook!r}")
        notebook = numbers[0]
    expect = notebook_numbers(parser, [args.expect], "--expect") if args.expect else []
    roster = []
    if args.roster:
        try:
            roster = [line.strip() for line in Path(args.roster).read_text().splitlines() if line.strip()]
        except OSError as e:
            parser.error(f"--roster: {e}")
    if min(args.timeout, args.cell_timeout, args.jobs, args.memory_mb, args.cpu_seconds) <= 0:
        parser.error("--timeout, --cell-timeout, --jobs, --memory-mb and --cpu-seconds must be positive")
    found, bad = collect(args.paths)
    for path in bad:
        print(f"no such file or folder: {path} (skipped)", file=sys.stderr)
    if not found and not roster:
        parser.error(f"no notebooks (*.ipynb) found in {', '.join(args.paths)}")
    try:
        isolation = sandbox.choose(args.isolation)
    except RuntimeError as e:
        parser.error(str(e))
    print(isolation.line(), file=sys.stderr, flush=True)
    limits = Limits(args.timeout, args.cell_timeout, args.memory_mb, args.cpu_seconds)
    out = Path(args.out)
    started = time.monotonic()
    subs = grade_files(
        found,
        jobs=args.jobs,
        limits=limits,
        notebook=notebook,
        fork_server=args.fork_server,
        isolation=isolation,
        out=out,
        resume=not args.fresh,
        progress=not args.quiet,
    )
    for path in bad:
        subs.append(report.Submission(path, None, Path(path).stem, "not found", notes=["no such file or folder"]))
    subs += report.roster_rows(subs, expect, roster)
    if args.table:
        print(report.table(subs))
    print(report.summary(subs, isolation.line(), time.monotonic() - started))
    paths = report.write_reports(subs, out, isolation.line())
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
