"""The class report: ``grading/reports/<assignment>.html``, for instructors to look at.

One self-contained HTML file (CSS inline, the histogram a base64 PNG drawn with
matplotlib, no script and no external URL) with, from the top:

- summary numbers: students, mean and median total, full marks, flagged submissions,
  written answers still to grade, the run's wall time;
- a histogram of total scores, with the count of every bin;
- every auto-graded exercise (test cell): mean points out of its maximum, the share of
  students with full marks, and the most common failing test message with how many
  students hit it (an answer left as the release's ``NotImplementedError`` is counted, not
  ranked: it is not a mistake), hardest exercise first;
- written-answer grading progress (graded, still to grade, left blank);
- flagged submissions with their reasons (repairs, limits hit and kernels stopped,
  re-check disagreements, grading failures, near-copies), then the near-copy pairs: for
  every code answer cell, each submission whose answer is a near-copy of the model answer
  or of another student's (:mod:`poolgrader.similarity`, at or above ``NEAR_COPY``), with
  the similarity; flags for the instructor to review, never a change of score;
- every student's total and exercise scores, lowest total first;
- the run's timing.

Scores come from nbgrader's gradebook (the ``db_url`` of ``nbgrader_config.py``), never
recomputed; flags, notes and timing from the grader's CSV (``<assignment>.csv``) and its
run file (``<assignment>.run.json``); failing test messages from the autograded notebooks.
``python -m poolgrader autograde`` writes it at the end of a run, and
``python -m poolgrader report <assignment>`` rebuilds it from the gradebook and one or
more CSVs (a class graded in shards, or after manual grading).

The near-copy pairs are also written to ``<assignment>.similarity.csv`` (one row per pair:
notebook, cell, student, other, similarity; ``other`` is ``(model answer)`` for a copy of
the model answer), and into the run file when ``autograde`` writes one. They are computed
when the report is built, over every student in the gradebook, so that a class graded in
shards is compared across shards.

Every string that can come from a student (ids, notes, error messages) is escaped.
"""

from __future__ import annotations

import base64
import csv
import glob
import io
import json
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

__all__ = [
    "build_report",
    "collect",
    "near_copy_pairs",
    "write_class_csv",
    "write_report",
    "write_similarity_csv",
    "Flag",
    "FLAG_KINDS",
    "MODEL",
    "Similar",
]

# Flag kinds, in the order the report lists them: (key, label, what it means).
FLAG_KINDS = {
    "recheck": ("re-check disagreement", "in-kernel tests passed, the clean re-check failed"),
    "stopped": ("stopped or killed", "a limit, a timeout, a crash or a kill stopped grading"),
    "repair": ("repaired", "the submission was repaired or replaced before grading"),
    "failed": ("grading failed", "graded as the blank release"),
    # poolgrader.similarity, computed when the report is built (near_copy_pairs)
    "similarity": ("near-copy", "an answer cell is a near-copy of the model answer or another's"),
    "other": ("note", "another note from the grader"),
}
MESSAGE_CHARS = 240
MAX_ANSWER_CHARS = 50_000  # longer answer cells are compared on their first this many
MODEL = "(model answer)"  # the ``other`` of a near-copy of the instructor's answer
SIMILARITY_COLUMNS = ["notebook", "cell", "student", "other", "similarity"]
UNANSWERED = "NotImplementedError"  # what the release's answer cells raise


def e(value) -> str:
    """Escape for HTML text and attribute values."""
    return escape(str(value), quote=True)


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


@dataclass
class Exercise:
    name: str
    notebook: str
    max_score: float
    written: bool


@dataclass
class Flag:
    student: str
    notebook: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Similar:
    """One near-copy pair: ``student``'s answer in ``cell`` and ``other``'s (a student, or
    :data:`MODEL`), with their similarity (``poolgrader.similarity.pair``)."""

    notebook: str
    cell: str
    student: str
    other: str
    similarity: float


@dataclass
class ClassData:
    assignment: str
    exercises: list[Exercise]
    max_total: float
    totals: dict[str, float]  # student -> the gradebook's total
    scores: dict[str, dict[str, float | None]]  # student -> exercise -> the gradebook's score
    written: dict[str, dict[str, str]]  # exercise -> student -> graded | to grade | blank
    review: dict[str, list[str]]  # auto-graded exercise -> students marked for review
    failures: dict[str, Counter]  # exercise -> Counter of first error lines
    flags: list[Flag]
    seconds: dict[str, float]  # student -> seconds per notebook (from the CSV)
    runs: list[dict] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    similar: list[Similar] = field(default_factory=list)
    similarity_checked: dict = field(default_factory=dict)  # cells, answers, seconds


