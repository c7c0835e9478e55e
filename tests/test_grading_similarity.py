"""``poolgrader.similarity``, the course's one near-copy measure, on real answers.

The answers are notebook 01's ``pool2d``: the model answer, the same with its names and
spacing changed, and three correct answers written independently (tests/similar_answers.py).
"""

from __future__ import annotations

import pytest
from poolgrader.similarity import NEAR_COPY, fingerprint, near_copies, pair, share, similarity
from similar_answers import COPIED, COPIER, HONEST, as_cell, model, model_renamed, skeleton


def test_renamed_and_respaced_copies_score_one():
    assert pair(model(), model_renamed(), skeleton()) == 1.0
    assert pair(as_cell(COPIER), as_cell(COPIED), skeleton()) == 1.0
    # not symmetric in general, but a pure rename is a copy both ways
    assert similarity(model_renamed(), model(), skeleton()) == 1.0


@pytest.mark.parametrize("name, body", [("HONEST", HONEST), ("COPIER", COPIER)])
def test_independent_answers_written_another_way_score_below_near_copy(name, body):
    value = pair(model(), as_cell(body), skeleton())
    assert value < NEAR_COPY, (name, value)
    assert pair(as_cell(HONEST), as_cell(COPIER), skeleton()) < NEAR_COPY


def test_the_given_skeleton_never_counts():
    release = skeleton()
    # Two untouched skeletons share all their code: the signature and docstring...
    assert pair(release, release) == 1.0
    # ...which is boilerplate, so they share nothing that counts.
    assert pair(release, release, boilerplate=release) == 0.0
    # A skeleton that gives a helper: two answers that use it differently share the helper
    # only, which does not count.
    given = (
        "def dot(a, b):\n    total = 0.0\n    for i in range(len(a)):\n"
        "        total += a[i] * b[i]\n    return total\n\n\n"
        "def norm2(x):\n    raise NotImplementedError()\n"
    )
    one = given.replace("raise NotImplementedError()", "return dot(x, x)")
    other = given.replace("raise NotImplementedError()", "return sum(v ** 2 for v in list(x))")
    assert pair(one, other) >= NEAR_COPY
    assert pair(one, other, boilerplate=given) == 0.0


def test_code_too_short_to_fingerprint_scores_zero():
    assert similarity("", model()) == 0.0
    assert pair("x = 1\n", "x = 1\n") == 0.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: similarity(b"def f(): pass", "x"), "a and b must be Python source as str"),
        (lambda: pair("x", None), "must be Python source as str"),
        (lambda: similarity("x", "y", boilerplate=3), "boilerplate must be Python source"),
        (lambda: near_copies(["a", "b"]), "sources must map a key to Python source"),
        (lambda: near_copies({"ann": 1}), "sources['ann'] must be Python source as str"),
        (lambda: near_copies({}, threshold=0), "threshold must be in (0, 1]"),
        (lambda: share("a", "b"), "must come from similarity.fingerprint()"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert message in str(info.value)


def test_near_copies_finds_exactly_the_copied_pairs():
    sources = {
        "model": model(),
        "renamed": model_renamed(),
        "honest": as_cell(HONEST),
        "copier": as_cell(COPIER),
        "copied": as_cell(COPIED),
        "blank": skeleton(),
    }
    found = near_copies(sources, boilerplate=skeleton())
    assert {(a, b) for a, b, _ in found} == {("model", "renamed"), ("copier", "copied")}
    assert all(value == 1.0 for _, _, value in found)


def test_fingerprints_made_once_give_what_the_string_functions_give():
    common = skeleton()
    sources = [model(), model_renamed(), as_cell(HONEST), as_cell(COPIER), as_cell(COPIED)]
    prints = [fingerprint(s, common) for s in sources]
    for a, fa in zip(sources, prints, strict=True):
        for b, fb in zip(sources, prints, strict=True):
            assert share(fa, fb) == similarity(a, b, common)


def test_share_is_copydetects_number():
    """share() computes copydetect's compare_files share with sets (it is 100x faster)."""
    from copydetect import compare_files

    common = skeleton()
    sources = [model(), model_renamed(), as_cell(HONEST), as_cell(COPIER), as_cell(COPIED)]
    sources.append(model().replace("    return Y\n", "    Y = Y + 0\n    return Y\n"))
    prints = [fingerprint(s, common) for s in sources]
    for fa in prints:
        for fb in prints:
            _, (expected, _), _ = compare_files(fa.code, fb.code)
            assert share(fa, fb) == pytest.approx(float(expected), abs=1e-12)
