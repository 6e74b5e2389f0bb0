"""A GitHub Classroom template: the workflow a student repository runs on every push to grade itself.

    python -m mha.course classroom OUT_DIR --notebook 04   # the template repository, student notebooks included
    python -m mha.grading.classroom passed grades.json 04.2        # (the workflow runs this) exit 0 when 04.2 passed

The workflow (``.github/workflows/classroom.yml``) installs the course's package, grades the repository's notebooks
with ``python -m mha.course grade`` (the same grader, limits and protection as on an instructor's machine), then
runs one ``classroom-resources/autograding-command-grader`` step per exercise whose command is ``python -m
mha.classroom passed $RUNNER_TEMP/grades/grades.json <id>`` (outside the repository: a committed grades.json is
never read): it prints the check's feedback and exits 0 when the exercise passed, so GitHub Classroom gives that
step its points. ``autograding-grading-reporter`` adds them up for the classroom.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mha import __version__
from mha.exercises import Exercise

# pinned: every push of every student is graded by the same grader, the release the template was made with
PACKAGE_SPEC = f"mha[course] @ git+https://github.com/llm4n/multi-head-attention@v{__version__}"

WORKFLOW_HEAD = """# Made by `python -m mha.course classroom`: grades this repository's notebooks on every push.
name: Autograding
on: [push, repository_dispatch, workflow_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the course's package
        run: |
          python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu torch
          python -m pip install "{package}" ipykernel
          sudo apt-get install -y bubblewrap || true  # the grader's sandbox; without it grading runs unisolated
      - name: Grade the notebooks
        continue-on-error: true  # the exercises' steps below still run, and report what is missing
        run: python -m mha.course grade . --out "${{{{ runner.temp }}}}/grades" {grade_args}
"""

STEP = """      - name: Exercise {id}
        id: {step}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: "Exercise {id}: {title}"
          command: python -m mha.grading.classroom passed "${{{{ runner.temp }}}}/grades/grades.json" {id}
          timeout: 1
          max-score: {points}
"""

REPORTER = """      - name: Report the points
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {runners}
"""


def step_id(ex: Exercise) -> str:
    return f"ex-{ex.id.replace('.', '-')}"


def workflow(exercises: list[Exercise], package: str = PACKAGE_SPEC, grade_args: str = "") -> str:
    """The workflow file's text: install, grade once, one command-grader step per exercise, the reporter."""
    text = WORKFLOW_HEAD.format(package=package, grade_args=grade_args)
    for ex in exercises:
        text += STEP.format(id=ex.id, step=step_id(ex), title=ex.title.replace('"', "'"), points=ex.points)
    env = "\n".join(
        f"          {step_id(ex).upper()}_RESULTS: ${{{{ steps.{step_id(ex)}.outputs.result }}}}" for ex in exercises
    )
    return text + REPORTER.format(env=env, runners=",".join(step_id(ex) for ex in exercises))


def passed(grades_json: Path, exercise_id: str) -> tuple[bool, str]:
    """Whether ``exercise_id`` got all its points in the grader's grades.json, and the line to print."""
    try:
        report = json.loads(grades_json.read_text(encoding="utf-8"))
        found = [
            (Path(s["file"]).name, e)
            for s in report["submissions"]
            for e in s["exercises"]
            if e["exercise"] == exercise_id and s.get("status") != "duplicate"
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"Exercise {exercise_id}: the grader did not run (see the step 'Grade the notebooks')."
    if not found:
        return False, f"Exercise {exercise_id}: not found in any notebook of this repository."
    name, best = max(found, key=lambda item: item[1]["points"])
    ok = best["points"] >= best["max_points"]
    score = f"{best['points']:g}/{best['max_points']:g}"
    return ok, f"Exercise {exercise_id} ({name}): {best['status']}, {score}. {best['feedback']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mha.grading.classroom", description="GitHub Classroom's side of grading."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("passed", help="print an exercise's result; exit 0 when it got all its points")
    p.add_argument("grades_json")
    p.add_argument("exercise")
    args = parser.parse_args(argv)
    ok, line = passed(Path(args.grades_json), args.exercise)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
