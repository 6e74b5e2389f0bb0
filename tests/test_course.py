"""The instructor commands: the student version and the grader, on small synthetic notebooks."""

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mha import course
from mha.exercises import EXERCISES, exercises_for

# A reference solution for every exercise: the cell a solution notebook holds.
SOLUTIONS = {
    "01.1": '''def softmax_rows(scores):
    """Softmax over the last axis."""
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)''',
    "01.2": '''def attention(q, k, v):
    """softmax(q k^T / sqrt(d_k)) v."""
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v, weights''',
    "01.3": """def score_spread(d_k):
    q, k = torch.randn(20000, d_k), torch.randn(20000, d_k)
    scores = (q * k).sum(-1)
    return scores.std().item(), (scores / math.sqrt(d_k)).std().item()""",
    "04.1": """def attention_shapes(B, T, d_model, num_heads):
    d_k = d_model // num_heads
    return {"q": (B, T, d_model), "q_heads": (B, num_heads, T, d_k), "scores": (B, num_heads, T, T),
            "z_heads": (B, num_heads, T, d_k), "concat": (B, T, d_model), "out": (B, T, d_model)}""",
    "04.2": '''def split_heads(x, num_heads):
    """(B, T, d_model) -> (B, num_heads, T, d_k)."""
    B, T, d_model = x.shape
    return x.reshape(B, T, num_heads, d_model // num_heads).transpose(1, 2)''',
    "04.3": """def merge_heads(z):
    B, h, T, d_k = z.shape
    return z.transpose(1, 2).reshape(B, T, h * d_k)""",
    "05.1": """def mha_forward(x, W_q, W_k, W_v, W_o, num_heads):
    q, k, v = (mha.split_heads(x @ W, num_heads) for W in (W_q, W_k, W_v))
    z, _ = mha.scaled_dot_product_attention(q, k, v)
    return mha.merge_heads(z) @ W_o""",
    "02.1": """def role_score(weights, keys):
    b, q = (keys >= 0).nonzero(as_tuple=True)
    return weights[b, :, q, keys[b, q]].mean(0)""",
    "02.2": "accuracy_by_heads = {1: 0.53, 2: 0.95, 4: 0.95}",
    "06.1": 'experts_seed_5 = {"reference": 2, "verb": 4}',
    "06.2": "accuracy_without = {1: 0.80, 2: 0.43, 3: 0.71, 4: 0.37}",
    "03.1": '''def run_heads(x, heads):
    """Run every head and put their outputs side by side."""
    return torch.cat([head(x)[0] for head in heads], dim=-1)''',
    "03.2": """def mha_param_count(d_model, num_heads):
    return 4 * d_model * d_model + 4 * d_model""",
    "04.4": "softmax_dim = -1",
    "05.2": '''def make_causal_mask(T):
    """A (T, T) boolean mask, True on and below the diagonal."""
    return torch.ones(T, T, dtype=torch.bool).tril()''',
    "05.3": """def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights @ v, weights""",
    "08.1": '''def block_param_count(d_model):
    """Parameters of one pre-norm Transformer block."""
    return 12 * d_model**2 + 13 * d_model''',
    "08.2": """def layer_norm(x, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)""",
}

NB = "08"  # the notebook the grading tests imitate (small exercises, fast checks)


def exercise_cells(exercise_id, solution=None):
    ex = EXERCISES[exercise_id]
    task = new_markdown_cell(f"**Exercise {ex.id}.** {ex.title}.")
    sol = new_code_cell(solution or SOLUTIONS[exercise_id], metadata={"tags": ["solution"]})
    check = new_code_cell(f"mha.exercises.{ex.check}({ex.name});")
    return [task, sol, check]


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


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
    assert set(SOLUTIONS) == set(EXERCISES)


# ---------------------------------------------------------------- the student version


