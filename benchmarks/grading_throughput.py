#!/usr/bin/env python3
"""Grading throughput: stock ``nbgrader autograde`` (serial) against ``poolgrader``.

    .venv/bin/python benchmarks/grading_throughput.py                # 100 students
    .venv/bin/python benchmarks/grading_throughput.py --students 20 --workers 2

It builds a synthetic class in a temporary copy of the course: student ``i`` submits
assignment ``i mod 5``, and the submissions cycle through correct answers, the wrong
answers of ``tests/wrong_answers.py``, the blank release, and the attacks of
``tests/attacks.py`` that stock nbgrader survives. (The fork bomb, the memory bomb, the
hanging loop and the writes into poolkit are left out: under stock nbgrader they would
take the machine down, hang for minutes, or change this repo's files.)

The same class is then graded twice, one after the other, on this machine: with stock
``nbgrader autograde <assignment>`` for each assignment, and with
``python -m poolgrader autograde <assignment>``. It prints wall times, seconds per
notebook and their ratio, and checks that the honest submissions (correct, wrong, blank)
get identical scores both ways. Attack submissions are expected to differ: stock
nbgrader gives some of them points. This is a script, not a test: it asserts nothing,
and its last line is ``speedup: <ratio>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from attacks import attacks, write_submission  # noqa: E402
from nbgrader_course import ASSIGNMENTS, BIN, copy_course, filled_release, nbgrader  # noqa: E402
from wrong_answers import WRONG_ANSWERS  # noqa: E402

SAFE_FOR_STOCK = [
    "patch-comparisons", "patch-checkers", "eq-always-true", "calls-the-library",
    "hard-coded-visible", "os-exit", "sys-exit", "print-flood", "read-secrets",
    "edited-tests", "deleted-tests", "changed-metadata", "invalid-json", "missing-notebook",
    "misnamed-notebook",
]  # fmt: skip


def build_class(root: Path, students: int) -> dict[str, tuple[str, str]]:
    """Write the submissions; return student -> (assignment, kind)."""
    import nbformat

    for assignment in ASSIGNMENTS:
        nbgrader("generate_assignment", assignment, "--force", cwd=root)
    corpus = {a: attacks(a) for a in ASSIGNMENTS}
    kinds = ["correct", "wrong", "blank", *SAFE_FOR_STOCK]
    roster = {}
    for i in range(students):
        assignment = ASSIGNMENTS[i % len(ASSIGNMENTS)]
        kind = kinds[(i // len(ASSIGNMENTS)) % len(kinds)]
        student = f"s{i:03d}-{kind}"
        if kind == "correct":
            sub = types.SimpleNamespace(kind="nb", payload=filled_release(assignment))
        elif kind == "wrong":
            answer_id, source, _ = WRONG_ANSWERS[assignment][0]
            sub = types.SimpleNamespace(
                kind="nb", payload=filled_release(assignment, {answer_id: source})
            )
        elif kind == "blank":
            path = root / "notebooks" / assignment / f"{assignment}.ipynb"
            sub = types.SimpleNamespace(kind="nb", payload=nbformat.read(path, as_version=4))
        else:
            sub = corpus[assignment][kind]
        write_submission(root, student, assignment, sub)
        roster[student] = (assignment, kind)
    return roster


def scores(root: Path, roster: dict) -> dict[str, float | None]:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}") as gb:
        for student, (assignment, _) in roster.items():
            try:
                out[student] = gb.find_submission(assignment, student).score
            except MissingEntry:
                out[student] = None
    return out


def _grader_rows(root: Path) -> list[dict]:
    import csv

    rows = []
    for path in sorted((root / "grading" / "reports").glob("*.csv")):
        if path.name.endswith((".class.csv", ".similarity.csv")):
            continue
        with path.open(newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def _grader_notes(root: Path) -> dict[str, str]:
    return {r["student"]: r.get("notes", "") for r in _grader_rows(root)}


def _print_grader_seconds(root: Path) -> None:
    """poolgrader's own record of each submission's grading time (autograde + re-check)."""
    import statistics

    by_notebook: dict[str, list[float]] = {}
    for row in _grader_rows(root):
        if row.get("seconds"):
            by_notebook.setdefault(row["notebook"], []).append(float(row["seconds"]))
    if by_notebook:
        print("  poolgrader's seconds per submission, by notebook (median, max; 2 run at once):")
    for notebook, seconds in sorted(by_notebook.items()):
        print(f"    {notebook:<28} {statistics.median(seconds):6.2f} {max(seconds):6.2f}")
    slow = sorted((r for r in _grader_rows(root) if r.get("seconds")),
                  key=lambda r: -float(r["seconds"]))[:3]  # fmt: skip
    if slow:
        print("  poolgrader's slowest submissions, with their notes:")
    for row in slow:
        notes = (row.get("notes") or "(none)").replace("\n", " ")
        print(f"    {row['student']} ({row['notebook']}) {float(row['seconds']):.1f} s: "
              f"{notes[:300]}")  # fmt: skip


def run(args: list[str], cwd: Path) -> float:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument(
        "--keep", action="store_true", help="keep the two graded courses, and print where"
    )
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grading-throughput-"))
    try:
        stock_root = copy_course(work / "stock", with_release=False)
        roster = build_class(stock_root, options.students)
        ours_root = work / "ours"
        shutil.copytree(stock_root, ours_root)
        print(f"{len(roster)} students, {len(ASSIGNMENTS)} assignments, {os.cpu_count()} cores")

        per_notebook = {a: sum(1 for a2, _ in roster.values() if a2 == a) for a in ASSIGNMENTS}
        stock_times = {
            a: run([str(BIN / "nbgrader"), "autograde", a, "--force"], stock_root)
            for a in ASSIGNMENTS
        }
        stock = sum(stock_times.values())
        print(f"stock nbgrader autograde (serial):  {stock:7.1f} s  "
              f"{stock / len(roster):5.2f} s per notebook")  # fmt: skip
        command = [sys.executable, "-m", "poolgrader", "autograde"]
        ours_times = {
            a: run([*command, a, "--workers", str(options.workers)], ours_root) for a in ASSIGNMENTS
        }
        ours = sum(ours_times.values())
        print(f"poolgrader ({options.workers} workers):           {ours:7.1f} s  "
              f"{ours / len(roster):5.2f} s per notebook")  # fmt: skip
        print("\nwhere the time goes, per assignment (seconds per submitted notebook):")
        print(f"  {'assignment':<28} {'notebooks':>9} {'stock':>7} {'ours':>7} {'ratio':>6}")
        for a in ASSIGNMENTS:
            n = max(per_notebook[a], 1)
            print(f"  {a:<28} {per_notebook[a]:>9} {stock_times[a] / n:7.2f} "
                  f"{ours_times[a] / n:7.2f} {stock_times[a] / ours_times[a]:6.2f}")  # fmt: skip
        _print_grader_seconds(ours_root)

        before, after = scores(stock_root, roster), scores(ours_root, roster)
        honest = [s for s, (_, kind) in roster.items() if kind in ("correct", "wrong", "blank")]
        differ = [s for s in honest if before[s] != after[s]]
        print(
            f"honest submissions with identical scores: {len(honest) - len(differ)}/{len(honest)}"
        )
        notes = _grader_notes(ours_root)
        for student in differ:
            print(f"  DIFFERENT {student}: stock {before[student]}, ours {after[student]}")
            print(f"    poolgrader's notes: {notes.get(student) or '(none)'}")
        gained_stock = [s for s in roster if s not in honest and (before[s] or 0) > 0]
        gained_ours = [s for s in roster if s not in honest and (after[s] or 0) > 0]
        print(
            f"attack submissions given points: stock {len(gained_stock)}, ours {len(gained_ours)}"
        )
        lost = [s for s in roster if before[s] is None]
        print(f"students without a gradebook row: stock {len(lost)}, "
              f"ours {sum(1 for s in roster if after[s] is None)}")  # fmt: skip
        print(f"speedup: {stock / ours:.2f}")
    finally:
        if options.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
