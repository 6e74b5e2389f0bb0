"""Throughput of the grader on one machine: a generated class of submissions, graded with `-j JOBS`.

    .venv/bin/python benchmarks/bench_grading.py [--students 60] [--jobs 2] [--fork-server]

The class mixes the course's notebooks 04 and 08: a third hand in the solutions, a third the student version
untouched, a third a known mistake (split_heads without the transpose and softmax_dim = -2; layer_norm with the
n - 1 variance and a block count without the LayerNorms). Prints the total, the seconds per notebook, where a
notebook's time goes (kernel start with the course's imports, the learner's cells, the grading rounds), and checks
that every solution got full marks and every mistake its expected points.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from mha import course
from mha.grading import student

MISTAKES = {
    "04": {
        "split_heads": "def split_heads(x, num_heads):\n    B, T, d = x.shape\n"
        "    return x.reshape(B, num_heads, T, d // num_heads)\n",
        "softmax_dim": "softmax_dim = -2\n",
    },
    "08": {
        "layer_norm": "import torch\n\ndef layer_norm(x, eps=1e-5):\n    m = x.mean(-1, keepdim=True)\n"
        "    return (x - m) / torch.sqrt(x.var(-1, keepdim=True) + eps)\n",
        "block_param_count": "def block_param_count(d_model):\n    return 12 * d_model**2 + 9 * d_model\n",
    },
}
FILES = {"04": "04_heads_in_parallel.ipynb", "08": "08_whats_next.ipynb"}


def mistaken(nb, number: str):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            for name, source in MISTAKES[number].items():
                if f"def {name}(" in cell.source or cell.source.lstrip().startswith(f"{name} ="):
                    cell.source = source
    return nb


def make_class(folder: Path, students: int) -> dict[str, tuple[str, str]]:
    """Write the class's notebooks; {file name: (notebook, kind)}."""
    made = {}
    for i in range(students):
        number = "04" if i % 2 else "08"
        kind = ("solution", "student", "mistaken")[(i // 2) % 3]
        nb = nbformat.read(student.NOTEBOOKS / FILES[number], as_version=4)
        if kind == "student":
            nb = student.student_version(nb, number)
        elif kind == "mistaken":
            nb = mistaken(nb, number)
        name = f"{number}_learner{i:03d}.ipynb"
        nbformat.write(nb, folder / name)
        made[name] = (number, kind)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fork-server", action="store_true", help="kernels forked from one process (mha.forkserver)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "grades"
        folder.mkdir()
        made = make_class(folder, args.students)
        started = time.monotonic()
        argv = ["grade", str(folder), "--out", str(out), "--jobs", str(args.jobs)]
        course.main(argv + (["--fork-server"] if args.fork_server else []))
        total = time.monotonic() - started
        report = json.loads((out / "grades.json").read_text())
    subs = report["submissions"]
    full = {"04": 5, "08": 2}  # 04.1-04.4: 1 + 2 + 1 + 1; 08.1, 08.2: 1 + 1
    expected_points = {
        ("04", "mistaken"): 5 - 2 - 1,
        ("08", "mistaken"): 0,
        **{(n, "solution"): p for n, p in full.items()},
    }
    wrong = []
    for sub in subs:
        number, kind = made[Path(sub["file"]).name]
        want = 0 if kind == "student" else expected_points[(number, kind)]
        if sub["points"] != want:
            wrong.append((Path(sub["file"]).name, kind, sub["points"], want, sub["notes"]))
    how = " --fork-server" if args.fork_server else ""
    print(f"\n{len(subs)} notebooks, -j {args.jobs}{how}: {total:.0f} s in all, {total / len(subs):.1f} s per notebook")
    for part in ("start", "cells", "grading"):
        values = [s["timing"][part] for s in subs if part in s.get("timing", {})]
        if values:
            print(f"  {part:8s} mean {statistics.mean(values):5.1f} s, median {statistics.median(values):5.1f} s")
    for number in ("04", "08"):
        mine = [s["seconds"] for s in subs if made[Path(s["file"]).name][0] == number]
        print(f"  notebook {number}: {len(mine)} files, {statistics.mean(mine):.1f} s each (wall, one kernel)")
    print("points as expected for every file" if not wrong else f"unexpected points: {wrong}")


if __name__ == "__main__":
    main()
