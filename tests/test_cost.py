"""poolkey.cost: closed forms against the counting loops, and every output against torch.

Counts have an independent witness in torch: sum-pooling an all-ones input
(``avg_pool2d(..., divisor_override=1)``) gives the number of elements each window reads.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from poolkey import cost
from strategies import examples

FAST = examples(100)


@st.composite
def layers(draw, max_size=10):
    """A valid torch layer and input: (channels, (h, w), k, s, p, ceil_mode, include_pad)."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = draw(st.one_of(st.none(), st.tuples(st.integers(1, 6), st.integers(1, 6))))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    hw = (draw(st.integers(k[0], max_size)), draw(st.integers(k[1], max_size)))
    return draw(st.integers(1, 3)), hw, k, s, p, draw(st.booleans()), draw(st.booleans())


def torch_pool(x, mode, k, s, p, ceil_mode, include_pad):
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    if mode == "max":
        return F.max_pool2d(xt, k, s, p, ceil_mode=ceil_mode).numpy()
    return F.avg_pool2d(xt, k, s, p, ceil_mode, count_include_pad=include_pad).numpy()


def torch_reads(hw, k, s, p, ceil_mode, include_pad):
    """Elements each window reads, counted by torch on an all-ones input."""
    ones = torch.ones(1, 1, *hw, dtype=torch.float64)
    inside = F.avg_pool2d(ones, k, s, p, ceil_mode, divisor_override=1)
    if not include_pad:
        return inside[0, 0].numpy()
    padded = F.pad(ones, (p[1], p[1], p[0], p[0]), value=1.0)
    every = F.avg_pool2d(padded, k, s, 0, ceil_mode, divisor_override=1)
    return every[0, 0, : inside.shape[2], : inside.shape[3]].numpy()


def integer_input(c, hw, seed):
    return np.random.default_rng(seed).integers(-3, 4, size=(c, *hw)).astype(np.float64)


# --- the direct algorithm -----------------------------------------------------------------


@FAST
@given(layers(), st.sampled_from(["max", "avg"]), st.integers(0, 2**32 - 1))
def test_counting_loop_matches_torch_and_the_closed_form(layer, mode, seed):
    c, hw, k, s, p, ceil_mode, include_pad = layer
    x = integer_input(c, hw, seed)
    out, counts = cost.counted_pool2d(x, k, s, p, mode, ceil_mode, include_pad)
    np.testing.assert_allclose(out, torch_pool(x, mode, k, s, p, ceil_mode, include_pad))
    reads = torch_reads(hw, k, s, p, ceil_mode, include_pad and mode == "avg")
    work = c * int((reads - 1).sum())
    expected = {
        "outputs": c * reads.size,
        "comparisons": work if mode == "max" else 0,
        "additions": work if mode == "avg" else 0,
        "divisions": c * reads.size if mode == "avg" else 0,
    }
    assert counts == expected
    assert cost.pool2d_cost(c, *hw, k, s, p, mode, ceil_mode, include_pad) == expected


@examples(60)
@given(layers(max_size=400), st.sampled_from(["max", "avg"]))
def test_closed_form_on_large_inputs_matches_torch_window_sizes(layer, mode):
    c, hw, k, s, p, ceil_mode, include_pad = layer
    reads = torch_reads(hw, k, s, p, ceil_mode, include_pad and mode == "avg")
    got = cost.pool2d_cost(c, *hw, k, s, p, mode, ceil_mode, include_pad)
    assert got["outputs"] == c * reads.size
    assert got["comparisons"] + got["additions"] == c * int((reads - 1).sum())
    assert all(isinstance(v, int) for v in got.values())


def test_counting_loop_takes_a_batch_and_nan_wins_like_torch():
    x = integer_input(6, (5, 5), 0).reshape(2, 3, 5, 5)
    x[0, 1, 2, 2] = np.nan
    out, counts = cost.counted_pool2d(x, 3, 1, 1, "max")
    expected = F.max_pool2d(torch.from_numpy(x), 3, 1, 1).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out[~np.isnan(out)], expected[~np.isnan(expected)])
    assert counts == cost.pool2d_cost(6, 5, 5, 3, 1, 1, "max")


# --- separable max pooling ---------------------------------------------------------------


@FAST
@given(layers(), st.integers(0, 2**32 - 1))
def test_separable_max_pooling_matches_torch_and_its_closed_form(layer, seed):
    c, hw, k, s, p, ceil_mode, _ = layer
    x = integer_input(c, hw, seed)
    expected = torch_pool(x, "max", k, s, p, ceil_mode, True)
    np.testing.assert_array_equal(cost.separable_max_pool2d(x, k, s, p, ceil_mode), expected)
    out, counts = cost.counted_separable_max_pool2d(x, k, s, p, ceil_mode)
    np.testing.assert_array_equal(out, expected)
    assert counts == cost.separable_max_cost(c, *hw, k, s, p, ceil_mode)


