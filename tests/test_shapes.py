"""poolkey.shapes against torch: output sizes, and which configurations are valid.

Expected values always come from torch: the output shape of ``F.max_pool2d`` /
``F.avg_pool2d`` run on a zero tensor, or whether that call raises.
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given
from hypothesis import strategies as st
from poolkey import reference
from poolkey.shapes import pool2d_output_shape, pool_output_size
from poolkit.shapes import pool2d_out_hw
from strategies import examples, int_or_pair, invalid

SETTINGS = examples(500, derandomize=True, database=None)

# torch's rejections: RuntimeError from its shape checks (IndexError from avg_pool2d's
# dimension check on 1-D and 2-D tensors), TypeError from its argument parser.
TORCH_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch on one thread: for tiny tensors its thread pool only adds overhead, which is
    large on a busy 2-core machine (milliseconds per call instead of microseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_output_hw(input_hw, mode="max", **kwargs):
    """(OH, OW) of torch's pooling of a zero (1, 1, H, W) tensor, or None if torch refuses."""
    x = torch.zeros((1, 1, *input_hw), dtype=torch.float64)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    try:
        return tuple(pool(x, **kwargs).shape[-2:])
    except TORCH_ERRORS:
        return None


def poolkit_output_hw(input_hw, **kwargs):
    """pool2d_output_shape (the answer key's rule), or None if it raises ValueError."""
    try:
        return pool2d_output_shape(input_hw, **kwargs)
    except ValueError:
        return None


def meta_output_hw(input_hw, **kwargs):
    """poolkit.shapes.pool2d_out_hw (torch on the meta device), or None for a ValueError."""
    try:
        return pool2d_out_hw(tuple(input_hw), **kwargs)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# Output sizes of valid configurations
# ---------------------------------------------------------------------------------------


def test_pool_output_size_matches_torch_on_every_small_configuration():
    """Exhaustive over a small grid, so every ceil_mode edge case there is covered."""
    dropped = 0  # configurations where ceil_mode's "last window starts in the padding" rule fires
    for size, k, s, d, ceil_mode in itertools.product(
        range(1, 9), range(1, 5), range(1, 5), range(1, 3), (False, True)
    ):
        for p in range(k // 2 + 1):
            kwargs = dict(kernel_size=(k, 1), stride=(s, 1), padding=(p, 0), dilation=(d, 1))
            expected = torch_output_hw((size, 1), ceil_mode=ceil_mode, **kwargs)
            call = f"pool_output_size({size}, {k}, {s}, {p}, {d}, ceil_mode={ceil_mode})"
            if expected is None:
                with pytest.raises(ValueError, match="output size"):
                    pool_output_size(size, k, s, p, d, ceil_mode)
                continue
            assert pool_output_size(size, k, s, p, d, ceil_mode) == expected[0], call
            span = d * (k - 1) + 1
            if ceil_mode and -(-(size + 2 * p - span) // s) + 1 != expected[0]:
                dropped += 1
    assert dropped > 10  # the grid really exercises the rule


@st.composite
def valid_configs(draw):
    """Valid pooling hyper-parameters (as ints or pairs) and an input (H, W) they fit."""
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    sh, sw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # The smallest input the (dilated) window fits in, plus a little.
    h = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 12))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 12))
    kwargs = {
        "kernel_size": draw(as_int_or_pair(kh, kw)),
        "stride": None if (sh, sw) == (kh, kw) and draw(st.booleans()) else (sh, sw),
        "padding": draw(as_int_or_pair(ph, pw)),
        "dilation": draw(as_int_or_pair(dh, dw)),
        "ceil_mode": draw(st.booleans()),
    }
    return (h, w), kwargs


def as_int_or_pair(a, b):
    """The ways a user may write the pair (a, b): a tuple, a list, or an int when a == b."""
    forms = [st.just((a, b)), st.just([a, b])]
    if a == b:
        forms += [st.just(a), st.just((a,)), st.just(np.int64(a))]
    return st.one_of(forms)


@SETTINGS
@given(valid_configs())
def test_pool2d_output_shape_matches_torch(config):
    input_hw, kwargs = config
    got = pool2d_output_shape(input_hw, **kwargs)
    assert got == torch_output_hw(input_hw, **kwargs), (input_hw, kwargs)
    assert all(type(n) is int for n in got)
    # Average pooling has no dilation; its output size follows the same rule.
    if np.all(np.asarray(kwargs["dilation"]) == 1):
        avg_kwargs = {k: v for k, v in kwargs.items() if k != "dilation"}
        assert got == torch_output_hw(input_hw, mode="avg", **avg_kwargs), (input_hw, kwargs)


