"""How much of one piece of Python code is found in another: the course's one similarity rule.

The measure is copydetect's (a maintained implementation of MOSS's winnowing, Schleimer,
Wilkerson and Aiken 2003):

1. pygments tokenises the code; every name becomes ``V``, every function name ``F``, every
   class name ``O`` and every string ``S``, and comments and whitespace are dropped, so that
   renaming and re-spacing change nothing;
2. every run of :data:`NOISE` characters of that normalised text is hashed, and winnowing
   keeps the hashes that any run of :data:`GUARANTEE` characters must contain;
3. ``similarity(a, b)`` is the share of ``a``'s fingerprinted code that also occurs in ``b``.

It is not symmetric: a cell that copies the model answer and adds noise has a high
``similarity(model, cell)`` and a lower ``similarity(cell, model)``. :func:`pair` returns the
larger of the two, which is what a reviewer wants to see first.

Code shared by everyone (the released skeleton: signature and docstring) is passed as
``boilerplate`` and does not count.

The kit test (tests/test_student_kit.py) and the class report's flags use this module and
:data:`NEAR_COPY`; nothing else decides what a near-copy is.
"""

from __future__ import annotations

import io
import logging

__all__ = ["GUARANTEE", "NEAR_COPY", "NOISE", "pair", "similarity"]

NOISE = 25  # characters of normalised code: shorter shared runs are ignored (copydetect's default)
GUARANTEE = 25  # any shared run this long is always found; winnowing window = 1
NEAR_COPY = 0.5  # a pair at or above this share is flagged as a near-copy


def _fingerprint(source: str, boilerplate=()):
    from copydetect import CodeFingerprint

    logging.getLogger().disabled, was = True, logging.getLogger().disabled
    try:  # copydetect logs a warning for code it cannot tokenise; we handle empty code
        return CodeFingerprint(
            "answer.py",
            NOISE,
            GUARANTEE - NOISE + 1,
            boilerplate=list(boilerplate),
            fp=io.StringIO(source),
        )
    finally:
        logging.getLogger().disabled = was


def _boilerplate(source: str) -> list[int]:
    if not source.strip():
        return []
    return sorted(_fingerprint(source).hashes)


def similarity(a: str, b: str, boilerplate: str = "") -> float:
    """The share (0 to 1) of ``a``'s fingerprinted code that also occurs in ``b``.

    ``boilerplate`` is code both were given (a skeleton); its fingerprints are ignored. Code
    too short to fingerprint (fewer than :data:`NOISE` normalised characters) gives 0.
    """
    from copydetect import compare_files

    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError("similarity(a, b): a and b must be Python source as str")
    common = _boilerplate(boilerplate)
    fa, fb = _fingerprint(a, common), _fingerprint(b, common)
    if not fa.token_coverage or not fb.token_coverage:
        return 0.0
    _, (share_a, _share_b), _ = compare_files(fa, fb)
    return float(share_a)


def pair(a: str, b: str, boilerplate: str = "") -> float:
    """The larger of ``similarity(a, b)`` and ``similarity(b, a)``."""
    return max(similarity(a, b, boilerplate), similarity(b, a, boilerplate))
