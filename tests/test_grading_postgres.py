"""Grading beyond one machine, proven: sharded runs against a real PostgreSQL gradebook.

``grading/README.md`` ("Beyond one machine") tells instructors with large classes to put the
gradebook in PostgreSQL and run ``python -m poolgrader autograde --shard K/N`` as N
jobs. This module does exactly that, with the README's own configuration and commands:

- a real PostgreSQL server (Debian's ``postgresql``, installed by ``.ci/run``), started by
  the ``postgres`` fixture as a throwaway cluster (``initdb``, ``pg_ctl``) listening on a
  Unix socket in a temporary folder only, and stopped and removed afterwards, also when a
  test fails. Under root (as in CI) the cluster runs as the unprivileged ``postgres``
  user the package creates (``initdb`` refuses root), through ``runuser``;
- the README's ``c.CourseDirectory.db_url`` line, with only the host changed to the
  socket folder (``postgresql://USER:PASSWORD@/DB?host=/socket/folder``, the form the
  README gives for a server on the same machine): the role, password and database are the
  README's, and the cluster checks the password (``scram-sha-256``);
- the README's commands, which the test checks are in the README word for word: the
  gradebook made and the assignment released once, then one class of ten (correct, wrong,
  blank, half-done) graded as two shards started together, then the class report, the
  feedback and the export;
- the scores each submission was built to earn (``built_to_earn``: a kept answer's tests
  score their points, a wrong answer's test 0, a blank answer 0), which the shards must
  give cell by cell;
- a shard killed (SIGKILL to its whole process group) mid-run and run again alone: the
  gradebook ends complete, with no duplicate rows, and a manual grade entered before the
  re-run survives.

The figures the closing note of issue 17 asked for are printed (run with ``-s``): the wall
time of the two shards, the rows and scores compared, and the kill-and-resume result. They
are measured on whatever else the machine is doing, so compare them within one run only.
"""

from __future__ import annotations

import collections
import copy
import csv
import hashlib
import math
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader_course import (
    BIN,
    REPO,
    copy_course,
    filled_release,
    is_answer,
    nb_meta,
    notebook_path,
)
from poolgrader.autograde import parse_shard, shard_of
from poolkit import rules
from wrong_answers import WRONG_ANSWERS

ASSIGNMENT = "01-pooling-basics"
WRITTEN = "max_vs_avg"  # the assignment's manually graded answer
README = REPO / "grading" / "README.md"
MARK = "POOLKIT_TEST_SHARD_RUN"  # in the environment of every process of one shard run
TIMEOUT = 1200  # seconds one grading command may take on a loaded 2-core machine

# --- the shard split (no database) -------------------------------------------------------


def _synthetic_ids(n: int) -> list[str]:
    """Student ids as a registrar makes them: one name-like id and one numbered id each."""
    first = ["ana", "bo", "chen", "dara", "eli", "femi", "gus", "hana", "ivo", "jun"]
    return [f"{first[i % 10]}.{i // 10:03d}" if i % 2 else f"s{2024000 + i}" for i in range(n)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 8, 16])
def test_shards_split_a_class_of_1000_evenly(count):
    ids = _synthetic_ids(1000)
    sizes = collections.Counter(shard_of(s, count) for s in ids)
    assert set(sizes) == set(range(1, count + 1))  # every shard gets students
    # A good hash puts each id in a shard independently with probability 1/count: each
    # shard's size is then binomial, so more than 4 standard deviations off is a bad hash
    # (chance about 6e-5 per shard), not bad luck.
    mean = len(ids) / count
    sd = math.sqrt(len(ids) * (1 / count) * (1 - 1 / count))
    for shard, size in sizes.items():
        assert abs(size - mean) <= 4 * sd + 1e-9, (shard, size, mean, sd)


def test_first_letter_shards_are_uneven_where_the_hash_is_not():
    """Why the README no longer shards by first letter: real ids cluster on letters."""
    ids = _synthetic_ids(1000)
    by_letter = collections.Counter(s[0] for s in ids)
    by_hash = collections.Counter(shard_of(s, len(by_letter)) for s in ids)
    assert max(by_letter.values()) > 2 * len(ids) / len(by_letter)  # "s..." is half the class
    assert max(by_hash.values()) < 1.5 * len(ids) / len(by_letter)


