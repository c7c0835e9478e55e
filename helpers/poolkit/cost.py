"""Switching notebook 03's counting functions off while a student's answer runs.

The counting functions themselves (closed forms, counting loops, the separable and
summed-area-table algorithms) answer the notebook's exercises, so they live in the answer
key, ``poolkey.cost``, which the student edition does not contain.
"""

from __future__ import annotations

__all__ = ["cost_from_scratch"]


# --- grading ----------------------------------------------------------------------------


def cost_from_scratch(func):
    """``poolkit.checks.from_scratch(func)``, with poolkit.cost's functions switched off too.

    Each public function of this module gets, for the duration of the call, the stand-in
    body of ``poolkit.rules``: it records the call and raises, whatever name it was imported
    under, and the record survives a student's try/except. The wrapper raises
    ``ForbiddenCallError`` (an ``AssertionError``) if ``func`` called any of them, torch's
    pooling, poolkit's ``shapes`` or the answer key (``poolkey``).
    """
    from poolkit.rules import run_guarded

    def wrapper(*args, **kwargs):
        return run_guarded(
            func, args, kwargs,
            "this exercise must be written from scratch, without torch's pooling or "
            "the course's answer key (poolkey).",
            modules=("poolkit.shapes", "poolkey.shapes", "poolkey.reference", "poolkey.cost"),
            ops=("pool",),
            keep=("poolkit.cost.cost_from_scratch",),
        )  # fmt: skip

    wrapper.__name__ = getattr(func, "__name__", "your function")
    return wrapper
