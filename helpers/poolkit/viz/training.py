"""Loss curves of SGD on the worked example, and the learning-rate slider.

The model is notebook 05's: a kernel is convolved (valid, no bias) with one image ``x``, a
single window averages all of the result into ``S``, and the loss is ``(S - target) ** 2``.

- ``loss_curve(x, kernel, target, lr, steps=20, lr_critical=None)``: run plain SGD with
  ``torch.optim.SGD`` and return a ``LossCurve`` (the loss before each step and after the
  last, the loss's factor per step, a one-line message). Pure: no widgets, no plotting,
  so tests can check it against torch.
- ``plot_loss_curves(curves, ax=None, title=None)``: loss against step on a log scale.
- ``learning_rate_slider(x, kernel, target, lr_critical, ...)``: the thin ipywidgets
  wrapper: a log-scale learning-rate slider and a steps slider that redraw the curve.

A run whose loss passes ``DIVERGED`` is stopped; the rest of its curve is NaN and its
message says at which step, so the slider never shows an overflow or a traceback. A loss
below ``ROUNDING`` times the starting loss is rounding error: messages show it as "≈0" and
plots draw it as a marker on the bottom edge, so run-dependent noise never appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DIVERGED", "LossCurve", "learning_rate_slider", "loss_curve", "plot_loss_curves"]

DIVERGED = 1e100
MAX_STEPS = 1000
# A loss this small relative to the starting loss is zero up to rounding error.
ROUNDING = 1e-20


@dataclass(frozen=True)
class LossCurve:
    """The losses of one SGD run.

    lr: the learning rate. losses: (steps + 1,) float64, the loss before step 1, 2, ... and
    after the last step; NaN after a divergence. factor: ``losses[1] / losses[0]``, the
    loss's factor per step (constant for this model), NaN if the first loss is 0.
    kernel: the kernel after the run (NaN after a divergence). message: one line.
    """

    lr: float
    losses: np.ndarray
    factor: float
    kernel: np.ndarray
    message: str


def _check_inputs(x, kernel, target):
    x_arr = np.asarray(x, dtype=np.float64)
    k_arr = np.asarray(kernel, dtype=np.float64)
    if x_arr.ndim != 2 or k_arr.ndim != 2:
        raise ValueError(
            f"x and kernel must be 2-D arrays, got shapes {x_arr.shape} and {k_arr.shape}"
        )
    if k_arr.shape[0] > x_arr.shape[0] or k_arr.shape[1] > x_arr.shape[1] or k_arr.size == 0:
        raise ValueError(f"kernel of shape {k_arr.shape} does not fit in x of shape {x_arr.shape}")
    target = float(target)
    if not (np.all(np.isfinite(x_arr)) and np.all(np.isfinite(k_arr)) and np.isfinite(target)):
        raise ValueError("x, kernel and target must be finite")
    return x_arr, k_arr, target


def _check_lr(lr, name: str = "lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {lr!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"{name} must be a positive finite number, got {lr!r}")
    return float(lr)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"steps must be an int, got {steps!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    return int(steps)


def _show_loss(value: float, start: float) -> str:
    return "≈0" if value <= ROUNDING * start else f"{value:.4g}"


def _verdict(factor: float) -> str:
    if np.isnan(factor):
        return "the loss is 0 from the start"
    if factor <= ROUNDING:
        return "solved in one step"
    if abs(factor - 1.0) < 1e-9:
        return "the loss stays put: the error only flips its sign"
    return "converges" if factor < 1.0 else "diverges"


def loss_curve(x, kernel, target, lr, steps: int = 20, lr_critical=None) -> LossCurve:
    """Run ``steps`` steps of plain SGD (torch.optim.SGD, no momentum) from ``kernel``.

    x: (H, W) image. kernel: (kh, kw) start kernel, no larger than x. target: number.
    lr: positive learning rate. steps: 1 to 1000. lr_critical: optional; when given, the
    message says where lr sits relative to it. Returns a ``LossCurve``; a run whose loss
    passes ``DIVERGED`` stops there and says so.
    """
    import torch
    import torch.nn.functional as F

    x_arr, k_arr, target = _check_inputs(x, kernel, target)
    lr = _check_lr(lr)
    steps = _check_steps(steps)
    if lr_critical is not None:
        lr_critical = _check_lr(lr_critical, "lr_critical")

    losses = np.full(steps + 1, np.nan)
    stopped = None
    with torch.enable_grad():
        xt = torch.from_numpy(x_arr.copy())[None, None]
        weight = torch.nn.Parameter(torch.from_numpy(k_arr.copy())[None, None])
        optimizer = torch.optim.SGD([weight], lr=lr, momentum=0.0, weight_decay=0.0)
        for t in range(steps + 1):
            sigma = F.conv2d(xt, weight)
            S = F.avg_pool2d(sigma, kernel_size=tuple(sigma.shape[-2:]))
            loss = F.mse_loss(S, torch.full_like(S, target))
            value = float(loss.item())
            if not np.isfinite(value) or value > DIVERGED:
                stopped = t
                break
            losses[t] = value
            if t == steps:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if stopped is None:
        kernel_out = weight.detach()[0, 0].numpy().copy()
    else:
        kernel_out = np.full(k_arr.shape, np.nan)

    factor = float(losses[1] / losses[0]) if losses[0] > 0 and np.isfinite(losses[1]) else np.nan
    if losses[0] > 0 and stopped == 1:
        factor = np.inf
    where = ""
    if lr_critical is not None:
        where = f" ({lr / lr_critical:.3g} × the critical {lr_critical:.5g})"
    if stopped is not None:
        message = (
            f"lr = {lr:.5g}{where}: diverges; the loss passed {DIVERGED:.0e} at step "
            f"{stopped}, so the run stopped there."
        )
    else:
        verdict = _verdict(factor)
        per_step = "" if verdict == "solved in one step" else f", × {factor:.4g} per step"
        message = (
            f"lr = {lr:.5g}{where}: loss {losses[0]:.4g} → {_show_loss(losses[-1], losses[0])} "
            f"after {steps} steps{per_step}: {verdict}."
        )
    return LossCurve(lr=lr, losses=losses, factor=factor, kernel=kernel_out, message=message)


def plot_loss_curves(curves, ax=None, title=None, labels=None):
    """Plot each ``LossCurve``'s loss against the step on a log scale. Returns the Axes.

    labels: optional list of legend labels, one per curve (default: the learning rate). A
    loss that is 0 up to rounding (at most ``ROUNDING`` times the starting loss) cannot sit
    on a log scale: it is drawn as a triangle on the bottom edge.
    """
    import matplotlib.pyplot as plt

    curves = list(curves)
    if not curves:
        raise ValueError("curves must hold at least one LossCurve")
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"labels has {len(labels)} entries for {len(curves)} curves")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    zeros = [c.losses <= ROUNDING * c.losses[0] for c in curves]
    kept = [c.losses[np.isfinite(c.losses) & ~z] for c, z in zip(curves, zeros, strict=True)]
    positive = np.concatenate(kept)
    positive = positive[positive > 0]
    floor = float(positive.min()) / 10 if positive.size else 1.0
    any_zero = False
    for n, curve in enumerate(curves):
        steps = np.arange(curve.losses.size)
        shown = curve.losses.copy()
        zero = zeros[n]
        any_zero = any_zero or bool(zero.any())
        shown[zero] = floor
        label = labels[n] if labels is not None else f"lr = {curve.lr:.4g}"
        (line,) = ax.plot(steps, shown, marker="o", markersize=3, label=label)
        if zero.any():
            ax.plot(steps[zero], shown[zero], "v", color=line.get_color(), markersize=7)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log scale)")
    if any_zero:
        ax.plot([], [], "v", color="0.3", label="loss 0 up to rounding")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def learning_rate_slider(
    x, kernel, target, lr_critical, lr=None, steps: int = 20, lr_min=None, lr_max=None
):
    """A widget: a log-scale learning-rate slider and a steps slider redraw the loss curve.

    lr_critical: the learning rate at which the loss stops shrinking; the slider spans
    ``lr_min`` to ``lr_max`` (default: a tenth of it to twice it) and starts at ``lr``
    (default 0.9 × lr_critical). The figure marks the loss of a run at lr_critical, which
    stays flat. Returns an ``ipywidgets.VBox``; its ``curve`` attribute is the
    ``LossCurve`` currently drawn.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from . import show

    x_arr, k_arr, target = _check_inputs(x, kernel, target)
    lr_critical = _check_lr(lr_critical, "lr_critical")
    lr_min = _check_lr(lr_min if lr_min is not None else lr_critical / 10, "lr_min")
    lr_max = _check_lr(lr_max if lr_max is not None else 2 * lr_critical, "lr_max")
    if lr_min >= lr_max:
        raise ValueError(f"lr_min {lr_min} must be below lr_max {lr_max}")
    lr = _check_lr(lr if lr is not None else 0.9 * lr_critical)
    steps = _check_steps(steps)

    rate = widgets.FloatLogSlider(
        value=min(max(lr, lr_min), lr_max),
        base=10,
        min=float(np.log10(lr_min)),
        max=float(np.log10(lr_max)),
        step=0.005,
        readout_format=".5f",
        description="lr",
        continuous_update=False,
    )
    n_steps = widgets.IntSlider(
        value=steps, min=1, max=60, description="steps", continuous_update=False
    )
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([rate, n_steps]), out])
    flat = loss_curve(x_arr, k_arr, target, lr_critical, 1).losses[0]

    def draw(*_):
        curve = loss_curve(x_arr, k_arr, target, rate.value, n_steps.value, lr_critical)
        box.curve = curve
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        plot_loss_curves([curve], ax=ax, labels=[f"lr = {curve.lr:.5f}"])
        ax.axhline(flat, color="0.5", lw=1, ls="--", label="at the critical lr")
        ax.legend(fontsize=8)
        fig.tight_layout()
        show(out, curve.message, fig)
        plt.close(fig)

    for control in (rate, n_steps):
        control.observe(draw, names="value")
    draw()
    return box
