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


def rates(rng):
    for _ in range(12):  # inputs where S does not depend on the kernel are skipped
        x, kernel = conv_problem(rng, -3, 4, min_size=1)
        if np.any(x):
            yield Call((x, kernel.shape))
