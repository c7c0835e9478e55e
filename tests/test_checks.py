"""poolkit.checks: the comparisons behind every test cell must fail when they should.

Where a test checks a message, the numbers it expects are worked out here from how the
wrong answer was built (which entries were changed, and by how much), not read from the
message.
"""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from poolkit.checks import (
    check_array,
    check_int,
    cpu_time_limited,
    overlap_pitfall,
    ties_pitfall,
    uncovered_pitfall,
)


def test_infinite_expected_values_must_match_exactly():
    with pytest.raises(AssertionError, match="wrong values"):
        check_array([[0.0, 1.0]], [[-math.inf, 1.0]], "pad_left_top(X, 1)")
    check_array([[-math.inf, 1.0]], [[-math.inf, 1.0]], "pad_left_top(X, 1)")


def test_messages_name_the_call_the_shape_and_the_values():
    with pytest.raises(AssertionError, match=r"returned shape \(1, 1, 2, 3\); expected shape"):
        check_array(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 2, 2)), "pool2d(X, 3, stride=2)")
    with pytest.raises(AssertionError, match=r"index \(1, 1\): expected 4, got 5\."):
        check_array([[1, 2], [3, 5]], [[1, 2], [3, 4]], "pool2d(X, 2)")
    with pytest.raises(AssertionError, match="returned None"):
        check_array(None, [1.0], "f()")
    with pytest.raises(AssertionError, match="NaN|wrong values"):
        check_array([np.nan], [1.0], "f()")
    check_array([np.nan], [np.nan], "f()")


def test_check_int_refuses_floats_and_bools():
    for bad in (2.0, True, "2"):
        with pytest.raises(AssertionError):
            check_int(bad, 2, "pool_output_size(5, 2)")
    check_int(np.int64(2), 2, "pool_output_size(5, 2)")


def _message(got, expected, call="f(x)", **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check_array(got, expected, call, **kwargs)
    return str(info.value)


def test_a_mismatch_names_how_many_differ_and_the_first_with_both_values():
    shape = (2, 3, 4, 5)
    expected = F.max_pool2d(torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(1)), 2)
    expected = expected.double().numpy()
    assert expected.shape == shape
    changed = [(1, 2, 3, 4), (0, 1, 2, 0), (1, 0, 0, 0)]  # not in row-major order
    got = expected.copy()
    for index in changed:
        got[index] += 1.0
    message = _message(got, expected, "max_pool2d(x, 2)")
    first = min(changed)  # tuples compare in row-major order
    assert message.startswith("max_pool2d(x, 2) returned wrong values: ")
    assert f"{len(changed)} of {math.prod(shape)} entries differ." in message
    assert (
        f"First difference at index {first}: expected {expected[first]:.6g}, "
        f"got {expected[first] + 1:.6g}." in message
    )
    # The 4×5 plane that holds the first difference is shown, expected and returned.
    assert "expected[0, 1, :, :]: [[" in message and "got[0, 1, :, :]:      [[" in message


def test_values_that_agree_to_six_digits_are_shown_in_full():
    message = _message([1.0000001], [1.0], rtol=1e-9)
    assert "expected 1.0, got 1.0000001." in message


def test_a_large_mismatch_does_not_print_two_identical_summaries():
    # Two entries swapped: shape, min and max are the same, so a summary of each array
    # (the old message) would print the same line twice.
    expected = np.arange(200.0).reshape(2, 1, 10, 10)
    got = expected.copy()
    got[0, 0, 0, 0], got[1, 0, 9, 9] = expected[1, 0, 9, 9], expected[0, 0, 0, 0]
    message = _message(got, expected)
    assert "2 of 200 entries differ" in message
    assert "First difference at index (0, 0, 0, 0): expected 0, got 199." in message
    assert "an array of shape" not in message


def test_hints_are_added_to_failures():
    with pytest.raises(AssertionError, match="returned 3; expected 2.\nceil_mode rounds up"):
        check_int(3, 2, "pool_output_size(5, 2)", hint="ceil_mode rounds up")
    message = _message([1.0], [2.0], hint="This input has ties.")
    assert message.splitlines()[2] == "This input has ties."
    check_int(2, 2, "pool_output_size(5, 2)", hint="never shown")


def test_ties_pitfall_marks_the_inputs_tied_for_a_windows_maximum():
    x = np.array([[1, 3, 3], [3, 2, 0], [0, 3, 1]])
    # By hand, kernel 2, stride 1: window (0, 0) ties at (0, 1) and (1, 0); window (0, 1) at
    # (0, 1) and (0, 2); window (1, 0) at (1, 0) and (2, 1); window (1, 1) has one maximum.
    tied = {(0, 1), (1, 0), (0, 2), (2, 1)}
    where = ties_pitfall(x, 2, 1).where
    assert {tuple(int(v) for v in i) for i in np.argwhere(where)} == tied
    # Batched input: the same marks in every plane. Stride 2 (the default): one window, a tie.
    assert (
        ties_pitfall(np.stack([x, x])[:, None], 2, 1).where[:, 0].tolist() == [where.tolist()] * 2
    )
    assert ties_pitfall(x, 2).where.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]


def _torch_max_backward(dy, x, k, s):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(
        F.max_pool2d(xt, k, s), xt, grad_outputs=torch.tensor(dy, dtype=torch.float64)
    )
    return grad.numpy()


