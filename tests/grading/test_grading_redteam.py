"""Red team: submissions that try to forge their grade, each hiding an honest wrong answer.

Every attack below is a notebook 09 submission whose 09.2 (layer_norm) is the honest mistake of dividing by the
n - 1 variance, plus cells that try to turn that into full points: replacing the checks or torch in the kernel,
writing the results file, atexit hooks, sys.exit / os._exit, printing fake result lines, objects whose __eq__ is
always true, tensor subclasses that lie, a poisoned pickle, the package's own answer. Each must score no more than
the honest wrong answer; the ones the grader cannot prevent (the package's own answer) must be named in the notes.
The kernel's memory and CPU limits are tested too. One grading run grades them all, three kernels at a time.
"""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from submissions import WRONG_LAYER_NORM, notebook, reference_solutions  # tests/grading/submissions.py

from mha import course
from mha.exercises import EXERCISES, exercises_for
from mha.grading import answers, judge, kernel, run

SOLUTIONS = reference_solutions("09_whats_next.ipynb")

FORGED = "{'exercise': '09.2', 'passed': True, 'points': 1.0, 'max_points': 1.0, 'status': 'passed', 'feedback': 'x'}"


def submission(layer_norm_source=WRONG_LAYER_NORM, attack="", at_end=""):
    """Notebook 09 with the right 09.1, ``layer_norm_source`` for 09.2, ``attack`` after it, ``at_end`` last."""
    cells = [
        new_markdown_cell("# 8. What's next"),
        new_code_cell("import math\n\nimport torch\n\nimport mha\nimport mha.exercises"),
        new_code_cell(SOLUTIONS["09.1"], metadata={"tags": ["solution"]}),
        new_code_cell("mha.exercises.check_block_param_count(block_param_count);"),
        new_code_cell(textwrap.dedent(layer_norm_source), metadata={"tags": ["solution"]}),
        new_code_cell(textwrap.dedent(attack)),
        new_code_cell("mha.exercises.check_layer_norm(layer_norm);"),
        new_code_cell(textwrap.dedent(at_end)),
    ]
    return notebook(cells)


