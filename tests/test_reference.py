"""poolkey.reference against torch: forward, indices, backward, gradient counts, validation.

Expected values always come from torch (``torch.nn.functional`` forward, autograd for
gradients), never from poolkit. Inputs are small integers, so that ties really happen, plus
NaN and ±inf; everything is float64 and compared with ``atol=1e-12``.
"""

import subprocess
import sys
import types
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, event, given
from hypothesis import strategies as st
from poolkey import reference
from poolkey.reference import (
    avg_pool2d,
    avg_pool2d_backward,
    gradient_counts,
    max_pool2d,
    max_pool2d_backward,
)
from strategies import examples, int_or_pair, invalid

SETTINGS = examples(500, derandomize=True, database=None)
ATOL = 1e-12
NAN, INF = float("nan"), float("inf")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch on one thread: for tiny tensors its thread pool only adds overhead, which is
    large on a busy 2-core machine (milliseconds per call instead of microseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# Random pooling problems
# ---------------------------------------------------------------------------------------


class Case(NamedTuple):
    x: np.ndarray  # (N, C, H, W) or (C, H, W), float64
    kwargs: dict  # kernel_size, stride, padding, ceil_mode (+ dilation for max)
    rng: np.random.Generator  # for upstream gradients


def covers_only_padding(size, kernel, stride, pad, dilation, out):
    """True if some window along this axis has no tap inside the input.

    torch accepts such a max pooling but returns an index outside the input, and its
    backward then writes out of bounds (memory corruption), so poolkit refuses it and the
    tests must never run torch's backward on it.
    """
    return any(
        not any(0 <= o * stride - pad + j * dilation < size for j in range(kernel))
        for o in range(out)
    )


def values(rng, shape, kind):
    """Integers in -3..3 (ties are common), optionally with NaNs or infinities."""
    x = rng.integers(-3, 4, size=shape).astype(np.float64)
    if kind == "nan":
        x[rng.random(shape) < 0.25] = NAN
    elif kind == "many nan":
        x[rng.random(shape) < 0.7] = NAN
    elif kind == "inf":
        x[rng.random(shape) < 0.2] = INF
        x[rng.random(shape) < 0.4] = -INF
    elif kind == "all -inf":
        x[rng.random(shape) < 0.9] = -INF
    return x


@st.composite
def cases(draw, mode):
    """A valid pooling problem for mode "max" or "avg": non-square, batched or not."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if mode == "max" else (1, 1)
    ceil_mode = draw(st.booleans())
    # At least the smallest input the (dilated) window fits in.
    h = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 6))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 6))
    c = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), c, h, w) if draw(st.booleans()) else (c, h, w)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["ints", "ints", "nan", "many nan", "inf", "all -inf"]))
    kwargs = {
        "kernel_size": kh if kh == kw and draw(st.booleans()) else (kh, kw),
        "stride": None if (sh, sw) == (kh, kw) and draw(st.booleans()) else (sh, sw),
        "padding": (ph, pw),
        "ceil_mode": ceil_mode,
    }
    if mode == "max":
        kwargs["dilation"] = (dh, dw)
        out_hw = F.max_pool2d(torch.zeros(1, h, w), **kwargs).shape[-2:]  # torch decides
        assume(not covers_only_padding(h, kh, sh, ph, dh, out_hw[0]))
        assume(not covers_only_padding(w, kw, sw, pw, dw, out_hw[1]))
    return Case(values(rng, shape, kind), kwargs, rng)


def avg_options(draw):
    return {
        "count_include_pad": draw(st.booleans()),
        "divisor_override": draw(st.sampled_from([None, None, None, 1, 2, 3, -2, 7])),
    }


def assert_same(got, expected, what):
    """Same shape and dtype; values within ATOL, NaN where torch has NaN."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, torch {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, torch {expected.dtype}"
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL, equal_nan=True, err_msg=what)


