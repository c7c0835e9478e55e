"""poolkey.constructions (and the β slider's model in poolkit.viz.soft) against torch.

Expected values come from torch's own pooling (``F.avg_pool2d``, ``F.max_pool2d``,
``F.unfold``), computed here by a different route than the construction under test, never
from this module's output. Inputs are integer-valued floats so that ties happen.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from poolkey import constructions as pc
from poolkit.constructions import network_size
from poolkit.viz import soft
from strategies import examples
from torch import nn

SETTINGS = examples(25)


@st.composite
def pooling_case(draw, padding=True, max_kernel=4):
    """(x, kernel, stride, padding): a float64 integer-valued (N, C, H, W) tensor and a valid
    pooling configuration (pairs, padding at most half the kernel, kernel fits)."""
    kh = draw(st.integers(1, max_kernel))
    kw = draw(st.integers(1, max_kernel))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph = draw(st.integers(0, kh // 2)) if padding else 0
    pw = draw(st.integers(0, kw // 2)) if padding else 0
    h = draw(st.integers(max(1, kh - 2 * ph), 8))
    w = draw(st.integers(max(1, kw - 2 * pw), 8))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-4, 5, (n, c, h, w), generator=gen).double()
    return x, (kh, kw), (sh, sw), (ph, pw)


def window_sums(x, kernel, stride, padding):
    """Sum of f(window) with torch's avg_pool2d and divisor 1 (zero padding adds nothing)."""
    return F.avg_pool2d(x, kernel, stride, padding, divisor_override=1)


# --- average pooling ------------------------------------------------------------------


@SETTINGS
@given(pooling_case())
def test_avg_pool_as_conv_equals_torch_count_include_pad(case):
    x, k, s, p = case
    expected = F.avg_pool2d(x, k, s, p, count_include_pad=True)
    torch.testing.assert_close(pc.avg_pool_as_conv(x, k, s, p), expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(pooling_case())
def test_avg_pool_exclude_pad_equals_torch_count_include_pad_false(case):
    x, k, s, p = case
    expected = F.avg_pool2d(x, k, s, p, count_include_pad=False)
    got = pc.avg_pool_exclude_pad_as_conv(x, k, s, p)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_avg_pool_as_conv_keeps_channels_apart_and_accepts_3d():
    x = torch.zeros(3, 4, 4, dtype=torch.float64)
    x[1] = 8.0  # only channel 1 is non-zero
    out = pc.avg_pool_as_conv(x, 2)
    assert out.shape == (3, 2, 2)
    torch.testing.assert_close(out, F.avg_pool2d(x[None], 2)[0])
    assert out[0].abs().max() == 0 and out[2].abs().max() == 0


def test_default_stride_is_the_kernel_and_float32_stays_float32():
    x = torch.arange(2 * 3 * 7 * 5, dtype=torch.float32).reshape(2, 3, 7, 5)
    out = pc.avg_pool_as_conv(x, 3)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.avg_pool2d(x, 3))


# --- max pooling from convolutions and ReLUs ----------------------------------------------


@SETTINGS
@given(pooling_case(padding=False))
def test_max_pool_from_conv_relu_equals_torch(case):
    x, k, s, _ = case
    torch.testing.assert_close(
        pc.max_pool_from_conv_relu(x, k, s), F.max_pool2d(x, k, s), rtol=0, atol=0
    )


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, (2, 3)])
def test_max_pool_net_is_frozen_convs_and_relus_of_log_depth(k):
    channels = 3
    net = pc.max_pool_net(channels, k)
    kinds = {type(m) for m in net.modules()}
    assert kinds <= {nn.Sequential, nn.Conv2d, nn.ReLU}
    assert all(not p.requires_grad for p in net.parameters())
    n = k * k if isinstance(k, int) else k[0] * k[1]
    depth = math.ceil(math.log2(n)) if n > 1 else 0
    size = network_size(net)
    assert size.relu_layers == depth
    assert size.conv_layers == depth + 1
    assert size.widths[-1] == channels
    assert size.weights == sum(p.numel() for p in net.parameters())
    x = torch.randint(-3, 4, (2, channels, 9, 10)).double()
    torch.testing.assert_close(net.double()(x), F.max_pool2d(x, k), rtol=0, atol=0)


