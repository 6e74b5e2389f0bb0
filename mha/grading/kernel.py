"""One submitted notebook in a fresh kernel with limits: the learner's cells run there, the checks do not.

``run_notebook`` executes the learner's cells in a new kernel (or one forked by ``mha.grading.forkserver``), in the
run's sandbox (``Kernels``, ``mha.grading.sandbox``), whose memory, CPU time and file sizes are capped before any
cell runs (``Limits``), with a time limit per cell and per notebook, and then grades it with ``mha.grading.judge``:
the kernel only answers for values, computed by code the grader sends as source (``mha.grading.answers``); every
verdict is computed here.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mha.exercises import RESULTS_ENV, TIME_LIMIT
from mha.grading import answers, judge, sandbox, scan
from mha.grading.forkserver import ForkServer

__all__ = ["Limits", "Kernels", "run_notebook"]


def _client_class():
    from nbclient import NotebookClient

    class _GradingClient(NotebookClient):
        """Keeps only error outputs (a huge output costs no memory) and remembers cells stopped by a timeout."""

        timed_out = False
        dropped_bytes = 0

        def output(self, outs, msg, display_id, cell_index):
            if msg["msg_type"] == "error":
                return super().output(outs, msg, display_id, cell_index)
            self.dropped_bytes += len(msg.get("content", {}).get("text", ""))
            return None

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

    return _GradingClient


@dataclass(frozen=True)
class Limits:
    """What one submission may use: seconds per notebook and per cell (wall clock), and for its kernel process
    (set by the grader with prlimit before any cell runs, hard limits the kernel cannot raise unless it is root):
    memory (``RLIMIT_DATA``, MB), CPU time (``RLIMIT_CPU``, s) and the size of any file it writes (MB)."""

    timeout: float = 300
    cell_timeout: float = 60
    memory_mb: int = 4096
    cpu_seconds: int = 900
    file_mb: int = 256


def _limit_values(limits: Limits) -> list[tuple[str, int]]:
    return [
        ("RLIMIT_DATA", limits.memory_mb << 20),
        ("RLIMIT_CPU", int(limits.cpu_seconds)),
        ("RLIMIT_FSIZE", limits.file_mb << 20),
        ("RLIMIT_CORE", 0),
    ]


_LAUNCH = (  # a sandboxed kernel's first command: its limits, then ipykernel (in place of this process)
    "import json, os, resource, sys\n"
    "os.environ.pop('JPY_PARENT_PID', None)  # its parent is the sandbox's process 1: no poller on it\n"
    "for name, value in json.loads(os.environ.pop('MHA_KERNEL_LIMITS', '{}')).items():\n"
    "    resource.setrlimit(getattr(resource, name), (value, value))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n"
)


@dataclass
class Kernels:
    """How one grading run starts its kernels: the isolation, the folder of the submissions' working folders, what
    the kernels must not see, and the fork server (None: a kernel started the usual way)."""

    isolation: sandbox.Isolation = field(default_factory=lambda: sandbox.Isolation("none", "not asked for"))
    workroot: Path | None = None
    hide: list[Path] = field(default_factory=list)
    server: ForkServer | None = None

    @classmethod
    def start(cls, isolation: sandbox.Isolation, workroot: Path, hide: list[Path], fork_server: bool) -> Kernels:
        kernels = cls(isolation, workroot, hide)
        if fork_server:
            argv = sandbox.bwrap_argv([workroot], hide) if isolation.isolated else None
            kernels.server = ForkServer(workroot, argv)
        return kernels

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def manager(self, workdir: Path):
        """A kernel manager for one submission whose kernel talks through Unix sockets in ``workdir``."""
        from jupyter_client import AsyncKernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        if self.server is not None:
            km = self.server.kernel_manager()
        elif self.isolation.isolated:
            spec = workdir / ".kernelspec" / "mha-sandboxed"
            spec.mkdir(parents=True)
            argv = sandbox.bwrap_argv([workdir], self.hide) + [sys.executable, "-c", _LAUNCH, "{connection_file}"]
            # bwrap passes no signal on: interrupts go as messages on the kernel's control channel
            kernel = {"argv": argv, "display_name": "mha grading", "language": "python", "interrupt_mode": "message"}
            (spec / "kernel.json").write_text(json.dumps(kernel))
            specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
            km = AsyncKernelManager(kernel_name="mha-sandboxed", kernel_spec_manager=specs)
        else:
            return None  # nbclient's own, on TCP
        km.transport = "ipc"
        km.ip = str(workdir / "ipc")
        km.connection_file = str(workdir / "connection.json")
        return km


def _limit_kernel(pid: int, limits: Limits) -> None:
    import resource

    for name, value in _limit_values(limits):
        resource.prlimit(pid, getattr(resource, name), (value, value))


def _death(client, limits: Limits) -> str:
    """Why the kernel died, from its exit status."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):  # 128 + N: a forked kernel's relay (mha.forkserver)
        return f"the kernel used more than {limits.cpu_seconds} s of CPU time and was stopped"
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "the kernel was killed (out of memory, or the CPU limit)"
    return f"the kernel ended (exit status {code}): a cell called os._exit, crashed, or ran out of memory"


