"""Hypothesis strategies shared by the shapes and reference tests."""

from hypothesis import strategies as st


def int_or_pair(ints):
    """An int from ``ints``, or a pair of them, as torch's hyper-parameters accept."""
    return st.one_of(ints, st.tuples(ints, ints))


def invalid(*bad):
    """A bad value, alone or in a pair with a good one."""
    bad = st.sampled_from(bad)
    return st.one_of(bad, st.tuples(bad, st.integers(1, 3)), st.tuples(st.integers(1, 3), bad))