def test_pairwise_tree_widths_for_two_by_two():
    # Two pairs: each gives relu(a), relu(-a), relu(b - a); then one pair of maxima.
    assert network_size(pc.max_pool_net(1, 2)).widths == (2 * 3, 3, 1)


# --- min pooling ------------------------------------------------------------------------


@SETTINGS
@given(pooling_case(), st.integers(1, 2))
def test_min_pool_equals_the_minimum_of_each_window(case, dilation):
    x, k, s, p = case
    span_h, span_w = dilation * (k[0] - 1) + 1, dilation * (k[1] - 1) + 1
    if x.shape[2] + 2 * p[0] < span_h or x.shape[3] + 2 * p[1] < span_w:
        return
    padded = F.pad(x, (p[1], p[1], p[0], p[0]), value=math.inf)
    cols = F.unfold(padded, k, dilation=dilation, stride=s)
    n, c = x.shape[:2]
    out_h = (padded.shape[2] - span_h) // s[0] + 1
    out_w = (padded.shape[3] - span_w) // s[1] + 1
    expected = cols.reshape(n, c, k[0] * k[1], out_h, out_w).amin(dim=2)
    torch.testing.assert_close(pc.min_pool2d(x, k, s, p, dilation), expected, rtol=0, atol=0)


def test_min_pool_ceil_mode_has_torch_shape_and_lies_below_max():
    x = torch.randint(-4, 5, (1, 2, 7, 6)).double()
    got = pc.min_pool2d(x, 3, 2, 1, ceil_mode=True)
    top = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert got.shape == top.shape
    assert bool((got <= top).all())


# --- soft pooling ---------------------------------------------------------------------


@SETTINGS
@given(pooling_case(), st.sampled_from([0.25, 0.5, 1.0, 3.0]))
def test_lse_pool_equals_log_of_window_sums_of_exp(case, beta):
    x, k, s, p = case
    expected = torch.log(window_sums(torch.exp(beta * x), k, s, p)) / beta
    got = pc.lse_pool2d(x, beta, k, s, p)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(pooling_case(), st.sampled_from([1000.0, -1000.0, 1e6]))
def test_lse_pool_is_stable_for_huge_magnitudes(case, shift):
    x, k, s, p = case
    # log-sum-exp is shift-equivariant: lse(x + c) = lse(x) + c, and lse(x) is safe to compute.
    expected = torch.log(window_sums(torch.exp(x), k, s, p)) + shift
    got = pc.lse_pool2d(x + shift, 1.0, k, s, p)
    assert bool(torch.isfinite(got).all())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-9)


@SETTINGS
@given(pooling_case())
def test_lse_lies_between_max_and_max_plus_log_n_over_beta(case):
    x, k, s, p = case
    beta = 2.0
    top = F.max_pool2d(x, k, s, p)
    count = window_sums(torch.ones_like(x), k, s, p)  # real inputs in each window
    got = pc.lse_pool2d(x, beta, k, s, p)
    assert bool((got >= top - 1e-12).all())
    assert bool((got <= top + torch.log(count) / beta + 1e-12).all())


@SETTINGS
@given(pooling_case(), st.sampled_from([0.25, 1.0, 3.0]))
def test_softmax_pool_equals_exp_weighted_mean(case, beta):
    x, k, s, p = case
    weights = torch.exp(beta * x)
    expected = window_sums(weights * x, k, s, p) / window_sums(weights, k, s, p)
    got = pc.softmax_pool2d(x, beta, k, s, p)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(pooling_case())
