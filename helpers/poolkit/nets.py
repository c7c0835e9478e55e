"""Notebook 06's small CNN, five ways of downsampling, trained on the digits.

One network, ``VARIANTS`` ways of halving the feature maps::

    conv 3×3, 1 → 8, padding 1, no bias · batch norm · ReLU · DOWN
    conv 3×3, 8 → 16, padding 1, no bias · batch norm · ReLU · DOWN
    global average pooling · linear 16 → 10

==========  ===========================================================================
variant     DOWN
==========  ===========================================================================
max         ``F.max_pool2d(2)``
avg         ``F.avg_pool2d(2)``
strided     nothing: the convolution before it has stride 2
blur        ``F.max_pool2d(2, stride=1)``, then the blur function the caller passes (the
            notebook's ``blur_pool2d(x, stride=2)``): Zhang (2019)'s anti-aliased max pooling
none        nothing: the maps stay 16×16
==========  ===========================================================================

Every variant has the same 1,442 parameters. The convolutions have no bias: batch norm
subtracts each channel's mean right after them, so a bias there would have no effect and a
gradient of pure rounding error, which Adam, dividing by the gradient's size, would turn
into steps of full size. poolkit holds no blur filter: the blur variant
runs the function it is given, so in a student's notebook it runs the student's own.

Several seeds train at once as one grouped network (the seeds' channels side by side: the
first convolution holds every seed's filters, the second has ``groups=len(seeds)``). Each
seed gets the weights it would get alone, up to rounding (the sums run in another order):
seed ``s`` initialises its slice as ``torch.manual_seed(s)`` then PyTorch's default layers
would, and no parameter is shared. All seeds see the same batches. Training is plain Adam,
written out here because importing ``torch.optim`` adds to every run's start, with
cross-entropy and batch statistics; batch norm keeps running statistics as
``nn.BatchNorm2d`` does (momentum 0.1), and evaluation uses them.
``benchmarks/notebook06_training.py`` times the grouping and the import against their
baselines.

- ``train(variant, images, labels, seeds, steps, ...)`` → ``Trained``.
- ``Trained.logits(x)``: (N, 1, H, W) → (N, len(seeds), 10).
- ``Trained.member(i)``: seed ``seeds[i]`` alone, as an ``nn.Module`` in eval mode:
  (N, 1, H, W) → (N, 10), with ``.features(x)``, the maps after each DOWN.
- ``accuracy_by_shift(trained, images, labels, max_shift)``: accuracy at every offset.
- ``LAYERS[variant]``: its layers as ``(kernel, stride, dilation)``, for receptive fields.
- ``operation_counts(variant)``: the arithmetic of one image, layer by layer (03's counts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from poolkit import digits

__all__ = [
    "LAYERS",
    "OPERATIONS",
    "VARIANTS",
    "Trained",
    "accuracy_by_shift",
    "operation_counts",
    "train",
]

VARIANTS = ("max", "avg", "strided", "blur", "none")
# What each variant does after each convolution block: (layer, kernel, stride). "blur" is the
# caller's blur (a 3×3 filter on a reflect-padded map, padding 1); the strided variant's
# convolutions have stride 2 instead. _down runs these; LAYERS and operation_counts read them.
_DOWNS = {
    "max": [("max pooling", 2, 2)],
    "avg": [("average pooling", 2, 2)],
    "strided": [],
    "blur": [("max pooling", 2, 1), ("blur", 3, 2)],
    "none": [],
}
# Each variant's layers up to global pooling, as (kernel, stride, dilation) along one axis:
# what notebook 06's receptive-field exercise reads. Batch norm and ReLU act on one pixel.
LAYERS = {
    variant: 2 * [(3, 2 if variant == "strided" else 1, 1), *((k, s, 1) for _, k, s in downs)]
    for variant, downs in _DOWNS.items()
}
WIDTHS = (1, 8, 16)
CLASSES = 10
EPS, MOMENTUM = 1e-5, 0.1  # batch norm's, as nn.BatchNorm2d
ADAM = (0.9, 0.999, 1e-8)


def _down(variant: str, blur, x: torch.Tensor) -> torch.Tensor:
    """The variant's downsampling after a block, as ``_DOWNS`` lists it."""
    for layer, kernel, stride in _DOWNS[variant]:
        if layer == "blur":
            x = blur(x, stride=stride)
        elif layer == "average pooling":
            x = F.avg_pool2d(x, kernel, stride)
        elif stride == 1 and kernel == 2 and not x.requires_grad:
            # Evaluation takes the faster forward of two maxima; training takes torch's max
            # pooling, whose backward is fast and sends a tie's gradient to one input.
            x = _max_2x2_stride_1(x)
        else:
            x = F.max_pool2d(x, kernel, stride)
    return x


