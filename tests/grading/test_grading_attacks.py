"""Red team, part two: attacks from outside the kernel's Python, run in the sandbox and in the fallback.

Each attack is a submission that hides an honest wrong answer (notebook 09's layer_norm with the n - 1 variance) and
tries to get the points some other way: a detached process that rewrites the reports after the grader exits, a
``.pth`` file in site-packages, appending to the package's source, reading the course's solution notebooks,
wrapping the kernel-side answering code, finding the package's ``split_heads`` through ``gc.get_objects()``, and
killing the grader. The grader runs as the instructor runs it (``python -m mha.course grade``, a process of its own)
twice: with ``--isolation bubblewrap`` and with ``--isolation none`` (the documented fallback). ``FALLBACK_CANNOT``
lists what the fallback cannot stop (it names them instead, or a rerun recovers).
"""

import json
import os
import secrets
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from submissions import WRONG_LAYER_NORM, notebook, reference_solutions  # tests/grading/submissions.py

from mha.grading import judge, sandbox

# In the fallback the attacks really change the package's source and site-packages until the grader undoes them:
# any grading or import beside them would see the changes, so this module runs alone (make test-unit, -m alone).
pytestmark = pytest.mark.alone

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = reference_solutions("09_whats_next.ipynb")
SPLIT_HEADS = reference_solutions("04_heads_in_parallel.ipynb")
PTH = "zz_mha_redteam.pth"
TOKEN = secrets.token_hex(6)  # in this module's output folders: the attacks go for these graders only, never another
FALLBACK_CANNOT = {  # what the fallback cannot stop: named in the notes, or recovered by a rerun
    "read_solutions": "the solution notebooks are readable: the answer gets the point, the notes name the reading",
    "kill_grader": "the grader can be killed: results written so far are kept, a rerun resumes",
}


def _notebook(cells):
    return notebook([new_markdown_cell("# A submission"), *cells])


def submission(attack="", layer_norm=WRONG_LAYER_NORM):
    """Notebook 09: the right 09.1, ``layer_norm`` for 09.2, then ``attack``."""
    return _notebook(
        [
            new_code_cell("import math\n\nimport torch\n\nimport mha\nimport mha.exercises"),
            new_code_cell(SOLUTIONS["09.1"], metadata={"tags": ["solution"]}),
            new_code_cell(textwrap.dedent(layer_norm), metadata={"tags": ["solution"]}),
            new_code_cell(textwrap.dedent(attack)),
        ]
    )


FIND_GRADER = """
import os

def graders():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"mha.course" in cmd and b"grade" in cmd and any(b"TOKEN" in part for part in cmd):
            out = cmd[cmd.index(b"--out") + 1].decode() if b"--out" in cmd else "grades"
            try:
                found.append((int(pid), os.path.join(os.readlink(f"/proc/{pid}/cwd"), out)))
            except OSError:
                found.append((int(pid), out))
    return found
"""

FIND_GRADER = FIND_GRADER.replace("TOKEN", TOKEN)
REWRITER = (
    FIND_GRADER
    + """
import json, time
targets = graders()
deadline = time.time() + 60
while targets and time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid, _ in targets):
    time.sleep(0.05)
for _, out in targets:
    path = os.path.join(out, "grades.json")
    data = json.load(open(path))
    for s in data["submissions"]:
        for e in s["exercises"]:
            e["points"] = e["max_points"]
        s["points"] = s["max_points"]
    json.dump(data, open(path, "w"))
    open(os.path.join(out, "grades.csv"), "a").write("forged\\n")
"""
)


