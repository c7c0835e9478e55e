"""Real faults during a class run of ``python -m poolgrader autograde``.

One class of one assignment is graded once with the real grader, and while grading
kernels run chosen students, the test SIGKILLs from outside, each fault on a student of
its own: the worker grading that student (as the OOM killer would; for one student on
both attempts), the zygote that forks its kernels, and the kernel itself. The run must
exit 0, leave no process behind, give every student a gradebook row (read with
nbgrader's Gradebook API) and notes that say what happened, and correct submissions keep
full marks. (One run for every fault: a run per fault graded the class three times.)

Every process of a run carries a marker in its environment (``/proc/<pid>/environ``,
which a forked kernel inherits from the zygote), so the test finds the run's processes
without knowing how the grader starts them. It waits for "a kernel is running student
X" by polling the process tree, never by sleeping a fixed time. The run gets a temporary
folder of its own (``TMPDIR``), which must be empty when the run ends: what killed
workers, zygotes and kernels leave behind is removed too.

One correct submission also probes from its kernel what it must not reach: a TCP
listener of the test, a host name, ``nbgrader_config.py`` (where a PostgreSQL URL holds
its password) and the gradebook. Each must fail, and the submission keeps full marks.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
from pathlib import Path

import nbformat
import pytest
from attacks import write_submission
from nbgrader.api import Gradebook
from nbgrader_course import BIN, filled_release
from wrong_answers import WRONG_ANSWERS

ASSIGNMENT = "01-pooling-basics"
MARK = "POOLKIT_TEST_FAULT_RUN"
# Students are graded in the order of their names: these two first, one per worker.
TARGET = "0-target"  # a correct submission whose worker is killed once
TWICE = "1-twice"  # a correct submission whose worker is killed on both attempts
ZYGOTE = "2-zygote"  # a correct submission whose kernel's zygote is killed
KERNEL = "3-kernel"  # a correct submission whose kernel is killed
CORRECT = ["correct"]  # a correct submission that nothing happens to
NETWORK = "network"  # a correct submission whose answer cell also tries the network

# Appended to the first answer cell: connect to the test's listener and resolve a name.
PROBE = """
import socket as _socket
def _try(what):
    try:
        what()
        return "ok"
    except OSError as _e:
        return f"{{type(_e).__name__}}: {{_e}}"
_connect = _try(lambda: _socket.socket().connect(("127.0.0.1", {port})))
_resolve = _try(lambda: _socket.getaddrinfo("pypi.org", 443))
_links = sorted(_name for _, _name in _socket.if_nameindex())
print(f"connect: {{_connect}} | resolve: {{_resolve}} | interfaces: {{_links}}")
import os as _os
def _read(path):  # the kernel's folder is grading/autograded/<student>/<assignment>
    try:
        with open(path, "rb") as _f:
            return f"read {{len(_f.read())}} bytes"
    except OSError as _e:
        return f"{{type(_e).__name__}}: {{_e}}"
for _name, _path in [("config", "../../../../nbgrader_config.py"),
                     ("gradebook", "../../../gradebook.db")]:
    print(f"{{_name}}: {{_read(_path)}} | exists: {{_os.path.exists(_path)}}")
"""


class Listener:
    """A TCP listener on 127.0.0.1 in the test process that counts its connections."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module")
def listener():
    listening = Listener()
    socket.create_connection(("127.0.0.1", listening.port), timeout=5).close()  # control
    deadline = time.monotonic() + 5
    while listening.accepted < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listening.accepted == 1, "the listener does not accept connections from outside"
    yield listening
    listening.sock.close()


def _slow_correct():
    """A correct submission with one extra cell that takes a second: a wider window."""
    nb = filled_release(ASSIGNMENT)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(1)"))
    return nb


