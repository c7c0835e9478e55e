"""Pictures for notebook 03: which elements each window reads, and time against operations.

- ``draw_window_reads``: one small panel per window, the numbers drawn in their cells,
  the padding greyed, the window outlined and the elements it reads shaded.
- ``plot_time_vs_ops``: measured time against predicted operations on log-log axes,
  with a line of slope 1 through each implementation's largest point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_window_reads", "plot_time_vs_ops"]


def draw_window_reads(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    mode="max",
    count_include_pad=True,
    max_panels=12,
):
    """Draw, for every window of a pooling layer on a small 2-D ``x``, what it reads.

    x: (H, W) array of numbers. The other arguments are torch's. Each panel shows the
    padded grid (padding cells grey, labelled -inf for max and 0 for avg; cells past the
    padding, which a ceil_mode window may overhang, hatched), the window outlined in red
    and the cells it reads shaded, under notebook 03's counting conventions.
    The title gives the number of elements read and the operations spent.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from poolkit.shapes import pool2d_out_hw, pool_args

    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (H, W), got shape {x.shape}")
    (kh, kw), (sh, sw), (ph, pw), _, _ = pool_args(kernel_size, stride, padding, 1, ceil_mode)
    height, width = x.shape
    oh, ow = pool2d_out_hw(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if oh * ow > max_panels:
        raise ValueError(f"{oh * ow} windows are too many to draw (at most {max_panels})")
    # The drawn grid reaches as far as the furthest window.
    top, left = -ph, -pw
    bottom = max(height + ph, (oh - 1) * sh - ph + kh)
    right = max(width + pw, (ow - 1) * sw - pw + kw)
    reads_pad = mode == "avg" and count_include_pad
    pad_label = "0" if mode == "avg" else "−∞"

    fig, axes = plt.subplots(
        oh,
        ow,
        figsize=(0.38 * ow * (right - left) + 0.3, 0.38 * oh * (bottom - top) + 0.75 * oh),
        squeeze=False,
    )
    rr, cc = np.mgrid[top:bottom, left:right]
    inside = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
    in_padded = (rr >= -ph) & (rr < height + ph) & (cc >= -pw) & (cc < width + pw)
    readable = inside | (in_padded if reads_pad else False)
    extent = (left, right, bottom, top)
    for i in range(oh):
        for j in range(ow):
            ax = axes[i, j]
            r0, c0 = i * sh - ph, j * sw - pw
            in_window = (rr >= r0) & (rr < r0 + kh) & (cc >= c0) & (cc < c0 + kw)
            read = in_window & readable
            faces = np.ones((*rr.shape, 3))  # white inside the input
            faces[~inside] = (0.87, 0.87, 0.87)  # grey padding
            faces[~in_padded] = (1.0, 1.0, 1.0)  # past the padding: hatched below
            faces[read] = (0.96, 0.65, 0.51)  # read by this window
            ax.imshow(faces, extent=extent, interpolation="nearest")
            ax.hlines(np.arange(top, bottom + 1), left, right, color="#999999", lw=0.8)
            ax.vlines(np.arange(left, right + 1), top, bottom, color="#999999", lw=0.8)
            for r, c in zip(*np.nonzero(~in_padded), strict=True):
                ax.add_patch(Rectangle((c + left, r + top), 1, 1, fill=False, hatch="////", lw=0))
            for r, c in zip(rr[in_padded], cc[in_padded], strict=True):
                if 0 <= r < height and 0 <= c < width:
                    ax.text(c + 0.5, r + 0.5, f"{x[r, c]:g}", ha="center", va="center")
                else:
                    ax.text(
                        c + 0.5,
                        r + 0.5,
                        pad_label,
                        ha="center",
                        va="center",
                        color="#777777",
                        fontsize=8,
                    )
            ax.add_patch(Rectangle((c0, r0), kw, kh, fill=False, edgecolor="#b2182b", lw=2.5))
            ax.set_xlim(left, right)
            ax.set_ylim(bottom, top)
            ax.set_xticks([])
            ax.set_yticks([])
            n_read = int(read.sum())
            ops = n_read - 1
            if mode == "max":
                what = f"{ops} comparison" + ("" if ops == 1 else "s")
            else:
                what = f"{ops} addition" + ("" if ops == 1 else "s") + " + 1 division"
            ax.set_title(f"out[{i},{j}]: reads {n_read}\n{what}", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.08, hspace=0.35)
    return fig


def plot_time_vs_ops(series, ax=None, title=None):
    """Log-log plot of measured seconds against predicted operations.

    series: a dict ``label -> (ops, seconds)``, two equal-length sequences per label.
    A dotted line of slope 1 goes through each series' largest point: where the points
    follow it, time is proportional to the count; where they lie flat above it, a fixed
    cost per call (interpreter, dispatch, allocation) dominates.
    Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    markers = "osD^v<>"
    for index, (label, (ops, seconds)) in enumerate(series.items()):
        ops = np.asarray(ops, dtype=float)
        seconds = np.asarray(seconds, dtype=float)
        (line,) = ax.loglog(ops, seconds, marker=markers[index % len(markers)], label=label)
        k = int(np.argmax(ops))
        guide = np.array([ops.min(), ops.max()])
        ax.loglog(guide, seconds[k] * guide / ops[k], ":", color=line.get_color(), lw=1)
    ax.set_xlabel("predicted operations (comparisons)")
    ax.set_ylabel("measured time per call (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
