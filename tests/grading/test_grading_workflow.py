"""The grader's workflow without kernels: finding files, duplicates, roster, reports, the guard, the sandbox's
command line, the scan's silence on the course's own cells, and the 03.1 interleaved-heads diagnosis."""

import csv
import json
from pathlib import Path

import nbformat
import pytest
import torch

import mha
import mha.exercises
from mha.grading import report, run, sandbox, scan, student
from mha.grading.run import Grade, Submission


def _touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_collect_names_learners_relative_paths_and_bad_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "subs" / "alice" / "04_heads_in_parallel.ipynb")
    _touch(tmp_path / "subs" / "alice" / "Copy of 04_heads_in_parallel.ipynb")
    _touch(tmp_path / "subs" / "bob_08.ipynb")
    _touch(tmp_path / "subs" / "alice" / ".ipynb_checkpoints" / "04_heads_in_parallel-checkpoint.ipynb")
    found, bad = run.collect(["subs", "nowhere"])
    assert bad == ["nowhere"]
    assert [(f.name, f.learner) for f in found] == [
        ("subs/alice/04_heads_in_parallel.ipynb", "alice"),
        ("subs/alice/Copy of 04_heads_in_parallel.ipynb", "alice"),
        ("subs/bob_08.ipynb", "bob_08"),
    ]
    run.mark_duplicates(found, {f.name: student.notebook_number(f.path) for f in found})
    assert [f.duplicate_of for f in found] == [None, "subs/alice/04_heads_in_parallel.ipynb", None]


def _sub(learner, notebook, points, status="graded", name=None):
    sub = Submission(name or f"{learner}/{notebook}_x.ipynb", notebook, learner, status)
    if status == "graded":
        sub.grades = [Grade(sub.file, notebook, f"{notebook}.1", "t", points, 1.0, "passed" if points else "wrong", "")]
    return sub


def test_roster_and_expect_add_missing_rows_and_notes():
    subs = [_sub("alice", "04", 1.0), _sub("bob", "04", 0.0), _sub("bob", "04", 0.0, "duplicate", "bob/copy.ipynb")]
    rows = report.roster_rows(subs, ["04", "05"], ["alice", "bob", "carol"])
    missing = sorted((r.learner, r.notebook) for r in rows)
    assert missing == [("alice", "05"), ("bob", "05"), ("carol", "04"), ("carol", "05")]
    subs.append(_sub("dave", "04", 1.0))
    report.roster_rows(subs, [], ["alice", "bob"])
    assert "not on the roster" in subs[-1].notes and "not on the roster" not in subs[0].notes


def test_reports_have_a_row_per_file_totals_and_are_checked(tmp_path):
    subs = [_sub("alice", "04", 1.0), _sub("bob", "04", 0.0), _sub("bob", "04", 0.0, "duplicate", "bob/copy.ipynb")]
    subs.append(Submission("carol/05.ipynb", "05", "carol", "invalid", notes=["not a valid notebook"]))
    paths = report.write_reports(subs, tmp_path, "isolation: test")
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(r["file"], r["status"], r["points"]) for r in rows] == [
        ("alice/04_x.ipynb", "graded", "1"),
        ("bob/04_x.ipynb", "graded", "0"),
        ("bob/copy.ipynb", "duplicate", "0"),
        ("carol/05.ipynb", "invalid", "0"),
    ]
    assert rows[0]["04.1"] == "1" and rows[3]["notes"] == "not a valid notebook"
    learners = {r["learner"]: r for r in csv.DictReader((tmp_path / "learners.csv").open())}
    assert learners["bob"]["duplicates"] == "1" and learners["alice"]["points"] == "1"
    assert json.loads(paths[2].read_text())["isolation"] == "isolation: test"
    text = report.summary(subs, "isolation: test")
    assert "04.1  1/2  (50 %)" in text and "carol/05.ipynb: invalid" in text
    (tmp_path / "grades.csv").write_text("learner,file\nmallory,forged\n")  # what a rewrite would look like
    fields, rows = report._file_rows(subs)
    with pytest.raises(report.ReportMismatch):
        report.check_reports(tmp_path, rows, report._learner_rows(subs), {"isolation": "x", "submissions": []})


