"""Installing `mha` where torch, numpy, plotly and ipywidgets already are (as on Colab) installs only `mha`,
and Binder builds its own CPU-only environment (binder/) that resolves without CUDA packages.

The setup cell runs `pip install "mha @ git+<repository>@<ref>"` on Colab. Here the same kind of requirement
(`mha @ <url>`) points at a copy of the package's files, in a fresh virtual environment that sees this
environment's packages, and pip's dry-run report must list `mha` alone. Offline: `--no-index`, and the build
backend (setuptools, which torch requires) comes from this environment instead of the network.
"""

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def test_installing_next_to_colabs_packages_installs_only_mha(tmp_path):
    # What pip gets from a git checkout: the package and its build files.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "mha", src / "mha", ignore=shutil.ignore_patterns("__pycache__"))

    # A fresh environment that sees this one's torch, numpy, plotly, ipywidgets (and setuptools) via a .pth file.
    venv = tmp_path / "colab-like"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "host_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--report", str(report)]
        + ["--no-index", "--no-build-isolation", "--quiet", f"mha @ {src.as_uri()}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "pip could not install mha next to the existing packages without downloading anything; it wants:\n"
        + result.stdout
        + result.stderr
    )
    installs = {
        item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(report.read_text())["install"]
    }
    assert list(installs) == ["mha"], f"installing mha would also install or replace: {installs}"


BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _binder_requirements() -> list[str]:
    lines = [line.split("#")[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if line]


def test_binder_has_its_own_cpu_only_environment():
    """Binder (repo2docker) uses binder/ when it exists: its requirements.txt on the Python of its runtime.txt,
    then its postBuild. PyTorch must come from the CPU-only wheel index (Binder has no GPU)."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), f"binder/runtime.txt must read like python-3.11, got {runtime!r}"
    assert runtime == (ROOT / "runtime.txt").read_text().strip(), "binder/ and the root must name the same Python"
    binder_python = Version(runtime.removeprefix("python-") + ".0")

    lines = _binder_requirements()
    assert f"--extra-index-url {CPU_INDEX}" in lines, f"binder/requirements.txt must take torch from {CPU_INDEX}"
    requirements = [Requirement(line) for line in lines if not line.startswith("-")]
    pins = {req.name: str(req.specifier) for req in requirements}
    assert pins.get("torch", "").endswith("+cpu"), f"torch must be pinned to a CPU-only build, got {pins.get('torch')}"
    root = {
        Requirement(line).name: str(Requirement(line).specifier)
        for line in (ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines())
        if line and not line.startswith("-")
    }
    assert pins["torch"].removeprefix("==").startswith(root["torch"].removeprefix("==").rstrip("*"))
    for name, spec in pins.items():  # the same versions as the course's own environment
        if name != "torch":
            assert root.get(name) == spec, f"binder/ pins {name}{spec}, requirements.txt {root.get(name)}"
    for name in ("numpy", "plotly", "ipywidgets", "ipykernel", "jupyterlab"):
        assert name in pins, f"binder/requirements.txt must install {name}"
    for req in requirements:
        try:
            requires_python = importlib.metadata.metadata(req.name).get("Requires-Python")
        except importlib.metadata.PackageNotFoundError:
            continue
        if requires_python:
            assert binder_python in Requirement(f"python{requires_python}").specifier, (
                f"{req.name} needs Python {requires_python}; binder/runtime.txt gives Binder {runtime}"
            )

    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text(), "binder/postBuild must install the mha package"


def test_binder_requirements_resolve(tmp_path):
    """pip resolves binder/requirements.txt to a CPU-only torch and no CUDA package, for binder/runtime.txt's
    Python. The CPU wheel index cannot be reached from the course's machines: there, the index line is left out
    and torch 2.13.0+cpu comes from the machine's own wheels (skipped where it has none); every other requirement
    is resolved from PyPI as Binder would."""
    lines = _binder_requirements()
    stripped = tmp_path / "requirements.txt"
    stripped.write_text("\n".join(line for line in lines if not line.startswith("--extra-index-url")) + "\n")
    python = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + ["--python-version", python, "--only-binary=:all:", "-r", str(stripped)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 and "torch==" in result.stderr and "+cpu" in result.stderr:
        pytest.skip("no torch +cpu wheel reachable here without the CPU index: " + result.stderr.strip()[-300:])
    assert result.returncode == 0, "binder/requirements.txt does not resolve:\n" + result.stderr[-3000:]
    items = json.loads(report.read_text())["install"]
    installs = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in items}
    assert installs["torch"].endswith("+cpu"), installs["torch"]
    cuda = sorted(name for name in installs if name.startswith(("nvidia-", "triton")))
    assert not cuda, f"Binder would install CUDA packages it cannot use: {cuda}"
