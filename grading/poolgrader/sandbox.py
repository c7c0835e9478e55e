"""Keep a student's code away from the grader's files, the other students and the machine.

A grading kernel (and each clean re-check process) calls :func:`enter` before it runs
any student code. Three layers, each reported in the grading report:

1. **A private view of the file system** (Linux mount namespace; a user namespace too when
   the grader is not root). The gradebook's folder, ``solutions/``, every ``grading/``
   folder and ``.git`` are covered by empty read-only folders, except the kernel's own
   working folder; poolkit's files and the Python environment are mounted read-only.
   Reading the solutions then finds nothing, and writing into poolkit fails with
   "Read-only file system". /proc shows the process itself only, so no other process's
   ``/proc/<pid>/cwd`` or ``root`` leads back to the real folders. This is enforced by the
   kernel of the operating system.
2. **An unprivileged user** when the grader runs as root: the process limit
   (``RLIMIT_NPROC``) is not enforced for root, so the kernel switches to a user id of its
   own (one per worker), and processes it leaves behind are killed by that id.
3. **A Python audit hook** that refuses, inside the student's process, to start processes
   (``fork``, ``subprocess``, ``os.system``), to load native code with ``ctypes``, to
   signal other processes, to walk the garbage collector (which would find the hook), and
   to open files in the hidden folders. Audit hooks are not a sandbox on their own
   (native code could go around them), which is why layers 1 and 2 exist and why every
   exercise is also re-checked in a separate process (``poolgrader.recheck``).

When namespaces are not available (macOS, containers that forbid them), layer 1 is
skipped and the report says so; layers 2 and 3 and the clean re-check still apply.
"""

from __future__ import annotations

import ctypes
import os
import posix
import sys
from pathlib import Path

__all__ = [
    "SandboxError",
    "enter",
    "install_audit_hook",
    "isolate_filesystem",
    "isolate_network",
    "set_parent_death_signal",
]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
# statvfs f_flag bits -> mount flags that a remount inside a user namespace must keep
_ST_TO_MS = {1: _MS_RDONLY, 2: _MS_NOSUID, 4: _MS_NODEV, 8: _MS_NOEXEC, 1024: _MS_NOATIME,
             2048: _MS_NODIRATIME, 4096: _MS_RELATIME}  # fmt: skip


class SandboxError(RuntimeError):
    """The sandbox could not be set up (the caller decides whether to go on without it)."""


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "unshare"):  # not Linux
        raise SandboxError("this system has no Linux namespaces")
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _unshare(libc, flags: int, what: str) -> None:
    _check(libc.unshare(flags), what)


def isolate_network() -> None:
    """Enter a new network namespace: no interface but a loopback that is down.

    Every address is then unreachable, 127.0.0.1 included, and so is the DNS server.
    Sockets opened before (the kernel's, to the grader) stay in the grader's namespace.
    Needs the privileges :func:`isolate_filesystem` leaves (root, or the user namespace).
    """
    _unshare(_libc(), _CLONE_NEWNET, "unshare(CLONE_NEWNET)")


def set_parent_death_signal(parent: int) -> None:
    """Be SIGKILLed when the parent dies (Linux ``PR_SET_PDEATHSIG``).

    Call it after the last change of user id (which clears it). If the parent died
    before, exit now: nothing would ever kill this process.
    """
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(70)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = [None if s is None else os.fsencode(str(s)) for s in (source, target, fstype)]
    data_p = data.encode() if data else None
    _check(libc.mount(enc[0], enc[1], enc[2], flags, data_p), f"mount {target}")


def _locked_flags(path: Path) -> int:
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS.items() if flags & st)


def isolate_filesystem(hide: list[Path], keep: Path | None, readonly: list[Path]) -> None:
    """Enter a private mount namespace; hide folders (but ``keep``); make others read-only.

    A folder of ``readonly`` (or ``keep``) inside a hidden one is shown again at its place
    (read-only; ``keep`` writable): hiding the whole course folder and showing back poolkit,
    the Python environment and the kernel's own folder hides everything else in it, files
    such as ``nbgrader_config.py`` included, and whatever is added to it later.
    """
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        _unshare(libc, _CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    else:
        _unshare(libc, _CLONE_NEWUSER | _CLONE_NEWNS, "unshare(CLONE_NEWUSER)")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    shown = [p for p in ([keep] if keep else []) + list(readonly) if p.is_dir()]
    # Opened before anything is hidden: the bind mounts below come from these handles.
    fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in shown}
    try:
        for folder in hide:
            if not folder.is_dir():
                continue
            _mount(libc, "tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=755")
            for path in shown:
                if path.is_relative_to(folder) and path != folder:
                    (folder / path.relative_to(folder)).mkdir(parents=True, exist_ok=True)
                    _mount(libc, f"/proc/self/fd/{fds[path]}", path, None, _MS_BIND | _MS_REC)
            flags = _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
            _mount(libc, None, folder, None, flags)
        for folder in readonly:
            if not folder.is_dir():
                continue
            locked = _locked_flags(folder)
            _mount(libc, folder, folder, None, _MS_BIND | _MS_REC)
            _mount(libc, None, folder, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | locked)
        _private_proc(libc)
    finally:
        for fd in fds.values():
            os.close(fd)


