"""Soft pooling between average and maximum: the β slider on a real photo.

- ``grace_hopper_gray(block=4)``: Matplotlib's sample photo of Grace Hopper in grayscale,
  values in [0, 1], shrunk by averaging ``block``×``block`` pixels (600×512 → 150×128 for 4).
- ``soft_pool_view(image, beta, kernel_size=4, kind="softmax")``: what the slider shows for
  one setting: average, soft and max pooling of the image (stride = kernel, no padding), and
  the mean absolute distance of the soft result to each. Pure: no widgets, no plotting, and a
  bad setting gives ``ok=False`` and a message instead of an exception.
- ``distance_curves(image, betas, kernel_size=4, kinds=KINDS)``: those distances over many β.
- ``plot_soft_view(view)``, ``plot_distance_curves(betas, curves)``: the pictures.
- ``soft_slider(image, ...)``: the thin ipywidgets wrapper around ``soft_pool_view``.

The kinds (``KINDS``), each over the n = k² values of a window, all tending to the maximum
as β → ∞:

- ``"softmax"``: Σ softmax(β·x)·x, which tends to the mean as β → 0;
- ``"lse"``: (1/β)·log Σ exp(β·x), which lies between max and max + log(n)/β and tends to
  mean + log(n)/β as β → 0, so it diverges;
- ``"log-mean-exp"``: lse − log(n)/β = (1/β)·log((1/n)·Σ exp(β·x)), which tends to the mean.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "KINDS",
    "SoftPoolView",
    "distance_curves",
    "grace_hopper_gray",
    "plot_distance_curves",
    "plot_soft_view",
    "soft_pool_view",
    "soft_slider",
]

KINDS = ("softmax", "lse", "log-mean-exp")
_LABELS = {
    "softmax": "softmax-weighted",
    "lse": "log-sum-exp",
    "log-mean-exp": "log-mean-exp",
}


def grace_hopper_gray(block: int = 4) -> np.ndarray:
    """The Grace Hopper sample photo as a float64 grayscale (H, W) array in [0, 1].

    Grey = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), then each ``block``×``block`` square
    is averaged (rows and columns that do not fill a block are dropped).
    """
    from matplotlib import cbook
    from matplotlib import image as mpimg

    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
        raise ValueError(f"block must be an int >= 1, got {block!r}")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        rgb = np.asarray(mpimg.imread(f), dtype=np.float64) / 255.0
    gray = rgb[..., :3] @ np.array([0.299, 0.587, 0.114])
    h, w = gray.shape[0] // block, gray.shape[1] // block
    return gray[: h * block, : w * block].reshape(h, block, w, block).mean(axis=(1, 3))


@dataclass
class SoftPoolView:
    """One slider setting: the three pooled images and the soft one's distances."""

    kind: str
    beta: float
    kernel_size: int
    ok: bool
    message: str = ""
    average: np.ndarray | None = None
    soft: np.ndarray | None = None
    maximum: np.ndarray | None = None
    distance_to_average: float = math.nan  # mean |soft - average|
    distance_to_maximum: float = math.nan  # mean |soft - maximum|


def _problem(image: np.ndarray, beta, kernel_size, kind) -> str:
    """Why a setting cannot be shown, or '' if it can."""
    if kind not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}; got {kind!r}"
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        return f"β must be a number; got {beta!r}"
    if not (math.isfinite(beta) and beta > 0):
        return f"β must be positive and finite; got {beta!r}"
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral):
        return f"the kernel size must be an int; got {kernel_size!r}"
    if not 1 <= kernel_size <= min(image.shape):
        return (
            f"the kernel size must be between 1 and the image's smaller side "
            f"{min(image.shape)}; got {kernel_size}"
        )
    return ""


def _image(image) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"image must be a 2-D array (H, W), got shape {arr.shape}")
    return arr