def test_every_student_is_in_exactly_one_shard_and_always_the_same():
    ids = _synthetic_ids(1000) + ["", "Émilie", "李雷", "a b", "x" * 300]
    for count in (2, 5, 7):
        shards = {k: {s for s in ids if shard_of(s, count) == k} for k in range(1, count + 1)}
        assert set().union(*shards.values()) == set(ids)
        assert sum(len(v) for v in shards.values()) == len(ids)  # no student in two shards
    # The same in another process (Python's own hash() is salted per process; sha256 is not).
    script = (
        "from poolgrader.autograde import shard_of\n"
        "import sys\n"
        "print(','.join(str(shard_of(s, 7)) for s in sys.argv[1:]))\n"
    )
    sample = ids[:50]
    other = subprocess.run(
        [sys.executable, "-c", script, *sample],
        capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONHASHSEED="12345"),
    )  # fmt: skip
    assert other.stdout.strip() == ",".join(str(shard_of(s, 7)) for s in sample)
    # and the documented rule: sha256 of the UTF-8 id, first 8 bytes big-endian, mod N, plus 1
    digest = hashlib.sha256(b"ana.000").digest()
    assert shard_of("ana.000", 7) == int.from_bytes(digest[:8], "big") % 7 + 1


@pytest.mark.parametrize(
    "text,expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 8 ", (3, 8)), ("16/16", (16, 16))]
)
def test_shard_values_parse(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    "text", ["0/4", "5/4", "1/0", "2", "a/b", "-1/4", "1/-4", "2/4/8", "", "²/4"]
)
def test_bad_shard_values_are_refused_with_the_rule(text):
    with pytest.raises(ValueError, match=r"must be K/N, two whole numbers with 1 <= K <= N"):
        parse_shard(text)


