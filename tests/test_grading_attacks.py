"""A mixed class graded with ``python -m poolgrader autograde``: honest and attacking.

For every assignment, one run (``tests/attack_class.py``) grades correct, wrong and blank
submissions next to the attack corpus (``tests/attacks.py``): every attack on the
notebook's own tests and rules and, in one class, every attack on the grader's machinery
and a submission whose kernel dies. Scores come from nbgrader's gradebook; feedback from
stock ``nbgrader generate_feedback``.
"""

from __future__ import annotations

import csv
import re

import nbformat
import pytest
from attack_class import POOLKIT, grade, tree_hash
from attacks import (
    MACHINERY_ATTACKS,
    MACHINERY_CLASS,
    attacks,
    class_share,
)
from nbgrader.api import Gradebook
from nbgrader_course import (
    ASSIGNMENTS,
    REPO,
    html_text,
    nbgrader,
    normalised_lines,
    notebook_path,
    secret_lines,
)
from wrong_answers import WRONG_ANSWERS


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, poolgraded):
    """A class of one assignment, in a course of its own, graded in one run
    (tests/attack_class.py, built once per test process)."""
    return poolgraded(request.param)


def scores(graded) -> dict[str, dict[str, float]]:
    """student -> {grade_id: score} for the code (auto-graded) cells, from the gradebook."""
    url = f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}"
    out = {}
    with Gradebook(url) as gb:
        for student in graded.students:
            nb = gb.find_submission_notebook(graded.assignment, graded.assignment, student)
            out[student] = {g.name: g.score for g in nb.grades if g.cell.cell_type == "code"}
        max_points = {g.name: g.max_score for g in nb.grades if g.cell.cell_type == "code"}
    out["__max__"] = max_points
    return out


def test_every_attack_is_graded_in_some_class():
    """MACHINERY_ATTACKS names attacks of the corpus; MACHINERY_CLASS grades all of them, and
    the other classes grade every other attack (class_share)."""
    corpus = attacks(MACHINERY_CLASS)
    assert set(MACHINERY_ATTACKS) < set(corpus)
    assert class_share(MACHINERY_CLASS, corpus).keys() == corpus.keys()
    other = next(a for a in ASSIGNMENTS if a != MACHINERY_CLASS)
    corpus = attacks(other)
    assert set(class_share(other, corpus)) == set(corpus) - set(MACHINERY_ATTACKS)


def test_the_batch_completes_and_every_student_has_a_row(graded):
    assert graded.run.returncode == 0, graded.run.stdout + graded.run.stderr
    report = graded.root / "grading" / "reports" / f"{graded.assignment}.csv"
    with report.open() as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(graded.students) <= set(rows)
    assert not [s for s, r in rows.items() if r["notes"].startswith("ERROR")]
    export = graded.root / "grades.csv"
    nbgrader("export", "--to", str(export), cwd=graded.root)
    with export.open() as f:
        exported = {
            r["student_id"] for r in csv.DictReader(f) if r["assignment"] == graded.assignment
        }
    assert set(graded.students) <= exported


def test_honest_submissions_get_exactly_their_points(graded):
    got = scores(graded)
    full = got["__max__"]
    assert got["correct"] == full
    assert set(got["blank"].values()) == {0}
    for index, (_, _, lost) in enumerate(WRONG_ANSWERS.get(graded.assignment, [])):
        expected = {g: (0 if g in lost else p) for g, p in full.items()}
        assert got[f"wrong-{index}"] == expected


def _own_lines(graded, student: str) -> set[str]:
    """The normalised lines of a student's submitted notebook (none if it cannot be read)."""
    path = graded.root / "grading/submitted" / student / graded.assignment
    try:
        nb = nbformat.read(path / f"{graded.assignment}.ipynb", as_version=4)
    except Exception:  # noqa: BLE001 (an attack's file need not be a notebook)
        return set()
    return normalised_lines("\n".join(c.source for c in nb.cells))


def test_no_feedback_shows_hidden_tests_and_the_blank_one_says_why(graded):
    solution = nbformat.read(notebook_path(REPO, "solutions", graded.assignment), as_version=4)
    hidden = secret_lines(solution, "hidden")
    # The autograded notebooks do contain the hidden tests, so the search below can fail.
    autograded = graded.root / "grading/autograded/blank" / graded.assignment
    autograded = nbformat.read(autograded / f"{graded.assignment}.ipynb", as_version=4)
    assert hidden & normalised_lines("\n".join(c.source for c in autograded.cells))
    feedback = graded.root / "grading/feedback"
    pages = sorted(feedback.glob(f"*/{graded.assignment}/*.html"))
    with_page = {page.parts[-3] for page in pages}
    honest = {s for s in graded.students if not s.startswith("attack-")} - set(graded.no_page)
    assert {"correct", "blank"} <= honest <= with_page
    assert not with_page & set(graded.no_page), "pages made that no test reads"
    for page in pages:
        # A line the student wrote themselves (an answer may repeat a hidden test's line,
        # say `p = F.pad(x, (1, 1, 1, 1), mode="reflect")`) is theirs, not a leak.
        leaked = (hidden - _own_lines(graded, page.parts[-3])) & normalised_lines(html_text(page))
        assert not leaked, f"{page.parts[-3]}'s feedback shows hidden tests: {sorted(leaked)[:3]}"
    blank = graded.root / "grading/feedback/blank" / graded.assignment
    assert "NotImplementedError" in html_text(blank / f"{graded.assignment}.html")


