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

Code shared by everyone (the released skeleton: signature, docstring, given helpers) is
passed as ``boilerplate`` and does not count, in two ways: every line of the code compared
that is also a line of the boilerplate (ignoring indentation) is removed before
fingerprinting, and fingerprints of the boilerplate are left out (copydetect's own
boilerplate filter, for given code that a student re-indents or splits). Removing the lines
first matters: a fingerprint is a run of 25 characters, so without it the runs that straddle
the end of the given code and the first characters of the answer (``...):return`` in both)
are shared by two answers that only start alike, and weigh heavily in a short answer.

For many pieces of code (a class's answers to one cell), :func:`fingerprint` each once and
compare the fingerprints with :func:`share`, or let :func:`near_copies` do it: it compares
only pairs that share at least one fingerprint (an index from fingerprint to code), since a
pair that shares none has similarity 0.

The kit test (tests/test_student_kit.py) and the class report's flags use this module and
:data:`NEAR_COPY`; nothing else decides what a near-copy is.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Hashable, Mapping
from itertools import pairwise

__all__ = [
    "GUARANTEE",
    "NEAR_COPY",
    "NOISE",
    "Boilerplate",
    "Fingerprint",
    "prepare",
    "fingerprint",
    "near_copies",
    "pair",
    "share",
    "similarity",
]

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
            language="python",  # not guessed from the name: a fifth of the time saved
            fp=io.StringIO(source),
        )
    finally:
        logging.getLogger().disabled = was


class Boilerplate:
    """Code everyone was given, prepared once (:func:`prepare`): its lines and its
    fingerprints."""

    __slots__ = ("hashes", "lines")

    def __init__(self, source: str):
        self.lines = frozenset(line.strip() for line in source.splitlines() if line.strip())
        self.hashes = sorted(_fingerprint(source).hashes) if source.strip() else []

    def remove_from(self, source: str) -> str:
        """``source`` without the lines it shares with the boilerplate."""
        if not self.lines:
            return source
        return "\n".join(line for line in source.splitlines() if line.strip() not in self.lines)


def _check_source(value, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be Python source as str, got {type(value).__name__}")


def prepare(source: str) -> Boilerplate:
    """Prepare shared code (a skeleton) once, to pass to :func:`fingerprint` many times."""
    _check_source(source, "boilerplate")
    return Boilerplate(source)


class Fingerprint:
    """The winnowed fingerprints of one piece of code (``None`` inside when it is too short
    to fingerprint); make them with :func:`fingerprint`."""

    __slots__ = ("code",)

    def __init__(self, code):
        self.code = code

    @property
    def hashes(self) -> set:
        return self.code.hashes if self.code is not None else set()


def fingerprint(source: str, given: str | Boilerplate = "") -> Fingerprint:
    """Fingerprint ``source`` once, for many comparisons with :func:`share`.

    ``given``: code everyone was given (a str), or the same prepared once by
    :func:`prepare`.
    """
    _check_source(source, "source")
    if not isinstance(given, Boilerplate):
        given = prepare(given)
    code = _fingerprint(given.remove_from(source), given.hashes)
    return Fingerprint(code if code.token_coverage else None)


def share(a: Fingerprint, b: Fingerprint) -> float:
    """The share (0 to 1) of ``a``'s fingerprinted code that also occurs in ``b``.

    The same number as copydetect's ``compare_files(a, b)[1][0]`` (tests/
    test_grading_similarity.py checks it): the characters of ``a``'s normalised code that
    lie in a run of :data:`NOISE` whose hash ``b`` also has, over those that lie in any
    fingerprinted run. Computed here with sets: copydetect builds a NumPy array per shared
    hash and took 10 ms a pair on the test answers, this takes about 0.1 ms, which is what
    makes a class of hundreds (tens of thousands of pairs per cell) take seconds.
    """
    if not isinstance(a, Fingerprint) or not isinstance(b, Fingerprint):
        raise TypeError("share(a, b): a and b must come from similarity.fingerprint()")
    if a.code is None or b.code is None:
        return 0.0
    common = a.code.hashes & b.code.hashes
    if not common:
        return 0.0
    starts = sorted({int(i) for h in common for i in a.code.hash_idx[h]})
    k = a.code.k
    covered = k + sum(min(k, nxt - cur) for cur, nxt in pairwise(starts))
    return float(covered / a.code.token_coverage)


def similarity(a: str, b: str, boilerplate: str = "") -> float:
    """The share (0 to 1) of ``a``'s fingerprinted code that also occurs in ``b``.

    ``boilerplate`` is code both were given (a skeleton); its fingerprints are ignored. Code
    too short to fingerprint (fewer than :data:`NOISE` normalised characters) gives 0.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError("similarity(a, b): a and b must be Python source as str")
    common = prepare(boilerplate)
    return share(fingerprint(a, common), fingerprint(b, common))


def pair(a: str, b: str, boilerplate: str = "") -> float:
    """The larger of ``similarity(a, b)`` and ``similarity(b, a)``."""
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError("pair(a, b): a and b must be Python source as str")
    common = prepare(boilerplate)
    fa, fb = fingerprint(a, common), fingerprint(b, common)
    return max(share(fa, fb), share(fb, fa))


def near_copies(
    sources: Mapping[Hashable, str],
    boilerplate: str = "",
    threshold: float = NEAR_COPY,
) -> list[tuple[Hashable, Hashable, float]]:
    """Every pair of ``sources`` (key -> code) whose :func:`pair` similarity is at least
    ``threshold``, as ``(key_a, key_b, similarity)`` with ``key_a`` first in ``sources``.

    Each piece of code is fingerprinted once; only pairs that share a fingerprint are
    compared (the others score 0), so a class of hundreds takes seconds, not minutes.
    """
    if not isinstance(sources, Mapping):
        raise TypeError(f"sources must map a key to Python source, got {type(sources).__name__}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    for key, source in sources.items():
        _check_source(source, f"sources[{key!r}]")
    common = prepare(boilerplate)
    keys = list(sources)
    prints = [fingerprint(sources[key], common) for key in keys]
    holders: dict[int, list[int]] = {}
    for index, fp in enumerate(prints):
        for h in fp.hashes:
            holders.setdefault(h, []).append(index)
    candidates = set()
    for owners in holders.values():
        for i, first in enumerate(owners):
            candidates.update((first, second) for second in owners[i + 1 :])
    found = []
    for i, j in sorted(candidates):
        value = max(share(prints[i], prints[j]), share(prints[j], prints[i]))
        if value >= threshold:
            found.append((keys[i], keys[j], value))
    return found
