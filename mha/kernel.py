"""One submitted notebook in a fresh kernel with limits: the learner's cells run there, the checks do not.

``run_notebook`` executes the learner's cells in a new kernel (or one forked by ``mha.forkserver``) whose memory,
CPU time and file sizes are capped before any cell runs (``Limits``), with a time limit per cell and per notebook,
and then grades it with ``mha.grading``: the kernel only answers for values, every verdict is computed here.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mha.exercises import RESULTS_ENV, TIME_LIMIT

__all__ = ["Limits", "run_notebook"]


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
    nb, number: str | None, workdir: Path, limits: Limits, salt: int, timing: dict | None = None, server=None
):
    """Execute nb in a fresh, limited kernel, then grade it: (the checks' results, notes about what went wrong).

    The learner's cells run first; the checks then run in this process (``mha.grading.grade_notebook``), on values
    the kernel computes for inputs it receives only after the learner's cells have run.
    """
    import nbformat
    import torch
    from nbclient.exceptions import DeadKernelError

    from mha import grading

    notes: list[str] = []
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    # a cell of ours, run before the learner's and outside their time limits: the course's imports (slow on a
    # busy machine)
    text = "\n".join(str(c.get("source", "")) for _, c in code_cells)
    modules = ["mha.exercises", "mha.grading"] + [
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
        km=server.kernel_manager() if server is not None else None,
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
    if server is not None:  # the forked kernel sets its own limits (hard) before any cell runs
        env["MHA_KERNEL_LIMITS"] = json.dumps({name: value for name, value in _limit_values(limits)})
    deadline = time.monotonic() + limits.timeout
    errors = 0
    dead: list[str] = []

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
        request_file, answers = workdir / f"requests-{token}.pt", workdir / f"answers-{token}"
        answers.mkdir()
        torch.save(requests, request_file)
        cell = nbformat.v4.new_code_cell(
            f"import mha.grading\nmha.grading.answer_requests(globals(), {str(request_file)!r}, {str(answers)!r})"
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
        found = {}
        for r in requests:
            outcome = grading.load_answer(answers / f"{r['key']}.pt")
            found[r["key"]] = (
                ("no answer", why) if outcome[0] == "no answer" and "did not finish" in outcome[1] else outcome
            )
        return found

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # the kernel's own log lines
    timing = timing if timing is not None else {}
    clock = time.monotonic()
    with client.setup_kernel(env=env, cwd=str(workdir), cleanup_kc=True, **quiet):
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
        results = grading.grade_notebook(number, ask, salt) if number else []
        timing["grading"] = round(time.monotonic() - clock, 2)
    if client.dropped_bytes > 1_000_000:
        notes.append(f"printed {client.dropped_bytes / 1e6:.0f} MB of output (ignored)")
    sources = [(i, str(c.get("source", ""))) for i, c in code_cells]
    notes += grading.scan_cells(sources, number)
    return results, notes
