"""Notebook 03's algorithm exercises check the algorithm, with the real grader.

A direct window computation gives the same numbers as separable max pooling and as a
summed-area table, so comparing outputs cannot tell them apart (issue 18). The exercises
now ask for each step on its own: the column pass is also given arrays that are no row pass,
and the averages are read off tables that hold only the windows' corners (NaN elsewhere).

One small class of ``03-compute-cost`` is graded with ``python -m poolgrader autograde``:
each direct attack (tests/algorithm_answers.py), which passed the exercise before this
change, must earn 0 for its exercise in the gradebook; each legitimate answer written
another way than the model answer must earn full marks there and pass the clean re-check.
Every other answer in these notebooks is the model answer.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from algorithm_answers import (
    SAT,
    SAT_DIRECT,
    SAT_LEGIT,
    SEPARABLE,
    SEPARABLE_DIRECT,
    SEPARABLE_LEGIT,
    SEPARABLE_STASH,
)
from attacks import Attack, write_submission
from nbgrader.api import Gradebook
from nbgrader_course import BIN, copy_course, filled_release, nbgrader

ASSIGNMENT = "03-compute-cost"
EXERCISE = {SEPARABLE: "test_separable_max_pool2d", SAT: "test_sat_avg_pool2d"}
# student -> (answer cell, source, points expected for that cell's exercise: None = full)
CLASS = {
    "sep-direct": (SEPARABLE, SEPARABLE_DIRECT, 0),
    "sep-stash": (SEPARABLE, SEPARABLE_STASH, 0),
    "sep-legit": (SEPARABLE, SEPARABLE_LEGIT, None),
    "sat-direct": (SAT, SAT_DIRECT, 0),
    "sat-legit": (SAT, SAT_LEGIT, None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("algorithms"), with_release=False)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root)
    for student, (cell, source, _) in CLASS.items():
        nb = filled_release(ASSIGNMENT, {cell: source})
        write_submission(root, student, ASSIGNMENT, Attack("nb", nb, ""))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run(
        [sys.executable, "-m", "poolgrader", "autograde", ASSIGNMENT, "--timeout", "30"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    grades = {}
    with Gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}") as gb:
        for student in CLASS:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            grades[student] = {g.name: (g.score, g.max_score) for g in nb.grades}
    with (root / "grading" / "reports" / f"{ASSIGNMENT}.csv").open() as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return grades, rows


@pytest.mark.parametrize("student", sorted(CLASS))
def test_points_for_the_algorithm_only(graded, student):
    grades, rows = graded
    cell, _, expected = CLASS[student]
    score, possible = grades[student][EXERCISE[cell]]
    print(f"{student}: {score:g} / {possible:g} for {EXERCISE[cell]}")
    if expected is None:  # legitimate: full marks, and the clean re-check agrees
        assert score == possible > 0, (student, score, rows[student]["notes"])
        assert EXERCISE[cell] not in rows[student]["flagged"].split()
    else:
        assert score == expected, (student, score)
    # Every other exercise holds the model answer: full marks.
    for name, (other, top) in grades[student].items():
        if name != EXERCISE[cell] and name != "when_pooling_cost_matters":
            assert other == top, (student, name, other)