def torch_grad(pool, x, upstream, **kwargs):
    """d(sum(pool(x) * upstream))/dx by torch's autograd."""
    xt = torch.tensor(x, requires_grad=True)
    out = pool(xt, **kwargs)
    out.backward(torch.as_tensor(upstream, dtype=out.dtype).expand_as(out))
    return xt.grad.numpy()


# ---------------------------------------------------------------------------------------
# Properties: every function against torch
# ---------------------------------------------------------------------------------------


@SETTINGS
@given(cases("max"))
def test_max_pool2d_matches_torch(case):
    x, kwargs, _ = case
    expected, expected_indices = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kwargs)
    got, indices = max_pool2d(x, return_indices=True, **kwargs)
    assert_same(got, expected, f"max_pool2d {x.shape} {kwargs}")
    assert_same(indices, expected_indices, f"max_pool2d indices {x.shape} {kwargs}")
    assert_same(max_pool2d(x, **kwargs), expected, f"max_pool2d {x.shape} {kwargs}")


@SETTINGS
@given(cases("max"))
def test_max_pool2d_backward_matches_torch_autograd(case):
    x, kwargs, rng = case
    upstream = rng.standard_normal(F.max_pool2d(torch.from_numpy(x), **kwargs).shape)
    expected = torch_grad(F.max_pool2d, x, upstream, **kwargs)
    assert_same(max_pool2d_backward(upstream, x, **kwargs), expected, f"{x.shape} {kwargs}")


@SETTINGS
@given(cases("avg"), st.data())
def test_avg_pool2d_matches_torch(case, data):
    x, kwargs, _ = case
    kwargs = {**kwargs, **avg_options(data.draw)}
    expected = F.avg_pool2d(torch.from_numpy(x), **kwargs)
    assert_same(avg_pool2d(x, **kwargs), expected, f"avg_pool2d {x.shape} {kwargs}")


@SETTINGS
@given(cases("avg"), st.data())
def test_avg_pool2d_backward_matches_torch_autograd(case, data):
    x, kwargs, rng = case
    kwargs = {**kwargs, **avg_options(data.draw)}
    upstream = rng.standard_normal(F.avg_pool2d(torch.from_numpy(x), **kwargs).shape)
    expected = torch_grad(F.avg_pool2d, x, upstream, **kwargs)
    got = avg_pool2d_backward(upstream, x.shape, **kwargs)
    assert_same(got, expected, f"avg_pool2d_backward {x.shape} {kwargs}")


@SETTINGS
@given(cases("max"))
def test_gradient_counts_max_is_torch_gradient_of_the_sum(case):
    x, kwargs, _ = case
    expected = torch_grad(F.max_pool2d, x, 1.0, **kwargs)
    got = gradient_counts(x, mode="max", **kwargs)
    assert_same(got, expected.astype(np.int64), f"gradient_counts max {x.shape} {kwargs}")


@SETTINGS
@given(cases("avg"))
def test_gradient_counts_avg_is_torch_gradient_of_sum_pooling(case):
    x, kwargs, _ = case
    # Sum pooling (divisor 1): the gradient of the sum of outputs counts covering windows.
    expected = torch_grad(F.avg_pool2d, x, 1.0, divisor_override=1, **kwargs)
    got = gradient_counts(x, mode="avg", **kwargs)
    assert_same(got, expected.astype(np.int64), f"gradient_counts avg {x.shape} {kwargs}")


# ---------------------------------------------------------------------------------------
# Validation: poolkit raises ValueError exactly when torch refuses
# ---------------------------------------------------------------------------------------