def run_notebook(
    nb,
    number: str | None,
    workdir: Path,
    limits: Limits,
    salt: int,
    timing: dict | None = None,
    kernels: Kernels | None = None,
    known: frozenset = frozenset(),
):
    """Execute nb in a fresh, limited kernel, then grade it: (the checks' results, notes about what went wrong).

    The learner's cells run first; the checks then run in this process (``mha.grading.judge.grade_notebook``), on
    values the kernel computes for inputs it receives only after the learner's cells have run. known: the sources of
    the course's own cells (not reported by the scan).
    """
    import nbformat
    import torch
    from nbclient.exceptions import DeadKernelError

    kernels = kernels or Kernels()
    server = kernels.server

    notes: list[str] = []
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    # a cell of ours, run before the learner's and outside their time limits: the course's imports (slow on a
    # busy machine)
    text = "\n".join(str(c.get("source", "")) for _, c in code_cells)
    modules = ["mha.exercises"] + [
        f"mha.{name}"
        for name in ("viz", "widgets", "train")
        if name in text or (name == "viz" and "setup_notebook" in text)
    ]
    warm_up = nbformat.v4.new_code_cell(
        "import importlib\n"
        f"for _module in {modules!r}:\n"
        "    try:\n        importlib.import_module(_module)\n    except Exception:\n        pass"
    )
    nb.cells.append(warm_up)
    quiet_log = logging.getLogger("mha.course.nbclient")
    quiet_log.setLevel(logging.CRITICAL)  # timeouts and interrupts are reported in the notes instead
    client = _client_class()(
        nb,
        km=kernels.manager(workdir),
        log=quiet_log,
        timeout=int(limits.cell_timeout),
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "time limit", "traceback": []},
        shutdown_kernel="immediate",
        record_timing=False,
        startup_timeout=120,
        iopub_timeout=5,
        resources={"metadata": {"path": str(workdir)}},
    )
    env = {k: v for k, v in os.environ.items() if k != RESULTS_ENV}  # the kernel reports nothing the grader reads
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if kernels.isolation.isolated:
        env.update(sandbox.kernel_env(workdir))
    if server is not None or kernels.isolation.isolated:  # the kernel sets its own limits (hard) before any cell
        env["MHA_KERNEL_LIMITS"] = json.dumps({name: value for name, value in _limit_values(limits)})
    deadline = time.monotonic() + limits.timeout
    errors = 0
    dead: list[str] = []
    reached: list[str] = []
    watch = judge.watched_roots()

    def run_cell(cell, index: int) -> None:
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            dead.append(_death(client, limits))
            notes.append(f"{dead[0]} (cell {index})")

    def ask(requests: list[dict]) -> dict[str, tuple]:
        if dead:
            return {r["key"]: ("no answer", dead[0]) for r in requests}
        token = secrets.token_hex(8)
        request_file, answers_dir = workdir / f"requests-{token}.pt", workdir / f"answers-{token}"
        answers_dir.mkdir()
        torch.save(requests, request_file)
        call = f"answer_requests(_learner, {str(request_file)!r}, {str(answers_dir)!r}, None, {watch!r})\n"
        cell = nbformat.v4.new_code_cell(  # the grader's code, as source: nothing of the kernel's mha is used
            f"exec(compile({answers_source + call!r}, '<mha grader>', 'exec'), "
            "{'__name__': '_mha_grader', '_learner': globals()})"
        )
        calls = sum(r["kind"] == "call" for r in requests)
        client.timeout = int(TIME_LIMIT * calls + limits.cell_timeout)
        client.timed_out = False
        nb.cells.append(cell)
        run_cell(cell, len(nb.cells) - 1)
        why = "your notebook gave no answer (the grading cell did not finish)"
        if dead:
            why = f"no answer: {dead[0]}"
        elif client.timed_out:  # the kernel may still be busy: ask it nothing more
            dead.append(f"the kernel did not answer within {client.timeout} s (a function that ignores interrupts?)")
            notes.append(dead[0])
            why = f"no answer: {dead[0]}"
        reached.extend(judge.load_reached(answers_dir))
        found = {}
        for r in requests:
            outcome = judge.load_answer(answers_dir / f"{r['key']}.pt")
            found[r["key"]] = (
                ("no answer", why) if outcome[0] == "no answer" and "did not finish" in outcome[1] else outcome
            )
        return found

    answers_source = answers.SOURCE
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # the kernel's own log lines
    if os.environ.get("MHA_GRADER_DEBUG"):
        quiet = {}
    timing = timing if timing is not None else {}
    clock = time.monotonic()
    with client.setup_kernel(env=env, cwd=str(workdir), cleanup_kc=True, **quiet):
        if server is None and not kernels.isolation.isolated:
            pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            if pid is None:
                raise RuntimeError("the kernel's process id is unknown: its limits cannot be set")
            _limit_kernel(pid, limits)
        client.timeout = 300
        run_cell(warm_up, len(nb.cells) - 1)
        timing["start"], clock = round(time.monotonic() - clock, 2), time.monotonic()
        for index, cell in code_cells:
            if dead:
                break
            remaining = deadline - time.monotonic()
            if remaining < 1:
                notes.append(f"stopped at cell {index}: the notebook's time limit ({limits.timeout:g} s) was reached")
                break
            client.timeout = int(max(1, min(limits.cell_timeout, remaining)))
            client.timed_out = False
            run_cell(cell, index)
            if client.timed_out:
                notes.append(f"cell {index} was stopped after {client.timeout} s (time limit)")
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and errors < 3 and out.get("ename") != "KeyboardInterrupt":
                    errors += 1
                    notes.append(f"cell {index} raised {out.get('ename')}: {str(out.get('evalue'))[:120]}")
        timing["cells"], clock = round(time.monotonic() - clock, 2), time.monotonic()
        results = judge.grade_notebook(number, ask, salt) if number else []
        timing["grading"] = round(time.monotonic() - clock, 2)
    if client.dropped_bytes > 1_000_000:
        notes.append(f"printed {client.dropped_bytes / 1e6:.0f} MB of output (ignored)")
    sources = [(i, str(c.get("source", ""))) for i, c in code_cells]
    notes += judge.reach_notes(reached)
    notes += scan.scan_cells(sources, number, known)
    return results, notes
