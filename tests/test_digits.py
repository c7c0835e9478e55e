"""``helpers/poolkit/data/digits.npz``, notebook 06's data: the file holds UCI's digits as
DIGITS.md describes them, and ``make_digits.py`` remakes it byte for byte from the
scikit-learn wheel it names (that test downloads the wheel, so it needs PyPI)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import poolkit
import pytest

DATA = Path(poolkit.__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("make_digits", DATA / "make_digits.py")
make_digits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_digits)


def test_the_file_holds_the_digits_its_notes_describe():
    with np.load(DATA / "digits.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["images", "labels"]
        images, labels = data["images"], data["labels"]
    assert images.dtype == labels.dtype == np.uint8
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() == 16
    assert tuple(np.bincount(labels)) == make_digits.CLASS_COUNTS
    notes = (DATA / "DIGITS.md").read_text()
    sizes = ", ".join(str(n) for n in make_digits.CLASS_COUNTS)
    assert sizes in notes
    assert f"{(DATA / 'digits.npz').stat().st_size:,} bytes" in notes
    # Every digit has ink: no blank image slipped in.
    assert (images.reshape(1797, -1).sum(axis=1) > 0).all()


def test_the_file_has_no_timestamps():
    with zipfile.ZipFile(DATA / "digits.npz") as z:
        assert {info.date_time for info in z.infolist()} == {(1998, 7, 1, 0, 0, 0)}


def test_the_reader_refuses_a_table_that_is_not_the_digits(tmp_path):
    import gzip

    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(make_digits.MEMBER, gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(ValueError, match="expected 1797 rows of 65 values"):
        make_digits.read_table(wheel)


@pytest.mark.network
def test_the_script_remakes_the_file_byte_for_byte(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", make_digits.SKLEARN, "--no-deps",
         "--only-binary=:all:", "--dest", str(tmp_path), "--quiet"],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    images, labels = make_digits.read_table(wheel)
    out = tmp_path / "digits.npz"
    make_digits.write(images, labels, out)
    assert out.read_bytes() == (DATA / "digits.npz").read_bytes()
