"""NumPy reference for 2-D max and average pooling, forward and backward.

Every function mirrors ``torch.nn.functional`` (names, argument order, defaults) and agrees
with torch 2.13 on CPU exactly in float64, including these details of torch's CPU kernels:

- Max pooling scans each window in row-major order and takes an element when
  ``value > max or isnan(value)``, starting from ``max = -inf`` and the window's first input
  element. So the first of several equal maxima wins and gets the whole gradient; a NaN wins
  over any number, and of several NaNs the **last** one wins; a window whose input elements
  are all ``-inf`` picks its first input element, never a padding position.
- Padding is ``-inf`` for max pooling (the dtype's minimum for integers) and zeros for
  average pooling. With ``count_include_pad=True`` the divisor counts the padding but not the
  overhang of a ``ceil_mode`` window beyond the padding.
- ``return_indices`` gives flat indices ``h * W + w`` into each unpadded ``(H, W)`` plane.

Dtypes: float inputs keep their dtype. Integer inputs keep it for max pooling (as torch
does); average pooling of integers returns float64, the true mean (torch truncates int64
towards zero and refuses other integer types). Gradients have ``grad_output``'s float dtype
(float64 if it holds integers). Indices and counts are int64. Float64 results are exact up to
rounding; float16/float32 averages are computed in float64, so they may differ from torch's
in the last bit.

Refused although torch accepts it: max pooling where some window has no tap inside the input
(only possible with dilation, e.g. kernel 2, padding 1, dilation ``d`` on an input of size
``d - 1``). Torch returns ``-inf`` there with an index outside the window, and its backward
then writes to a wrong element or outside the gradient's memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from poolkey.shapes import _as_int, _geometry, _int, _output_hw, _pair, _PoolGeometry

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "gradient_counts",
    "max_pool2d",
    "max_pool2d_backward",
]


class _Plan(NamedTuple):
    """A validated pooling of one input shape: everything the computations need."""

    geometry: _PoolGeometry
    shape: tuple[int, int, int, int]  # the input as (N, C, H, W)
    batched: bool  # False if the caller's input was (C, H, W)
    out_hw: tuple[int, int]  # (OH, OW)
    rows: np.ndarray  # (OH, KH): input row of each window tap; < 0 or >= H in the padding
    cols: np.ndarray  # (OW, KW): input column of each window tap


# ---------------------------------------------------------------------------------------
# Validation at the public edge
# ---------------------------------------------------------------------------------------


def _array(name: str, value) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (ints or floats)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as err:  # RuntimeError: a torch tensor with grad
        raise ValueError(
            f"{name} must be an array of numbers, got {type(value).__name__} ({err})"
        ) from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers (ints or floats), got dtype {arr.dtype}")
    return arr


def _shape(name: str, shape) -> tuple[tuple[int, int, int, int], bool]:
    """Validate an input shape; return it as (N, C, H, W) and whether it was batched."""
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{name} must have 3 (C, H, W) or 4 (N, C, H, W) dimensions, got shape {tuple(shape)}"
        )
    if min(shape[-3:]) < 1 or shape[0] < 0:
        raise ValueError(
            f"{name} must have positive C, H and W (N may be 0), got shape {tuple(shape)}"
        )
    batched = len(shape) == 4
    return (tuple(shape) if batched else (1, *shape)), batched


def _taps(out: int, kernel: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """(out, kernel): input position ``o*stride - pad + j*dilation`` of tap j of window o."""
    return np.arange(out)[:, None] * stride - pad + np.arange(kernel)[None, :] * dilation


def _plan(name, shape, kernel_size, stride, padding, dilation, ceil_mode, mode) -> _Plan:
    """Validate hyper-parameters against an input shape (``mode`` is "max" or "avg")."""
    geometry = _geometry(kernel_size, stride, padding, dilation, ceil_mode)
    (n, c, h, w), batched = _shape(name, shape)
    (oh, ow), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _output_hw(geometry, (h, w)), *geometry[:4]
    plan = _Plan(
        geometry,
        (n, c, h, w),
        batched,
        (oh, ow),
        _taps(oh, kh, sh, ph, dh),
        _taps(ow, kw, sw, pw, dw),
    )
    if mode == "max":  # refuse windows with no tap inside the input (see the module docstring)
        for axis, taps, size, k, p, d in (
            ("height", plan.rows, h, kh, ph, dh),
            ("width", plan.cols, w, kw, pw, dw),
        ):
            covered = ((taps >= 0) & (taps < size)).any(axis=1)
            if not covered.all():
                raise ValueError(
                    f"max pooling window {int(np.argmin(covered))} along the {axis} covers only "
                    f"padding (kernel {k}, padding {p}, dilation {d}, input {axis} {size}); torch "
                    "returns -inf there with an index outside the input (and its backward writes "
                    "out of bounds), so poolkit refuses this configuration"
                )
    return plan


def _grad_output(grad_output, plan: _Plan) -> np.ndarray:
    """Validate ``grad_output`` against the output shape; return it as (N, C, OH, OW), float."""
    grad = _array("grad_output", grad_output)
    n, c, _, _ = plan.shape
    expected = (n, c, *plan.out_hw) if plan.batched else (c, *plan.out_hw)
    if grad.shape != expected:
        given = plan.shape if plan.batched else plan.shape[1:]
        raise ValueError(
            f"grad_output has shape {grad.shape}; expected {expected}, the output shape of this "
            f"pooling for an input of shape {given}"
        )
    return _float(grad).reshape(n, c, *plan.out_hw)


def _float(arr: np.ndarray) -> np.ndarray:
    """Float arrays unchanged; integer arrays as float64."""
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _bool(name: str, value) -> bool:
    """Validate a flag."""
    if not isinstance(value, bool):  # torch takes a bool only, not 1 or numpy.bool_
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------
# The computations (inputs trusted, batched as (N, C, H, W))
# ---------------------------------------------------------------------------------------


def _windows(x4: np.ndarray, plan: _Plan, fill) -> np.ndarray:
    """(N, C, OH, OW, KH, KW): every window of ``x4``, padded with ``fill``.

    ``sliding_window_view`` gives every dilated window at stride 1; slicing then keeps every
    ``stride``-th window and every ``dilation``-th tap. Only the padding copies ``x4``.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), _ = plan.geometry
    (oh, ow), (_, _, h, w) = plan.out_hw, plan.shape
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    # A ceil_mode window may hang over the right padding: pad far enough for it too.
    bottom = max(ph, (oh - 1) * sh + span_h - h - ph)
    right = max(pw, (ow - 1) * sw + span_w - w - pw)
    padded = np.pad(x4, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=fill)
    every = sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    return every[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]


