"""Pooling windows drawn over the numbers, pooled images side by side, and the window explorer.

- ``pool_windows(input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)``:
  every window of a 2-D pooling, in row-major output order, with the input rows and
  columns it reads (negative indices and indices ``>= H`` are padding or beyond).
- ``explore_windows(x, kernel_size, ...)``: what the explorer shows for one slider setting
  (windows, output values, the output-size formula with the numbers substituted, and for an
  invalid setting the rule torch enforces). Pure: no widgets, no plotting, never raises for
  a bad combination of hyper-parameters, so tests can check it against torch.
- ``draw_windows(x, windows, padding=0, ...)``: the input grid with its numbers, the padding
  ring, and one outlined rectangle per window (``gid="window"``); optionally the output grid
  beside it, each output cell tinted with its window's colour.
- ``show_images(panels, ...)``: grayscale images side by side at the same displayed size, so
  that coarser pooling looks blockier.
- ``window_explorer(x, ...)``: the thin ipywidgets wrapper around ``explore_windows``.

Output sizes follow torch's rule for ``F.max_pool2d`` / ``F.avg_pool2d``::

    out = floor_or_ceil((L + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1

and with ``ceil_mode=True`` a last window that would start at ``(out - 1)*stride >= L +
padding`` (in the right padding or past it) is dropped. Torch also requires
``padding <= kernel_size // 2`` (the plain kernel size, whatever the dilation), an output
of at least one element, and average pooling has no ``dilation`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poolkit import shapes

__all__ = [
    "Window",
    "WindowView",
    "draw_windows",
    "explore_windows",
    "pool_windows",
    "show_images",
    "window_explorer",
]

_MODES = ("max", "avg")
_AXES = ("H", "W")
# One colour per window, cycled; tab10 without its grey, which the padding ring uses.
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)


# --- geometry -------------------------------------------------------------------------


def _pair(value, name: str) -> tuple[int, int]:
    return shapes._pair(name, value)


@dataclass(frozen=True)
class Window:
    """One pooling window.

    index: (i, j), the output position it produces.
    rows, cols: the input rows and columns it reads, in order. An index below 0 or at least
    the input's height (width) is in the padding, or past it for ceil mode's last windows.
    """

    index: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def top(self) -> int:
        return self.rows[0]

    @property
    def left(self) -> int:
        return self.cols[0]

    @property
    def bottom(self) -> int:
        """One past the last row the window reads."""
        return self.rows[-1] + 1

    @property
    def right(self) -> int:
        """One past the last column the window reads."""
        return self.cols[-1] + 1

    def cells(self) -> list[tuple[int, int]]:
        """Every (row, col) the window reads, in row-major order."""
        return [(r, c) for r in self.rows for c in self.cols]


def pool_windows(input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Every window of a 2-D pooling over an input of shape ``input_hw = (H, W)``.

    Arguments are ints or (rows, cols) pairs with torch's meaning; ``stride`` defaults to
    ``kernel_size``. Returns a list of ``Window`` in row-major output order, so
    ``len(result) == H_out * W_out``. Raises ValueError, naming the rule, for a setting that
    torch rejects (see ``explore_windows`` for the same rules as messages).
    """
    message = _rule_violation(input_hw, kernel_size, stride, padding, dilation, ceil_mode, "max")
    if message:
        raise ValueError(message)
    k, s, p, d = _params(kernel_size, stride, padding, dilation)
    out = shapes.pool2d_out_hw(tuple(input_hw), k, s, p, d, ceil_mode)
    starts = [[i * s[a] - p[a] for i in range(out[a])] for a in (0, 1)]
    return [
        Window(
            index=(i, j),
            rows=tuple(r0 + d[0] * a for a in range(k[0])),
            cols=tuple(c0 + d[1] * b for b in range(k[1])),
        )
        for i, r0 in enumerate(starts[0])
        for j, c0 in enumerate(starts[1])
    ]


def _params(kernel_size, stride, padding, dilation):
    """The hyper-parameters as pairs; ValueError only for arguments that are not ints."""
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    return k, s, _pair(padding, "padding"), _pair(dilation, "dilation")


# --- torch's rules as messages ---------------------------------------------------------