def _config_and_coursedir(root: Path):
    from .autograde import _coursedir, _load_config

    config = _load_config(root)
    return config, _coursedir(config)


def _first_error(nb, grade_id: str) -> str:
    """The first line of the first error a test cell shows, as ``Name: message``."""
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") != grade_id:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = (out.get("evalue") or "").strip().splitlines()
                name = out.get("ename") or "Error"
                line = f"{name}: {value[0]}" if value else name
                return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"
        return "(no error shown: the cell's output is empty)"
    return "(the test cell is missing from the autograded notebook)"


def _kind_of(note: str) -> str:
    if note.startswith(("grading failed", "ERROR")):
        return "failed"
    if "clean re-check failed" in note:
        return "recheck"
    if note.startswith("grading stopped") or "killed" in note or "died" in note:
        return "stopped"
    repairs = (
        "could not be read",
        "could not be opened",
        "no notebook named",
        "grading metadata changed",
        "had its type changed",
        "was graded as an ordinary cell",
        "graded as the blank release",
    )
    if any(r in note for r in repairs):
        return "repair"
    if "similar to" in note:
        return "similarity"
    return "other"


def default_csvs(reports: Path, assignment: str) -> list[Path]:
    """The grader's CSVs of ``assignment`` in ``reports``: a whole-class run's and every
    shard's (``<assignment>.shard-K-of-N.csv``)."""
    found = [reports / f"{assignment}.csv"]
    found += sorted(reports.glob(f"{glob.escape(assignment)}.shard-*-of-*.csv"))
    return [p for p in found if p.is_file()]


def _read_csvs(paths: list[Path]) -> tuple[dict[str, list[dict]], list[dict]]:
    """student -> the CSV rows of that student, and the run files found next to the CSVs.

    A student found in several CSVs (a shard run again after it died, or a whole-class run
    before the shards) keeps the rows of the newest file only, so nobody is counted twice.
    """
    rows: dict[str, list[dict]] = {}
    runs = []
    for path in sorted(paths, key=lambda p: p.stat().st_mtime_ns):
        mine: dict[str, list[dict]] = {}
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                mine.setdefault(row["student"], []).append(row)
        rows.update(mine)
        run = path.with_suffix(".run.json")
        if run.exists():
            runs.append(json.loads(run.read_text()))
    return rows, runs


_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def _code_answers(nb) -> dict[str, str]:
    """grade_id -> source of every code answer cell of a notebook."""
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = cell.get("source", "")
    return out


def _read_notebook(paths):
    import nbformat

    for path in paths:
        try:
            return nbformat.read(path, as_version=4)
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            continue
    return None