def soft_pool_view(image, beta, kernel_size=4, kind="softmax") -> SoftPoolView:
    """Average, soft and max pooling of ``image`` with a k×k kernel and stride k.

    image: (H, W) array. beta > 0. kind: one of ``KINDS``. Returns a ``SoftPoolView``; a
    setting that cannot be computed has ``ok=False`` and says why in ``message``.
    """
    import torch
    import torch.nn.functional as F

    arr = _image(image)
    problem = _problem(arr, beta, kernel_size, kind)
    if problem:
        return SoftPoolView(
            kind=str(kind), beta=math.nan, kernel_size=-1, ok=False, message=problem
        )
    k = int(kernel_size)
    x = torch.from_numpy(arr)[None, None]
    average = F.avg_pool2d(x, k)[0, 0].numpy()
    maximum = F.max_pool2d(x, k)[0, 0].numpy()
    # Every k×k window as a column (stride k, no padding), then torch's own reductions.
    windows = F.unfold(x, k, stride=k)[0]  # (k*k, number of windows)
    out_hw = (arr.shape[0] // k, arr.shape[1] // k)
    if kind == "softmax":
        soft = (torch.softmax(float(beta) * windows, dim=0) * windows).sum(dim=0)
    else:
        soft = torch.logsumexp(float(beta) * windows, dim=0) / float(beta)
        if kind == "log-mean-exp":
            soft = soft - math.log(k * k) / float(beta)
    soft = soft.reshape(out_hw).numpy()
    return SoftPoolView(
        kind=kind,
        beta=float(beta),
        kernel_size=k,
        ok=True,
        average=average,
        soft=soft,
        maximum=maximum,
        distance_to_average=float(np.mean(np.abs(soft - average))),
        distance_to_maximum=float(np.mean(np.abs(soft - maximum))),
    )


def distance_curves(image, betas, kernel_size=4, kinds=KINDS) -> dict[str, np.ndarray]:
    """kind -> (len(betas), 2) array of (distance to average, distance to maximum)."""
    arr = _image(image)
    curves = {}
    for kind in kinds:
        rows = []
        for beta in betas:
            view = soft_pool_view(arr, float(beta), kernel_size, kind)
            if not view.ok:
                raise ValueError(view.message)
            rows.append((view.distance_to_average, view.distance_to_maximum))
        curves[kind] = np.array(rows)
    return curves


def plot_distance_curves(betas, curves, ax=None):
    """Distance to the average (solid) and to the maximum (dashed) against β, log-log."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.8))
    else:
        fig = ax.figure
    betas = np.asarray(betas, dtype=np.float64)
    colours = dict(zip(KINDS, ("#1f77b4", "#d62728", "#2ca02c"), strict=True))
    for kind, dist in curves.items():
        label = _LABELS[kind]
        ax.plot(betas, dist[:, 0], "-", color=colours[kind], label=f"{label}: to average")
        ax.plot(betas, dist[:, 1], "--", color=colours[kind], label=f"{label}: to max")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("β")
    ax.set_ylabel("mean |soft − reference| (grey levels 0–1)")
    ax.legend(fontsize=8, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_soft_view(view: SoftPoolView):
    """Average | soft | max side by side on one grey scale [0, 1]. Returns the Figure."""
    import matplotlib.pyplot as plt

    if not view.ok:
        raise ValueError(f"nothing to draw: {view.message}")
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.6))
    panels = [
        ("average", view.average),
        (f"{_LABELS[view.kind]}, β = {view.beta:.3g}", view.soft),
        ("max", view.maximum),
    ]
    for ax, (title, img) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].set_xlabel(
        f"to average {view.distance_to_average:.3g}, to max {view.distance_to_maximum:.3g}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _lse_note(view: SoftPoolView) -> str:
    if view.kind != "lse":
        return ""
    offset = math.log(view.kernel_size**2) / view.beta
    return f" Log-sum-exp lies between max and max + log(n)/β = max + {offset:.3g}."


def soft_slider(image, kernel_size=4, beta=1.0, kind="softmax"):
    """A β slider (log scale), a kind menu and a kernel slider over ``image``.

    Each change redraws average | soft | max and prints the soft result's distance to each;
    a setting that cannot be computed prints why instead. Returns the widget to display.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    from . import show

    arr = _image(image)
    style = {"description_width": "60px"}
    controls = {
        "beta": w.FloatLogSlider(
            value=beta,
            base=10,
            min=-2,
            max=3,
            step=0.1,
            description="β",
            continuous_update=False,
            style=style,
        ),
        "kind": w.Dropdown(options=list(KINDS), value=kind, description="kind", style=style),
        "kernel_size": w.IntSlider(
            value=kernel_size,
            min=1,
            max=16,
            description="kernel",
            continuous_update=False,
            style=style,
        ),
    }
    out = w.Output()

    def update(*_):
        view = soft_pool_view(arr, **{name: c.value for name, c in controls.items()})
        if not view.ok:
            show(out, HTML(f"<p style='color:#b00020;font-weight:bold'>{view.message}</p>"))
            return
        fig = plot_soft_view(view)
        closer = "average" if view.distance_to_average < view.distance_to_maximum else "max"
        show(
            out,
            fig,
            HTML(
                f"<p>mean |soft − average| = {view.distance_to_average:.4g}, "
                f"mean |soft − max| = {view.distance_to_maximum:.4g}: closer to "
                f"<b>{closer}</b>.{_lse_note(view)}</p>"
            ),
        )
        plt.close(fig)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return w.VBox([w.HBox(list(controls.values())), out])
