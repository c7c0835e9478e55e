"""``python -m poolgrader autograde``: grade a class in parallel, losing nobody.

Run it from the course root (where ``nbgrader_config.py`` is). For one assignment it

1. lists every student with a folder in ``grading/submitted/<student>/<assignment>/``
   (``--student GLOB`` narrows the list; ``--shard K/N`` keeps the students whose id hashes
   to shard K, for N jobs that share a PostgreSQL gradebook);
2. starts ``--workers`` processes (default: one per core). Each loads nbgrader once,
   starts a zygote of pre-warmed kernels, and then, for each student it takes:
   - stages a repaired copy of the submission (``poolgrader.submission``);
   - runs nbgrader's own Autograde converter on it, with :class:`SafeExecute` and the
     limited grading kernel, so the gradebook, ``nbgrader export``, the formgrader and
     ``nbgrader generate_feedback`` work as after ``nbgrader autograde``;
   - re-checks every auto-graded exercise in clean processes (``poolgrader.recheck``);
     where the in-kernel score is higher, the clean score is written to the gradebook;
   - writes a "Grading notes" cell at the top of the autograded notebook, which the
     feedback shows: every repair, limit, stop and failed re-check, with its reason;
3. shows a progress bar, then writes ``grading/reports/<assignment>.csv`` and prints
   the flagged submissions.

Every student ends with a gradebook row: if grading a submission fails for any reason,
the student is graded again as the blank release with the reason in the notes. A worker
that dies is replaced and its student graded again, once; a second death grades the
student as the blank release, with the reason. A grading kernel killed from outside, or
a zygote that dies, costs the student one more attempt too. No process of the run
outlives it: each dies with its parent, and a last sweep kills any process that still
carries the run's id in its environment. Re-runs give the same scores (the
re-check's random inputs are seeded by student and assignment), and manual grades
entered in the formgrader are kept (nbgrader never overwrites a manual score).
"""

from __future__ import annotations

import ast
import csv
import fnmatch
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import deque
from pathlib import Path

import nbformat

__all__ = ["autograde", "ensure_kernelspec", "parse_shard", "shard_of"]

KERNEL_NAME = "poolkit-grading"
UID_BASE = 61000
NOTES_MARK = "poolkit-grading-notes"
RUN_ENV = "POOLKIT_GRADING_RUN"


