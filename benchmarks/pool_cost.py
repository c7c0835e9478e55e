#!/usr/bin/env python3
"""A longer timing sweep than notebook 03 can afford: pooling time against kernel size.

    .venv/bin/python benchmarks/pool_cost.py                  # 1×128×128, kernels 2..15
    .venv/bin/python benchmarks/pool_cost.py --size 256 --channels 8 --loop

For every kernel size it prints, per implementation, the best time of ``--repeats`` runs
and its ratio to torch's time measured in the same run (so the ratios are comparable
across machines even when absolute times are not), with the operations the algorithm
performs according to ``poolkey.cost``. Everything runs on one thread. This is a script,
not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from poolkey import cost, reference


def best_time(f, repeats: int, *args) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - started)
    return min(times)


def arithmetic(counts: dict[str, int]) -> int:
    """All counted operations: comparisons, additions and divisions."""
    return counts["comparisons"] + counts["additions"] + counts["divisions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="input height and width")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--kernels", type=int, nargs=2, default=(2, 15), metavar=("MIN", "MAX"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop", action="store_true", help="also time the counting loop (slow)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    c, n = args.channels, args.size
    x = np.random.default_rng(0).standard_normal((c, n, n))
    xt = torch.from_numpy(x)[None]

    def direct(k):
        return cost.pool2d_cost(c, n, n, k, 1)["comparisons"]

    impls = {
        "torch max": (lambda k: F.max_pool2d(xt, k, 1), direct),
        "reference max": (lambda k: reference.max_pool2d(x, k, 1), direct),
        "separable max": (
            lambda k: cost.separable_max_pool2d(x, k, 1),
            lambda k: cost.separable_max_cost(c, n, n, k, 1)["comparisons"],
        ),
        "torch avg": (
            lambda k: F.avg_pool2d(xt, k, 1),
            lambda k: arithmetic(cost.pool2d_cost(c, n, n, k, 1, mode="avg")),
        ),
        "summed-area avg": (
            lambda k: cost.sat_avg_pool2d(x, k, 1),
            lambda k: arithmetic(cost.sat_avg_cost(c, n, n, k, 1)),
        ),
    }
    if args.loop:
        impls["loop max"] = (lambda k: cost.counted_pool2d(x, k, 1), direct)

    print(f"input {c}×{n}×{n}, stride 1, best of {args.repeats}, one thread")
    print(f"{'k':>3} {'implementation':<16} {'operations':>12} {'time (ms)':>10} {'× torch':>8}")
    for k in range(args.kernels[0], args.kernels[1] + 1):
        baseline = {}
        for label, (run, ops) in impls.items():
            seconds = best_time(run, 1 if label == "loop max" else args.repeats, k)
            kind = label.split()[-1]
            baseline.setdefault(kind, seconds)  # torch comes first for each kind
            print(
                f"{k:>3} {label:<16} {ops(k):>12,} {1e3 * seconds:>10.3f} "
                f"{seconds / baseline[kind]:>8.2f}"
            )


if __name__ == "__main__":
    main()
