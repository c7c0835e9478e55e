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


def max_backward_indices(rng):
    """Indices from torch's forward pass; then a tall and a wide plane with thousands of
    windows, so that a Python loop over windows, rows or columns exceeds the line budget."""
    import torch
    import torch.nn.functional as F

    def call(shape, k, s, p, ceil_mode):
        x = torch.from_numpy(ints(rng, 0, 4, shape))  # integers: ties
        _, idx = F.max_pool2d(x, k, s, p, ceil_mode=ceil_mode, return_indices=True)
        return Call((rng.standard_normal(tuple(idx.shape)), idx.numpy(), shape))

    for trial in range(8):
        k = int(rng.integers(1, 5))
        s, p = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(k, 9)),
                 int(rng.integers(k, 9)))  # fmt: skip
        yield call(shape, k, s, p, bool(trial % 2))
    # 65,536 and 57,316 windows: a loop over them in another thread takes several times
    # the CPU time the grader allows other threads (poolgrader.recheck.OTHER_THREADS_CPU)
    yield call((2, 2, 2048, 8), 3, 1, 1, False)
    yield call((2, 2, 8, 2048), 2, 1, 0, True)