@st.composite
def arbitrary_problems(draw):
    """Shapes and hyper-parameters in the valid ranges (which still break the padding or fit
    rules at times), and half the time one argument outside them."""
    shape = [draw(st.integers(1, 6)) for _ in range(draw(st.sampled_from([3, 4])))]
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    kwargs = {
        "kernel_size": (kh, kw) if kh != kw or draw(st.booleans()) else kh,
        "stride": draw(st.one_of(st.none(), st.just(()), int_or_pair(st.integers(1, 4)))),
        "padding": (ph, pw) if ph != pw or draw(st.booleans()) else ph,
        "ceil_mode": draw(st.booleans()),
    }
    dilation = draw(int_or_pair(st.integers(1, 3)))
    options = {
        "count_include_pad": draw(st.booleans()),
        "divisor_override": draw(st.sampled_from([None, None, 1, 2, -3])),
    }
    # None (keep every argument in its valid range) about half the time
    broken = draw(
        st.sampled_from(
            [None] * 8
            + [
                "ndim",
                "size",
                "kernel_size",
                "stride",
                "padding",
                "padding rule",
                "dilation",
                "divisor",
            ]
        )
    )
    if broken == "ndim":
        shape = shape[:2] if draw(st.booleans()) else [1, *shape, 1][-5:]
    elif broken == "size":  # a zero N is allowed in 4-D, a zero C, H or W is not
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    elif broken == "dilation":
        dilation = draw(invalid(0, -1))
    elif broken == "divisor":
        options["divisor_override"] = 0
    elif broken == "padding rule":
        kwargs["padding"] = (kh // 2 + 1, pw) if draw(st.booleans()) else (ph, kw // 2 + 1)
    elif broken is not None:
        kwargs[broken] = draw(invalid(-1) if broken == "padding" else invalid(0, -1))
    return tuple(shape), kwargs, dilation, options


def torch_refuses(pool, x, **kwargs):
    """The output of torch's pooling, or None if torch refuses the call."""
    try:
        return pool(x, **kwargs)
    except (RuntimeError, ValueError, IndexError):  # IndexError: avg_pool2d on a 2-D tensor
        return None


def poolkit_refuses(func, *args, **kwargs):
    """The message of the ValueError that func raises, or None if it returns."""
    try:
        func(*args, **kwargs)
    except ValueError as err:
        return str(err)
    return None


@SETTINGS
@given(arbitrary_problems())
def test_every_function_raises_exactly_when_torch_does(problem):
    shape, kwargs, dilation, options = problem
    x = np.zeros(shape)  # zeros: a -inf in torch's max output means an empty window
    xt = torch.from_numpy(x)

    expected = torch_refuses(F.max_pool2d, xt, dilation=dilation, **kwargs)
    event(f"torch max_pool2d {'refuses' if expected is None else 'accepts'}")
    for func, args in ((max_pool2d, (x,)), (gradient_counts, (x,))):
        message = poolkit_refuses(func, *args, dilation=dilation, **kwargs)
        if expected is None:
            assert message is not None, f"torch refuses, {func.__name__} accepts {shape} {kwargs}"
        elif message is not None:
            # The one documented exception: torch returns -inf with a bogus index.
            assert "covers only padding" in message, message
            assert torch.isinf(expected).any() or expected.numel() == 0, (shape, kwargs)

    expected = torch_refuses(F.avg_pool2d, xt, **kwargs, **options)
    event(f"torch avg_pool2d {'refuses' if expected is None else 'accepts'}")
    message = poolkit_refuses(avg_pool2d, x, **kwargs, **options)
    assert (message is None) == (expected is not None), (shape, kwargs, options, message)
    message = poolkit_refuses(gradient_counts, x, mode="avg", **kwargs)
    no_override = torch_refuses(F.avg_pool2d, xt, **kwargs)
    assert (message is None) == (no_override is not None), (shape, kwargs, message)
    if expected is not None:  # backward accepts the same configurations
        got = avg_pool2d_backward(np.zeros(expected.shape), shape, **kwargs, **options)
        assert got.shape == shape


# ---------------------------------------------------------------------------------------
# torch's behaviour on ties, NaN and -inf, pinned down on small examples
# ---------------------------------------------------------------------------------------


def torch_max(x, kernel_size, **kwargs):
    out, idx = F.max_pool2d(torch.tensor(x)[None], kernel_size, return_indices=True, **kwargs)
    return out[0].numpy(), idx[0].numpy()


@pytest.mark.parametrize(
    ("plane", "kernel_size", "kwargs", "index"),
    [
        ([[1.0, 1.0], [1.0, 1.0]], 2, {}, 0),  # a tie: the first in row-major order
        ([[0.0, 2.0], [2.0, 2.0]], 2, {}, 1),
        ([[1.0, NAN], [3.0, 2.0]], 2, {}, 1),  # NaN beats every number
        ([[NAN, 1.0], [3.0, NAN]], 2, {}, 3),  # of several NaNs, the *last* wins
        ([[NAN, NAN], [NAN, NAN]], 2, {}, 3),
        ([[-INF, -INF], [-INF, -INF]], 2, {"padding": 1, "stride": 2}, 0),  # never the padding
        ([[5.0, -INF], [-INF, -INF]], 2, {"padding": 1, "stride": 1, "dilation": 2}, 3),
    ],
)
def test_torch_rules_for_ties_nan_and_inf(plane, kernel_size, kwargs, index):
    x = np.array([plane])
    expected, expected_idx = torch_max(x, kernel_size, **kwargs)
    assert expected_idx.flat[0] == index  # what torch does, checked before comparing with it
    got, got_idx = max_pool2d(x, kernel_size, return_indices=True, **kwargs)
    assert_same(got, expected, str(plane))
    assert_same(got_idx, expected_idx, str(plane))
    counts = gradient_counts(x, kernel_size, mode="max", **kwargs)
    assert_same(
        counts,
        torch_grad(F.max_pool2d, x, 1.0, kernel_size=kernel_size, **kwargs).astype(np.int64),
        "counts",
    )


def test_empty_window_is_refused():
    """Kernel 2, padding 1, dilation 3 on height 2: the first window's taps are rows -1 and 2."""
    x = np.arange(4.0).reshape(1, 2, 2)
    out, idx = F.max_pool2d(torch.from_numpy(x), 2, 1, 1, 3, return_indices=True)
    assert out.item() == -INF and idx.item() >= x.size  # torch: an index outside the input
    for func in (max_pool2d, gradient_counts):
        with pytest.raises(ValueError, match="window 0 along the height covers only padding"):
            func(x, 2, 1, 1, dilation=3)
    with pytest.raises(ValueError, match="covers only padding"):
        max_pool2d_backward(np.ones((1, 1, 1)), x, 2, 1, 1, 3)


# ---------------------------------------------------------------------------------------
# Textbook facts, dtypes, layouts
# ---------------------------------------------------------------------------------------

X4 = np.array([[1, 3, 1, 4], [5, 2, 4, 6], [9, 6, 1, 2], [3, 4, 5, 6]], dtype=np.float64)


@pytest.mark.parametrize(
    ("mode", "stride", "stated"),
    [
        ("max", 2, [[0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1]]),
        ("max", 1, [[0, 0, 0, 0], [1, 0, 1, 2], [2, 2, 0, 0], [0, 0, 0, 1]]),
        ("avg", 1, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]),
    ],
)
def test_textbook_gradient_counts(mode, stride, stated):
    if mode == "max":
        by_torch = torch_grad(F.max_pool2d, X4[None], 1.0, kernel_size=2, stride=stride)
    else:
        by_torch = torch_grad(
            F.avg_pool2d, X4[None], 1.0, kernel_size=2, stride=stride, divisor_override=1
        )
    np.testing.assert_array_equal(by_torch[0], stated)  # the stated numbers are torch's
    assert_same(gradient_counts(X4[None], 2, stride, mode=mode), by_torch.astype(np.int64), mode)
    assert_same(
        gradient_counts(X4[None, None], 2, stride, mode=mode)[0], by_torch.astype(np.int64), mode
    )


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_max_pool2d_keeps_integer_dtypes_like_torch(dtype):
    info = np.iinfo(dtype)
    low, high = max(info.min, -5), min(info.max, 5)  # a small range, so that ties happen
    x = np.random.default_rng(0).integers(low, high, size=(2, 3, 7, 6), endpoint=True)
    x = x.astype(dtype)
    x[0, 0] = info.min  # the padding value itself: torch then picks the first input element
    kwargs = {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True}
    expected, expected_idx = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kwargs)
    got, got_idx = max_pool2d(x, return_indices=True, **kwargs)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected.numpy())
    np.testing.assert_array_equal(got_idx, expected_idx.numpy())
    grad = np.ones(got.shape, dtype=np.float32)
    xf = torch.tensor(x.astype(np.float64), requires_grad=True)
    F.max_pool2d(xf, **kwargs).backward(torch.ones(got.shape, dtype=torch.float64))
    assert_same(max_pool2d_backward(grad, x, **kwargs), xf.grad.numpy().astype(np.float32), "")


