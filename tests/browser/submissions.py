"""Submissions for the instructor flow, autograded with stock nbgrader in the course copy."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader_course import REPO, filled_release, nbgrader, notebook_path
from wrong_answers import WRONG_ANSWERS

# 01 runs fastest of the five, and has a written answer to grade by hand.
ASSIGNMENT = "01-pooling-basics"


def submissions(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """Student id -> notebook: the model answers, the blank release, one wrong answer."""
    answer_id, wrong_source, _ = WRONG_ANSWERS[assignment][0]
    return {
        "solved": filled_release(assignment),
        "blank": nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4),
        "wrong": filled_release(assignment, {answer_id: wrong_source}),
    }


def autograde(root: Path, assignment: str = ASSIGNMENT) -> list[str]:
    """Put the assignment in the gradebook, submit three notebooks and autograde them.

    generate_assignment writes its release to grading/release rather than notebooks/, so it
    cannot replace the notebooks the student tests have open in the same course copy.
    Returns the student ids.
    """
    nbgrader(
        "generate_assignment",
        assignment,
        "--force",
        "--CourseDirectory.release_directory=grading/release",
        cwd=root,
    )
    subs = submissions(assignment)
    for student, nb in subs.items():
        path = root / "grading" / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    nbgrader("autograde", assignment, "--force", cwd=root)
    return list(subs)
