"""``python -m poolkit.grading autograde``: grade a class in parallel, losing nobody.

Run it from the course root (where ``nbgrader_config.py`` is). For one assignment it

1. lists every student with a folder in ``grading/submitted/<student>/<assignment>/``
   (``--student GLOB`` narrows the list);
2. starts ``--workers`` processes (default: one per core). Each loads nbgrader once,
   starts a zygote of pre-warmed kernels, and then, for each student it takes:
   - stages a repaired copy of the submission (``poolkit.grading.submission``);
   - runs nbgrader's own Autograde converter on it, with :class:`SafeExecute` and the
     limited grading kernel, so the gradebook, ``nbgrader export``, the formgrader and
     ``nbgrader generate_feedback`` work as after ``nbgrader autograde``;
   - re-checks every auto-graded exercise in clean processes (``poolkit.grading.recheck``);
     where the in-kernel score is higher, the clean score is written to the gradebook;
   - writes a "Grading notes" cell at the top of the autograded notebook, which the
     feedback shows: every repair, limit, stop and failed re-check, with its reason;
3. shows a progress bar, then writes ``grading/reports/<assignment>.csv`` and prints
   the flagged submissions.

Every student ends with a gradebook row: if grading a submission fails for any reason,
the student is graded again as the blank release with the reason in the notes. A worker
that dies is replaced and its student graded again. Re-runs give the same scores (the
re-check's random inputs are seeded by student and assignment), and manual grades
entered in the formgrader are kept (nbgrader never overwrites a manual score).
"""

from __future__ import annotations

import ast
import csv
import fnmatch
import json
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import nbformat

__all__ = ["autograde", "ensure_kernelspec"]

KERNEL_NAME = "poolkit-grading"
UID_BASE = 61000
NOTES_MARK = "poolkit-grading-notes"


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
        "argv": [sys.executable, "-m", "poolkit.grading.kernel", "-f", "{connection_file}"],
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
    """Every module the released notebooks import, so the zygote can import it first."""
    names: set[str] = set()
    for path in release.glob("*/*.ipynb"):
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
            LimitOutput,
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
            LimitOutput,
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
        hide += [_submitted_root(config, root)]
        if db_url.startswith("sqlite:///"):
            hide.append(Path(db_url[len("sqlite:///") :].split("?")[0]).parent)
        settings = {
            "hide": [str(p) for p in _outer(hide)],
            "readonly": [
                str(p) for p in _outer([Path(poolkit.__file__).parents[1], Path(sys.prefix)])
            ],
            "limits": self.limits.as_dict(),
            "uid": UID_BASE + slot,
            # The kernel stops sending a cell's output a little past what the grader keeps.
            "output_chars": SafeExecute(config=config).max_output_chars + 10_000,
        }
        self.settings = settings
        os.environ[zygote.ENV_SETTINGS] = json.dumps(settings)
        ensure_kernelspec()
        modules = notebook_imports(Path(cd.root) / cd.release_directory)
        self.zygote = zygote.start(modules, figures)
        self.timeout = int(config.Execute.timeout or 60)

    def _autograde_once(self, student: str) -> dict:
        from nbgrader.converters import Autograde
        from nbgrader.utils import capture_log

        self.coursedir.student_id = student
        app = Autograde(coursedir=self.coursedir, config=self.config)
        app.force = True
        app.create_student = True
        return capture_log(app)

    def grade(self, student: str) -> dict:
        started = time.monotonic()
        submitted = _submitted_root(self.config, self.root) / student / self.assignment
        staged = self.staging / student / self.assignment
        notes = stage_notes = []
        try:
            from .submission import stage

            stage_notes = stage(submitted, staged, self.release, self.notebooks)
            result = self._autograde_once(student)
            if not result["success"]:
                log = self._save_log(student, result)
                raise RuntimeError(f"{_last_error(result)}; nbgrader's log: {log}")
            notes = list(stage_notes)
        except Exception as exc:  # noqa: BLE001 (whatever happened, the student is graded)
            notes = [*stage_notes, f"grading failed ({exc}); graded as the blank release"]
            from .submission import stage

            shutil.rmtree(staged, ignore_errors=True)
            stage(self.staging / "__none__", staged, self.release, self.notebooks)
            result = self._autograde_once(student)
            if not result["success"]:
                return {"student": student, "error": _last_error(result), "notes": notes}
        rows = [self._finish(student, nb, notes) for nb in self.notebooks]
        shutil.rmtree(self.staging / student, ignore_errors=True)
        return {"student": student, "notebooks": rows, "seconds": time.monotonic() - started}

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


