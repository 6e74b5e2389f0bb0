"""The instructor commands: the student version and the grader, on small synthetic notebooks."""

import ast
import csv
import hashlib
import io
import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell
from submissions import notebook, reference_solutions  # tests/grading/submissions.py

import mha
from mha import course
from mha.exercises import EXERCISES, exercises_for
from mha.grading import run, student

SOLUTIONS = reference_solutions()  # every exercise's, from the course's notebooks

NB = "09"  # the notebook the grading tests imitate (small exercises, fast checks)


def exercise_cells(exercise_id, solution=None):
    ex = EXERCISES[exercise_id]
    task = new_markdown_cell(f"**Exercise {ex.id}.** {ex.title}.")
    sol = new_code_cell(solution or SOLUTIONS[exercise_id], metadata={"tags": ["solution"]})
    check = new_code_cell(f"mha.exercises.{ex.check.__name__}({ex.name});")
    return [task, sol, check]


def solution_notebook(number=NB, extra=()):
    cells = [
        new_markdown_cell(f"# {int(number)}. A test notebook"),
        new_code_cell("import math\n\nimport numpy as np\nimport torch\n\nimport mha\nimport mha.exercises"),
        *extra,
    ]
    for ex in exercises_for(number):
        cells += exercise_cells(ex.id)
    return notebook(cells + [new_markdown_cell("## Summary")])


def test_every_exercise_has_a_reference_solution():
    assert list(SOLUTIONS) == list(EXERCISES)  # one in its notebook, in the course's order


def test_reference_solutions_read_the_gates():
    nb = notebook(
        [
            new_markdown_cell("```{solution-start} ex-04-2\n:class: dropdown\n```"),
            new_code_cell("a = 1", metadata={"tags": ["solution"]}),
            new_code_cell("b = 2", metadata={"tags": ["solution"]}),
            new_markdown_cell("```{solution-end}\n```"),
            new_code_cell("c = 3", metadata={"tags": ["solution"]}),  # outside the gates: not a reference
            new_markdown_cell(":::{solution-start} ex-05-1\n:::"),
            new_code_cell("print('not tagged')"),
            new_code_cell("d = 4", metadata={"tags": ["solution", "hide-input"]}),
            new_markdown_cell(":::{solution-end}\n:::"),
        ]
    )
    assert student.reference_solutions(nb) == {"04.2": "a = 1\n\nb = 2", "05.1": "d = 4"}


def _definitions(source: str) -> str:
    """The imports and functions of a solution cell, without the lines that use the notebook's variables."""
    tree = ast.parse(source)
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef)
    return "\n".join(ast.get_source_segment(source, node) for node in tree.body if isinstance(node, keep))


@pytest.mark.parametrize("exercise_id", [e.id for e in EXERCISES.values() if e.name in _definitions(SOLUTIONS[e.id])])
def test_reference_solutions_pass_their_checks(exercise_id, capsys):
    exercise = EXERCISES[exercise_id]
    namespace = {"math": math, "np": np, "torch": torch, "mha": mha}
    exec(_definitions(SOLUTIONS[exercise_id]), namespace)
    assert exercise.check(namespace[exercise.name]).passed


# ---------------------------------------------------------------- the student version


def test_stub_keeps_the_signature_and_docstring():
    solution = SOLUTIONS["05.2"]
    stub = student.make_stub(solution, "05")
    assert stub.startswith("# Exercise 05.2")
    docstring = ast.get_docstring(ast.parse(solution).body[0])
    assert "def make_causal_mask(T):" in stub and f'"""{docstring}"""' in stub
    assert "raise NotImplementedError('Exercise 05.2: " in stub and "torch.ones(T, T" not in stub  # the answer
    assert "return" not in stub
    assert student.make_stub("softmax_dim = -1", "04").splitlines()[1].startswith("softmax_dim = ...  # Exercise 04.4")
    one_line = student.make_stub("import torch\ndef merge_heads(z): return z.flatten(-2)", "04")
    assert "import torch" in one_line and "def merge_heads(z):\n    raise NotImplementedError" in one_line
    compile(one_line, "stub", "exec")
    experiment = 'other = train(5)\nexperts_seed_5 = {"reference": 1}\nexperts_seed_5["verb"] = 2\nprint(other)'
    assert student.make_stub(experiment, "06").splitlines()[1:] == [
        "experts_seed_5 = ...  # Exercise 06.1: " + EXERCISES["06.1"].hint
    ]