def attacks() -> dict:
    return {
        "honest_wrong": submission(),
        "solution": submission(layer_norm=SOLUTIONS["09.2"]),
        "detached_rewrite": submission(
            f"""
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", {REWRITER!r}], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            """
        ),
        "pth_in_site_packages": submission(
            f"""
            import os, site, sysconfig
            for folder in {{sysconfig.get_paths()["purelib"], *site.getsitepackages()}}:
                with open(os.path.join(folder, {PTH!r}), "w") as f:
                    f.write("import os; os.environ['MHA_REDTEAM'] = 'wrapped grade_notebook'\\n")
            """
        ),
        "append_to_the_package": submission(
            """
            import importlib.util
            origin = importlib.util.find_spec("mha.grading." + "judge").origin
            with open(origin, "a") as f:
                f.write("\\ngrade_notebook = lambda *args, **kwargs: []  # full marks for everyone\\n")
            """
        ),
        "read_solutions": submission(
            """
            import nbformat
            import mha.grading.student as course
            nb = nbformat.read(course.NOTEBOOKS / "09_whats_next.ipynb", as_version=4)
            exec(course.reference_solutions(nb)["09.2"], globals())
            """
        ),
        "wrap_the_answers": submission(
            """
            import importlib
            import torch.nn.functional as F

            for module in ("mha." + "grad" + "ing." + "answers", "mha." + "grad" + "ing"):
                m = importlib.import_module(module)
                name = "answer_" + "requests"
                original = getattr(m, name, None)

                def wrapped(namespace, *args, _original=original, **kwargs):
                    namespace = dict(namespace)
                    namespace["layer_norm"] = lambda x, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps)
                    return _original(namespace, *args, **kwargs)

                setattr(m, name, wrapped)
            """
        ),
        "kill_grader": submission(
            FIND_GRADER
            + """
import signal
for pid, _ in graders():
    os.kill(pid, signal.SIGKILL)
"""
        ),
    }


def split_heads_by_introspection():
    """Notebook 04's split_heads answered by the package's own function, found without naming it."""
    cell = '''
import gc


def split_heads(x, num_heads):
    """Whatever the package does."""
    for o in gc.get_objects():
        module = str(getattr(o, "__module__", ""))
        if callable(o) and getattr(o, "__name__", "") == "split" + "_heads" and module.startswith("mha"):
            return o(x, num_heads)
'''
    return _notebook([new_code_cell("import torch\n\nimport mha"), new_code_cell(cell)])


def _site_pth() -> list[Path]:
    folders = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    return [Path(f) / PTH for f in folders]


def grade(folder: Path, out: Path, isolation: str, jobs: int = 2, timeout: float = 240):
    argv = [sys.executable, "-m", "mha.course", "grade", str(folder), "--out", str(out), "--isolation", isolation]
    argv += ["--cell-timeout", "20", "--jobs", str(jobs), "--memory-mb", "3000"]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _report(out: Path) -> dict:
    data = json.loads((out / "grades.json").read_text())
    return {Path(s["file"]).stem.removeprefix("09_").removeprefix("04_"): s for s in data["submissions"]}


@pytest.fixture(scope="module")
def judge_source():
    path = Path(judge.__file__)
    before = path.read_bytes()
    yield before
    if path.read_bytes() != before:  # never leave the package changed, whatever happened
        path.write_bytes(before)
    for pth in _site_pth():
        pth.unlink(missing_ok=True)


def _run_all(tmp_path_factory, isolation: str, judge_source: bytes, with_kill: bool) -> dict:
    if isolation == "bubblewrap" and not sandbox.choose().isolated:
        pytest.skip(f"no sandbox on this machine: {sandbox.choose().why}")
    folder, out = tmp_path_factory.mktemp(f"attacks-{isolation}"), tmp_path_factory.mktemp(f"out-{TOKEN}-{isolation}")
    for name, nb in attacks().items():
        if name != "kill_grader" or with_kill:
            nbformat.write(nb, folder / f"09_{name}.ipynb")
    nbformat.write(split_heads_by_introspection(), folder / "04_gc_split_heads.ipynb")
    done = grade(folder, out, isolation)
    time.sleep(1.5)  # a detached process waits for the grader's exit, then writes
    return {
        "done": done,
        "by_name": _report(out),
        "csv": (out / "grades.csv").read_text(),
        "judge_after": Path(judge.__file__).read_bytes(),
        "pth_after": [p for p in _site_pth() if p.exists()],
        "judge_before": judge_source,
    }


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory, judge_source):
    return _run_all(tmp_path_factory, "bubblewrap", judge_source, with_kill=True)


@pytest.fixture(scope="module")
def fallback(tmp_path_factory, judge_source):
    return _run_all(tmp_path_factory, "none", judge_source, with_kill=False)


def _ex(sub, exercise):
    return next(e for e in sub["exercises"] if e["exercise"] == exercise)


def _notes(sub):
    return " ".join(sub["notes"])


@pytest.fixture(params=["sandboxed", "fallback"])
def run(request):
    return request.getfixturevalue(request.param) | {"mode": request.param}