def _torch_argmax(flat: np.ndarray, first_input_tap: np.ndarray, lowest) -> np.ndarray:
    """(..., K) windows, taps in row-major order -> the tap torch's max pooling picks.

    torch starts from ``max = lowest``, ``index = first input element`` and takes a tap when
    ``value > max or isnan(value)``. ``np.argmax`` gives the first maximum (torch's tie rule),
    but two cases need a fix-up rather than one clever key:
    - a window whose maximum is ``lowest`` (all input elements -inf): torch keeps its first
      input element, while argmax may land on a padding tap;
    - NaN: argmax returns the *first* NaN, torch the *last*.
    """
    tap = np.argmax(flat, axis=-1)
    best = np.take_along_axis(flat, tap[..., None], axis=-1)[..., 0]
    tap = np.where(best == lowest, first_input_tap, tap)
    if flat.dtype.kind == "f":
        isnan = np.isnan(flat)
        last_nan = flat.shape[-1] - 1 - np.argmax(isnan[..., ::-1], axis=-1)
        tap = np.where(isnan.any(axis=-1), last_nan, tap)
    return tap


def _max_pool(x4: np.ndarray, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of (N, C, H, W): values and flat indices, both (N, C, OH, OW)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), _ = plan.geometry
    (oh, ow), (_, _, h, w) = plan.out_hw, plan.shape
    lowest = -np.inf if x4.dtype.kind == "f" else np.iinfo(x4.dtype).min
    windows = _windows(x4, plan, fill=lowest)
    flat = windows.reshape(*windows.shape[:4], kh * kw)  # (N, C, OH, OW, KH*KW), row-major
    # The first tap inside the input, per window: first input row, then first input column.
    first_row = np.argmax((plan.rows >= 0) & (plan.rows < h), axis=1)
    first_col = np.argmax((plan.cols >= 0) & (plan.cols < w), axis=1)
    tap = _torch_argmax(flat, first_row[:, None] * kw + first_col[None, :], lowest)
    values = np.take_along_axis(flat, tap[..., None], axis=-1)[..., 0]
    i, j = np.divmod(tap, kw)  # the tap's row and column inside the window
    rows = np.arange(oh)[:, None] * sh - ph + i * dh
    cols = np.arange(ow)[None, :] * sw - pw + j * dw
    return values, (rows * w + cols).astype(np.int64)


