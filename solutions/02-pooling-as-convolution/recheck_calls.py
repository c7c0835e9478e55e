"""Random calls for the clean re-check of notebook 02-pooling-as-convolution (instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release. Integer-valued inputs make ties happen.
"""

from poolgrader.exercises import Call, T, ints, k_s_p, nchw  # noqa: F401


def as_conv(rng):
    for trial in range(10):
        k, s, p = k_s_p(rng)
        args = (nchw(rng, k), k) if trial % 3 else (nchw(rng, (k[0], k[0])), k[0])
        yield Call(args, {} if trial % 4 == 0 else {"stride": s, "padding": p} if trial % 3 else {})


def max_net(rng):
    for trial in range(6):
        channels = int(rng.integers(1, 5))
        shape = (
            int(rng.integers(1, 3)),
            channels,
            int(rng.integers(2, 9)),
            int(rng.integers(2, 9)),
        )
        x = ints(rng, -3, 4, shape) * (1000.0 if trial % 3 == 2 else 1.0)
        yield Call((channels,), then=[["double"], ["__call__", T(x)]])


def min_pool(rng):
    for trial in range(8):
        k, s, p = k_s_p(rng)
        yield Call((nchw(rng, k, -4 if trial % 2 else 1, 5), k, s, p))


def lse(rng):
    for _ in range(8):
        k, s, p = k_s_p(rng)
        x = nchw(rng, k, -4, 5)
        x.array = x.array + float(rng.choice([0.0, 1000.0, -1000.0, 1e6]))
        yield Call((x, float(rng.choice([0.25, 1.0, 4.0])), k, s, p))