def _submitted_root(config, root: Path) -> Path:
    cd = _coursedir(config)
    return (Path(cd.root or root) / cd.submitted_directory).resolve()


def _last_error(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip().splitlines()
    return text[-1][:300] if text else "unknown error"


def _worker_main(root, assignment, slot, timeout, figures, tasks, results) -> None:
    import logging
    import warnings

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
        while True:
            student = tasks.get()
            if student is None:
                break
            results.put(("start", slot, student))
            try:
                row = worker.grade(student)
            except Exception:  # noqa: BLE001 (reported, and graded again by the parent)
                row = {"student": student, "error": traceback.format_exc(limit=3)}
            results.put(("done", slot, row))
    finally:
        worker.close()


def students_of(root: Path, assignment: str, pattern: str = "*") -> list[str]:
    config = _load_config(root)
    submitted = _submitted_root(config, root)
    if not submitted.is_dir():
        return []
    return sorted(
        d.name
        for d in submitted.iterdir()
        if d.is_dir() and (d / assignment).is_dir() and fnmatch.fnmatch(d.name, pattern)
    )


def autograde(
    assignment: str,
    workers: int | None = None,
    student: str = "*",
    timeout: int | None = None,
    root: Path | None = None,
    figures: bool = False,
) -> int:
    """Grade every submission of ``assignment``; 0 when every student has a gradebook row.

    ``figures``: render matplotlib figures into the autograded notebooks (and so into the
    feedback). Off by default: nothing is graded on a figure, and drawing them is about a
    third of a notebook's run time.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from tqdm import tqdm

    root = (root or Path.cwd()).resolve()
    if not (root / "nbgrader_config.py").exists():
        print(f"error: no nbgrader_config.py in {root}; run this from the course root")
        return 2
    config = _load_config(root)
    cd = _coursedir(config)
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            print(
                f"error: assignment {assignment!r} is not in the gradebook; "
                f"run `nbgrader generate_assignment {assignment}` first"
            )
            return 2
    students = students_of(root, assignment, student)
    if not students:
        print(
            f"error: no submissions of {assignment!r} match {student!r} in "
            f"{_submitted_root(config, root)}"
        )
        return 2
    workers = max(1, min(workers or os.cpu_count() or 1, len(students)))
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for s in students:
        tasks.put(s)
    procs: dict[int, mp.Process] = {}
    current: dict[int, str | None] = {}

    def launch(slot: int) -> None:
        tasks.put(None)
        proc = ctx.Process(
            target=_worker_main,
            args=(str(root), assignment, slot, timeout, figures, tasks, results),
        )
        proc.start()
        procs[slot], current[slot] = proc, None

    start = time.monotonic()
    for slot in range(workers):
        launch(slot)
    rows: dict[str, dict] = {}
    retried: set[str] = set()
    bar = tqdm(
        total=len(students),
        unit="student",
        desc=f"autograde {assignment}",
        smoothing=0.1,
        dynamic_ncols=True,
    )
    while len(rows) < len(students):
        try:
            kind, slot, payload = results.get(timeout=1.0)
        except queue.Empty:
            for slot, proc in list(procs.items()):
                if not proc.is_alive() and proc.exitcode != 0:
                    lost = current.get(slot)
                    if lost and lost not in rows:
                        if lost in retried:
                            rows[lost] = {"student": lost, "error": "the worker died twice"}
                            bar.update(1)
                        else:
                            retried.add(lost)
                            tasks.put(lost)
                    launch(slot)
            if all(not p.is_alive() for p in procs.values()) and tasks.empty():
                break
            continue
        if kind == "start":
            current[slot] = payload
        else:
            current[slot] = None
            rows[payload["student"]] = payload
            bar.update(1)
    bar.close()
    for proc in procs.values():
        proc.join(timeout=30)
    elapsed = time.monotonic() - start
    code = _report(root, cd, assignment, students, rows, elapsed, workers)
    from .report import write_report

    run = {"wall_seconds": elapsed, "workers": workers, "students": len(students)}
    print(f"Class report: {write_report(root, assignment, run).relative_to(root)}")
    return code


def _report(root, cd, assignment, students, rows, elapsed, workers) -> int:
    from nbgrader.api import Gradebook, MissingEntry

    reports = root / "grading" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"{assignment}.csv"
    missing, flagged = [], []
    with Gradebook(cd.db_url, cd.course_id) as gb, path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "student",
                "notebook",
                "score",
                "max_score",
                "auto_score",
                "flagged",
                "clean_recheck",
                "seconds",
                "notes",
            ]
        )
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
