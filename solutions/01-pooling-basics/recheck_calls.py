"""Random calls for the clean re-check of notebook 01-pooling-basics (instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release. Integer-valued inputs make ties happen.
"""

from poolgrader.exercises import Call, T, ints, k_s_p, nchw  # noqa: F401


def pool2d(rng):
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(1, 9, size=2))
        size = (int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1)))
        stride = [None, int(rng.integers(1, 4)), tuple(int(v) for v in rng.integers(1, 4, 2))]
        x = ints(rng, -9, 3, (h, w))
        yield Call((x, size), {"stride": stride[trial % 3], "mode": ("max", "avg")[trial % 2]})


def pool_output_size(rng):
    for _ in range(40):
        k = int(rng.integers(1, 5))
        dilation = int(rng.integers(1, 4))
        size = int(rng.integers(dilation * (k - 1) + 1, 14))
        stride = [None, 1, 2, 3][int(rng.integers(0, 4))]
        kwargs = {"kernel_size": k, "stride": stride, "padding": int(rng.integers(0, k // 2 + 1))}
        kwargs.update(dilation=dilation, ceil_mode=bool(rng.integers(0, 2)))
        yield Call((size,), kwargs)


def pad_left_top(rng):
    for trial in range(10):
        h, w = (int(v) for v in rng.integers(1, 7, size=2))
        pad = int(rng.integers(0, 3)) if trial % 2 else tuple(int(v) for v in rng.integers(0, 4, 2))
        yield Call((ints(rng, -9, 2, (h, w)), pad), {"mode": ("max", "avg")[trial // 2 % 2]})


def pool2d_nchw(rng):
    for trial in range(12):
        k, s, p = k_s_p(rng, 1, 5)
        if trial % 4 == 0:  # an int kernel: a square window
            k, p = (k[0], k[0]), (min(p[0], k[0] // 2),) * 2
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        shape += (int(rng.integers(k[0], 9)), int(rng.integers(k[1], 9)))
        if trial % 4 == 0:
            k, p = k[0], p[0]
        elif trial % 4 == 1:  # an int padding: the same on both axes
            p = min(p)
        kwargs = {"stride": [None, s, s[0]][trial % 3], "padding": p}
        kwargs.update(mode=("max", "avg")[trial % 2], count_include_pad=bool(trial // 2 % 2))
        yield Call((ints(rng, -9, 4, shape), k), kwargs)