def test_the_run_completes_and_the_baselines_hold(run):
    assert run["done"].returncode == 0, run["done"].stderr[-2000:]
    isolation = "bubblewrap" if run["mode"] == "sandboxed" else "NONE"
    assert f"isolation: {isolation}" in run["done"].stderr
    assert run["by_name"]["solution"]["points"] == 2 and run["by_name"]["honest_wrong"]["points"] == 1


@pytest.mark.parametrize(
    "attack", ["detached_rewrite", "pth_in_site_packages", "append_to_the_package", "wrap_the_answers"]
)
def test_the_wrong_answer_does_not_get_the_point(run, attack):
    assert _ex(run["by_name"][attack], "09.2")["points"] == 0, run["by_name"][attack]


def test_a_detached_process_cannot_rewrite_the_reports(run):
    assert "forged" not in run["csv"]
    assert run["by_name"]["honest_wrong"]["points"] == 1  # grades.json as the grader wrote it


def test_site_packages_and_the_package_stay_as_they_were(run):
    assert run["pth_after"] == [] and run["judge_after"] == run["judge_before"]
    notes = {name: _notes(run["by_name"][name]) for name in ("pth_in_site_packages", "append_to_the_package")}
    if run["mode"] == "fallback":  # written, then undone by the guard and named
        assert f"added {PTH} to site-packages (removed)" in notes["pth_in_site_packages"], notes
        assert "changed the package's file mha/grading/judge.py (restored)" in notes["append_to_the_package"]
    else:  # read-only: the write itself failed
        assert "Read-only file system" in notes["pth_in_site_packages"]
        assert "Read-only file system" in notes["append_to_the_package"]


def test_the_solution_notebooks(run):
    sub = run["by_name"]["read_solutions"]
    if run["mode"] == "sandboxed":  # hidden: the honest wrong answer stays
        assert _ex(sub, "09.2")["points"] == 0 and "FileNotFoundError" in _notes(sub)
    else:  # FALLBACK_CANNOT: the point is taken, and the notes name how
        assert "read_solutions" in FALLBACK_CANNOT
        assert "reads the course's solutions" in _notes(sub) and "reads the course's notebooks" in _notes(sub)


def test_package_functions_found_by_introspection_are_named(run):
    sub = run["by_name"]["gc_split_heads"]
    notes = _notes(sub)
    assert "split_heads called mha.attention.split_heads (the package's own code)" in notes, notes
    assert "gc.get_objects" in notes


def test_the_kernel_side_wrapper_is_never_called(run):
    notes = _notes(run["by_name"]["wrap_the_answers"])
    assert "imports a module by a computed name" in notes


def test_killing_the_grader_in_the_sandbox_fails_and_everything_is_graded(sandboxed):
    assert sandboxed["done"].returncode == 0
    assert sandboxed["by_name"]["kill_grader"]["status"] == "graded"
    assert all(s["status"] == "graded" for s in sandboxed["by_name"].values())
    assert "sends signals to processes (os.kill)" in _notes(sandboxed["by_name"]["kill_grader"])


def test_killing_the_grader_in_the_fallback_keeps_what_was_graded(tmp_path):
    """FALLBACK_CANNOT: the kill works; the results written before it stay, and a rerun resumes from them."""
    folder, out = tmp_path / "subs", tmp_path / f"out-{TOKEN}"
    folder.mkdir()
    every = attacks()
    for name in ("honest_wrong", "solution", "zz_kill_grader"):
        nbformat.write(every[name.removeprefix("zz_")], folder / f"09_{name}.ipynb")
    done = grade(folder, out, "none", jobs=1)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    kept = sorted(p.name for p in (out / "submissions").glob("*.json"))
    assert len(kept) == 2 and not (out / "grades.json").exists()
    (folder / "09_zz_kill_grader.ipynb").unlink()  # the instructor removes the attacker and runs it again
    again = grade(folder, out, "none", jobs=1)
    assert again.returncode == 0 and again.stderr.count("resumed") == 2, again.stderr
    report = _report(out)
    assert report["solution"]["points"] == 2 and report["honest_wrong"]["points"] == 1
    left = []  # the killed grader's working folder is gone too (removed by the rerun)
    for folder in Path(tempfile.gettempdir()).glob("mha-grade-*"):
        try:
            os.kill(int((folder / "grader.pid").read_text()), 0)
        except ProcessLookupError:
            left.append(folder)
        except (OSError, ValueError):
            pass
    assert left == []
