"""Plausible wrong answers, one or more per assignment, for the pipeline tests.

Each entry is (answer cell grade_id, the wrong source, the test cells that must score 0).
Every other auto-graded cell must keep full marks: a mistake costs only its own exercise.
"""

WRONG_ANSWERS: dict[str, list[tuple[str, str, set[str]]]] = {}
