"""Random calls for the clean re-check of notebook 03-compute-cost (instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release. Integer-valued inputs make ties happen.
"""

from poolgrader.exercises import Call, T, ints, k_s_p, nchw  # noqa: F401


def cost(rng):
    for trial in range(16):
        k = tuple(int(v) for v in rng.integers(1, 6, size=2))
        s = None if trial % 5 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        c, h, w = int(rng.integers(1, 4)), int(rng.integers(k[0], 13)), int(rng.integers(k[1], 13))
        kwargs = {"stride": s, "padding": p, "mode": ("max", "avg")[trial % 2]}
        kwargs.update(ceil_mode=bool(rng.integers(0, 2)), count_include_pad=bool(trial % 3))
        yield Call((c, h, w, k), kwargs)


def d2l_cost(rng):
    for trial in range(16):
        ph, pw = (int(v) for v in rng.integers(2, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 5, size=2))
        c, h, w = int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
        yield Call((c, h, w, ph, pw, sh, sw), {"mode": ("max", "avg")[trial % 2]})


def chw(rng, k):
    shape = (int(rng.integers(1, 4)), int(rng.integers(k[0], 13)), int(rng.integers(k[1], 13)))
    return ints(rng, -4, 5, shape) if rng.integers(0, 2) else rng.standard_normal(shape)


def separable(rng):
    for trial in range(10):
        k, _, p = k_s_p(rng, 1, 6)
        s = None if trial % 4 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        yield Call((chw(rng, k), k, s, p), {"ceil_mode": bool(rng.integers(0, 2))})


def sat(rng):
    for trial in range(10):
        k, _, p = k_s_p(rng, 1, 6)
        s = None if trial % 4 == 0 else tuple(int(v) for v in rng.integers(1, 6, size=2))
        kwargs = {"ceil_mode": bool(rng.integers(0, 2)), "count_include_pad": bool(trial % 2)}
        yield Call((chw(rng, k), k, s, p), kwargs)


# Each step of the two algorithm exercises on its own (issue 18: a direct window computation
# must fail them): the table alone, and averages read off a table that holds only corners.


def table(rng):
    for _ in range(4):
        yield Call((chw(rng, (1, 1)),))


def corners_only(x, k, s, p, ceil_mode):
    """x's summed-area table with NaN in every entry that is no window's corner: an answer
    that reads anything else (x recovered from the table, a window summed) returns NaN."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    s = k if s is None else s
    full = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    full[:, 1:, 1:] = x.cumsum(axis=1).cumsum(axis=2)
    # torch says how many windows there are (the output size rule is not repeated here)
    n = F.max_pool2d(torch.zeros((1, *x.shape[1:])), k, s, p, ceil_mode=ceil_mode).shape[1:]
    keep = [np.arange(x.shape[0])]
    for axis in (0, 1):
        start = s[axis] * np.arange(n[axis]) - p[axis]
        size = x.shape[1 + axis]
        keep.append(np.union1d(np.clip(start, 0, size), np.clip(start + k[axis], 0, size)))
    poisoned = np.full(full.shape, np.nan)
    poisoned[np.ix_(*keep)] = full[np.ix_(*keep)]
    return poisoned


def sat_corners(rng):
    for trial in range(8):
        k, _, p = k_s_p(rng, 1, 6)
        s = tuple(int(v) for v in rng.integers(2, 6, size=2))  # strides > 1 leave gaps
        ceil_mode = bool(rng.integers(0, 2))
        poisoned = corners_only(chw(rng, k), k, s, p, ceil_mode)
        yield Call(
            (poisoned, k, s, p), {"ceil_mode": ceil_mode, "count_include_pad": bool(trial % 2)}
        )
