"""Switching notebook 03's counting functions off while a student's answer runs.

The counting functions themselves (closed forms, counting loops, the separable and
summed-area-table algorithms) answer the notebook's exercises, so they live in the answer
key, ``poolkey.cost``, which the student edition does not contain.
"""

from __future__ import annotations

__all__ = ["cost_from_scratch"]


# --- grading ----------------------------------------------------------------------------


_SWITCHED_OFF = tuple(name for name in __all__ if name != "cost_from_scratch")


def cost_from_scratch(func):
    """``poolkit.checks.from_scratch(func)``, with poolkit.cost's functions switched off too.

    Each public function of this module gets, for the duration of the call, the same
    stand-in body that ``from_scratch`` gives poolkit's reference functions: it records the
    call and raises. The swap replaces the function object's ``__code__``, so an alias such
    as ``from poolkit.cost import pool2d_cost as mine`` is caught as well, and the record
    survives a student's try/except. The wrapper raises ``ForbiddenCallError`` (an
    ``AssertionError``) if ``func`` called any of them, torch's pooling, or poolkit's
    ``shapes`` and ``reference``.
    """
    from poolkit import checks

    inner = checks.from_scratch(func)
    module = globals()

    def wrapper(*args, **kwargs):
        saved = [(module[name], module[name].__code__) for name in _SWITCHED_OFF]
        try:
            for name in _SWITCHED_OFF:
                module[name].__code__ = checks._stand_in_code(f"poolkit.cost.{name}")
            return inner(*args, **kwargs)
        finally:
            for function, code in saved:
                function.__code__ = code

    wrapper.__name__ = getattr(func, "__name__", "your function")
    return wrapper
