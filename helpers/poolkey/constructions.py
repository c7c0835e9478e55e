"""Pooling built from other layers: convolutions, ReLUs, negation, and soft maxima.

Reference versions of the constructions in notebook 02, in torch because they are built
from ``torch.nn.functional.conv2d``. Every function takes ``x: (N, C, H, W)`` or
``(C, H, W)``, a floating-point tensor, and returns a tensor of the same dtype with the
output size of torch's pooling::

    out = floor((size + 2 * padding - kernel_size) / stride) + 1     # along each axis

- ``avg_pool_as_conv(x, kernel_size, stride=None, padding=0)``: a depthwise convolution
  (``groups=C``) with the constant kernel ``1 / (kh * kw)``; equals
  ``F.avg_pool2d(..., count_include_pad=True)``.
- ``avg_pool_exclude_pad_as_conv(x, kernel_size, stride=None, padding=0)``: window sums
  divided by a convolution of a ones mask (the number of real inputs in each window); equals
  ``F.avg_pool2d(..., count_include_pad=False)``.
- ``max_pool_net(channels, kernel_size, stride=None, dtype=None)``: an ``nn.Sequential`` of
  frozen convolutions and ReLUs that computes ``F.max_pool2d(x, kernel_size, stride)``, as a
  tree of pairwise maxima ``max(a, b) = a + relu(b - a)``; ``network_size(net)`` counts its
  layers, channels and weights, and ``max_pool_from_conv_relu(x, kernel_size, stride=None)``
  builds the network for ``x`` and applies it.
- ``min_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)``:
  ``-F.max_pool2d(-x, ...)``, so padding counts as ``+inf``.
- ``lse_pool2d(x, beta, kernel_size, stride=None, padding=0)``: ``(1/beta) log sum exp(beta x)``
  over each window, computed stably (each window's maximum is subtracted first).
- ``softmax_pool2d(x, beta, kernel_size, stride=None, padding=0)``: ``sum softmax(beta x) * x``
  over each window.

The soft poolings pad with ``-inf``, like max pooling: padding takes no part in a window.

Hyper-parameters follow torch's pooling rules, checked by ``poolkit.shapes.pool_args`` (a
bad argument raises ``ValueError`` naming the argument and the rule); the output size is
``poolkey.shapes``'s.

These are the answer key of notebook 02's exercises, so they live in ``poolkey``, not in
``poolkit``.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from poolkit.shapes import _int, pool_args
from torch import nn

from poolkey.shapes import _output_hw

__all__ = [
    "avg_pool_as_conv",
    "avg_pool_exclude_pad_as_conv",
    "lse_pool2d",
    "max_pool_from_conv_relu",
    "max_pool_net",
    "min_pool2d",
    "softmax_pool2d",
]

Pair = tuple[int, int]


# --- validation at the edge -----------------------------------------------------------


def _tensor(x) -> tuple[torch.Tensor, bool]:
    """``x`` as a 4-D floating tensor, and whether it came as 3-D (C, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() not in (3, 4):
        raise ValueError(
            f"x must have shape (N, C, H, W) or (C, H, W), got {x.dim()} dimensions "
            f"{tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"x must have a floating-point dtype, got {x.dtype}")
    return (x[None], True) if x.dim() == 3 else (x, False)


def _beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise ValueError(f"beta must be a real number, got {beta!r}")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be positive and finite, got {beta!r}")
    return float(beta)


class _Geometry(NamedTuple):
    kernel: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    out: Pair


def _geometry(x, kernel_size, stride, padding, dilation=1, ceil_mode=False) -> _Geometry:
    """Validate the hyper-parameters for the 4-D tensor ``x`` and compute the output size."""
    args = pool_args(kernel_size, stride, padding, dilation, ceil_mode)
    return _Geometry(*args[:4], _output_hw(args, tuple(x.shape[-2:])))


# --- average pooling ------------------------------------------------------------------


def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    """Average pooling as a depthwise convolution with the constant kernel 1 / (kh * kw).

    x: (N, C, H, W) or (C, H, W) floating tensor. Returns (N, C, H_out, W_out) (or
    (C, H_out, W_out)), equal to ``F.avg_pool2d(x, kernel_size, stride, padding,
    count_include_pad=True)``: zero padding counts in the divisor, as in a convolution.
    """
    x4, squeeze = _tensor(x)
    geo = _geometry(x4, kernel_size, stride, padding)
    channels = x4.shape[1]
    (kh, kw) = geo.kernel
    weight = torch.full((channels, 1, kh, kw), 1.0 / (kh * kw), dtype=x4.dtype, device=x4.device)
    out = F.conv2d(x4, weight, stride=geo.stride, padding=geo.padding, groups=channels)
    return out[0] if squeeze else out


def avg_pool_exclude_pad_as_conv(x, kernel_size, stride=None, padding=0):
    """Average pooling that ignores padding: window sums / number of real inputs per window.

    Both are convolutions: the sums with a ones kernel over x (depthwise), the counts with
    the same kernel over a ones mask of x's height and width. Equals ``F.avg_pool2d(x,
    kernel_size, stride, padding, count_include_pad=False)``. Shapes as ``avg_pool_as_conv``.
    """
    x4, squeeze = _tensor(x)
    geo = _geometry(x4, kernel_size, stride, padding)
    channels = x4.shape[1]
    ones = torch.ones((channels, 1, *geo.kernel), dtype=x4.dtype, device=x4.device)
    sums = F.conv2d(x4, ones, stride=geo.stride, padding=geo.padding, groups=channels)
    mask = torch.ones((1, 1, *x4.shape[-2:]), dtype=x4.dtype, device=x4.device)
    counts = F.conv2d(mask, ones[:1], stride=geo.stride, padding=geo.padding)
    out = sums / counts
    return out[0] if squeeze else out


# --- max pooling from convolutions and ReLUs --------------------------------------------


def _tree_layers(n: int) -> list[torch.Tensor]:
    """Per-channel weight matrices of the pairwise-maximum tree over ``n`` window positions.

    Layer 0 maps the n window values to hidden channels; every later layer maps the previous
    ReLU outputs to the next ones; the last matrix has one row, the maximum. Each level
    pairs the values ``(a, b)`` and emits ``relu(a), relu(-a), relu(b - a)``, so that the next
    layer reads ``max(a, b) = relu(a) - relu(-a) + relu(b - a)``; an odd value ``z`` is
    carried as ``relu(z), relu(-z)``. ``values`` holds each current value as a linear form in
    the previous layer's outputs.
    """
    values = torch.eye(n, dtype=torch.float64)
    layers = []
    while values.shape[0] > 1:
        rows, readout = [], []
        for j in range(0, values.shape[0] - 1, 2):
            a, b = values[j], values[j + 1]
            rows += [a, -a, b - a]
            readout.append((len(rows) - 3, (1.0, -1.0, 1.0)))
        if values.shape[0] % 2:
            z = values[-1]
            rows += [z, -z]
            readout.append((len(rows) - 2, (1.0, -1.0)))
        layers.append(torch.stack(rows))
        values = torch.zeros((len(readout), len(rows)), dtype=torch.float64)
        for i, (start, signs) in enumerate(readout):
            values[i, start : start + len(signs)] = torch.tensor(signs, dtype=torch.float64)
    layers.append(values)
    return layers


def max_pool_net(channels, kernel_size, stride=None, dtype=None):
    """An ``nn.Sequential`` of frozen convolutions and ReLUs equal to ``F.max_pool2d``.

    channels: int C >= 1. kernel_size: int or (kh, kw); stride: int, pair or None (the
    kernel size). No padding: a convolution pads with 0, max pooling with -inf. dtype: the
    weights' dtype (default: torch's default dtype).

    Layout: ``Conv2d(C, w1*C, (kh, kw), stride, groups=C)``, ReLU, then ``Conv2d(w_i*C,
    w_{i+1}*C, 1, groups=C)`` and ReLU per level, and a last 1×1 conv down to C channels. A
    tree of pairwise maxima over n = kh*kw values has ceil(log2 n) levels, so the network
    has ceil(log2 n) ReLU layers and one more convolution. Every weight is 0 or ±1, no bias,
    ``requires_grad`` is False.
    """
    channels = _int("channels", channels)
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    kernel, stride = pool_args(kernel_size, stride)[:2]
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch.dtype or None, got {dtype!r}")
    layers = _tree_layers(kernel[0] * kernel[1])
    modules: list[nn.Module] = []
    for i, matrix in enumerate(layers):
        width_out, width_in = matrix.shape
        if i == 0:
            conv = nn.Conv2d(
                channels, width_out * channels, kernel, stride=stride, groups=channels, bias=False
            )
            weight = matrix.reshape(width_out, 1, *kernel)
        else:
            conv = nn.Conv2d(
                width_in * channels, width_out * channels, 1, groups=channels, bias=False
            )
            weight = matrix.reshape(width_out, width_in, 1, 1)
        conv = conv.to(dtype) if dtype is not None else conv
        with torch.no_grad():
            conv.weight.copy_(weight.repeat(channels, 1, 1, 1))
        conv.requires_grad_(False)
        modules.append(conv)
        if i < len(layers) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def max_pool_from_conv_relu(x, kernel_size, stride=None):
    """``F.max_pool2d(x, kernel_size, stride)`` computed by ``max_pool_net`` (no padding).

    x: (N, C, H, W) or (C, H, W) floating tensor. Returns (N, C, H_out, W_out) (or 3-D).
    The network is built for x's channels and dtype; its weights are 0 and ±1, so integer
    inputs give exact results.
    """
    x4, squeeze = _tensor(x)
    geo = _geometry(x4, kernel_size, stride, 0)
    net = max_pool_net(x4.shape[1], geo.kernel, geo.stride, dtype=x4.dtype).to(x4.device)
    out = net(x4)
    return out[0] if squeeze else out


# --- min pooling ------------------------------------------------------------------------


def min_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Min pooling: ``-F.max_pool2d(-x, ...)``. Padding counts as +inf (it never wins).

    x: (N, C, H, W) or (C, H, W) floating tensor; the arguments and the output shape are
    those of ``F.max_pool2d``.
    """
    x4, squeeze = _tensor(x)
    geo = _geometry(x4, kernel_size, stride, padding, dilation, ceil_mode)
    out = -F.max_pool2d(-x4, geo.kernel, geo.stride, geo.padding, geo.dilation, ceil_mode)
    return out[0] if squeeze else out


# --- soft pooling ---------------------------------------------------------------------


def _windows(x4, geo: _Geometry, fill: float) -> torch.Tensor:
    """(N, C, kh*kw, H_out, W_out): every window's values, padding filled with ``fill``."""
    n, c = x4.shape[:2]
    ph, pw = geo.padding
    padded = F.pad(x4, (pw, pw, ph, ph), value=fill)
    cols = F.unfold(padded, geo.kernel, stride=geo.stride)  # (N, C*kh*kw, L), channel-major
    return cols.reshape(n, c, geo.kernel[0] * geo.kernel[1], *geo.out)


def lse_pool2d(x, beta, kernel_size, stride=None, padding=0):
    """Log-sum-exp pooling ``(1/beta) * log(sum over the window of exp(beta * x))``.

    x: (N, C, H, W) or (C, H, W) floating tensor; beta > 0. Padding is -inf (it adds
    exp(-inf) = 0). Stable for any magnitude: with m the window's maximum,
    ``m + (1/beta) * log(sum exp(beta * (x - m)))``, whose largest term is exp(0) = 1.
    Between ``max`` and ``max + log(n)/beta`` for a window of n real inputs.
    """
    x4, squeeze = _tensor(x)
    beta = _beta(beta)
    geo = _geometry(x4, kernel_size, stride, padding)
    win = _windows(x4, geo, float("-inf"))
    m = win.amax(dim=2, keepdim=True)
    out = (m + torch.log(torch.exp(beta * (win - m)).sum(dim=2, keepdim=True)) / beta)[:, :, 0]
    return out[0] if squeeze else out


def softmax_pool2d(x, beta, kernel_size, stride=None, padding=0):
    """Softmax-weighted pooling ``sum over the window of softmax(beta * x) * x``.

    x: (N, C, H, W) or (C, H, W) floating tensor; beta > 0. Padding gets weight 0. Tends
    to the window's maximum as beta -> inf and to the mean of its real inputs as beta -> 0.
    """
    x4, squeeze = _tensor(x)
    beta = _beta(beta)
    geo = _geometry(x4, kernel_size, stride, padding)
    weights = torch.softmax(beta * _windows(x4, geo, float("-inf")), dim=2)
    out = (weights * _windows(x4, geo, 0.0)).sum(dim=2)
    return out[0] if squeeze else out
