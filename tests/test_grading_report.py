"""The class report, ``grading/reports/<assignment>.html``, opened in a real Chromium.

A small class of one assignment (correct; two with the same wrong answer; blank; an answer
whose error message is HTML; a submission that patches the course's checkers so the clean
re-check disagrees; a misnamed notebook, repaired; one whose kernel exits mid-notebook;
and, for the near-copy flags, one ``pool2d`` copied from the model answer with its names
and spacing changed, two students whose ``pool2d`` are copies of each other, renamed, and
one written independently, each with the rest of the notebook left blank) is graded with
``python -m poolgrader autograde``; one written answer is then graded with
nbgrader's Gradebook API and the report rebuilt with ``python -m poolgrader report``.
Headless Chromium opens the file; every number it shows is compared with the gradebook,
the page must make no request, and a student's error message must show as text, never as
markup. A screenshot of the report is saved in ``test-reports/grading-report/``.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import os
import re
import statistics
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from attacks import PATCH_CHECKERS, Attack, _off_by_one, write_submission
from browser.lab import launch_chromium
from nbgrader.api import Gradebook
from nbgrader_course import (
    BIN,
    REPO,
    filled_release,
    is_answer,
    nb_meta,
    notebook_path,
)
from similar_answers import CELL, COPIED, COPIER, HONEST, as_cell, model_renamed
from wrong_answers import WRONG_ANSWERS

pytestmark = pytest.mark.browser  # it drives a real Chromium, as the browser tests do

ASSIGNMENT = "01-pooling-basics"
WRITTEN = "max_vs_avg"  # the assignment's manually graded answer
CRASH = "pad_left_top"  # the answer cell that kills the kernel of the student "crashed"
INJECTION = (
    '<img src="http://report-injection.invalid/pixel.png">'
    '<script>document.title = "pwned"</script><u>underlined</u>'
)
SCREENSHOT = REPO / "test-reports" / "grading-report" / f"{ASSIGNMENT}.png"


def poolkit_grading(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "poolgrader", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _code_answers(nb):
    return [c for c in nb.cells if is_answer(c) and c.cell_type == "code"]


def _class() -> dict[str, Attack]:
    release = nbformat.read(notebook_path(REPO, "notebooks", ASSIGNMENT), as_version=4)
    answer_id, wrong_source, _ = WRONG_ANSWERS[ASSIGNMENT][0]
    injected = filled_release(
        ASSIGNMENT,
        {"pool_output_size": f"def pool_output_size(*args, **kwargs):\n"
                             f"    raise ValueError({INJECTION!r})\n"},
    )  # fmt: skip
    patched = _off_by_one(ASSIGNMENT)
    first = _code_answers(patched)[0]
    first.source = PATCH_CHECKERS + "\n" + first.source
    return {
        "correct": Attack("nb", filled_release(ASSIGNMENT), ""),
        "wrong": Attack("nb", filled_release(ASSIGNMENT, {answer_id: wrong_source}), ""),
        "wrong-too": Attack("nb", filled_release(ASSIGNMENT, {answer_id: wrong_source}), ""),
        "blank": Attack("nb", copy.deepcopy(release), ""),
        "injected": Attack("nb", injected, ""),
        "patched": Attack("nb", patched, ""),
        "misnamed": Attack("misnamed", filled_release(ASSIGNMENT), ""),
        "crashed": Attack(
            "nb", filled_release(ASSIGNMENT, {CRASH: "import os\nos._exit(1)\n"}), ""
        ),
        # near-copies (tests/similar_answers.py); their other answers are left blank
        "disguised": Attack("nb", _with_pool2d(release, model_renamed()), ""),
        "copier": Attack("nb", _with_pool2d(release, as_cell(COPIER)), ""),
        "twin": Attack("nb", _with_pool2d(release, as_cell(COPIED)), ""),
        "honest": Attack("nb", _with_pool2d(release, as_cell(HONEST)), ""),
    }


NEAR_COPIES = {"disguised", "copier", "twin"}  # planted; "honest" must not be flagged
NOT_SIMILARITY = {"patched", "misnamed", "crashed"}  # flagged for other reasons


def _with_pool2d(release, source: str):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if is_answer(cell) and nb_meta(cell).get("grade_id") == CELL:
            cell.source = source
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory, generated):
    """The class graded, one written answer graded by hand, and the report rebuilt."""
    root = generated(ASSIGNMENT, tmp_path_factory.mktemp("report"))
    students = _class()
    for student, submission in students.items():
        write_submission(root, student, ASSIGNMENT, submission)
    run = poolkit_grading("autograde", ASSIGNMENT, "--timeout", "20", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    reports = root / "grading" / "reports"
    first = (reports / f"{ASSIGNMENT}.html").read_text()
    with Gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, ASSIGNMENT, ASSIGNMENT, "correct")
        grade.manual_score = 3.5
        grade.needs_manual_grade = False
        gb.db.commit()
    rebuilt = poolkit_grading("report", ASSIGNMENT, cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    return types.SimpleNamespace(
        root=root, students=sorted(students), run=run, rebuilt=rebuilt, first=first,
        html=reports / f"{ASSIGNMENT}.html", csv=reports / f"{ASSIGNMENT}.csv",
        runfile=reports / f"{ASSIGNMENT}.run.json",
    )  # fmt: skip


@pytest.fixture(scope="module")
def gradebook(graded):
    """What the gradebook holds, read with nbgrader's API, for the report to match."""
    out = types.SimpleNamespace(totals={}, scores={}, max={}, written={}, review=set())
    with Gradebook(f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}") as gb:
        out.max_total = gb.find_assignment(ASSIGNMENT).max_score
        for student in graded.students:
            sub = gb.find_submission(ASSIGNMENT, student)
            out.totals[student] = sub.score
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            out.scores[student] = {g.name: g.score for g in nb.grades}
            for g in nb.grades:
                out.max[g.name] = g.max_score
                if g.name == WRITTEN:
                    out.written[student] = (
                        "graded" if g.manual_score is not None
                        else "to grade" if g.needs_manual_grade else "blank"
                    )  # fmt: skip
                elif g.needs_manual_grade:
                    out.review.add(student)
    return out