def test_a_result_is_resumed_only_for_the_same_file(tmp_path):
    path = _touch(tmp_path / "a" / "09_x.ipynb", "one")
    item = run.Found(path, "a/08_x.ipynb", "a")
    sub = _sub("a", "08", 1.0, name="a/08_x.ipynb")
    sub.digest = run.hashlib.sha256(b"one").hexdigest()
    run._write_result(tmp_path / "out", sub)
    assert run._resumed(tmp_path / "out", item).points == 1.0
    path.write_text("two")  # the learner handed in again: graded again
    assert run._resumed(tmp_path / "out", item) is None


def test_the_guard_restores_the_package_and_removes_a_new_pth(tmp_path, monkeypatch):
    package, site_packages = tmp_path / "mha", tmp_path / "site-packages"
    _touch(package / "grading" / "judge.py", "def grade_notebook(): ...\n")
    _touch(site_packages / "ok.pth", "/somewhere\n")
    monkeypatch.setattr(sandbox, "PACKAGE", package)
    monkeypatch.setattr(sandbox, "_site_folders", lambda: [site_packages])
    guard = sandbox.Guard()
    assert guard.check() == []
    with open(package / "grading" / "judge.py", "a") as f:
        f.write("grade_notebook = None\n")
    _touch(site_packages / "evil.pth", "import os\n")
    notes = guard.check()
    assert notes == [
        "changed the package's file mha/grading/judge.py (restored)",
        "added evil.pth to site-packages (removed)",
    ]
    assert (package / "grading" / "judge.py").read_text() == "def grade_notebook(): ...\n"
    assert not (site_packages / "evil.pth").exists() and guard.check() == []


def test_the_sandbox_hides_what_it_must_and_keeps_what_the_kernel_needs(tmp_path):
    out, subs = tmp_path / "out", tmp_path / "subs"
    subs.mkdir()
    out.mkdir()
    one = _touch(tmp_path / "single.ipynb")
    argv = sandbox.bwrap_argv([tmp_path / "work"], [out, subs, one, student.NOTEBOOKS, Path(mha.__file__).parents[2]])
    text = " ".join(argv)
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--ro-bind / /"):
        assert flag in text
    assert f"--tmpfs {subs.resolve()}" in text and f"--ro-bind /dev/null {one.resolve()}" in text
    assert f"--tmpfs {student.NOTEBOOKS}" in text
    assert f"--tmpfs {Path(mha.__file__).parents[2]} " not in text + " "  # it holds the package: kept visible
    assert argv[-1] == "--" and f"--tmpfs {out.resolve()}" in text


def test_the_isolation_line_says_when_a_run_is_not_isolated():
    assert "NONE" in sandbox.Isolation("none", "macOS has no bubblewrap").line()
    assert sandbox.choose("none").isolated is False
    assert sandbox.choose("auto").mode in ("bubblewrap", "none")


def test_the_scan_is_silent_on_the_course_notebooks_own_cells():
    for number in ("01", "03", "04", "05", "09"):
        path = next(student.NOTEBOOKS.glob(f"{number}_*.ipynb"))
        nb = nbformat.read(path, as_version=4)
        sources = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        assert scan.scan_cells(sources, number, run.course_cells(number)) == [], number
    assert scan.scan_cells([(3, "import gc\nx = gc.get_objects()")], "04", run.course_cells("04")) == [
        "cell 3 looks through every object of the interpreter (gc.get_objects)"
    ]


def test_interleaved_heads_are_named(capsys):
    def run_heads(x, heads):
        zs = [head(x)[0] for head in heads]
        return torch.stack(zs, dim=-1).flatten(-2)

    result = mha.exercises.check_run_heads(run_heads)
    assert result.status == "wrong"
    assert "feature j of head i at j*h+i" in result.feedback and "torch.cat(zs, dim=-1)" in result.feedback
