"""Random calls for the clean re-check of notebook 04-backprop (instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release. Integer-valued inputs make ties happen.
"""

from poolgrader.exercises import Call, T, ints, k_s_p, nchw  # noqa: F401


def counts(rng):
    for trial in range(10):
        k, s = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(k, 9, size=2))
        yield Call((ints(rng, 0, 3, (h, w)), k, s, ("max", "avg")[trial % 2]))


def counts_1d(rng):
    for _ in range(12):
        n = int(rng.integers(1, 13))
        yield Call((n, int(rng.integers(1, min(n, 4) + 1)), int(rng.integers(1, 5))))


def backward_shapes(rng):
    k, s = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = int(rng.integers(k, 9)), int(rng.integers(k, 9))
    out = (n, c, (h - k) // s + 1, (w - k) // s + 1)
    return (n, c, h, w), out, k, s


def max_backward(rng):
    for _ in range(8):
        shape, out, k, s = backward_shapes(rng)
        yield Call((rng.standard_normal(out), ints(rng, 0, 4, shape), k, s))


def avg_backward(rng):
    for _ in range(8):
        shape, out, k, s = backward_shapes(rng)
        yield Call((rng.standard_normal(out), shape, k, s))


def avg_backward_padded(rng):
    from poolkit.shapes import pool2d_out_hw

    for trial in range(12):
        k = int(rng.integers(1, 5))
        s, p = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(k, 9)),
                 int(rng.integers(k, 9)))  # fmt: skip
        ceil_mode, count_include_pad = bool(trial % 2), bool(trial // 2 % 2)
        out = shape[:2] + pool2d_out_hw(shape[2:], k, s, p, 1, ceil_mode)
        yield Call((rng.standard_normal(out), shape, k, s, p, count_include_pad))