@pytest.mark.parametrize("text", ["0/4", "a/b"])
def test_the_command_refuses_a_bad_shard_with_exit_2(text, tmp_path):
    # From the command line: exit 2, and the message names the argument and the rule,
    # before anything is graded (there is no course in tmp_path).
    run = subprocess.run(
        [sys.executable, "-m", "poolgrader", "autograde", ASSIGNMENT, f"--shard={text}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "argument --shard: must be K/N, two whole numbers with 1 <= K <= N" in run.stderr
    assert f"got {text!r}" in run.stderr
    assert "Traceback" not in run.stderr


# --- the README -------------------------------------------------------------------------


def readme_section() -> str:
    """The README's "Beyond one machine" section, up to the next heading of its level."""
    text = README.read_text()
    start = text.index("### Beyond one machine")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else len(text)]


def readme_db_url() -> str:
    found = re.findall(r'c\.CourseDirectory\.db_url = "(postgresql://[^"]+)"', readme_section())
    assert len(found) == 1, f"the README should show one PostgreSQL db_url, found {found}"
    return found[0]


def readme_has(command: str) -> str:
    """``command`` as the README shows it (a whole line of one of its shell blocks)."""
    lines = set()
    for block in re.findall(r"```bash\n(.*?)```", readme_section(), flags=re.S):
        lines.update(line.split("  #")[0].strip() for line in block.splitlines())
    assert command in lines, f"grading/README.md does not show the command {command!r}"
    return command


def local_url(readme_url: str, socket_dir: Path) -> str:
    """The README's URL for a server on the same machine (the host left out, the server's
    Unix socket folder in ``?host=``), with the test's socket folder in place of Debian's
    ``/var/run/postgresql``; role, password, database and driver stay the README's."""
    from sqlalchemy.engine import make_url

    url = make_url(readme_url)
    local = f"postgresql://{url.username}:{url.password}@/{url.database}?host={socket_dir}"
    readme_has_text(local.replace(str(socket_dir), "/var/run/postgresql"))
    moved = make_url(local)
    assert (moved.username, moved.password, moved.database, moved.drivername) == (
        url.username, url.password, url.database, url.drivername,
    )  # fmt: skip
    return local


def readme_has_text(text: str) -> None:
    assert text in readme_section(), f"grading/README.md does not show {text!r}"


# --- a real PostgreSQL server -------------------------------------------------------------


def _postgres_bin() -> Path:
    """Debian keeps the server's programs in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent
    pytest.fail(
        "PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does). "
        "This test needs the real server; it is never skipped."
    )


class Cluster:
    """A throwaway PostgreSQL cluster: Unix socket in a temporary folder, no TCP at all.

    ``initdb`` refuses to run as root; under root the cluster runs as the unprivileged
    ``postgres`` user that Debian's package creates (``nobody`` where it does not exist),
    through ``runuser``, in a folder that user owns. Otherwise it runs as the caller.
    """

    SUPERUSER = "postgres"

    def __init__(self):
        self.bin = _postgres_bin()
        self.base = Path(tempfile.mkdtemp(prefix="poolkit-pg-"))  # short: sockets need it
        self.data = self.base / "data"
        self.password = uuid.uuid4().hex
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                self.user = pwd.getpwnam("nobody")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        # Open like Debian's /var/run/postgresql, so that a grading kernel's own user could
        # reach the socket if the grader did not hide its folder (the data stays 0700).
        os.chmod(self.base, 0o755)

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user.pw_name, "--", *args] if self.user else list(args)

    def start(self) -> None:
        pwfile = self.base / "superuser-password"
        pwfile.write_text(self.password + "\n")
        if self.user:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        initdb = subprocess.run(
            self._as_owner(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", self.SUPERUSER,
                f"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=reject",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            ),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        pwfile.unlink()
        assert initdb.returncode == 0, initdb.stdout + initdb.stderr
        # No TCP (listen_addresses empty): the server is reachable through its socket only.
        # fsync off: a test cluster, thrown away afterwards; it only makes commits cheaper.
        options = f"-k {self.base} -c listen_addresses='' -c fsync=off -c max_connections=60"
        started = subprocess.run(
            self._as_owner(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"),
                "-o", options, "-w", "-t", "120", "start",
            ),
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr + self.log()

    def log(self) -> str:
        path = self.base / "log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run SQL as the superuser, through the socket, with psql."""
        run = subprocess.run(
            [str(self.bin / "psql"), "-h", str(self.base), "-U", self.SUPERUSER, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-Atq", "-c", statement],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PGPASSWORD=self.password),
        )  # fmt: skip
        assert run.returncode == 0, f"{statement}\n{run.stdout}{run.stderr}"
        return run.stdout

    def create_database(self, role: str, password: str, database: str) -> None:
        """The README's role (with its password) and a database it owns."""
        quoted = password.replace("'", "''")
        exists = self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'")
        if not exists.strip():
            self.sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{quoted}'")
        self.sql(f'CREATE DATABASE "{database}" OWNER "{role}"')

    def stop(self) -> None:
        try:
            for mode in ("fast", "immediate"):
                stopped = subprocess.run(
                    self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                   "-w", "-t", "60", "stop"),
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                if stopped.returncode == 0 or not (self.data / "postmaster.pid").exists():
                    break
        finally:
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: the postmaster goes anyway
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    pass
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    assert not cluster.base.exists()


# --- the class ---------------------------------------------------------------------------


def _blank_some(nb, keep: set[str]):
    """A filled-in notebook with every answer cell outside ``keep`` back to the release's."""
    release = nbformat.read(notebook_path(REPO, "notebooks", ASSIGNMENT), as_version=4)
    template = {nb_meta(c)["grade_id"]: c.source for c in release.cells if is_answer(c)}
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if is_answer(cell) and nb_meta(cell)["grade_id"] not in keep:
            cell.source = template[nb_meta(cell)["grade_id"]]
    return out


# The class of ten: student -> (the answers put in, the answer cells kept; None: all of them).
# "blank" students keep none, half-done ones some; a kept wrong answer is WRONG_ANSWERS' first.
PLAN = {
    "ada.lovelace": ("correct", None),
    "alan.turing": ("correct", None),
    "s2024017": ("correct", None),
    "grace.hopper": ("wrong", None),
    "s2024042": ("wrong", None),
    "edsger": ("correct", set()),
    "s2024108": ("correct", set()),
    "barbara.liskov": ("correct", {"pool2d"}),
    "s2024301": ("wrong", {"pool_output_size", "pad_left_top"}),
    "ken": ("correct", {"pool2d", "pad_left_top", WRITTEN}),
}


def class_of_ten() -> dict[str, object]:
    """Correct, wrong, blank and half-done submissions of one assignment, ten students."""
    answer_id, wrong_source, _ = WRONG_ANSWERS[ASSIGNMENT][0]
    filled = {
        "correct": filled_release(ASSIGNMENT),
        "wrong": filled_release(ASSIGNMENT, {answer_id: wrong_source}),
    }
    return {
        student: filled[answers] if keep is None else _blank_some(filled[answers], keep)
        for student, (answers, keep) in PLAN.items()
    }


def built_to_earn() -> dict[str, dict[str, tuple]]:
    """student -> grade cell -> (auto_score, manual_score, score) that each submission of the
    class was built to earn, before any manual grade: a test cell scores its points when its
    answer (rules.toml) was kept and is not the wrong answer that fails it
    (``WRONG_ANSWERS``), else 0; the written answer is left to the instructor (no score
    yet, so 0) when it was kept, and scores 0 automatically when it is the release's."""
    release = nbformat.read(notebook_path(REPO, "notebooks", ASSIGNMENT), as_version=4)
    points = {nb_meta(c)["grade_id"]: nb_meta(c)["points"] for c in release.cells
              if nb_meta(c).get("grade")}  # fmt: skip
    answer_of = {r.test: r.answer for r in rules.load(REPO / "solutions" / ASSIGNMENT).values()}
    assert set(answer_of) | {WRITTEN} == set(points), (sorted(answer_of), sorted(points))
    wrong_answer, _, fails = WRONG_ANSWERS[ASSIGNMENT][0]
    expected = {}
    for student, (answers, keep) in PLAN.items():
        kept = set(answer_of.values()) | {WRITTEN} if keep is None else keep
        cells = {}
        for test, answer in answer_of.items():
            wrong = answers == "wrong" and wrong_answer in kept and test in fails
            earned = float(points[test]) if answer in kept and not wrong else 0.0
            cells[test] = (earned, None, earned)
        cells[WRITTEN] = (None, None, 0.0) if WRITTEN in kept else (0.0, None, 0.0)
        expected[student] = cells
    return expected


CLASS = class_of_ten()
SHARDS = {k: sorted(s for s in CLASS if shard_of(s, 2) == k) for k in (1, 2)}


def write_class(root: Path) -> None:
    for student, nb in CLASS.items():
        folder = root / "grading" / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)


def run_readme(command: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run a command the README shows (checked), with this venv's nbgrader and python."""
    readme_has(command)
    args = command.split()
    program = [str(BIN / "nbgrader")] if args[0] == "nbgrader" else [sys.executable]
    run = subprocess.run(
        [*program, *args[1:], *extra], cwd=cwd, env=_env(),
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert run.returncode == 0, f"{command} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    return run


def shard_command(k: int, n: int = 2) -> list[str]:
    """The README's per-machine command, plus one worker per shard: two shards on this
    2-core machine stand for two one-core machines."""
    command = readme_has(f"python -m poolgrader autograde {ASSIGNMENT} --shard {k}/{n}")
    return [sys.executable, *command.split()[1:], "--workers", "1", "--timeout", "60"]


def start_shards(root: Path, shards: list[int], marks: dict[int, str] | None = None) -> dict:
    """Start shards together, each in a process group of its own (as on its own machine)."""
    procs = {}
    for k in shards:
        extra = {MARK: marks[k]} if marks and k in marks else {}
        log = (root / f"shard-{k}.log").open("w")
        procs[k] = subprocess.Popen(
            shard_command(k), cwd=root, env=_env(**extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return procs


def wait_ok(root: Path, procs: dict) -> None:
    for k, proc in procs.items():
        code = proc.wait(timeout=TIMEOUT)
        log = (root / f"shard-{k}.log").read_text(errors="replace")
        assert code == 0, f"shard {k}/2 exited {code}:\n{log[-6000:]}"


def setup_course(root: Path, db_url: str) -> Path:
    """A course whose nbgrader_config.py ends with the README's db_url line (host local),
    the class submitted, and the README's one-time commands run."""
    copy_course(root, with_release=False)
    line = f'c.CourseDirectory.db_url = "{db_url}"'
    with (root / "nbgrader_config.py").open("a") as f:
        f.write(f"\n# grading/README.md, Beyond one machine (host: this test's socket)\n{line}\n")
    write_class(root)
    run_readme(f"nbgrader generate_assignment {ASSIGNMENT}", root)
    run_readme("nbgrader db upgrade", root)
    return root


# --- reading the gradebook -----------------------------------------------------------------


def gradebook_scores(db_url: str) -> dict[str, dict[str, tuple]]:
    """student -> grade cell -> (auto_score, manual_score, score), with nbgrader's API."""
    out = {}
    with Gradebook(db_url, "pooling-course") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            out[sub.student.id] = {
                g.name: (g.auto_score, g.manual_score, g.score)
                for nb in sub.notebooks for g in nb.grades
            }  # fmt: skip
    return out


def row_counts(db_url: str) -> dict[str, object]:
    """Raw row counts that would show a duplicate: per student, and per (notebook, cell)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as db:
            q = lambda sql: db.execute(text(sql)).all()  # noqa: E731
            return {
                "students": q("SELECT count(*) FROM student")[0][0],
                "submissions": dict(q(
                    "SELECT student_id, count(*) FROM submitted_assignment GROUP BY student_id"
                )),
                "notebooks": dict(q(
                    "SELECT sa.student_id, count(*) FROM submitted_notebook sn "
                    "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                    "GROUP BY sa.student_id"
                )),
                "grades": dict(q(
                    "SELECT sa.student_id, count(*) FROM grade g "
                    "JOIN submitted_notebook sn ON g.notebook_id = sn.id "
                    "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                    "GROUP BY sa.student_id"
                )),
                "duplicate_grades": q(
                    "SELECT notebook_id, cell_id, count(*) FROM grade "
                    "GROUP BY notebook_id, cell_id HAVING count(*) > 1"
                ),
            }  # fmt: skip
    finally:
        engine.dispose()


def assert_one_row_each(db_url: str, cells: int) -> dict:
    counts = row_counts(db_url)
    assert counts["students"] == len(CLASS), counts
    assert counts["submissions"] == {s: 1 for s in CLASS}, counts
    assert counts["notebooks"] == {s: 1 for s in CLASS}, counts
    assert counts["grades"] == {s: cells for s in CLASS}, counts
    assert counts["duplicate_grades"] == [], counts
    return counts


def say(*lines: str) -> None:
    """The figures for issue 17's closing note (shown with pytest -s)."""
    for line in lines:
        print(f"[issue 17] {line}", flush=True)


# --- a shard that dies --------------------------------------------------------------------


def _graded(root: Path, student: str) -> bool:
    """The grader has finished the student: it makes the autograded notebook read-only last."""
    path = root / "grading" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    try:
        return path.stat().st_mode & 0o777 == 0o444
    except OSError:
        return False


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker.encode() in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


# --- the runs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharded(postgres, tmp_path_factory):
    """The class graded as two shards started together, on the README's PostgreSQL setup,
    the way a real run can go: shard 2 is SIGKILLed (its whole process group, as when its
    machine dies) after it graded some of its students and before it graded all; shard 1
    finishes; a manual grade is entered for a student shard 2 had graded; shard 2 is run
    again alone. Every test below reads the gradebook this leaves."""
    readme = readme_db_url()
    from sqlalchemy.engine import make_url

    url = make_url(readme)
    postgres.create_database(url.username, url.password, url.database)
    db_url = local_url(readme, postgres.base)
    root = setup_course(tmp_path_factory.mktemp("pg"), db_url)
    mark = uuid.uuid4().hex
    started = time.monotonic()
    procs = start_shards(root, [1, 2], {2: mark})
    doomed = SHARDS[2]
    deadline = time.monotonic() + TIMEOUT
    while not any(_graded(root, s) for s in doomed):
        assert procs[2].poll() is None, "shard 2 ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    done_before = [s for s in doomed if _graded(root, s)]
    assert len(done_before) < len(doomed), "shard 2 finished before it could be killed"
    os.killpg(procs[2].pid, signal.SIGKILL)
    killed_at = time.monotonic() - started
    status = procs[2].wait(timeout=60)
    # Every process of the dead shard goes with it (workers, zygote, kernels).
    deadline = time.monotonic() + 60
    while _processes_with(f"{MARK}={mark}") and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _processes_with(f"{MARK}={mark}")
    wait_ok(root, {1: procs[1]})
    shard_1_seconds = time.monotonic() - started
    missing = sorted(set(CLASS) - set(gradebook_scores(db_url)))
    # The manual grade: the written answer of a student shard 2 graded before it died.
    manual_student = done_before[0]
    with Gradebook(db_url, "pooling-course") as gb:
        grade = gb.find_grade(WRITTEN, ASSIGNMENT, ASSIGNMENT, manual_student)
        grade.manual_score = 1.5
        grade.needs_manual_grade = False
        gb.db.commit()
    rerun = time.monotonic()
    wait_ok(root, start_shards(root, [2]))
    rerun_seconds = time.monotonic() - rerun
    say(
        f"PostgreSQL, two shards started together (1 worker each): shard 1/2 "
        f"({len(SHARDS[1])} students) done in {shard_1_seconds:.1f} s",
        f"shard kill: shard 2/2 SIGKILLed (process group) {killed_at:.1f} s in, after "
        f"{len(done_before)} of its {len(doomed)} students; {len(left)} processes of it left; "
        f"{len(missing)} students without a gradebook row after shard 1 finished "
        f"({', '.join(missing) or 'none'})",
        f"shard kill: manual grade for {manual_student} ({WRITTEN} = 1.5) entered, shard 2/2 "
        f"run again alone in {rerun_seconds:.1f} s",
    )
    return types.SimpleNamespace(
        root=root, url=db_url, database=url.database, status=status, left=left,
        done_before=done_before, missing=missing, manual_student=manual_student,
        seconds=shard_1_seconds, rerun_seconds=rerun_seconds,
    )  # fmt: skip


def expected_scores(sharded) -> dict:
    """The scores the class was built to earn, with the manual grade entered between the
    shard runs."""
    expected = built_to_earn()
    auto = expected[sharded.manual_student][WRITTEN][0]
    expected[sharded.manual_student][WRITTEN] = (auto, 1.5, 1.5)
    return expected


def test_the_class_splits_into_two_real_shards():
    assert len(SHARDS[1]) >= 3 and len(SHARDS[2]) >= 3, SHARDS
    assert sorted(SHARDS[1] + SHARDS[2]) == sorted(CLASS)


def test_the_readme_configuration_reaches_the_server(postgres, sharded):
    """The README's role and password, checked by the server (scram-sha-256), no TCP."""
    from sqlalchemy import create_engine, text

    engine = create_engine(sharded.url)
    try:
        with engine.connect() as db:
            who = db.execute(text("SELECT current_user, current_database()")).one()
            address = db.execute(text("SELECT inet_server_addr()")).scalar()
    finally:
        engine.dispose()
    url = readme_db_url()
    assert f"{who[0]}:" in url and url.endswith(f"/{who[1]}")
    assert address is None  # a Unix socket, not a network address
    wrong = sharded.url.replace(":secret@", ":not-the-password@")
    assert wrong != sharded.url
    engine = create_engine(wrong)
    try:
        with pytest.raises(Exception, match="password authentication failed"):
            engine.connect().close()
    finally:
        engine.dispose()


def test_shards_write_one_row_per_student_with_the_scores_each_earns(sharded):
    expected = expected_scores(sharded)
    cells = len(expected[sharded.manual_student])
    counts = assert_one_row_each(sharded.url, cells)
    scores = gradebook_scores(sharded.url)
    assert sorted(scores) == sorted(CLASS)
    differ = {
        (s, cell): (expected[s][cell], scores[s].get(cell))
        for s in CLASS for cell in expected[s]
        if expected[s][cell] != scores[s].get(cell)
    }  # fmt: skip
    assert differ == {}
    totals = {s: sum(v[2] or 0 for v in scores[s].values()) for s in CLASS}
    assert totals["ada.lovelace"] > totals["grace.hopper"] > totals["edsger"]  # a real spread
    say(
        f"rows: {counts['students']} students, {sum(counts['submissions'].values())} "
        f"submissions, {sum(counts['grades'].values())} grade rows, no duplicates",
        f"scores: {len(CLASS) * cells} grade cells, PostgreSQL shards == what each submission "
        f"was built to earn (and the manual grade); totals {dict(sorted(totals.items()))}",
        f"time: shard 1/2 {sharded.seconds:.1f} s, "
        f"shard 2/2 re-run {sharded.rerun_seconds:.1f} s (same 2 cores, shared: noisy)",
    )


def test_each_shard_keeps_its_own_report_files(sharded):
    reports = sharded.root / "grading" / "reports"
    for k in (1, 2):
        with (reports / f"{ASSIGNMENT}.shard-{k}-of-2.csv").open(newline="") as f:
            assert sorted({r["student"] for r in csv.DictReader(f)}) == SHARDS[k]
        assert (reports / f"{ASSIGNMENT}.shard-{k}-of-2.run.json").is_file()
    assert not (reports / f"{ASSIGNMENT}.csv").exists()  # nobody wrote over anybody
    log = (sharded.root / "shard-1.log").read_text()
    assert f"python -m poolgrader report {ASSIGNMENT}" in log


def test_one_class_report_after_the_shards(sharded):
    run = run_readme(f"python -m poolgrader report {ASSIGNMENT}", sharded.root)
    reports = sharded.root / "grading" / "reports"
    assert "Merged 2 grader CSVs" in run.stdout
    with (reports / f"{ASSIGNMENT}.class.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(CLASS)  # every student once
    scores = gradebook_scores(sharded.url)
    for row in rows:
        assert float(row["score"]) == pytest.approx(
            sum(v[2] or 0 for v in scores[row["student"]].values())
        )
        assert row["seconds"], row  # from the shard's CSV
    html = (reports / f"{ASSIGNMENT}.html").read_text()
    table = html[html.index('id="student-table"') :]
    table = table[: table.index("</table>")]
    shown = re.findall(r'<tr data-student="([^"]+)"', table)
    assert sorted(shown) == sorted(CLASS)
    assert "sum of 2 runs" in html


def test_feedback_and_export_work_on_postgresql(sharded):
    run_readme(f"nbgrader generate_feedback {ASSIGNMENT}", sharded.root)
    for student in CLASS:
        page = sharded.root / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page.is_file(), page
    run_readme("nbgrader export", sharded.root)
    with (sharded.root / "grades.csv").open(newline="") as f:
        exported = [r for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT]
    assert sorted(r["student_id"] for r in exported) == sorted(CLASS)
    scores = gradebook_scores(sharded.url)
    for row in exported:
        total = sum(v[2] or 0 for v in scores[row["student_id"]].values())
        assert float(row["score"]) == pytest.approx(total), row


def test_no_shard_starts_on_an_empty_database(postgres, tmp_path):
    """Opening nbgrader's Gradebook creates the tables: shards started together on an empty
    database would race to. The grader refuses, changes nothing, and names the commands."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    url = make_url(readme_db_url())
    postgres.create_database(url.username, url.password, "empty_course")
    db_url = local_url(readme_db_url(), postgres.base).replace(
        f"/{url.database}?", "/empty_course?"
    )
    root = copy_course(tmp_path / "course", with_release=False)
    with (root / "nbgrader_config.py").open("a") as f:
        f.write(f'\nc.CourseDirectory.db_url = "{db_url}"\n')
    write_class(root)
    run = subprocess.run(
        shard_command(1), cwd=root, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "has no nbgrader tables yet" in run.stdout
    assert "nbgrader generate_assignment" in run.stdout and "nbgrader db upgrade" in run.stdout
    assert url.password not in run.stdout + run.stderr  # the URL is shown without it
    engine = create_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


PROBE = """
try:
    import psycopg as _pg
    with _pg.connect(host={host!r}, dbname={db!r}, user={user!r}, password={password!r},
                     connect_timeout=5) as _c:
        _c.execute("CREATE TABLE pwned (x int)")
    _result = "connected"
except Exception as _e:
    _result = f"{{type(_e).__name__}}: {{_e}}"
print(f"gradebook probe: {{_result}}")
"""


def test_grading_kernels_cannot_reach_the_gradebook_socket(postgres, tmp_path):
    """A submission that knows the URL, password included, tries the server's Unix socket
    (which the network namespace does not stop): its folder is hidden from the kernel."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    url = make_url(readme_db_url())
    postgres.create_database(url.username, url.password, "probe_course")
    db_url = local_url(readme_db_url(), postgres.base)
    db_url = db_url.replace(f"/{url.database}?", "/probe_course?")
    # Control: the socket is reachable by the user a grading kernel runs as.
    control = [str(postgres.bin / "psql"), "-X", db_url, "-Atc", "SELECT 1"]
    if os.geteuid() == 0:
        uid = 61000  # poolgrader.autograde.UID_BASE: the first worker's kernels
        control = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *control]
    reached = subprocess.run(control, capture_output=True, text=True, timeout=60)
    assert reached.stdout.strip() == "1", reached.stdout + reached.stderr
    root = copy_course(tmp_path / "course", with_release=False)
    with (root / "nbgrader_config.py").open("a") as f:
        f.write(f'\nc.CourseDirectory.db_url = "{db_url}"\n')
    nb = filled_release(ASSIGNMENT)
    first = next(c for c in nb.cells if is_answer(c) and c.cell_type == "code")
    probe = PROBE.format(host=str(postgres.base), db="probe_course", user=url.username,
                         password=url.password)  # fmt: skip
    first.source = probe + "\n" + first.source
    folder = root / "grading" / "submitted" / "mallory" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    run_readme(f"nbgrader generate_assignment {ASSIGNMENT}", root)
    run = subprocess.run(
        [sys.executable, "-m", "poolgrader", "autograde", ASSIGNMENT, "--workers", "1",
         "--timeout", "60"],
        cwd=root, env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    graded = nbformat.read(
        root / "grading" / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4
    )
    # A cell's printed text can arrive in several stream outputs: join them per cell.
    texts = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in graded.cells]
    said = [t[t.index("gradebook probe:") :] for t in texts if "gradebook probe:" in t]
    assert len(said) == 1, said
    assert "connected" not in said[0].split("gradebook probe:")[1].split(":")[0]
    assert "No such file or directory" in said[0], said[0]  # the socket is not there
    engine = create_engine(db_url)
    try:
        assert "pwned" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    say(f"kernel -> gradebook socket: {said[0].strip()}")


def test_a_killed_shard_run_again_completes_the_gradebook(sharded):
    """The ``sharded`` fixture's shard 2 was SIGKILLed mid-run and run again alone."""
    assert sharded.status == -signal.SIGKILL
    assert sharded.left == []  # no process of the dead shard outlived it
    not_done = set(SHARDS[2]) - set(sharded.done_before)
    assert set(sharded.missing) <= not_done
    # One worker per shard: of the students shard 2 had not finished, only the one it was
    # grading when it died can have a row (nbgrader writes it first); the rest have none.
    assert len(not_done - set(sharded.missing)) <= 1, (not_done, sharded.missing)
    expected = expected_scores(sharded)
    assert_one_row_each(sharded.url, len(expected[sharded.manual_student]))
    scores = gradebook_scores(sharded.url)
    student = sharded.manual_student
    assert scores[student][WRITTEN][1:] == (1.5, 1.5)  # the manual grade survived the re-run
    assert scores == expected
    # The class report and CSV have every student once (shard 2's CSV is the re-run's).
    run_readme(f"python -m poolgrader report {ASSIGNMENT}", sharded.root)
    with (sharded.root / "grading" / "reports" / f"{ASSIGNMENT}.class.csv").open(newline="") as f:
        assert sorted(r["student"] for r in csv.DictReader(f)) == sorted(CLASS)