def _rule_violation(
    input_hw, kernel_size, stride, padding, dilation, ceil_mode, mode
) -> str | None:
    """The first rule of torch's that this setting breaks, as a sentence; None if valid.

    The rules are ``poolkit.shapes``'s (its message, with a hint where one helps).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    hw = _pair(input_hw, "input_hw")
    k, s, p, d = _params(kernel_size, stride, padding, dilation)
    if mode == "avg" and d != (1, 1):
        return (
            f"dilation {_show(d)} is not available for average pooling: F.avg_pool2d and "
            "nn.AvgPool2d take no dilation argument, so set dilation to 1."
        )
    try:
        shapes.pool_args(k, s, p, d, bool(ceil_mode))
    except ValueError as err:
        text = str(err)
        if "padding" in text and max(d) > 1:
            text += (
                "; dilation does not relax this: torch compares the padding with the kernel "
                "size, not with the dilated span"
            )
        return text + "."  # it starts with the argument's name: keep its case
    try:
        shapes.pool2d_out_hw(hw, k, s, p, d, bool(ceil_mode))
    except ValueError as err:
        hint = ""
        if not ceil_mode:
            try:
                shapes.pool2d_out_hw(hw, k, s, p, d, True)
                hint = " (ceil_mode=True would give an output)"
            except ValueError:
                pass
        text = str(err)
        return text[0].upper() + text[1:] + hint + "."
    return None


def _show(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else str(pair)


# --- the explorer's model --------------------------------------------------------------


@dataclass
class WindowView:
    """What the explorer shows for one setting.

    ok: whether torch accepts the setting. message: the rule it breaks ("" when ok).
    formula: the output-size formula for each axis with the numbers substituted (always
    filled in when the arguments are numbers, so an invalid setting shows its arithmetic too).
    out_shape: (H_out, W_out) or None. output: (H_out, W_out) float64 array or None.
    windows: the windows in row-major output order (empty when not ok).
    divisors: for average pooling, what each output's sum is divided by; else None.
    dropped: with ceil_mode, the windows that rounding up would add but torch drops because
    they would start in the right (or bottom) padding or past it.
    """

    ok: bool
    message: str
    formula: str
    out_shape: tuple[int, int] | None = None
    output: np.ndarray | None = None
    windows: list[Window] = field(default_factory=list)
    divisors: np.ndarray | None = None
    dropped: list[Window] = field(default_factory=list)
    mode: str = "max"
    padding: tuple[int, int] = (0, 0)


def _formula(input_hw, kernel_size, stride, padding, dilation, ceil_mode) -> str:
    """The output-size formula with the numbers in, one block per axis (one if they agree)."""
    k, s, p, d = _params(kernel_size, stride, padding, dilation)
    hw = _pair(input_hw, "input_hw")
    blocks = []
    try:
        sizes = shapes.pool2d_out_hw(hw, k, s, p, d, bool(ceil_mode))
    except ValueError:
        sizes = None
    for a in (0, 1):
        name = _AXES[a]
        numerator = hw[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1
        size = None if sizes is None else sizes[a]
        lo, hi = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
        rounded = -(-numerator // s[a]) if ceil_mode else numerator // s[a]
        lines = [
            f"{name}_out = {lo}({name} + 2·padding − dilation·(kernel − 1) − 1) / stride{hi} + 1",
            f"      = {lo}({hw[a]} + 2·{p[a]} − {d[a]}·({k[a]} − 1) − 1) / {s[a]}{hi} + 1"
            f" = {lo}{numerator} / {s[a]}{hi} + 1 = {rounded} + 1 = {rounded + 1}",
        ]
        if size is not None and size != rounded + 1:  # torch dropped a last window
            start = rounded * s[a]
            lines.append(
                f"  ceil_mode: the last window would start at ({rounded + 1} − 1)·{s[a]} = {start}"
                f" in the padded input"
                f" ≥ {name} + padding = {hw[a] + p[a]}, in the right padding or past it,"
                f" so torch drops it: {name}_out = {size}"
            )
        blocks.append(lines)
    if hw[0] == hw[1] and all(v[0] == v[1] for v in (k, s, p, d)):
        blocks[0][0] = blocks[0][0].replace("H_out =", "H_out = W_out =")
        return "\n".join(blocks[0])
    return "\n".join("\n".join(lines) for lines in blocks)


def _pool_by_torch(arr, k, s, p, d, ceil_mode, mode, count_include_pad):
    """The pooled output of a 2-D ``arr`` by torch, and for "avg" each window's divisor."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(arr)[None, None]
    if mode == "max":
        return F.max_pool2d(x, k, s, p, d, bool(ceil_mode))[0, 0].numpy(), None
    out = F.avg_pool2d(x, k, s, p, bool(ceil_mode), count_include_pad)[0, 0].numpy()
    ones = torch.ones_like(x)
    inside = F.avg_pool2d(ones, k, s, p, bool(ceil_mode), divisor_override=1)
    share = F.avg_pool2d(ones, k, s, p, bool(ceil_mode), count_include_pad)
    return out, (inside / share)[0, 0].numpy()  # inside / divisor = share