@pytest.fixture(scope="module")
def built_class(tmp_path_factory, listener, generated):
    """The class, built once: 8 students (6 correct, 1 wrong, 1 blank), nothing graded."""
    course = generated(ASSIGNMENT, tmp_path_factory.mktemp("faults"))
    blank = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    answer_id, source, _ = WRONG_ANSWERS[ASSIGNMENT][0]
    wrong = filled_release(ASSIGNMENT, {answer_id: source})
    subs = {**{s: filled_release(ASSIGNMENT) for s in CORRECT}, "blank": blank, "wrong": wrong}
    subs[TARGET] = subs[TWICE] = subs[ZYGOTE] = subs[KERNEL] = _slow_correct()
    probing = filled_release(ASSIGNMENT)
    first = next(c for c in probing.cells if c.metadata.get("nbgrader", {}).get("solution"))
    first.source += "\n" + PROBE.format(port=listener.port)
    subs[NETWORK] = probing
    for student, nb in subs.items():
        payload = types.SimpleNamespace(kind="nb", payload=nb)
        write_submission(course, student, ASSIGNMENT, payload)
    return course, sorted(subs)


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _processes(marker: str) -> list[int]:
    """Every live (not zombie) process that carries the run's marker."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and marker.encode() in _environ(int(entry)):
            if _stat(int(entry))[0] != "Z":
                found.append(int(entry))
    return found


def _stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) of a process, or ("", 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", 0
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _kernel_of(marker: str, student: str, exclude: set[int]) -> int | None:
    """A grading kernel (a child of a zygote) whose working folder is the student's."""
    for pid in _processes(marker):
        if pid in exclude:
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            parent_cmd = Path(f"/proc/{_stat(pid)[1]}/cmdline").read_bytes()
        except OSError:
            continue
        if cwd.endswith(f"/{student}/{ASSIGNMENT}") and b"poolgrader.zygote" in parent_cmd:
            return pid
    return None


def _kill_when_running(run, marker, plan: dict[str, list], limit=900.0) -> None:
    """For each student, in turn, wait until a new kernel runs them, then kill what
    ``plan[student][i](kernel_pid)`` returns: one kill per new kernel, for all students at
    once (their kernels may run side by side)."""
    plan = {student: list(kills) for student, kills in plan.items()}
    seen: set[int] = set()
    deadline = time.monotonic() + limit
    while any(plan.values()):
        for student, kills in plan.items():
            kernel = _kernel_of(marker, student, seen) if kills else None
            if kernel is not None:
                seen.add(kernel)
                os.kill(kills.pop(0)(kernel), signal.SIGKILL)
        if run.poll() is not None:
            pytest.fail(f"the run ended before the faults {plan}: {run.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no kernel ran the students of {plan} within {limit:.0f} s")
        time.sleep(0.1)


def _kernel(pid: int) -> int:
    return pid


def _zygote(kernel: int) -> int:
    return _stat(kernel)[1]


def _worker(kernel: int) -> int:
    return _stat(_stat(kernel)[1])[1]