def test_stub_keeps_the_signature_and_docstring():
    stub = course.make_stub(SOLUTIONS["05.2"], "05")
    assert stub.startswith("# Exercise 05.2")
    assert "def make_causal_mask(T):" in stub and '"""A (T, T) boolean mask' in stub
    assert "raise NotImplementedError('Exercise 05.2: " in stub and "tril()" not in stub.split("raise")[0]
    assert "return" not in stub
    assert course.make_stub("softmax_dim = -1", "04").splitlines()[1].startswith("softmax_dim = ...  # Exercise 04.4")
    one_line = course.make_stub("import torch\ndef merge_heads(z): return z.flatten(-2)", "04")
    assert "import torch" in one_line and "def merge_heads(z):\n    raise NotImplementedError" in one_line
    compile(one_line, "stub", "exec")
    experiment = 'other = train(5)\nexperts_seed_5 = {"reference": 1}\nexperts_seed_5["verb"] = 2\nprint(other)'
    assert course.make_stub(experiment, "06").splitlines()[1:] == [
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
    nb.cells[at:at] = [new_markdown_cell("```{solution-start} ex-08-1\n:class: dropdown\n```")]
    nb.cells.insert(at + 2, new_markdown_cell("```{solution-end}\n```"))
    nbformat.write(nb, source / "08_masks.ipynb")
    assert course.main(["student", str(out), "--source", str(source)]) == 0
    student = nbformat.read(out / "08_masks.ipynb", as_version=4)
    text = json.dumps(student)
    for exercise_id in ("08.1", "08.2"):
        body = SOLUTIONS[exercise_id].splitlines()[-1].strip()  # each solution's return line
        assert body not in text
    assert "solution-start" not in text and "solution-end" not in text and "secret" not in text
    stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stubs) == 2 and all(c.outputs == [] and "NotImplementedError" in c.source for c in stubs)
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    kept = [c for c in student.cells if c.source == "print(1 + 1)"]
    assert kept and kept[0].outputs[0]["text"] == "2\n"  # everything else is intact
    assert student.metadata["mha_course"]["notebook"] == "08"
    assert nbformat.read(source / "08_masks.ipynb", as_version=4) == nb  # the source is untouched
    with pytest.raises(SystemExit) as exit_info:
        course.main(["student", str(source), "--source", str(source)])
    assert exit_info.value.code == 2


def test_student_version_of_the_course_notebooks(tmp_path, capsys):
    assert course.main(["student", str(tmp_path)]) == 0
    for path in sorted(course.NOTEBOOKS.glob("*.ipynb")):
        original = nbformat.read(path, as_version=4)
        student = nbformat.read(tmp_path / path.name, as_version=4)
        solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
        stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
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
    _write(folder, "08_solution.ipynb", full)
    _write(folder, "08_student.ipynb", course.student_version(full, NB))
    missing = solution_notebook()
    del missing.cells[-3:-1]  # the last exercise's solution and check cells
    _write(folder, "08_missing.ipynb", missing)
    reordered = solution_notebook()
    checks = [c for c in reordered.cells if "mha.exercises.check_" in c.source]
    reordered.cells = [c for c in reordered.cells if c not in checks]
    reordered.cells[2:2] = checks  # every check before every solution
    _write(folder, "08_reordered.ipynb", reordered)
    syntax = solution_notebook()
    first_solution = next(c for c in syntax.cells if "solution" in c.metadata.get("tags", []))
    first_solution.source = first_solution.source.replace("):", ")", 1)  # def f(x)  <- no colon: a SyntaxError
    _write(folder, "08_syntax_error.ipynb", syntax)
    loop = new_code_cell("import time\n\nwhile True:  # never ends, and spares the CPU\n    time.sleep(0.01)")
    _write(folder, "08_infinite_loop.ipynb", solution_notebook(extra=[loop]))
    huge = new_code_cell("for i in range(200_000):\n    print('a line of output', i)")
    _write(folder, "08_huge_output.ipynb", solution_notebook(extra=[huge]))
    _write(folder, "08_not_json.ipynb", '{"cells": [ this is not json')
    real = nbformat.read(course.NOTEBOOKS / "08_whats_next.ipynb", as_version=4)  # the lightest course notebook
    _write(folder, "08_course_student.ipynb", course.student_version(real, "08"))
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    argv = ["grade", str(folder), "--out", str(out), "--cell-timeout", "6", "--timeout", "120", "--jobs", "3"]
    assert course.main(argv) == 0
    report = json.loads((out / "grades.json").read_text())
    by_name = {Path(s["file"]).name: s for s in report["submissions"]}
    return {"by_name": by_name, "folder": folder, "hashes": hashes, "csv": (out / "grades.csv").read_text()}


