"""A Gradescope autograder for the course's exercises: the zip an instructor uploads, and its results.json.

    python -m mha.course gradescope autograder.zip [--notebook 04]   # build the zip
    python -m mha.grading.gradescope results grades.json results.json [--notebook 04]   # (run_autograder calls this)

The zip holds Gradescope's three files and the package:

- ``setup.sh``: run once when Gradescope builds the image; installs ``requirements.txt`` with pip;
- ``requirements.txt``: what grading needs (torch for the CPU, numpy, plotly, ipywidgets, ipykernel, nbclient,
  nbformat), pinned as in the course's own requirements where it pins them;
- ``run_autograder``: run once per submission, in its own container; grades every notebook in
  ``$ROOT/submission`` with ``python -m mha.course grade`` (the copy of ``mha`` in ``$ROOT/source/package``) and
  writes ``$ROOT/results/results.json``. ``ROOT`` is ``/autograder`` on Gradescope and ``$MHA_GRADESCOPE_ROOT``
  when set (to try it locally); ``$MHA_PYTHON`` names the Python (default ``python3``).

results.json (Gradescope's format): ``score``, ``output`` (the grader's notes), and one test per exercise with its
``score``, ``max_score``, ``status`` and ``output`` (the check's feedback, the same sentence the learner's check
cell prints).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # mha/
REPOSITORY = PACKAGE.parent
NEEDED = ["torch", "numpy", "plotly", "ipywidgets", "ipykernel", "nbclient", "nbformat"]

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (made by `python -m mha.course gradescope`).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip
fi
python3 -m pip install --no-cache-dir -r requirements.txt
# the grader's sandbox (a submission cannot reach the grader's files); where it cannot run, grading runs unisolated
apt-get install -y bubblewrap || true
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this once per submission (made by `python -m mha.course gradescope`).
set -uo pipefail
ROOT="${{MHA_GRADESCOPE_ROOT:-/autograder}}"
PYTHON="${{MHA_PYTHON:-python3}}"
export PYTHONPATH="$ROOT/source/package${{PYTHONPATH:+:$PYTHONPATH}}"
OUT="$(mktemp -d)"
mkdir -p "$ROOT/results"
"$PYTHON" -m mha.course grade "$ROOT/submission" --out "$OUT" {grade_args} > "$OUT/stdout.txt" 2> "$OUT/log.txt"
"$PYTHON" -m mha.grading.gradescope results "$OUT/grades.json" "$ROOT/results/results.json" {result_args}
"""


def requirements(source: Path = REPOSITORY / "requirements.txt") -> str:
    """requirements.txt for the autograder: the packages grading needs, pinned as the course pins them."""
    pins = {}
    if source.exists():
        for line in source.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)\s*(==|>=)\s*([^\s#]+)", line)
            if match:
                pins[match.group(1).lower()] = f"{match.group(1)}{match.group(2)}{match.group(3)}"
    lines = ["# made by `python -m mha.course gradescope`", "--extra-index-url https://download.pytorch.org/whl/cpu"]
    lines += [pins.get(name, name) for name in NEEDED]
    return "\n".join(lines) + "\n"


def build_zip(out: Path, notebooks: list[str] | None = None, grade_args: list[str] | None = None) -> Path:
    """Write the autograder zip to ``out``: setup.sh, run_autograder, requirements.txt, package/mha/**.py.

    notebooks: the course notebooks this assignment covers ("04"); their exercises are listed in results.json
    even when a submission lacks them (None: whatever notebooks are submitted). grade_args: more options for
    ``python -m mha.course grade`` (e.g. ["--timeout", "600"]).
    """
    notebook_args = [f"--notebook {n}" for n in notebooks or []]
    one = notebook_args if len(notebook_args) == 1 else []  # one notebook: every submitted file is graded as it
    run = RUN.format(grade_args=" ".join([*(grade_args or []), *one]), result_args=" ".join(notebook_args))
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", SETUP), ("run_autograder", run)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16  # executable
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
        info = zipfile.ZipInfo("requirements.txt")
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, requirements())
        for path in sorted(PACKAGE.rglob("*.py")):
            if "__pycache__" not in path.parts:
                z.write(path, f"package/mha/{path.relative_to(PACKAGE).as_posix()}")
    return out


def results(grades_json: Path, notebooks: list[str] | None = None) -> dict:
    """Gradescope's results.json from the grader's grades.json (or, when it is missing, zero for every exercise of
    ``notebooks`` with a reason)."""
    from mha.exercises import exercises_for

    tests, output = [], []
    try:
        report = json.loads(grades_json.read_text(encoding="utf-8"))
        submissions = report["submissions"]
    except (OSError, ValueError, KeyError):
        submissions = []
        output.append("No notebook (.ipynb) could be graded in your submission.")
    seen = set()
    for sub in submissions:
        if sub.get("status") == "duplicate":
            continue
        name = Path(sub["file"]).name
        if sub.get("notes"):
            output.append(f"{name}: " + "; ".join(sub["notes"]))
        for e in sub["exercises"]:
            seen.add(e["exercise"])
            passed = e["points"] >= e["max_points"]
            tests.append(
                {
                    "name": f"Exercise {e['exercise']}: {e['title']} ({name})",
                    "number": e["exercise"],
                    "score": e["points"],
                    "max_score": e["max_points"],
                    "status": "passed" if passed else "failed",
                    "output": e["feedback"],
                    "visibility": "visible",
                }
            )
    for number in notebooks or []:
        for ex in exercises_for(number):
            if ex.id not in seen:
                tests.append(
                    {
                        "name": f"Exercise {ex.id}: {ex.title}",
                        "number": ex.id,
                        "score": 0.0,
                        "max_score": float(ex.points),
                        "status": "failed",
                        "output": f"not submitted: hand in notebook {number} with `{ex.name}` defined.",
                        "visibility": "visible",
                    }
                )
    return {
        "score": sum(t["score"] for t in tests),
        "output": "\n".join(output) or "Graded outside your notebook's kernel: see each exercise below.",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mha.grading.gradescope", description="Gradescope's results.json.")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("results", help="write results.json from the grader's grades.json")
    r.add_argument("grades_json")
    r.add_argument("results_json")
    r.add_argument("--notebook", action="append", default=[], help="a notebook the assignment covers (repeatable)")
    args = parser.parse_args(argv)
    data = results(Path(args.grades_json), args.notebook)
    Path(args.results_json).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