def _load_config(root: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def _coursedir(config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)


def ensure_kernelspec(prefix: str = sys.prefix) -> Path:
    """Install the grading kernelspec into ``prefix`` (idempotent); return its folder."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = {
        "argv": [sys.executable, "-m", "poolgrader.kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (grading: sandboxed, limited)",
        "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": KERNEL_NAME}},
    }
    path = folder / "kernel.json"
    if not path.exists() or json.loads(path.read_text()) != spec:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def notebook_imports(release: Path) -> list[str]:
    """Every module the notebooks of one released assignment import, so the zygote can
    import it first; and ``torch.optim`` when a notebook uses it as an attribute
    (``torch.optim.SGD``), which the zygote reads as the sign that it needs the optimisers
    (``zygote.OPTIM_MODULES``)."""
    names: set[str] = set()
    for path in release.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "optim"
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "torch"
                ):
                    names.add("torch.optim")
    return sorted(names)


def _outer(folders: list[Path]) -> list[Path]:
    """Drop folders inside other folders of the list (mounting over both would hide both)."""
    folders = sorted({f.resolve() for f in folders}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for folder in folders:
        if not any(folder.is_relative_to(k) for k in kept):
            kept.append(folder)
    return kept


class Worker:
    """One grading process: nbgrader loaded once, one zygote, students one after another."""

    def __init__(
        self, root: Path, assignment: str, slot: int, timeout: int | None, figures: bool = False
    ):
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.preprocessors import (
            AssignLatePenalties,
            CheckCellMetadata,
            IgnorePattern,
            SaveAutoGrades,
        )

        from . import zygote
        from .execute import SafeExecute
        from .limits import GradingLimits

        os.chdir(root)
        self.root, self.assignment = root, assignment
        config = _load_config(root)
        if timeout:
            config.Execute.timeout = timeout
        config.Execute.kernel_name = KERNEL_NAME
        # No TCP ports, so no "Address already in use" between workers; the sockets' paths
        # start with a folder of this worker's own (nbgrader's default is the cwd, shared).
        config.KernelManager.transport = "ipc"
        self.ipc = Path(tempfile.mkdtemp(prefix="poolkit-ipc-"))
        config.KernelManager.ip = str(self.ipc / "kernel")
        config.Autograde.autograde_preprocessors = [
            SafeExecute,
            IgnorePattern,
            ClearMetadataPreprocessor,
            SaveAutoGrades,
            AssignLatePenalties,
            CheckCellMetadata,
        ]
        db_url = config.CourseDirectory.db_url
        if isinstance(db_url, str) and db_url.startswith("sqlite") and "?" not in db_url:
            config.CourseDirectory.db_url = db_url + "?timeout=120"  # workers take turns
        self.config = config
        self.coursedir = _coursedir(config)
        self.coursedir.assignment_id = assignment
        self.limits = GradingLimits(config=config).limits()
        SafeExecute.limits = self.limits
        cd = self.coursedir
        self.source = Path(cd.format_path(cd.source_directory, ".", assignment))
        self.release = Path(cd.format_path(cd.release_directory, ".", assignment))
        self.notebooks = sorted(p.stem for p in self.source.glob("*.ipynb"))
        self.staging = Path(tempfile.mkdtemp(prefix="poolkit-staging-"))
        self.coursedir.submitted_directory = str(self.staging)
        import poolkit

        hide = [
            Path(cd.root) / d
            for d in (
                cd.source_directory,
                cd.submitted_directory,
                cd.autograded_directory,
                cd.feedback_directory,
                cd.solution_directory,
                cd.source_with_tests_directory,
            )
        ] + [self.staging, Path(cd.root) / ".git", Path(cd.root) / "grading"]
        # The whole course folder: nbgrader_config.py (a PostgreSQL URL holds its password),
        # the gradebook, the instructor's tests and anything added later. Shown again,
        # read-only: poolkit's own folder, the Python environment and the release.
        hide += [Path(cd.root)]
        hide += [_submitted_root(config, root)]
        if db_url.startswith("sqlite:///"):
            hide.append(Path(db_url[len("sqlite:///") :].split("?")[0]).parent)
        hide += _socket_folders(db_url)
        settings = {
            "hide": [str(p) for p in _outer(hide)],
            "readonly": [
                str(p)
                for p in _outer(
                    [
                        Path(poolkit.__file__).resolve().parent,
                        Path(sys.prefix),
                        Path(cd.root) / cd.release_directory,
                    ]
                )
            ],
            "limits": self.limits.as_dict(),
            "uid": UID_BASE + slot,
        }
        self.settings = settings
        os.environ[zygote.ENV_SETTINGS] = json.dumps(settings)
        ensure_kernelspec()
        self.modules = notebook_imports(Path(cd.root) / cd.release_directory / assignment)
        self.figures = figures
        self.zygote = zygote.start(self.modules, figures)
        self.timeout = int(config.Execute.timeout or 60)

    def _ensure_zygote(self) -> None:
        """Start a new zygote if the last one died (its kernels died with it)."""
        from . import zygote

        if not self.zygote.alive():
            self.zygote.close()
            self.zygote = zygote.start(self.modules, self.figures)

    def _fault(self) -> str | None:
        """What interrupted the last attempt from outside the student's code, if anything."""
        from .execute import SafeExecute

        if not self.zygote.alive():
            code = self.zygote.process.returncode
            return f"the process that starts grading kernels died ({_exit_reason(code)})"
        if SafeExecute.killed:
            return SafeExecute.killed[0]
        return None

    def _autograde_once(self, student: str) -> dict:
        from nbgrader.converters import Autograde
        from nbgrader.utils import capture_log

        self.coursedir.student_id = student
        app = Autograde(coursedir=self.coursedir, config=self.config)
        app.force = True
        app.create_student = True
        return capture_log(app)

    def grade(self, student: str, history: list[str] = (), blank: str | None = None) -> dict:
        """Grade one student; ``blank``: grade the blank release instead, for this reason.

        A kernel SIGKILLed from outside, or the zygote dying, interrupts an attempt: the
        student is graded again, once; after a second interruption the points earned before
        it stand (as for any kernel that dies), with both reasons in the notes.
        """
        from .execute import SafeExecute

        started = time.monotonic()
        notes = list(history)
        for attempt in (1, 2):
            self._ensure_zygote()
            SafeExecute.killed.clear()
            attempt_notes, error = self._grade_once(student, blank)
            fault = self._fault()
            if fault and attempt == 1:
                notes.append(f"grading was interrupted ({fault}); graded again")
                continue
            if fault:
                notes.append(f"grading was interrupted again ({fault}); earlier points stand")
            notes += attempt_notes
            break
        notes += sorted(self.zygote.degraded)
        if error:
            return {"student": student, "error": error, "notes": notes}
        self._ensure_zygote()  # the re-check forks from it
        rows = [self._finish(student, nb, notes) for nb in self.notebooks]
        shutil.rmtree(self.staging / student, ignore_errors=True)
        return {"student": student, "notebooks": rows, "seconds": time.monotonic() - started}

    def _grade_once(self, student: str, blank: str | None) -> tuple[list[str], str | None]:
        """Stage and autograde; on failure, grade the blank release. (notes, error)."""
        from .submission import stage

        submitted = _submitted_root(self.config, self.root) / student / self.assignment
        staged = self.staging / student / self.assignment
        shutil.rmtree(staged, ignore_errors=True)
        stage_notes: list[str] = []
        if blank is None:
            try:
                stage_notes = stage(submitted, staged, self.release, self.notebooks)
                result = self._autograde_once(student)
                if result["success"]:
                    return stage_notes, None
                log = self._save_log(student, result)
                raise RuntimeError(f"{_last_error(result)}; nbgrader's log: {log}")
            except Exception as exc:  # noqa: BLE001 (whatever happened, the student is graded)
                blank = f"grading failed ({exc}); graded as the blank release"
        shutil.rmtree(staged, ignore_errors=True)
        stage(self.staging / "__none__", staged, self.release, self.notebooks)
        result = self._autograde_once(student)
        error = None if result["success"] else _last_error(result)
        return [*stage_notes, blank], error

    def _save_log(self, student: str, result: dict) -> str:
        """Keep nbgrader's log of a failed attempt for the instructor; return its path."""
        folder = self.root / "grading" / "reports" / "logs" / self.assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{student}.log"
        path.write_text((result.get("log") or "") + "\n" + (result.get("error") or ""))
        return str(path.relative_to(self.root))

    def _finish(self, student: str, name: str, notes: list[str]) -> dict:
        """Re-check, fix the gradebook, and write the notes into the autograded notebook."""
        from nbgrader.api import Gradebook

        from .execute import STOP_ENAME, error_output
        from .recheck import recheck_notebook

        cd = self.coursedir
        path = Path(cd.format_path(cd.autograded_directory, student, self.assignment)) / (
            f"{name}.ipynb"
        )
        nb = nbformat.read(path, as_version=4)
        notes = list(notes)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") == STOP_ENAME:
                    notes.append(f"grading stopped {out['evalue']}")
        source_nb = nbformat.read(self.source / f"{name}.ipynb", as_version=4)
        staged_nb = nbformat.read(
            self.staging / student / self.assignment / f"{name}.ipynb", as_version=4
        )
        try:
            verdicts = recheck_notebook(
                self.zygote,
                self.assignment,
                student,
                source_nb,
                staged_nb,
                self.settings,
                timeout=self.timeout,
                folder=self.source,
            )
        except RuntimeError as exc:
            verdicts = {}
            notes.append(f"the clean re-check could not run ({exc}); in-kernel scores stand")
        flagged = []
        with Gradebook(cd.db_url, cd.course_id) as gb:
            for grade_id, verdict in verdicts.items():
                grade = gb.find_grade(grade_id, name, self.assignment, student)
                clean = grade.max_score if verdict.passed else 0.0
                if grade.auto_score is not None and grade.auto_score > clean:
                    flagged.append(grade_id)
                    grade.auto_score = clean
                    grade.needs_manual_grade = True  # for the instructor to look at
                    notes.append(
                        f"{grade_id}: the tests passed inside your notebook, but the clean "
                        f"re-check failed: {verdict.message}. The clean score ({clean:g}) stands"
                    )
                    for cell in nb.cells:
                        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                            cell.outputs.append(error_output("CleanRecheckFailed", verdict.message))
            gb.db.commit()
            submission = gb.find_submission_notebook(name, self.assignment, student)
            score, max_score = submission.score, submission.max_score
            auto = sum(g.auto_score or 0 for g in submission.grades if g.auto_score is not None)
        if notes:
            text = "**Grading notes** (written by the grader)\n\n" + "\n".join(
                f"- {n}" for n in notes
            )
            cell = nbformat.v4.new_markdown_cell(text, metadata={NOTES_MARK: True})
            nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(NOTES_MARK)]
            nb.cells.insert(0, cell)
        os.chmod(path, 0o644)
        nbformat.write(nb, path)
        os.chmod(path, 0o444)
        return {
            "notebook": name,
            "auto_score": auto,
            "score": score,
            "max_score": max_score,
            "flagged": flagged,
            "notes": notes,
            "clean": {k: v.passed for k, v in verdicts.items()},
        }

    def close(self) -> None:
        self.zygote.close()
        shutil.rmtree(self.staging, ignore_errors=True)
        shutil.rmtree(self.ipc, ignore_errors=True)


