"""Output sizes of 2-D pooling, and the rules its hyper-parameters must follow.

The rules are torch's (``torch.nn.functional.max_pool2d`` / ``avg_pool2d`` on CPU, torch
2.13), so that a configuration torch accepts is accepted here and one torch rejects raises a
``ValueError`` that names the argument and the rule:

- ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or a pair ``(h, w)``
  (torch also accepts a 1-tuple); bools and floats are not ints. ``stride=None`` or ``()``
  means "same as ``kernel_size``".
- ``kernel_size >= 1``, ``stride >= 1``, ``padding >= 0``, ``dilation >= 1``.
- ``padding <= kernel_size // 2`` in each direction. Dilation does not enter: torch checks
  padding against the kernel size, not the effective (dilated) kernel size.
- Along each axis, the output size is::

      span = dilation * (kernel_size - 1) + 1        # the effective (dilated) kernel size
      out = floor((size + 2 * padding - span) / stride) + 1     # ceil instead with ceil_mode

  and with ``ceil_mode`` the last window is dropped if it would start in the right padding,
  that is if ``(out - 1) * stride >= size + padding``. It must be at least 1.

``poolkit.reference`` builds on the private helpers here (``_geometry``, ``_output_hw``).
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

__all__ = ["pool2d_output_shape", "pool_output_size"]

Pair = tuple[int, int]


class _PoolGeometry(NamedTuple):
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


def _geometry(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> _PoolGeometry:
    """Validate the hyper-parameters (everything that does not depend on the input size)."""
    if not isinstance(ceil_mode, bool):  # torch takes a bool only, not 1 or numpy.bool_
        raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    kernel = _pair("kernel_size", kernel_size)
    if _is_default_stride(stride):
        stride = kernel
    geometry = _PoolGeometry(
        kernel_size=kernel,
        stride=_pair("stride", stride),
        padding=_pair("padding", padding),
        dilation=_pair("dilation", dilation),
        ceil_mode=ceil_mode,
    )
    for name, least in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        pair = getattr(geometry, name)
        if min(pair) < least:
            rule = "non-negative" if least == 0 else "positive"
            raise ValueError(f"{name} must be {rule}, got {_show(pair)}")
    square = geometry.padding[0] == geometry.padding[1] and kernel[0] == kernel[1]
    for pad, k, axis in zip(geometry.padding, kernel, ("height", "width"), strict=True):
        if pad > k // 2:
            where = "" if square else f" along the {axis}"
            raise ValueError(
                f"padding {pad} exceeds half the kernel size {k} (at most {k // 2}){where}; "
                "torch requires padding <= kernel_size // 2, whatever the dilation"
            )
    return geometry


def _output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """torch's output-size rule along one axis, for trusted inputs (may return 0 or less)."""
    span = dilation * (kernel - 1) + 1  # the effective (dilated) kernel size
    out = (size + 2 * pad - span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1  # the last window would start in the right padding: drop it
    return out


def _output_hw(geometry: _PoolGeometry, input_hw: Pair, axes=("height", "width")) -> Pair:
    """Output (height, width) for a validated geometry; ValueError if a window does not fit."""
    result = []
    for axis, size, k, s, p, d in zip(axes, input_hw, *geometry[:4], strict=True):
        out = _output_size(size, k, s, p, d, geometry.ceil_mode)
        if out < 1:
            ceil = ", ceil_mode=True" if geometry.ceil_mode else ""
            raise ValueError(
                f"output size is {out} for input {axis} {size} with kernel {k}, stride {s}, "
                f"padding {p}, dilation {d}{ceil}: the window does not fit"
            )
        result.append(out)
    return (result[0], result[1])


def _input_size(name: str, value) -> int:
    """Validate a spatial input size: a positive int."""
    size = _int(name, value)
    if size < 1:
        raise ValueError(f"{name} must be positive, got {size}")
    return size


def pool_output_size(size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> int:
    """Output length of pooling along one axis, exactly as torch computes it.

    Args:
        size: input length along the axis (int >= 1).
        kernel_size, stride, padding, dilation: ints; ``stride=None`` means ``kernel_size``.
        ceil_mode: round the number of steps up instead of down (bool).

    Returns:
        int ``>= 1``: ``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``,
        with ``ceil`` instead of ``floor`` when ``ceil_mode``, minus one if the last window would
        then start in the right padding.

    Raises:
        ValueError: an argument breaks torch's rules (see the module docstring), or the
        window does not fit (the output would be empty).

    >>> pool_output_size(5, 3, ceil_mode=True)
    2
    """
    size = _input_size("size", size)
    for name, value in (("kernel_size", kernel_size), ("padding", padding), ("dilation", dilation)):
        _int(name, value)
    if not _is_default_stride(stride):
        _int("stride", stride)
    geometry = _geometry(kernel_size, stride, padding, dilation, ceil_mode)
    return _output_hw(geometry, (size, size), axes=("size", "size"))[0]


def pool2d_output_shape(
    input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
) -> Pair:
    """Output ``(height, width)`` of 2-D pooling on an input of spatial size ``input_hw``.

    Args:
        input_hw: ``(H, W)``, positive ints.
        kernel_size, stride, padding, dilation: int or pair ``(h, w)``, as in
            ``torch.nn.functional.max_pool2d``; ``stride=None`` means ``kernel_size``. For
            average pooling leave ``dilation=1`` (torch's ``avg_pool2d`` has none).
        ceil_mode: bool.

    Returns:
        ``(H_out, W_out)``, each given by :func:`pool_output_size` along its axis.

    Raises:
        ValueError: an argument breaks torch's rules, or the window does not fit.

    >>> pool2d_output_shape((5, 7), (3, 2), stride=(2, 1), padding=(1, 0))
    (3, 6)
    """
    if not (isinstance(input_hw, (tuple, list)) and len(input_hw) == 2):
        raise ValueError(f"input_hw must be a pair (H, W) of ints, got {input_hw!r}")
    hw = (_input_size("input_hw[0] (H)", input_hw[0]), _input_size("input_hw[1] (W)", input_hw[1]))
    geometry = _geometry(kernel_size, stride, padding, dilation, ceil_mode)
    return _output_hw(geometry, hw)