# ---------------------------------------------------------------------------------------
# Validity: poolkit raises ValueError exactly when torch refuses
# ---------------------------------------------------------------------------------------


@st.composite
def arbitrary_configs(draw):
    """Values in the valid ranges (which still break the padding or fit rules at times), and
    half the time one argument outside them."""
    input_hw = [draw(st.integers(1, 8)), draw(st.integers(1, 8))]
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    kwargs = {
        "kernel_size": (kh, kw) if kh != kw or draw(st.booleans()) else kh,
        "stride": draw(st.one_of(st.none(), st.just(()), int_or_pair(st.integers(1, 4)))),
        "padding": (ph, pw) if ph != pw or draw(st.booleans()) else ph,
        "dilation": draw(int_or_pair(st.integers(1, 3))),
        "ceil_mode": draw(st.booleans()),
    }
    # None (keep every argument in its valid range) about half the time
    broken = draw(
        st.sampled_from(
            [None] * 6 + ["size", "kernel_size", "stride", "padding", "padding rule", "dilation"]
        )
    )
    if broken == "size":
        input_hw[draw(st.integers(0, 1))] = 0
    elif broken == "padding rule":
        kwargs["padding"] = (kh // 2 + 1, pw) if draw(st.booleans()) else (ph, kw // 2 + 1)
    elif broken is not None:
        kwargs[broken] = draw(invalid(-1) if broken == "padding" else invalid(0, -1))
    return tuple(input_hw), kwargs


@SETTINGS
@given(arbitrary_configs())
def test_pool2d_output_shape_raises_exactly_when_torch_does(config):
    input_hw, kwargs = config
    expected = torch_output_hw(input_hw, **kwargs)
    assert poolkit_output_hw(input_hw, **kwargs) == expected, (input_hw, kwargs)
    # The student package's output size (torch on the meta device, after poolkit's
    # validation) agrees with torch on CPU data, refusals included.
    assert meta_output_hw(input_hw, **kwargs) == expected, (input_hw, kwargs)
    event(f"torch max_pool2d {'refuses' if expected is None else 'accepts'}")
    avg_kwargs = {k: v for k, v in kwargs.items() if k != "dilation"}
    avg_expected = torch_output_hw(input_hw, mode="avg", **avg_kwargs)
    assert poolkit_output_hw(input_hw, **avg_kwargs) == avg_expected, (input_hw, avg_kwargs)


def test_padding_rule_ignores_dilation_like_torch():
    """torch checks padding <= kernel_size // 2, not half the dilated kernel."""
    assert torch_output_hw((9, 9), kernel_size=3, stride=1, padding=2, dilation=2) is None
    with pytest.raises(ValueError, match="padding 2 exceeds half the kernel size 3"):
        pool2d_output_shape((9, 9), 3, 1, 2, 2)
    assert pool2d_output_shape((9, 9), 3, 1, 1, 2) == torch_output_hw(
        (9, 9), kernel_size=3, stride=1, padding=1, dilation=2
    )


# ---------------------------------------------------------------------------------------
# The worked example: ceil_mode on a 5×5 input with a 3×3 kernel
# ---------------------------------------------------------------------------------------

X5 = np.array(
    [[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]],
    dtype=np.float64,
)


@pytest.mark.parametrize(("ceil_mode", "expected"), [(True, [[2, 3], [5, 1]]), (False, [[2]])])
def test_five_by_five_example(ceil_mode, expected):
    by_torch = F.max_pool2d(torch.from_numpy(X5)[None, None], 3, ceil_mode=ceil_mode)[0, 0]
    np.testing.assert_array_equal(by_torch.numpy(), expected)
    by_poolkit = reference.max_pool2d(X5[None], 3, ceil_mode=ceil_mode)[0]
    np.testing.assert_array_equal(by_poolkit, by_torch.numpy())
    assert pool2d_output_shape((5, 5), 3, ceil_mode=ceil_mode) == by_torch.shape
    assert pool_output_size(5, 3, ceil_mode=ceil_mode) == by_torch.shape[0]


# ---------------------------------------------------------------------------------------
# Messages name the argument and the rule
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 0}, "kernel_size must be positive, got 0"),
        ({"kernel_size": (2, -1)}, r"kernel_size must be positive, got \(2, -1\)"),
        ({"kernel_size": 2, "stride": 0}, "stride must be positive, got 0"),
        ({"kernel_size": 2, "padding": -1}, "padding must be non-negative, got -1"),
        ({"kernel_size": 2, "dilation": 0}, "dilation must be positive, got 0"),
        (
            {"kernel_size": 5, "padding": 3},
            r"padding 3 exceeds half the kernel size 5 \(at most 2\)",
        ),
        ({"kernel_size": (3, 5), "padding": (1, 3)}, "padding 3 exceeds .* along the width"),
        (
            {"kernel_size": 2, "stride": (1, 2, 3)},
            r"stride must be an int or a pair of ints, got \(1, 2, 3\)",
        ),
        ({"kernel_size": ()}, "kernel_size must be an int or a pair of ints"),
        ({"kernel_size": True}, "kernel_size must be an int or a pair of ints, got True"),
        ({"kernel_size": (2, False)}, "kernel_size must be an int or a pair of ints"),
        ({"kernel_size": 2.0}, "kernel_size must be an int or a pair of ints, got 2.0"),
        ({"kernel_size": 2.5}, "kernel_size must be an int or a pair of ints, got 2.5"),
        ({"kernel_size": 2, "padding": 0.0}, "padding must be an int or a pair of ints"),
        ({"kernel_size": "2"}, "kernel_size must be an int or a pair of ints"),
        ({"kernel_size": np.array([2, 2])}, "kernel_size must be an int or a pair of ints"),
        ({"kernel_size": 2, "ceil_mode": 1}, "ceil_mode must be True or False, got 1"),
        ({"kernel_size": 2, "ceil_mode": None}, "ceil_mode must be True or False"),
        ({"kernel_size": 3, "stride": 1, "dilation": 3}, "output size is -2 for input height 4 "),
    ],
)
def test_pool2d_output_shape_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool2d_output_shape((4, 6), **kwargs)
    # torch refuses the same arguments (with a TypeError for the wrong types).
    assert torch_output_hw((4, 6), **kwargs) is None