def _socket_folders(db_url: str) -> list[Path]:
    """The Unix socket folders of a PostgreSQL gradebook on this machine, for kernels not to
    see: the network namespace stops TCP, but a socket file is reached through the file
    system. ``?host=/folder`` in the URL, or libpq's default on Debian when there is no host."""
    if not db_url.startswith("postgresql"):
        return []
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    hosts = url.query.get("host", ())
    hosts = [hosts] if isinstance(hosts, str) else list(hosts)
    if not hosts and not url.host:
        hosts = ["/var/run/postgresql", "/run/postgresql"]
    return [Path(h) for h in hosts if h.startswith("/")]


def _submitted_root(config, root: Path) -> Path:
    cd = _coursedir(config)
    return (Path(cd.root or root) / cd.submitted_directory).resolve()


def _exit_reason(code: int | None) -> str:
    """How a process ended, from its exit code as ``subprocess``/``multiprocessing`` give it."""
    import signal

    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _last_error(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip().splitlines()
    return text[-1][:300] if text else "unknown error"


def _worker_main(root, assignment, slot, timeout, figures, conn, parent) -> None:
    """A worker process: grade each student the parent sends, send back the row."""
    import logging
    import warnings

    from .sandbox import set_parent_death_signal

    set_parent_death_signal(parent)  # the grading command is gone: so is this worker
    # nbgrader logs through the "traitlets" logger: keep it for capture_log's per-student
    # log, but off the console, where the progress bar is.
    quiet = logging.getLogger("traitlets")
    quiet.handlers[:] = [logging.NullHandler()]
    quiet.propagate = False
    quiet.setLevel(logging.INFO)
    # nbgrader's own gradebook code triggers SQLAlchemy warnings on every student.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    worker = Worker(Path(root), assignment, slot, timeout, figures)
    try:
        while (task := conn.recv()) is not None:
            student, history, blank = task
            try:
                row = worker.grade(student, history, blank)
            except Exception:  # noqa: BLE001 (reported in the run's report)
                row = {"student": student, "error": traceback.format_exc(limit=3)}
            conn.send(row)
    except EOFError:  # the parent went away
        pass
    finally:
        worker.close()


def shard_of(student: str, count: int) -> int:
    """The shard (1 to ``count``) of a student: a stable hash of the id, the same on every
    machine and in every run (sha256, not Python's ``hash()``, which is salted per process)."""
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N); ValueError naming the rule when it is not 1 <= K <= N."""
    import re

    rule = "must be K/N, two whole numbers with 1 <= K <= N (for example 2/4)"
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text, re.ASCII)
    if not match:
        raise ValueError(f"{rule}, got {text!r}")
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise ValueError(f"{rule}, got {text!r}")
    return k, n


def students_of(
    root: Path, assignment: str, pattern: str = "*", shard: tuple[int, int] | None = None
) -> list[str]:
    config = _load_config(root)
    submitted = _submitted_root(config, root)
    if not submitted.is_dir():
        return []
    return sorted(
        d.name
        for d in submitted.iterdir()
        if d.is_dir()
        and (d / assignment).is_dir()
        and fnmatch.fnmatch(d.name, pattern)
        and (shard is None or shard_of(d.name, shard[1]) == shard[0])
    )


def autograde(
    assignment: str,
    workers: int | None = None,
    student: str = "*",
    timeout: int | None = None,
    root: Path | None = None,
    figures: bool = False,
    shard: tuple[int, int] | None = None,
) -> int:
    """Grade every submission of ``assignment``; 0 when every student has a gradebook row.

    ``figures``: render matplotlib figures into the autograded notebooks (and so into the
    feedback). Off by default: nothing is graded on a figure, and drawing them is about a
    third of a notebook's run time.

    ``shard`` (K, N): grade only the students of shard K of N (:func:`shard_of`). The run's
    CSV and run file are then ``<assignment>.shard-K-of-N.csv`` and ``.run.json``, so shards
    that share a file system keep theirs apart, and no HTML is written: the class report
    is built once every shard has finished (``python -m poolgrader report``).
    """
    from nbgrader.api import Gradebook, MissingEntry
    from tqdm import tqdm

    root = (root or Path.cwd()).resolve()
    if not (root / "nbgrader_config.py").exists():
        print(f"error: no nbgrader_config.py in {root}; run this from the course root")
        return 2
    config = _load_config(root)
    cd = _coursedir(config)
    problem = _gradebook_problem(cd.db_url)
    if problem:
        print(f"error: {problem}")
        return 2
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            print(
                f"error: assignment {assignment!r} is not in the gradebook; "
                f"run `nbgrader generate_assignment {assignment}` first"
            )
            return 2
    undeclared = _undeclared_rules(cd, assignment)
    if undeclared:
        print(f"error: {undeclared}")
        return 2
    students = students_of(root, assignment, student, shard)
    if not students:
        which = f" in shard {shard[0]}/{shard[1]}" if shard else ""
        print(
            f"error: no submissions of {assignment!r} match {student!r}{which} in "
            f"{_submitted_root(config, root)}"
        )
        return 2
    workers = max(1, min(workers or os.cpu_count() or 1, len(students)))
    run_id = f"{os.getpid()}-{time.time_ns()}"
    os.environ[RUN_ENV] = run_id  # inherited by every process of the run, for the final reap
    start = time.monotonic()
    bar = tqdm(
        total=len(students),
        unit="student",
        desc=f"autograde {assignment}",
        smoothing=0.1,
        dynamic_ncols=True,
    )
    remove_stale_scratch()
    scratch, saved_tmpdir = _enter_scratch()
    try:
        rows = _dispatch(root, assignment, students, workers, timeout, figures, bar)
    finally:
        bar.close()
        reaped = reap(run_id)
        if reaped:
            print(f"Stopped {reaped} processes of this run that were still running.")
        _leave_scratch(scratch, saved_tmpdir)
    elapsed = time.monotonic() - start
    stem = assignment if shard is None else f"{assignment}.shard-{shard[0]}-of-{shard[1]}"
    code = _report(root, cd, assignment, students, rows, elapsed, workers, stem)
    from .report import write_report, write_run

    run = {"wall_seconds": elapsed, "workers": workers, "students": len(students)}
    if shard is not None:
        write_run(root / "grading" / "reports" / f"{stem}.run.json", run)
        print(
            f"Shard {shard[0]}/{shard[1]} done. Once every shard has finished, build the "
            f"class report: python -m poolgrader report {assignment}"
        )
        return code
    try:
        print(f"Class report: {write_report(root, assignment, run).relative_to(root)}")
    except Exception as exc:  # noqa: BLE001 (the grades are written; the report is extra)
        # Every student already has a gradebook row and a CSV line: a report that fails to
        # draw must not turn a complete run into a failed one. Rebuild it with `report`.
        print(
            f"Class report: not written ({type(exc).__name__}: {exc}); the gradebook and "
            f"the CSV are complete; rebuild it with `python -m poolgrader report {assignment}`",
            file=sys.stderr,
        )
    return code


def _undeclared_rules(cd, assignment: str) -> str | None:
    """Why the assignment cannot be graded, if a graded cell of a notebook has no declared
    rules (``rules.toml``): its clean re-check, the score that counts, would be skipped."""
    from .exercises import MissingRules, load

    source = Path(cd.format_path(cd.source_directory, ".", assignment))
    for path in sorted(source.glob("*.ipynb")):
        try:
            load(source, nbformat.read(path, as_version=4))
        except MissingRules as exc:
            return f"{path.name}: {exc}"
    return None


def _gradebook_problem(db_url: str) -> str | None:
    """Why the gradebook cannot be graded into yet, or None; it changes nothing.

    Opening an nbgrader ``Gradebook`` on an empty database creates the tables and the course
    row, and shards started together on an empty PostgreSQL database would race to do it.
    So no run starts on a database without nbgrader's tables.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    shown = make_url(db_url).render_as_string(hide_password=True)
    if db_url.startswith("sqlite"):
        return None  # one machine, and nbgrader's sqlite path creates what it needs
    try:
        engine = create_engine(db_url)
        try:
            tables = inspect(engine).get_table_names()
        finally:
            engine.dispose()
    except ImportError as exc:
        return (
            f"cannot open the gradebook {shown}: {exc} (install its driver, see grading/README.md)"
        )
    except SQLAlchemyError as exc:
        return f"cannot open the gradebook {shown}: {str(exc).strip().splitlines()[0]}"
    if "assignment" not in tables:
        return (
            f"the gradebook {shown} has no nbgrader tables yet: run `nbgrader "
            f"generate_assignment <assignment>` and `nbgrader db upgrade` once, before "
            f"grading (with shards, before any shard starts)"
        )
    return None


