"""The pipeline class of one assignment, graded with stock nbgrader commands.

Built once per test process (``stock_graded`` in ``tests/conftest.py``) and shared by the
modules that read it: ``test_grading_pipeline.py`` (every assignment) and
``test_course_feedback.py`` (04's tie-sharing wrong answer, whose feedback page it reads).
"""

from __future__ import annotations

import types
from pathlib import Path

import nbformat
from nbgrader_course import (
    REPO,
    copy_course,
    filled_release,
    first_function,
    is_answer,
    is_test,
    nbgrader,
    notebook_path,
)
from wrong_answers import WRONG_ANSWERS

TAMPERED = "warning-and-deleted-tests"

WARNING_WRAPPER = """

import functools as _functools
import warnings as _warnings
_unwarned_{name} = {name}


@_functools.wraps(_unwarned_{name})
def {name}(*args, **kwargs):
    _warnings.warn("a library deprecation notice that has nothing to do with the answer",
                   UserWarning)
    return _unwarned_{name}(*args, **kwargs)
"""


def submissions(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """Student id -> submitted notebook: the solution, the blank release, ``wrong-<i>`` for
    each entry of WRONG_ANSWERS[assignment], and TAMPERED."""
    release = nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4)
    solved = filled_release(assignment)
    subs = {"solution": solved, "blank": release}

    for index, (answer_id, source, _) in enumerate(WRONG_ANSWERS.get(assignment, [])):
        subs[f"wrong-{index}"] = filled_release(assignment, {answer_id: source})

    # One solved notebook for two rules that have nothing to do with the answers: its first
    # answer warns on stderr whenever it is called (by the restored tests), and its test
    # cells are deleted. Each test checks its own half.
    tampered = filled_release(assignment)
    first_answer = next(c for c in tampered.cells if is_answer(c) and c.cell_type == "code")
    first_answer.source += WARNING_WRAPPER.format(name=first_function(first_answer.source))
    tampered.cells = [c for c in tampered.cells if not is_test(c)]
    subs[TAMPERED] = tampered
    return subs


def build(assignment: str, folder: Path) -> types.SimpleNamespace:
    """A temporary course in ``folder`` in which ``assignment`` was generated, submitted,
    autograded and turned into feedback with stock nbgrader commands."""
    root = copy_course(folder, with_release=False)
    nbgrader("generate_assignment", assignment, "--force", cwd=root)
    subs = submissions(assignment)
    for student, nb in subs.items():
        path = root / "grading" / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    nbgrader("autograde", assignment, "--force", cwd=root)
    nbgrader("generate_feedback", assignment, "--force", cwd=root)
    return types.SimpleNamespace(assignment=assignment, root=root, students=list(subs))
