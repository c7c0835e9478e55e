"""Notebook 06's answer key: blur pooling, receptive fields, and shift consistency.

- ``blur_pool2d(x, stride=2)``: anti-aliased downsampling after Zhang (2019), "Making
  Convolutional Networks Shift-Invariant Again": pad each side of ``x`` (N, C, H, W) by 1
  with reflection, convolve every channel on its own (a depthwise convolution,
  ``groups=C``) with the binomial filter ``BINOMIAL``, [1, 2, 1]ᵀ[1, 2, 1] / 16, and keep
  every ``stride``-th output. Output (N, C, ⌊(H - 1) / stride⌋ + 1, ⌊(W - 1) / stride⌋ + 1).
- ``receptive_field(layers)``: for layers ``(kernel, stride, dilation)`` applied in order,
  the receptive field after each: ``(size, jump)``, where ``size`` is its extent along one
  axis, from the first input that reaches one output to the last (with dilation, some
  inputs in between may not reach it), and ``jump`` how far apart, in inputs, neighbouring
  outputs' fields start. With ``size = jump = 1`` before the first layer, each layer does
  ``size += (kernel - 1) * dilation * jump`` then ``jump *= stride``.
- ``shift_consistency(model, images, max_shift)``: how often the predicted class stays the
  same when the input moves by one pixel. Every image is rolled (``torch.roll``) to every
  offset ``(dy, dx)`` with ``|dy|, |dx| <= max_shift``, and every pair of offsets one pixel
  apart, vertically or horizontally, is compared: the fraction of (image, pair) whose two
  predictions (``argmax`` of the logits) agree.

These are the model answers of notebook 06's exercises, so they live in ``poolkey``, not in
``poolkit``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from poolkit.shapes import int_in_range

__all__ = ["BINOMIAL", "blur_pool2d", "receptive_field", "shift_consistency"]

_TAPS = torch.tensor([1.0, 2.0, 1.0])
BINOMIAL = torch.outer(_TAPS, _TAPS) / 16  # (3, 3), sums to 1


def blur_pool2d(x: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Blur every channel of ``x`` (N, C, H, W) with ``BINOMIAL`` (reflect padding 1), then
    keep every ``stride``-th row and column: (N, C, ⌊(H-1)/stride⌋ + 1, ⌊(W-1)/stride⌋ + 1).
    H and W must be at least 2 (reflection needs a neighbour)."""
    stride = int_in_range("stride", stride, 1)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError("x must be a floating-point tensor of shape (N, C, H, W)")
    if min(x.shape[2:]) < 2:
        raise ValueError(f"x's height and width must be at least 2, got {tuple(x.shape[2:])}")
    channels = x.shape[1]
    kernel = BINOMIAL.to(x.dtype).expand(channels, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel, stride=stride,
                    groups=channels)  # fmt: skip


def receptive_field(layers) -> list[tuple[int, int]]:
    """``[(size, jump), ...]``, one per layer of ``layers``, a list of
    ``(kernel, stride, dilation)`` of positive ints."""
    out, size, jump = [], 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 3:
            raise ValueError(f"layers[{index}] must be (kernel, stride, dilation), got {layer!r}")
        kernel, stride, dilation = (
            int_in_range(f"layers[{index}]'s {name}", value, 1)
            for name, value in zip(("kernel", "stride", "dilation"), layer, strict=True)
        )
        size += (kernel - 1) * dilation * jump
        jump *= stride
        out.append((size, jump))
    return out


@torch.no_grad()
def shift_consistency(model, images: torch.Tensor, max_shift: int) -> float:
    """The fraction of (image, pair of offsets one pixel apart) on which ``model``'s
    predicted class stays the same; ``images`` (N, 1, H, W), offsets up to ``max_shift``."""
    max_shift = int_in_range("max_shift", max_shift, 1)
    side = 2 * max_shift + 1
    predicted = torch.stack([
        torch.stack([
            model(torch.roll(images, (dy, dx), dims=(2, 3))).argmax(dim=-1)
            for dx in range(-max_shift, max_shift + 1)
        ])
        for dy in range(-max_shift, max_shift + 1)
    ])  # (side, side, N)  # fmt: skip
    down = predicted[1:] == predicted[:-1]  # (dy, dx) against (dy + 1, dx)
    right = predicted[:, 1:] == predicted[:, :-1]
    agree = down.sum() + right.sum()
    pairs = 2 * side * (side - 1) * images.shape[0]
    return float(agree) / pairs
