"""A notebook downloaded alone from the book runs top to bottom in a fresh Python environment without `mha`.

A learner presses a page's download button, gets the notebook file alone, and opens it where torch, numpy, plotly,
ipywidgets and a Jupyter kernel are installed but the course's package is not. The notebook's setup cell (the
canonical one, tests/unit/test_setup_cell.py) must then install `mha` itself with
``%pip install "mha @ git+<repository.url>@v<version>"`` and every cell must run. This test does exactly that:

- the notebook is the file the download button serves: the built book's ``_build/html/_sources/notebooks/<name>``
  (jupyter-book 1.x copies each source there unchanged and the button links to it). Where the book is not built,
  or was built from other notebooks than the ones in notebooks/, the test takes notebooks/<name>, the file that
  the next build copies there;
- a fresh virtual environment in a temporary folder (it does not see .venv's packages) gets what a learner has
  before opening the notebook: ipykernel, torch (``torch==2.13.*``), numpy, plotly, ipywidgets, plus nbclient and
  nbformat to drive the kernel. ``import mha`` must fail there;
- the notebook is copied alone into an empty folder and run by nbclient in that environment's kernel. The setup
  cell's text is not touched: GitHub cannot be reached from the test machines, so git is told (by an isolated
  global git config, ``url.<local repository>.insteadOf = <repository.url>``) to clone a local repository that
  holds the package's files (pyproject.toml, README.md, mha/ from this checkout) tagged ``v<mha.__version__>``,
  as the book workflow tags each release;
- every cell must run without error, `mha` must then be installed in that environment at ``mha.__version__``
  (from there, not from this checkout), and every cell's printed text (stdout) must equal the stored one.

Notebooks: 05 (the cheapest with no explorer) and 03 (its explorers need ipywidgets); one environment serves both,
`mha` is uninstalled before each. It takes minutes (environment, installs), so it is not in ``make test-unit``;
``make test-download`` runs it. Without git, or where the package registry cannot be reached (the installs fail),
it is skipped with the reason; ``MHA_REQUIRE_REGISTRY=1`` (set by ``make test-download``) makes that a failure.
Times of each step: ``_build/downloaded_notebook/times.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import skip_or_fail  # tests/conftest.py

import mha

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
TAG = f"v{mha.__version__}"
BUILT_SOURCES = ROOT / "_build" / "html" / "_sources" / "notebooks"
OUT = ROOT / "_build" / "downloaded_notebook"
NOTEBOOKS = ["05_concat_and_project.ipynb", "03_panel_of_experts.ipynb"]
# What a learner has before opening a notebook (torch: the CPU build where the registry offers it), and nbclient,
# nbformat to drive the kernel. No versions pinned except torch's: a learner has whatever is current.
LEARNER_PACKAGES = ["ipykernel", "torch==2.13.*", "numpy", "plotly", "ipywidgets", "nbclient", "nbformat"]
INSTALL_TIMEOUT_S = 1800
CELL_TIMEOUT_S = 900
# The same sanitising as nbval's (tests/nbval_sanitize.cfg)
SANITIZE = [(re.compile(r"0x[0-9a-fA-F]{6,}"), "0xADDRESS")]

# Run by the fresh environment's Python: every cell of the notebook in that environment's kernel, errors kept as
# outputs, then one more cell (not part of the notebook) that reports where the kernel found mha.
DRIVER = """\
import json, sys
import nbformat
from nbclient import NotebookClient

notebook, executed, workdir, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
nb = nbformat.read(notebook, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": workdir}})
probe = nbformat.v4.new_code_cell(
    "import json, sys, mha; print(json.dumps({'prefix': sys.prefix, 'executable': sys.executable, "
    "'version': mha.__version__, 'file': mha.__file__}))"
)
with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        client.execute_cell(cell, index)
    nb.cells.append(probe)  # only while it runs: the executed notebook is written without it
    client.execute_cell(probe, len(nb.cells) - 1)
    nb.cells.pop()
nbformat.write(nb, executed)
text = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream" and o.name == "stdout")
print(text.strip().splitlines()[-1] if text.strip() else json.dumps({"probe_outputs": probe.outputs}))
"""


def _run(args, env=None, timeout=INSTALL_TIMEOUT_S, cwd=None):
    return subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def _tail(result, n=3000):
    return (result.stdout + result.stderr)[-n:]


def _downloaded(name: str) -> tuple[Path, str]:
    """The notebook as the book's download button serves it, and where it was taken from."""
    source = ROOT / "notebooks" / name
    built = BUILT_SOURCES / name
    if built.exists() and built.read_bytes() == source.read_bytes():
        return built, "the built book (_build/html/_sources/notebooks)"
    why = "the book is not built" if not built.exists() else "the built book holds another version of it"
    return source, f"notebooks/ ({why}; the next build copies this file unchanged)"


def _stdout(cell) -> str:
    text = "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"
    )
    for pattern, replacement in SANITIZE:
        text = pattern.sub(replacement, text)
    return text