def explore_windows(
    x,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    mode="max",
    count_include_pad=True,
) -> WindowView:
    """Everything the window explorer shows for one setting; the output is torch's.

    x: (H, W) array of numbers. The other arguments are ints or (rows, cols) pairs with the
    meaning they have in ``F.max_pool2d`` (mode "max") or ``F.avg_pool2d`` (mode "avg");
    ``stride`` defaults to ``kernel_size``. A setting torch rejects gives ``ok=False`` and a
    message naming the rule; it does not raise. Non-numeric arguments or an unknown mode do
    raise ValueError: those are programming errors, not slider positions.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"x must be a 2-D array (H, W), got shape {arr.shape}")
    k, s, p, d = _params(kernel_size, stride, padding, dilation)
    message = _rule_violation(arr.shape, k, s, p, d, ceil_mode, mode)
    try:
        formula = _formula(arr.shape, k, s, p, d, ceil_mode)
    except ZeroDivisionError:  # stride 0: the message already says why
        formula = ""
    if message:
        return WindowView(ok=False, message=message, formula=formula, mode=mode, padding=p)
    windows = pool_windows(arr.shape, k, s, p, d, ceil_mode)
    out_shape = (windows[-1].index[0] + 1, windows[-1].index[1] + 1)
    output, divisors = _pool_by_torch(arr, k, s, p, d, ceil_mode, mode, count_include_pad)
    dropped = []
    if ceil_mode:
        # Rounding up, before torch drops a window that would start in the padding.
        counts = [-(-(arr.shape[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a]) + 1 for a in (0, 1)]
        dropped = [
            Window(
                index=(i, j),
                rows=tuple(i * s[0] - p[0] + d[0] * a for a in range(k[0])),
                cols=tuple(j * s[1] - p[1] + d[1] * b for b in range(k[1])),
            )
            for i in range(counts[0])
            for j in range(counts[1])
            if i >= out_shape[0] or j >= out_shape[1]
        ]
    return WindowView(
        ok=True,
        message="",
        formula=formula,
        out_shape=out_shape,
        output=output,
        windows=windows,
        divisors=divisors,
        mode=mode,
        padding=p,
        dropped=dropped,
    )


# --- pictures ---------------------------------------------------------------------------


def _label(value: float) -> str:
    """A cell label: integers without a decimal point, other values to 3 significant digits."""
    if np.isinf(value):
        return "−∞" if value < 0 else "∞"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def _colour(n: int) -> str:
    return _COLOURS[n % len(_COLOURS)]


def draw_windows(
    x,
    windows,
    padding=0,
    mode="max",
    output=None,
    highlight=None,
    dropped=(),
    title=None,
    output_title=None,
    axes=None,
):
    """Draw the input's numbers, its padding ring, and every window over them.

    x: (H, W) array. windows: a list of ``Window`` (from ``pool_windows`` or
    ``explore_windows``). padding: int or pair, drawn as a grey ring labelled "−∞" for
    mode "max" (what max pooling pads with) and "0" for mode "avg". Cells a window reaches
    past the padding (ceil mode) are hatched, and such windows are dashed. output: an
    optional (H_out, W_out) array drawn on a second axes, each cell tinted with its window's
    colour. highlight: an optional window number (row-major); the others are drawn faintly.
    dropped: windows to draw grey, dotted and struck through (``WindowView.dropped``: the
    ones ceil mode would add but torch drops); each is a Rectangle with ``gid="dropped"``.
    axes: an optional Axes (or a pair when ``output`` is given) to draw into.

    Each window is one ``matplotlib.patches.Rectangle`` with ``gid="window"``. Returns the
    Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Rectangle

    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"x must be a 2-D array (H, W), got shape {arr.shape}")
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    ph, pw = _pair(padding, "padding")
    height, width = arr.shape
    every = [*windows, *dropped]
    top = min([-ph] + [w.top for w in every])
    left = min([-pw] + [w.left for w in every])
    bottom = max([height + ph] + [w.bottom for w in every])
    right = max([width + pw] + [w.right for w in every])

    if axes is None:
        n_cols = right - left
        n_rows = bottom - top
        cell = 0.5
        if output is None:
            fig, ax = plt.subplots(figsize=(cell * n_cols + 0.6, cell * n_rows + 0.8))
            out_ax = None
        else:
            out = np.asarray(output)
            widths = [n_cols, max(out.shape[1], 1)]
            fig, (ax, out_ax) = plt.subplots(
                1,
                2,
                figsize=(cell * (sum(widths) + 1.5) + 0.8, cell * max(n_rows, 2) + 0.9),
                gridspec_kw={"width_ratios": widths, "wspace": 0.35},
            )
    elif output is None:
        ax, out_ax = axes, None
        fig = ax.figure
    else:
        ax, out_ax = axes
        fig = ax.figure

    pad_label = "−∞" if mode == "max" else "0"
    pad_cells, beyond_cells = [], []
    for r in range(top, bottom):
        for c in range(left, right):
            if 0 <= r < height and 0 <= c < width:
                ax.text(c, r, _label(arr[r, c]), ha="center", va="center", fontsize=10)
            elif -ph <= r < height + ph and -pw <= c < width + pw:
                pad_cells.append(Rectangle((c - 0.5, r - 0.5), 1, 1))
                ax.text(c, r, pad_label, ha="center", va="center", fontsize=8, color="0.45")
            else:
                beyond_cells.append(Rectangle((c - 0.5, r - 0.5), 1, 1))
    # Collections, not one patch per cell: fewer artists draw faster, and ``ax.patches``
    # then holds only the windows.
    ax.add_collection(PatchCollection(pad_cells, facecolor="0.88", edgecolor="none"))
    ax.add_collection(
        PatchCollection(beyond_cells, facecolor="white", edgecolor="0.8", hatch="///", linewidth=0)
    )
    grid = [[(left - 0.5, r - 0.5), (right - 0.5, r - 0.5)] for r in range(top, bottom + 1)]
    grid += [[(c - 0.5, top - 0.5), (c - 0.5, bottom - 0.5)] for c in range(left, right + 1)]
    ax.add_collection(LineCollection(grid, colors="0.8", linewidths=0.6))
    ax.plot(
        [-0.5, width - 0.5, width - 0.5, -0.5, -0.5],
        [-0.5, -0.5, height - 0.5, height - 0.5, -0.5],
        color="black",
        lw=1.2,
    )

    n_win = len(windows)
    for n, win in enumerate(windows):
        faint = highlight is not None and n != highlight
        # Overlapping windows are inset by different amounts so every outline stays visible.
        inset = 0.06 + 0.07 * (n % 3)
        hangs = win.top < -ph or win.left < -pw or win.bottom > height + ph
        hangs = hangs or win.right > width + pw
        ax.add_patch(
            Rectangle(
                (win.left - 0.5 + inset, win.top - 0.5 + inset),
                win.right - win.left - 2 * inset,
                win.bottom - win.top - 2 * inset,
                fill=False,
                edgecolor=_colour(n),
                linewidth=1.0 if faint else 2.2,
                linestyle="--" if hangs else "-",
                alpha=0.25 if faint else 1.0,
                gid="window",
                label=f"window {win.index}",
            )
        )
        spread = len(win.rows) > 1 and win.rows[1] - win.rows[0] > 1
        spread = spread or (len(win.cols) > 1 and win.cols[1] - win.cols[0] > 1)
        if spread and not faint:  # dilation: mark the cells the window reads
            rs, cs = zip(*win.cells(), strict=True)
            ax.plot(
                np.array(cs) + 0.3 - 0.12 * (n % 3),
                np.array(rs) - 0.3,
                "s",
                color=_colour(n),
                markersize=5,
            )
    for win in dropped:
        ax.add_patch(
            Rectangle(
                (win.left - 0.5 + 0.1, win.top - 0.5 + 0.1),
                win.right - win.left - 0.2,
                win.bottom - win.top - 0.2,
                fill=False,
                edgecolor="0.4",
                linewidth=1.4,
                linestyle=":",
                gid="dropped",
                label=f"dropped window {win.index}",
            )
        )
        ax.plot(
            [win.left - 0.4, win.right - 0.6],
            [win.top - 0.4, win.bottom - 0.6],
            color="0.4",
            lw=1.0,
            ls=":",
        )
    ax.set_xlim(left - 0.5, right - 0.5)
    ax.set_ylim(bottom - 0.5, top - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or f"input {height}×{width}, {n_win} windows", fontsize=10)

    if out_ax is not None:
        out = np.asarray(output, dtype=np.float64)
        oh, ow = out.shape
        for (i, j), value in np.ndenumerate(out):
            n = i * ow + j
            faint = highlight is not None and n != highlight
            out_ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=_colour(n),
                    alpha=0.12 if faint else 0.3,
                    edgecolor=_colour(n),
                    gid="output-cell",
                )
            )
            out_ax.text(j, i, _label(value), ha="center", va="center", fontsize=10)
        out_ax.set_xlim(-0.5, ow - 0.5)
        out_ax.set_ylim(oh - 0.5, -0.5)
        out_ax.set_aspect("equal")
        out_ax.set_xticks([])
        out_ax.set_yticks([])
        out_ax.set_title(output_title or f"output {oh}×{ow}", fontsize=10)
    return fig


