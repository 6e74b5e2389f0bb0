"""Fast kernels for the grader: one server process imports the course's heavy modules once, each kernel is a fork.

Starting a kernel and importing torch, plotly and ipywidgets costs about 6 s of CPU, more than running a light
notebook. ``ForkServer`` starts one server process (inside a bubblewrap sandbox when the run is isolated, see
``mha.grading.sandbox``): it imports those modules (``preload``: nothing else, no thread, no kernel, no random draw)
and waits on a Unix socket. For each submission, jupyter_client runs the small ``relay`` command as the kernel's
process; the relay asks the server for a fork, and the forked child becomes an ipykernel kernel on the relay's
connection file. The relay stands for the kernel towards jupyter_client: it passes interrupts on (a line on the
socket), and ends with the kernel's exit status (a kernel killed by signal N ends the relay with status 128 + N).
When the relay dies (jupyter_client kills it at shutdown), the server kills its kernel.

Isolated, each fork first enters namespaces of its own (``enter_namespaces``): a user, mount and PID namespace in
which only its own folder of the grading run is visible, ``/proc`` is empty, and it has no capability left; the
kernel is process 1 there, so everything it starts ends with it. Not isolated, the server is the "subreaper" of its
kernels: a process a kernel leaves behind (even detached with setsid and a double fork) becomes the server's child,
and is killed when any kernel ends and when the server stops.

Every kernel is a fresh copy of a process the learners' code never ran in: a learner's change to a module stays in
their own kernel.
"""

from __future__ import annotations

import ctypes
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

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID = 0x20000, 0x10000000, 0x20000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 4, 24, 36, 38


def preload() -> None:
    """The modules every kernel needs, imported once in the server (each kernel is a copy of it)."""
    import ipykernel.kernelapp  # noqa: F401
    import IPython  # noqa: F401
    import numpy  # noqa: F401
    import torch
    import torch.backends.cpu

    # the CPU's vector instructions, read from /proc/cpuinfo now: an isolated kernel's /proc is empty, and without
    # them every elementwise operation would run unvectorised (several times slower)
    torch.backends.cpu.get_cpu_capability()

    import mha  # noqa: F401
    import mha.exercises  # noqa: F401
    import mha.train  # noqa: F401
    import mha.viz  # noqa: F401
    import mha.widgets  # noqa: F401


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


def enter_namespaces(workdir: str, workroot: str) -> None:
    """In the forked child: a user, mount and PID namespace of its own, where ``workroot`` shows only ``workdir``
    and ``/proc`` is empty. The next fork is process 1 of the new PID namespace."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    own = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)  # opened in the new mount namespace, before it is hidden
    _mount(libc, "tmpfs", workroot, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
    os.makedirs(workdir, exist_ok=True)
    _mount(libc, f"/proc/self/fd/{own}", workdir, None, _MS_BIND | _MS_REC)
    os.close(own)
    _mount(libc, "tmpfs", "/proc", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0555,size=4k")
    os.chdir(workdir)


def drop_privileges() -> None:
    """No capability left (so no mount can be undone), no new ones through exec, and no ptrace or core dumps."""
    libc = _libc()
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: nothing (two 32-bit words each)
    _check(libc.capset(header, data), "capset")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _become_kernel(request: dict) -> None:
    """Set the limits, clean the environment, become an ipykernel kernel on the relay's connection file."""
    import resource

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
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
    app = IPKernelApp.instance()
    app.initialize(["-f", request["connection_file"]])
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None and hasattr(widgets, "_handle_ipython"):
        widgets._handle_ipython()  # the comm targets ipywidgets registers when imported inside a kernel
    app.start()


def _child(request: dict, workroot: str | None) -> None:
    """In the forked child: become the learner's kernel, isolated when ``workroot`` is given (never returns)."""
    code = 1
    try:
        _child_steps(request, workroot)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # why the kernel could not start, for the grader's notes
        try:
            with open(os.path.join(request["cwd"], ERROR_FILE), "w") as f:
                f.write(f"{type(e).__name__}: {e}"[:300])
        except OSError:
            pass
    finally:
        os._exit(code)


ERROR_FILE = "kernel-start-error.txt"


