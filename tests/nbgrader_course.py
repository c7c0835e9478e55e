"""Helpers for tests that drive stock nbgrader over a temporary copy of the course."""

from __future__ import annotations

import ast
import copy
import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARK_SCHEME = "Mark scheme"


def nbgrader(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a stock ``nbgrader`` command in ``cwd`` with this venv's bin first on PATH."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"nbgrader {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def copy_course(dest: Path, with_release: bool = True) -> Path:
    """Copy what nbgrader needs (config, solutions, and the committed release) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", dest)
    shutil.copytree(REPO / "solutions", dest / "solutions")
    if with_release:
        shutil.copytree(REPO / "notebooks", dest / "notebooks")
    return dest


def generated_course(dest: Path, assignment: str) -> Path:
    """A course in ``dest`` in which stock ``nbgrader generate_assignment`` made the
    assignment's release (in notebooks/) and its gradebook."""
    root = copy_course(dest, with_release=False)
    nbgrader("generate_assignment", assignment, "--force", cwd=root)
    return root


def copy_generated(template: Path, dest: Path) -> Path:
    """A copy in ``dest`` of a generated course: config, sources, release and gradebook
    (nbgrader_config.py finds its folders from its own place, so the copy uses its own)."""
    shutil.copytree(template, dest, dirs_exist_ok=True)
    return dest


def notebook_path(root: Path, step: str, assignment: str) -> Path:
    return root / step / assignment / f"{assignment}.ipynb"


def nb_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell) -> bool:
    return bool(nb_meta(cell).get("solution"))


def is_test(cell) -> bool:
    meta = nb_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def regions(source: str, begin: str, end: str, *, inside: bool = True) -> list[str]:
    """The lines strictly between ``begin`` and ``end`` markers (``inside=False``: the
    lines outside them, markers left out)."""
    out, within = [], False
    for line in source.splitlines():
        if begin in line:
            within = True
        elif end in line:
            within = False
        elif within == inside:
            out.append(line)
    return out


def secret_lines(solution_nb, kind: str) -> set[str]:
    """Distinctive lines of solution code or hidden tests: they must not reach students.

    Only lines that appear nowhere else in the notebook, and long enough to be specific,
    are kept, so a hit is a real leak rather than a shared line such as ``return out``.
    """
    begin, end = SOLUTION_MARKERS if kind == "solution" else HIDDEN_MARKERS
    secret, public = [], []
    for cell in solution_nb.cells:
        if cell.cell_type != "code":
            continue
        secret += regions(cell.source, begin, end)
        # A line that the visible part of a cell repeats (a test's `call = ...`) is public.
        public += regions(cell.source, begin, end, inside=False)
    public_text = {" ".join(line.split()) for line in public}
    keep = set()
    for line in secret:
        norm = " ".join(line.split())
        if len(norm) >= 25 and not norm.startswith("#") and norm not in public_text:
            keep.add(norm)
    return keep


class _Text(HTMLParser):
    """Collects the text a reader sees: not the contents of <style> and <script>."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_text(path: Path) -> str:
    """The visible text of an HTML file, tags removed, so highlighted code reads as code."""
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return html.unescape("".join(parser.parts))


def normalised_lines(text: str) -> set[str]:
    return {" ".join(line.split()) for line in text.splitlines()}


def filled_release(assignment: str, replace: dict[str, str] | None = None):
    """The release notebook with every answer cell filled in from the solutions.

    ``replace`` maps an answer cell's grade_id to other source (a wrong answer).
    """
    release = nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4)
    solution = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    answers = {nb_meta(c)["grade_id"]: c.source for c in solution.cells if is_answer(c)}
    for grade_id, source in answers.items():
        answers[grade_id] = strip_markers(source)
    answers.update(replace or {})
    filled = copy.deepcopy(release)
    for cell in filled.cells:
        if is_answer(cell):
            cell.source = answers[nb_meta(cell)["grade_id"]]
    return filled


def strip_markers(source: str) -> str:
    """A solution cell's source as a student would write it: without nbgrader's markers."""
    pattern = r"^\s*(### (BEGIN|END) SOLUTION|=== (BEGIN|END) MARK SCHEME ===)\s*$\n?"
    return re.sub(pattern, "", source, flags=re.M)


def first_function(source: str) -> str:
    """The name of the first function defined in a cell."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            return node.name
    raise ValueError("no function defined in this cell")
