"""Writes ``digits.npz`` next to this file: the UCI handwritten digits, as scikit-learn ships
them, with nothing changed.

Run it from the repository root with the course's environment::

    .venv/bin/python helpers/poolkit/data/make_digits.py

It downloads one scikit-learn wheel with pip (no dependencies, nothing installed), reads
``sklearn/datasets/data/digits.csv.gz`` out of it, checks the table's shape, value range and
class counts, and writes two arrays, compressed:

- ``images``: uint8, shape (1797, 8, 8), values 0..16 (the number of "on" pixels in a 4×4
  block of the 32×32 original);
- ``labels``: uint8, shape (1797,), the digit 0..9.

The output is byte-for-byte the same every run (``tests/test_digits.py`` re-reads the table
and compares). ``DIGITS.md`` records where the data comes from and its licence.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SKLEARN = "scikit-learn==1.5.2"
MEMBER = "sklearn/datasets/data/digits.csv.gz"
OUT = Path(__file__).with_name("digits.npz")
# The UCI test set (optdigits.tes), which is what scikit-learn ships: 1,797 digits.
CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


def read_table(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"{MEMBER}: expected 1797 rows of 65 values, got {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16:
        raise ValueError(f"{MEMBER}: pixel values must lie in 0..16")
    if tuple(np.bincount(labels, minlength=10)) != CLASS_COUNTS:
        raise ValueError(f"{MEMBER}: class counts differ from UCI's {CLASS_COUNTS}")
    return pixels.reshape(-1, 8, 8).astype(np.uint8), labels.astype(np.uint8)


def write(images: np.ndarray, labels: np.ndarray, path: Path = OUT) -> None:
    # np.savez_compressed stamps the current time into its zip entries; a fixed date keeps
    # the file reproducible.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, array in (("images", images), ("labels", labels)):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1998, 7, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buffer.getvalue())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", SKLEARN, "--no-deps",
             "--only-binary=:all:", "--dest", tmp, "--quiet"],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("*.whl")
        images, labels = read_table(wheel)
    write(images, labels)
    print(f"wrote {OUT.name}: {len(labels)} digits, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
