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
