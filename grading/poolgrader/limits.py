"""Resource limits for grading kernels: memory, CPU time, processes, file size, wall time.

The limits are set with ``setrlimit`` in the kernel process before any student code runs,
so the operating system enforces them:

- memory (``RLIMIT_AS``): allocations beyond it raise ``MemoryError`` in the student's cell;
- CPU time (``RLIMIT_CPU``): the kernel is stopped with ``SIGXCPU``;
- processes (``RLIMIT_NPROC``): ``fork`` fails (not enforced for root, which is why a root
  grader also drops the kernel to an unprivileged user, see ``poolgrader.sandbox``);
- file size (``RLIMIT_FSIZE``): a write beyond it fails with ``OSError`` (EFBIG);
- wall time per cell: enforced by the grader, which interrupts and then kills the kernel
  (nbgrader's ``Execute.timeout``);
- printed output per cell: the kernel stops sending a cell's text past ``output_chars``.

Where ``/proc`` is missing (macOS), the memory limit cannot be placed above what the
pre-imported libraries map and the processes of a user cannot be counted: those two limits
are then not set, and :func:`apply_limits` says so in the lines it returns (the report's
notes); the other limits, the audit hook and the clean re-check still apply.

Defaults suit the course's notebooks (each runs in under 15 s and needs well under 1 GiB).
Change them in ``nbgrader_config.py``, for example ``c.GradingLimits.memory_mb = 4096``.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import asdict, dataclass

from traitlets import Integer
from traitlets.config import LoggingConfigurable

__all__ = ["GradingLimits", "Limits", "apply_limits", "cap_output", "describe_signal"]


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
    output_chars = Integer(
        200_000, help="Text one cell may print; the rest is dropped with a note."
    ).tag(config=True)

    def limits(self) -> Limits:
        return Limits(
            memory_mb=self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            processes=self.processes,
            file_size_mb=self.file_size_mb,
            output_chars=self.output_chars,
        )


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    cpu_seconds: int = 300
    processes: int = 64
    file_size_mb: int = 64
    output_chars: int = 200_000

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"memory {self.memory_mb} MiB, CPU {self.cpu_seconds} s, "
            f"{self.processes} extra processes, files up to {self.file_size_mb} MiB, "
            f"{self.output_chars} characters of output per cell"
        )


_STATM = "/proc/self/statm"
_PROC = "/proc"


def _mapped_bytes() -> int:
    """Virtual memory this process has mapped already (pre-imported libraries included)."""
    with open(_STATM) as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _user_processes(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (``RLIMIT_NPROC`` counts threads)."""
    count = 0
    for entry in os.listdir(_PROC):
        if entry.isdigit():
            try:
                with open(f"{_PROC}/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
            threads = next((ln for ln in status.splitlines() if ln.startswith("Threads:")), "")
            if uid_line.split()[1:2] == [str(uid)]:
                count += int(threads.split()[1]) if threads else 1
    return count


def apply_limits(limits: Limits, uid: int | None = None) -> list[str]:
    """Set this process's rlimits; return what was set, and each limit that could not be.

    ``uid``: the user whose processes count against nproc (default: this process's).
    """
    said = [f"limits: {limits.summary()}"]
    try:
        memory = _mapped_bytes() + limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (OSError, ValueError) as exc:
        said.append(f"NO memory limit (the memory already mapped is unknown: {exc})")
    cpu = limits.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    size = limits.file_size_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # nproc counts every process of the user: allow those running now plus the margin.
    if uid is not None and uid != os.getuid():
        nproc = limits.processes  # a user of its own, with nothing running yet
    else:
        try:
            nproc = _user_processes(os.getuid()) + limits.processes
        except OSError as exc:
            nproc = None
            said.append(f"NO process limit (this user's processes cannot be counted: {exc})")
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return said


def cap_output(app, limit: int | None) -> None:
    """Stop sending a cell's printed text once it passed ``limit`` characters, with a note.

    The one place where output is capped, for kernels started either way.

    Capping in the kernel, not in the grader, is what makes a loop that prints a million
    lines cheap: the text is never sent.
    """
    if not limit:
        return
    count = [0]

    def reset(*_):
        count[0] = 0

    app.shell.events.register("pre_execute", reset)
    note = f"\n[output stopped here: more than {limit} characters]\n"
    for stream in (sys.stdout, sys.stderr):

        def capped(text, write=stream.write):
            seen = count[0]
            count[0] = seen + len(text)
            if seen >= limit:
                return len(text)
            # Strictly below: output that reaches the limit exactly (10**5 printed numbers
            # are 588,890 characters, and 0..35184 with newlines are exactly 200,000) must
            # still get the note, or the student never learns why the output stopped.
            if count[0] < limit:
                return write(text)
            write(text[: limit - seen] + note)
            return len(text)

        stream.write = capped


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