def _dispatch(root, assignment, students, workers, timeout, figures, bar) -> dict[str, dict]:
    """Hand one student at a time to each worker; replace a worker that dies.

    Each worker has a pipe of its own (no shared queue whose lock a killed worker could
    hold), so the parent knows which student each worker is grading. The student of a
    worker that dies is graded again, once; if that worker dies too, the student is graded
    as the blank release with the reason; a third death leaves an error in the report.
    Workers are told to stop only when every student has a row.
    """
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    pending = deque((s, [], None) for s in students)
    rows: dict[str, dict] = {}
    deaths: dict[str, int] = {}
    slots: dict[int, tuple] = {}  # slot -> (process, pipe, task being graded or None)

    def launch(slot: int) -> None:
        here, there = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main,
            args=(str(root), assignment, slot, timeout, figures, there, os.getpid()),
        )
        proc.start()
        there.close()
        slots[slot] = (proc, here, None)

    def assign(slot: int) -> None:
        proc, pipe, task = slots[slot]
        if task is None and pending:
            task = pending.popleft()
            pipe.send(task)
            slots[slot] = (proc, pipe, task)

    for slot in range(workers):
        launch(slot)
        assign(slot)
    try:
        while len(rows) < len(students):
            handles = [h for proc, pipe, _ in slots.values() for h in (pipe, proc.sentinel)]
            wait(handles, timeout=1.0)
            for slot, (proc, pipe, task) in list(slots.items()):
                try:
                    while pipe.poll():
                        row = pipe.recv()
                        rows[row["student"]] = row
                        bar.update(1)
                        task = None
                        slots[slot] = (proc, pipe, None)
                except (EOFError, OSError):
                    pass
                if proc.is_alive():
                    assign(slot)
                    continue
                proc.join()
                pipe.close()
                del slots[slot]
                if task is not None:
                    student, history, blank = task
                    deaths[student] = deaths.get(student, 0) + 1
                    why = f"the worker process grading it died ({_exit_reason(proc.exitcode)})"
                    if deaths[student] == 1:
                        pending.appendleft((student, [*history, f"{why}; graded again"], None))
                    elif deaths[student] == 2:
                        blank = f"{why}, twice; graded as the blank release"
                        pending.appendleft((student, history, blank))
                    else:
                        rows[student] = {
                            "student": student,
                            "error": f"{why} {deaths[student]} times",
                        }
                        bar.update(1)
                if pending:
                    launch(slot)
                    assign(slot)
            if not slots and pending:  # cannot happen: a death with work left relaunches
                break
    finally:
        for _proc, pipe, _ in slots.values():
            try:
                pipe.send(None)
            except OSError:
                pass
        for proc, pipe, _ in slots.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
            pipe.close()
    return rows