@pytest.mark.parametrize("graded", [MACHINERY_CLASS], indirect=True)  # the same everywhere
def test_a_dead_kernel_keeps_the_points_earned_before_it(graded):
    got = scores(graded)["partial"]
    full = scores(graded)["__max__"]
    assert graded.before_exit, "the partial submission should pass some tests before it exits"
    assert got == {g: (p if g in graded.before_exit else 0) for g, p in full.items()}


def test_no_attack_earns_more_than_the_blank_release(graded):
    got = scores(graded)
    blank = sum(got["blank"].values())
    cheated = {s: sum(v.values()) for s, v in got.items() if s.startswith("attack-")}
    assert {s: v for s, v in cheated.items() if v > blank} == {}


def test_every_attack_is_told_why_in_its_feedback(graded):
    missing = {}
    for name, attack in graded.corpus.items():
        student = f"attack-{name}"
        path = graded.root / "grading" / "feedback" / student / graded.assignment
        html = path / f"{graded.assignment}.html"
        text = html_text(html) if html.exists() else ""
        if not re.search(attack.reason, text):
            # What the feedback says instead: its error lines.
            said = sorted({ln.strip() for ln in text.splitlines() if "Error" in ln})[:5]
            missing[name] = f"expected {attack.reason!r}, error lines: {said or 'no feedback'}"
    assert missing == {}, f"feedback without the expected reason: {missing}"


def test_patching_the_checkers_is_caught_by_the_clean_recheck(graded):
    assert "FLAGGED attack-patch-checkers" in graded.run.stdout
    flagged = re.findall(r"FLAGGED (\S+)", graded.run.stdout)
    cheats = {f"attack-{n}" for n in graded.corpus} | {
        s for s in graded.rule_cases if s.startswith("bypass-")
    }
    assert set(flagged) <= cheats, "an honest student was flagged"


def test_each_rule_bypass_scores_zero_on_its_exercise_and_keeps_the_rest(graded):
    """Issue 18's bypass classes: 0 on the exercise whose rules they break (even where the
    in-kernel tests passed), full marks on every other exercise, and a gradebook row."""
    got = scores(graded)
    full = got["__max__"]
    table, wrong = [], {}
    for student, (_, lost, bypass) in graded.rule_cases.items():
        if bypass is None:
            continue
        expected = {g: (0 if g in lost else p) for g, p in full.items()}
        earned = sum(got[student][g] for g in lost)
        table.append(
            f"{student}: {earned:g} of {sum(full[g] for g in lost):g} ({bypass.bypass_class})"
        )
        if got[student] != expected:
            wrong[student] = {
                g: got[student][g] for g in got[student] if got[student][g] != expected[g]
            }
    print(f"\n{graded.assignment}, points earned by each bypass:\n  " + "\n  ".join(table))
    assert wrong == {}


def test_legitimate_answers_written_another_way_get_full_marks(graded):
    got = scores(graded)
    legit = [s for s, (_, _, bypass) in graded.rule_cases.items() if bypass is None]
    assert legit
    for student in legit:
        assert got[student] == got["__max__"], f"false positive on {student}"


def test_grading_changed_nothing_outside_the_students_folder(graded):
    assert tree_hash(POOLKIT) == graded.before["poolkit"]
    assert graded.correct_file.read_bytes() == graded.before["correct"]


@pytest.mark.parametrize("graded", ASSIGNMENTS[:1], indirect=True)  # the machinery is shared
def test_a_rerun_gives_the_same_scores_and_keeps_manual_grades(graded):
    url = f"sqlite:///{graded.root / 'grading' / 'gradebook.db'}"
    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook(graded.assignment, graded.assignment, "correct")
        written = next(g for g in nb.grades if g.cell.cell_type == "markdown")
        written.manual_score = written.max_score - 1
        gb.db.commit()
        name, manual = written.name, written.manual_score
    first = scores(graded)
    rerun = grade(graded.root, graded.assignment, "--student", "[cp]*")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert scores(graded) == first
    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook(graded.assignment, graded.assignment, "correct")
        assert next(g for g in nb.grades if g.name == name).manual_score == manual


@pytest.mark.parametrize("graded", ["02-pooling-as-convolution"], indirect=True)
def test_a_widget_cell_runs_in_grading_and_shows_its_widget(graded):
    """The grader does not emulate ipywidgets' Output widget (nbclient#312 stalls cells
    until the timeout), and the course's widgets need no emulation: they set what their
    Output widget shows as state (``poolkit.viz.show``). 02's soft-pooling slider cell runs
    without error in the grading kernel and its output is the widget's view."""
    path = graded.root / "grading" / "autograded" / "correct" / graded.assignment
    nb = nbformat.read(path / f"{graded.assignment}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "soft_slider(" in c.source)
    assert [o.output_type for o in cell.outputs] == ["execute_result"], cell.outputs
    assert "application/vnd.jupyter.widget-view+json" in cell.outputs[0].data
