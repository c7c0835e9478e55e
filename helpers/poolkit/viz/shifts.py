"""What one trained network sees of a moved digit (notebook 06), and the widget to explore it.

- ``shift_view(member, image, label, dy, dx)``: a ``ShiftView``, computed, not drawn: the
  digit on the canvas at offset (dy, dx), the mean over channels of the feature maps after
  each block (convolution, batch norm, ReLU, downsampling), and the predicted probabilities.
- ``plot_shift_view(view)``: those four panels side by side. Returns the Figure.
- ``shift_explorer(trained, images, labels)``: a variant menu, a seed, a digit and the two
  offsets; every change redraws the view of that network (``poolkit.viz.show`` draws it,
  so nbclient never stalls on it).

``member`` is one seed's network, ``poolkit.nets.Trained.member(i)``; ``trained`` maps each
variant's name to its ``Trained``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShiftView", "plot_shift_view", "shift_explorer", "shift_view"]


@dataclass(frozen=True)
class ShiftView:
    """canvas (H, W); maps: the channel means after each downsampling, [(h1, w1), (h2, w2)],
    of ``channels`` maps each; probabilities (10,); predicted and label: ints."""

    variant: str
    dy: int
    dx: int
    canvas: np.ndarray
    maps: list
    channels: tuple
    probabilities: np.ndarray
    predicted: int
    label: int


def shift_view(member, image, label: int, dy: int = 0, dx: int = 0) -> ShiftView:
    """Run ``member`` on ``image`` (8, 8) moved by (dy, dx) on the canvas."""
    import torch

    from poolkit import digits

    canvas = digits.place(np.asarray(image)[None], dy, dx)
    with torch.no_grad():
        maps = member.features(canvas)
        logits = member.fc(maps[-1].mean(dim=(2, 3)))
    probabilities = torch.softmax(logits[0], dim=0).double().numpy()
    return ShiftView(
        variant=member.variant, dy=int(dy), dx=int(dx), canvas=canvas[0, 0].numpy(),
        maps=[m[0].mean(dim=0).numpy() for m in maps],
        channels=tuple(m.shape[1] for m in maps), probabilities=probabilities,
        predicted=int(probabilities.argmax()), label=int(label),
    )  # fmt: skip


def plot_shift_view(view: ShiftView):
    """Input | after block 1 | after block 2 | probabilities. A block is convolution, batch
    norm, ReLU and the variant's downsampling (none for ``none``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(11, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
    panels = [
        (f"input, moved ({view.dy:+d}, {view.dx:+d})", view.canvas, "gray_r"),
        *(
            (
                f"after block {i + 1}: mean of\n{c} maps, {m.shape[0]}×{m.shape[1]}",
                m,
                "viridis",
            )
            for i, (m, c) in enumerate(zip(view.maps, view.channels, strict=True))
        ),
    ]
    for ax, (title, img, cmap) in zip(axes, panels, strict=False):
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    colours = ["#c0c0c0"] * 10
    colours[view.label] = "#4c72b0"
    if view.predicted != view.label:
        colours[view.predicted] = "#c44e52"
    bars = axes[3]
    bars.bar(range(10), view.probabilities, color=colours)
    bars.set_xticks(range(10))
    bars.set_ylim(0, 1)
    verdict = "right" if view.predicted == view.label else "wrong"
    bars.set_title(f"{view.variant}: predicts {view.predicted} ({verdict}; digit {view.label})",
                   fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def shift_explorer(trained: dict, images, labels, max_shift: int = 3):
    """Controls: variant, seed, digit (an index into ``images``), dy, dx in
    [-max_shift, max_shift]. Returns the widget to display."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from . import show

    if not trained:
        raise ValueError("trained must map at least one variant to its trained networks")
    seeds = len(next(iter(trained.values())).seeds)
    style = {"description_width": "60px"}

    def slider(name, low, high, value=0):
        return w.IntSlider(value=value, min=low, max=high, description=name,
                           continuous_update=False, style=style)  # fmt: skip

    controls = {
        "variant": w.Dropdown(options=list(trained), description="variant", style=style),
        "seed": slider("seed", 0, seeds - 1),
        "digit": slider("digit", 0, len(images) - 1),
        "dy": slider("dy", -max_shift, max_shift),
        "dx": slider("dx", -max_shift, max_shift),
    }
    out = w.Output()

    def update(*_):
        c = {name: control.value for name, control in controls.items()}
        member = trained[c["variant"]].member(c["seed"])
        view = shift_view(member, images[c["digit"]], labels[c["digit"]], c["dy"], c["dx"])
        fig = plot_shift_view(view)
        show(
            out, fig,
            f"{view.variant}, seed {c['seed']}, digit {c['digit']} (a {view.label}) moved "
            f"({view.dy:+d}, {view.dx:+d}): predicts {view.predicted} with probability "
            f"{view.probabilities[view.predicted]:.2f}",
        )  # fmt: skip
        plt.close(fig)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return w.VBox([w.HBox([controls["variant"], controls["seed"], controls["digit"]]),
                   w.HBox([controls["dy"], controls["dx"]]), out])  # fmt: skip
