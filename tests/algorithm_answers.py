"""Answers to notebook 03's algorithm exercises, graded in 03's class of
tests/test_grading_attacks.py (``attacks.bypasses``).

A direct window computation gives the same numbers as separable max pooling and as a
summed-area table, so comparing outputs cannot tell them apart (issue 18): the exercises
ask for each step on its own. Each answer here is a whole answer cell. The attacks compute
the pooled result directly, over the windows, instead of by the algorithm the exercise
teaches, and must earn 0 for that exercise; each is paired with a correct answer written
another way than the model answer, which must earn full marks and pass the clean re-check.
"""

from __future__ import annotations

SEPARABLE = "separable_max_pool2d"  # the answer cells' grade_ids
SAT = "sat_avg_pool2d"

_GIVEN_SEPARABLE = """

def separable_max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    rows = max_row_pass(x, kernel_size, stride, padding, ceil_mode)
    return max_column_pass(rows, kernel_size, stride, padding, ceil_mode)
"""

_GIVEN_SAT = """

def sat_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    table = summed_area_table(x)
    return averages_from_table(table, kernel_size, stride, padding, ceil_mode, count_include_pad)
"""

# Shared by the direct attacks: every kh × kw window, directly (kh * kw - 1 comparisons or
# additions per output), with the padding and ceil_mode handled as torch does.
_WINDOWS = """
from numpy.lib.stride_tricks import sliding_window_view


def _two(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _direct(x, kernel_size, stride, padding, ceil_mode, fill, reduce):
    (kh, kw), (ph, pw) = _two(kernel_size), _two(padding)
    sh, sw = (kh, kw) if stride is None else _two(stride)
    oh = output_size(x.shape[1], kh, sh, ph, ceil_mode)
    ow = output_size(x.shape[2], kw, sw, pw, ceil_mode)
    bottom = max(ph, (oh - 1) * sh + kh - ph - x.shape[1])
    right = max(pw, (ow - 1) * sw + kw - pw - x.shape[2])
    xp = np.pad(np.asarray(x, float), ((0, 0), (ph, bottom), (pw, right)), constant_values=fill)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]
    return reduce(windows, (kh, kw, ph, pw, sh, sw, oh, ow, x.shape[1], x.shape[2]))
"""

# The row "pass" hands x on untouched; the column "pass" takes the kh × kw window maximum
# of what it gets. Chained, they pool correctly: this is the direct algorithm in disguise.
SEPARABLE_DIRECT = (
    _WINDOWS
    + """

def max_row_pass(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return np.asarray(x, dtype=float)


def max_column_pass(rows, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _direct(rows, kernel_size, stride, padding, ceil_mode, -np.inf,
                   lambda w, _: w.max(axis=(-2, -1)))
"""
    + _GIVEN_SEPARABLE
)

# A real row pass, but the column pass ignores it and pools the x the row pass last saw.
SEPARABLE_STASH = (
    _WINDOWS
    + """
_seen = {}


def max_row_pass(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    _seen["x"] = x
    return _direct(x, (1, _two(kernel_size)[1]),
                   None if stride is None else (1, _two(stride)[1]),
                   (0, _two(padding)[1]), ceil_mode, -np.inf, lambda w, _: w.max(axis=(-2, -1)))


def max_column_pass(rows, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _direct(_seen["x"], kernel_size, stride, padding, ceil_mode, -np.inf,
                   lambda w, _: w.max(axis=(-2, -1)))
"""
    + _GIVEN_SEPARABLE
)

