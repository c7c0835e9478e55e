"""Check a submission before nbgrader sees it, and repair what would make nbgrader fail.

The student's files in ``grading/submitted/`` are never changed: the grader copies the
submission to a staging folder and grades that copy. There

- a notebook that is not valid JSON, not a notebook, or missing (for example saved
  under another name) is replaced by the blank release, so the student gets the blank
  release's score (0 here) and feedback that says what was wrong;
- nbgrader metadata that a student changed (points, grade ids, cell types of graded or
  locked cells) is put back from the release; a cell that claims a grade id the
  assignment does not have, or a second copy of one, becomes an ordinary cell.

Each repair is a note that goes into the student's feedback and the instructor's report.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import nbformat

__all__ = ["stage"]


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _read(path: Path):
    """The notebook at ``path``, or the reason it cannot be graded."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise ValueError("it has no list of cells")
        if data.get("nbformat") != 4:
            raise ValueError(f"it is not a version-4 notebook (nbformat {data.get('nbformat')!r})")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw"):
                raise ValueError(f"a cell has the unknown type {cell.get('cell_type')!r}")
            if not isinstance(cell.get("source"), str):
                raise ValueError("a cell's source is not text")
        return nb, None
    except (
        UnicodeDecodeError,
        ValueError,
        KeyError,
        AttributeError,
        TypeError,
        nbformat.ValidationError,
    ) as exc:
        return None, f"{path.name} could not be read as a notebook ({type(exc).__name__}: {exc})"
    except OSError as exc:
        return None, f"{path.name} could not be opened ({exc.strerror})"


def _repair_metadata(nb, release) -> list[str]:
    notes = []
    originals = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    seen = set()
    for index, cell in enumerate(nb.cells):
        meta = _meta(cell)
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        original = originals.get(grade_id)
        if original is None or grade_id in seen:
            why = "a second cell with" if grade_id in seen else "a cell with the unknown"
            notes.append(f"{why} grade id {grade_id!r} was graded as an ordinary cell")
            cell.metadata.pop("nbgrader", None)
            continue
        seen.add(grade_id)
        if cell.cell_type != original.cell_type:
            notes.append(f"cell {grade_id!r} had its type changed; the release's cell was used")
            nb.cells[index] = copy.deepcopy(original)
        elif meta != _meta(original):
            changed = sorted(k for k in set(meta) | set(_meta(original))
                             if meta.get(k) != _meta(original).get(k))  # fmt: skip
            notes.append(
                f"cell {grade_id!r} had its grading metadata changed ({', '.join(changed)}); "
                "the release's metadata was put back"
            )
            cell.metadata["nbgrader"] = copy.deepcopy(_meta(original))
    return notes


def stage(submitted: Path, staged: Path, release_dir: Path, notebooks: list[str]) -> list[str]:
    """Copy ``submitted`` to ``staged``, repairing it; return the notes on what was repaired."""
    notes: list[str] = []
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for item in submitted.iterdir() if submitted.is_dir() else []:
        if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
            shutil.copy2(item, staged / item.name)
    present = sorted(p.name for p in submitted.glob("*.ipynb")) if submitted.is_dir() else []
    for name in notebooks:
        release = nbformat.read(release_dir / f"{name}.ipynb", as_version=4)
        path = submitted / f"{name}.ipynb"
        if path.is_file() and not path.is_symlink():
            nb, problem = _read(path)
        else:
            found = f" (found: {', '.join(present)})" if present else ""
            nb, problem = None, f"no notebook named {name}.ipynb was submitted{found}"
        if nb is None:
            notes.append(f"{problem}; it was graded as the blank release")
            nb = release
        else:
            notes += _repair_metadata(nb, release)
        nbformat.write(nb, staged / f"{name}.ipynb")
    return notes
