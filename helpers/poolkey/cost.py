"""What a pooling layer costs: operation counts, counted loops, and two faster algorithms.

The counting conventions (notebook 03 states them with examples):

- An operation is one arithmetic operation on data values. Index arithmetic (window
  bounds, divisors computed from bounds) is free.
- A max window that reads ``n`` elements costs ``n - 1`` comparisons. It reads only the
  elements inside the input: torch pads with -inf, which never wins a comparison, so the
  padding is never read.
- An average window that reads ``n`` elements costs ``n - 1`` additions and 1 division.
  A subtraction counts as an addition, and a multiplication by ``1/n`` counts as the
  division. With ``count_include_pad=True`` the window reads every position inside the
  padded input (the zeros too), so it adds exactly as many numbers as it divides by; with
  ``count_include_pad=False`` it reads the elements inside the input only. Positions past
  the padded input, which a ``ceil_mode`` window may overhang, are never read.

``pool2d_cost`` is the closed form for the direct algorithm and ``counted_pool2d`` the
instrumented loop that performs it, one counted operation at a time.
``separable_max_pool2d`` (a row pass, then a column pass) and ``sat_avg_pool2d`` (a
summed-area table) are faster algorithms, with closed forms ``separable_max_cost`` and
``sat_avg_cost`` and counted loops ``counted_separable_max_pool2d`` and
``counted_sat_avg_pool2d``. ``conv2d_cost`` counts a convolution over the same windows.

This is the answer key of notebook 03 (``pool2d_cost``, ``separable_max_pool2d`` and
``sat_avg_pool2d`` are its exercises), so it lives in ``poolkey``, not in ``poolkit``.

Arguments follow ``torch.nn.functional``: ``kernel_size``, ``stride`` and ``padding`` are
an int or a pair, ``stride=None`` means the kernel size, and ``padding`` is per side;
``poolkit.shapes.pool_args`` validates them and ``poolkey.shapes`` gives the output size.
"""

from __future__ import annotations

import numpy as np

from poolkey.shapes import _geometry as _pool_geometry
from poolkey.shapes import _output_hw, _pair

__all__ = [
    "conv2d_cost",
    "counted_pool2d",
    "counted_sat_avg_pool2d",
    "counted_separable_max_pool2d",
    "pool2d_cost",
    "sat_avg_cost",
    "sat_avg_pool2d",
    "separable_max_cost",
    "separable_max_pool2d",
]


# --- arguments ---------------------------------------------------------------------------


def _geometry(height, width, kernel_size, stride, padding, ceil_mode):
    """Validated (kh, kw), (sh, sw), (ph, pw) and the output size oh, ow."""
    args = _pool_geometry(kernel_size, stride, padding, 1, ceil_mode)
    oh, ow = _output_hw(args, (height, width))
    return args.kernel_size, args.stride, args.padding, oh, ow


def _mode(mode: str) -> str:
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    return mode


def _as_chw(x) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as a float64 (C, H, W) array, and the leading shape to restore."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (3, 4):
        raise ValueError(f"x must have shape (C, H, W) or (N, C, H, W), got shape {arr.shape}")
    return arr.reshape(-1, *arr.shape[-2:]), arr.shape[:-2]


# --- closed forms ------------------------------------------------------------------------