def _grade_with_faults(built_class, tmp_path: Path, inject):
    """Grade a fresh copy of the class; ``inject(run, marker)`` does the killing."""
    source, students = built_class
    course = tmp_path / "course"
    shutil.copytree(source, course)
    marker = f"{MARK}={uuid.uuid4().hex}"
    name, value = marker.split("=")
    # Traversable by the kernels' users (pytest's own folders are 0700).
    scratch = Path(tempfile.mkdtemp(prefix="faults-tmp-", dir="/tmp"))
    scratch.chmod(0o711)
    env = dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", TMPDIR=str(scratch),
        **{name: value},
    )  # fmt: skip
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "poolgrader", "autograde", ASSIGNMENT, "--workers", "2",
         "--timeout", "30"],
        cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        inject(run, marker)
        injected = time.monotonic() - started
        out, err = run.communicate(timeout=1200)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    seconds = time.monotonic() - started
    deadline = time.monotonic() + 5  # SIGKILLed processes take a moment to disappear
    while (left := _processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    temporary = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    shutil.rmtree(scratch, ignore_errors=True)
    url = f"sqlite:///{course / 'grading' / 'gradebook.db'}"
    totals = {}
    with Gradebook(url) as gb:
        for student in students:
            # MissingEntry if the student has no row
            sub = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            auto = [g for g in sub.grades if g.cell.cell_type == "code"]
            totals[student] = (sum(g.score for g in auto), sum(g.max_score for g in auto))
    probe = course / "grading" / "autograded" / NETWORK / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    printed = "".join(
        out.get("text", "")
        for cell in nbformat.read(probe, as_version=4).cells
        for out in cell.get("outputs", [])
    ).splitlines()
    with (course / "grading" / "reports" / f"{ASSIGNMENT}.csv").open() as f:
        notes = {row["student"]: row["notes"] for row in csv.DictReader(f)}
    graded = sum(1 for s in students if s in notes and not notes[s].startswith("ERROR"))
    print(f"\n{inject.__name__}: exit {run.returncode}, {graded}/{len(students)} graded, "
          f"{seconds:.1f} s (faults injected by {injected:.1f} s)")  # fmt: skip
    return types.SimpleNamespace(
        code=run.returncode, out=out, err=err, left=left, totals=totals, notes=notes,
        temporary=temporary, course=course,
        network=next((t for t in printed if t.startswith("connect:")), "no probe output"),
        files={t.split(":")[0]: t for t in printed if t.startswith(("config:", "gradebook:"))},
    )  # fmt: skip


def _check(result, killed_once: list[str]) -> None:
    assert result.code == 0, result.out + result.err
    assert result.left == [], f"processes of the run still running: {result.left}"
    assert result.temporary == [], f"the run left temporary files: {result.temporary[:10]}"
    full = {s: t for s, t in result.totals.items() if s in (*CORRECT, NETWORK, *killed_once)}
    assert all(score == top > 0 for score, top in full.values()), result.totals
    assert result.totals["blank"][0] == 0
    assert 0 < result.totals["wrong"][0] < result.totals["wrong"][1]


def _kill_all(run, marker):
    """Every fault, each on a student of its own: TARGET's worker, TWICE's worker on both
    attempts, ZYGOTE's zygote and KERNEL's kernel (students are taken in name order, two at
    a time, so the kills come one or two at a time)."""
    plan = {
        TARGET: [_worker], TWICE: [_worker, _worker], ZYGOTE: [_zygote], KERNEL: [_kernel],
    }  # fmt: skip
    _kill_when_running(run, marker, plan)


@pytest.fixture(scope="module")
def faulted(built_class, tmp_path_factory):
    """One run of the class with every fault injected (one run, not one per fault: each
    grades the whole class, and the faults hit different students)."""
    return _grade_with_faults(built_class, tmp_path_factory.mktemp("run"), _kill_all)


def test_the_run_ends_complete_and_clean(faulted):
    """Exit 0, every student graded, no process and no temporary file left, correct
    submissions (those graded again included) at full marks."""
    _check(faulted, killed_once=[TARGET, ZYGOTE, KERNEL])


def test_a_worker_killed_while_grading(faulted):
    """The worker dies (SIGKILL) while its kernel grades TARGET, and twice for TWICE."""
    assert "died (killed by SIGKILL); graded again" in faulted.notes[TARGET]
    assert faulted.totals[TWICE][0] == 0
    assert "died (killed by SIGKILL), twice; graded as the blank release" in faulted.notes[TWICE]


def test_the_zygote_killed_while_its_kernel_grades(faulted):
    assert "the process that starts grading kernels died" in faulted.notes[ZYGOTE]
    assert "graded again" in faulted.notes[ZYGOTE]


def test_a_kernel_killed_from_outside(faulted):
    assert "kernel was killed" in faulted.notes[KERNEL]  # while it started, or in a cell
    assert "graded again" in faulted.notes[KERNEL]


def test_no_network_from_a_grading_kernel(faulted, listener):
    """NETWORK's answer connects to 127.0.0.1 and resolves a host name: both fail, and it
    is graded normally."""
    print(f"network probe inside the kernel: {faulted.network}")
    assert faulted.totals[NETWORK][0] == faulted.totals[NETWORK][1] > 0  # graded normally
    connect, resolve, interfaces = faulted.network.strip().split(" | ")
    assert "not allowed while grading: using the network (socket.connect)" in connect
    assert "not allowed while grading: using the network (socket.getaddrinfo)" in resolve
    assert interfaces == "interfaces: ['lo']"  # a network namespace of its own
    assert listener.accepted == 1  # the test's own control connection only


def test_no_instructor_files_from_a_grading_kernel(faulted):
    """NETWORK's answer also reads nbgrader_config.py and the gradebook: both layers
    refuse, the open (audit hook) and the file itself (not in the kernel's view of the file
    system). Control: both files are there for the grader."""
    print(f"file probe inside the kernel: {faulted.files}")
    assert (faulted.course / "nbgrader_config.py").stat().st_size > 0
    assert (faulted.course / "grading" / "gradebook.db").stat().st_size > 0
    assert set(faulted.files) == {"config", "gradebook"}, faulted.files
    for name, line in faulted.files.items():
        read, exists = line.split(" | ")
        assert read.startswith(f"{name}: PermissionError: not allowed while grading: opening")
        assert exists == "exists: False", line  # hidden, not only refused
    assert faulted.totals[NETWORK][0] == faulted.totals[NETWORK][1] > 0  # graded normally


def test_signalling_a_child_that_has_already_ended_is_not_an_error():
    """A re-check child can end between its last message and the grader's kill (CI: the
    print-flood attack of 05 got an ERROR row from the ProcessLookupError). No process has
    pid_max as its id, so this signals nothing real."""
    from poolgrader.zygote import ForkedProcess

    gone = int(Path("/proc/sys/kernel/pid_max").read_text())
    ours, theirs = socket.socketpair()
    try:
        handle = ForkedProcess(ours, gone)
        handle.kill()
        handle.terminate()
    finally:
        ours.close()
        theirs.close()