def near_copy_pairs(cd, assignment: str, students, threshold: float | None = None):
    """The near-copy pairs of ``assignment`` among ``students``, and what was checked.

    For every code answer cell (grade_id) of every notebook in ``source/`` (the
    solutions): each student's answer against the model answer, and every two students'
    answers against each other, with the released skeleton of the cell as boilerplate. A
    student's answer is read from the autograded notebook (repaired; on this machine), or
    else the submitted one (shared by every shard). A blank answer, or one left as the
    release has it, is never compared. A pair of students who both copy the model answer is
    not listed again: each of them has its pair with the model answer.
    """
    from .similarity import NEAR_COPY, fingerprint, prepare, share

    threshold = NEAR_COPY if threshold is None else threshold
    started = time.perf_counter()
    source_dir = Path(cd.format_path(cd.source_directory, ".", assignment))
    release_dir = Path(cd.format_path(cd.release_directory, ".", assignment))
    found: list[Similar] = []
    cells = answers = 0
    for source_path in sorted(source_dir.glob("*.ipynb")):
        name = source_path.stem
        model_nb = _read_notebook([source_path])
        release_nb = _read_notebook([release_dir / source_path.name])
        if model_nb is None:
            continue
        skeletons = _code_answers(release_nb) if release_nb is not None else {}
        theirs = {}
        for student in students:
            nb = _read_notebook(
                [
                    Path(cd.format_path(cd.autograded_directory, student, assignment))
                    / source_path.name,
                    Path(cd.format_path(cd.submitted_directory, student, assignment))
                    / source_path.name,
                ]
            )
            theirs[student] = _code_answers(nb) if nb is not None else {}
        for cell, model in _code_answers(model_nb).items():
            skeleton = skeletons.get(cell, "")
            common = prepare(skeleton)
            model_fp = fingerprint(_MARKER.sub("", model), common)
            prints, made = {}, {}  # the same code (a verbatim copy) is fingerprinted once
            for student in students:
                code = theirs[student].get(cell)
                if not isinstance(code, str) or not code.strip():
                    continue
                if code.strip() == skeleton.strip():
                    continue
                code = code[:MAX_ANSWER_CHARS]
                if code not in made:
                    made[code] = fingerprint(code, common)
                prints[student] = made[code]
            cells += 1
            answers += len(prints)
            copies = set()
            for student, fp in prints.items():
                value = max(share(fp, model_fp), share(model_fp, fp))
                if value >= threshold:
                    copies.add(student)
                    found.append(Similar(name, cell, student, MODEL, round(value, 3)))
            holders: dict[int, list[str]] = {}
            for student, fp in prints.items():
                for h in fp.hashes:
                    holders.setdefault(h, []).append(student)
            candidates = set()
            for owners in holders.values():
                for i, first in enumerate(owners):
                    candidates.update(tuple(sorted((first, second))) for second in owners[i + 1 :])
            for a, b in sorted(candidates):
                if a in copies and b in copies:
                    continue
                value = max(share(prints[a], prints[b]), share(prints[b], prints[a]))
                if value >= threshold:
                    found.append(Similar(name, cell, a, b, round(value, 3)))
    checked = {
        "cells": cells,
        "answers": answers,
        "students": len(students),
        "threshold": threshold,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return found, checked


def _similarity_flags(similar: list[Similar]) -> list[Flag]:
    flags = []
    for p in similar:
        if p.other == MODEL:
            flags.append(
                Flag(p.student, p.notebook, "similarity",
                     f"{p.cell}: near-copy of the model answer (similarity {p.similarity:.2f})")
            )  # fmt: skip
            continue
        for me, them in ((p.student, p.other), (p.other, p.student)):
            flags.append(
                Flag(me, p.notebook, "similarity",
                     f"{p.cell}: near-copy of {them}'s answer (similarity {p.similarity:.2f})")
            )  # fmt: skip
    return flags


def collect(
    root: Path,
    assignment: str,
    csv_paths: list[Path] | None = None,
    extra_flags: list[Flag] | None = None,
) -> ClassData:
    """Everything the report shows: scores from the gradebook, the rest from the grader.

    ``extra_flags`` are listed with the grader's own, for example a similarity check's
    (``Flag(student, notebook, "similarity", reason)``).
    """
    import nbformat
    from nbgrader.api import Gradebook

    root = Path(root).resolve()
    _, cd = _config_and_coursedir(root)
    if csv_paths is None:
        csv_paths = default_csvs(root / "grading" / "reports", assignment)
    csv_rows, runs = _read_csvs([Path(p) for p in csv_paths])

    exercises: list[Exercise] = []
    totals, scores, review = {}, {}, {}
    written: dict[str, dict[str, str]] = {}
    failing: dict[str, list[tuple[str, str]]] = {}  # exercise -> [(student, notebook)]
    with Gradebook(cd.db_url, cd.course_id) as gb:
        record = gb.find_assignment(assignment)
        for nb in sorted(record.notebooks, key=lambda n: n.name):
            manual = {c.name for c in nb.solution_cells} | {c.name for c in nb.task_cells}
            for cell in nb.grade_cells:
                exercises.append(Exercise(cell.name, nb.name, cell.max_score, cell.name in manual))
            for cell in nb.task_cells:
                exercises.append(Exercise(cell.name, nb.name, cell.max_score, True))
        max_total = record.max_score
        for sub in gb.assignment_submissions(assignment):
            student = sub.student.id
            totals[student] = sub.score
            scores[student] = {}
            for snb in sub.notebooks:
                for grade in snb.grades:
                    ex = next(
                        x for x in exercises if (x.name, x.notebook) == (grade.name, snb.name)
                    )
                    scores[student][grade.name] = grade.score
                    if ex.written:
                        state = (
                            "graded"
                            if grade.manual_score is not None
                            else "to grade"
                            if grade.needs_manual_grade
                            else "blank"
                        )
                        written.setdefault(grade.name, {})[student] = state
                    else:
                        if grade.needs_manual_grade:
                            review.setdefault(grade.name, []).append(student)
                        if (grade.score or 0) < grade.max_score:
                            failing.setdefault(grade.name, []).append((student, snb.name))

    failures: dict[str, Counter] = {}
    opened: dict[tuple[str, str], object] = {}
    for grade_id, who in failing.items():
        counter = failures.setdefault(grade_id, Counter())
        for student, name in who:
            if (student, name) not in opened:
                folder = Path(cd.format_path(cd.autograded_directory, student, assignment))
                try:
                    opened[student, name] = nbformat.read(folder / f"{name}.ipynb", as_version=4)
                except (OSError, ValueError):
                    opened[student, name] = None
            nb = opened[student, name]
            counter[
                _first_error(nb, grade_id) if nb else "(no autograded notebook on this machine)"
            ] += 1

    flags: list[Flag] = []
    seconds: dict[str, float] = {}
    for student, rows in csv_rows.items():
        for row in rows:
            nb = row.get("notebook", "")
            if (row.get("notes") or "").startswith("ERROR"):
                flags.append(Flag(student, nb, "failed", row["notes"][len("ERROR: ") :]))
                continue
            notes = [n for n in (row.get("notes") or "").split(" | ") if n]
            for note in notes:
                flags.append(Flag(student, nb, _kind_of(note), note))
            for grade_id in (row.get("flagged") or "").split():
                if not any(n.startswith(f"{grade_id}: ") for n in notes):
                    reason = f"{grade_id}: the clean re-check failed"
                    flags.append(Flag(student, nb, "recheck", reason))
        graded = [r for r in rows if r.get("seconds")]
        if graded:
            seconds[student] = float(graded[0]["seconds"]) / len(graded)
    similar, checked = near_copy_pairs(cd, assignment, sorted(set(totals) | set(csv_rows)))
    flags += _similarity_flags(similar)
    flags += extra_flags or []
    for student in sorted(set(csv_rows) - set(totals)):
        flags.append(Flag(student, "", "failed", "in the grader's CSV but not in the gradebook"))
    order = list(FLAG_KINDS)
    flags.sort(key=lambda f: (f.student, f.notebook, order.index(f.kind)))
    return ClassData(
        assignment=assignment,
        exercises=exercises,
        max_total=max_total,
        totals=totals,
        scores=scores,
        written=written,
        review=review,
        failures=failures,
        flags=flags,
        seconds=seconds,
        runs=runs,
        sources=[str(p) for p in csv_paths],
        similar=similar,
        similarity_checked=checked,
    )


# --- the figure ------------------------------------------------------------------------


def histogram_bins(max_total: float) -> list[tuple[float, float]]:
    """Bins of whole points (wider for long assignments), the last one closed at the top."""
    import math

    top = max(max_total, 1.0)
    width = max(1, math.ceil(top / 20))
    edges = [k * width for k in range(math.ceil(top / width) + 1)]
    if edges[-1] < top:
        edges.append(edges[-1] + width)
    return list(zip(edges[:-1], edges[1:], strict=True))


def bin_counts(totals: list[float], bins: list[tuple[float, float]]) -> list[int]:
    counts = [0] * len(bins)
    for t in totals:
        for k, (lo, hi) in enumerate(bins):
            if lo <= t < hi or (k == len(bins) - 1 and t >= lo):
                counts[k] += 1
                break
    return counts


def _histogram_png(data: ClassData, bins, counts) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 2.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lefts = [lo for lo, _ in bins]
    widths = [hi - lo for lo, hi in bins]
    bars = ax.bar(lefts, counts, width=widths, align="edge", color="#3b6ea5", edgecolor="white")
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=8, padding=1)
    totals = list(data.totals.values())
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#c0392b", linewidth=1.5, linestyle="--")
        ax.text(mean, max(counts) * 1.12 or 1, f" mean {fmt(round(mean, 2))}", color="#c0392b",
                fontsize=8, va="top")  # fmt: skip
    ax.set_xlim(0, bins[-1][1])
    ax.set_ylim(0, max(max(counts, default=0) * 1.2, 1))
    ax.set_xlabel(f"total score (out of {fmt(data.max_total)})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --- HTML -------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;
 margin:0;background:#f4f6f9}
main{max-width:1100px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:6px 0 2px}h2{font-size:17px;margin:26px 0 8px;
 border-bottom:2px solid #dde3ea;padding-bottom:3px}
.sub{color:#5b6775;font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0 4px}
.card{flex:1 1 0;background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:8px 12px;
 min-width:96px}
.card .v{font-size:22px;font-weight:600}.card .k{color:#5b6775;font-size:12px}
.card.warn .v{color:#b9520b}.card.ok .v{color:#1e7b45}
table{border-collapse:collapse;background:#fff;width:100%;border:1px solid #dde3ea}
th,td{padding:5px 9px;border-bottom:1px solid #e8ecf1;text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600;font-size:12.5px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{display:block;height:100%;background:#3b6ea5}
.barbg{display:inline-block;width:80px;height:9px;background:#e3e8ee;border-radius:2px;overflow:hidden;
 margin-right:6px;vertical-align:middle}
code,.msg{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.msg{white-space:pre-wrap;word-break:break-word}
.tag{display:inline-block;border-radius:10px;padding:0 8px;font-size:11.5px;font-weight:600;
 white-space:nowrap}
.tag.recheck{background:#fde2e1;color:#a3211b}.tag.stopped{background:#fdebd3;color:#8a4a06}
.tag.repair{background:#e4ecfb;color:#23498f}.tag.failed{background:#f3d9f5;color:#7a1c84}
.tag.similarity{background:#fff3c4;color:#6b5300}.tag.other{background:#e9edf1;color:#3c4650}
.muted{color:#7b8794}.low{background:#fff6f0}
img{max-width:100%;background:#fff;border:1px solid #dde3ea;border-radius:6px}
.hist{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
.hist table{width:auto}
ul.reasons{margin:0;padding-left:16px}
details{margin-top:4px}summary{cursor:pointer;color:#3b6ea5;font-size:12px}
"""


def _bar(fraction: float) -> str:
    width = max(0.0, min(1.0, fraction)) * 80
    return f'<span class="barbg"><span class="bar" style="width:{width:.0f}px"></span></span>'


def _card(key: str, value: str, kind: str = "", ident: str = "") -> str:
    attr = f' id="{e(ident)}"' if ident else ""
    return (
        f'<div class="card {kind}"{attr}><div class="v">{value}</div>'
        f'<div class="k">{e(key)}</div></div>'
    )


def render(data: ClassData) -> str:
    """The report's HTML: every student-supplied string escaped."""
    students = sorted(data.totals, key=lambda s: (data.totals[s], s))
    totals = [data.totals[s] for s in students]
    n = len(students)
    auto = [x for x in data.exercises if not x.written]
    manual = [x for x in data.exercises if x.written]
    flagged_students = sorted({f.student for f in data.flags})
    to_grade = sum(v == "to grade" for per in data.written.values() for v in per.values())
    review = sum(len(v) for v in data.review.values())
    full = sum(t >= data.max_total for t in totals)
    wall = sum(r.get("wall_seconds", 0) for r in data.runs)
    parts = []
    add = parts.append
    add(f"<h1>{e(data.assignment)}: class report</h1>")
    made = time.strftime("%Y-%m-%d %H:%M %Z")
    add(
        f"<div class=\"sub\">Made {e(made)} from nbgrader's gradebook (scores) and the grader's "
        f"report{'s' if len(data.sources) != 1 else ''} "
        f"{', '.join(f'<code>{e(Path(s).name)}</code>' for s in data.sources) or '(none found)'}"
        ". Scores include manual grades entered so far.</div>"
    )
    add('<div class="cards" id="summary">')
    add(_card("students graded", str(n), ident="card-students"))
    if n:
        mean = statistics.fmean(totals)
        add(_card(f"mean total / {fmt(data.max_total)}", fmt(round(mean, 2)), ident="card-mean"))
        add(_card("median total", fmt(round(statistics.median(totals), 2)), ident="card-median"))
    add(_card("full marks", str(full), "ok" if full else "", ident="card-full"))
    add(
        _card(
            "flagged submissions",
            str(len(flagged_students)),
            "warn" if flagged_students else "ok",
            ident="card-flagged",
        )
    )
    if manual:
        add(
            _card(
                "written answers to grade",
                str(to_grade),
                "warn" if to_grade else "ok",
                ident="card-to-grade",
            )
        )
    if data.runs:
        runs = f" (sum of {len(data.runs)} runs)" if len(data.runs) > 1 else ""
        add(_card(f"grading wall time{runs}", f"{wall:.0f} s", ident="card-wall"))
    add("</div>")

    # Distribution.
    add('<h2 id="distribution">Total scores</h2>')
    bins = histogram_bins(data.max_total)
    counts = bin_counts(totals, bins)
    if n:
        png = _histogram_png(data, bins, counts)
        alt = ", ".join(
            f"{fmt(lo)}–{fmt(hi)}: {c}" for (lo, hi), c in zip(bins, counts, strict=True)
        )
        rows = []
        for k, ((lo, hi), c) in enumerate(zip(bins, counts, strict=True)):
            if not c:
                continue
            closing = "]" if k == len(bins) - 1 else ")"
            rows.append(
                f'<tr data-lo="{lo}" data-hi="{hi}" data-closed="{closing == "]"}">'
                f"<td>[{fmt(lo)}, {fmt(hi)}{closing}</td>"
                f'<td class="n">{c}</td></tr>'
            )
        add(
            f'<div class="hist"><img id="histogram" alt="students per total score: {e(alt)}" '
            f'src="data:image/png;base64,{png}">'
            f'<table id="histogram-counts"><tr><th>total score</th><th class="n">students</th>'
            f"</tr>{''.join(rows)}</table></div>"
        )
    else:
        add('<p class="muted">No submissions in the gradebook.</p>')

    # Exercises, hardest first.
    add('<h2 id="exercises">Auto-graded exercises (hardest first)</h2>')
    if auto and n:
        stats = []
        for x in auto:
            got = [data.scores[s].get(x.name) or 0.0 for s in students]
            mean = statistics.fmean(got)
            share = sum(g >= x.max_score for g in got) / n
            stats.append((share, mean / x.max_score if x.max_score else 1, x, mean))
        stats.sort(key=lambda t: (t[0], t[1], t[2].name))
        add(
            '<table id="exercise-table"><tr><th>exercise</th><th class="n">mean points</th>'
            '<th class="n">full marks</th><th>most common failing test message</th></tr>'
        )
        for share, ratio, x, mean in stats:
            counter = data.failures.get(x.name, Counter())
            failing = sum(counter.values())
            # The release's template raises a bare NotImplementedError: not a mistake.
            unanswered = counter.get(UNANSWERED, 0)
            ranked = sorted(counter.items(), key=lambda kv: (kv[0] == UNANSWERED, -kv[1], kv[0]))
            if ranked:
                (message, count), *others = ranked
                msg = (
                    f'<div class="msg top">{e(message)}</div>'
                    f'<div class="muted hits">{count} of {failing} failing '
                    f"student{'s' if failing != 1 else ''}</div>"
                )
                if unanswered and message != UNANSWERED:
                    msg += (
                        f'<div class="muted unanswered">{unanswered} of them left it '
                        f"unanswered ({UNANSWERED})</div>"
                    )
                if others:
                    items = "".join(
                        f'<li><span class="msg">{e(m)}</span> <span class="muted">({c})</span></li>'
                        for m, c in others
                    )
                    msg += (
                        f"<details><summary>{len(others)} other "
                        f"message{'s' if len(others) != 1 else ''}</summary>"
                        f"<ul>{items}</ul></details>"
                    )
            else:
                msg = '<span class="muted">nobody failed</span>'
            where = (
                f' <span class="muted">({e(x.notebook)})</span>'
                if len({y.notebook for y in data.exercises}) > 1
                else ""
            )
            add(
                f'<tr data-exercise="{e(x.name)}"{" class=low" if share < 0.5 else ""}>'
                f"<td><code>{e(x.name)}</code>{where}</td>"
                f'<td class="n mean">{_bar(ratio)}{fmt(round(mean, 2))} / {fmt(x.max_score)}</td>'
                f'<td class="n share">{share * 100:.0f}% '
                f'<span class="muted">({round(share * n)}/{n})</span></td>'
                f"<td>{msg}</td></tr>"
            )
        add("</table>")
    else:
        add('<p class="muted">No auto-graded exercises or no submissions.</p>')

    # Written answers.
    add('<h2 id="written">Written answers: manual grading progress</h2>')
    if manual:
        add(
            '<table id="written-table"><tr><th>answer</th><th class="n">graded</th>'
            '<th class="n">to grade</th><th class="n">left blank (0, nothing to grade)</th>'
            '<th class="n">mean of graded</th><th>progress</th></tr>'
        )
        for x in manual:
            states = data.written.get(x.name, {})
            graded = [s for s, v in states.items() if v == "graded"]
            todo = sum(v == "to grade" for v in states.values())
            blank = sum(v == "blank" for v in states.values())
            mean = (
                f"{fmt(round(statistics.fmean(data.scores[s][x.name] or 0 for s in graded), 2))}"
                f" / {fmt(x.max_score)}"
                if graded
                else "–"
            )
            need = len(graded) + todo
            add(
                f'<tr data-exercise="{e(x.name)}"><td><code>{e(x.name)}</code></td>'
                f'<td class="n graded">{len(graded)}</td><td class="n todo">{todo}</td>'
                f'<td class="n blank">{blank}</td><td class="n">{mean}</td>'
                f"<td>{_bar(len(graded) / need if need else 1)}"
                f"{len(graded)} of {need} done</td></tr>"
            )
        add("</table>")
        if review:
            who = ", ".join(
                f"<code>{e(x)}</code> ({', '.join(e(s) for s in sorted(v))})"
                for x, v in sorted(data.review.items())
            )
            add(
                f'<p id="review">{review} auto-graded answer{"s" if review != 1 else ""} '
                f"marked for manual review in the formgrader (re-check disagreements): {who}</p>"
            )
    else:
        add('<p class="muted">This assignment has no manually graded answers.</p>')

    # Flags.
    add('<h2 id="flags">Flagged submissions</h2>')
    if data.flags:
        add('<table id="flag-table"><tr><th>student</th><th>flag</th><th>reasons</th></tr>')
        groups: dict[tuple[str, str], list[str]] = {}
        for f in data.flags:
            where = f"{f.notebook}: " if len({x.notebook for x in data.exercises}) > 1 else ""
            groups.setdefault((f.student, f.kind), []).append(where + f.reason)
        for (student, kind), reasons in groups.items():
            label = FLAG_KINDS[kind][0]
            items = "".join(f"<li>{e(r)}</li>" for r in reasons)
            add(
                f'<tr data-student="{e(student)}" data-kind="{e(kind)}">'
                f"<td>{e(student)}</td>"
                f'<td><span class="tag {e(kind)}">{e(label)}</span></td>'
                f'<td class="msg"><ul class="reasons">{items}</ul></td></tr>'
            )
        add("</table>")
    else:
        add(
            '<p class="muted">No flags: no repairs, stops, re-check disagreements or failures.</p>'
            if data.sources
            else '<p class="muted">No grader CSV found, so no flags to show.</p>'
        )
    add(_similarity_section(data))

    # Students.
    add('<h2 id="students">Students (lowest total first)</h2>')
    heads = "".join(f'<th class="n"><code>{e(x.name)}</code></th>' for x in data.exercises)
    add(
        f'<table id="student-table"><tr><th>student</th><th class="n">total / '
        f"{fmt(data.max_total)}</th>{heads}<th>flags</th></tr>"
    )
    flag_kinds: dict[str, list[str]] = {}
    for f in data.flags:
        if f.kind not in flag_kinds.setdefault(f.student, []):
            flag_kinds[f.student].append(f.kind)
    for s in students:
        cells = []
        for x in data.exercises:
            value = data.scores[s].get(x.name)
            state = data.written.get(x.name, {}).get(s)
            shown = "to grade" if state == "to grade" else fmt(value)
            low = " low" if state != "to grade" and (value or 0) < x.max_score else ""
            cells.append(f'<td class="n{low}" data-exercise="{e(x.name)}">{e(shown)}</td>')
        tags = " ".join(
            f'<span class="tag {e(k)}">{e(FLAG_KINDS[k][0])}</span>' for k in flag_kinds.get(s, [])
        )
        add(
            f'<tr data-student="{e(s)}"><td>{e(s)}</td>'
            f'<td class="n total">{fmt(data.totals[s])}</td>{"".join(cells)}<td>{tags}</td></tr>'
        )
    add("</table>")

    # Timing.
    add('<h2 id="timing">Run timing</h2>')
    per = list(data.seconds.values())
    items = []
    for run in data.runs:
        items.append(
            f"<li>{e(run.get('finished', ''))}: {run.get('students', '?')} students with "
            f"{run.get('workers', '?')} worker{'s' if run.get('workers') != 1 else ''} in "
            f"<b>{run.get('wall_seconds', 0):.1f} s</b> wall time</li>"
        )
    if per:
        slow = sorted(data.seconds.items(), key=lambda kv: -kv[1])[:3]
        items.append(
            f'<li id="per-notebook">per notebook (each worker, from the CSV): mean '
            f"<b>{statistics.fmean(per):.1f} s</b>, median "
            f"<b>{statistics.median(per):.1f} s</b>, slowest "
            + ", ".join(f"{e(s)} {t:.1f} s" for s, t in slow)
            + "</li>"
        )
    add(f"<ul>{''.join(items)}</ul>" if items else '<p class="muted">No timing recorded.</p>')

    title = f"{e(data.assignment)}: class report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Nothing in this file may load or run anything, even if escaping were missed.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def _similarity_section(data: ClassData) -> str:
    checked = data.similarity_checked
    if not checked:
        return '<p class="muted" id="similarity">Similarity between submissions: not checked.</p>'
    head = (
        f'<h3 id="similarity-head">Near-copies (flags to review; scores unchanged)</h3>'
        f'<p class="muted" id="similarity">{checked["answers"]} answers in '
        f"{checked['cells']} code answer cell{'s' if checked['cells'] != 1 else ''} of "
        f"{checked['students']} students compared with the model answer and with each other "
        f"(copydetect's winnowing, the released skeleton ignored), in "
        f"{checked['seconds']:.1f} s; a pair at or above {checked['threshold']:g} is listed: "
        f"{len(data.similar)} pair{'s' if len(data.similar) != 1 else ''}.</p>"
    )
    if not data.similar:
        return head
    rows = "".join(
        f'<tr data-cell="{e(p.cell)}" data-student="{e(p.student)}" data-other="{e(p.other)}" '
        f'data-similarity="{p.similarity:.3f}"><td><code>{e(p.cell)}</code></td>'
        f"<td>{e(p.student)}</td><td>{e(p.other)}</td>"
        f'<td class="n">{p.similarity:.2f}</td></tr>'
        for p in sorted(data.similar, key=lambda p: (-p.similarity, p.cell, p.student, p.other))
    )
    return (
        head + '<table id="similarity-table"><tr><th>answer cell</th><th>student</th>'
        f'<th>near-copy of</th><th class="n">similarity</th></tr>{rows}</table>'
    )


def build_report(
    root: Path,
    assignment: str,
    csv_paths: list[Path] | None = None,
    extra_flags: list[Flag] | None = None,
) -> str:
    """The report's HTML for ``assignment`` from the gradebook and the grader's CSVs."""
    return render(collect(root, assignment, csv_paths, extra_flags))


CSV_COLUMNS = [
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


def write_class_csv(
    root: Path, assignment: str, csv_paths: list[Path] | None = None, output: Path | None = None
) -> Path:
    """One CSV for the class (``grading/reports/<assignment>.class.csv``): the grader's CSVs
    merged (a whole-class run's, every shard's), one row per student and notebook.

    Score and maximum come from the gradebook now (manual grades entered so far included);
    the in-kernel score, flags, re-check, seconds and notes from the newest grader CSV that
    has the student. A gradebook row no CSV has says so in its notes; a CSV row with no
    gradebook row is kept as an ERROR.
    """
    from nbgrader.api import Gradebook

    root = Path(root).resolve()
    reports = root / "grading" / "reports"
    if csv_paths is None:
        csv_paths = default_csvs(reports, assignment)
    csv_rows, _ = _read_csvs([Path(p) for p in csv_paths])
    _, cd = _config_and_coursedir(root)
    out_rows = []
    graded = set()
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            student = sub.student.id
            graded.add(student)
            by_notebook = {r.get("notebook"): r for r in csv_rows.get(student, [])}
            for snb in sorted(sub.notebooks, key=lambda n: n.name):
                row = by_notebook.get(snb.name)
                if row is None:
                    row = {"notes": "no grader CSV has this student (graded another way?)"}
                out_rows.append(
                    {**row, "student": student, "notebook": snb.name,
                     "score": snb.score, "max_score": snb.max_score}
                )  # fmt: skip
    for student in sorted(set(csv_rows) - graded):
        for row in csv_rows[student]:
            note = row.get("notes") or ""
            if not note.startswith("ERROR"):
                note = "ERROR: in the grader's CSV but not in the gradebook" + (
                    f" | {note}" if note else ""
                )
            out_rows.append({**row, "notes": note})
    out_rows.sort(key=lambda r: (r["student"], r.get("notebook") or ""))
    path = Path(output) if output else reports / f"{assignment}.class.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(out_rows)
    return path


def write_run(path: Path, run: dict) -> None:
    """Save a run's timing (wall_seconds, workers, students) for later reports."""
    run = {**run, "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=1) + "\n")


def write_report(
    root: Path,
    assignment: str,
    run: dict | None = None,
    csv_paths: list[Path] | None = None,
    output: Path | None = None,
    extra_flags: list[Flag] | None = None,
) -> Path:
    """Write ``grading/reports/<assignment>.html`` (or ``output``); return its path.

    ``run`` (from ``autograde``: wall_seconds, workers, students) is saved next to the CSV as
    ``<assignment>.run.json``, so a report rebuilt later still shows the run's timing.
    """
    root = Path(root).resolve()
    reports = root / "grading" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    if run is not None:
        write_run(reports / f"{assignment}.run.json", run)
    data = collect(root, assignment, csv_paths, extra_flags)
    write_similarity_csv(reports / f"{assignment}.similarity.csv", data.similar)
    if run is not None:  # the pairs too, for whoever reads the run file
        pairs = [vars(p) for p in data.similar]
        write_run(reports / f"{assignment}.run.json",
                  {**run, "similarity": {**data.similarity_checked, "pairs": pairs}})  # fmt: skip
    path = Path(output) if output else reports / f"{assignment}.html"
    path.write_text(render(data), encoding="utf-8")
    return path


def write_similarity_csv(path: Path, similar: list[Similar]) -> Path:
    """``<assignment>.similarity.csv``: one row per near-copy pair (``other`` is
    :data:`MODEL` for a copy of the model answer), most similar first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SIMILARITY_COLUMNS)
        for p in sorted(similar, key=lambda p: (-p.similarity, p.notebook, p.cell, p.student)):
            writer.writerow([p.notebook, p.cell, p.student, p.other, f"{p.similarity:.3f}"])
    return path
