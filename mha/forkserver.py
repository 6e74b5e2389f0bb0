"""Fast kernels for the grader: one server process imports the course's heavy modules once, each kernel is a fork.

Starting a kernel and importing torch, plotly and ipywidgets costs about 6 s of CPU, more than running a light
notebook. ``python -m mha.course grade --fork-server`` starts one ``ForkServer``: it imports those modules (nothing
else: no thread, no kernel, no random draw) and waits on a Unix socket. For each submission, jupyter_client runs the
small ``relay`` command as the kernel's process; the relay asks the server for a fork, and the forked child sets
its limits, cleans its environment and becomes an ipykernel kernel on the relay's connection file. The relay stands
for the kernel towards jupyter_client: it passes interrupts on, and ends with the kernel's exit status (a kernel
killed by signal N ends the relay with status 128 + N). When the relay dies (jupyter_client kills it at shutdown), the
server kills its kernel.

Every kernel is a fresh copy of a process the learners' code never ran in: a learner's change to a module stays in
their own kernel.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRELOAD = (
    "numpy",
    "torch",
    "IPython",
    "ipykernel.kernelapp",
    "mha",
    "mha.exercises",
    "mha.grading",
    "mha.train",
    "mha.viz",
    "mha.widgets",
)


def _child(request: dict) -> None:
    """In the forked child: become the learner's kernel (never returns)."""
    import resource

    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for name, value in request["limits"].items():
            resource.setrlimit(getattr(resource, name), (value, value))
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
        app = IPKernelApp.instance()
        app.initialize(["-f", request["connection_file"]])
        widgets = sys.modules.get("ipywidgets")
        if widgets is not None and hasattr(widgets, "_handle_ipython"):
            widgets._handle_ipython()  # the comm targets ipywidgets registers when imported inside a kernel
        app.start()
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """The server's loop: fork a kernel for each relay that connects; report its exit; kill it if the relay dies."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    kernels: dict[socket.socket, int] = {}  # relay's connection -> kernel's pid
    parent = os.getppid()
    while os.getppid() == parent:  # the grader is gone: so is the server
        ready, _, _ = select.select([listener, *kernels], [], [], 0.2)
        for conn, pid in list(kernels.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                try:
                    conn.sendall(f"exit {code}\n".encode())
                except OSError:
                    pass
                conn.close()
                del kernels[conn]
        for conn in ready:
            if conn is listener:
                client, _ = listener.accept()
                data = b""
                while not data.endswith(b"\n"):
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    request = json.loads(data)
                except ValueError:
                    client.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for other in kernels:
                        other.close()
                    client.close()
                    _child(request)
                kernels[client] = pid
                client.sendall(f"pid {pid}\n".encode())
            elif conn in kernels and not conn.recv(64):  # the relay is gone: so is its kernel
                try:
                    os.kill(kernels[conn], signal.SIGKILL)
                except ProcessLookupError:
                    pass


def relay(path: str, connection_file: str) -> None:
    """jupyter_client's kernel process: ask the server for a kernel, pass interrupts on, end like the kernel."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    request = {"cwd": os.getcwd(), "env": dict(os.environ), "connection_file": connection_file, "limits": {}}
    limits = os.environ.get("MHA_KERNEL_LIMITS")
    if limits:
        request["limits"] = json.loads(limits)
        del request["env"]["MHA_KERNEL_LIMITS"]
    conn.sendall(json.dumps(request).encode() + b"\n")
    lines = conn.makefile("r")
    pid = int(lines.readline().split()[1])

    def forward(signum, frame):
        try:
            os.kill(pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGKILL)
        except ProcessLookupError:
            pass
        if signum != signal.SIGINT:
            os._exit(1)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    line = lines.readline()
    code = int(line.split()[1]) if line.startswith("exit ") else 1
    os._exit(code if code >= 0 else 128 - code)  # killed by signal N: 128 + N, as a shell reports it


class ForkServer:
    """A running server and the kernel spec that starts kernels through it (``kernel_name``, ``kernel_dirs``)."""

    kernel_name = "mha-forked"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mha-forkserver-"))
        self.socket = str(self.folder / "server.sock")
        spec = self.folder / "kernels" / self.kernel_name
        spec.mkdir(parents=True)
        # the relay runs this file as a script in isolated mode: it imports neither mha nor torch (milliseconds)
        argv = [sys.executable, "-I", str(Path(__file__).resolve()), "relay", self.socket, "{connection_file}"]
        kernel = {"argv": argv, "display_name": "mha grading", "language": "python", "interrupt_mode": "signal"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        self.kernel_dirs = [str(self.folder / "kernels")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mha.forkserver", "serve", self.socket],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fork server did not start")
            time.sleep(0.05)

    def kernel_manager(self):
        """A KernelManager whose kernels are forks of the server."""
        from jupyter_client import AsyncKernelManager  # the kind nbclient makes itself
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager(kernel_dirs=self.kernel_dirs)
        return AsyncKernelManager(kernel_name=self.kernel_name, kernel_spec_manager=specs)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        for path in sorted(self.folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        self.folder.rmdir()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "relay":
        relay(sys.argv[2], sys.argv[3])
