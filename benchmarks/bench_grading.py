"""A class of 60 graded by the default command: one notebook each, from the notebooks that train nothing.

    .venv/bin/python benchmarks/bench_grading.py [--students 60] [--isolation auto|bubblewrap|none] [-- more options]

The class hands in notebooks 01, 03, 04, 05 and 09 in turn: a third the solutions, a third the student version
untouched, a third one known mistake each (softmax over the wrong axis, interleaved heads, split_heads without the
transpose, a mask above the diagonal, the n - 1 variance). It runs ``python -m mha.course grade CLASS --out OUT``
(the fork server and one job per core, the defaults; the isolation as asked), in a process of its own as an
instructor would, and prints the wall time, where one notebook's time goes, and whether every file got the points
it should (full marks, zero, full marks less the mistaken exercise's).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from mha.exercises import EXERCISES, exercises_for
from mha.grading import student

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "01": "01_one_head.ipynb",
    "03": "03_panel_of_experts.ipynb",
    "04": "04_heads_in_parallel.ipynb",
    "05": "05_concat_and_project.ipynb",
    "09": "09_whats_next.ipynb",
}
MISTAKES = {  # notebook: (the exercise, its mistaken solution)
    "01": (
        "01.1",
        "def softmax_rows(scores):\n    e = np.exp(scores - scores.max(axis=0, keepdims=True))\n"
        "    return e / e.sum(axis=0, keepdims=True)\n",
    ),
    "03": (
        "03.1",
        "def run_heads(x, heads):\n    zs = [head(x)[0] for head in heads]\n"
        "    return torch.stack(zs, dim=-1).flatten(-2)\n",
    ),
    "04": (
        "04.2",
        "def split_heads(x, num_heads):\n    B, T, d = x.shape\n"
        "    return x.reshape(B, num_heads, T, d // num_heads)\n",
    ),
    "05": ("05.2", "def make_causal_mask(T):\n    return torch.ones(T, T, dtype=torch.bool).triu()\n"),
    "09": (
        "09.2",
        "import torch\n\ndef layer_norm(x, eps=1e-5):\n    m = x.mean(-1, keepdim=True)\n"
        "    return (x - m) / torch.sqrt(x.var(-1, keepdim=True) + eps)\n",
    ),
}


def mistaken(nb, number: str):
    """The solution notebook with one exercise's solution replaced by a known mistake."""
    nb = copy.deepcopy(nb)
    exercise, source = MISTAKES[number]
    name = EXERCISES[exercise].name
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []) and f"def {name}(" in cell.source:
            cell.source = source
    return nb


def make_class(folder: Path, students: int) -> dict[str, tuple[str, str]]:
    """Write the class's notebooks, one folder per learner; {learner: (notebook, kind)}."""
    made = {}
    numbers = list(FILES)
    for i in range(students):
        number = numbers[i % len(numbers)]
        kind = ("solution", "student", "mistaken")[(i // len(numbers)) % 3]
        nb = nbformat.read(student.NOTEBOOKS / FILES[number], as_version=4)
        if kind == "student":
            nb = student.student_version(nb, number)
        elif kind == "mistaken":
            nb = mistaken(nb, number)
        learner = f"learner{i:03d}"
        (folder / learner).mkdir()
        nbformat.write(nb, folder / learner / FILES[number])
        made[learner] = (number, kind)
    return made


def expected(number: str, kind: str) -> float:
    full = sum(e.points for e in exercises_for(number))
    if kind == "solution":
        return full
    if kind == "student":
        return 0
    return full - EXERCISES[MISTAKES[number][0]].points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "none"])
    parser.add_argument("more", nargs="*", help="more options for the grade command (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "grades"
        folder.mkdir()
        made = make_class(folder, args.students)
        argv = [sys.executable, "-m", "mha.course", "grade", str(folder), "--out", str(out), "-q"]
        argv += ["--isolation", args.isolation, *args.more]
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        total = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"the grader failed:\n{done.stderr[-3000:]}")
        report = json.loads((out / "grades.json").read_text())
        summary = done.stdout
    subs = report["submissions"]
    wrong = []
    for sub in subs:
        number, kind = made[sub["learner"]]
        if sub["points"] != expected(number, kind):
            wrong.append((sub["file"], kind, sub["points"], expected(number, kind), sub["notes"]))
    print(summary)
    print(f"{report['isolation']}")
    print(f"{len(subs)} notebooks, {' '.join(argv[3:4] + argv[7:])}: {total:.0f} s in all (wall, the whole command)")
    for part in ("start", "cells", "grading"):
        values = [s["timing"][part] for s in subs if part in s.get("timing", {})]
        if values:
            print(f"  {part:8s} mean {statistics.mean(values):5.1f} s, median {statistics.median(values):5.1f} s")
    for number in FILES:
        mine = [s["seconds"] for s in subs if made[s["learner"]][0] == number]
        print(f"  notebook {number}: {len(mine)} files, {statistics.mean(mine):.1f} s each (wall, one kernel)")
    print("points as expected for every file" if not wrong else f"unexpected points: {wrong}")


if __name__ == "__main__":
    main()