def _errors(nb) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index} ({cell.source[:60]!r}): {output.ename}: {output.evalue}")
    return found


@pytest.fixture(scope="module")
def times():
    recorded = {}
    yield recorded
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "times.json").write_text(json.dumps(recorded, indent=1) + "\n")
    print(json.dumps(recorded, indent=1))


@pytest.fixture(scope="module")
def learner(tmp_path_factory, times):
    """A fresh environment with a learner's packages (not mha), and the environment variables that send git's
    clone of the repository's URL to a local repository of the package tagged like the release."""
    git = shutil.which("git")
    if git is None:
        skip_or_fail("git is not installed: the setup cell installs mha with git", required_by="MHA_REQUIRE_REGISTRY")
    tmp = tmp_path_factory.mktemp("downloaded")

    # The repository as GitHub would serve it at the release tag: the package's files from this checkout.
    repo = tmp / "multi-head-attention"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "mha", repo / "mha", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    gitconfig = tmp / "gitconfig"
    gitconfig.write_text(
        f'[url "{repo.as_uri()}"]\n'
        f"\tinsteadOf = {REPOSITORY_URL}\n"
        '[protocol "file"]\n\tallow = always\n'
        "[uploadpack]\n\tallowFilter = true\n"  # pip clones with --filter=blob:none, as GitHub allows
        "[user]\n\tname = Course test\n\temail = course-test@localhost\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),  # mha.setup_notebook() copies plotly.js there
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "mpl"),
    )
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", f"mha {mha.__version__}"], ["tag", TAG]):
        result = _run([git, *command], env=env, cwd=repo, timeout=120)
        assert result.returncode == 0, f"git {' '.join(command)} failed in {repo}:\n{_tail(result)}"
    result = _run([git, "ls-remote", REPOSITORY_URL, TAG], env=env, timeout=120)
    assert result.returncode == 0 and TAG in result.stdout, (
        f"git does not send {REPOSITORY_URL} to {repo} with the isolated config:\n{_tail(result)}"
    )

    # The learner's environment: a plain venv of the interpreter behind this one (it does not see .venv).
    start = time.perf_counter()
    venv = tmp / "learner-env"
    result = _run([sys.executable, "-m", "venv", venv], env=env, timeout=300)
    assert result.returncode == 0, f"python -m venv failed:\n{_tail(result)}"
    python = venv / "bin" / "python"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    times["venv_s"] = round(time.perf_counter() - start, 1)

    start = time.perf_counter()
    result = _run([python, "-m", "pip", "install", "-q", *LEARNER_PACKAGES], env=env)
    if result.returncode != 0:
        skip_or_fail(
            f"could not install a learner's packages ({' '.join(LEARNER_PACKAGES)}) into a fresh environment; "
            f"is the package registry reachable?\n{_tail(result)}",
            required_by="MHA_REQUIRE_REGISTRY",
        )
    times["learner_packages_s"] = round(time.perf_counter() - start, 1)
    versions = _run(
        [
            python,
            "-c",
            "import sys, importlib.metadata as m; print(sys.version.split()[0], "
            "*(f'{n}=={m.version(n)}' for n in ('pip', 'ipykernel', 'torch', 'numpy', 'plotly', 'ipywidgets')))",
        ],
        env=env,
    )
    times["learner_versions"] = versions.stdout.strip()
    return {"python": python, "env": env, "tmp": tmp}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_downloaded_notebook_installs_mha_and_runs(name, learner, times):
    python, env = learner["python"], learner["env"]
    notebook, origin = _downloaded(name)

    # Before the notebook: no mha in the learner's environment (from an earlier notebook's run, or elsewhere).
    _run([python, "-m", "pip", "uninstall", "-y", "-q", "mha"], env=env, timeout=300)
    result = _run([python, "-c", "import mha"], env=env, cwd=learner["tmp"], timeout=300)
    assert result.returncode != 0, f"mha is importable in the fresh environment before the notebook ran:\n{result}"

    # The download folder holds the notebook alone; the kernel starts there.
    folder = learner["tmp"] / f"download-{name[:2]}"
    folder.mkdir()
    shutil.copy(notebook, folder / name)
    driver = learner["tmp"] / "run_notebook.py"
    driver.write_text(DRIVER)
    executed = learner["tmp"] / f"executed-{name}"
    start = time.perf_counter()
    result = _run([python, driver, folder / name, executed, folder, CELL_TIMEOUT_S], env=env, cwd=folder)
    seconds = round(time.perf_counter() - start, 1)
    assert result.returncode == 0, f"{name}: could not run the notebook in the fresh environment:\n{_tail(result)}"
    nb = nbformat.read(executed, as_version=4)
    stored = nbformat.read(notebook, as_version=4)
    setup = next(i for i, cell in enumerate(stored.cells) if cell.cell_type == "code")
    setup_output = "".join(o.get("text", "") for o in nb.cells[setup].get("outputs", []))
    times[name] = {"from": origin, "run_s (kernel start, mha installed, every cell)": seconds}

    errors = _errors(nb)
    assert not errors, f"{name} (from {origin}) failed in a fresh environment:\n" + "\n".join(errors)
    assert "pip install" in nb.cells[setup].source and nb.cells[setup].source == stored.cells[setup].source

    # The setup cell installed mha into the learner's environment, at the version the notebook was written for.
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe.get("version") == mha.__version__, f"{name}: the kernel imported {probe}, expected {mha.__version__}"
    assert Path(probe["prefix"]).resolve() == (learner["tmp"] / "learner-env").resolve(), (
        f"{name}: the kernel ran in {probe['prefix']}, not in the fresh environment"
    )
    assert Path(probe["file"]).resolve().is_relative_to(Path(probe["prefix"]).resolve()), (
        f"{name}: the kernel imported mha from {probe['file']}, not from the fresh environment"
    )
    # ... from the setup cell's requirement: pip records the URL and the ref it installed from (PEP 610).
    shown = _run(
        [
            python,
            "-c",
            "import importlib.metadata as m; d = m.distribution('mha'); print(d.version); "
            "print(d.read_text('direct_url.json'))",
        ],
        env=env,
        cwd=folder,
        timeout=300,
    )
    assert shown.returncode == 0, f"{name}: mha is not installed in the fresh environment:\n{_tail(shown)}"
    version, direct_url = shown.stdout.split("\n", 1)
    direct_url = json.loads(direct_url)
    assert version == mha.__version__, f"{name}: the setup cell installed mha {version}, expected {mha.__version__}"
    assert direct_url["url"] == REPOSITORY_URL and direct_url.get("vcs_info", {}).get("requested_revision") == TAG, (
        f"{name}: mha was installed from {direct_url}, expected {REPOSITORY_URL}@{TAG} (the setup cell's)"
    )
    times[name]["setup cell's output"] = setup_output.strip()
    times[name]["stderr of other cells"] = [
        o.text[:300] for c in nb.cells[setup + 1 :] for o in c.get("outputs", []) if o.get("name") == "stderr"
    ]

    # Every cell printed what the stored notebook shows (the setup cell prints pip's note; it is not compared).
    differing = [
        f"cell {i} ({cell.source[:50]!r}):\n--- stored\n{_stdout(cell)}--- fresh environment\n{_stdout(new)}"
        for i, (cell, new) in enumerate(zip(stored.cells, nb.cells))
        if cell.cell_type == "code" and i != setup and _stdout(cell) != _stdout(new)
    ]
    compared = sum(
        1 for i, cell in enumerate(stored.cells) if cell.cell_type == "code" and i != setup and _stdout(cell)
    )
    assert compared >= 5, f"{name}: only {compared} cells print text to compare"
    assert not differing, f"{name}: printed text differs from the stored notebook:\n" + "\n".join(differing)
    times[name]["cells_compared"] = compared
