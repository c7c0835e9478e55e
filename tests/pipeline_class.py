"""The pipeline class of one assignment, graded with stock nbgrader commands.

Built once per test process (``stock_graded`` in ``tests/conftest.py``) for
``test_grading_pipeline.py``.
"""

from __future__ import annotations

import types
from pathlib import Path

import nbformat
from nbgrader_course import (
    ASSIGNMENTS,
    filled_release,
    first_function,
    is_answer,
    is_test,
    nbgrader,
)

TAMPERED = "warning-and-deleted-tests"
# What TAMPERED checks is nbgrader's and its configuration's (the release's test cells put
# back, stderr ignored), the same for every notebook: one notebook's class holds it.
TAMPERED_IN = ASSIGNMENTS[0]

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
    """Student id -> submitted notebook: the solution and, for TAMPERED_IN only, TAMPERED.
    (The blank release and the wrong answers are graded in the mixed class,
    tests/attack_class.py, where the exact points of each are checked: graded here too, they
    would only cost time.)"""
    subs = {"solution": filled_release(assignment)}
    if assignment != TAMPERED_IN:
        return subs

    # One solved notebook for two rules that have nothing to do with the answers: its first
    # answer warns on stderr whenever it is called (by the restored tests), and its test
    # cells are deleted. Each test checks its own half.
    tampered = filled_release(assignment)
    first_answer = next(c for c in tampered.cells if is_answer(c) and c.cell_type == "code")
    first_answer.source += WARNING_WRAPPER.format(name=first_function(first_answer.source))
    tampered.cells = [c for c in tampered.cells if not is_test(c)]
    subs[TAMPERED] = tampered
    return subs


def build(assignment: str, root: Path) -> types.SimpleNamespace:
    """The course ``root``, in which ``assignment`` was generated with stock nbgrader, with
    the class submitted, autograded and turned into feedback with stock nbgrader commands."""
    subs = submissions(assignment)
    for student, nb in subs.items():
        path = root / "grading" / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    nbgrader("autograde", assignment, "--force", cwd=root)
    nbgrader("generate_feedback", assignment, "--force", cwd=root)
    return types.SimpleNamespace(assignment=assignment, root=root, students=list(subs))
