"""Where a submission runs: a bubblewrap sandbox per grading run and per kernel, or the documented fallback.

With Debian's ``bubblewrap`` (``bwrap``) installed and working, every kernel runs with:

- the whole file system read-only (the package, site-packages, the course), ``/tmp`` empty, a writable folder of its
  own (the submission's working folder) and nothing else writable;
- the course's solution notebooks, the grader's output folder, the submissions and the grader's home folder
  hidden (an empty folder in their place);
- no network (``--unshare-net``: only a loopback device of its own), its own PID namespace (``--unshare-pid``):
  the grader's process, the other kernels and the fork server are invisible and out of reach of signals; when the
  kernel ends, everything it started ends with it;
- the grader talks to it through Unix sockets in its folder (ZeroMQ's ``ipc`` transport), not TCP.

With the fork server (the default), the server runs in one such sandbox and each forked kernel enters namespaces of
its own (``mha.grading.forkserver``): a user, mount and PID namespace where the other kernels' folders are hidden
and ``/proc`` is empty. Without ``bwrap`` (macOS, or a machine where it cannot create namespaces) the run is "not
isolated": the kernel runs as the grader's user with the grader's files in reach. ``Guard`` then notices and undoes
changes to the package's files and new ``.pth`` files in site-packages, and the fork server kills what a kernel left
running; the report says "not isolated" in every submission's notes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # mha/
NOT_ISOLATED = "not isolated: the kernel ran as the grader's user, with the grader's files in reach (no bubblewrap)"


@dataclass(frozen=True)
class Isolation:
    """Which isolation a grading run uses: "bubblewrap" or "none", and why."""

    mode: str
    why: str = ""

    @property
    def isolated(self) -> bool:
        return self.mode == "bubblewrap"

    def line(self) -> str:
        if self.isolated:
            return (
                "isolation: bubblewrap (read-only files, no network, own PID namespace; solutions, outputs and "
                "other submissions hidden)"
            )
        return f"isolation: NONE ({self.why}); submissions can reach the grader's files and processes"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _bwrap_works(bwrap: str) -> str:
    """'' when bwrap can create the namespaces the grader needs here, else why not."""
    probe = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    probe += ["--unshare-pid", "--unshare-net", "--die-with-parent", "--", sys.executable, "-c", _NESTED_PROBE]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap did not run: {type(e).__name__}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {(done.stderr or done.stdout).strip()[-160:]}"
    return ""


# the fork server's kernels need a user namespace inside the sandbox (mha.grading.forkserver.enter_namespaces)
_NESTED_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    os._exit(0 if libc.unshare(0x10000000 | 0x20000 | 0x20000000) == 0 else 1)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""


def choose(requested: str = "auto") -> Isolation:
    """The isolation for a run: requested "auto" (bubblewrap where it works), "bubblewrap" (or fail) or "none"."""
    if requested == "none":
        return Isolation("none", "--isolation none")
    bwrap = bwrap_path() if sys.platform.startswith("linux") else None
    why = "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)" if bwrap is None else _bwrap_works(bwrap)
    if sys.platform == "darwin":
        why = "macOS has no bubblewrap"
    if not why:
        return Isolation("bubblewrap")
    if requested == "bubblewrap":
        raise RuntimeError(f"--isolation bubblewrap: {why}")
    return Isolation("none", why)


def _holds(path: Path, inner: Path) -> bool:
    return inner == path or path in inner.parents


def hidden_paths(hide: list[Path], keep: list[Path]) -> tuple[list[str], list[str]]:
    """bwrap arguments that hide each existing path of ``hide`` (an empty folder, or /dev/null for a file), except
    one that holds a path of ``keep`` (the package, the Python, the kernel's folder); and the paths left visible."""
    args: list[str] = []
    visible: list[str] = []
    for path in dict.fromkeys(p.resolve() for p in hide):
        if not path.exists():
            continue
        if any(_holds(path, k.resolve()) for k in keep):
            visible.append(str(path))
        elif path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    return args, visible


def bwrap_argv(writable: list[Path], hide: list[Path]) -> list[str]:
    """The bwrap command line up to ``--``: read-only root, empty /tmp, no network, own PID namespace, ``writable``
    bound read-write, ``hide`` hidden (see ``hidden_paths``)."""
    keep = [PACKAGE, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent, *writable]
    keep.append(Path(sys.executable).resolve().parent)
    keep += [Path(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])]
    hide_args, _ = hidden_paths(hide, keep)
    argv = [bwrap_path() or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    argv += hide_args
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    return argv + ["--"]


def default_hidden(out: Path | None, submissions: list[Path]) -> list[Path]:
    """What a kernel must not see: the course's notebooks (their solutions), the output folder, the submissions,
    and the grader's home folder."""
    from mha.grading.student import NOTEBOOKS

    hide = [NOTEBOOKS, *submissions]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        hide.append(out)
    home = Path.home()
    if home.exists():
        hide.append(home)
    return hide


def kernel_env(workdir: Path) -> dict[str, str]:
    """Environment variables that keep a kernel's files in its own folder (its home, IPython's, caches, TMPDIR)."""
    return {
        "HOME": str(workdir),
        "IPYTHONDIR": str(workdir / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(workdir / ".jupyter"),
        "MPLCONFIGDIR": str(workdir / ".mpl"),
        "TMPDIR": str(workdir),
        "XDG_CACHE_HOME": str(workdir / ".cache"),
    }


# ---------------------------------------------------------------- the fallback's guard


def _site_folders() -> list[Path]:
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    try:
        folders |= set(site.getsitepackages()) | {site.getusersitepackages()}
    except AttributeError:  # an old virtualenv's site module
        pass
    return [Path(f) for f in folders if Path(f).is_dir()]


class Guard:
    """The package's files and the site-packages' ``.pth`` files as the run began: what changed since, undone.

    A submission that is not isolated can append to ``mha``'s source or drop a ``.pth`` file into site-packages to
    change every later grading run; ``check`` reports such a change and restores the files as they were."""

    def __init__(self) -> None:
        self.files: dict[Path, bytes] = {}
        for path in sorted(PACKAGE.rglob("*.py")):
            self.files[path] = path.read_bytes()
        self.pth: dict[Path, bytes] = {}
        for folder in _site_folders():
            for path in folder.glob("*.pth"):
                self.pth[path] = path.read_bytes()
        self.folders = _site_folders()

    def check(self) -> list[str]:
        """What changed since the guard was made (each change undone), as notes."""
        notes = []
        for path, data in self.files.items():
            try:
                same = path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                _restore(path, data)
                notes.append(f"changed the package's file {path.relative_to(PACKAGE.parent)} (restored)")
        for path in sorted(PACKAGE.rglob("*.py")):
            if path not in self.files:
                path.unlink(missing_ok=True)
                notes.append(f"added the file {path.relative_to(PACKAGE.parent)} to the package (removed)")
        for folder in self.folders:
            for path in folder.glob("*.pth"):
                if path not in self.pth:
                    path.unlink(missing_ok=True)
                    notes.append(f"added {path.name} to site-packages (removed)")
                elif path.read_bytes() != self.pth[path]:
                    _restore(path, self.pth[path])
                    notes.append(f"changed {path.name} in site-packages (restored)")
        return notes

    def digest(self) -> str:
        return hashlib.sha256(b"".join(self.files.values())).hexdigest()[:12]


def _restore(path: Path, data: bytes) -> None:
    try:
        os.chmod(path, 0o644)
    except OSError:
        pass
    path.write_bytes(data)
