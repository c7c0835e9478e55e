"""Pictures of pooling's backward pass: gradient-count maps and the kernel/stride explorer.

- ``plot_count_map(values, ax=None, title=None, vmax=None)``: one heatmap with each cell's
  number drawn in it; panels that are compared share ``vmax``.
- ``plot_count_maps(x, configs, modes=("max", "avg"))``: a grid of count maps, one row per
  mode and one column per ``(kernel_size, stride)`` pair, all on one colour scale.
- ``explorer_state(x, kernel_size, stride, mode="max")``: what the explorer shows for one
  slider setting (count map, gradient of ``loss = mean(pool(x))``, a message). Pure: no
  widgets, no plotting, so tests can check it against torch.
- ``gradient_explorer(x, ...)``: the thin ipywidgets wrapper around ``explorer_state``.

The count of an input position is how many times the backward pass writes into it: for
max pooling, the number of windows whose (first, row-major) maximum sits there; for average
pooling, the number of windows that contain it. Counts come from torch's backward pass
(notebook 04 asks students to compute them, so this package holds no code of its own for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ExplorerState",
    "explorer_state",
    "gradient_explorer",
    "plot_count_map",
    "plot_count_maps",
]

_MODES = ("max", "avg")


def _check_mode(mode) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_image(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"x must be a 2-D array (H, W), got shape {arr.shape}")
    return arr


def _format_value(value: float) -> str:
    """A cell label: integers without a decimal point, other values to 3 significant digits."""
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def plot_count_map(
    values, ax=None, title: str | None = None, cmap: str = "Blues", vmax: float | None = None
):
    """Draw a 2-D array as a heatmap with each cell's value written in it.

    values: (H, W) array of non-negative numbers (counts or gradients). Returns the
    matplotlib Axes. The colour scale runs from 0 (pale, so the positions that receive no
    gradient stand out) to ``vmax``; pass the same ``vmax`` to panels that are compared, so
    that one colour means one value in all of them. ``vmax=None`` uses this array's maximum.
    """
    import matplotlib.pyplot as plt

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"values must be a 2-D array (H, W), got shape {arr.shape}")
    if vmax is None:
        top = float(arr.max()) if arr.size and arr.max() > 0 else 1.0
    elif not np.isfinite(vmax) or vmax <= 0:
        raise ValueError(f"vmax must be a positive number, got {vmax!r}")
    else:
        top = float(vmax)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * arr.shape[1] + 1, 0.55 * arr.shape[0] + 0.8))
    ax.imshow(arr, cmap=cmap, vmin=0.0, vmax=top)
    for (i, j), value in np.ndenumerate(arr):
        colour = "white" if value > 0.6 * top else "black"
        ax.text(j, i, _format_value(value), ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(arr.shape[1]))
    ax.set_yticks(range(arr.shape[0]))
    ax.tick_params(length=0, labelsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _counts(x: np.ndarray, kernel_size: int, stride: int, mode: str) -> np.ndarray:
    """Count map of a 2-D ``x`` by torch, as an (H, W) int array.

    The gradient of the sum of every window's output, where each window's output passes its
    gradient on with weight 1: max pooling's backward, or average pooling's with divisor 1.
    """
    import torch
    import torch.nn.functional as F

    with torch.enable_grad():
        xt = torch.tensor(np.asarray(x, dtype=np.float64)[None, None], requires_grad=True)
        if mode == "max":
            out = F.max_pool2d(xt, kernel_size, stride)
        else:
            out = F.avg_pool2d(xt, kernel_size, stride, divisor_override=1)
        out.sum().backward()
    return np.rint(xt.grad[0, 0].numpy()).astype(np.int64)


def plot_count_maps(x, configs, modes=_MODES, show_input: bool = True):
    """A grid of count maps for the 2-D input ``x``: one row per mode, one column per config.

    configs: sequence of ``(kernel_size, stride)`` pairs, each kernel no larger than ``x``.
    show_input: if true, a first column shows ``x`` itself (top row), so that the max-pool
    counts can be checked against the values. All count maps share one colour scale, from 0
    to the largest count in any of them, drawn as a colour bar. Returns the matplotlib
    Figure; the count maps are ``fig.axes`` in row-major order after the input's Axes, if
    shown, and the colour bar's Axes is the last.
    """
    import matplotlib.pyplot as plt

    arr = _check_image(x)
    configs = [
        (_check_positive_int(k, "kernel_size"), _check_positive_int(s, "stride"))
        for k, s in configs
    ]
    if not configs:
        raise ValueError("configs must hold at least one (kernel_size, stride) pair")
    for k, _ in configs:
        if k > min(arr.shape):
            raise ValueError(f"kernel_size {k} is larger than the {arr.shape} input")
    modes = tuple(modes)
    for mode in modes:
        _check_mode(mode)
    counts = {(mode, k, s): _counts(arr, k, s, mode) for mode in modes for k, s in configs}
    # One colour scale for every count map, so that a 1 looks the same in every panel.
    top = max(1, max(int(c.max()) for c in counts.values()))
    first = 1 if show_input else 0
    rows, cols = len(modes), len(configs) + first
    cell = 0.42
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * (cell * arr.shape[1] + 0.6) + 0.8, rows * (cell * arr.shape[0] + 0.9)),
        squeeze=False,
    )
    if show_input:
        plot_count_map(arr, ax=axes[0, 0], title="input x", cmap="Greys")
        for r in range(1, rows):
            fig.delaxes(axes[r, 0])
    for r, mode in enumerate(modes):
        for c, (k, s) in enumerate(configs):
            plot_count_map(
                counts[mode, k, s],
                ax=axes[r, first + c],
                title=f"{mode}, kernel {k}, stride {s}",
                vmax=top,
            )
    fig.tight_layout()
    count_axes = [axes[r, first + c] for r in range(rows) for c in range(len(configs))]
    bar = fig.colorbar(count_axes[-1].images[0], ax=count_axes, shrink=0.8, pad=0.02)
    bar.set_label("count (one scale for every map)")
    bar.set_ticks(range(top + 1))
    return fig


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer shows for one setting.

    counts: (H, W) int array, or None when the setting is invalid.
    gradient: (H, W) float array, d mean(pool(x)) / dx, or None when the setting is invalid.
    output_shape: (H_out, W_out), or None when the setting is invalid.
    message: one line saying what is shown, or why nothing is.
    """

    counts: np.ndarray | None
    gradient: np.ndarray | None
    output_shape: tuple[int, int] | None
    message: str

    @property
    def valid(self) -> bool:
        return self.counts is not None


