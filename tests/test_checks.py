"""poolkit.checks: the comparisons behind every test cell must fail when they should."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from poolkit import reference
from poolkit.checks import ForbiddenCallError, check_array, check_int, from_scratch


def test_infinite_expected_values_must_match_exactly():
    with pytest.raises(AssertionError, match="wrong values"):
        check_array([[0.0, 1.0]], [[-math.inf, 1.0]], "pad_left_top(X, 1)")
    check_array([[-math.inf, 1.0]], [[-math.inf, 1.0]], "pad_left_top(X, 1)")


def test_messages_name_the_call_the_shape_and_the_values():
    with pytest.raises(AssertionError, match=r"returned shape \(1, 1, 2, 3\); expected shape"):
        check_array(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 2, 2)), "pool2d(X, 3, stride=2)")
    with pytest.raises(AssertionError, match="got 5.0, expected 4.0"):
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


def test_from_scratch_catches_torch_pooling_aliases_and_swallowed_errors():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    alias = F.max_pool2d

    def swallowing():
        try:
            return alias(x, 2)
        except Exception:
            return torch.zeros(1, 1, 2, 2)

    for cheat in (lambda: F.avg_pool2d(x, 2), lambda: torch.nn.MaxPool2d(2)(x), swallowing):
        with pytest.raises(ForbiddenCallError, match="from scratch"):
            from_scratch(cheat)()
    with pytest.raises(ForbiddenCallError, match="poolkit.reference.max_pool2d"):
        from_scratch(lambda: reference.max_pool2d(x.numpy(), 2))()
    # Everything is switched back on afterwards.
    assert reference.max_pool2d(x.numpy(), 2).shape == (1, 1, 2, 2)


def test_from_scratch_autograd_switch():
    def by_autograd():
        y = torch.ones(3, requires_grad=True)
        (y * 2).sum().backward()
        return y.grad

    with pytest.raises(ForbiddenCallError, match="backward"):
        from_scratch(by_autograd, autograd=True)()
    assert from_scratch(by_autograd)().tolist() == [2.0, 2.0, 2.0]