def test_student_command(tmp_path, capsys):
    source, out = tmp_path / "notebooks", tmp_path / "student"
    source.mkdir()
    nb = solution_notebook(
        extra=[new_code_cell("print(1 + 1)", outputs=[nbformat.v4.new_output("stream", text="2\n")])]
    )
    solution = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []))
    solution.outputs = [nbformat.v4.new_output("stream", text="secret\n")]
    at = nb.cells.index(solution)
    nb.cells[at:at] = [new_markdown_cell("```{solution-start} ex-09-1\n:class: dropdown\n```")]
    nb.cells.insert(at + 2, new_markdown_cell("```{solution-end}\n```"))
    nbformat.write(nb, source / "09_masks.ipynb")
    assert course.main(["student", str(out), "--source", str(source)]) == 0
    student = nbformat.read(out / "09_masks.ipynb", as_version=4)
    text = json.dumps(student)
    for exercise_id in ("09.1", "09.2"):
        body = SOLUTIONS[exercise_id].splitlines()[-1].strip()  # each solution's return line
        assert body not in text
    assert "solution-start" not in text and "solution-end" not in text and "secret" not in text
    stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stubs) == 2 and all(c.outputs == [] and "NotImplementedError" in c.source for c in stubs)
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    kept = [c for c in student.cells if c.source == "print(1 + 1)"]
    assert kept and kept[0].outputs[0]["text"] == "2\n"  # everything else is intact
    assert student.metadata["mha_course"]["notebook"] == "09"
    assert nbformat.read(source / "09_masks.ipynb", as_version=4) == nb  # the source is untouched
    with pytest.raises(SystemExit) as exit_info:
        course.main(["student", str(source), "--source", str(source)])
    assert exit_info.value.code == 2


