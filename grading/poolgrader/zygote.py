"""Pre-warmed grading kernels: fork a fresh kernel from a parent that imported the libraries.

Starting a Python kernel and importing torch and matplotlib costs seconds per notebook.
A *zygote* is a small server process that imports everything the notebooks import (and
the kernel's own machinery) once, runs no student code, and then forks one child per
request. Each child is a brand-new process: it enters the sandbox
(``poolgrader.sandbox``), sets its resource limits, and becomes either

- an ipykernel, for nbgrader to execute a notebook in (``kind: "kernel"``), or
- a clean re-check process that runs a student's answer cells on the grader's inputs
  (``kind: "recheck"``, see ``poolgrader.recheck``).

The zygote stays single-threaded (forking a threaded process is unsafe), reaps its
children, and tells each requester how its child ended. It exits when its parent does
(``PR_SET_PDEATHSIG``), and so do its children when it dies.

:class:`ZygoteProvisioner` is a jupyter_client kernel provisioner, named in the grading
kernelspec, so nbgrader starts kernels through it: from the zygote when the grading
command set one up (``POOLKIT_GRADING_ZYGOTE``), otherwise as a normal subprocess.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

__all__ = ["ForkedProcess", "Zygote", "ZygoteProvisioner", "sandbox_settings"]

ENV_SOCKET = "POOLKIT_GRADING_ZYGOTE"
ENV_SETTINGS = "POOLKIT_GRADING_SANDBOX"
INLINE = "module://matplotlib_inline.backend_inline"

# What every grading kernel needs, beyond the modules the notebooks import.
KERNEL_MODULES = [
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "ipywidgets",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "poolkit.checks",
    # What torch imports the first time a shape is computed on the meta device
    # (poolkit.shapes.pool2d_out_hw, which every notebook reaches): sympy and mpmath, 0.73 s
    # to 0.82 s measured quiet, once here instead of once in every kernel.
    "torch.fx.experimental.symbolic_shapes",
]


# Pre-imported only for notebooks that use torch.optim: building an optimizer imports
# torch._dynamo (1.98 s more of a zygote's start, measured quiet), which no other
# notebook needs (poolkit.rules.guard keeps its dispatch modes from importing it).
OPTIM_MODULES = ["torch.optim", "torch._dynamo"]
# poolkit's modules that no notebook imports: its nbgrader plug-in for the instructor's
# feedback (importing it imports nbgrader: 1.00 s more, measured quiet).
NOT_IN_KERNELS = {"feedback"}


# The environment a grading kernel keeps (everything else is dropped, see _child).
_ENV_KEEP = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "MPLBACKEND", "VIRTUAL_ENV"})
_ENV_PREFIXES = ("LC_", "OMP_", "MKL_", "OPENBLAS_", "TORCH_")


def sandbox_settings() -> dict:
    """The sandbox settings the grading command put in the environment (JSON)."""
    return json.loads(os.environ.get(ENV_SETTINGS, "{}"))


# --------------------------------------------------------------------------- server side


# The clean re-check's zygotes (``flavor``): what they pre-import. Neither imports poolkit's
# answer key; the "numpy" one does not import torch, so torch has never been in its
# children (the re-check's NumPy-only exercises, ``poolkit.rules``).
FLAVORS = {
    # NumPy's lazily loaded submodules too: some import code that asks for a frame
    # (collections.namedtuple), which a vectorised exercise's process refuses
    "numpy": ["numpy", "numpy.random", "numpy.linalg", "numpy.fft", "matplotlib",
              "matplotlib.pyplot", "poolkit.rules"],
    "torch": ["numpy", "matplotlib", "matplotlib.pyplot", "poolkit.rules", "torch", "torch.nn",
              "torch.nn.functional"],
}  # fmt: skip


def _preimport(modules: list[str], flavor: str = "kernel") -> None:
    if flavor in FLAVORS:
        os.environ["MPLBACKEND"] = "Agg"
        for name in [*FLAVORS[flavor], "poolgrader.recheck", "poolgrader.sandbox"]:
            importlib.import_module(name)
        if flavor == "torch":
            from .recheck import python_kernels

            python_kernels()  # scanned once here, not in every child
        return
    os.environ.setdefault("MPLBACKEND", INLINE)
    optim = OPTIM_MODULES if "torch.optim" in modules else []
    for name in [*KERNEL_MODULES, *modules, *optim]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a notebook may import something optional
            print(f"zygote: could not pre-import {name}: {exc}", file=sys.stderr)
    import poolkit

    for name in poolkit.__all__:
        if name not in NOT_IN_KERNELS:
            importlib.import_module(f"poolkit.{name}")
    import pkgutil

    import poolkit.viz

    for info in pkgutil.iter_modules(poolkit.viz.__path__):
        importlib.import_module(f"poolkit.viz.{info.name}")


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass


def _child(request: dict, conn: socket.socket, zygote: int) -> None:
    """In the forked child: sandbox, limits, then become a kernel or run a re-check."""
    from . import sandbox
    from .limits import Limits, cap_output

    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises OSError instead
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    settings = request["settings"]
    uid = settings.get("uid")
    home = Path(request["home"])  # made by the zygote, which removes it when this child ends
    if os.getuid() == 0 and uid is not None:
        os.chown(home, uid, uid)
        if request["kind"] == "recheck":  # its scratch folder, made by the grader
            os.chown(request["cwd"], uid, uid)
    # A clean environment: the grader's may name its folders (PWD, OLDPWD) or hold secrets
    # (a PostgreSQL password, tokens). Only what the libraries read is kept.
    kept = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith(_ENV_PREFIXES)}
    os.environ.clear()
    os.environ.update(kept, IPYTHONDIR=str(home / "ipython"), HOME=str(home), TMPDIR=str(home))
    tempfile.tempdir = str(home)
    cwd = Path(request["cwd"])
    hide = [Path(p) for p in settings.get("hide", [])]
    readonly = [Path(p) for p in settings.get("readonly", [])]
    writable = [cwd, home, Path("/dev")]
    limits = Limits(**settings.get("limits", {}))
    if "torch" in sys.modules:  # not in the re-check's NumPy-only zygote
        import torch

        torch.set_num_threads(1)  # two workers on two cores: threads only fight each other
    if request["kind"] == "kernel":
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        argv = [*request["argv"], "--HistoryManager.enabled=False"]
        layers = sandbox.enter(
            hide=hide, keep=cwd, readonly=readonly, writable=writable, uid=uid, limits=limits,
            before_user_switch=lambda: app.initialize(argv), parent=zygote,
        )  # fmt: skip
        cap_output(app, limits.output_chars)
        _send(conn, {"sandbox": layers})
        conn.close()
        os.chdir(cwd)
        app.start()
        os._exit(0)
    from . import recheck

    lines = recheck.prepare(request["job"])  # the exercise's rules, before any student code
    layers = sandbox.enter(
        hide=hide, keep=cwd, readonly=readonly, writable=writable, uid=uid, limits=limits,
        parent=zygote,
    )  # fmt: skip
    os.chdir(cwd)
    _send(conn, {"sandbox": layers})
    recheck.run_in_child(request["job"], lambda message: _send(conn, message), lines)
    os._exit(0)


def serve(socket_path: str, modules: list[str]) -> None:
    """The zygote's main loop (``python -m poolgrader.zygote SOCKET [--flavor=F] [MODULE ...]``)."""
    from . import sandbox

    sandbox.set_parent_death_signal(os.getppid())  # the worker is gone: so are we
    flavor = "kernel"
    if modules and modules[0].startswith("--flavor="):
        flavor, modules = modules[0].partition("=")[2], modules[1:]
    _preimport(modules, flavor)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "listen")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    children: dict[int, socket.socket] = {}
    homes: dict[int, str] = {}  # pid -> the child's home folder, removed when it ends
    buffers: dict[socket.socket, bytes] = {}
    me = os.getpid()
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(timeout=0.05):
            if key.data == "parent":
                if not sys.stdin.buffer.read1(4096):  # the worker is gone: so are we
                    for pid in children:
                        _killpg(pid)
                    for pid in children:
                        try:
                            os.waitpid(pid, 0)
                        except ChildProcessError:
                            pass
                        sandbox.remove_cgroup(pid)
                        shutil.rmtree(homes.pop(pid, ""), ignore_errors=True)
                    os._exit(0)
            elif key.data == "listen":
                conn, _ = listener.accept()
                buffers[conn] = b""
                sel.register(conn, selectors.EVENT_READ, "client")
            else:
                conn = key.fileobj
                data = conn.recv(65536)
                if not data:
                    sel.unregister(conn)
                    buffers.pop(conn, None)
                    for pid, c in list(children.items()):
                        if c is conn:
                            _killpg(pid)
                    conn.close()
                    continue
                buffers[conn] += data
                if b"\n" not in buffers[conn]:
                    continue
                line, _, buffers[conn] = buffers[conn].partition(b"\n")
                request = json.loads(line)
                # The child's home and temporary folder: made here, so that the zygote
                # can remove it when the child ends (a student's files do not outlive the
                # kernel, for the next kernel of the same user to find).
                request["home"] = tempfile.mkdtemp(prefix="poolkit-kernel-")
                pid = os.fork()
                if pid == 0:
                    try:
                        sel.close()
                        listener.close()
                        _child(request, conn, zygote=me)
                    except BaseException:  # noqa: BLE001 (report, then exit without cleanup)
                        import traceback

                        _send(conn, {"crash": traceback.format_exc()[-3000:]})
                    finally:
                        os._exit(70)
                children[pid] = conn
                homes[pid] = request["home"]
                _send(conn, {"pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid, None)
            sandbox.remove_cgroup(pid)
            shutil.rmtree(homes.pop(pid, ""), ignore_errors=True)
            if conn is not None:
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})