@pytest.fixture(scope="module")
def page(graded):
    """The rebuilt report open in headless Chromium; every request it makes is recorded
    and refused."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    report_url = graded.html.as_uri()

    def refuse(route):
        if route.request.url == report_url:
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", refuse)
            tab = context.new_page()
            tab.on("request", lambda r: r.url not in (report_url,) and requests.append(r.url))
            tab.goto(report_url)
            tab.wait_for_load_state("load")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(SCREENSHOT), full_page=True)
            tab.requests = requests
            yield tab
        finally:
            chromium.close()


def _number(text: str) -> float:
    return float(re.search(r"-?\d+(\.\d+)?", text).group())


def _rows(page, table: str) -> list:
    return page.locator(f"#{table} tr[data-exercise], #{table} tr[data-student]").all()


def _expect_number(shown: str, value: float, places: int = 2) -> None:
    assert _number(shown) == pytest.approx(round(value, places), abs=10**-places), (shown, value)


# --- the run ---------------------------------------------------------------------------


def test_autograde_writes_the_report_and_prints_its_path(graded):
    assert f"Class report: grading/reports/{ASSIGNMENT}.html" in graded.run.stdout
    assert f"Class report: {graded.html}" in graded.rebuilt.stdout
    # Before the manual grade, the written answer was to grade for every filled-in notebook.
    assert 'class="n graded">0<' in graded.first


def test_the_report_is_one_self_contained_file(graded, page):
    text = graded.html.read_text()
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text)
    assert sources and all(s.startswith("data:") for s in sources), sources
    assert "<script" not in text and "<link" not in text
    assert page.requests == [], f"the report made requests: {page.requests}"
    histogram = page.locator("#histogram")
    assert histogram.evaluate("img => img.complete && img.naturalWidth > 0")


# --- the numbers -----------------------------------------------------------------------


def test_student_totals_and_histogram_match_the_gradebook(page, gradebook):
    shown = {
        row.get_attribute("data-student"): _number(row.locator("td.total").inner_text())
        for row in _rows(page, "student-table")
    }
    assert shown == pytest.approx(gradebook.totals)
    assert list(shown) == sorted(gradebook.totals, key=lambda s: (gradebook.totals[s], s))
    assert _number(page.locator("#card-students").inner_text()) == len(gradebook.totals)
    _expect_number(
        page.locator("#card-mean .v").inner_text(), statistics.fmean(gradebook.totals.values())
    )
    counted = 0
    for row in page.locator("#histogram-counts tr[data-lo]").all():
        lo, hi = float(row.get_attribute("data-lo")), float(row.get_attribute("data-hi"))
        closed = row.get_attribute("data-closed") == "True"
        inside = [t for t in gradebook.totals.values() if lo <= t < hi or (closed and t == hi)]
        assert _number(row.locator("td.n").inner_text()) == len(inside), (lo, hi)
        counted += len(inside)
    assert counted == len(gradebook.totals)
    # The class spans the range: the correct student has more than the blank one.
    assert gradebook.totals["correct"] > gradebook.totals["blank"] == 0


def test_each_exercise_shows_its_mean_and_full_mark_share(page, gradebook):
    rows = _rows(page, "exercise-table")
    auto = {name for name in gradebook.max if name != WRITTEN}
    assert {r.get_attribute("data-exercise") for r in rows} == auto
    n = len(gradebook.totals)
    shares = []
    for row in rows:
        name = row.get_attribute("data-exercise")
        got = [gradebook.scores[s][name] for s in gradebook.totals]
        mean_text = row.locator("td.mean").inner_text()
        _expect_number(mean_text, statistics.fmean(got))
        assert mean_text.endswith(f"/ {gradebook.max[name]:g}")
        full = sum(g >= gradebook.max[name] for g in got)
        share_text = row.locator("td.share").inner_text()
        assert f"({full}/{n})" in share_text
        assert _number(share_text) == round(100 * full / n)
        shares.append(full / n)
    assert shares == sorted(shares), "the hardest exercise comes first"


def test_the_most_common_failing_message_is_shown_with_its_count(page, gradebook):
    name = "test_pool_output_size"
    row = page.locator(f'#exercise-table tr[data-exercise="{name}"]')
    failing = sum(gradebook.scores[s][name] < gradebook.max[name] for s in gradebook.totals)
    # Two students made the same slip: its message names the call that shows it.
    top = row.locator(".top").inner_text()
    assert re.fullmatch(r"AssertionError: pool_output_size\(.*\) returned \d+; expected \d+\.", top)
    assert row.locator(".hits").inner_text() == f"2 of {failing} failing students"
    # blank and misnamed (graded as the blank release) left the template's error in place
    # ... and so did the four students of the near-copy flags, who answered pool2d only
    unanswered = "6 of them left it unanswered (NotImplementedError)"
    assert row.locator(".unanswered").inner_text() == unanswered
    others = row.locator("details")
    others.evaluate("details => { details.open = true; }")  # as a click on its summary does
    assert "CleanRecheckFailed" in others.inner_text()


def test_written_answer_grading_progress_matches_the_gradebook(page, gradebook):
    row = page.locator(f'#written-table tr[data-exercise="{WRITTEN}"]')
    states = list(gradebook.written.values())
    assert states.count("graded") == 1  # the one entered through the Gradebook API
    for css, state in (("graded", "graded"), ("todo", "to grade"), ("blank", "blank")):
        assert _number(row.locator(f"td.{css}").inner_text()) == states.count(state), state
    assert _number(page.locator("#card-to-grade .v").inner_text()) == states.count("to grade")
    cell = page.locator(f'#student-table tr[data-student="correct"] td[data-exercise="{WRITTEN}"]')
    assert _number(cell.inner_text()) == gradebook.scores["correct"][WRITTEN] == 3.5
    review = page.locator("#review").inner_text()
    assert gradebook.review == {"patched"}
    assert "patched" in review


def test_flagged_submissions_and_reasons(graded, page):
    with graded.csv.open() as f:
        rows = list(csv.DictReader(f))
    expected = {r["student"] for r in rows if r["flagged"] or r["notes"]}
    flags = page.locator("#flag-table tr[data-student]").all()
    shown = {(f.get_attribute("data-student"), f.get_attribute("data-kind")) for f in flags}
    assert {s for s, k in shown if k != "similarity"} == expected == NOT_SIMILARITY
    assert {("patched", "recheck"), ("misnamed", "repair"), ("crashed", "stopped")} <= shown
    similar = {s for s, k in shown if k == "similarity"}
    assert _number(page.locator("#card-flagged .v").inner_text()) == len(expected | similar)
    misnamed = page.locator(
        '#flag-table tr[data-student="misnamed"][data-kind="repair"]'
    ).inner_text()
    assert "no notebook named" in misnamed
    crashed = page.locator(
        '#flag-table tr[data-student="crashed"][data-kind="stopped"]'
    ).inner_text()
    assert "the kernel exited with code 1" in crashed
    assert page.locator("#similarity").is_visible()
    assert "honest" not in similar and "blank" not in similar


def test_the_run_timing_matches_the_grader(graded, page):
    run = json.loads(graded.runfile.read_text())
    assert run["workers"] >= 1 and run["students"] == len(graded.students)
    assert page.locator("#card-wall .v").inner_text() == f"{run['wall_seconds']:.0f} s"
    with graded.csv.open() as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    text = page.locator("#per-notebook").inner_text()
    assert f"mean {statistics.fmean(seconds):.1f} s" in text
    assert f"median {statistics.median(seconds):.1f} s" in text


# --- what students wrote ---------------------------------------------------------------


def test_a_students_error_message_shows_as_text_not_markup(graded, page):
    raw = graded.html.read_text()
    assert INJECTION not in raw
    assert html.escape(INJECTION) in raw
    assert page.title() == f"{ASSIGNMENT}: class report"
    assert page.locator('img[src*="report-injection"]').count() == 0
    assert page.locator("script").count() == 0
    assert page.locator("main u").count() == 0
    row = page.locator('#exercise-table tr[data-exercise="test_pool_output_size"]')
    row.locator("details").evaluate("details => { details.open = true; }")
    assert f"ValueError: {INJECTION}" in row.inner_text()


def test_the_report_command_says_what_is_wrong(graded):
    proc = poolkit_grading("report", "99-nothing", cwd=graded.root)
    assert proc.returncode == 2 and "not in the gradebook" in proc.stdout


def test_one_report_from_a_class_graded_in_shards(graded):
    """Each shard's CSV and run file, given to ``report --csv``, make one class report."""
    with graded.csv.open() as f:
        rows = list(csv.DictReader(f))
    run = json.loads(graded.runfile.read_text())
    shards = []
    for name, wanted in (("shard-a", lambda s: s < "m"), ("shard-b", lambda s: s >= "m")):
        path = graded.root / f"{name}.csv"
        with path.open("w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows(r for r in rows if wanted(r["student"]))
        path.with_suffix(".run.json").write_text(json.dumps(run))
        shards += ["--csv", path.name]
    output = graded.root / "class.html"
    proc = poolkit_grading("report", ASSIGNMENT, *shards, "--output", "class.html", cwd=graded.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = output.read_text()
    flagged = re.findall(r'<tr data-student="([^"]+)" data-kind="([^"]+)"', text)
    assert {s for s, k in flagged if k != "similarity"} == NOT_SIMILARITY  # from both shards
    # near-copies are found across the shards: copier (< "m") and twin (>= "m")
    assert {s for s, k in flagged if k == "similarity"} >= NEAR_COPIES
    assert "grading wall time (sum of 2 runs)" in text
    assert set(re.findall(r'<tr data-student="([^"]+)"><td>', text)) == set(graded.students)


# --- near-copies (poolgrader.similarity) -----------------------------------------------


def _similarity_rows(graded) -> dict[tuple[str, str, str], float]:
    path = graded.root / "grading" / "reports" / f"{ASSIGNMENT}.similarity.csv"
    with path.open() as f:
        return {
            (r["cell"], r["student"], r["other"]): float(r["similarity"]) for r in csv.DictReader(f)
        }


def test_near_copies_are_flagged_with_their_pair_and_similarity(graded, page):
    from poolgrader.report import MODEL

    rows = _similarity_rows(graded)
    submitted = {
        s: {nb_meta(c)["grade_id"]: c.source for c in _code_answers(a.payload)}
        for s, a in _class().items()
    }
    model = {nb_meta(c)["grade_id"]: c.source for c in _code_answers(filled_release(ASSIGNMENT))}
    release = {
        nb_meta(c)["grade_id"]: c.source
        for c in _code_answers(nbformat.read(notebook_path(REPO, "notebooks", ASSIGNMENT), 4))
    }
    # Every verbatim copy of a model answer is a pair with the model answer, at 1.
    # (misnamed's notebook was not found under its name: it was graded as the blank release)
    verbatim = {
        (g, s)
        for s, cells in submitted.items()
        for g, v in cells.items()
        if v == model[g] and s != "misnamed"
    }
    assert verbatim <= {(g, s) for g, s, o in rows if o == MODEL}
    assert all(rows[g, s, MODEL] == 1.0 for g, s in verbatim)
    # The planted ones, in pool2d: the disguised copy of the model answer, and the two
    # students who copied each other; nobody else pairs with a student there (students who
    # both copy the model answer are not listed again), and the honest answer pairs with no one.
    pool2d = {(s, o): v for (g, s, o), v in rows.items() if g == CELL}
    assert pool2d[("disguised", MODEL)] == 1.0
    assert pool2d[("copier", "twin")] == 1.0
    assert {(s, o) for s, o in pool2d if o != MODEL} == {("copier", "twin")}
    assert not any("honest" in pair for pair in pool2d)
    # A blank answer, or one left as released, is never flagged.
    for (g, s, o), _ in rows.items():
        assert submitted[s][g] != release[g] and "blank" not in (s, o), (g, s, o)
    print("near-copy pairs:", sorted(rows.items()))
    # The HTML lists the same pairs with the same values, and flags both students of a pair.
    shown = {
        tuple(r.get_attribute(f"data-{k}") for k in ("cell", "student", "other")): float(
            r.get_attribute("data-similarity")
        )
        for r in page.locator("#similarity-table tr[data-cell]").all()
    }
    assert shown == rows
    for student in NEAR_COPIES:
        flag = page.locator(f'#flag-table tr[data-student="{student}"][data-kind="similarity"]')
        assert f"{CELL}: near-copy of" in flag.inner_text()
    assert (
        "(similarity 1.00)"
        in page.locator('#flag-table tr[data-student="twin"][data-kind="similarity"]').inner_text()
    )
    assert page.locator('#flag-table tr[data-student="honest"]').count() == 0
    # ... and the run file has them too.
    run = json.loads(graded.runfile.read_text())
    assert run["similarity"]["students"] == len(graded.students)


def test_near_copy_flags_change_no_score(graded):
    """Scores are the gradebook's before and after the similarity check ran again, and the
    flagged copies keep their full marks."""

    def scores():
        with Gradebook(f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}") as gb:
            return {
                (s, g.name): (g.score, g.needs_manual_grade)
                for s in graded.students
                for g in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, s).grades
            }

    before = scores()
    proc = poolkit_grading("report", ASSIGNMENT, cwd=graded.root)
    assert proc.returncode == 0 and "Near-copy pairs:" in proc.stdout, proc.stdout + proc.stderr
    assert _similarity_rows(graded)
    assert scores() == before
    with Gradebook(f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}") as gb:
        for student in (*NEAR_COPIES, "honest"):
            grade = gb.find_grade(f"test_{CELL}", ASSIGNMENT, ASSIGNMENT, student)
            assert grade.score == grade.max_score > 0, student
