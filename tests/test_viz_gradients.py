"""poolkit.viz.gradients: count maps and the explorer agree with torch autograd.

Expected counts and gradients come from torch: the gradient of ``sum(pool(x))`` (times k²
for average pooling) is the count map, and the gradient of ``mean(pool(x))`` is what the
explorer shows.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from poolkit.viz.gradients import (  # noqa: E402
    explorer_state,
    gradient_explorer,
    plot_count_map,
    plot_count_maps,
)
from strategies import examples  # noqa: E402

POOLS = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def torch_gradient(x, kernel_size, stride, mode, loss="sum"):
    xt = torch.tensor(np.asarray(x, dtype=np.float64))[None, None].requires_grad_()
    y = POOLS[mode](xt, kernel_size=kernel_size, stride=stride)
    (y.sum() if loss == "sum" else y.mean()).backward()
    return xt.grad[0, 0].numpy(), tuple(y.shape[-2:])


def torch_counts(x, kernel_size, stride, mode):
    grad, _ = torch_gradient(x, kernel_size, stride, mode)
    return np.rint(grad * (kernel_size**2 if mode == "avg" else 1)).astype(np.int64)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@st.composite
def settings_2d(draw):
    h = draw(st.integers(1, 8))
    w = draw(st.integers(1, 8))
    values = draw(st.lists(st.integers(0, 3), min_size=h * w, max_size=h * w))
    x = np.array(values, dtype=np.float64).reshape(h, w)  # small integers: ties are common
    kernel = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["max", "avg"]))
    return x, kernel, stride, mode


@examples(120)
@given(settings_2d())
def test_explorer_state_matches_torch(case):
    x, kernel, stride, mode = case
    state = explorer_state(x, kernel, stride, mode)
    if kernel > min(x.shape):
        assert not state.valid
        assert state.counts is None and state.gradient is None and state.output_shape is None
        assert f"Kernel {kernel}" in state.message and "does not fit" in state.message
        return
    grad, out_shape = torch_gradient(x, kernel, stride, mode, loss="mean")
    assert state.valid
    assert state.output_shape == out_shape
    np.testing.assert_array_equal(state.counts, torch_counts(x, kernel, stride, mode))
    assert np.issubdtype(state.counts.dtype, np.integer)
    np.testing.assert_allclose(state.gradient, grad, rtol=1e-12, atol=1e-15)
    zero = int(np.sum(grad == 0))
    assert f"{zero} of {x.size} inputs get no gradient" in state.message


def test_explorer_state_on_the_source_example():
    x = np.array([[1, 3, 1, 4], [5, 2, 4, 6], [9, 6, 1, 2], [3, 4, 5, 6]])
    for mode in ("max", "avg"):
        for stride in (1, 2):
            state = explorer_state(x, 2, stride, mode)
            np.testing.assert_array_equal(state.counts, torch_counts(x, 2, stride, mode))
            grad, _ = torch_gradient(x, 2, stride, mode, loss="mean")
            np.testing.assert_allclose(state.gradient, grad, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((3, 3)), 0, 1, "max"), "kernel_size must be a positive integer"),
        ((np.zeros((3, 3)), 2, True, "max"), "stride must be a positive integer"),
        ((np.zeros((3, 3)), 2.0, 1, "max"), "kernel_size must be a positive integer"),
        ((np.zeros((3, 3)), 2, 1, "min"), "mode must be 'max' or 'avg'"),
        ((np.zeros((1, 3, 3)), 2, 1, "max"), r"x must be a 2-D array \(H, W\)"),
    ],
)
def test_explorer_state_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        explorer_state(*args)


def _cell_labels(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_plot_count_map_writes_each_value_in_its_cell():
    values = np.array([[0, 1, 2], [4, 0, 1]])
    ax = plot_count_map(values, title="counts")
    assert _cell_labels(ax) == ["0", "1", "2", "4", "0", "1"]
    positions = [text.get_position() for text in ax.texts]
    assert positions == [(j, i) for i in range(2) for j in range(3)]
    assert ax.get_title() == "counts"


def test_plot_count_map_labels_gradients_to_three_digits():
    grad, _ = torch_gradient(np.arange(16.0).reshape(4, 4), 2, 1, "avg", loss="mean")
    ax = plot_count_map(grad)
    assert _cell_labels(ax)[:2] == [f"{grad[0, 0]:.3g}", f"{grad[0, 1]:.3g}"]


def test_plot_count_map_rejects_a_1d_array():
    with pytest.raises(ValueError, match="values must be a 2-D array"):
        plot_count_map(np.zeros(4))


def test_plot_count_maps_draws_torchs_counts_for_each_setting():
    x = np.random.default_rng(3).integers(0, 4, size=(6, 7))
    configs = [(2, 2), (2, 1), (3, 1), (3, 2), (2, 3)]
    fig = plot_count_maps(x, configs, modes=("max", "avg"))
    assert fig.axes[0].get_title() == "input x"
    assert _cell_labels(fig.axes[0]) == [str(v) for v in x.ravel()]
    axes = np.array(fig.axes[1 : 1 + 2 * len(configs)]).reshape(2, len(configs))
    for r, mode in enumerate(("max", "avg")):
        for c, (k, s) in enumerate(configs):
            ax = axes[r, c]
            assert ax.get_title() == f"{mode}, kernel {k}, stride {s}"
            expected = [str(v) for v in torch_counts(x, k, s, mode).ravel()]
            assert _cell_labels(ax) == expected


def test_plot_count_maps_without_the_input_has_only_count_maps():
    x = np.arange(20).reshape(4, 5)
    fig = plot_count_maps(x, [(2, 1), (3, 1)], modes=("avg",), show_input=False)
    titles = [ax.get_title() for ax in fig.axes[:-1]]
    assert titles == ["avg, kernel 2, stride 1", "avg, kernel 3, stride 1"]


def test_plot_count_maps_draws_every_count_on_one_colour_scale():
    # Panels whose largest counts differ (1 for kernel 2, stride 2; up to 9 for avg kernel 3,
    # stride 1): one colour must mean one count everywhere, so every map and the colour bar
    # run from 0 to the largest count of all the maps, computed here by torch.
    x = np.random.default_rng(5).integers(0, 10, size=(6, 6))
    configs = [(2, 2), (2, 1), (3, 1), (3, 2), (2, 3)]
    fig = plot_count_maps(x, configs, modes=("max", "avg"))
    all_counts = [torch_counts(x, k, s, mode) for mode in ("max", "avg") for k, s in configs]
    top = max(int(c.max()) for c in all_counts)
    assert {int(c.max()) for c in all_counts} >= {1, top} and top > 1
    count_axes = fig.axes[1 : 1 + len(all_counts)]
    for ax in count_axes:
        assert ax.images[0].get_clim() == (0.0, float(top)), ax.get_title()
    colour_bar = fig.axes[-1]
    assert colour_bar.get_ylim() == (0.0, float(top))
    # A count of 1 is drawn in the same colour in a map whose maximum is 1 and in one whose
    # maximum is the top count.
    images = [ax.images[0] for ax in count_axes]
    one = {tuple(im.to_rgba(np.array([[1.0]]))[0, 0]) for im in images}
    assert len(one) == 1


def test_plot_count_map_shares_a_given_scale():
    ax = plot_count_map(np.array([[0, 1], [1, 0]]), vmax=6)
    assert ax.images[0].get_clim() == (0.0, 6.0)
    assert all(t.get_color() == "black" for t in ax.texts)  # 1 of 6 is a pale cell
    assert plot_count_map(np.array([[0, 1], [1, 0]])).images[0].get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="vmax must be a positive number"):
        plot_count_map(np.zeros((2, 2)), vmax=0)


def test_plot_count_maps_rejects_bad_configs():
    x = np.zeros((4, 5))
    with pytest.raises(ValueError, match="kernel_size 5 is larger"):
        plot_count_maps(x, [(5, 1)])
    with pytest.raises(ValueError, match="configs must hold at least one"):
        plot_count_maps(x, [])
    with pytest.raises(ValueError, match="mode must be"):
        plot_count_maps(x, [(2, 2)], modes=("median",))


def test_gradient_explorer_follows_its_sliders():
    x = np.random.default_rng(6).integers(0, 10, size=(5, 7))
    box = gradient_explorer(x, kernel_max=6, stride_max=5)
    (kernel, stride), pooling = box.children[0].children, box.children[1]
    assert (kernel.value, stride.value, pooling.value) == (2, 1, "max")
    np.testing.assert_array_equal(box.state.counts, torch_counts(x, 2, 1, "max"))
    assert box.state.message == explorer_state(x, 2, 1, "max").message

    kernel.value, stride.value, pooling.value = 3, 2, "avg"
    expected = explorer_state(x, 3, 2, "avg")
    np.testing.assert_array_equal(box.state.counts, expected.counts)
    np.testing.assert_allclose(box.state.gradient, torch_gradient(x, 3, 2, "avg", "mean")[0])

    kernel.value = 6  # taller than the 5-row input: a message, not a traceback
    assert not box.state.valid
    shown = box.children[2].outputs  # what the Output widget shows: set as its state
    assert [o["output_type"] for o in shown] == ["stream"]
    assert "does not fit" in shown[0]["text"]
    assert plt.get_fignums() == []  # the explorer closes the figures it draws
