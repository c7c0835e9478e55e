"""poolkit.viz.windows: the window explorer's model agrees with torch, invalid settings give
torch's rule as a message, and the pictures hold one outlined rectangle per window.

Expected values come from torch (``F.max_pool2d`` / ``F.avg_pool2d``), never from this
module's own output. Figures are checked by what they contain, not by their pixels.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.patches import Rectangle
from poolkit.viz import windows as vw
from strategies import examples

CEIL_EXAMPLE = np.array(
    [[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]],
    dtype=np.float64,
)


def torch_pool(x, mode, k, s, p, d, ceil_mode, count_include_pad=True):
    """torch's result as a NumPy array, or the RuntimeError message if torch rejects it."""
    t = torch.from_numpy(np.asarray(x, dtype=np.float64))[None, None]
    try:
        if mode == "max":
            return F.max_pool2d(t, k, s, p, d, ceil_mode)[0, 0].numpy()
        if d not in (1, (1, 1)):
            return "avg_pool2d takes no dilation"
        return F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad)[0, 0].numpy()
    except RuntimeError as err:
        return str(err)


def pairs(low, high):
    return st.one_of(
        st.integers(low, high), st.tuples(st.integers(low, high), st.integers(low, high))
    )


settings_ = st.fixed_dictionaries(
    {
        "k": pairs(1, 4),
        "s": pairs(1, 4),
        "p": pairs(0, 2),
        "d": pairs(1, 3),
        "ceil_mode": st.booleans(),
        "mode": st.sampled_from(["max", "avg"]),
        "count_include_pad": st.booleans(),
    }
)


def _sizes(config):
    """The hyper-parameters; for half of the avg settings dilation is 1, so values get compared."""
    d = config["d"]
    if config["mode"] == "avg" and config["count_include_pad"]:
        d = 1
    return config["k"], config["s"], config["p"], d


# --- the explorer's model against torch -------------------------------------------------


@examples(300)
@given(
    hw=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    config=settings_,
    seed=st.integers(0, 2**16),
)
def test_explorer_output_and_size_match_torch_or_torch_rejects_it(hw, config, seed):
    x = np.random.default_rng(seed).integers(-3, 4, size=hw).astype(np.float64)  # ties happen
    k, s, p, d = _sizes(config)
    mode, ceil_mode, cip = config["mode"], config["ceil_mode"], config["count_include_pad"]
    expected = torch_pool(x, mode, k, s, p, d, ceil_mode, cip)
    view = vw.explore_windows(x, k, s, p, d, ceil_mode, mode, cip)
    if isinstance(expected, str):
        assert not view.ok, f"torch rejects this setting ({expected}) but the explorer accepts it"
        assert view.message and view.output is None and view.windows == []
        return
    assert view.ok, f"torch accepts this setting but the explorer says: {view.message}"
    assert view.out_shape == expected.shape
    assert len(view.windows) == expected.size
    np.testing.assert_allclose(view.output, expected, rtol=1e-12, atol=1e-12)


@examples(200)
@given(
    size=st.integers(1, 9),
    k=st.integers(1, 4),
    s=st.integers(1, 4),
    p=st.integers(0, 2),
    d=st.integers(1, 3),
    ceil_mode=st.booleans(),
)
def test_formula_ends_with_torchs_output_size(size, k, s, p, d, ceil_mode):
    x = np.zeros((size, size))
    expected = torch_pool(x, "max", k, s, p, d, ceil_mode)
    view = vw.explore_windows(x, k, s, p, d, ceil_mode)
    # The last "= N" of the formula is the size it arrives at, with any ceil-mode drop applied.
    last = int(re.findall(r"= (-?\d+)\s*$", view.formula.strip().splitlines()[-1])[0])
    if isinstance(expected, str):
        assert not view.ok
        if "Output size is too small" in expected:
            assert last < 1
    else:
        assert last == expected.shape[0]
        assert ("drops it" in view.formula) == (
            ceil_mode and -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1 != expected.shape[0]
        )