def _route(grad4: np.ndarray, indices: np.ndarray, shape) -> np.ndarray:
    """Add each output's gradient to the input element at its flat index; (N, C, H, W)."""
    n, c, h, w = shape
    grad_x = np.zeros((n * c, h * w), dtype=grad4.dtype)
    planes = np.arange(n * c)[:, None]
    outputs = indices.shape[-2] * indices.shape[-1]
    np.add.at(grad_x, (planes, indices.reshape(n * c, outputs)), grad4.reshape(n * c, outputs))
    return grad_x.reshape(shape)


def _spread(values4: np.ndarray, plan: _Plan) -> np.ndarray:
    """Add each output's value to every input element of its window; (N, C, H, W)."""
    _, _, h, w = plan.shape
    row_inside = (plan.rows >= 0) & (plan.rows < h)  # (OH, KH)
    col_inside = (plan.cols >= 0) & (plan.cols < w)  # (OW, KW)
    # (OH, OW, KH, KW): which taps of which window are input elements, not padding
    inside = row_inside[:, None, :, None] & col_inside[None, :, None, :]
    o_h, o_w, k_h, k_w = np.nonzero(inside)
    grad_x = np.zeros(plan.shape, dtype=values4.dtype)
    np.add.at(
        grad_x,
        (slice(None), slice(None), plan.rows[o_h, k_h], plan.cols[o_w, k_w]),
        values4[:, :, o_h, o_w],
    )
    return grad_x


def _divisor(plan: _Plan, count_include_pad: bool, divisor_override) -> np.ndarray:
    """(OH, OW): what each window's sum is divided by, as torch does."""
    if divisor_override is not None:
        return np.full(plan.out_hw, divisor_override)
    (_, _, h, w), (ph, pw) = plan.shape, plan.geometry.padding
    if count_include_pad:  # padding counts, a ceil_mode overhang beyond it does not
        low_h, high_h, low_w, high_w = -ph, h + ph, -pw, w + pw
    else:
        low_h, high_h, low_w, high_w = 0, h, 0, w
    per_row = ((plan.rows >= low_h) & (plan.rows < high_h)).sum(axis=1)
    per_col = ((plan.cols >= low_w) & (plan.cols < high_w)).sum(axis=1)
    return per_row[:, None] * per_col[None, :]


def _unbatch(arr: np.ndarray, plan: _Plan) -> np.ndarray:
    return arr if plan.batched else arr[0]