SCRATCH_PREFIX = "poolgrader-run-"


def _enter_scratch() -> tuple[Path, str | None]:
    """Make the run's one temporary folder and make it every process's TMPDIR.

    Workers, zygotes, kernels and re-checks make their folders (pipes, staged copies,
    kernel homes, re-check folders) inside it, so that one ``rmtree`` at the end removes
    them all, also those of a worker, zygote or kernel that was SIGKILLed and could not
    clean up. Traversable by others (0711, not listable): kernels run as users of their own.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    os.chmod(scratch, 0o711)
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # read TMPDIR again
    return scratch, saved


def _leave_scratch(scratch: Path, saved: str | None) -> None:
    if saved is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved
    tempfile.tempdir = None
    shutil.rmtree(scratch, ignore_errors=True)


def remove_stale_scratch() -> list[Path]:
    """Remove the temporary folders of runs whose grading command is gone (SIGKILLed with
    its whole process group, or a machine that lost power); return them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists() or not Path("/proc").is_dir():
            continue  # still running (or no /proc to tell)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def reap(run_id: str) -> int:
    """SIGKILL every process that still carries this run's id in its environment.

    Processes of the run die with their parents (``PR_SET_PDEATHSIG``); this is the last
    net, for anything that escaped that chain. Linux only (it reads /proc); 0 elsewhere.
    """
    import signal

    marker = f"{RUN_ENV}={run_id}".encode()
    killed = 0
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0
    for pid in entries:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