def test_avg_pool2d_of_integers_is_the_float64_mean():
    """torch truncates int64 averages (and refuses other integer types); poolkit does not."""
    x = np.array([[[1, 2], [3, 5]]])
    assert F.avg_pool2d(torch.from_numpy(x), 2).item() == 2  # torch: 11 / 4 truncated
    expected = F.avg_pool2d(torch.from_numpy(x.astype(np.float64)), 2)
    assert_same(avg_pool2d(x, 2), expected, "avg_pool2d of int64")
    assert_same(avg_pool2d(x.astype(np.uint8), 2), expected, "avg_pool2d of uint8")


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_lower_precision_floats_keep_their_dtype(dtype):
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8)).astype(dtype)
    xt = torch.from_numpy(x)
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    got, idx = max_pool2d(x, return_indices=True, dilation=1, **kwargs)
    expected, expected_idx = F.max_pool2d(xt, return_indices=True, **kwargs)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected.numpy())
    np.testing.assert_array_equal(idx, expected_idx.numpy())
    got = avg_pool2d(x, count_include_pad=False, **kwargs)
    assert got.dtype == dtype
    np.testing.assert_allclose(
        got,
        F.avg_pool2d(xt, count_include_pad=False, **kwargs).numpy(),
        rtol=2e-3 if dtype == np.float16 else 1e-6,
        atol=1e-3 if dtype == np.float16 else 1e-6,
    )
    upstream = np.ones(got.shape, dtype=dtype)
    assert avg_pool2d_backward(upstream, x.shape, **kwargs).dtype == dtype
    assert max_pool2d_backward(upstream, x, **kwargs).dtype == dtype


