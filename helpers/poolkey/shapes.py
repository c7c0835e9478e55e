"""The answer key's output sizes of 2-D pooling (notebook 01's ``pool_output_size``).

The hyper-parameters are validated by ``poolkit.shapes.pool_args``, the one place that
states torch's rules for them; the output-size rule itself is here, in the answer key.

Along each axis, the output size is::

    span = dilation * (kernel_size - 1) + 1        # the effective (dilated) kernel size
    out = floor((size + 2 * padding - span) / stride) + 1     # ceil instead with ceil_mode

and with ``ceil_mode`` the last window is dropped if it would start in the right padding,
that is if ``(out - 1) * stride >= size + padding``. It must be at least 1.

``poolkey.reference`` builds on the private helpers here (``_geometry``, ``_output_hw``).
"""

from __future__ import annotations

from poolkit.shapes import PoolArgs as _PoolGeometry
from poolkit.shapes import _as_int, _int, _is_default_stride, _pair, input_hw_pair  # noqa: F401 (reference)
from poolkit.shapes import pool_args as _geometry

__all__ = ["pool2d_output_shape", "pool_output_size"]

Pair = tuple[int, int]


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
    hw = input_hw_pair(input_hw)
    geometry = _geometry(kernel_size, stride, padding, dilation, ceil_mode)
    return _output_hw(geometry, hw)