def _report(root, cd, assignment, students, rows, elapsed, workers, stem) -> int:
    from nbgrader.api import Gradebook, MissingEntry

    reports = root / "grading" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"{stem}.csv"
    missing, flagged = [], []
    with Gradebook(cd.db_url, cd.course_id) as gb, path.open("w", newline="") as f:
        out = csv.writer(f)
        from .report import CSV_COLUMNS  # the one list of the report CSV's columns

        out.writerow(CSV_COLUMNS)
        for student in students:
            row = rows.get(student, {"student": student, "error": "not graded"})
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                missing.append(student)
            if "error" in row:
                out.writerow([student, "", "", "", "", "", "", "", f"ERROR: {row['error']}"])
                continue
            for nb in row["notebooks"]:
                if nb["flagged"]:
                    flagged.append((student, nb["notebook"], nb["flagged"]))
                clean = " ".join(f"{k}={'pass' if v else 'FAIL'}" for k, v in nb["clean"].items())
                out.writerow(
                    [
                        student,
                        nb["notebook"],
                        nb["score"],
                        nb["max_score"],
                        nb["auto_score"],
                        " ".join(nb["flagged"]),
                        clean,
                        f"{row.get('seconds', 0):.1f}",
                        " | ".join(nb["notes"]),
                    ]
                )
    print(
        f"Graded {len(students)} submissions of {assignment} with {workers} workers "
        f"in {elapsed:.1f} s ({elapsed / len(students):.2f} s per student)."
    )
    print(f"Report: {path.relative_to(root)}")
    for student, nb, cells in flagged:
        print(
            f"FLAGGED {student} {nb}: in-kernel score above the clean re-check "
            f"({', '.join(cells)}); the clean score stands"
        )
    errors = [s for s in students if "error" in rows.get(s, {"error": 1})]
    for student in errors:
        print(f"ERROR {student}: {rows.get(student, {}).get('error', 'not graded')}")
    for student in missing:
        print(f"MISSING {student}: no gradebook row")
    return 1 if missing else 0