# What a /proc that shows only the process itself still offers: system information files.
_PROC_FILES = ("cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version", "filesystems")
_MNT_DETACH = 2


def _private_proc(libc) -> None:
    """Cover /proc with a view of this process only (``/proc/self``) and a few system files.

    The hidden folders are hidden in this mount namespace only: through the full /proc,
    ``/proc/<pid>/cwd`` and ``/proc/<pid>/root`` of any process outside it (the grader,
    the instructor's shell) lead back to the real ``solutions/``. Built on a tmpfs in a
    scratch folder, bound over /proc, then the scratch mount is detached.
    """
    import tempfile

    pid = os.getpid()
    view = Path(tempfile.mkdtemp(prefix="proc-"))
    _mount(libc, "tmpfs", view, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=16k,mode=755")
    (view / "self").mkdir()
    _mount(libc, f"/proc/{pid}", view / "self", None, _MS_BIND)
    for name in _PROC_FILES:
        source = Path("/proc") / name
        if source.exists():
            (view / name).touch()
            _mount(libc, source, view / name, None, _MS_BIND)
    (view / "mounts").symlink_to("self/mounts")
    (view / "thread-self").symlink_to("self")  # close enough: threads share the process's view
    _mount(libc, None, view, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount(libc, view, "/proc", None, _MS_BIND | _MS_REC)
    libc.umount2(os.fsencode(str(view)), _MNT_DETACH)
    try:
        view.rmdir()
    except OSError:
        pass


def others_can_read_python() -> bool:
    """Whether an unprivileged user could import from this Python (``/root/...`` is 0700)."""
    import stat

    for top in {sys.prefix, sys.base_prefix, os.path.dirname(os.__file__)}:
        path = Path(top).resolve()
        for folder in [path, *path.parents]:
            if not folder.stat().st_mode & stat.S_IXOTH:
                return False
    return True


def limit_processes_cgroup(count: int) -> str:
    """Put this process in a new cgroup with ``pids.max``; root only (v2 or v1 pids)."""
    for base in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/pids")):
        if (base / "cgroup.procs").exists() and (
            (base / "cgroup.controllers").exists() or base.name == "pids"
        ):
            group = base / f"poolkit-grading-{os.getpid()}"
            try:
                group.mkdir(exist_ok=True)
                (group / "pids.max").write_text(str(count))
                (group / "cgroup.procs").write_text(str(os.getpid()))
                return f"cgroup {group} with pids.max {count}"
            except OSError:
                continue
    raise SandboxError("no writable pids cgroup")


def remove_cgroup(pid: int) -> None:
    """Kill what is left in a grading kernel's cgroup and remove it (called by the zygote)."""
    import signal

    for base in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/pids")):
        group = base / f"poolkit-grading-{pid}"
        if group.is_dir():
            try:
                for line in (group / "cgroup.procs").read_text().split():
                    os.kill(int(line), signal.SIGKILL)
                group.rmdir()
            except OSError:
                pass


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (and the same gid) for good; only root can do this."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


_PROCESS_EVENTS = frozenset(
    {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
     "subprocess.Popen", "os.startfile", "pty.spawn"}
)  # fmt: skip
_WRITE_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
     "os.utime", "shutil.rmtree", "os.chflags", "os.setxattr", "os.removexattr"}
)  # fmt: skip
_LINK_EVENTS = frozenset({"os.link", "os.symlink"})
_LIST_EVENTS = frozenset({"os.listdir", "os.scandir"})
_GC_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
# Network use through Python's socket module (a backstop where there is no network
# namespace); Unix sockets stay allowed.
_SOCKET_EVENTS = frozenset({"socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg"})
_RESOLVE_EVENTS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_audit_hook(hidden: list[Path], writable: list[Path], shown: list[Path] = ()) -> None:
    """Refuse process creation, ctypes, signals to others, gc walks and forbidden file access.

    Files in ``hidden`` folders are refused, except in the ``shown`` folders inside them
    (what :func:`isolate_filesystem` shows again: poolkit, the Python environment).

    The hook holds its own references to C functions (``posix.getcwd``, ``posix.getpid``)
    so that patching ``os`` from student code cannot change what it sees.
    """
    hidden_t = tuple(str(p) for p in hidden)
    shown_t = tuple(str(p) for p in shown)
    writable_t = tuple(str(p) for p in writable)
    getcwd, getpid, fspath = posix.getcwd, posix.getpid, os.fspath
    sep = "/"
    unix = getattr(__import__("socket"), "AF_UNIX", None)

    def absolute(path) -> str | None:
        if isinstance(path, int):
            return None
        try:
            path = fspath(path)
        except TypeError:
            return None
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        if not path.startswith(sep):
            path = getcwd() + sep + path
        parts: list[str] = []
        for part in path.split(sep):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(part)
        return sep + sep.join(parts)

    def inside(path: str, roots: tuple[str, ...]) -> bool:
        return any(path == r or path.startswith(r + sep) for r in roots)

    def refuse(what: str):
        raise PermissionError(f"not allowed while grading: {what}")

    def hook(event: str, args: tuple) -> None:
        if event in _PROCESS_EVENTS:
            refuse(f"starting a process ({event})")
        if event.startswith("ctypes."):
            refuse("loading native code with ctypes")
        if event in _GC_EVENTS:
            refuse(f"{event} (walking the interpreter's objects)")
        if event in _RESOLVE_EVENTS:
            refuse(f"using the network ({event})")
        if event in _SOCKET_EVENTS and getattr(args[0], "family", None) != unix:
            refuse(f"using the network ({event})")
        if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "os.kill" or args[0] != getpid():
                refuse(f"sending a signal to another process ({event})")
        if event == "object.__setattr__" and args and args[0] is hook:
            refuse("changing the grader's audit hook")
        if event == "open":
            path = absolute(args[0])
            if path is None:
                return
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if inside(path, hidden_t) and not inside(path, shown_t):
                refuse(f"opening {path}")
            if writing and not inside(path, writable_t):
                refuse(f"writing {path}")
        elif event in _LIST_EVENTS and args:
            path = absolute(args[0]) if args[0] is not None else getcwd()
            if path and inside(path, hidden_t) and not inside(path, shown_t):
                refuse(f"listing {path}")
        elif event in _WRITE_EVENTS or event in _LINK_EVENTS:
            for arg in args[:2]:
                path = absolute(arg) if isinstance(arg, (str, bytes, os.PathLike)) else None
                if path and (event in _LINK_EVENTS or not inside(path, writable_t)):
                    refuse(f"{event} on {path}")

    sys.addaudithook(hook)