def test_layouts_and_array_likes():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, size=(3, 2, 7, 5)).astype(np.float64).transpose(1, 0, 2, 3)
    assert not x.flags.c_contiguous
    expected = F.max_pool2d(torch.from_numpy(x.copy()), 2, 1, return_indices=True)
    got = max_pool2d(x, 2, 1, return_indices=True)
    assert_same(got[0], expected[0], "non-contiguous")
    assert_same(got[1], expected[1], "non-contiguous")
    assert_same(
        avg_pool2d(x[0].tolist(), 3, 2, 1),
        F.avg_pool2d(torch.from_numpy(x[0].copy()), 3, 2, 1),
        "list",
    )
    empty = np.zeros((0, 2, 5, 5))  # torch allows an empty batch
    for func, pool in ((max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)):
        assert_same(func(empty, 2), pool(torch.from_numpy(empty), 2), func.__name__)
    assert gradient_counts(empty, 2).shape == empty.shape
    assert max_pool2d_backward(np.zeros((0, 2, 2, 2)), empty, 2).shape == empty.shape
    assert avg_pool2d_backward(np.zeros((0, 2, 2, 2)), empty.shape, 2).shape == empty.shape


# ---------------------------------------------------------------------------------------
# Messages, and what the course's other code relies on
# ---------------------------------------------------------------------------------------

