"""Random calls for the clean re-check of notebook 06-pooling-in-a-trained-network
(instructor only).

The grader (``poolgrader.exercises``) draws from these generators, named by the ``calls``
key of each exercise in ``rules.toml`` beside this file; nbgrader's ignore list keeps this
file out of the student release.
"""

from poolgrader.exercises import Call, LinearModel, T, ints


def blur(rng):
    """(N, C, H, W) integer-valued maps, H and W at least 2, strides 1 to 3."""
    for _ in range(12):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(2, 10)),
                 int(rng.integers(2, 10)))  # fmt: skip
        yield Call((T(ints(rng, -5, 6, shape)),), {"stride": int(rng.integers(1, 4))})


def consistency(rng):
    """A random linear model on small images with values 0..2, max_shift 1 to 3."""
    for _ in range(6):
        n, h, w = int(rng.integers(1, 6)), int(rng.integers(4, 9)), int(rng.integers(4, 9))
        weight = rng.standard_normal((int(rng.integers(2, 6)), h * w))
        images = T(ints(rng, 0, 3, (n, 1, h, w)))
        yield Call((LinearModel(weight), images, int(rng.integers(1, 4))))


def fields(rng):
    """Stacks of 0 to 5 layers (kernel 1..5, stride 1..3, dilation 1..2)."""
    for _ in range(20):
        depth = int(rng.integers(0, 6))
        layers = [
            tuple(int(v) for v in (rng.integers(1, 6), rng.integers(1, 4), rng.integers(1, 3)))
            for _ in range(depth)
        ]
        yield Call((layers,))