def _killpg(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --------------------------------------------------------------------------- client side


class ForkedProcess:
    """A child of the zygote, managed like a ``subprocess.Popen`` (what jupyter_client expects).

    It is not our child, so its exit status comes from the zygote over the socket.
    """

    stdin = stdout = stderr = None

    def __init__(self, conn: socket.socket, pid: int, degraded: set[str] | None = None):
        self.conn, self.pid, self.returncode = conn, pid, None
        self.messages: list[dict] = []
        self._buffer = b""
        self._degraded = degraded if degraded is not None else set()

    def _read(self, timeout: float | None) -> bool:
        """Read what the zygote sent; False when nothing came within ``timeout``."""
        self.conn.settimeout(timeout)
        try:
            data = self.conn.recv(1 << 20)
        except (TimeoutError, BlockingIOError):
            return False
        except OSError:
            data = b""
        if not data:
            if self.returncode is None:
                self.returncode = -signal.SIGKILL  # the zygote went away: so did the child
            return True
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            message = json.loads(line)
            if "exit" in message:
                self.returncode = message["exit"]
            if "sandbox" in message:  # the layers this machine could not set up
                self._degraded.update(x for x in message["sandbox"] if x.startswith("NO "))
            self.messages.append(message)
        return True

    def poll(self) -> int | None:
        while self.returncode is None and self._read(0):
            pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            self._read(left)
        return self.returncode

    def message(self, key: str, timeout: float) -> dict | None:
        """The first message with ``key`` (e.g. a re-check's result), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if key in message:
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or (self.returncode is not None and not self._read(0)):
                return None
            self._read(left)

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except OSError:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass  # it ended before its exit reached us (subprocess.Popen ignores it too)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def close(self) -> None:
        self.conn.close()


class Zygote:
    """Start a zygote for this process and ask it for children."""

    def __init__(self, modules: list[str] = (), figures: bool = True, flavor: str = "kernel"):
        self.flavor = flavor
        self.twins: dict[str, Zygote] = {}  # the re-check's zygotes, started on first need
        self.degraded: set[str] = set()  # "NO ..." sandbox layers its children reported
        self.dir = tempfile.mkdtemp(prefix="poolkit-zygote-")
        self.socket_path = os.path.join(self.dir, "zygote.sock")
        # Without figures, matplotlib draws nothing: plt.show() does not render a PNG.
        env = dict(os.environ, MPLBACKEND=INLINE if figures else "Agg")
        if flavor in FLAVORS:  # a re-check process: NumPy's BLAS on its own thread only, so
            env["OPENBLAS_NUM_THREADS"] = "1"  # other threads' CPU time means student code
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "poolgrader.zygote",
                self.socket_path,
                *([f"--flavor={flavor}"] if flavor != "kernel" else []),
                *modules,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the grading zygote did not start (it said {line!r})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, request: dict) -> ForkedProcess:
        flavor = request.get("flavor", self.flavor)
        if flavor != self.flavor:  # a clean re-check process: from a zygote of that flavor
            twin = self.twins.get(flavor)
            if twin is None or not twin.alive():
                if twin is not None:
                    twin.close()
                twin = self.twins[flavor] = Zygote(flavor=flavor)
                twin.degraded = self.degraded
            return twin.spawn(request)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.socket_path)
            conn.sendall((json.dumps(request) + "\n").encode())
        except OSError as exc:
            conn.close()
            raise RuntimeError(f"the grading zygote is not running ({exc})") from exc
        child = ForkedProcess(conn, pid=-1, degraded=self.degraded)
        first = child.message("pid", timeout=30)
        if first is None:
            raise RuntimeError("the grading zygote did not answer")
        child.pid = first["pid"]
        return child

    def close(self) -> None:
        for twin in self.twins.values():
            twin.close()
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self.socket_path)
            os.rmdir(self.dir)
        except OSError:
            pass


_ZYGOTE: Zygote | None = None
_LAST_KERNEL: ForkedProcess | None = None


def last_kernel() -> ForkedProcess | None:
    """The last kernel this process started from its zygote (its exit status outlives
    jupyter_client's handle on it)."""
    return _LAST_KERNEL


def current() -> Zygote | None:
    """This process's zygote, if the grading command started one."""
    return _ZYGOTE


def start(modules: list[str], figures: bool = True) -> Zygote:
    global _ZYGOTE
    _ZYGOTE = Zygote(modules, figures)
    os.environ[ENV_SOCKET] = _ZYGOTE.socket_path
    return _ZYGOTE


class ZygoteProvisioner(LocalProvisioner):
    """Start grading kernels from the zygote when there is one, else as a plain subprocess."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        zygote = current()
        if zygote is None or os.environ.get(ENV_SOCKET) != zygote.socket_path:
            return await super().launch_kernel(cmd, **kwargs)
        # cmd is [python, -m, poolgrader.kernel, <kernel arguments> ...]
        request = {
            "kind": "kernel",
            "argv": cmd[3:],
            "cwd": str(kwargs.get("cwd") or os.getcwd()),
            "settings": sandbox_settings(),
        }
        self.process = zygote.spawn(request)
        global _LAST_KERNEL
        _LAST_KERNEL = self.process
        self.pid = self.pgid = self.process.pid
        self.cwd = request["cwd"]
        return self.connection_info


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
