"""Installing `mha` where torch, numpy, plotly and ipywidgets already are (as on Colab) installs only `mha`,
and Binder can build the repository as it is.

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

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


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


def test_binder_builds_from_requirements_txt():
    """Binder (repo2docker) installs requirements.txt on the Python of runtime.txt, then runs postBuild."""
    for folder in ("binder", ".binder"):
        assert not (ROOT / folder).exists(), f"a {folder}/ folder would make Binder ignore the root's requirements.txt"
    runtime = (ROOT / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), f"runtime.txt must read like python-3.11, got {runtime!r}"
    binder_python = Version(runtime.removeprefix("python-") + ".0")

    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    for req in map(Requirement, filter(None, lines)):  # a local path, URL or pip option would not parse
        try:
            requires_python = importlib.metadata.metadata(req.name).get("Requires-Python")
        except importlib.metadata.PackageNotFoundError:
            continue
        if requires_python:
            assert binder_python in Requirement(f"python{requires_python}").specifier, (
                f"{req.name} needs Python {requires_python}; runtime.txt gives Binder {runtime}"
            )

    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text(), "postBuild must install the mha package"