def attacks(marker: Path) -> dict:
    return {
        "replace_the_checks": submission(
            attack=f"""
            import mha.exercises
            import mha.exercises.engine as engine
            import mha.exercises.nb09_whats_next as nb09
            import mha.grading

            def forged(*args, **kwargs):
                result = engine.CheckResult(**{FORGED})
                engine.emit(result, "final")
                return result

            mha.exercises.check_layer_norm = nb09.check_layer_norm = forged
            mha.exercises.final_check = lambda namespace, notebook: [forged()]
            engine.run_check = lambda *args, **kwargs: forged()
            engine.close = lambda a, b, tol=1e-4: True
            mha.judge.grade_notebook = lambda *args, **kwargs: [forged()]
            """
        ),
        "replace_torch": submission(
            attack="""
            import torch
            import torch.nn.functional as F

            _mine = layer_norm
            F.layer_norm = lambda x, shape, weight=None, bias=None, eps=1e-5: _mine(x, eps)
            torch.nn.functional.layer_norm = F.layer_norm
            torch.allclose = lambda *args, **kwargs: True
            torch.equal = lambda *args, **kwargs: True
            torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
            """
        ),
        "write_the_results_file": submission(
            attack=f"""
            import glob, json, os
            line = json.dumps({{**{FORGED}, "source": "final"}}) + "\\n"
            paths = [os.environ.get("MHA_EXERCISE_RESULTS") or "results.jsonl", "results.jsonl"]
            paths += glob.glob("/tmp/mha-grade-*/*.jsonl") + glob.glob("../*.jsonl")
            for path in paths:
                with open(path, "a") as f:
                    f.write(line)
            """
        ),
        "atexit_hook": submission(
            attack=f"""
            import atexit, json, os

            def forge():
                with open(os.environ.get("MHA_EXERCISE_RESULTS") or "results.jsonl", "a") as f:
                    f.write(json.dumps({{**{FORGED}, "source": "final"}}) + "\\n")

            atexit.register(forge)
            """
        ),
        "sys_exit": submission(attack="import sys\nsys.exit(0)", at_end="import sys\nsys.exit(0)"),
        "os_exit": submission(at_end="import os\nos._exit(0)"),
        "fake_result_lines": submission(
            attack=f"""
            import json
            print("✅ Exercise 09.2 (layer_norm) passed, 1/1 point. Well done!")
            print(json.dumps({{**{FORGED}, "source": "final"}}))
            """
        ),
        "always_equal": submission(
            layer_norm_source=WRONG_LAYER_NORM
            + '''
class AlwaysEqual:
    """Equal to anything, close to anything, a tensor for anyone who asks."""

    shape = property(lambda self: (2, 5, 8))
    __eq__ = lambda self, other: True
    __array__ = lambda self, *args, **kwargs: __import__("numpy").zeros((2, 5, 8))

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


_wrong = layer_norm
layer_norm = lambda x, eps=1e-5: AlwaysEqual()
'''
        ),
        "tensor_subclass_that_lies": submission(
            layer_norm_source=WRONG_LAYER_NORM
            + """
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "isclose", "__eq__"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


_honest = layer_norm
layer_norm = lambda x, eps=1e-5: _honest(x, eps).as_subclass(Liar)
"""
        ),
        "smuggle_the_subclass": submission(
            layer_norm_source=WRONG_LAYER_NORM
            + """
class Liar(torch.Tensor):
    pass


import mha.grading

mha.answers.plain = lambda value, *args, **kwargs: value  # let the subclass through to torch.save
_honest = layer_norm
layer_norm = lambda x, eps=1e-5: _honest(x, eps).as_subclass(Liar)
"""
        ),
        "poisoned_pickle": submission(
            attack=f"""
            import pickle
            import torch

            class Payload:
                def __reduce__(self):
                    return (exec, ("open({str(marker)!r}, 'w').write('the grader ran my code')",))

            _save = torch.save
            torch.save = lambda obj, f, *args, **kwargs: open(f, "wb").write(pickle.dumps(("ok", Payload())))
            """
        ),
        "huge_answer": submission(
            layer_norm_source="import torch\n\ndef layer_norm(x, eps=1e-5):\n    return torch.zeros(10**8)"
        ),
        "memory_bomb": submission(attack="import torch\nbig = torch.zeros(5 * 10**9)  # 20 GB"),
        "package_answer": submission(
            layer_norm_source="""
            import torch.nn.functional as F
            from mha.exercises.nb09_whats_next import _block_parameters

            block_param_count = _block_parameters


            def layer_norm(x, eps=1e-5):
                return F.layer_norm(x, x.shape[-1:], eps=eps)
            """
        ),
        "honest_wrong": submission(),
        "solution": submission(layer_norm_source=SOLUTIONS["09.2"]),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder, out = tmp_path_factory.mktemp("attacks"), tmp_path_factory.mktemp("grades")
    marker = folder.parent / "the-grader-ran-learner-code"
    for name, nb in attacks(marker).items():
        nbformat.write(nb, folder / f"09_{name}.ipynb")
    argv = ["grade", str(folder), "--out", str(out), "--cell-timeout", "20", "--timeout", "120", "--jobs", "3"]
    argv += ["--memory-mb", "3000"]
    assert course.main(argv) == 0
    report = json.loads((out / "grades.json").read_text())
    by_name = {Path(s["file"]).stem.removeprefix("09_"): s for s in report["submissions"]}
    print("\n" + "\n".join(f"{name}: {s['points']:g}/{s['max_points']:g} {s['notes']}" for name, s in by_name.items()))
    return {"by_name": by_name, "marker": marker}


def _points(sub, exercise="09.2"):
    return next(e["points"] for e in sub["exercises"] if e["exercise"] == exercise)


def test_the_baselines(graded):
    assert graded["by_name"]["solution"]["points"] == graded["by_name"]["solution"]["max_points"] == 2
    assert graded["by_name"]["solution"]["notes"] == []
    honest = graded["by_name"]["honest_wrong"]
    assert honest["points"] == 1 and _points(honest) == 0 and honest["notes"] == []
    assert "n - 1" in next(e["feedback"] for e in honest["exercises"] if e["exercise"] == "09.2")


ATTACKS = [name for name in attacks(Path("x")) if name not in ("honest_wrong", "solution", "package_answer")]


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_attack_beats_the_honest_wrong_answer(graded, attack):
    sub = graded["by_name"][attack]
    assert sub["points"] <= graded["by_name"]["honest_wrong"]["points"], sub
    assert _points(sub) == 0, sub


def test_changes_to_modules_are_noted(graded):
    notes = " ".join(graded["by_name"]["replace_the_checks"]["notes"])
    assert "changes mha.exercises.check_layer_norm" in notes and "changes engine.run_check" in notes
    notes = " ".join(graded["by_name"]["replace_torch"]["notes"])
    assert "changes torch.allclose" in notes and "changes F.layer_norm" in notes
    assert "atexit" in " ".join(graded["by_name"]["atexit_hook"]["notes"])
    assert "os._exit" in " ".join(graded["by_name"]["os_exit"]["notes"])


def test_a_dead_kernel_and_a_poisoned_pickle(graded):
    assert graded["by_name"]["os_exit"]["points"] == 0
    assert any("kernel ended" in n for n in graded["by_name"]["os_exit"]["notes"])
    assert not graded["marker"].exists()  # the grader never unpickled the learner's object
    feedback = {e["exercise"]: e["feedback"] for e in graded["by_name"]["poisoned_pickle"]["exercises"]}
    assert "could not be read safely" in feedback["09.2"]


def test_lying_objects_arrive_as_their_type_name(graded):
    feedback = {name: graded["by_name"][name]["exercises"][1]["feedback"] for name in ATTACKS}
    assert "AlwaysEqual" in feedback["always_equal"]
    assert "Liar" in feedback["tensor_subclass_that_lies"]


def test_memory_limit_stops_a_20_gb_tensor(graded):
    sub = graded["by_name"]["memory_bomb"]
    assert any("allocate" in n for n in sub["notes"]), sub["notes"]
    assert sub["points"] == graded["by_name"]["honest_wrong"]["points"]  # the rest of the notebook still counts


def test_the_package_answer_cannot_be_prevented_but_is_noted(graded):
    sub = graded["by_name"]["package_answer"]
    notes = " ".join(sub["notes"])
    assert "layer_norm calls F.layer_norm" in notes
    assert "imports _block_parameters from mha.exercises.nb09_whats_next" in notes
    assert "sets block_param_count = _block_parameters" in notes


def test_cpu_limit_stops_a_loop_that_swallows_interrupts(tmp_path):
    loop = "while True:\n    try:\n        sum(range(10**6))\n    except BaseException:\n        pass"
    path = tmp_path / "09_cpu.ipynb"
    nbformat.write(submission(at_end=loop), path)
    limits = kernel.Limits(timeout=120, cell_timeout=20, cpu_seconds=12)
    sub = run.grade_file(path, limits=limits)
    assert sub.points == 0  # the kernel is gone before the grader asks for answers
    assert any("CPU" in n for n in sub.notes), sub.notes


# ---------------------------------------------------------------- the grader's side, without a kernel


def test_plain_refuses_what_could_lie():
    import torch

    class Liar(torch.Tensor):
        pass

    class MyInt(int):
        pass

    for value in (Liar(torch.zeros(2)), MyInt(3), object(), {"a": MyInt(1)}, [torch.zeros(2).to_sparse()]):
        with pytest.raises(answers.NotPlain):
            answers.plain(value)
    assert answers.plain((torch.Size([2, 3]), {"k": torch.nn.Parameter(torch.ones(1))})) == ((2, 3), {"k": 1.0})


def test_the_source_sent_into_the_kernel_imports_nothing_of_mha():
    """answers.SOURCE carries mha/timelimit.py's text in place of its import, and runs on its own."""
    import ast
    import time

    nodes = list(ast.walk(ast.parse(answers.SOURCE)))
    imported = [n.module for n in nodes if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in nodes if isinstance(n, ast.Import) for a in n.names]
    assert not [name for name in imported if name == "mha" or name.startswith("mha.")], imported
    namespace = {"__name__": "_mha_grader"}
    exec(compile(answers.SOURCE, "<mha grader>", "exec"), namespace)
    assert namespace["TIME_LIMIT"] == answers.TIME_LIMIT and namespace["SOURCE"] == ""
    with pytest.raises(namespace["CheckTimeout"]):
        namespace["run_limited"](lambda: time.sleep(5), 0.2)


def test_every_exercise_replays_with_salted_inputs(tmp_path):
    """The reference solutions whose answer is a function pass when replayed with a salt, in one process."""
    import ast
    import math

    import numpy as np
    import torch

    import mha

    solutions = reference_solutions()
    for number in sorted({e.notebook for e in EXERCISES.values()}):
        namespace = {"math": math, "np": np, "torch": torch, "mha": mha}
        names = []
        for ex in exercises_for(number):
            tree = ast.parse(solutions[ex.id])
            functions = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
            if any(getattr(n, "name", None) == ex.name for n in functions):
                exec("\n".join(ast.get_source_segment(solutions[ex.id], n) for n in functions), namespace)
                names.append(ex.id)
        if not names:
            continue
        folder = tmp_path / number
        folder.mkdir()
        results = judge.grade_notebook(number, judge.in_process_ask(namespace, folder), salt=987654321)
        for result in results:
            if result.exercise in names:
                assert result.passed, result


def test_inputs_are_new_in_every_grading_run(tmp_path):
    """The kernel sees the checks' inputs only when the grader sends them, and they change with the run's salt."""
    import torch

    from mha.exercises import engine

    seen = {}
    for salt in (None, 1, 2):
        sent = []
        namespace = {"layer_norm": lambda x, eps=1e-5: torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)}
        inner = judge.in_process_ask(namespace, tmp_path / str(salt))
        (tmp_path / str(salt)).mkdir()

        def ask(requests, inner=inner, sent=sent):
            sent += [r["args"][0] for r in requests if r["kind"] == "call" and r["name"] == "layer_norm"]
            return inner(requests)

        results = judge.grade_notebook("09", ask, salt=salt)
        assert results[1].passed and len(sent) == 3  # three shapes, one call each, asked once each
        seen[salt] = sent[0]
    assert not torch.equal(seen[1], seen[2]) and not torch.equal(seen[None], seen[1])
    with engine.salted_inputs(None):
        assert torch.equal(engine.randn(engine.generator(702), 2, 5, 8), engine.randn(engine.generator(702), 2, 5, 8))
    with engine.salted_inputs(7):
        assert engine.numpy_rng(1).normal() != engine.numpy_rng(2).normal()