def _max_2x2_stride_1(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2, stride=1)``, as two maxima of shifted views: the same values,
    several times faster on CPU for the large batches of evaluation (torch's kernel for
    stride 1 does not vectorise; ``benchmarks/notebook06_training.py`` measures both). Not
    for training: ``torch.maximum``'s backward is slower, and splits a tie's gradient."""
    rows = torch.maximum(x[..., :-1, :], x[..., 1:, :])
    return torch.maximum(rows[..., :-1], rows[..., 1:])


def _init(seeds) -> dict[str, torch.Tensor]:
    """Each seed's layers as PyTorch initialises them, stacked seed by seed."""
    parts: dict[str, list[torch.Tensor]] = {}
    for seed in seeds:
        torch.manual_seed(seed)
        layers = {
            "conv1": nn.Conv2d(WIDTHS[0], WIDTHS[1], 3, padding=1, bias=False),
            "conv2": nn.Conv2d(WIDTHS[1], WIDTHS[2], 3, padding=1, bias=False),
            "fc": nn.Linear(WIDTHS[2], CLASSES),
        }
        for name, layer in layers.items():
            weight = layer.weight.detach()
            parts.setdefault(f"{name}.weight", []).append(
                weight.T if name == "fc" else weight  # fc as (in, out) for einsum
            )
            if layer.bias is not None:
                parts.setdefault(f"{name}.bias", []).append(layer.bias.detach())
        for i in (1, 2):
            parts.setdefault(f"bn{i}.weight", []).append(torch.ones(WIDTHS[i]))
            parts.setdefault(f"bn{i}.bias", []).append(torch.zeros(WIDTHS[i]))
    stack = {"fc.weight", "fc.bias"}
    return {
        name: (torch.stack(ts) if name in stack else torch.cat(ts)).contiguous()
        for name, ts in parts.items()
    }