def explorer_state(x, kernel_size, stride, mode: str = "max") -> ExplorerState:
    """Count map and gradient of ``loss = mean(pool(x))`` for one kernel/stride setting.

    x: (H, W) array. kernel_size, stride: positive ints (no padding). mode: "max" or "avg".
    A kernel larger than the input is a setting the sliders can reach, so it is reported in
    ``message`` rather than raised; arguments no slider can produce raise ``ValueError``.
    """
    arr = _check_image(x)
    k = _check_positive_int(kernel_size, "kernel_size")
    s = _check_positive_int(stride, "stride")
    _check_mode(mode)
    h, w = arr.shape
    if k > h or k > w:
        return ExplorerState(
            None,
            None,
            None,
            f"Kernel {k} does not fit in the {h}×{w} input: choose a kernel of at most "
            f"{min(h, w)}.",
        )
    out_h, out_w = (h - k) // s + 1, (w - k) // s + 1
    n_out = out_h * out_w
    counts = _counts(arr, k, s, mode)
    # Every output carries upstream gradient 1 / n_out (the mean); avg pooling then divides
    # it by the window size k*k, and each input adds up one share per window it receives.
    per_window = 1.0 / n_out if mode == "max" else 1.0 / (n_out * k * k)
    gradient = counts * per_window
    unused = int(np.sum(counts == 0))
    if mode == "max":
        rule = f"gradient = count / {n_out}"
    else:
        rule = f"gradient = count / ({n_out}·{k * k})"
    message = (
        f"{mode} pooling, kernel {k}, stride {s}: {out_h}×{out_w} outputs; loss = mean, so "
        f"{rule}; {unused} of {h * w} inputs get no gradient."
    )
    return ExplorerState(counts, gradient, (out_h, out_w), message)


def gradient_explorer(x, kernel_max: int = 6, stride_max: int = 5, mode: str = "max"):
    """A widget: kernel and stride sliders, a max/avg toggle, the count map and the gradient.

    x: (H, W) array, the input the sliders pool. Returns an ``ipywidgets.VBox``; its
    ``state`` attribute holds the ``ExplorerState`` currently drawn.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from . import show

    arr = _check_image(x)
    _check_mode(mode)
    kernel = widgets.IntSlider(
        value=2, min=1, max=_check_positive_int(kernel_max, "kernel_max"), description="kernel"
    )
    stride = widgets.IntSlider(
        value=1, min=1, max=_check_positive_int(stride_max, "stride_max"), description="stride"
    )
    pooling = widgets.ToggleButtons(options=list(_MODES), value=mode, description="pooling")
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([kernel, stride]), pooling, out])

    def draw(*_):
        state = explorer_state(arr, kernel.value, stride.value, pooling.value)
        box.state = state
        if not state.valid:
            show(out, state.message)
            return
        fig, (left, mid, right) = plt.subplots(
            1, 3, figsize=(3 * (0.45 * arr.shape[1] + 0.6), 0.45 * arr.shape[0] + 0.9)
        )
        plot_count_map(arr, ax=left, title="input x", cmap="Greys")
        plot_count_map(state.counts, ax=mid, title="count map")
        plot_count_map(state.gradient, ax=right, title="d mean(pool(x)) / dx", cmap="Oranges")
        fig.tight_layout()
        show(out, state.message, fig)
        plt.close(fig)

    for control in (kernel, stride, pooling):
        control.observe(draw, names="value")
    draw()
    return box
