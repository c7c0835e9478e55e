"""Instructor flow in JupyterLab: nbgrader's menu, the formgrader's assignment list, and,
after stock ``nbgrader autograde`` of three submissions (the model answers, the blank
release, one wrong answer) in the course copy, their scores in the formgrader and a manual
grade entered there that lands in the gradebook.
"""

from __future__ import annotations

import re
import time
import types

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader_course import ASSIGNMENTS, REPO, is_answer, nb_meta, notebook_path
from playwright.sync_api import expect

from . import ui
from .submissions import ASSIGNMENT

pytestmark = pytest.mark.browser


@pytest.fixture
def autograded(autograde_job, course):
    """The course copy once the background autograding is done (see conftest)."""
    students = autograde_job.result(timeout=600)
    return types.SimpleNamespace(
        root=course, students=students, db=f"sqlite:///{course / 'grading' / 'gradebook.db'}"
    )


def _formgrader(page):
    """Open Nbgrader → Formgrader; return the frame that shows it."""
    ui.menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("#formgrader iframe")
    expect(frame.locator("h1", has_text="Manage Assignments")).to_be_visible(timeout=30_000)
    return frame


def test_nbgrader_menu_offers_formgrader_and_create_assignment(lab, page):
    source = f"solutions/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    nb = nbformat.read(notebook_path(REPO, "solutions", ASSIGNMENT), as_version=4)
    ui.open_notebook(page, lab, source)
    ui.wait_notebook(page, source, len(nb.cells), kernel=False)
    labels = ui.menu_labels(page, "Nbgrader")
    for wanted in ("Formgrader", "Create assignment"):
        assert wanted in labels, f"the Nbgrader menu has no {wanted!r}: {labels}"

    # Create assignment opens nbgrader's cell toolbar on the source, which shows the types
    # the source's metadata gives its cells.
    page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text="Create assignment").click()
    sidebar = page.locator("#nbgrader-create_assignemnt")  # sic: nbgrader's own id
    expect(sidebar).to_be_visible()
    expect(sidebar.locator("select").first).to_be_attached()
    types_shown = set(
        sidebar.locator("select").evaluate_all(
            "(selects) => selects.map((s) => s.options[s.selectedIndex].text)"
        )
    )
    for wanted in ("Autograded answer", "Autograded tests", "Manually graded answer"):
        assert wanted in types_shown, f"Create assignment shows no {wanted!r}: {types_shown}"


def test_formgrader_lists_the_course_assignments(lab, page):
    ui.show_lab(page, lab)
    frame = _formgrader(page)
    names = frame.locator("#main-table td.name")
    expect(names.first).not_to_have_text("Loading, please wait...", timeout=30_000)
    expect(names).to_have_count(len(ASSIGNMENTS))
    assert sorted(names.all_inner_texts()) == ASSIGNMENTS


def _gradebook_scores(db: str, students: list[str]) -> dict[str, str]:
    """Student -> "score / max" as the formgrader writes it (JS rounding to 2 places)."""
    shown = {}
    with Gradebook(db) as gb:
        for student in students:
            sub = gb.find_submission(ASSIGNMENT, student)
            shown[student] = f"{round(sub.score, 2):g} / {round(sub.max_score, 2):g}"
    return shown


def _written_answer() -> tuple[str, float]:
    nb = nbformat.read(notebook_path(REPO, "solutions", ASSIGNMENT), as_version=4)
    cell = next(c for c in nb.cells if is_answer(c) and c.cell_type == "markdown")
    return nb_meta(cell)["grade_id"], float(nb_meta(cell)["points"])


def _manual_score(db: str, grade_id: str, student: str):
    with Gradebook(db) as gb:
        return gb.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, student).manual_score


def test_formgrader_shows_scores_and_stores_a_manual_grade(lab, page, autograded):
    expected = _gradebook_scores(autograded.db, autograded.students)
    full, blank = expected["solved"], expected["blank"]
    assert full.split(" / ")[0] != "0" and blank.startswith("0 /"), (
        f"autograde gave the model answers {full} and the blank {blank}"
    )
    assert expected["wrong"] not in (full, blank), f"the wrong answer scored {expected['wrong']}"

    ui.show_lab(page, lab)
    frame = _formgrader(page)
    row = frame.locator("#main-table tr", has=frame.locator("td.name", has_text=ASSIGNMENT))
    row.locator("td.num-submissions a").click()

    # Manage Submissions: one row per student with the score from the gradebook.
    ids = frame.locator("#main-table td.student-id")
    expect(ids).to_have_count(len(autograded.students), timeout=30_000)
    shown = {}
    for tr in frame.locator("#main-table tr").all():
        shown[tr.locator("td.student-id").inner_text()] = tr.locator("td.score").inner_text()
    assert shown == expected, f"the formgrader shows {shown}, the gradebook has {expected}"

    # Manual Grading → assignment → notebook → the solved submission → the written answer.
    grade_id, points = _written_answer()
    assert _manual_score(autograded.db, grade_id, "solved") is None
    frame.get_by_role("link", name="Manual Grading").click()
    frame.get_by_role("link", name=ASSIGNMENT, exact=True).click()
    frame.get_by_role("link", name=ASSIGNMENT, exact=True).click()
    row = frame.locator("#main-table tr", has=frame.locator("a.name-shown", has_text="solved"))
    row.locator(".glyphicon-eye-open").click()  # show the student's name instead of "#n"
    row.locator("a.name-shown").click()
    score = frame.locator(f"input.score#{grade_id}")
    # The page's script marks the input once it is bound to the grade; before that, a change
    # saves nothing.
    expect(score).to_have_class(re.compile(r"\bneeds_manual_grade\b"), timeout=30_000)
    given = points - 1
    score.fill(f"{given:g}")
    score.press("Tab")  # the formgrader saves on change

    deadline = time.monotonic() + 30
    while (stored := _manual_score(autograded.db, grade_id, "solved")) != given:
        assert time.monotonic() < deadline, (
            f"the manual grade {given:g} for {grade_id} did not reach the gradebook: {stored}"
        )
        page.wait_for_timeout(200)  # poll the gradebook, which the server writes
    expect(score).to_have_value(f"{given:g}")