def test_soft_poolings_tend_to_max_and_to_mean(case):
    x, k, s, p = case
    top = F.max_pool2d(x, k, s, p)
    mean = F.avg_pool2d(x, k, s, p, count_include_pad=False)
    # Integer inputs: the runner-up is at least 1 below the max, so at β = 200 its weight
    # is below n·e^-200.
    torch.testing.assert_close(pc.softmax_pool2d(x, 200.0, k, s, p), top, rtol=0, atol=1e-12)
    torch.testing.assert_close(pc.lse_pool2d(x, 200.0, k, s, p), top, rtol=0, atol=0.04)
    torch.testing.assert_close(pc.softmax_pool2d(x, 1e-7, k, s, p), mean, rtol=0, atol=1e-5)


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda x: pc.avg_pool_as_conv(x, 0), "kernel_size"),
        (lambda x: pc.avg_pool_as_conv(x, 2.0), "kernel_size"),
        (lambda x: pc.avg_pool_as_conv(x, 3, padding=2), "padding 2"),
        (lambda x: pc.avg_pool_as_conv(x, 2, stride=0), "stride"),
        (lambda x: pc.avg_pool_as_conv(x, 9), "does not fit"),
        (lambda x: pc.avg_pool_as_conv(x[0, 0], 2), "(N, C, H, W)"),
        (lambda x: pc.avg_pool_as_conv(x.long(), 2), "floating-point"),
        (lambda x: pc.avg_pool_as_conv(x.numpy(), 2), "torch.Tensor"),
        (lambda x: pc.lse_pool2d(x, 0.0, 2), "beta"),
        (lambda x: pc.softmax_pool2d(x, math.inf, 2), "beta"),
        (lambda x: pc.min_pool2d(x, 2, dilation=0), "dilation"),
        (lambda x: pc.max_pool_net(0, 2), "channels"),
        (lambda x: pc.max_pool_net(2, 2, dtype=torch.int64), "dtype"),
        (lambda x: network_size("net"), "nn.Module"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, words):
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(x)


# --- the β slider's model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo():
    return soft.grace_hopper_gray(block=8)


def test_grace_hopper_gray_is_a_small_grey_image(photo):
    assert photo.ndim == 2 and photo.shape == (600 // 8, 512 // 8)
    assert 0.0 <= photo.min() and photo.max() <= 1.0


@pytest.mark.parametrize("kind", soft.KINDS)
def test_soft_view_moves_from_average_to_max(photo, kind):
    k = 4
    x = torch.from_numpy(photo)[None, None]
    average = F.avg_pool2d(x, k)[0, 0].numpy()
    top = F.max_pool2d(x, k)[0, 0].numpy()
    high = soft.soft_pool_view(photo, 1e4, k, kind)
    assert high.ok
    np.testing.assert_allclose(high.maximum, top)
    np.testing.assert_allclose(high.average, average)
    assert high.distance_to_maximum < 1e-3
    low = soft.soft_pool_view(photo, 1e-4, k, kind)
    if kind == "lse":  # mean + log(n)/β: far from both
        assert low.distance_to_average == pytest.approx(math.log(k * k) / 1e-4, rel=1e-6)
    else:
        assert low.distance_to_average < 1e-4


@pytest.mark.parametrize(
    ("beta", "kernel_size", "kind", "words"),
    [(-1.0, 4, "softmax", "β"), (1.0, 500, "lse", "kernel"), (1.0, 4, "median", "kind")],
)
def test_a_bad_setting_gives_a_message_not_an_exception(photo, beta, kernel_size, kind, words):
    view = soft.soft_pool_view(photo, beta, kernel_size, kind)
    assert not view.ok and words in view.message


def test_distance_curves_have_one_row_per_beta(photo):
    betas = [0.1, 1.0, 10.0]
    curves = soft.distance_curves(photo, betas, 2, kinds=("softmax",))
    assert curves["softmax"].shape == (3, 2)
    assert np.all(np.diff(curves["softmax"][:, 1]) < 0)  # closer to max as β grows
