"""What the clean re-check calls, for every auto-graded exercise of every notebook.

Each :class:`Exercise` names the test cell it re-checks (its nbgrader ``grade_id``), the
answer cell that defines the student's function, the guard that the notebook's own test
wraps the function in (``from_scratch`` and friends), and a generator of calls on random
inputs. The grader draws the inputs, sends the same calls to the student's answer and to
the instructor's, and compares the results itself (``poolgrader.recheck``), so these
generators need no expected values. Integer-valued inputs make ties happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["EXERCISES", "Call", "Exercise", "T"]

SCRATCH = ("poolkit.checks", "from_scratch", {})
SCRATCH_AUTOGRAD = ("poolkit.checks", "from_scratch", {"autograd": True})
COST = ("poolkit.cost", "cost_from_scratch", {})


def CONSTRUCTIONS(**kwargs):  # noqa: N802 (reads like the constants above)
    return ("poolkit.constructions", "without_constructions", kwargs)


class T:
    """An argument that the child turns into a torch tensor (the exercise takes tensors)."""

    def __init__(self, array: np.ndarray):
        self.array = array


@dataclass
class Call:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    then: list = field(default_factory=list)  # methods called on the result, in order


@dataclass
class Exercise:
    test: str  # grade_id of the test cell this re-checks
    answer: str  # grade_id of the answer cell that defines `function`
    function: str
    calls: Callable[[np.random.Generator], Iterator[Call]]
    guard: tuple | None = SCRATCH
    rtol: float = 1e-7
    atol: float = 1e-9


def _ints(rng, low, high, shape) -> np.ndarray:
    return rng.integers(low, high, size=shape).astype(np.float64)


def _k_s_p(rng, low=1, high=5):
    """A valid torch (kernel, stride, padding): padding at most half the kernel."""
    k = tuple(int(v) for v in rng.integers(low, high, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    return k, s, p


# ----------------------------------------------------------------------- 01 pooling basics


def _pool2d(rng):
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(1, 9, size=2))
        size = (int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1)))
        stride = [None, int(rng.integers(1, 4)), tuple(int(v) for v in rng.integers(1, 4, 2))]
        x = _ints(rng, -9, 3, (h, w))
        yield Call((x, size), {"stride": stride[trial % 3], "mode": ("max", "avg")[trial % 2]})


def _pool_output_size(rng):
    for _ in range(40):
        k = int(rng.integers(1, 5))
        dilation = int(rng.integers(1, 4))
        size = int(rng.integers(dilation * (k - 1) + 1, 14))
        stride = [None, 1, 2, 3][int(rng.integers(0, 4))]
        kwargs = {"kernel_size": k, "stride": stride, "padding": int(rng.integers(0, k // 2 + 1))}
        kwargs.update(dilation=dilation, ceil_mode=bool(rng.integers(0, 2)))
        yield Call((size,), kwargs)


def _pad_left_top(rng):
    for trial in range(10):
        h, w = (int(v) for v in rng.integers(1, 7, size=2))
        pad = int(rng.integers(0, 3)) if trial % 2 else tuple(int(v) for v in rng.integers(0, 4, 2))
        yield Call((_ints(rng, -9, 2, (h, w)), pad), {"mode": ("max", "avg")[trial // 2 % 2]})


# ---------------------------------------------------------------- 02 pooling as convolution


def _nchw(rng, k, low=-5, high=6):
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 5)))
    shape += (int(rng.integers(k[0], 9)), int(rng.integers(k[1], 9)))
    return T(_ints(rng, low, high, shape))


def _as_conv(rng):
    for trial in range(10):
        k, s, p = _k_s_p(rng)
        args = (_nchw(rng, k), k) if trial % 3 else (_nchw(rng, (k[0], k[0])), k[0])
        yield Call(args, {} if trial % 4 == 0 else {"stride": s, "padding": p} if trial % 3 else {})


def _max_net(rng):
    for trial in range(6):
        channels = int(rng.integers(1, 5))
        shape = (
            int(rng.integers(1, 3)),
            channels,
            int(rng.integers(2, 9)),
            int(rng.integers(2, 9)),
        )
        x = _ints(rng, -3, 4, shape) * (1000.0 if trial % 3 == 2 else 1.0)
        yield Call((channels,), then=[["double"], ["__call__", T(x)]])


def _min_pool(rng):
    for trial in range(8):
        k, s, p = _k_s_p(rng)
        yield Call((_nchw(rng, k, -4 if trial % 2 else 1, 5), k, s, p))


def _lse(rng):
    for _ in range(8):
        k, s, p = _k_s_p(rng)
        x = _nchw(rng, k, -4, 5)
        x.array = x.array + float(rng.choice([0.0, 1000.0, -1000.0, 1e6]))
        yield Call((x, float(rng.choice([0.25, 1.0, 4.0])), k, s, p))


# --------------------------------------------------------------------- 03 compute cost


def _cost(rng):
    for trial in range(16):
        k = tuple(int(v) for v in rng.integers(1, 6, size=2))
        s = None if trial % 5 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        c, h, w = int(rng.integers(1, 4)), int(rng.integers(k[0], 13)), int(rng.integers(k[1], 13))
        kwargs = {"stride": s, "padding": p, "mode": ("max", "avg")[trial % 2]}
        kwargs.update(ceil_mode=bool(rng.integers(0, 2)), count_include_pad=bool(trial % 3))
        yield Call((c, h, w, k), kwargs)


def _chw(rng, k):
    shape = (int(rng.integers(1, 4)), int(rng.integers(k[0], 13)), int(rng.integers(k[1], 13)))
    return _ints(rng, -4, 5, shape) if rng.integers(0, 2) else rng.standard_normal(shape)


def _separable(rng):
    for trial in range(10):
        k, _, p = _k_s_p(rng, 1, 6)
        s = None if trial % 4 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        yield Call((_chw(rng, k), k, s, p), {"ceil_mode": bool(rng.integers(0, 2))})


def _table(rng):
    for _ in range(4):
        yield Call((_chw(rng, (1, 1)),))


def _corners_only(x, k, s, p, ceil_mode):
    """x's summed-area table with NaN in every entry that is no window's corner: an answer
    that reads anything else (x recovered from the table, a window summed) returns NaN."""
    import torch
    import torch.nn.functional as F

    s = k if s is None else s
    table = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    table[:, 1:, 1:] = x.cumsum(axis=1).cumsum(axis=2)
    # torch says how many windows there are (the output size rule is not repeated here)
    n = F.max_pool2d(torch.zeros((1, *x.shape[1:])), k, s, p, ceil_mode=ceil_mode).shape[1:]
    keep = [np.arange(x.shape[0])]
    for axis in (0, 1):
        start = s[axis] * np.arange(n[axis]) - p[axis]
        size = x.shape[1 + axis]
        keep.append(np.union1d(np.clip(start, 0, size), np.clip(start + k[axis], 0, size)))
    poisoned = np.full(table.shape, np.nan)
    poisoned[np.ix_(*keep)] = table[np.ix_(*keep)]
    return poisoned


def _sat_corners(rng):
    for trial in range(8):
        k, _, p = _k_s_p(rng, 1, 6)
        s = tuple(int(v) for v in rng.integers(2, 6, size=2))  # strides > 1 leave gaps
        ceil_mode = bool(rng.integers(0, 2))
        table = _corners_only(_chw(rng, k), k, s, p, ceil_mode)
        yield Call((table, k, s, p), {"ceil_mode": ceil_mode, "count_include_pad": bool(trial % 2)})


def _sat(rng):
    for trial in range(10):
        k, _, p = _k_s_p(rng, 1, 6)
        s = None if trial % 4 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        kwargs = {"ceil_mode": bool(rng.integers(0, 2)), "count_include_pad": bool(trial % 2)}
        yield Call((_chw(rng, k), k, s, p), kwargs)


# ------------------------------------------------------------------------- 04 backprop


def _counts(rng):
    for trial in range(10):
        k, s = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(k, 9, size=2))
        yield Call((_ints(rng, 0, 3, (h, w)), k, s, ("max", "avg")[trial % 2]))


def _counts_1d(rng):
    for _ in range(12):
        n = int(rng.integers(1, 13))
        yield Call((n, int(rng.integers(1, min(n, 4) + 1)), int(rng.integers(1, 5))))


def _backward_shapes(rng):
    k, s = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = int(rng.integers(k, 9)), int(rng.integers(k, 9))
    out = (n, c, (h - k) // s + 1, (w - k) // s + 1)
    return (n, c, h, w), out, k, s


def _max_backward(rng):
    for _ in range(8):
        shape, out, k, s = _backward_shapes(rng)
        yield Call((rng.standard_normal(out), _ints(rng, 0, 4, shape), k, s))


def _avg_backward(rng):
    for _ in range(8):
        shape, out, k, s = _backward_shapes(rng)
        yield Call((rng.standard_normal(out), shape, k, s))


# ------------------------------------------------------------- 05 conv -> pool -> MSE -> SGD


def _conv_problem(rng, low, high, min_size=2):
    h, w = (int(v) for v in rng.integers(min_size, 7, size=2))
    kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    return _ints(rng, low, high, (h, w)), _ints(rng, low, high, (kh, kw))


def _forward(rng):
    for trial in range(10):
        x, kernel = _conv_problem(rng, -3, 4)
        yield Call((x, kernel, float(rng.integers(-20, 21))), {"pool": ("avg", "max")[trial % 2]})


def _rates(rng):
    for _ in range(12):  # inputs where S does not depend on the kernel are skipped
        x, kernel = _conv_problem(rng, -3, 4, min_size=1)
        if np.any(x):
            yield Call((x, kernel.shape))


EXERCISES: dict[str, list[Exercise]] = {
    "01-pooling-basics": [
        Exercise("test_pool2d", "pool2d", "pool2d", _pool2d),
        Exercise("test_pool_output_size", "pool_output_size", "pool_output_size",
                 _pool_output_size),
        Exercise("test_pad_left_top", "pad_left_top", "pad_left_top", _pad_left_top, None),
    ],
    "02-pooling-as-convolution": [
        Exercise("test_avg_pool_as_conv", "avg_pool_as_conv", "avg_pool_as_conv", _as_conv,
                 CONSTRUCTIONS(), rtol=1e-6, atol=1e-6),
        Exercise("test_avg_pool_exclude_pad_as_conv", "avg_pool_exclude_pad_as_conv",
                 "avg_pool_exclude_pad_as_conv", _as_conv, CONSTRUCTIONS(), rtol=1e-6, atol=1e-6),
        Exercise("test_max_pool2x2_net", "max_pool2x2_net", "max_pool2x2_net", _max_net,
                 CONSTRUCTIONS(), rtol=1e-6, atol=1e-6),
        Exercise("test_min_pool2d", "min_pool2d", "min_pool2d", _min_pool,
                 CONSTRUCTIONS(scratch=False)),
        Exercise("test_lse_pool2d", "lse_pool2d", "lse_pool2d", _lse,
                 CONSTRUCTIONS(forbidden_ops=("logsumexp",)), rtol=1e-6, atol=1e-6),
    ],
    "03-compute-cost": [
        Exercise("test_pool2d_cost", "pool2d_cost", "pool2d_cost", _cost, COST),
        Exercise("test_separable_max_pool2d", "separable_max_pool2d", "separable_max_pool2d",
                 _separable, COST),
        # each pass on its own; the column pass on arrays that are no row pass (issue 18)
        Exercise("test_separable_max_pool2d", "separable_max_pool2d", "max_row_pass",
                 _separable, COST),
        Exercise("test_separable_max_pool2d", "separable_max_pool2d", "max_column_pass",
                 _separable, COST),
        Exercise("test_sat_avg_pool2d", "sat_avg_pool2d", "sat_avg_pool2d", _sat, COST,
                 rtol=1e-6, atol=1e-9),
        # the table, and averages read off a table that holds only the windows' corners
        Exercise("test_sat_avg_pool2d", "sat_avg_pool2d", "summed_area_table", _table, COST,
                 rtol=1e-9, atol=1e-9),
        Exercise("test_sat_avg_pool2d", "sat_avg_pool2d", "averages_from_table", _sat_corners,
                 COST, rtol=1e-6, atol=1e-9),
    ],
    "04-backprop": [
        Exercise("test_gradient_counts", "gradient_counts", "gradient_counts", _counts,
                 SCRATCH_AUTOGRAD),
        Exercise("test_avg_counts_1d", "avg_counts_1d", "avg_counts_1d", _counts_1d,
                 SCRATCH_AUTOGRAD),
        Exercise("test_max_pool2d_backward", "max_pool2d_backward", "max_pool2d_backward",
                 _max_backward, SCRATCH_AUTOGRAD),
        Exercise("test_avg_pool2d_backward", "avg_pool2d_backward", "avg_pool2d_backward",
                 _avg_backward, SCRATCH_AUTOGRAD),
    ],
    "05-conv-pool-mse-sgd": [
        Exercise("test_forward", "forward", "forward", _forward, SCRATCH_AUTOGRAD),
        Exercise("test_backward", "backward", "backward", _forward, SCRATCH_AUTOGRAD),
        Exercise("test_critical_learning_rates", "critical_learning_rates",
                 "critical_learning_rates", _rates, SCRATCH_AUTOGRAD, rtol=1e-6),
    ],
}  # fmt: skip
