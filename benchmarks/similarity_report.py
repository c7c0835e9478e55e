#!/usr/bin/env python3
"""How long the class report's near-copy check takes for a class of hundreds.

    .venv/bin/python benchmarks/similarity_report.py                # 200 students of 01
    .venv/bin/python benchmarks/similarity_report.py --students 400 --baseline 30

It writes a synthetic class into a temporary copy of the course: every student's notebook
of ``--assignment`` holds, in each code answer cell, one of a few correct answers (the
model answer among them) with its names changed and a few random lines of its own added,
or the released skeleton (unanswered), or a verbatim copy of another student's. Few
distinct answers is the slow case: most pairs share fingerprints and must be compared.

Then it times ``poolgrader.report.near_copy_pairs`` over the class (each cell fingerprinted
once; only pairs that share a fingerprint compared), and, as the baseline in the same run,
``similarity.pair`` on every pair of the first ``--baseline`` students (fingerprints
recomputed for every pair, as a loop over pairs would), scaled to the class's number of
pairs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from nbgrader_course import is_answer, nb_meta, strip_markers  # noqa: E402
from similar_answers import COPIER, HONEST  # noqa: E402

EXTRA = [
    "    assert {v} is not None\n",
    "    {v} = {n}  # scratch\n",
    "    _unused_{n} = [{n}] * {m}\n",
    "    if {n} < 0:\n        print('never', {m})\n",
]


def _variant(source: str, rng: random.Random) -> str:
    names = sorted(set(re.findall(r"\b([a-z_][a-z0-9_]*) =", source)))
    for name in names:
        if rng.random() < 0.5:
            source = re.sub(rf"\b{name}\b", f"{name}_{rng.randrange(99)}", source)
    lines = source.splitlines(keepends=True)
    body = next(
        (i for i, line in enumerate(lines) if line.startswith("    ") and '"""' not in line), 1
    )
    for _ in range(rng.randrange(1, 4)):
        extra = rng.choice(EXTRA).format(
            v=f"tmp{rng.randrange(9)}", n=rng.randrange(1000), m=rng.randrange(9)
        )
        lines.insert(rng.randrange(body, len(lines)), extra)
    return "".join(lines)


def write_class(root: Path, assignment: str, students: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    release = nbformat.read(root / "notebooks" / assignment / f"{assignment}.ipynb", 4)
    solution = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    model = {
        nb_meta(c)["grade_id"]: strip_markers(c.source) for c in solution.cells if is_answer(c)
    }
    skeleton = {nb_meta(c)["grade_id"]: c.source for c in release.cells if is_answer(c)}
    bases = {g: [m] for g, m in model.items()}
    if "pool2d" in bases:  # two more independent answers (tests/similar_answers.py)
        head = skeleton["pool2d"][: skeleton["pool2d"].index("    # YOUR CODE HERE")]
        bases["pool2d"] += [head + HONEST, head + COPIER]
    ids, sources = [], {}
    for k in range(students):
        student = f"s{k:04d}"
        nb = nbformat.from_dict(release)
        for cell in nb.cells:
            if not is_answer(cell) or cell.cell_type != "code":
                continue
            g = nb_meta(cell)["grade_id"]
            roll = rng.random()
            if roll < 0.1 or not ids:
                cell.source = skeleton[g]
            elif roll < 0.15:
                cell.source = sources[rng.choice(ids), g]  # a verbatim copy of another's
            else:
                cell.source = _variant(rng.choice(bases[g]), rng)
            sources[student, g] = cell.source
        folder = root / "grading" / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
        ids.append(student)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="01-pooling-basics")
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=25, help="students in the baseline")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()

    from nbgrader.coursedir import CourseDirectory
    from poolgrader.report import near_copy_pairs
    from poolgrader.similarity import pair
    from traitlets.config import Config

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for step in ("solutions", "notebooks"):
            shutil.copytree(REPO / step / args.assignment, root / step / args.assignment)
        students = write_class(root, args.assignment, args.students, args.seed)
        config = Config()
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.source_directory = "solutions"
        config.CourseDirectory.release_directory = "notebooks"
        config.CourseDirectory.submitted_directory = "grading/submitted"
        config.CourseDirectory.autograded_directory = "grading/autograded"
        cd = CourseDirectory(config=config)

        started = time.perf_counter()
        found, checked = near_copy_pairs(cd, args.assignment, students)
        seconds = time.perf_counter() - started
        per_cell = {}
        for p in found:
            per_cell[p.cell] = per_cell.get(p.cell, 0) + 1

        # Baseline: pair() on every pair of the first students, fingerprints made each time.
        few = students[: args.baseline]
        cells = {}
        for s in few:
            nb = nbformat.read(root / "grading" / "submitted" / s / args.assignment
                               / f"{args.assignment}.ipynb", 4)  # fmt: skip
            for c in nb.cells:
                if is_answer(c) and c.cell_type == "code":
                    cells.setdefault(nb_meta(c)["grade_id"], {})[s] = c.source
        skeletons = {
            nb_meta(c)["grade_id"]: c.source
            for c in nbformat.read(
                root / "notebooks" / args.assignment / f"{args.assignment}.ipynb", 4
            ).cells  # fmt: skip
            if is_answer(c)
        }
        started = time.perf_counter()
        compared = 0
        for g, by_student in cells.items():
            for a, b in combinations(by_student, 2):
                pair(by_student[a], by_student[b], skeletons[g])
                compared += 1
        naive = time.perf_counter() - started
    all_pairs = len(cells) * args.students * (args.students - 1) // 2
    scaled = naive / compared * all_pairs
    print(f"{args.students} students of {args.assignment}, {checked['cells']} code answer cells, "
          f"{checked['answers']} answers compared (blank ones skipped)")  # fmt: skip
    print(f"near_copy_pairs: {seconds:.1f} s (reading the notebooks included), "
          f"{len(found)} pairs at or above {checked['threshold']}: {per_cell}")  # fmt: skip
    print(f"baseline, pair() on every pair: {compared} pairs of {args.baseline} students "
          f"in {naive:.1f} s; {all_pairs} pairs of the class would take about "
          f"{scaled:.0f} s")  # fmt: skip
    print(f"ratio baseline / near_copy_pairs: {scaled / seconds:.0f}x")


if __name__ == "__main__":
    main()