def enter(
    *,
    hide: list[Path],
    keep: Path | None,
    readonly: list[Path],
    writable: list[Path],
    uid: int | None,
    limits,
    before_user_switch=None,
    parent: int | None = None,
) -> list[str]:
    """Apply every layer that this machine allows; return a description of each one.

    The order matters: the file system view needs privileges; the process limit counts
    the processes of the user the kernel is about to become; ``before_user_switch`` (the
    kernel reading its connection file, which only the grader may read, and opening its
    sockets to the grader) runs as the grader, before the network is cut; the parent-death
    signal is set after the user switch, which clears it; the audit hook comes last, just
    before student code. ``parent``: the process whose death kills this one.
    """
    from .limits import apply_limits

    layers = []
    try:
        isolate_filesystem(hide, keep, readonly)
        layers.append(
            "private file system view (grading folders hidden, poolkit read-only, "
            "/proc of this process only)"
        )
    except (SandboxError, OSError) as exc:
        layers.append(f"NO private file system view ({exc}); the audit hook guards files")
    switch = os.getuid() == 0 and uid is not None and others_can_read_python()
    layers += apply_limits(limits, uid=uid if switch else None)
    if os.getuid() == 0 and not switch:  # root ignores RLIMIT_NPROC: use a pids cgroup
        try:
            layers.append(limit_processes_cgroup(limits.processes + 16))
        except SandboxError as exc:
            layers.append(f"NO process limit for root ({exc}); the audit hook blocks fork")
    if before_user_switch is not None:
        before_user_switch()
    try:
        isolate_network()
        layers.append("no network (a network namespace of its own, loopback down)")
    except (SandboxError, OSError) as exc:
        layers.append(f"NO network namespace ({exc}); the audit hook refuses sockets")
    if switch:
        drop_privileges(uid)
        layers.append(f"unprivileged user {uid}")
    if parent is not None:
        set_parent_death_signal(parent)
    install_audit_hook(hide, writable, shown=[*([keep] if keep else []), *readonly])
    layers.append(
        "audit hook (no processes, ctypes, signals, gc walks, hidden files or network sockets)"
    )
    return layers