X = np.zeros((1, 4, 4))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: max_pool2d(np.zeros((4, 4)), 2),
            r"x must have 3 \(C, H, W\) or 4 \(N, C, H, W\) dimensions, got shape \(4, 4\)",
        ),
        (
            lambda: avg_pool2d(np.zeros((1, 0, 4)), 2),
            r"x must have positive C, H and W \(N may be 0\)",
        ),
        (lambda: max_pool2d(X, 0), "kernel_size must be positive, got 0"),
        (
            lambda: max_pool2d(X, 3, padding=2),
            r"padding 2 exceeds half the kernel size 3 \(at most 1\)",
        ),
        (lambda: max_pool2d(X, 5), "output size is 0 for input height 4 with kernel 5"),
        (
            lambda: max_pool2d(X, 2, stride=(1, 2, 3)),
            r"stride must be an int or a pair of ints, got \(1, 2, 3\)",
        ),
        (lambda: max_pool2d(X, True), "kernel_size must be an int or a pair of ints, got True"),
        (
            lambda: avg_pool2d(X, 2, padding=1.5),
            "padding must be an int or a pair of ints, got 1.5",
        ),
        (lambda: avg_pool2d(X, 2, count_include_pad=1), "count_include_pad must be True or False"),
        (lambda: avg_pool2d(X, 2, divisor_override=0), "divisor_override must be a non-zero int"),
        (
            lambda: avg_pool2d(X, 2, divisor_override=2.0),
            "divisor_override must be an int, got 2.0",
        ),
        (lambda: avg_pool2d(X, 2, ceil_mode="yes"), "ceil_mode must be True or False"),
        (lambda: max_pool2d(X.astype(bool), 2), "x must hold real numbers .* got dtype bool"),
        (
            lambda: max_pool2d(X.astype(complex), 2),
            "x must hold real numbers .* got dtype complex128",
        ),
        (lambda: max_pool2d([[[1, 2], [3]]], 1), "x must be an array of numbers"),
        (lambda: gradient_counts(X, 2, mode="min"), 'mode must be "max" or "avg", got \'min\''),
        (
            lambda: gradient_counts(X, 2, mode="avg", dilation=2),
            'dilation must be 1 for mode="avg"',
        ),
        (
            lambda: max_pool2d_backward(np.ones((1, 3, 3)), X, 2),
            r"grad_output has shape \(1, 3, 3\); expected \(1, 2, 2\)",
        ),
        (
            lambda: avg_pool2d_backward(np.ones((2, 2)), (1, 4, 4), 2),
            r"grad_output has shape \(2, 2\); expected \(1, 2, 2\)",
        ),
        (
            lambda: avg_pool2d_backward(np.ones((1, 2, 2)), 16, 2),
            "input_shape must be a tuple of ints",
        ),
        (
            lambda: avg_pool2d_backward(np.ones((1, 2, 2)), (1, 4.0, 4), 2),
            r"input_shape must be a tuple of ints, got \(1, 4.0, 4\)",
        ),
        (
            lambda: avg_pool2d_backward(np.ones((1, 2, 2)), (4, 4), 2),
            r"input_shape must have 3 \(C, H, W\)",
        ),
        (
            lambda: avg_pool2d_backward(np.ones((1, 2, 2)), (1, 4, 4), 2, divisor_override=0),
            "divisor_override",
        ),
        (
            lambda: avg_pool2d_backward(np.array([["a"]]), (1, 2, 2), 2),
            "grad_output must hold real numbers",
        ),
    ],
)
def test_messages_name_the_argument_and_the_rule(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_public_functions_can_be_switched_off_by_checks():
    """poolkit.rules.guard swaps the __code__ of every function in __all__."""
    for name in reference.__all__:
        func = getattr(reference, name)
        assert isinstance(func, types.FunctionType) and not func.__code__.co_freevars, name


def test_poolkit_does_not_import_torch():
    code = "import sys, poolkey.shapes, poolkey.reference; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