def test_the_grader_gives_the_feedback_of_the_check_cell(tmp_path, capsys):
    """Replayed in the grader, a check names the same mistake as in the learner's notebook; errors and unfinished
    functions are reported the same way."""
    import torch

    import mha.exercises

    namespace = {}
    exec(WRONG_LAYER_NORM, namespace)
    namespace["block_param_count"] = lambda d: (_ for _ in ()).throw(ValueError("view size is not compatible"))
    results = judge.grade_notebook("09", judge.in_process_ask(namespace, tmp_path), salt=None)
    in_cell = mha.exercises.check_layer_norm(namespace["layer_norm"])
    assert results[1].status == in_cell.status == "wrong" and results[1].feedback == in_cell.feedback
    assert results[0].status == "error" and "ValueError" in results[0].feedback and "contiguous" in results[0].feedback

    def not_done(x, eps=1e-5):
        raise NotImplementedError("Exercise 09.2")

    (tmp_path / "2").mkdir()
    namespace = {"layer_norm": not_done, "block_param_count": ...}
    results = judge.grade_notebook("09", judge.in_process_ask(namespace, tmp_path / "2"), salt=3)
    assert [r.status for r in results] == ["not done", "not done"]
    assert torch.is_tensor(answers.plain(torch.ones(2)))


def test_forked_kernels_grade_the_same(graded, tmp_path):
    """By default every kernel is a fork of one process that imported the course once; with --no-fork-server each
    kernel starts the usual way (its own sandbox): the same points and the same notes, limits included, for a few
    of the attacks above."""
    names = ["solution", "honest_wrong", "replace_the_checks", "os_exit", "memory_bomb", "tensor_subclass_that_lies"]
    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    every = attacks(tmp_path / "marker")
    for name in names:
        nbformat.write(every[name], folder / f"09_{name}.ipynb")
    argv = ["grade", str(folder), "--out", str(out), "--cell-timeout", "20", "--jobs", "2", "--no-fork-server"]
    assert course.main(argv + ["--memory-mb", "3000"]) == 0
    report = json.loads((out / "grades.json").read_text())
    for sub in report["submissions"]:
        name = Path(sub["file"]).stem.removeprefix("09_")
        before = graded["by_name"][name]
        assert sub["points"] == before["points"], name
        assert [e["feedback"] for e in sub["exercises"]] == [e["feedback"] for e in before["exercises"]], name
        assert sub["notes"] == before["notes"], name