def test_the_ceil_mode_example():
    for ceil_mode, n_windows in ((True, 4), (False, 1)):
        view = vw.explore_windows(CEIL_EXAMPLE, 3, ceil_mode=ceil_mode)
        expected = torch_pool(CEIL_EXAMPLE, "max", 3, 3, 0, 1, ceil_mode)
        np.testing.assert_array_equal(view.output, expected)
        assert len(view.windows) == n_windows


def test_a_last_window_starting_in_the_right_padding_is_dropped():
    x = np.arange(25.0).reshape(5, 5)
    view = vw.explore_windows(x, 2, stride=2, padding=1, ceil_mode=True)
    expected = torch_pool(x, "max", 2, 2, 1, 1, True)
    assert view.out_shape == expected.shape
    assert "drops it" in view.formula
    assert "⌈5 / 2⌉ + 1 = 3 + 1 = 4" in view.formula  # the naive ceil count, before the drop


def test_avg_divisors_follow_count_include_pad():
    x = np.ones((3, 3))
    with_pad = vw.explore_windows(x, 2, stride=1, padding=1, mode="avg")
    without = vw.explore_windows(x, 2, stride=1, padding=1, mode="avg", count_include_pad=False)
    ones = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    # Averaging ones: with padding counted the output is (real cells) / (divisor).
    real = F.avg_pool2d(ones, 2, 1, 1, count_include_pad=True)[0, 0].numpy() * 4
    np.testing.assert_array_equal(with_pad.divisors, np.full((4, 4), 4.0))
    np.testing.assert_array_equal(without.divisors, real)


# --- invalid settings: a message, not a traceback ----------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"kernel_size": 3, "padding": 2}, "padding <= kernel_size // 2"),
        ({"kernel_size": 2, "padding": 2, "dilation": 3}, "not with the dilated span"),
        ({"kernel_size": 8, "stride": 2}, "torch requires at least 1"),
        ({"kernel_size": 2, "dilation": 2, "mode": "avg"}, "no dilation argument"),
        ({"kernel_size": 0}, "kernel_size must be positive"),
        ({"kernel_size": 2, "stride": 0}, "stride must be positive"),
    ],
)
def test_invalid_settings_give_the_rule_not_a_traceback(args, needle):
    x = np.zeros((7, 7))
    view = vw.explore_windows(x, **args)
    assert not view.ok
    assert needle in view.message
    mode = args.get("mode", "max")
    k = args["kernel_size"]
    s = args.get("stride", k)
    expected = torch_pool(x, mode, k, s, args.get("padding", 0), args.get("dilation", 1), False)
    assert isinstance(expected, str), "torch should reject this setting too"


def test_ceil_mode_rescues_an_output_that_would_be_empty():
    x = np.arange(49.0).reshape(7, 7)
    floor_view = vw.explore_windows(x, 8, stride=2)
    assert "ceil_mode=True would give an output" in floor_view.message
    ceil_view = vw.explore_windows(x, 8, stride=2, ceil_mode=True)
    assert ceil_view.ok
    np.testing.assert_array_equal(ceil_view.output, torch_pool(x, "max", 8, 2, 0, 1, True))


def test_pool_windows_raises_valueerror_naming_the_rule():
    with pytest.raises(ValueError, match="padding"):
        vw.pool_windows((5, 5), 3, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        vw.pool_windows((5, 5), 2.5)


def test_windows_read_the_cells_torch_reads():
    # Max pooling's argmax (return_indices) must be one of the cells of the matching window.
    rng = np.random.default_rng(7)
    x = rng.permutation(42).reshape(6, 7).astype(np.float64)  # distinct values: one argmax
    t = torch.from_numpy(x)[None, None]
    _, idx = F.max_pool2d(t, 3, 2, 1, 2, True, return_indices=True)
    windows = vw.pool_windows(x.shape, 3, 2, 1, 2, True)
    assert len(windows) == idx.numel()
    for win, flat in zip(windows, idx.flatten().tolist(), strict=True):
        assert divmod(flat, 7) in win.cells()


# --- pictures ---------------------------------------------------------------------------


def _patches(ax, gid):
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]


