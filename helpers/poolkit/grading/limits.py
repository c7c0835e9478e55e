"""Resource limits for grading kernels: memory, CPU time, processes, file size, wall time.

The limits are set with ``setrlimit`` in the kernel process before any student code runs,
so the operating system enforces them:

- memory (``RLIMIT_AS``): allocations beyond it raise ``MemoryError`` in the student's cell;
- CPU time (``RLIMIT_CPU``): the kernel is stopped with ``SIGXCPU``;
- processes (``RLIMIT_NPROC``): ``fork`` fails (not enforced for root, which is why a root
  grader also drops the kernel to an unprivileged user, see ``poolkit.grading.sandbox``);
- file size (``RLIMIT_FSIZE``): a write beyond it fails with ``OSError`` (EFBIG);
- wall time per cell: enforced by the grader, which interrupts and then kills the kernel.

Defaults suit the course's notebooks (each runs in under 15 s and needs well under 1 GiB).
Change them in ``nbgrader_config.py``, for example ``c.GradingLimits.memory_mb = 4096``.
"""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass

from traitlets import Integer
from traitlets.config import LoggingConfigurable

__all__ = ["GradingLimits", "Limits", "apply_limits", "describe_signal"]


class GradingLimits(LoggingConfigurable):
    """The limits as nbgrader configuration (``c.GradingLimits.<name>``)."""

    memory_mb = Integer(
        2048, help="Memory a kernel may allocate beyond the pre-imported libraries, in MiB."
    ).tag(config=True)
    cpu_seconds = Integer(300, help="CPU time of one grading kernel, in seconds.").tag(config=True)
    processes = Integer(
        64, help="Processes and threads a kernel may add (its own threads count too)."
    ).tag(config=True)
    file_size_mb = Integer(64, help="Largest file a kernel may write, in MiB.").tag(config=True)
    cell_timeout = Integer(
        0, help="Wall time of one cell in seconds; 0 means nbgrader's Execute.timeout."
    ).tag(config=True)

    def limits(self) -> Limits:
        return Limits(
            memory_mb=self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            processes=self.processes,
            file_size_mb=self.file_size_mb,
        )


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    cpu_seconds: int = 300
    processes: int = 64
    file_size_mb: int = 64

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"memory {self.memory_mb} MiB, CPU {self.cpu_seconds} s, "
            f"{self.processes} extra processes, files up to {self.file_size_mb} MiB"
        )


def _mapped_bytes() -> int:
    """Virtual memory this process has mapped already (pre-imported libraries included)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _user_processes(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (``RLIMIT_NPROC`` counts threads)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
            threads = next((ln for ln in status.splitlines() if ln.startswith("Threads:")), "")
            if uid_line.split()[1:2] == [str(uid)]:
                count += int(threads.split()[1]) if threads else 1
    return count


def apply_limits(limits: Limits, uid: int | None = None) -> None:
    """Set this process's rlimits. ``uid``: the user whose processes count against nproc."""
    memory = _mapped_bytes() + limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = limits.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    size = limits.file_size_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # nproc counts every process of the user: allow those running now plus the margin.
    uid = os.getuid() if uid is None else uid
    nproc = _user_processes(uid) + limits.processes if uid == os.getuid() else limits.processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def describe_signal(status: int | None, limits: Limits) -> str:
    """Why a kernel stopped, from its wait status as ``subprocess`` reports it."""
    import signal

    if status is None:
        return "the kernel stopped for an unknown reason"
    if status >= 0:
        return f"the kernel exited with code {status} (os._exit or a crash in native code)"
    sig = -status
    if sig == signal.SIGXCPU:
        return f"the kernel used more than its CPU time limit ({limits.cpu_seconds} s)"
    if sig == signal.SIGXFSZ:
        return f"the kernel wrote a file larger than {limits.file_size_mb} MiB"
    if sig == signal.SIGKILL:
        return "the kernel was killed (time limit, or the system ran out of memory)"
    try:
        name = signal.Signals(sig).name
    except ValueError:  # a number that names no signal here
        name = str(sig)
    return f"the kernel was stopped by signal {name}"
