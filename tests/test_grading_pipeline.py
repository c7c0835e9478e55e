"""The nbgrader pipeline, driven with stock nbgrader commands over a temporary copy.

For every assignment: the committed release is exactly what ``generate_assignment`` makes
and holds no secrets; stock autograding scores the solution fully; the feedback students
get shows no hidden tests. For the first assignment (what it checks is nbgrader's and its
configuration's, the same for every notebook): a solved notebook whose test cells were
deleted and whose answer warns on stderr keeps every point (one submission proves both).

The blank release's 0 and each wrong answer's lost exercise are checked on the mixed class
that poolgrader grades, ``test_grading_attacks.py``, which runs the same nbgrader converter.
What Validate tells a student is checked where students press it:
``tests/browser/test_student_flow.py``, on a blank and on a solved notebook. Scores come
from nbgrader's gradebook.
"""

from __future__ import annotations

import json
import types

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader_course import (
    ASSIGNMENTS,
    REPO,
    html_text,
    is_answer,
    is_test,
    normalised_lines,
    notebook_path,
    secret_lines,
)
from pipeline_class import TAMPERED, TAMPERED_IN


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, stock_graded):
    """A temporary course in which one assignment was generated, submitted, autograded and
    turned into feedback with stock nbgrader commands (built once per test process)."""
    return stock_graded(request.param)


def _grades(graded, student: str) -> dict[str, object]:
    """grade_id -> Grade row for one student's notebook, from the gradebook."""
    url = f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}"
    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook(graded.assignment, graded.assignment, student)
        return {
            g.name: types.SimpleNamespace(
                auto=g.auto_score, max=g.max_score, code=g.cell.cell_type == "code"
            )
            for g in nb.grades
        }


def _auto(grades):
    return {name: g for name, g in grades.items() if g.code}


# --- the release ----------------------------------------------------------------------


def _release_files(folder) -> dict[str, bytes]:
    """relative path -> bytes of every file of a release folder, without what Jupyter and
    Python write beside notebooks (nbgrader_config.py's ignore list skips them too)."""
    scratch = (".ipynb_checkpoints", "__pycache__")
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part in scratch for part in p.relative_to(folder).parts)
    }


def test_release_is_what_nbgrader_generates(graded):
    """Every file of the committed release folder (the notebook, and rules.toml copied
    beside it; not recheck_calls.py, which nbgrader_config.py ignores) is what
    ``generate_assignment`` makes, and it makes no other."""
    generated = _release_files(graded.root / "notebooks" / graded.assignment)
    committed = _release_files(REPO / "notebooks" / graded.assignment)
    notebook = f"{graded.assignment}.ipynb"
    assert {notebook, "rules.toml"} <= set(generated), sorted(generated)
    assert notebook in committed, f"notebooks/{graded.assignment}/{notebook} is missing"
    stale = sorted(name for name in generated.keys() | committed.keys()
                   if generated.get(name) != committed.get(name))  # fmt: skip
    assert not stale, (
        f"notebooks/{graded.assignment}/: {stale} differ from what nbgrader generates: run "
        f"`nbgrader generate_assignment {graded.assignment} --force` and commit the result"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solutions_hidden_tests_or_mark_schemes(assignment):
    solution = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    release_path = notebook_path(REPO, "notebooks", assignment)
    release = nbformat.read(release_path, as_version=4)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME", "Mark scheme"):
        assert marker not in text, f"{release_path.name} contains '{marker}'"
    released = normalised_lines(text)
    for kind in ("solution", "hidden"):
        secrets = secret_lines(solution, kind)
        assert secrets, f"found no {kind} lines in the solutions, so this check would be empty"
        leaked = secrets & released
        assert not leaked, f"{release_path.name} leaks {kind} code: {sorted(leaked)[:3]}"
    assert all(not c.get("outputs") for c in release.cells), "the release must have no outputs"
    manual = [c for c in solution.cells if is_answer(c) and c.cell_type == "markdown"]
    assert manual, "every notebook has at least one written (manually graded) question"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_carries_no_widget_state_or_execution_metadata(assignment):
    """The executed solutions' run-time state stays out of the release (05's slider output
    states an answer): no saved widget state, no execution timestamps or counts."""
    solution = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    assert "widgets" in solution.metadata, (
        f"the executed {assignment} solution has no widget state, so this check would be empty"
    )
    release = nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4)
    assert "widgets" not in release.metadata, f"{assignment}'s release carries saved widget state"
    stamped = [i for i, c in enumerate(release.cells) if "execution" in c.metadata]
    assert not stamped, f"{assignment}'s release carries execution timestamps in cells {stamped}"
    counted = [i for i, c in enumerate(release.cells) if c.get("execution_count") is not None]
    assert not counted, f"{assignment}'s release carries execution counts in cells {counted}"


# --- autograding ----------------------------------------------------------------------


def test_solution_earns_every_automatic_point(graded):
    auto = _auto(_grades(graded, "solution"))
    assert auto, "the notebook has no auto-graded test cells"
    lost = {name: (g.auto, g.max) for name, g in auto.items() if g.auto != g.max}
    assert not lost, f"the solution lost points in {lost}"


@pytest.mark.parametrize("graded", [TAMPERED_IN], indirect=True)
def test_a_warning_on_stderr_costs_nothing(graded):
    path = graded.root / "grading/autograded" / TAMPERED / graded.assignment
    path = path / f"{graded.assignment}.ipynb"
    auto = _auto(_grades(graded, TAMPERED))
    lost = {name: (g.auto, g.max) for name, g in auto.items() if g.auto != g.max}
    assert not lost, f"a correct answer that warns lost points in {lost}"
    raw = json.loads(path.read_text())
    # The warning really was raised: the wrapper ran in the autograded copy.
    assert any("_unwarned_" in "".join(c["source"]) for c in raw["cells"])


@pytest.mark.parametrize("graded", [TAMPERED_IN], indirect=True)
def test_deleted_test_cells_are_restored_and_graded(graded):
    auto = _auto(_grades(graded, TAMPERED))
    solution_auto = _auto(_grades(graded, "solution"))
    assert set(auto) == set(solution_auto)
    lost = {name: (g.auto, g.max) for name, g in auto.items() if g.auto != g.max}
    assert not lost, f"deleting the test cells changed the score: {lost}"
    path = graded.root / "grading/autograded" / TAMPERED / graded.assignment
    restored = nbformat.read(path / f"{graded.assignment}.ipynb", as_version=4)
    assert sum(is_test(c) for c in restored.cells) == len(auto)


def test_every_student_has_feedback_without_hidden_tests(graded):
    solution = nbformat.read(notebook_path(REPO, "solutions", graded.assignment), as_version=4)
    hidden = secret_lines(solution, "hidden")
    # The autograded notebooks do contain the hidden tests, so the search below can fail.
    autograded = graded.root / "grading/autograded/solution" / graded.assignment
    autograded_text = "\n".join(
        c.source
        for c in nbformat.read(autograded / f"{graded.assignment}.ipynb", as_version=4).cells
    )
    assert hidden & normalised_lines(autograded_text)
    for student in graded.students:
        page = graded.root / "grading/feedback" / student / graded.assignment
        page = page / f"{graded.assignment}.html"
        assert page.exists(), f"no feedback for {student}"
        text = html_text(page)
        assert "BEGIN HIDDEN TESTS" not in text
        assert "Traceback" not in text, f"{student}'s feedback shows a traceback"
        leaked = hidden & normalised_lines(text)
        assert not leaked, f"{student}'s feedback shows hidden tests: {sorted(leaked)[:3]}"
