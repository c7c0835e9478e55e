"""Real handwritten digits on a larger canvas, for notebook 06.

The digits are UCI's 1,797 handwritten digits, 8×8 with 17 grey levels (``data/DIGITS.md``
says where they come from and under which licence). To study shifts, each digit is drawn
on a ``CANVAS`` × ``CANVAS`` canvas of zeros: centred for training, and moved by up to
``MAX_SHIFT`` pixels in each direction for testing. A centred digit leaves a border of
``(CANVAS - 8) // 2 = 4`` pixels on every side, so every shift up to 4 keeps all of it on the
canvas, and moving a digit by ``(dy, dx)`` is the same as ``torch.roll`` of the centred
canvas by ``(dy, dx)``.

- ``load()``: images (1797, 8, 8) float32 in [0, 1] and labels (1797,) int64.
- ``split(n_train, n_test, seed)``: a fixed, seeded split into training and test digits.
- ``place(images, dy=0, dx=0)``: digits on the canvas, (N, 1, CANVAS, CANVAS) float32.
- ``shifts(max_shift)``: the offsets (dy, dx), row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from poolkit.shapes import int_in_range

__all__ = ["CANVAS", "MAX_SHIFT", "SPLIT_SEED", "Split", "load", "place", "shifts", "split"]

DATA = Path(__file__).with_name("data") / "digits.npz"
CANVAS = 16
DIGIT = 8
BORDER = (CANVAS - DIGIT) // 2
MAX_SHIFT = 3
SPLIT_SEED = 2026


def load() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images (1797, 8, 8) float32 in [0, 1] (the 0..16 counts divided by
    16) and labels (1797,) int64."""
    with np.load(DATA, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    return images.astype(np.float32) / 16, labels.astype(np.int64)


@dataclass(frozen=True)
class Split:
    """Training and test digits: images (n, 8, 8) float32, labels (n,) int64, and which of
    ``load()``'s digits they are (``train_index``, ``test_index``)."""

    train_index: np.ndarray
    test_index: np.ndarray
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def split(n_train: int = 1000, n_test: int = 300, seed: int = SPLIT_SEED) -> Split:
    """A fixed split: a permutation of the 1,797 digits by ``np.random.default_rng(seed)``;
    the first ``n_train`` train, the next ``n_test`` test. No digit is in both."""
    images, labels = load()
    n_train = int_in_range("n_train", n_train, 1, len(labels) - 1)
    n_test = int_in_range("n_test", n_test, 1, len(labels) - n_train)
    order = np.random.default_rng(seed).permutation(len(labels))
    train, test = order[:n_train], order[n_train : n_train + n_test]
    return Split(train, test, images[train], labels[train], images[test], labels[test])


def place(images, dy: int = 0, dx: int = 0) -> torch.Tensor:
    """Digits on the canvas: ``images`` (N, 8, 8) → (N, 1, CANVAS, CANVAS) float32 of zeros
    with each digit's top-left pixel at ``(BORDER + dy, BORDER + dx)``. ``dy`` > 0 moves it
    down, ``dx`` > 0 to the right; each must lie in [-BORDER, BORDER]."""
    dy = int_in_range("dy", dy, -BORDER, BORDER)
    dx = int_in_range("dx", dx, -BORDER, BORDER)
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if images.ndim != 3 or images.shape[1:] != (DIGIT, DIGIT):
        raise ValueError(f"images must have shape (N, 8, 8), got {tuple(images.shape)}")
    canvas = images.new_zeros(len(images), 1, CANVAS, CANVAS)
    top, left = BORDER + dy, BORDER + dx
    canvas[:, 0, top : top + DIGIT, left : left + DIGIT] = images
    return canvas


def shifts(max_shift: int = MAX_SHIFT) -> list[tuple[int, int]]:
    """Every offset (dy, dx) with |dy|, |dx| <= max_shift, row by row: (2m + 1)² of them."""
    m = int_in_range("max_shift", max_shift, 0, BORDER)
    return [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