def _child_steps(request: dict, workroot: str | None) -> None:
    """The child's steps: a session of its own, the namespaces when isolated, then the kernel."""
    os.setsid()
    if workroot is None:
        _become_kernel(request)
    else:
        enter_namespaces(request["cwd"], workroot)
        kernel = os.fork()
        if kernel == 0:  # process 1 of the new PID namespace: when it ends, everything it started ends
            _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            drop_privileges()
            _become_kernel(request)
            return
        signal.signal(signal.SIGINT, lambda *_: os.kill(kernel, signal.SIGINT))
        signal.signal(signal.SIGTERM, lambda *_: os.kill(kernel, signal.SIGKILL))
        while True:
            try:
                _, status = os.waitpid(kernel, 0)
                break
            except InterruptedError:
                continue
        raise SystemExit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _orphans(kernels: set[int]) -> list[int]:
    """The server's children that are not kernels: processes a kernel left behind (the server is their subreaper)."""
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in kernels:
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found.append(int(entry))
    return found


def _kill_orphans(kernels: set[int]) -> None:
    for pid in _orphans(kernels):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def serve(path: str, workroot: str | None) -> None:
    """The server's loop: fork a kernel for each relay that connects; report its exit; kill it if the relay dies."""
    preload()
    if sys.platform.startswith("linux"):
        _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    kernels: dict[socket.socket, int] = {}  # relay's connection -> kernel's pid
    parent = os.getppid()
    while os.getppid() == parent and not stopping:  # the grader is gone: so is the server
        try:
            ready, _, _ = select.select([listener, *kernels], [], [], 0.2)
        except InterruptedError:
            continue
        ended = False
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
                ended = True
        if ended and workroot is None:
            _kill_orphans(set(kernels.values()))
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
                    _child(request, workroot)
                kernels[client] = pid
                client.sendall(f"pid {pid}\n".encode())
            elif conn in kernels:
                message = conn.recv(64)
                try:
                    if not message:  # the relay is gone: so is its kernel
                        os.kill(kernels[conn], signal.SIGKILL)
                    elif b"int" in message:
                        os.kill(kernels[conn], signal.SIGINT)
                except ProcessLookupError:
                    pass
    for pid in kernels.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _kill_orphans(set())


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
    lines.readline()  # "pid N": the kernel was forked

    def forward(signum, frame):
        if signum == signal.SIGINT:
            try:
                conn.sendall(b"int\n")
            except OSError:
                pass
        else:
            os._exit(1)  # the server sees the socket close and kills the kernel

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    line = lines.readline()
    code = int(line.split()[1]) if line.startswith("exit ") else 1
    os._exit(code if code >= 0 else 128 - code)  # killed by signal N: 128 + N, as a shell reports it


class ForkServer:
    """A running server and the kernel spec that starts kernels through it (``kernel_name``, ``kernel_dirs``).

    workroot: the folder that holds every submission's working folder; sandbox: the bwrap command line (up to
    ``--``) to run the server in, None to run it unisolated."""

    kernel_name = "mha-forked"

    def __init__(self, workroot: Path | None = None, sandbox: list[str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mha-forkserver-", dir=workroot))
        self.socket = str(self.folder / "server.sock")
        spec = self.folder / "kernels" / self.kernel_name
        spec.mkdir(parents=True)
        # the relay runs this file as a script in isolated mode: it imports neither mha nor torch (milliseconds)
        argv = [sys.executable, "-I", str(Path(__file__).resolve()), "relay", self.socket, "{connection_file}"]
        kernel = {"argv": argv, "display_name": "mha grading", "language": "python", "interrupt_mode": "signal"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        self.kernel_dirs = [str(self.folder / "kernels")]
        command = [sys.executable, "-m", "mha.grading.forkserver", "serve", self.socket]
        self.sandboxed = sandbox is not None
        if sandbox is not None:
            command = [*sandbox, *command, str(workroot)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + 300
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.process.stderr.read().decode(errors="replace")[-300:] if self.process.stderr else ""
                raise RuntimeError(f"the fork server did not start: {err}")
            time.sleep(0.05)

    def kernel_manager(self):
        """A KernelManager whose kernels are forks of the server."""
        from jupyter_client import AsyncKernelManager  # the kind nbclient makes itself
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager(kernel_dirs=self.kernel_dirs)
        return AsyncKernelManager(kernel_name=self.kernel_name, kernel_spec_manager=specs)

    def close(self) -> None:
        if self.process.poll() is None and self.sandboxed:
            self.process.kill()  # bwrap: its PID namespace ends, every process in it with it
            self.process.wait()
        elif self.process.poll() is None:
            self.process.terminate()  # the server kills its kernels and what they left behind
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        for path in sorted(self.folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        self.folder.rmdir()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        os._exit(0)  # no interpreter shutdown with torch loaded (seconds): nothing is left to flush
    elif sys.argv[1] == "relay":
        relay(sys.argv[2], sys.argv[3])
