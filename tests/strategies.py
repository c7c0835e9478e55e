"""Hypothesis strategies shared by the shapes and reference tests."""

from hypothesis import settings
from hypothesis import strategies as st


def examples(n: int, **kwargs) -> settings:
    """Settings for ``n`` examples, scaled by the loaded profile: all of them by default,
    a tenth in the quick tier (``python3 course.py test --quick`` loads the "quick" profile,
    whose max_examples is 10 against Hypothesis's default of 100)."""
    scaled = max(3, n * settings.default.max_examples // 100)
    return settings(max_examples=scaled, deadline=None, **kwargs)


def int_or_pair(ints):
    """An int from ``ints``, or a pair of them, as torch's hyper-parameters accept."""
    return st.one_of(ints, st.tuples(ints, ints))


def invalid(*bad):
    """A bad value, alone or in a pair with a good one."""
    bad = st.sampled_from(bad)
    return st.one_of(bad, st.tuples(bad, st.integers(1, 3)), st.tuples(st.integers(1, 3), bad))
