"""Random calls for the clean re-check of notebook 05-conv-pool-mse-sgd (instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release. Integer-valued inputs make ties happen.
"""

import numpy as np
from poolgrader.exercises import Call, T, ints, k_s_p, nchw  # noqa: F401


def conv_problem(rng, low, high, min_size=2):
    h, w = (int(v) for v in rng.integers(min_size, 7, size=2))
    kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    return ints(rng, low, high, (h, w)), ints(rng, low, high, (kh, kw))


def forward(rng):
    for trial in range(10):
        x, kernel = conv_problem(rng, -3, 4)
        yield Call((x, kernel, float(rng.integers(-20, 21))), {"pool": ("avg", "max")[trial % 2]})


def pooled_rate(rng):
    """(x, kernel_shape, pool_kernel_size) with a pooled map that depends on the kernel."""
    from numpy.lib.stride_tricks import sliding_window_view

    trial = 0
    while trial < 12:
        h, w = (int(v) for v in rng.integers(2, 8, size=2))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        ph, pw = int(rng.integers(1, h - kh + 2)), int(rng.integers(1, w - kw + 2))
        pool = min(ph, pw) if trial % 2 else (ph, pw)
        x = ints(rng, -3, 4, (h, w)) if trial % 3 else (2 * rng.standard_normal((h, w))).round(2)
        # Every window's sum of patches is zero: no rate to find (the contract excludes it).
        sums = sliding_window_view(sliding_window_view(x, (kh, kw)), (ph, pw), axis=(0, 1))
        if np.abs(sums[::ph, ::pw].sum(axis=(-2, -1))).max() > 1e-9:
            yield Call((x, (kh, kw), pool))
            trial += 1