def _status(sub):
    return {e["exercise"]: (e["points"], e["status"]) for e in sub["exercises"]}


def test_grade_solution_gets_full_marks(graded):
    sub = graded["by_name"]["08_solution.ipynb"]
    assert sub["points"] == sub["max_points"] > 0 and sub["notes"] == []


def test_grade_student_version_gets_zero(graded):
    sub = graded["by_name"]["08_student.ipynb"]
    assert sub["points"] == 0 and {s for _, s in _status(sub).values()} == {"not done"}
    assert not any("raised" in n for n in sub["notes"])  # the student version runs without errors


def test_grade_real_student_notebook_runs_and_scores_zero(graded):
    sub = graded["by_name"]["08_course_student.ipynb"]
    assert sub["points"] == 0 and sub["max_points"] > 0 and sub["notes"] == []  # no cell raised
    assert {e["status"] for e in sub["exercises"]} == {"not done"}


def test_grade_missing_cells_count_zero(graded):
    sub = graded["by_name"]["08_missing.ipynb"]
    last = exercises_for(NB)[-1]
    assert _status(sub)[last.id] == (0, "missing")
    assert sub["points"] == sub["max_points"] - last.points


def test_grade_reordered_cells_still_graded(graded):
    sub = graded["by_name"]["08_reordered.ipynb"]
    assert sub["points"] == sub["max_points"]


def test_grade_syntax_error(graded):
    sub = graded["by_name"]["08_syntax_error.ipynb"]
    first = exercises_for(NB)[0]
    assert _status(sub)[first.id][0] == 0 and sub["points"] == sub["max_points"] - first.points
    assert any("SyntaxError" in n for n in sub["notes"])


def test_grade_infinite_loop_is_stopped(graded):
    sub = graded["by_name"]["08_infinite_loop.ipynb"]
    assert any("time limit" in n for n in sub["notes"])
    assert sub["points"] == sub["max_points"]  # the cells after the loop still ran


def test_grade_huge_output(graded):
    sub = graded["by_name"]["08_huge_output.ipynb"]
    assert sub["points"] == sub["max_points"]


def test_grade_invalid_json_gets_zero_with_a_reason(graded):
    sub = graded["by_name"]["08_not_json.ipynb"]
    assert sub["points"] == 0 and sub["max_points"] > 0
    assert "not a valid notebook" in sub["notes"][0]
    assert all(e["status"] == "missing" and "not a valid notebook" in e["feedback"] for e in sub["exercises"])


def test_grade_never_modifies_submissions_and_writes_csv(graded):
    for p in graded["folder"].iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == graded["hashes"][p.name]
    header = graded["csv"].splitlines()[0]
    assert header == "file,notebook,exercise,title,points,max_points,status,feedback"
    assert graded["csv"].count("08_solution.ipynb") == len(exercises_for(NB))


def test_grade_usage_errors(tmp_path, capsys):
    for argv in (["grade", str(tmp_path / "nope.ipynb")], ["grade", str(tmp_path)], ["grade"], [], ["teleport"]):
        with pytest.raises(SystemExit) as exit_info:
            course.main(argv)
        assert exit_info.value.code == 2


def test_notebook_number_from_name_or_metadata():
    assert course._notebook_number(Path("04_heads_in_parallel.ipynb")) == "04"
    assert course._notebook_number(Path("alice/hw-5.ipynb")) == "05"
    assert course._notebook_number(Path("alice.ipynb"), {"metadata": {"mha_course": {"notebook": "07"}}}) == "07"
    assert course._notebook_number(Path("alice.ipynb")) is None


def test_instructors_page_lists_every_exercise():
    page = (course.NOTEBOOKS.parent / "book" / "instructors.md").read_text()
    assert all(f"| {e.id} |" in page for e in EXERCISES.values())


def test_list_command(capsys):
    assert course.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(e in out for e in EXERCISES)