def _batch(arr: np.ndarray) -> np.ndarray:
    return arr if arr.ndim == 4 else arr[None]


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def max_pool2d(
    x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """2-D max pooling, like ``torch.nn.functional.max_pool2d``.

    Args:
        x: (N, C, H, W) or (C, H, W), floats or ints.
        kernel_size, stride, padding, dilation: int or pair (h, w); ``stride=None`` means
            ``kernel_size``. Rules: see ``poolkit.shapes``.
        ceil_mode: bool, round the output size up (see ``poolkit.shapes``).
        return_indices: also return where each maximum came from.

    Returns:
        (N, C, OH, OW) or (C, OH, OW), x's dtype, with ``OH, OW =
        pool2d_output_shape((H, W), kernel_size, stride, padding, dilation, ceil_mode)``. With
        ``return_indices``, a pair ``(output, indices)``; indices are int64, same shape, each
        ``h * W + w`` into its (H, W) plane. Ties: the first maximum in row-major window
        order; NaN: the last NaN in the window.
    """
    x = _array("x", x)
    plan = _plan("x", x.shape, kernel_size, stride, padding, dilation, ceil_mode, mode="max")
    values, indices = _max_pool(_batch(x), plan)
    if return_indices:
        return _unbatch(values, plan), _unbatch(indices, plan)
    return _unbatch(values, plan)


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """2-D average pooling, like ``torch.nn.functional.avg_pool2d``.

    Args:
        x: (N, C, H, W) or (C, H, W), floats or ints.
        kernel_size, stride, padding: int or pair (h, w); ``stride=None`` means
            ``kernel_size``. Rules: see ``poolkit.shapes``.
        ceil_mode: bool, round the output size up.
        count_include_pad: bool; True divides by the window's size within the padded input
            (not counting a ceil_mode overhang beyond the padding), False by the number of
            input elements in the window.
        divisor_override: None, or a non-zero int that every window's sum is divided by.

    Returns:
        (N, C, OH, OW) or (C, OH, OW) with ``OH, OW = pool2d_output_shape((H, W),
        kernel_size, stride, padding, 1, ceil_mode)``; x's dtype if float, else float64.
    """
    x = _array("x", x)
    plan = _plan("x", x.shape, kernel_size, stride, padding, 1, ceil_mode, mode="avg")
    divisor = _divisor(plan, *_avg_options(count_include_pad, divisor_override))
    windows = _windows(_batch(x).astype(np.float64), plan, fill=0.0)
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as in torch, without a warning
        out = (windows.sum(axis=(-2, -1)) / divisor).astype(_float(x).dtype)
    return _unbatch(out, plan)


def _avg_options(count_include_pad, divisor_override) -> tuple[bool, int | None]:
    count_include_pad = _bool("count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor_override = _int("divisor_override", divisor_override)
        if divisor_override == 0:
            raise ValueError("divisor_override must be a non-zero int or None, got 0")
    return count_include_pad, divisor_override


def max_pool2d_backward(
    grad_output, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
):
    """Gradient of ``max_pool2d`` with respect to ``x``.

    Args:
        grad_output: (N, C, OH, OW) or (C, OH, OW), the output's shape; gradient of the loss
            with respect to the output.
        x: (N, C, H, W) or (C, H, W), the forward input (it decides where the maxima are).
        kernel_size, stride, padding, dilation, ceil_mode: as in ``max_pool2d``.

    Returns:
        x's shape, grad_output's float dtype (float64 for ints). Each output's gradient goes
        to its maximum (the element ``max_pool2d(..., return_indices=True)`` points at) and
        is summed where windows overlap.
    """
    x = _array("x", x)
    plan = _plan("x", x.shape, kernel_size, stride, padding, dilation, ceil_mode, mode="max")
    grad = _grad_output(grad_output, plan)
    _, indices = _max_pool(_batch(x), plan)
    return _unbatch(_route(grad, indices, plan.shape), plan)


def avg_pool2d_backward(
    grad_output,
    input_shape,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Gradient of ``avg_pool2d`` with respect to its input.

    Args:
        grad_output: (N, C, OH, OW) or (C, OH, OW), the output's shape.
        input_shape: (N, C, H, W) or (C, H, W), ints: the forward input's shape.
        kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as in
            ``avg_pool2d``.

    Returns:
        ``input_shape``, grad_output's float dtype (float64 for ints). Each output's
        gradient, divided by its window's divisor, is added to every input element of the
        window (padding receives nothing).
    """
    shape = tuple(map(_as_int, input_shape)) if isinstance(input_shape, (tuple, list)) else (None,)
    if None in shape:
        raise ValueError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    plan = _plan("input_shape", shape, kernel_size, stride, padding, 1, ceil_mode, mode="avg")
    divisor = _divisor(plan, *_avg_options(count_include_pad, divisor_override))
    grad = _grad_output(grad_output, plan)
    return _unbatch(_spread(grad / divisor.astype(grad.dtype), plan), plan)


def gradient_counts(
    x, kernel_size, stride=None, padding=0, mode="max", *, ceil_mode=False, dilation=1
):
    """How many windows send gradient to each element of ``x``.

    Args:
        x: (N, C, H, W) or (C, H, W), floats or ints.
        kernel_size, stride, padding: int or pair (h, w); ``stride=None`` means
            ``kernel_size``.
        mode: "max": how many windows pick the element as their maximum (ties: the first in
            row-major window order; NaN: the last NaN), i.e. its gradient when every output's
            gradient is 1. "avg": how many windows cover the element (padding is not an
            element).
        ceil_mode: bool, as in the pooling functions.
        dilation: int or pair, for mode "max" only (torch's avg_pool2d has none).

    Returns:
        int64 array of x's shape.
    """
    x = _array("x", x)
    if not (isinstance(mode, str) and mode in ("max", "avg")):
        raise ValueError(f'mode must be "max" or "avg", got {mode!r}')
    if mode == "avg" and _pair("dilation", dilation) != (1, 1):
        raise ValueError(
            f'dilation must be 1 for mode="avg" (torch\'s avg_pool2d has none), got {dilation!r}'
        )
    plan = _plan("x", x.shape, kernel_size, stride, padding, dilation, ceil_mode, mode=mode)
    n, c, _, _ = plan.shape
    ones = np.ones((n, c, *plan.out_hw), dtype=np.int64)
    if mode == "max":
        counts = _route(ones, _max_pool(_batch(x), plan)[1], plan.shape)
    else:
        counts = _spread(ones, plan)
    return _unbatch(counts, plan)