def show_images(panels, ncols=None, vmin=None, vmax=None, size=2.4, suptitle=None):
    """Grayscale images side by side, each drawn at the same size, pixels as blocks.

    panels: a list of (title, (H, W) array) pairs. ncols: panels per row (all in one row
    by default). vmin, vmax: the grey scale, shared by all panels (default: the smallest and
    largest value over all of them), so brightness can be compared across panels.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    panels = list(panels)
    if not panels:
        raise ValueError("panels must hold at least one (title, image) pair")
    images = [np.asarray(img, dtype=np.float64) for _, img in panels]
    for (title, _), img in zip(panels, images, strict=True):
        if img.ndim != 2:
            raise ValueError(f"panel {title!r} must be a 2-D array (H, W), got shape {img.shape}")
    lo = min(float(img.min()) for img in images) if vmin is None else vmin
    hi = max(float(img.max()) for img in images) if vmax is None else vmax
    ncols = len(panels) if ncols is None else ncols
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * 1.1), squeeze=False
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, _), img in zip(axes.flat, panels, images, strict=False):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


# --- the widget -------------------------------------------------------------------------


def window_explorer(x, kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False):
    """Sliders for kernel, stride, padding, dilation and ceil_mode over the small grid ``x``.

    Each change redraws every window over the input with the output beside it, and prints
    the output-size formula with the numbers substituted; a setting torch rejects shows the
    rule instead of a traceback. Returns the ipywidgets container to display.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    from . import show

    arr = np.asarray(x, dtype=np.float64)
    slider = {"continuous_update": False, "style": {"description_width": "80px"}}
    controls = {
        "kernel_size": w.IntSlider(value=kernel_size, min=1, max=5, description="kernel", **slider),
        "stride": w.IntSlider(value=stride, min=1, max=4, description="stride", **slider),
        "padding": w.IntSlider(value=padding, min=0, max=3, description="padding", **slider),
        "dilation": w.IntSlider(value=dilation, min=1, max=3, description="dilation", **slider),
        "ceil_mode": w.Checkbox(value=ceil_mode, description="ceil_mode", indent=False),
        "mode": w.ToggleButtons(options=["max", "avg"], value="max", description="mode"),
        "count_include_pad": w.Checkbox(
            value=True, description="count_include_pad (avg)", indent=False
        ),
    }
    pick = w.IntSlider(value=0, min=0, max=1, description="window #", **slider)
    out = w.Output()

    busy = [False]  # adjusting the window # slider below must not redraw a second time

    def update(*_):
        if busy[0]:
            return
        busy[0] = True
        try:
            redraw()
        finally:
            busy[0] = False

    def redraw():
        view = explore_windows(arr, **{name: c.value for name, c in controls.items()})
        n = len(view.windows)
        pick.max = max(n, 1)
        pick.value = min(pick.value, n)
        pick.disabled = not view.ok
        shown = []
        if view.ok:
            fig = draw_windows(
                arr,
                view.windows,
                padding=view.padding,
                mode=view.mode,
                output=view.output,
                highlight=pick.value - 1 if pick.value else None,
                dropped=view.dropped,
            )
            shown.append(fig)
            note = "window # 0 shows every window; 1, 2, … show one at a time."
        else:
            note = (
                f"<p style='color:#b00020;font-weight:bold'>Torch refuses this setting: "
                f"{_html_escape(view.message)}</p>"
            )
        show(out, *shown, HTML(f"{note}<pre>{_html_escape(view.formula)}</pre>"))
        for fig in shown:
            plt.close(fig)

    for control in [*controls.values(), pick]:
        control.observe(update, names="value")
    update()
    left = w.VBox([controls[n] for n in ("kernel_size", "stride", "padding", "dilation")])
    right = w.VBox([controls["ceil_mode"], controls["mode"], controls["count_include_pad"], pick])
    return w.VBox([w.HBox([left, right]), out])


def _html_escape(text: str) -> str:
    import html

    return html.escape(text)
