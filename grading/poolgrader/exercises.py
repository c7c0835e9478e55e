"""What the clean re-check calls: each notebook's exercises, read from beside the notebook.

The course content is not in the grader. Each notebook's source folder holds
``rules.toml`` (``poolkit.rules``: for every auto-graded test cell, its answer cell, its
function and the libraries and operators allowed) and ``recheck_calls.py`` (the random-call
generators the ``calls`` keys name; instructor only, kept out of the release by nbgrader's
ignore list). :func:`load` joins them into :class:`Exercise` objects, and refuses a
notebook with a graded cell that has no declaration: such a cell would silently lose its
clean re-check.

The grader draws the inputs, sends the same calls to the student's answer and to the
instructor's, and compares the results itself (``poolgrader.recheck``), so the generators
need no expected values.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from poolkit import rules

__all__ = [
    "CALLS", "Call", "Exercise", "LinearModel", "MissingRules", "T", "ints", "k_s_p", "load",
    "nchw",
]  # fmt: skip

CALLS = "recheck_calls.py"


class MissingRules(RuntimeError):
    """A notebook has auto-graded cells without a declaration in ``rules.toml``."""


class T:
    """An argument that the child turns into a torch tensor (the exercise takes tensors)."""

    def __init__(self, array: np.ndarray):
        self.array = array


class LinearModel:
    """An argument that the child turns into a model: a function of a tensor ``x`` (N, ...)
    returning ``x.flatten(1) @ weight.T`` in float64, (N, K) scores (the exercise takes a
    model, and a model cannot travel as plain data)."""

    def __init__(self, weight: np.ndarray):
        self.weight = weight


@dataclass
class Call:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    then: list = field(default_factory=list)  # methods called on the result, in order


@dataclass
class Exercise:
    test: str  # grade_id of the test cell this re-checks
    answer: str  # grade_id of the answer cell that defines `function`
    function: str
    calls: Callable[[np.random.Generator], Iterator[Call]]
    rules: rules.ExerciseRules
    rtol: float = 1e-7
    atol: float = 1e-9


def graded_cells(nb) -> list[str]:
    """grade_ids of a notebook's auto-graded (code) test cells."""
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            out.append(meta.get("grade_id"))
    return out


def load(folder, source_nb=None) -> list[Exercise]:
    """The exercises declared in ``folder`` (a notebook's source folder).

    With ``source_nb``, every auto-graded test cell of it must be declared: otherwise
    :class:`MissingRules` names the cells. A missing ``rules.toml`` with graded cells is
    refused the same way.
    """
    folder = Path(folder)
    graded = graded_cells(source_nb) if source_nb is not None else []
    try:
        specs = rules.load(folder)
    except FileNotFoundError as exc:
        if graded or source_nb is None:
            raise MissingRules(str(exc)) from None
        return []
    declared = {r.test for r in specs.values()}
    undeclared = [g for g in graded if g not in declared]
    if undeclared:
        raise MissingRules(
            f"{folder / rules.SPEC} declares no rules for the graded cells "
            f"{', '.join(undeclared)}: their clean re-check would be skipped"
        )
    calls_path = folder / CALLS
    spec = importlib.util.spec_from_file_location(f"recheck_calls_{folder.name}", calls_path)
    if spec is None or not calls_path.is_file():
        raise MissingRules(f"{calls_path} is missing: it holds the clean re-check's calls")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = []
    for name, r in specs.items():
        calls = getattr(module, r.calls, None)
        if not callable(calls):
            raise MissingRules(f"{calls_path} has no generator {r.calls!r} (for {name})")
        out.append(Exercise(r.test, r.answer, r.function, calls, r, rtol=r.rtol, atol=r.atol))
    return out


# Helpers for the generators.


def ints(rng, low, high, shape) -> np.ndarray:
    return rng.integers(low, high, size=shape).astype(np.float64)


def k_s_p(rng, low=1, high=5):
    """A valid torch (kernel, stride, padding): padding at most half the kernel."""
    k = tuple(int(v) for v in rng.integers(low, high, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    return k, s, p


def nchw(rng, k, low=-5, high=6):
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 5)))
    shape += (int(rng.integers(k[0], 9)), int(rng.integers(k[1], 9)))
    return T(ints(rng, low, high, shape))
