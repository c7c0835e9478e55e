"""A mixed class graded with ``python -m poolgrader autograde``: honest and attacking.

For every assignment, one run grades correct, wrong, blank and partly-correct submissions
next to the attack corpus (``tests/attacks.py``: every attack on the notebook's own tests
and rules, and its share of the attacks on the grader's machinery), in parallel. Scores
come from nbgrader's gradebook; feedback from stock ``nbgrader generate_feedback``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import poolkit
import pytest
from attacks import (
    MACHINERY_ATTACKS,
    attacks,
    bypasses,
    class_share,
    machinery_share,
    write_submission,
)
from nbgrader.api import Gradebook
from nbgrader_course import (
    ASSIGNMENTS,
    BIN,
    copy_course,
    filled_release,
    html_text,
    is_answer,
    is_test,
    nb_meta,
    nbgrader,
)
from wrong_answers import WRONG_ANSWERS

POOLKIT = Path(poolkit.__file__).parent
TIMEOUT = "5"  # seconds per cell: the hanging attacks wait this long


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def grade(root: Path, assignment: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "poolgrader", "autograde", assignment, "--timeout", TIMEOUT,
         *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _partial(assignment: str):
    """The model answers, except that the last answer cell kills the kernel."""
    nb = filled_release(assignment)
    last = [c for c in nb.cells if is_answer(c) and c.cell_type == "code"][-1]
    last.source = "import os\nos._exit(1)\n"
    before, seen_exit = set(), False
    for cell in nb.cells:
        seen_exit = seen_exit or cell is last
        if is_test(cell) and not seen_exit:
            before.add(nb_meta(cell)["grade_id"])
    return nb, before


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    """A class of one assignment, in a course of its own, graded in one run."""
    assignment = request.param
    course = copy_course(tmp_path_factory.mktemp(f"class-{assignment}"), with_release=False)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    subs = {"correct": filled_release(assignment), "blank": None}
    subs["blank"] = nbformat.read(course / "notebooks" / assignment / f"{assignment}.ipynb", 4)
    for index, (answer_id, source, _) in enumerate(WRONG_ANSWERS.get(assignment, [])):
        subs[f"wrong-{index}"] = filled_release(assignment, {answer_id: source})
    subs["partial"], before_exit = _partial(assignment)
    for student, nb in subs.items():
        write_submission(course, student, assignment, types.SimpleNamespace(kind="nb", payload=nb))
    corpus = class_share(assignment)
    for name, attack in corpus.items():
        write_submission(course, f"attack-{name}", assignment, attack)
    rule_cases = bypasses(assignment)  # rule bypasses and legitimate answers, same class
    for student, (nb, _, _) in rule_cases.items():
        write_submission(course, student, assignment, types.SimpleNamespace(kind="nb", payload=nb))
    correct_file = course / "grading" / "submitted" / "correct" / assignment / f"{assignment}.ipynb"
    before = {"poolkit": _tree_hash(POOLKIT), "correct": correct_file.read_bytes()}
    run = grade(course, assignment)
    feedback = nbgrader("generate_feedback", assignment, "--force", cwd=course)
    return types.SimpleNamespace(
        assignment=assignment, root=course, run=run, corpus=corpus, before=before,
        correct_file=correct_file, before_exit=before_exit, feedback=feedback,
        rule_cases=rule_cases,
        students=[*subs, *(f"attack-{n}" for n in corpus), *rule_cases],
    )  # fmt: skip


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
    """MACHINERY_ATTACKS names attacks of the corpus; the classes share them out, each
    class grading some and all of them graded (class_share keeps every other attack)."""
    corpus = set(attacks(ASSIGNMENTS[0]))
    assert set(MACHINERY_ATTACKS) < corpus
    shares = [machinery_share(a) for a in ASSIGNMENTS]
    assert all(shares)
    assert set().union(*shares) == set(MACHINERY_ATTACKS)
    assert sum(map(len, shares)) == len(MACHINERY_ATTACKS)  # each in one class only


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
    assert _tree_hash(POOLKIT) == graded.before["poolkit"]
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