# Correct, and not the model answer's np.maximum of shifted slices: a window view along one
# axis at a time, with the padding made by np.full.
SEPARABLE_LEGIT = (
    """
from numpy.lib.stride_tricks import sliding_window_view


def _one_axis(a, axis, k, s, p, ceil_mode):
    n = output_size(a.shape[axis], k, s, p, ceil_mode)
    length = max(a.shape[axis] + 2 * p, (n - 1) * s + k)
    shape = list(a.shape)
    shape[axis] = length
    padded = np.full(shape, -np.inf)
    inside = [slice(None)] * a.ndim
    inside[axis] = slice(p, p + a.shape[axis])
    padded[tuple(inside)] = a
    view = sliding_window_view(padded, k, axis=axis)
    keep = [slice(None)] * a.ndim
    keep[axis] = slice(0, (n - 1) * s + 1, s)
    return view[tuple(keep)].max(axis=-1)


def _part(v, i):
    return v[i] if isinstance(v, (tuple, list)) else v


def max_row_pass(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    k = _part(kernel_size, 1)
    s = k if stride is None else _part(stride, 1)
    return _one_axis(np.asarray(x, float), 2, k, s, _part(padding, 1), ceil_mode)


def max_column_pass(rows, kernel_size, stride=None, padding=0, ceil_mode=False):
    k = _part(kernel_size, 0)
    s = k if stride is None else _part(stride, 0)
    return _one_axis(np.asarray(rows, float), 1, k, s, _part(padding, 0), ceil_mode)
"""
    + _GIVEN_SEPARABLE
)


_DIVISORS = """

def _mean(windows, config, count_include_pad):
    kh, kw, ph, pw, sh, sw, oh, ow, height, width = config
    def counts(n, k, s, p, size):
        start = s * np.arange(n) - p
        if count_include_pad:
            return np.minimum(start + k, size + p) - start
        return np.clip(start + k, 0, size) - np.clip(start, 0, size)
    return windows.sum(axis=(-2, -1)) / np.outer(counts(oh, kh, sh, ph, height),
                                                 counts(ow, kw, sw, pw, width))
"""

# The table is right; the averages recover x from it (second differences) and then sum
# every window directly.
SAT_DIRECT = (
    _WINDOWS
    + _DIVISORS
    + """

def summed_area_table(x):
    x = np.asarray(x, dtype=float)
    return np.pad(x.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))


def averages_from_table(S, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    x = np.diff(np.diff(np.asarray(S, float), axis=1), axis=2)
    return _direct(x, kernel_size, stride, padding, ceil_mode, 0.0,
                   lambda w, config: _mean(w, config, count_include_pad))
"""
    + _GIVEN_SAT
)

# Correct, and not the model answer's: the table by np.add.accumulate into a zero frame,
# the averages by a loop over the outputs that reads the four corners of each window.
SAT_LEGIT = (
    """

def summed_area_table(x):
    x = np.asarray(x, dtype=np.float64)
    table = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    table[:, 1:, 1:] = np.add.accumulate(np.add.accumulate(x, axis=2), axis=1)
    return table


def averages_from_table(S, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    kh, kw = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    ph, pw = padding if isinstance(padding, (tuple, list)) else (padding,) * 2
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = stride if isinstance(stride, (tuple, list)) else (stride,) * 2
    channels, height, width = S.shape[0], S.shape[1] - 1, S.shape[2] - 1
    oh = output_size(height, kh, sh, ph, ceil_mode)
    ow = output_size(width, kw, sw, pw, ceil_mode)
    out = np.empty((channels, oh, ow))
    for i in range(oh):
        top = i * sh - ph
        a, b = min(max(top, 0), height), min(max(top + kh, 0), height)
        rows = (min(top + kh, height + ph) - top) if count_include_pad else b - a
        for j in range(ow):
            left = j * sw - pw
            c, d = min(max(left, 0), width), min(max(left + kw, 0), width)
            cols = (min(left + kw, width + pw) - left) if count_include_pad else d - c
            out[:, i, j] = (S[:, b, d] - S[:, a, d] - S[:, b, c] + S[:, a, c]) / (rows * cols)
    return out
"""
    + _GIVEN_SAT
)


ASSIGNMENT = "03-compute-cost"
# student -> (answer cell, source, the test cell that must score 0; None: full marks)
CLASS = {
    "sep-direct": (SEPARABLE, SEPARABLE_DIRECT, "test_separable_max_pool2d"),
    "sep-stash": (SEPARABLE, SEPARABLE_STASH, "test_separable_max_pool2d"),
    "sep-legit": (SEPARABLE, SEPARABLE_LEGIT, None),
    "sat-direct": (SAT, SAT_DIRECT, "test_sat_avg_pool2d"),
    "sat-legit": (SAT, SAT_LEGIT, None),
}
