"""Pooling hyper-parameters: the one place that validates them, and output sizes by torch.

The rules are torch's (``torch.nn.functional.max_pool2d`` / ``avg_pool2d`` on CPU, torch
2.13), so that a configuration torch accepts is accepted here and one torch rejects raises a
``ValueError`` that names the argument and the rule:

- ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or a pair ``(h, w)``
  (torch also accepts a 1-tuple); bools and floats are not ints. ``stride=None`` or ``()``
  means "same as ``kernel_size``".
- ``kernel_size >= 1``, ``stride >= 1``, ``padding >= 0``, ``dilation >= 1``.
- ``padding <= kernel_size // 2`` in each direction. Dilation does not enter: torch checks
  padding against the kernel size, not the effective (dilated) kernel size.
- The output must have at least one row and one column.

``pool_args`` validates the hyper-parameters (everything that does not depend on the input);
every module of the course that takes them calls it. ``pool2d_out_hw`` asks torch itself, on
the ``meta`` device (shapes only, no data), for the output size: the plots and widgets need
output sizes, and the formula is an exercise of notebook 01, so this package does not hold it.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

__all__ = ["PoolArgs", "input_hw_pair", "pool2d_out_hw", "pool_args"]

Pair = tuple[int, int]


class PoolArgs(NamedTuple):
    """Validated hyper-parameters of a 2-D pooling, each a pair ``(along height, along width)``."""

    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    ceil_mode: bool


def _as_int(value) -> int | None:
    """``value`` as a Python int, or None if it is not an integer (bools and floats are not)."""
    if isinstance(value, (bool, np.bool_, np.ndarray)):
        return None  # True is an int to Python but not to torch; torch takes no arrays here
    try:
        return operator.index(value)  # int, numpy integer, or anything else with __index__
    except TypeError:
        return None


def _int(name: str, value) -> int:
    """Validate an int argument (no bools, no floats)."""
    result = _as_int(value)
    if result is None:
        raise ValueError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    return result


def int_in_range(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound when ``high`` is None), or a
    ``ValueError`` that names the argument and the rule."""
    result = _int(name, value)
    if high is None and result < low:
        raise ValueError(f"{name} must be at least {low}, got {result}")
    if high is not None and not low <= result <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {result}")
    return result


def _pair(name: str, value) -> Pair:
    """An int or a pair of ints as a pair ``(h, w)``. A 1-tuple counts as an int, like torch."""
    if isinstance(value, (tuple, list)) and len(value) in (1, 2):
        items = [_as_int(item) for item in value]
        if None not in items:
            return (items[0], items[-1])
    else:
        item = _as_int(value)
        if item is not None:
            return (item, item)
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def _is_default_stride(stride) -> bool:
    """``stride=None`` or an empty tuple/list means "same as the kernel size", as in torch."""
    return stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)


def _show(pair: Pair):
    """A pair as the user would write it: ``3`` for ``(3, 3)``, else ``(2, 3)``."""
    return pair[0] if pair[0] == pair[1] else pair


def pool_args(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> PoolArgs:
    """Validate pooling hyper-parameters by torch's rules; return them as pairs.

    Args:
        kernel_size, stride, padding, dilation: int or pair ``(h, w)``, as in
            ``torch.nn.functional.max_pool2d``; ``stride=None`` means ``kernel_size``.
        ceil_mode: bool.

    Returns:
        ``PoolArgs`` with every argument as a pair ``(h, w)``.

    Raises:
        ValueError: naming the argument and the rule it breaks (see the module docstring).

    >>> pool_args(3, padding=1)
    PoolArgs(kernel_size=(3, 3), stride=(3, 3), padding=(1, 1), dilation=(1, 1), ceil_mode=False)
    """
    if not isinstance(ceil_mode, bool):  # torch takes a bool only, not 1 or numpy.bool_
        raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    kernel = _pair("kernel_size", kernel_size)
    if _is_default_stride(stride):
        stride = kernel
    args = PoolArgs(
        kernel_size=kernel,
        stride=_pair("stride", stride),
        padding=_pair("padding", padding),
        dilation=_pair("dilation", dilation),
        ceil_mode=ceil_mode,
    )
    for name, least in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        pair = getattr(args, name)
        if min(pair) < least:
            rule = "non-negative" if least == 0 else "positive"
            raise ValueError(f"{name} must be {rule}, got {_show(pair)}")
    square = args.padding[0] == args.padding[1] and kernel[0] == kernel[1]
    for pad, k, axis in zip(args.padding, kernel, ("height", "width"), strict=True):
        if pad > k // 2:
            where = "" if square else f" along the {axis}"
            raise ValueError(
                f"padding {pad} exceeds half the kernel size {k} (at most {k // 2}){where}; "
                "torch requires padding <= kernel_size // 2, whatever the dilation"
            )
    return args


def input_hw_pair(input_hw) -> Pair:
    """Validate an input's spatial size ``(H, W)``: a pair of positive ints."""
    if not (isinstance(input_hw, (tuple, list)) and len(input_hw) == 2):
        raise ValueError(f"input_hw must be a pair (H, W) of ints, got {input_hw!r}")
    hw = (_int("input_hw[0] (H)", input_hw[0]), _int("input_hw[1] (W)", input_hw[1]))
    for name, size in zip(("input_hw[0] (H)", "input_hw[1] (W)"), hw, strict=True):
        if size < 1:
            raise ValueError(f"{name} must be positive, got {size}")
    return hw


def pool2d_out_hw(
    input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
) -> Pair:
    """Output ``(height, width)`` of 2-D pooling, as torch computes it (on the meta device).

    Args:
        input_hw: ``(H, W)``, positive ints.
        kernel_size, stride, padding, dilation, ceil_mode: as in :func:`pool_args`.

    Returns:
        ``(H_out, W_out)``: the shape ``F.max_pool2d`` gives an input of spatial size
        ``input_hw`` (average pooling has the same, with ``dilation=1``).

    Raises:
        ValueError: an argument breaks torch's rules, or the window does not fit the padded
        input (the output would be empty).
    """
    import torch
    import torch.nn.functional as F

    args = pool_args(kernel_size, stride, padding, dilation, ceil_mode)
    x = torch.empty((1, 1, *input_hw_pair(input_hw)), device="meta")
    try:
        out = F.max_pool2d(x, *args[:4], ceil_mode=args.ceil_mode).shape[-2:]
    except RuntimeError:  # torch: "Output size is too small"
        k, s, p, d = args[:4]
        hw = x.shape[-2:]
        raise ValueError(
            f"the window does not fit: input {hw[0]}×{hw[1]} with kernel {_show(k)}, stride "
            f"{_show(s)}, padding {_show(p)}, dilation {_show(d)}"
            f"{', ceil_mode=True' if args.ceil_mode else ''} gives an empty output "
            "(torch requires at least 1 row and 1 column)"
        ) from None
    return (int(out[0]), int(out[1]))