def _max_backward_by_loops(dy, x, k, s, ties="first", accumulate=True):
    """Max pooling's backward with loops, right or with a known mistake."""
    dx = np.zeros_like(x, dtype=np.float64)
    for n, c, i, j in np.ndindex(*dy.shape):
        window = x[n, c, i * s : i * s + k, j * s : j * s + k]
        if ties == "first":
            share = np.zeros(window.shape)
            share[np.unravel_index(np.argmax(window), window.shape)] = 1.0
        else:  # CS231n's mask: every tied maximum; "share" splits dy among them
            share = (window == window.max()).astype(np.float64)
            if ties == "share":
                share /= share.sum()
        block = dx[n, c, i * s : i * s + k, j * s : j * s + k]
        if accumulate:
            block += share * dy[n, c, i, j]
        else:
            block[share > 0] = dy[n, c, i, j]
    return dx


def _pitfalls(dy, x, k, s):
    counts = _torch_max_backward(np.ones_like(dy), x, k, s)
    return [ties_pitfall(x, k, s), overlap_pitfall(counts)]


@pytest.mark.parametrize("ties", ["share", "mask"])
def test_a_tie_mistake_is_named_with_torchs_rule(ties):
    x = np.array([[1, 3, 3], [3, 2, 0], [0, 3, 1]], dtype=np.float64)[None, None]
    dy = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    right = _torch_max_backward(dy, x, 2, 1)
    np.testing.assert_array_equal(right, _max_backward_by_loops(dy, x, 2, 1))
    got = _max_backward_by_loops(dy, x, 2, 1, ties=ties)
    n_wrong = int(np.sum(got != right))
    assert n_wrong > 1
    message = _message(got, right, pitfalls=_pitfalls(dy, x, 2, 1))
    assert f"{n_wrong} of 9 entries differ" in message
    assert f"Known pitfall, ties: all {n_wrong} differing entries are tied" in message
    assert "first maximum in row-major order" in message
    # Input (0, 1) is also sent gradient by two windows, but ties explain every difference.
    assert "overlapping windows" not in message


def test_an_overwriting_mistake_is_named_as_overlap_not_ties():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 6, 5))  # random floats: no ties
    dy = rng.standard_normal((2, 2, 4, 3))
    right = _torch_max_backward(dy, x, 3, 1)
    got = _max_backward_by_loops(dy, x, 3, 1, accumulate=False)
    counts = _torch_max_backward(np.ones_like(dy), x, 3, 1)
    differ = got != right
    assert differ.any() and (counts[differ] > 1).all()
    message = _message(got, right, pitfalls=_pitfalls(dy, x, 3, 1))
    assert "Known pitfall, overlapping windows: all" in message and "`+=`" in message
    assert "ties" not in message


def test_pitfalls_that_explain_only_some_differences_say_how_many():
    expected = np.array([[2, 0, 1, 0]])  # a made-up count map: how many windows per entry
    got = np.array([[1, 1, 0, 1]])
    message = _message(
        got, expected, pitfalls=[overlap_pitfall(expected), uncovered_pitfall(expected)]
    )
    # Entry 0 is in two windows, entries 1 and 3 in none, entry 2 in one: 4 differ.
    assert "4 of 4 entries differ" in message
    assert "overlapping windows: 1 of the 4 differing entries is sent" in message
    assert "inputs outside every window: 2 of the 4 differing entries are outside" in message
    assert message.index("outside every window: 2") < message.index("overlapping windows: 1")


def _busy(seconds):
    # Spends about `seconds` of CPU time in Python, then returns it.
    import time

    started = time.process_time()
    while time.process_time() - started < seconds:
        pass
    return seconds


def test_cpu_time_limited_returns_the_result_within_the_budget():
    assert cpu_time_limited(lambda: _busy(0.05), 1.0, "f()", "hint") == 0.05


def test_cpu_time_limited_stops_a_slow_answer_when_the_budget_is_spent():
    import time

    started = time.perf_counter()
    with pytest.raises(AssertionError) as caught:
        cpu_time_limited(lambda: _busy(30.0), 0.5, "slow(64, 3000)", "Sum per axis.")
    assert time.perf_counter() - started < 10.0  # stopped, not left to run 30 s
    message = str(caught.value)
    assert re.fullmatch(
        r"slow\(64, 3000\) was stopped after 0\.[5-9] s of CPU time; the budget is 0\.5 s\. "
        r"Sum per axis\.",
        message,
    ), message


def test_cpu_time_limited_is_not_fooled_by_an_answer_that_catches_exceptions():
    def swallowing():
        for _ in range(100):
            try:
                _busy(0.2)
            except Exception:
                pass

    with pytest.raises(AssertionError, match="was stopped after"):
        cpu_time_limited(swallowing, 0.3, "swallowing()", "")


def test_cpu_time_limited_charges_cpu_time_not_waiting():
    # A kernel paused by a busy machine waits without using CPU time: no charge.
    import time

    assert cpu_time_limited(lambda: time.sleep(0.6) or "done", 0.3, "f()", "") == "done"


def test_cpu_time_limited_leaves_the_signal_handler_as_it_found_it():
    import signal

    before = signal.getsignal(signal.SIGPROF)
    cpu_time_limited(lambda: None, 1.0, "f()", "")
    with pytest.raises(AssertionError):
        cpu_time_limited(lambda: _busy(5.0), 0.2, "g()", "")
    assert signal.getsignal(signal.SIGPROF) is before
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
