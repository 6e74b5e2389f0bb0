"""The stored outputs hold on every CPU kernel and thread count (`make test-matrix`; `.ci/run` runs it).

PyTorch picks its CPU kernels when it starts (AVX-512, AVX2 or plain C: ``ATEN_CPU_CAPABILITY`` forces one), and
they sum in different orders; the number of threads changes the order too. For each configuration this test first
checks that torch really runs the kernels asked for (a request for AVX-512 on a CPU without it falls back to AVX2:
that configuration is skipped with the reason), then runs nbval, strict, over every notebook under it, and grades
the reference solutions of the notebooks whose exercises are checked against trained models.

`make test` runs nbval once under the machine's own kernels and thread count; this adds the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINED_EXERCISES = ("02", "06", "07")  # notebooks whose checks compare the learner's answer with a trained model
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg")]
NBVAL += ["-p", "tests.nbval_kernel_start"]  # a kernel that dies while it starts is started again

CONFIGURATIONS = [(capability, threads) for capability in ("avx512", "avx2", "default") for threads in (1, 2)]


def _env(capability: str, threads: int) -> dict:
    return dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS=str(threads), MHA_DEVICE="cpu")


def _torch_reports(env: dict) -> tuple[str, int]:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    capability, threads = out.stdout.split()
    return capability, int(threads)


@pytest.fixture(params=CONFIGURATIONS, ids=[f"{c}-{t}thread" for c, t in CONFIGURATIONS])
def configuration(request):
    capability, threads = request.param
    env = _env(capability, threads)
    reported, reported_threads = _torch_reports(env)
    if capability == "avx512" and reported != "AVX512":
        pytest.skip(f"this CPU has no AVX-512 (torch runs {reported} when asked for avx512)")
    assert reported == capability.upper(), f"asked for {capability}, torch runs {reported}"
    assert reported_threads == threads, f"asked for {threads} threads, torch uses {reported_threads}"
    return env


def test_every_notebook_reproduces_its_stored_outputs(configuration, tmp_path):
    """nbval strict over all notebooks (two at a time, each notebook whole on one worker)."""
    cmd = [sys.executable, "-m", "pytest", *NBVAL, "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "-q"]
    run = subprocess.run([*cmd, *map(str, NOTEBOOKS)], env=configuration, cwd=ROOT, capture_output=True, text=True)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, f"nbval failed under {configuration['ATEN_CPU_CAPABILITY']}:\n{run.stdout[-6000:]}"
    assert " passed" in summary and "failed" not in summary, summary


def test_the_grader_gives_the_reference_solutions_full_points(configuration, tmp_path):
    """The notebooks as stored are the reference solutions: graded under this configuration, every exercise of the
    notebooks checked against trained models gets full points."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for number in TRAINED_EXERCISES:
        (notebook,) = [p for p in NOTEBOOKS if p.name.startswith(number + "_")]
        (submissions / notebook.name).write_bytes(notebook.read_bytes())
    out = tmp_path / "grades"
    cmd = [sys.executable, "-m", "mha.course", "grade", str(submissions), "--out", str(out)]
    run = subprocess.run(cmd, env=configuration, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "grades.json").read_text())
    graded = report["submissions"]
    assert len(graded) == len(TRAINED_EXERCISES)
    for submission in graded:
        for exercise in submission["exercises"]:
            assert exercise["points"] == exercise["max_points"], (submission["file"], exercise)
