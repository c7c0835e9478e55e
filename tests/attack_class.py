"""The mixed class of one assignment, graded with ``python -m poolgrader autograde``.

Built once per test process (``poolgraded`` in ``tests/conftest.py``) and shared by the
modules that read it: ``test_grading_attacks.py`` (every assignment) and
``test_course_feedback.py`` (04's tie-sharing wrong answer, whose feedback page it reads).
The class: correct, blank and wrong (``tests/wrong_answers.py``) submissions next to the
attack corpus (``tests/attacks.py``: every attack on the notebook's own tests and rules
and, in MACHINERY_CLASS, every attack on the grader's machinery and a partly-correct
submission whose kernel dies) and the rule bypasses with the legitimate answers written
another way.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import poolkit
from attacks import MACHINERY_CLASS, bypasses, class_share, write_submission
from nbgrader_course import (
    BIN,
    filled_release,
    is_answer,
    is_test,
    nb_meta,
    nbgrader,
)
from wrong_answers import WRONG_ANSWERS

POOLKIT = Path(poolkit.__file__).parent
# Seconds per cell. A class runs with the course's own cell timeout (Execute.timeout in
# nbgrader_config.py), which no honest cell comes near: a loaded machine stretches a cell's
# wall time, and in a CI run (pytest 29 min 39 s) a 03 test cell of 1.7 s of CPU alone ran
# past the 5 s these classes had then, and scored 0. The machinery class grades the attack
# that hangs, which waits the timeout out: 15 s there, 6.8 times its slowest cell alone
# (2.2 s, a figure cell).
TIMEOUTS = {MACHINERY_CLASS: ["--timeout", "15"]}  # elsewhere, nbgrader_config.py's
# Workers per class: two where the attacks on the machinery are graded (a memory or fork
# bomb next to another student's kernel), one elsewhere. A second worker costs a zygote and
# the re-check's processes of its own (about 10 s of CPU at start), and the suite's other
# xdist worker keeps the second core busy anyway.
WORKERS = {MACHINERY_CLASS: "2"}


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def grade(root: Path, assignment: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "poolgrader", "autograde", assignment,
         *TIMEOUTS.get(assignment, []), "--workers", WORKERS.get(assignment, "1"), *args],
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


def build(assignment: str, course: Path) -> types.SimpleNamespace:
    """The class of ``assignment`` in ``course`` (where the assignment was generated, and
    nothing else happened), graded in one run, and the feedback that the tests read
    generated with stock nbgrader."""
    subs = {"correct": filled_release(assignment), "blank": None}
    subs["blank"] = nbformat.read(course / "notebooks" / assignment / f"{assignment}.ipynb", 4)
    for index, (answer_id, source, _) in enumerate(WRONG_ANSWERS.get(assignment, [])):
        subs[f"wrong-{index}"] = filled_release(assignment, {answer_id: source})
    before_exit = set()
    if assignment == MACHINERY_CLASS:  # a kernel that dies: nbgrader's, the same everywhere
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
    before = {"poolkit": tree_hash(POOLKIT), "correct": correct_file.read_bytes()}
    run = grade(course, assignment)
    # Feedback pages for the students whose pages the tests read: every attack (told why)
    # and the honest submissions (no hidden test shown; the blank one says why; 04's wrong
    # answer names what to fix). Stock generate_feedback spends about 3 s on a page
    # (nbconvert's HTML export): the rule cases' pages and the dead kernel's would cost
    # 32 pages in all and show no kind of output that those do not (a rule's error is the
    # calls-the-library attack's, graded in every class).
    no_page = [*rule_cases, *(["partial"] if "partial" in subs else [])]
    feedback = nbgrader(
        "generate_feedback", assignment, "--force",
        f"--CourseDirectory.student_id_exclude={','.join(no_page)}", cwd=course,
    )  # fmt: skip
    return types.SimpleNamespace(
        assignment=assignment, root=course, run=run, corpus=corpus, before=before,
        correct_file=correct_file, before_exit=before_exit, feedback=feedback,
        rule_cases=rule_cases, no_page=no_page,
        students=[*subs, *(f"attack-{n}" for n in corpus), *rule_cases],
    )  # fmt: skip