def test_window_does_not_fit_message():
    with pytest.raises(ValueError) as info:
        pool2d_output_shape((2, 5), 3, stride=1)
    assert str(info.value) == (
        "output size is 0 for input height 2 with kernel 3, stride 1, padding 0, dilation 1: "
        "the window does not fit"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 2), "size must be positive, got 0"),
        ((True, 2), "size must be an int, got True"),
        ((4.0, 2), "size must be an int, got 4.0"),
        ((4, (2, 2)), r"kernel_size must be an int, got \(2, 2\)"),
        ((4, 2, 2.0), "stride must be an int, got 2.0"),
        ((4, 2, 1, False), "padding must be an int, got False"),
        ((4, 2, 1, 0, 0), "dilation must be positive, got 0"),
        ((4, 4, 1, 3), r"padding 3 exceeds half the kernel size 4 \(at most 2\)"),
        (
            (2, 3),
            "output size is 0 for input size 2 with kernel 3, stride 3, padding 0, dilation 1",
        ),
    ],
)
def test_pool_output_size_messages(args, message):
    with pytest.raises(ValueError, match=message):
        pool_output_size(*args)


@pytest.mark.parametrize(
    ("input_hw", "message"),
    [
        ((4,), r"input_hw must be a pair \(H, W\) of ints, got \(4,\)"),
        (4, r"input_hw must be a pair \(H, W\) of ints, got 4"),
        ((0, 4), r"input_hw\[0\] \(H\) must be positive, got 0"),
        ((4, 4.0), r"input_hw\[1\] \(W\) must be an int, got 4.0"),
    ],
)
def test_input_hw_messages(input_hw, message):
    with pytest.raises(ValueError, match=message):
        pool2d_output_shape(input_hw, 2)


def test_accepted_spellings_match_torch():
    """Forms torch accepts: numpy ints, 1-tuples, lists, and stride None or ()."""
    for kwargs in (
        {"kernel_size": np.int64(2), "stride": (np.int32(1),)},
        {"kernel_size": (2,), "stride": ()},
        {"kernel_size": [2, 3], "stride": [], "padding": [1, 0]},
    ):
        assert pool2d_output_shape((5, 6), **kwargs) == torch_output_hw((5, 6), **kwargs)
    assert pool_output_size(np.int64(7), np.int8(3), None, 1) == 3