@FAST
@given(layers(max_size=60))
def test_separable_never_costs_more_and_saves_nothing_without_vertical_overlap(layer):
    c, hw, k, s, p, ceil_mode, _ = layer
    direct = cost.pool2d_cost(c, *hw, k, s, p, "max", ceil_mode)
    separable = cost.separable_max_cost(c, *hw, k, s, p, ceil_mode)
    assert separable["comparisons"] <= direct["comparisons"]
    stride_h = k[0] if s is None else s[0]
    if stride_h >= k[0]:
        assert separable == direct


def test_separable_saves_about_half_the_window_with_stride_one():
    # Interior windows: (kw - 1) + (kh - 1) comparisons instead of kh * kw - 1.
    for k in (3, 5, 7):
        n = 200
        got = cost.separable_max_cost(1, n, n, k, 1)
        row_pass = n * (n - k + 1) * (k - 1)
        column_pass = (n - k + 1) ** 2 * (k - 1)
        assert got["comparisons"] == row_pass + column_pass


# --- summed-area table ---------------------------------------------------------------------


@FAST
@given(layers(), st.integers(0, 2**32 - 1), st.booleans())
def test_summed_area_table_matches_torch_and_its_closed_form(layer, seed, floats):
    c, hw, k, s, p, ceil_mode, include_pad = layer
    x = integer_input(c, hw, seed)
    if floats:
        x = np.random.default_rng(seed).standard_normal((c, *hw))
    expected = torch_pool(x, "avg", k, s, p, ceil_mode, include_pad)
    np.testing.assert_allclose(
        cost.sat_avg_pool2d(x, k, s, p, ceil_mode, include_pad), expected, rtol=1e-10, atol=1e-12
    )
    out, counts = cost.counted_sat_avg_pool2d(x, k, s, p, ceil_mode, include_pad)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert counts == cost.sat_avg_cost(c, *hw, k, s, p, ceil_mode, include_pad)


def test_vectorised_versions_keep_the_float_dtype_and_batch_shape():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 7)).astype(np.float32)
    xt = torch.from_numpy(x)
    got = cost.separable_max_pool2d(x, 3, 2, 1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, F.max_pool2d(xt, 3, 2, 1).numpy())
    got = cost.sat_avg_pool2d(x, 3, 2, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, F.avg_pool2d(xt, 3, 2, 1).numpy(), rtol=1e-5)


# --- convolution ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c_in", "c_out", "hw", "k", "s", "p"),
    [(3, 8, (9, 7), 3, 1, 1), (4, 2, (10, 11), (2, 3), (2, 1), (0, 1))],
)
def test_conv2d_cost_counts_every_weight_of_every_output(c_in, c_out, hw, k, s, p):
    out = F.conv2d(
        torch.zeros(1, c_in, *hw), torch.zeros(c_out, c_in, *cost._pair("k", k)), None, s, p
    )
    kh, kw = cost._pair("k", k)
    got = cost.conv2d_cost(c_in, c_out, *hw, k, s, p)
    assert got == {"outputs": out.numel(), "multiply_adds": out.numel() * c_in * kh * kw}


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 2, "padding": 2}, "padding 2 exceeds half the kernel size 2"),
        ({"kernel_size": 0}, "kernel_size must be positive"),
        ({"kernel_size": 2, "stride": 0}, "stride must be positive"),
        ({"kernel_size": 2.0}, "kernel_size must be an int or a pair"),
        ({"kernel_size": 2, "mode": "min"}, "mode must be 'max' or 'avg'"),
    ],
)
def test_bad_arguments_raise_value_errors_that_say_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cost.pool2d_cost(1, 5, 5, **kwargs)


def test_a_window_that_does_not_fit_is_refused():
    with pytest.raises(ValueError):
        cost.counted_pool2d(np.zeros((1, 2, 2)), 3)


# --- pictures --------------------------------------------------------------------------------


def test_window_pictures_report_what_the_counting_loop_counts():
    from poolkit.viz.cost import draw_window_reads

    x = np.arange(1.0, 26.0).reshape(5, 5)
    for kwargs in (
        {"kernel_size": 3, "stride": 2, "padding": 1, "mode": "max"},
        {"kernel_size": 3, "stride": 2, "padding": 1, "mode": "avg", "count_include_pad": True},
        {"kernel_size": 2, "stride": 2, "ceil_mode": True, "mode": "avg"},
    ):
        fig = draw_window_reads(x, **kwargs)
        reads = [int(ax.get_title().split("reads ")[1].split("\n")[0]) for ax in fig.axes]
        mode = kwargs.pop("mode")
        _, counts = cost.counted_pool2d(x[None], mode=mode, **kwargs)
        work = counts["comparisons"] + counts["additions"]
        assert sum(reads) - len(reads) == work and len(reads) == counts["outputs"]
        plt.close(fig)


def test_time_plot_draws_one_series_and_one_guide_per_implementation():
    from poolkit.viz.cost import plot_time_vs_ops

    ax = plot_time_vs_ops({"a": ([10, 100], [1e-6, 1e-5]), "b": ([5, 50], [2e-6, 3e-6])})
    assert len(ax.get_lines()) == 4
    assert ax.get_xscale() == ax.get_yscale() == "log"
    plt.close(ax.figure)