@dataclass
class Trained:
    """Networks of one variant, one per seed, trained together.

    params: the grouped parameters, seed after seed (``conv1.weight`` (S·8, 1, 3, 3), ...
    ``fc.weight`` (S, 16, 10)). stats: batch norm's running mean and variance per channel
    (``bn1.mean`` ...), kept as ``nn.BatchNorm2d`` keeps them. seconds: the wall time of
    training.
    """

    variant: str
    seeds: tuple[int, ...]
    blur: object
    params: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0

    def _layer(
        self, i: int, h: torch.Tensor, training: bool, momentum: float = MOMENTUM
    ) -> torch.Tensor:
        """Layer ``i``'s convolution, batch norm and ReLU (not its DOWN). Training: batch
        statistics, and the running ones moved towards them by ``momentum``."""
        p = self.params
        stride = 2 if self.variant == "strided" else 1
        # The first layer's groups all read the same one channel: one ordinary convolution
        # with every seed's filters does it.
        groups = 1 if i == 1 else len(self.seeds)
        h = F.conv2d(h, p[f"conv{i}.weight"], None, stride, 1, 1, groups)
        h = F.batch_norm(
            h, self.stats[f"bn{i}.mean"], self.stats[f"bn{i}.var"], p[f"bn{i}.weight"],
            p[f"bn{i}.bias"], training=training, momentum=momentum, eps=EPS,
        )  # fmt: skip
        return F.relu(h)

    def _after_first_layer(
        self, h: torch.Tensor, training: bool = False, momentum: float = MOMENTUM
    ) -> torch.Tensor:
        h = self._layer(2, _down(self.variant, self.blur, h), training, momentum)
        pooled = _down(self.variant, self.blur, h).mean(dim=(2, 3))
        pooled = pooled.view(len(h), len(self.seeds), WIDTHS[2])
        return (
            torch.einsum("nsi,sio->nso", pooled, self.params["fc.weight"]) + self.params["fc.bias"]
        )

    def _forward(self, x, training=False, momentum=MOMENTUM):
        """Logits (N, S, 10)."""
        h = self._layer(1, x, training, momentum)
        return self._after_first_layer(h, training, momentum)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
        """(N, 1, H, W) → logits (N, S, 10), with the training set's statistics."""
        return torch.cat([self._forward(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    def member(self, index: int) -> nn.Module:
        """Seed ``seeds[index]`` alone, as a module in eval mode: (N, 1, H, W) → (N, 10)."""
        return _Member(self, index)


class _Member(nn.Module):
    """One seed's network, with real layers (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``fc``)."""

    def __init__(self, trained: Trained, index: int):
        super().__init__()
        self.variant, self.blur = trained.variant, trained.blur
        stride = 2 if trained.variant == "strided" else 1
        p, s = trained.params, index
        self.conv1 = nn.Conv2d(WIDTHS[0], WIDTHS[1], 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[1], eps=EPS)
        self.conv2 = nn.Conv2d(WIDTHS[1], WIDTHS[2], 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(WIDTHS[2], eps=EPS)
        self.fc = nn.Linear(WIDTHS[2], CLASSES)
        with torch.no_grad():
            for i, width in ((1, WIDTHS[1]), (2, WIDTHS[2])):
                rows = slice(s * width, (s + 1) * width)
                conv, bn = getattr(self, f"conv{i}"), getattr(self, f"bn{i}")
                conv.weight.copy_(p[f"conv{i}.weight"][rows])
                bn.weight.copy_(p[f"bn{i}.weight"][rows])
                bn.bias.copy_(p[f"bn{i}.bias"][rows])
                bn.running_mean.copy_(trained.stats[f"bn{i}.mean"][rows])
                bn.running_var.copy_(trained.stats[f"bn{i}.var"][rows])
            self.fc.weight.copy_(p["fc.weight"][s].T)
            self.fc.bias.copy_(p["fc.bias"][s])
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps after each DOWN: [(N, 8, h1, w1), (N, 16, h2, w2)]."""
        maps = []
        h = x
        for i in (1, 2):
            h = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h))
            h = _down(self.variant, self.blur, F.relu(h))
            maps.append(h)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)[-1].mean(dim=(2, 3)))


def _adam_step(params, grads, moments, step, lr):
    beta1, beta2, eps = ADAM
    for name, p in params.items():
        m, v = moments[name]
        m.mul_(beta1).add_(grads[name], alpha=1 - beta1)
        v.mul_(beta2).addcmul_(grads[name], grads[name], value=1 - beta2)
        denom = (v / (1 - beta2**step)).sqrt_().add_(eps)
        p.addcdiv_(m, denom, value=-lr / (1 - beta1**step))


def train(
    variant: str,
    images: torch.Tensor,
    labels,
    seeds=(0, 1, 2),
    steps: int = 100,
    batch_size: int = 32,
    lr: float = 0.01,
    blur=None,
    data_seed: int = 0,
    recalibrate: int = 0,
) -> Trained:
    """Train one network per seed on ``images`` (N, 1, H, W) float32 and ``labels`` (N,).

    The batches come from ``torch.Generator().manual_seed(data_seed)``: a fresh permutation
    of the training set per epoch, ``batch_size`` digits per step. The blur variant needs
    ``blur``: a function ``blur(x, stride=2)`` of an (N, C, H, W) tensor.

    ``recalibrate``: after the last step, batch norm's running statistics are recomputed
    from the first ``recalibrate`` training digits (all, if fewer) in one batch (0: kept as
    training left them). The moving average mixes statistics of earlier weights; after a short, fast
    training those are far from the final weights' own, and the network evaluates poorly
    ("precise BN", Wu & Johnson 2021, *Rethinking "Batch" in BatchNorm*). The result is what
    ``nn.BatchNorm2d(momentum=None)`` keeps after ``reset_running_stats()`` and one forward
    pass in training mode over the same digits.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    if variant == "blur" and not callable(blur):
        raise ValueError("the blur variant needs blur=, a function blur(x, stride=2)")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    images = torch.as_tensor(images, dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if images.ndim != 4 or images.shape[1] != 1 or len(labels) != len(images):
        raise ValueError(
            f"images must be (N, 1, H, W) with one label each; got {tuple(images.shape)} "
            f"and {len(labels)} labels"
        )
    from poolkit.shapes import int_in_range

    recalibrate = int_in_range("recalibrate", recalibrate, 0)
    start = time.perf_counter()
    trained = Trained(variant, seeds, blur if variant == "blur" else None, _init(seeds))
    for i in (1, 2):  # as nn.BatchNorm2d starts them
        trained.stats[f"bn{i}.mean"] = torch.zeros(len(seeds) * WIDTHS[i])
        trained.stats[f"bn{i}.var"] = torch.ones(len(seeds) * WIDTHS[i])
    params = trained.params
    for p in params.values():
        p.requires_grad_(True)
    moments = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params.items()}
    generator = torch.Generator().manual_seed(data_seed)
    order = torch.empty(0, dtype=torch.int64)
    for step in range(1, steps + 1):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(images), generator=generator)])
        batch, order = order[:batch_size], order[batch_size:]
        logits = trained._forward(images[batch], training=True)
        target = labels[batch, None].expand(-1, len(seeds))
        loss = F.cross_entropy(logits.transpose(1, 2), target) * len(seeds)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
        with torch.no_grad():
            _adam_step(params, grads, moments, step, lr)
    for p in params.values():
        p.requires_grad_(False)
    if recalibrate:
        with torch.no_grad():  # momentum 1: the running statistics become this batch's
            trained._forward(images[:recalibrate], training=True, momentum=1.0)
    trained.steps = steps
    trained.seconds = time.perf_counter() - start
    return trained


OPERATIONS = ("multiply_adds", "comparisons", "additions", "divisions")


def operation_counts(variant: str, canvas: int = digits.CANVAS) -> list[dict]:
    """The arithmetic one network does on one ``canvas`` × ``canvas`` image, layer by layer,
    under notebook 03's conventions: a convolution output costs one multiply-add per weight
    (padding's zeros included, bias not counted); a max window of n inputs n − 1 comparisons;
    an average window n − 1 additions and 1 division; global average pooling is an average
    window as large as the map. Batch norm and ReLU (one operation per element, the same in
    every variant) are left out. Each row: ``layer``, ``shape`` (C, H, W) of its output and
    the four counts of ``OPERATIONS``; output sizes are asked of torch
    (``poolkit.shapes.pool2d_out_hw``)."""
    from poolkit.shapes import int_in_range, pool2d_out_hw

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    canvas = int_in_range("canvas", canvas, 4)
    stride = 2 if variant == "strided" else 1
    rows, channels, hw = [], WIDTHS[0], (canvas, canvas)

    def row(layer, out_channels, out_hw, **counts):
        rows.append({"layer": layer, "shape": (out_channels, *out_hw),
                     **{op: counts.get(op, 0) for op in OPERATIONS}})  # fmt: skip
        return out_channels * out_hw[0] * out_hw[1]

    for i in (1, 2):
        out_hw = pool2d_out_hw(hw, 3, stride, 1)
        outputs = WIDTHS[i] * out_hw[0] * out_hw[1]
        row(f"conv{i} 3×3", WIDTHS[i], out_hw, multiply_adds=outputs * channels * 9)
        channels, hw = WIDTHS[i], out_hw
        for layer, kernel, down_stride in _DOWNS[variant]:
            padding = 1 if layer == "blur" else 0
            hw = pool2d_out_hw(hw, kernel, down_stride, padding)
            outputs = channels * hw[0] * hw[1]
            window = kernel * kernel
            if layer == "blur":
                row(f"blur {kernel}×{kernel}, stride {down_stride}", channels, hw,
                    multiply_adds=outputs * window)  # fmt: skip
            elif layer == "max pooling":
                row(f"max pooling {kernel}×{kernel}, stride {down_stride}", channels, hw,
                    comparisons=outputs * (window - 1))  # fmt: skip
            else:
                row(f"average pooling {kernel}×{kernel}, stride {down_stride}", channels, hw,
                    additions=outputs * (window - 1), divisions=outputs)  # fmt: skip
    cells = hw[0] * hw[1]
    row("global average pooling", channels, (1, 1), additions=channels * (cells - 1),
        divisions=channels)  # fmt: skip
    row("linear", CLASSES, (1, 1), multiply_adds=channels * CLASSES)
    return rows


def accuracy_by_shift(trained: Trained, images, labels, max_shift: int = digits.MAX_SHIFT):
    """Accuracy (S, 2m + 1, 2m + 1) float64 of each seed's network on ``images`` (N, 8, 8)
    placed at every offset (dy, dx), |dy|, |dx| <= ``max_shift``: entry [s, m + dy, m + dx].

    The first layer (a convolution with stride 1, then batch norm and ReLU, all of which
    commute with a shift) runs once, on the centred digits, and its maps are rolled to each
    offset: the maps the moved digits would give, since every moved digit stays at least
    ``BORDER - max_shift`` >= 1 pixel, the convolution's reach, inside the canvas.
    ``tests/test_nets.py`` compares it with running each moved digit through the network.
    The strided variant's first convolution has stride 2 and does not commute with a shift
    of one pixel: it runs on every moved digit.
    """
    offsets = digits.shifts(max_shift)
    with torch.no_grad():
        if trained.variant == "strided":
            maps = None
            canvases = torch.cat([digits.place(images, dy, dx) for dy, dx in offsets])
            predicted = trained.logits(canvases).argmax(dim=-1)  # (len(offsets) · N, S)
        else:
            maps = trained._layer(1, digits.place(images), training=False)
            predicted = torch.cat([
                trained._after_first_layer(torch.roll(maps, offset, dims=(2, 3))).argmax(-1)
                for offset in offsets
            ])  # fmt: skip
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).repeat(len(offsets))
    correct = (predicted == labels[:, None]).double()
    side = 2 * max_shift + 1
    return correct.view(side, side, len(images), -1).mean(dim=2).permute(2, 0, 1).numpy()