@pytest.mark.parametrize(
    ("k", "s", "p", "d", "ceil_mode"),
    [(3, 3, 0, 1, True), (3, 3, 0, 1, False), (2, 1, 1, 1, False), (3, 2, 1, 2, True)],
)
def test_one_rectangle_per_window_and_one_cell_per_output(k, s, p, d, ceil_mode):
    view = vw.explore_windows(CEIL_EXAMPLE, k, s, p, d, ceil_mode)
    expected = torch_pool(CEIL_EXAMPLE, "max", k, s, p, d, ceil_mode)
    fig = vw.draw_windows(CEIL_EXAMPLE, view.windows, padding=p, output=view.output)
    ax_in, ax_out = fig.axes
    assert len(_patches(ax_in, "window")) == expected.size
    assert len(_patches(ax_out, "output-cell")) == expected.size
    labels = {t.get_text() for t in ax_out.texts}
    assert labels == {vw._label(v) for v in expected.ravel()}
    plt.close(fig)


def test_windows_hanging_past_the_padding_are_dashed():
    view = vw.explore_windows(CEIL_EXAMPLE, 3, ceil_mode=True)
    fig = vw.draw_windows(CEIL_EXAMPLE, view.windows)
    styles = [p.get_linestyle() for p in _patches(fig.axes[0], "window")]
    # Only the top-left window lies inside the 5×5 input; the other three hang over.
    assert [s == "-" for s in styles] == [True, False, False, False]
    plt.close(fig)


def test_padding_ring_is_labelled_with_what_the_mode_pads_with():
    x = np.arange(9.0).reshape(3, 3)
    for mode, label in (("max", "−∞"), ("avg", "0")):
        view = vw.explore_windows(x, 2, stride=1, padding=1, mode=mode)
        fig = vw.draw_windows(x, view.windows, padding=1, mode=mode)
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert texts.count(label) == 5 * 5 - 3 * 3 + (label == "0") * (x == 0).sum()
        plt.close(fig)


def test_show_images_puts_each_panel_side_by_side_at_its_own_resolution():
    img = np.linspace(0, 1, 64).reshape(8, 8)
    pooled = F.max_pool2d(torch.from_numpy(img)[None, None], 2)[0, 0].numpy()
    fig = vw.show_images([("original", img), ("max 2", pooled), ("again", pooled)], ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["original", "max 2", "again"]
    assert [ax.images[0].get_array().shape for ax in visible] == [(8, 8), (4, 4), (4, 4)]
    plt.close(fig)


def test_the_widget_survives_an_invalid_setting():
    ui = vw.window_explorer(CEIL_EXAMPLE)
    sliders = {c.description: c for box in ui.children[0].children for c in box.children}
    sliders["padding"].value = 3  # kernel 3: torch allows at most 1
    assert sliders["window #"].disabled
    sliders["padding"].value = 1
    assert not sliders["window #"].disabled
    plt.close("all")


def test_dropped_windows_are_the_ones_rounding_up_adds_and_torch_drops():
    x = np.arange(25.0).reshape(5, 5)
    view = vw.explore_windows(x, 2, stride=2, padding=1, ceil_mode=True)
    kept = torch_pool(x, "max", 2, 2, 1, 1, True).shape[0]
    rounded_up = -(-(5 + 2 - 1 - 1) // 2) + 1
    assert len(view.dropped) == rounded_up**2 - kept**2
    # Each dropped window starts in the bottom or right padding: row or column >= 5.
    assert all(w.top >= 5 or w.left >= 5 for w in view.dropped)
    fig = vw.draw_windows(x, view.windows, padding=1, dropped=view.dropped)
    assert len(_patches(fig.axes[0], "dropped")) == len(view.dropped)
    assert len(_patches(fig.axes[0], "window")) == kept**2
    plt.close(fig)
    assert vw.explore_windows(x, 2, stride=2, padding=1).dropped == []