def test_student_version_of_the_course_notebooks(tmp_path, capsys):
    assert course.main(["student", str(tmp_path)]) == 0
    for path in sorted(student.NOTEBOOKS.glob("*.ipynb")):
        original = nbformat.read(path, as_version=4)
        handed_out = nbformat.read(tmp_path / path.name, as_version=4)
        solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
        stubs = [c for c in handed_out.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(stubs) == len(solutions), path.name
        for stub in stubs:
            assert stub.outputs == [] and ("NotImplementedError" in stub.source or "= ..." in stub.source)
            compile(stub.source, path.name, "exec")


# ---------------------------------------------------------------- the grader


def _write(folder: Path, name: str, nb) -> Path:
    path = folder / name
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder of submissions (one per robustness case) in a single run, three kernels at a time."""
    folder, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    full = solution_notebook()
    _write(folder, "09_solution.ipynb", full)
    _write(folder, "09_student.ipynb", student.student_version(full, NB))
    missing = solution_notebook()
    del missing.cells[-3:-1]  # the last exercise's solution and check cells
    _write(folder, "09_missing.ipynb", missing)
    reordered = solution_notebook()
    checks = [c for c in reordered.cells if "mha.exercises.check_" in c.source]
    reordered.cells = [c for c in reordered.cells if c not in checks]
    reordered.cells[2:2] = checks  # every check before every solution
    _write(folder, "09_reordered.ipynb", reordered)
    syntax = solution_notebook()
    first_solution = next(c for c in syntax.cells if "solution" in c.metadata.get("tags", []))
    first_solution.source = first_solution.source.replace("):", ")", 1)  # def f(x)  <- no colon: a SyntaxError
    _write(folder, "09_syntax_error.ipynb", syntax)
    loop = new_code_cell("import time\n\nwhile True:  # never ends, and spares the CPU\n    time.sleep(0.01)")
    _write(folder, "09_infinite_loop.ipynb", solution_notebook(extra=[loop]))
    huge = new_code_cell("for i in range(200_000):\n    print('a line of output', i)")
    _write(folder, "09_huge_output.ipynb", solution_notebook(extra=[huge]))
    _write(folder, "09_not_json.ipynb", '{"cells": [ this is not json')
    real = nbformat.read(student.NOTEBOOKS / "09_whats_next.ipynb", as_version=4)  # the lightest course notebook
    _write(folder, "09_course_student.ipynb", student.student_version(real, "09"))
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    argv = ["grade", str(folder), "--out", str(out), "--cell-timeout", "6", "--timeout", "120", "--jobs", "3"]
    assert course.main(argv) == 0
    report = json.loads((out / "grades.json").read_text())
    by_name = {Path(s["file"]).name: s for s in report["submissions"]}
    return {"by_name": by_name, "folder": folder, "hashes": hashes, "csv": (out / "grades.csv").read_text()}


def _status(sub):
    return {e["exercise"]: (e["points"], e["status"]) for e in sub["exercises"]}


def test_grade_solution_gets_full_marks(graded):
    sub = graded["by_name"]["09_solution.ipynb"]
    assert sub["points"] == sub["max_points"] > 0 and sub["notes"] == []


def test_grade_student_version_gets_zero(graded):
    sub = graded["by_name"]["09_student.ipynb"]
    assert sub["points"] == 0 and {s for _, s in _status(sub).values()} == {"not done"}
    assert not any("raised" in n for n in sub["notes"])  # the student version runs without errors


def test_grade_real_student_notebook_runs_and_scores_zero(graded):
    sub = graded["by_name"]["09_course_student.ipynb"]
    assert sub["points"] == 0 and sub["max_points"] > 0 and sub["notes"] == []  # no cell raised
    assert {e["status"] for e in sub["exercises"]} == {"not done"}


def test_grade_missing_cells_count_zero(graded):
    sub = graded["by_name"]["09_missing.ipynb"]
    last = exercises_for(NB)[-1]
    assert _status(sub)[last.id] == (0, "missing")
    assert sub["points"] == sub["max_points"] - last.points


def test_grade_reordered_cells_still_graded(graded):
    sub = graded["by_name"]["09_reordered.ipynb"]
    assert sub["points"] == sub["max_points"]


def test_grade_syntax_error(graded):
    sub = graded["by_name"]["09_syntax_error.ipynb"]
    first = exercises_for(NB)[0]
    assert _status(sub)[first.id][0] == 0 and sub["points"] == sub["max_points"] - first.points
    assert any("SyntaxError" in n for n in sub["notes"])


def test_grade_infinite_loop_is_stopped(graded):
    sub = graded["by_name"]["09_infinite_loop.ipynb"]
    assert any("time limit" in n for n in sub["notes"])
    assert sub["points"] == sub["max_points"]  # the cells after the loop still ran


def test_grade_huge_output(graded):
    sub = graded["by_name"]["09_huge_output.ipynb"]
    assert sub["points"] == sub["max_points"]


def test_grade_invalid_json_gets_zero_with_a_reason(graded):
    sub = graded["by_name"]["09_not_json.ipynb"]
    assert sub["points"] == 0 and sub["max_points"] > 0
    assert "not a valid notebook" in sub["notes"][0]
    assert all(e["status"] == "missing" and "not a valid notebook" in e["feedback"] for e in sub["exercises"])


def test_grade_never_modifies_submissions_and_writes_csv(graded):
    for p in graded["folder"].iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == graded["hashes"][p.name]
    rows = list(csv.DictReader(io.StringIO(graded["csv"])))
    assert list(rows[0])[:8] == ["learner", "file", "notebook", "status", "points", "max_points", "seconds", "notes"]
    assert [e.id for e in exercises_for(NB)] == list(rows[0])[8:]  # a column per exercise
    assert len(rows) == len(graded["hashes"])  # a row for every file, the invalid one included
    by_file = {Path(r["file"]).name: r for r in rows}
    assert by_file["09_solution.ipynb"]["points"] == by_file["09_solution.ipynb"]["max_points"] != "0"
    assert (
        by_file["09_not_json.ipynb"]["status"] == "invalid"
        and "not a valid notebook" in by_file["09_not_json.ipynb"]["notes"]
    )
    assert not Path(by_file["09_solution.ipynb"]["file"]).is_absolute()


def test_grade_usage_errors(tmp_path, capsys):
    for argv in (["grade", str(tmp_path / "nope.ipynb")], ["grade", str(tmp_path)], ["grade"], [], ["teleport"]):
        with pytest.raises(SystemExit) as exit_info:
            course.main(argv)
        assert exit_info.value.code == 2


def test_notebook_options_are_one_rule_for_every_command(tmp_path, capsys, monkeypatch):
    from mha.grading import cli

    seen = {}
    monkeypatch.setattr(cli, "grade_files", lambda found, **options: seen.update(options) or [])
    monkeypatch.setattr(cli.report, "write_reports", lambda *args: [])
    sub = tmp_path / "hw.ipynb"
    sub.write_text("{}")
    assert course.main(["grade", str(sub), "--notebook", "4", "--out", str(tmp_path / "out")]) == 0
    assert seen["notebook"] == "04"  # "4" and "04" name the same notebook everywhere
    bad = [
        (["grade", str(sub), "--notebook", "4,5"], "--notebook takes one notebook"),
        (["grade", str(sub), "--notebook", "77"], "--notebook takes notebooks among 01, 02"),
        (["grade", str(sub), "--expect", "4,x"], "--expect takes notebooks among .* got 4, x"),
        (["gradescope", str(tmp_path / "a.zip"), "--notebook", "10"], "--notebook takes notebooks among"),
        (["classroom", str(tmp_path / "c"), "--notebook", "0"], "--notebook takes notebooks among"),
    ]
    for argv, message in bad:
        with pytest.raises(SystemExit):
            course.main(argv)
        assert re.search(message, capsys.readouterr().err), argv


def test_notebook_number_from_name_or_metadata():
    assert student.notebook_number(Path("04_heads_in_parallel.ipynb")) == "04"
    assert student.notebook_number(Path("alice/hw-5.ipynb")) == "05"
    assert student.notebook_number(Path("alice.ipynb"), {"metadata": {"mha_course": {"notebook": "07"}}}) == "07"
    assert student.notebook_number(Path("alice.ipynb")) is None


def test_instructors_page_lists_every_exercise():
    page = (student.NOTEBOOKS.parent / "book" / "instructors.md").read_text()
    assert all(f"| {e.id} |" in page for e in EXERCISES.values())


def test_list_command(capsys):
    assert course.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(e in out for e in EXERCISES)


# ---------------------------------------------------------------- the Gradescope autograder


def test_gradescope_zip_grades_like_the_local_grader(tmp_path, capsys):
    """The zip, unpacked into Gradescope's layout under a root of our own, grades each submission in its own
    'container' (root) like the local grader: the solution to full marks, a mistaken one to the same points."""
    import os
    import subprocess
    import sys
    import zipfile

    assert course.main(["gradescope", str(tmp_path / "autograder.zip"), "--notebook", "9", "--cell-timeout", "30"]) == 0
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "package/mha/grading/judge.py"} <= names
        assert "torch" in z.read("requirements.txt").decode()
    mistaken = solution_notebook()
    first = next(c for c in mistaken.cells if "solution" in c.metadata.get("tags", []))
    first.source = "def block_param_count(d_model):\n    return 12 * d_model**2 + 9 * d_model  # no LayerNorms\n"
    cases = {"solution": solution_notebook(), "mistaken": mistaken, "nothing": None}
    runs = {}
    for name, nb in cases.items():
        root = tmp_path / name
        (root / "submission").mkdir(parents=True)
        with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
            z.extractall(root / "source")
        (root / "source" / "run_autograder").chmod(0o755)
        if nb is not None:
            _write(root / "submission", "homework.ipynb", nb)  # any name: the zip knows its notebook
        env = {**os.environ, "MHA_GRADESCOPE_ROOT": str(root), "MHA_PYTHON": sys.executable}
        runs[name] = subprocess.Popen([str(root / "source" / "run_autograder")], env=env)
    for name, process in runs.items():
        assert process.wait(timeout=300) == 0, name
    results = {name: json.loads((tmp_path / name / "results" / "results.json").read_text()) for name in cases}
    assert results["solution"]["score"] == 2 and all(t["status"] == "passed" for t in results["solution"]["tests"])
    assert results["nothing"]["score"] == 0 and [t["number"] for t in results["nothing"]["tests"]] == ["09.1", "09.2"]
    assert "not submitted" in results["nothing"]["tests"][0]["output"]
    local = run.grade_file(tmp_path / "mistaken" / "submission" / "homework.ipynb", notebook="09")
    tests = results["mistaken"]["tests"]
    assert results["mistaken"]["score"] == local.points == 1
    assert [(t["number"], t["score"], t["output"]) for t in tests] == [
        (g.exercise, g.points, g.feedback) for g in local.grades
    ]
    assert "LayerNorm" in tests[0]["output"]


# ---------------------------------------------------------------- the GitHub Classroom template


def test_classroom_template(tmp_path, capsys):
    """The template holds the student notebook and a workflow: grade once, one test per exercise with its points;
    each test's command exits 0 exactly when the grader gave the exercise all its points."""
    import subprocess
    import sys

    yaml = pytest.importorskip("yaml")
    out = tmp_path / "template"
    assert course.main(["classroom", str(out), "--notebook", "9"]) == 0
    student = nbformat.read(out / "09_whats_next.ipynb", as_version=4)
    assert student.metadata["mha_course"]["version"] == "student"
    steps = yaml.safe_load((out / ".github" / "workflows" / "classroom.yml").read_text())["jobs"]["grade"]["steps"]
    grade = next(s for s in steps if s.get("name") == "Grade the notebooks")
    assert "python -m mha.course grade ." in grade["run"] and "--notebook 09" in grade["run"]
    tests = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")]
    assert [(s["id"], s["with"]["max-score"]) for s in tests] == [("ex-09-1", 1), ("ex-09-2", 1)]
    assert steps[-1]["with"]["runners"] == "ex-09-1,ex-09-2"
    temp = tmp_path / "runner"
    (temp / "grades").mkdir(parents=True)
    exercises = [
        {"exercise": "09.1", "points": 1.0, "max_points": 1.0, "status": "passed", "feedback": "fine"},
        {"exercise": "09.2", "points": 0.0, "max_points": 1.0, "status": "wrong", "feedback": "the n - 1 variance"},
    ]
    report = {"submissions": [{"file": "09_whats_next.ipynb", "notes": [], "exercises": exercises}]}
    (temp / "grades" / "grades.json").write_text(json.dumps(report))
    codes = []
    for step in tests:
        command = step["with"]["command"].replace("${{ runner.temp }}", str(temp)).replace("python", sys.executable, 1)
        run = subprocess.run(command, shell=True, capture_output=True, text=True)
        codes.append((run.returncode, run.stdout.strip()))
    assert codes[0][0] == 0 and codes[1][0] == 1 and "n - 1 variance" in codes[1][1]
    (temp / "grades" / "grades.json").unlink()  # the grader did not run: no points, and a reason
    command = tests[0]["with"]["command"].replace("${{ runner.temp }}", str(temp)).replace("python", sys.executable, 1)
    run = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert run.returncode == 1 and "did not run" in run.stdout
