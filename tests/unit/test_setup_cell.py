"""Every notebook opens the same way: a title cell, then the one canonical setup cell.

The setup cell is what makes a notebook run wherever it is opened: where `mha` cannot be imported (Colab, or a
notebook downloaded alone from the book into a fresh environment) it installs the course's `mha` package from the
repository named in `_config.yml` (the one place that holds the URL; the launch buttons use it too) at a pinned
ref; `mha` asks for torch, numpy, plotly and ipywidgets only as lower bounds, so Colab's stay as they are (see
tests/unit/test_install.py). Where `mha` is importable (this repository's environment) it prints nothing.
`scripts/apply_setup_cell.py` writes this cell into every notebook.
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

import mha

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPOSITORY_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]

# The ref that Colab installs `mha` from: the release tag of the package's version, so a notebook always gets the
# package it was written for. The book workflow (.github/workflows/book.yml) creates the tag when a version first
# reaches main. A version bump therefore means: mha/__init__.py (the one place it is written; pyproject.toml reads it
# from there), then this cell in every notebook, which this test checks against it.
PINNED_REF = f"v{mha.__version__}"

SETUP_CELL = f"""\
# Setup: install the course's `mha` package where it is missing (Colab, a notebook downloaded alone);
# torch, plotly and ipywidgets already there stay as they are.
import importlib.util

if importlib.util.find_spec("mha") is None:
    %pip install -q "mha @ git+{REPOSITORY_URL}@{PINNED_REF}"
    importlib.invalidate_caches()

import mha

mha.setup_notebook()"""


def _first_code_cell(nb):
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_numbered_title(path):
    first = nbformat.read(path, as_version=4).cells[0]
    number = int(path.name[:2])
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be the title, got a {first.cell_type} cell"
    title = first.source.splitlines()[0] if first.source else ""
    assert re.fullmatch(rf"# {number}\. \S.*", title), f"{path.name}: expected '# {number}. Title', got {title!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_canonical_setup_cell(path):
    cell = _first_code_cell(nbformat.read(path, as_version=4))
    urls = re.findall(r"git\+(\S+?)@", cell.source)
    assert urls == [REPOSITORY_URL], (
        f"{path.name}: the setup cell installs from {urls}, _config.yml has {REPOSITORY_URL}"
    )
    assert cell.source == SETUP_CELL, (
        f"{path.name}: the first code cell differs from the canonical setup cell (tests/unit/test_setup_cell.py).\n"
        f"--- expected\n{SETUP_CELL}\n--- found\n{cell.source}"
    )
    assert not cell.get("outputs"), f"{path.name}: the setup cell must print nothing, it has outputs"


def test_the_version_is_written_once():
    """mha/__init__.py holds the version; setuptools reads it from there (pyproject.toml names no version)."""
    import importlib.metadata

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=\s*\"", pyproject, re.M), "pyproject.toml must not repeat the version"
    assert 'version = { attr = "mha.__version__" }' in pyproject
    assert importlib.metadata.version("mha") == mha.__version__, (
        f"the installed mha says {importlib.metadata.version('mha')}, mha/__init__.py says {mha.__version__}: "
        "reinstall with `pip install -e .`"
    )


def _setup_code(install_line: str) -> str:
    """The setup cell as plain Python: the %pip line replaced by ``install_line``."""
    return "\n".join(install_line if "%pip" in line else line for line in SETUP_CELL.splitlines())


def test_setup_cell_installs_only_where_mha_is_missing(monkeypatch):
    import importlib.util

    calls = []
    namespace = {"record": calls.append}
    exec(_setup_code("    record('pip install')"), namespace)  # here: mha importable, so no install
    assert calls == []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mha" else real(name, *a))
    exec(_setup_code("    record('pip install')"), namespace)  # a fresh environment or Colab: install
    assert calls == ["pip install"]


def test_apply_setup_cell_script_writes_the_canonical_cell(tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "notebooks"
    folder.mkdir()
    source = NOTEBOOKS[0]
    copy = folder / source.name
    shutil.copy(source, copy)
    nb = json.loads(copy.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    first["source"] = ["# an old setup cell\n", "import mha"]
    copy.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    script = ROOT / "scripts" / "apply_setup_cell.py"
    subprocess.run([sys.executable, str(script), str(folder)], check=True, capture_output=True)
    after = json.loads(copy.read_text(encoding="utf-8"))
    assert _first_code_cell(nbformat.reads(json.dumps(after), as_version=4)).source == SETUP_CELL
    first_after = next(c for c in after["cells"] if c["cell_type"] == "code")
    first["source"] = first_after["source"]
    assert after == nb, "the script must change the first code cell's source only"
    subprocess.run([sys.executable, str(script), str(folder)], check=True, capture_output=True)
    assert json.loads(copy.read_text(encoding="utf-8")) == after  # running it twice changes nothing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_stores_widget_state(path):
    """Stored ipywidgets 8 state cannot be loaded by ipywidgets 7 (classic Notebook, Colab: errors on opening);
    without it every front end shows "Run this cell to start the explorer" (``make execute`` stores none)."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state: re-run it with make execute"