def _covered(n: int, k: int, s: int, p: int, lo: int, hi: int) -> int:
    """Sum over the n windows [-p + i*s, -p + i*s + k) of their overlap with [lo, hi).

    Each overlap is k minus what is cut off on the left and on the right; both cuts are
    arithmetic series, so the sum has a closed form. Every window overlaps [lo, hi) (torch's
    rules on padding and on the last ceil_mode window make sure of it).
    """
    left = lo + p  # window i loses max(0, left - i*s) on the left
    m = min(n, -(-left // s)) if left > 0 else 0
    cut_left = m * left - s * m * (m - 1) // 2
    right = hi + p - k  # window i loses max(0, i*s - right) on the right
    i0 = max(0, right // s + 1)
    m = max(0, n - i0)
    cut_right = s * (i0 + n - 1) * m // 2 - m * right
    return n * k - cut_left - cut_right


def _union(n: int, k: int, s: int, p: int, size: int) -> int:
    """How many input positions in [0, size) at least one of the n windows covers."""
    if s >= k:  # windows do not overlap
        return _covered(n, k, s, p, 0, size)
    return min(size, (n - 1) * s - p + k)  # one contiguous run starting at 0


def pool2d_cost(
    channels,
    height,
    width,
    kernel_size,
    stride=None,
    padding=0,
    mode="max",
    ceil_mode=False,
    count_include_pad=True,
) -> dict[str, int]:
    """Operation counts of the direct pooling algorithm, in closed form.

    Args:
        channels, height, width: the input is (channels, height, width); a batch of N
            costs N times as much.
        kernel_size, stride, padding, ceil_mode, count_include_pad: as in
            ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``.
        mode: ``"max"`` or ``"avg"``.

    Returns:
        ``{"outputs", "comparisons", "additions", "divisions"}``, Python ints, under the
        module's conventions. Window (i, j) reads r_i * c_j elements, so the reads add up
        to (sum_i r_i) * (sum_j c_j), and every window spends one read less than it makes.
    """
    mode = _mode(mode)
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    windows = channels * oh * ow
    if mode == "avg" and count_include_pad:
        rows = _covered(oh, kh, sh, ph, -ph, height + ph)
        cols = _covered(ow, kw, sw, pw, -pw, width + pw)
    else:
        rows = _covered(oh, kh, sh, ph, 0, height)
        cols = _covered(ow, kw, sw, pw, 0, width)
    ops = channels * rows * cols - windows
    return {
        "outputs": windows,
        "comparisons": ops if mode == "max" else 0,
        "additions": ops if mode == "avg" else 0,
        "divisions": windows if mode == "avg" else 0,
    }


def separable_max_cost(
    channels, height, width, kernel_size, stride=None, padding=0, ceil_mode=False
) -> dict[str, int]:
    """Operation counts of separable max pooling (``counted_separable_max_pool2d``).

    The row pass takes the max of each 1 x kw window, at the output's columns, on every
    input row that some kh x 1 column window needs; the column pass takes the max of kh of
    those. With stride 1 that is about (kw - 1) + (kh - 1) comparisons per output instead of
    kh*kw - 1; with a vertical stride >= kh no row result is shared, and the count equals
    the direct one.
    """
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    rows_needed = _union(oh, kh, sh, ph, height)
    row_pass = rows_needed * (_covered(ow, kw, sw, pw, 0, width) - ow)
    column_pass = ow * (_covered(oh, kh, sh, ph, 0, height) - oh)
    return {
        "outputs": channels * oh * ow,
        "comparisons": channels * (row_pass + column_pass),
        "additions": 0,
        "divisions": 0,
    }


def sat_avg_cost(
    channels,
    height,
    width,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
) -> dict[str, int]:
    """Operation counts of average pooling with a summed-area table (``counted_sat_avg_pool2d``).

    Building the table costs height*(width-1) additions (running sums along rows) plus
    (height-1)*width (then down columns); each window sum is then 3 additions or
    subtractions, and each output 1 division, whatever the kernel size.
    ``count_include_pad`` changes the divisor only, not the count.
    """
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    table = height * (width - 1) + (height - 1) * width
    return {
        "outputs": channels * oh * ow,
        "comparisons": 0,
        "additions": channels * (table + 3 * oh * ow),
        "divisions": channels * oh * ow,
    }


def conv2d_cost(in_channels, out_channels, height, width, kernel_size, stride=1, padding=0):
    """Multiply-adds of a dense convolution (no groups, no dilation, bias not counted).

    Every output element is a dot product of in_channels*kh*kw weights with the window,
    zeros of the padding included, as a direct or im2col convolution computes it.
    Returns ``{"outputs", "multiply_adds"}``.
    """
    (kh, kw), (sh, sw) = _pair("kernel_size", kernel_size), _pair("stride", stride)
    ph, pw = _pair("padding", padding)
    oh = (height + 2 * ph - kh) // sh + 1
    ow = (width + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"a {height}x{width} input is too small for kernel {kernel_size}")
    outputs = out_channels * oh * ow
    return {"outputs": outputs, "multiply_adds": outputs * in_channels * kh * kw}


# --- windows, shared by the loops and the vectorised code ----------------------------------


def _bounds(n: int, k: int, s: int, p: int, size: int, include_pad: bool):
    """Per window: (first, stop) of the positions it reads, in input coordinates."""
    lo, hi = (-p, size + p) if include_pad else (0, size)
    return [(max(lo, i * s - p), min(hi, i * s - p + k)) for i in range(n)]


# --- counted loops -------------------------------------------------------------------------


def counted_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    mode="max",
    ceil_mode=False,
    count_include_pad=True,
):
    """Direct pooling with plain Python loops that count every operation they perform.

    Args:
        x: (C, H, W) or (N, C, H, W), any real dtype.
        the rest: as ``pool2d_cost``; the result matches ``torch.nn.functional``.

    Returns:
        ``(out, counts)``: out has shape (..., OH, OW), float64; counts is a dict like
        ``pool2d_cost``'s, tallied one operation at a time, for the whole batch.
    """
    mode = _mode(mode)
    planes, lead = _as_chw(x)
    height, width = planes.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    reads_pad = mode == "avg" and count_include_pad
    row_windows = _bounds(oh, kh, sh, ph, height, reads_pad)
    col_windows = _bounds(ow, kw, sw, pw, width, reads_pad)
    comparisons = additions = divisions = 0
    out = []
    for plane in planes.tolist():
        if reads_pad:  # the zero padding is really there, and really read
            plane = [[0.0] * (width + 2 * pw) for _ in range(ph)] + [
                [0.0] * pw + row + [0.0] * pw for row in plane
            ]
            plane += [[0.0] * (width + 2 * pw) for _ in range(ph)]
            shift_r, shift_c = ph, pw
        else:
            shift_r = shift_c = 0
        plane_out = []
        for r0, r1 in row_windows:
            row_out = []
            for c0, c1 in col_windows:
                first = True
                for r in range(r0 + shift_r, r1 + shift_r):
                    for c in range(c0 + shift_c, c1 + shift_c):
                        v = plane[r][c]
                        if first:
                            acc, first = v, False
                        elif mode == "max":
                            comparisons += 1
                            if v > acc or v != v:  # NaN wins, as in torch
                                acc = v
                        else:
                            additions += 1
                            acc = acc + v
                if mode == "avg":
                    divisions += 1
                    acc = acc / ((r1 - r0) * (c1 - c0))
                row_out.append(acc)
            plane_out.append(row_out)
        out.append(plane_out)
    counts = {
        "outputs": len(out) * oh * ow,
        "comparisons": comparisons,
        "additions": additions,
        "divisions": divisions,
    }
    return np.array(out, dtype=np.float64).reshape(*lead, oh, ow), counts


def counted_separable_max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Separable max pooling with Python loops that count every comparison.

    Row pass: for each input row that a window needs and each output column j, the max over
    the row's elements in column window j. Column pass: for each output (i, j), the max of
    the row-pass results over window i's rows. Only elements inside the input are read.

    Returns ``(out, counts)`` like ``counted_pool2d``.
    """
    planes, lead = _as_chw(x)
    height, width = planes.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    row_windows = _bounds(oh, kh, sh, ph, height, False)
    col_windows = _bounds(ow, kw, sw, pw, width, False)
    needed = sorted({r for r0, r1 in row_windows for r in range(r0, r1)})
    comparisons = 0
    out = []
    for plane in planes.tolist():
        row_max = {}
        for r in needed:  # row pass
            maxima = []
            for c0, c1 in col_windows:
                acc = plane[r][c0]
                for c in range(c0 + 1, c1):
                    comparisons += 1
                    if plane[r][c] > acc or plane[r][c] != plane[r][c]:
                        acc = plane[r][c]
                maxima.append(acc)
            row_max[r] = maxima
        plane_out = []
        for r0, r1 in row_windows:  # column pass
            row_out = []
            for j in range(ow):
                acc = row_max[r0][j]
                for r in range(r0 + 1, r1):
                    comparisons += 1
                    if row_max[r][j] > acc or row_max[r][j] != row_max[r][j]:
                        acc = row_max[r][j]
                row_out.append(acc)
            plane_out.append(row_out)
        out.append(plane_out)
    counts = {"outputs": len(out) * oh * ow, "comparisons": comparisons}
    counts.update(additions=0, divisions=0)
    return np.array(out, dtype=np.float64).reshape(*lead, oh, ow), counts


def counted_sat_avg_pool2d(
    x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    """Average pooling through a summed-area table, with Python loops that count.

    ``S[i][j]`` is the sum of ``x[:i, :j]`` (a zero first row and column), built with
    running sums along each row and then down each column. A window's sum is
    ``S[b][d] - S[a][d] - S[b][c] + S[a][c]`` over its rows a..b-1 and columns c..d-1 inside
    the input (the zero padding adds nothing); its divisor is computed from the bounds.

    Returns ``(out, counts)`` like ``counted_pool2d``.
    """
    planes, lead = _as_chw(x)
    height, width = planes.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    rows_in = _bounds(oh, kh, sh, ph, height, False)
    cols_in = _bounds(ow, kw, sw, pw, width, False)
    rows_div = _bounds(oh, kh, sh, ph, height, count_include_pad)
    cols_div = _bounds(ow, kw, sw, pw, width, count_include_pad)
    additions = divisions = 0
    out = []
    for plane in planes.tolist():
        table = [[0.0] * (width + 1)]
        for row in plane:  # running sums along the row
            acc, sums = row[0], [0.0, row[0]]
            for v in row[1:]:
                additions += 1
                acc = acc + v
                sums.append(acc)
            table.append(sums)
        for i in range(2, height + 1):  # then down each column
            for j in range(1, width + 1):
                additions += 1
                table[i][j] = table[i][j] + table[i - 1][j]
        plane_out = []
        for (a, b), (r0, r1) in zip(rows_in, rows_div, strict=True):
            row_out = []
            for (c, d), (c0, c1) in zip(cols_in, cols_div, strict=True):
                additions += 3
                total = table[b][d] - table[a][d] - table[b][c] + table[a][c]
                divisions += 1
                row_out.append(total / ((r1 - r0) * (c1 - c0)))
            plane_out.append(row_out)
        out.append(plane_out)
    counts = {"outputs": len(out) * oh * ow, "comparisons": 0}
    counts.update(additions=additions, divisions=divisions)
    return np.array(out, dtype=np.float64).reshape(*lead, oh, ow), counts


# --- vectorised versions -------------------------------------------------------------------


def separable_max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Separable max pooling in NumPy: kw - 1 maxima of column slices, then kh - 1 of rows.

    x: (C, H, W) or (N, C, H, W), float. Returns (..., OH, OW), x's float dtype. The input
    is padded with -inf (and, for ceil_mode, far enough for the last window); the row pass
    runs on every padded row, which is simpler and costs little when the stride is small.
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    planes = arr.reshape(-1, *arr.shape[-2:])
    height, width = planes.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    extra_h = max(0, (oh - 1) * sh + kh - (height + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + kw - (width + 2 * pw))
    padded = np.pad(
        planes, ((0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=-np.inf
    )
    cols = sw * np.arange(ow)
    row_max = padded[:, :, cols]
    for dj in range(1, kw):
        row_max = np.maximum(row_max, padded[:, :, cols + dj])
    rows = sh * np.arange(oh)
    out = row_max[:, rows, :]
    for di in range(1, kh):
        out = np.maximum(out, row_max[:, rows + di, :])
    return out.reshape(*arr.shape[:-2], oh, ow)


def sat_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling through a summed-area table in NumPy: 3 additions per output.

    x: (C, H, W) or (N, C, H, W). Returns (..., OH, OW) in x's float dtype (float64 for
    integer input); the table is float64.
    """
    arr = np.asarray(x)
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    planes = arr.reshape(-1, *arr.shape[-2:]).astype(np.float64)
    height, width = planes.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), oh, ow = _geometry(
        height, width, kernel_size, stride, padding, ceil_mode
    )
    table = np.zeros((planes.shape[0], height + 1, width + 1))
    table[:, 1:, 1:] = planes.cumsum(axis=1).cumsum(axis=2)

    def edges(n, k, s, p, size, include_pad):
        start = s * np.arange(n) - p
        inside = np.clip(start, 0, size), np.clip(start + k, 0, size)
        if include_pad:
            return inside, np.minimum(start + k, size + p) - start
        return inside, inside[1] - inside[0]

    (a, b), rows = edges(oh, kh, sh, ph, height, count_include_pad)
    (c, d), cols = edges(ow, kw, sw, pw, width, count_include_pad)
    top, bottom = table[:, a], table[:, b]
    sums = bottom[:, :, d] - top[:, :, d] - bottom[:, :, c] + top[:, :, c]
    out = sums / np.multiply.outer(rows, cols)
    return out.reshape(*arr.shape[:-2], oh, ow).astype(dtype)
