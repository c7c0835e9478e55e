#!/usr/bin/env python3
"""What notebook 06's experiment costs: five variants, several seeds, one torch thread.

    .venv/bin/python benchmarks/notebook06_training.py                 # 06's settings
    .venv/bin/python benchmarks/notebook06_training.py --recalibrate 0 # without precise BN
    .venv/bin/python benchmarks/notebook06_training.py --whole         # 06's run-all vs 05's

The notebook must run top to bottom in under 15 s on 2 cores, training included, so this
prints, for the settings given:

1. each variant's training and evaluation time (``poolkit.nets.train`` and
   ``accuracy_by_shift`` on the test digits at all 49 offsets), its centred accuracy and its
   accuracy over all offsets, per seed, and the total;
2. three baselines measured in the same run, as ratios:
   - importing torch and ``torch.optim`` against importing torch alone (why
     ``poolkit.nets`` writes its Adam out);
   - the seeds trained as one grouped network against one network per seed;
   - ``F.max_pool2d(x, 2, stride=1)`` against ``poolkit.nets._max_2x2_stride_1`` on an
     evaluation-sized batch (the blur variant's first step).

3. with ``--whole``, notebook 06's run-all and, as the baseline, notebook 05's, alternately
   in the same run (nbclient, kernel start included), with their ratios. 06 fits the 15 s
   budget where 05 does when the ratio stays near 1.

It asserts nothing. The blur variant runs a blur written here ([1, 2, 1] ⊗ [1, 2, 1] / 16,
reflect padding, depthwise convolution), not an answer from the course.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from poolkit import digits, nets  # noqa: E402


def blur(x, stride=2):
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, stride=stride, groups=x.shape[1])


def best_of(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The defaults are notebook 06's settings.
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--recalibrate", type=int, default=500, help="0: moving averages")
    parser.add_argument("--train", type=int, default=1000, help="training digits")
    parser.add_argument("--test", type=int, default=60, help="test digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="run-all 06 against 05")
    parser.add_argument("--repeats", type=int, default=2, help="run-alls of each, for --whole")
    args = parser.parse_args()
    if args.whole:
        whole(args)
        return
    torch.set_num_threads(1)
    split = digits.split(args.train, args.test)
    x = digits.place(split.train_images)
    seeds = tuple(range(args.seeds))
    total = 0.0
    print(f"{args.steps} steps of 32 at lr {args.lr}, batch norm recalibrated on "
          f"{args.recalibrate} digits, {args.train} training and {args.test} test digits, "
          f"seeds {seeds}, 1 thread")  # fmt: skip
    for variant in nets.VARIANTS:
        trained = nets.train(variant, x, split.train_labels, seeds, args.steps, lr=args.lr,
                             blur=blur, recalibrate=args.recalibrate)  # fmt: skip
        start = time.perf_counter()
        acc = nets.accuracy_by_shift(trained, split.test_images, split.test_labels)
        evaluate = time.perf_counter() - start
        total += trained.seconds + evaluate
        m = digits.MAX_SHIFT
        print(
            f"  {variant:8s} train {trained.seconds:5.2f} s  evaluate {evaluate:5.2f} s  "
            f"centred {acc[:, m, m].round(3)}  all offsets {acc.mean(axis=(1, 2)).round(3)}"
        )
    print(f"  total {total:.2f} s")

    imports = {}
    for modules in ("torch", "torch, torch.optim"):
        run = [sys.executable, "-c", f"import {modules}"]
        imports[modules] = best_of(lambda run=run: subprocess.run(run, check=True), 3)
    print(f"import torch: {imports['torch']:.2f} s; with torch.optim: "
          f"{imports['torch, torch.optim']:.2f} s; "
          f"ratio {imports['torch, torch.optim'] / imports['torch']:.2f}")  # fmt: skip
    grouped = best_of(lambda: nets.train("max", x, split.train_labels, seeds, 30), 2)
    alone = best_of(lambda: [nets.train("max", x, split.train_labels, (s,), 30) for s in seeds], 2)
    print(f"grouped seeds: {grouped:.2f} s; one network per seed: {alone:.2f} s; "
          f"ratio {alone / grouped:.2f}")  # fmt: skip
    maps = torch.randn(args.test * 49, args.seeds * 8, 16, 16)
    stock = best_of(lambda: F.max_pool2d(maps, 2, stride=1))
    mine = best_of(lambda: nets._max_2x2_stride_1(maps))
    assert torch.equal(F.max_pool2d(maps, 2, stride=1), nets._max_2x2_stride_1(maps))
    print(f"max 2×2 stride 1 on {tuple(maps.shape)}: F.max_pool2d {stock:.3f} s, two maxima "
          f"{mine:.3f} s, ratio {stock / mine:.2f}")  # fmt: skip


def whole(args) -> None:
    """Notebook 06's run-all against notebook 05's, alternately, in this run (nbclient,
    kernel start included): 06 fits the 15 s budget where 05 does when the ratio is near 1."""
    import nbformat
    from nbclient import NotebookClient

    solutions = Path(__file__).resolve().parents[1] / "solutions"
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in ("05-conv-pool-mse-sgd", "06-pooling-in-a-trained-network"):
            path = solutions / name / f"{name}.ipynb"
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            where = {"metadata": {"path": str(path.parent)}}
            NotebookClient(nb, timeout=120, kernel_name="python3", resources=where).execute()
            times.setdefault(name[:2], []).append(time.perf_counter() - start)
    for key, values in times.items():
        print(f"notebook {key} run-all: " + ", ".join(f"{v:.2f} s" for v in values))
    ratios = [b / a for a, b in zip(times["05"], times["06"], strict=True)]
    print("06 / 05, run by run: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
