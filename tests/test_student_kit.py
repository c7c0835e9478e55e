"""The student edition (``python3 course.py student-kit``) holds no answer key, and works.

The kit is built by the real command into a temporary folder. Then:

- no file holds a solution, a hidden test or a mark scheme, and no solutions/, grading code,
  nbgrader configuration or answer key (``poolkey``) is in it;
- for every graded function (every answer cell of ``solutions/``), no function in the kit has
  the model answer's name and signature, and no function in the kit is a near-copy of a
  model answer. Functions are read from every ``.py`` file and every notebook code cell of
  the kit; the released stubs (a docstring and ``raise NotImplementedError()``) are not
  code. Model answers are the solution cells' functions and every function of ``poolkey``.
  The measure is the course's one near-copy rule, ``poolgrader.similarity.pair`` (copydetect's
  winnowing over normalised tokens), with its threshold ``NEAR_COPY``;
- in a virtualenv made by the kit's own ``python3 course.py setup``, the blank notebooks
  run top to bottom with every exercise's test cell failing and no other cell, and the
  notebooks with the solutions filled in pass ``nbgrader validate``.

Put answer code back into ``poolkit`` (or into a release cell) and a test here fails.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbgrader_course import ASSIGNMENTS
from poolgrader import similarity
from poolgrader.similarity import NEAR_COPY, pair

ROOT = Path(__file__).resolve().parents[1]
MARKERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
    "**Mark scheme**",
)
INSTRUCTOR_ONLY = ("solutions", "poolkey", "poolgrader", "grading", "nbgrader_config.py")
# poolkit's nbgrader plug-in for the instructor's feedback: not for students.
INSTRUCTOR_MODULES = ("feedback.py",)


# --- the kit ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "student-kit"
    # --allow-uncommitted: the suite tests the working tree (CI's clone is committed anyway).
    result = subprocess.run(
        [sys.executable, "course.py", "student-kit", "--out", str(out), "--allow-uncommitted"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert f"Student kit: {out} ({len(files)} files," in result.stdout, result.stdout
    assert Path(f"{out}.zip").is_file()
    return out


def kit_files(kit: Path) -> list[Path]:
    """The kit's files, not the virtualenv that its set-up makes inside it."""
    return sorted(
        p for p in kit.rglob("*") if p.is_file() and ".venv" not in p.relative_to(kit).parts
    )


def test_the_kit_holds_the_release_poolkit_and_the_set_up_files(kit):
    names = {p.relative_to(kit).as_posix() for p in kit_files(kit)}
    for assignment in ASSIGNMENTS:
        released = ROOT / "notebooks" / assignment
        for path in released.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(ROOT).as_posix()
                assert rel in names, f"{rel} of the release is missing from the kit"
                assert (kit / rel).read_bytes() == path.read_bytes(), rel
    for name in ("README.md", "course.py", "pyproject.toml", "constraints.txt", "environment.yml"):
        assert name in names
    assert (kit / "course.py").read_bytes() == (ROOT / "course.py").read_bytes()
    assert (kit / "constraints.txt").read_bytes() == (ROOT / "constraints.txt").read_bytes()
    readme = (kit / "README.md").read_text()
    assert "python3 course.py setup" in readme and "python3 course.py lab" in readme


def test_no_solutions_hidden_tests_mark_schemes_grader_or_answer_key(kit):
    for path in kit_files(kit):
        rel = path.relative_to(kit)
        assert not set(rel.parts) & set(INSTRUCTOR_ONLY), f"{rel} is instructor-only"
        assert rel.name not in INSTRUCTOR_MODULES, f"{rel} is instructor-only"
        if path.name == "course.py":  # the repo's own set-up script (compared above)
            continue
        text = path.read_text(errors="replace")
        for marker in MARKERS:
            assert marker not in text, f"{rel} contains {marker!r}"
    for notebook in kit.glob("notebooks/*/*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            source = "".join(cell["source"])
            assert not re.search(r"\b(poolkey|poolgrader)\b", source), (notebook.name, source)
    pyproject = (kit / "pyproject.toml").read_text()
    assert "poolkey" not in pyproject and "[test]" not in pyproject
    assert "playwright" not in (kit / "environment.yml").read_text()


def test_a_stale_or_missing_release_is_a_clear_error(tmp_path):
    """Build from a copy of the repo whose release is missing, then stale."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "dist", "grading"))
    shutil.copytree(ROOT / "grading", copy / "grading", ignore=shutil.ignore_patterns("*.db"))
    command = [sys.executable, "course.py", "student-kit", "--out", str(tmp_path / "kit")]
    shutil.rmtree(copy / "notebooks" / ASSIGNMENTS[0])
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"the release is missing {ASSIGNMENTS[0]}" in result.stderr
    assert "Traceback" not in result.stderr
    shutil.copytree(ROOT / "notebooks" / ASSIGNMENTS[0], copy / "notebooks" / ASSIGNMENTS[0])
    source = copy / "solutions" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    nb = json.loads(source.read_text())
    plain = next(c for c in nb["cells"] if "nbgrader" not in c.get("metadata", {}))
    plain["source"] = ["an edit the release has not seen"]
    source.write_text(json.dumps(nb))
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert "is stale" in result.stderr and "generate_assignment" in result.stderr
    assert "Traceback" not in result.stderr


# --- no answer code --------------------------------------------------------------------


def _signature(node: ast.FunctionDef) -> str:
    return ast.unparse(node.args)


def _is_stub(node: ast.FunctionDef) -> bool:
    """A released exercise: a docstring, then ``raise NotImplementedError()``."""
    body = [
        s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and "NotImplementedError" in ast.unparse(body[0])
    )


def functions(source: str, where: str) -> list[tuple[str, str, str, str]]:
    """(where, name, signature, source) of every function defined in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a notebook cell with IPython syntax: none here, but not fatal
        return []
    return [
        (where, node.name, _signature(node), ast.get_source_segment(source, node) or "")
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def notebook_code(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            # IPython magics are not Python: blank them for the parser.
            yield cell.get("id", "?"), re.sub(r"^\s*[%!].*$", "", source, flags=re.M)


def graded_answers() -> dict[str, tuple[str, str, str]]:
    """grade_id -> (function name, signature, model source) of every answer cell."""
    answers = {}
    for assignment in ASSIGNMENTS:
        nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("solution"):
                continue
            source = "".join(cell["source"])
            tops = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
            assert tops, f"answer cell {meta['grade_id']} of {assignment} defines no function"
            model = re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$", "", source, flags=re.M)
            node = tops[0]
            answers[f"{assignment}:{meta['grade_id']}"] = (node.name, _signature(node), model)
    return answers


def poolkey_functions() -> list[tuple[str, str, str, str]]:
    found = []
    for path in sorted((ROOT / "helpers" / "poolkey").rglob("*.py")):
        found += functions(path.read_text(), f"poolkey/{path.relative_to(path.parents[0])}")
    return found


def kit_functions(kit: Path) -> list[tuple[str, str, str, str]]:
    found = []
    for path in kit_files(kit):
        rel = path.relative_to(kit).as_posix()
        if path.suffix == ".py" and path.name != "course.py":
            found += functions(path.read_text(), rel)
        elif path.suffix == ".ipynb":
            for cell_id, source in notebook_code(path):
                found += functions(source, f"{rel} cell {cell_id}")
    stubs = {f[1] for f in found if _is_stub(ast.parse(f[3]).body[0])}
    return [
        f for f in found if not _is_stub(ast.parse(f[3]).body[0]) and not _chains_stubs(f[3], stubs)
    ]


def _chains_stubs(source: str, stubs: set[str]) -> bool:
    """Whether a given function only calls functions the student writes (released stubs).

    Notebook 03 gives ``separable_max_pool2d`` as ``max_column_pass(max_row_pass(x))``: it
    has the reference's name and signature, but every computation in it is the student's.
    """
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    return bool(calls) and all(isinstance(c.func, ast.Name) and c.func.id in stubs for c in calls)


def test_every_graded_function_is_found():
    answers = graded_answers()
    # 18 auto-graded exercises today; a new one is picked up from its answer cell.
    assert len(answers) >= 18, sorted(answers)


def test_no_kit_function_has_a_model_answers_name_and_signature(kit):
    models = {(name, sig) for name, sig, _ in graded_answers().values()}
    models |= {(name, sig) for _, name, sig, _ in poolkey_functions() if not name.startswith("_")}
    clashes = [
        f"{where}: def {name}({sig})"
        for where, name, sig, _ in kit_functions(kit)
        if (name, sig) in models
    ]
    assert not clashes, "functions in the kit with a model answer's name and signature:\n" + (
        "\n".join(clashes)
    )


class Fingerprints:
    """``pair(a, b)`` for many pairs, each source fingerprinted once.

    ``poolgrader.similarity.pair`` fingerprints both sources on every call: about 9,000 kit
    function × model answer pairs took over 10 minutes that way. This computes the same
    number (``test_cached_pairs_equal_poolgrader_pair`` checks it) from fingerprints made
    once, by the module's own ``_fingerprint``, and skips ``compare_files`` for pairs with
    no fingerprint in common (their score is 0).
    """

    def __init__(self):
        self.cache = {}

    def of(self, source: str):
        if source not in self.cache:
            fingerprint = similarity._fingerprint(source)
            self.cache[source] = (fingerprint, frozenset(fingerprint.hashes))
        return self.cache[source]

    def pair(self, a: str, b: str) -> float:
        from copydetect import compare_files

        (fa, hashes_a), (fb, hashes_b) = self.of(a), self.of(b)
        if not fa.token_coverage or not fb.token_coverage:
            return 0.0
        # No fingerprint in common: copydetect finds no copied slice and returns 0. Most
        # pairs are such, and a set test is far cheaper than compare_files.
        if hashes_a.isdisjoint(hashes_b):
            return 0.0
        _, (share_a, share_b), _ = compare_files(fa, fb)
        return float(max(share_a, share_b))


# poolkey's argument checks are not answers: "if mode not in ...: raise ValueError(...)" is
# written the same way in every module that takes a mode. The kit's own argument checks
# (named _check_* or listed here) are left out on the kit's side for the same reason.
POOLKEY_ARGUMENT_CHECKS = {"_array", "_as_image", "_avg_options", "_beta", "_bool", "_float",
                           "_input_size", "_int", "_mode", "_shape", "_tensor"}  # fmt: skip
KIT_ARGUMENT_CHECKS = {"_image", "_int", "pool_args"}


def models() -> list[tuple[str, str]]:
    """(where, body) of every model answer: the solution cells' functions, and every
    function of the answer key except its argument checks."""
    found = [(f"solution {key}", body(src)) for key, (_, _, src) in graded_answers().items()]
    return found + [
        (f"{where}:{name}", body(src))
        for where, name, _, src in poolkey_functions()
        if name not in POOLKEY_ARGUMENT_CHECKS
    ]


def is_argument_check(name: str) -> bool:
    return name.startswith("_check") or name in KIT_ARGUMENT_CHECKS


def body(source: str) -> str:
    """A function's code without its signature and docstring: the skeleton is public (the
    signatures mirror torch's, and the release shows each exercise's), the body is the answer.
    """
    node = ast.parse(source).body[0]
    statements = node.body
    if statements and isinstance(statements[0], ast.Expr):
        if isinstance(statements[0].value, ast.Constant):
            statements = statements[1:]
    return "\n".join(ast.unparse(statement) for statement in statements)


def test_cached_pairs_equal_poolgrader_pair(kit):
    cached = Fingerprints()
    kit_srcs = [body(src) for *_, src in kit_functions(kit)][::15]
    model_srcs = [src for _, src in models()][::10]
    for a in kit_srcs:
        for b in model_srcs:
            assert cached.pair(a, b) == pytest.approx(pair(a, b)), (a[:80], b[:80])


def test_no_kit_function_is_a_near_copy_of_a_model_answer(kit):
    cached, near, answers = Fingerprints(), [], models()  # each model answer read once
    for where, name, _, src in kit_functions(kit):
        if is_argument_check(name):
            continue
        code = body(src)
        for model_name, model_src in answers:
            score = cached.pair(code, model_src)
            if score >= NEAR_COPY:
                near.append((f"{where}:{name}", f"{model_name}: {score:.2f}"))
    found = {kit_function for kit_function, _ in near}
    report = "\n".join(f"{a} ~ {b}" for a, b in near)
    assert not found, f"near-copies of model answers (pair >= {NEAR_COPY}):\n{report}"


def test_the_near_copy_check_would_catch_answer_code_put_back(kit, tmp_path):
    """Control: the same check, on a kit where poolkit gets a model answer back, fails."""
    key, (name, _, model) = next(iter(graded_answers().items()))
    planted = tmp_path / "planted.py"
    # Renamed, re-spaced and commented: what a hurried copy would look like.
    planted.write_text(model.replace(f"def {name}(", "def helper_size(") + "\n# kept\n")
    found = functions(planted.read_text(), "planted.py")
    assert max(pair(body(src), body(model)) for *_, src in found) >= NEAR_COPY, key


# --- the kit works, in its own environment ---------------------------------------------


@pytest.fixture(scope="module")
def kit_env(kit) -> dict[str, str]:
    """The kit's own set-up (``python3 course.py setup``), timed; its environment."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "course.py", "setup"], cwd=kit, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Installed torch 2.13.0" in result.stdout, result.stdout
    print(f"kit set-up took {seconds:.0f} s")
    bin_dir = kit / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # Nothing of the repo's environment is importable there.
    probe = subprocess.run(
        [str(bin_dir / "python"), "-c", "import poolkit, importlib.util as u; "
         "print(poolkit.__file__, u.find_spec('poolkey'), u.find_spec('poolgrader'))"],
        cwd=kit, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.split() == [
        str(kit / "helpers" / "poolkit" / "__init__.py"),
        "None",
        "None",
    ]
    return env


def _execute(path: Path, env, cwd: Path) -> dict:
    subprocess.run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors", "--inplace",
         "--ExecutePreprocessor.timeout=120", str(path)],
        cwd=cwd, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(path.read_text())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_notebooks_run_with_only_the_exercise_tests_failing(kit, kit_env, assignment):
    path = kit / "notebooks" / assignment / f"{assignment}.ipynb"
    nb = _execute(path, kit_env, path.parent)
    failing, tests, passing = [], [], []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        is_test = cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution")
        if is_test:
            tests.append(meta["grade_id"])
        if errors and not is_test:
            failing.append(f"{cell.get('id')}: {errors[0]['ename']}: {errors[0]['evalue']}")
        if is_test and not errors:
            passing.append(meta["grade_id"])
        if errors and is_test:
            assert errors[0]["ename"] in ("NotImplementedError", "AssertionError"), (
                meta["grade_id"],
                errors[0],
            )
    assert not failing, f"cells other than the exercise tests fail in the blank {assignment}"
    assert tests, "no test cell found"
    # What Validate reports on the blank: every exercise's visible test fails. (The browser
    # tests press Validate on one blank notebook; the verdict is this, for every notebook.)
    assert not passing, f"test cells that pass on the blank {assignment}: {passing}"


def _solved(kit_nb: Path, assignment: str) -> Path:
    """The kit's notebook with every answer cell (code and written) taken from solutions/."""
    source = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    answers = {}
    for cell in source["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):  # code answers, and written answers (markdown)
            text = "".join(cell["source"])
            answers[meta["grade_id"]] = re.sub(
                r"^\s*### (BEGIN|END) SOLUTION\s*\n", "", text, flags=re.M
            )
    nb = json.loads(kit_nb.read_text())
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers.pop(grade_id)
    assert not answers, f"answer cells missing from the kit's {assignment}: {sorted(answers)}"
    solved = kit_nb.with_name(f"solved-{kit_nb.name}")
    solved.write_text(json.dumps(nb))
    return solved


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_notebooks_pass_validate_in_the_kit(kit, kit_env, assignment):
    kit_nb = kit / "notebooks" / assignment / f"{assignment}.ipynb"
    shutil.copy(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", kit_nb)  # unexecuted
    solved = _solved(kit_nb, assignment)
    try:
        result = subprocess.run(
            ["nbgrader", "validate", solved.name],
            cwd=solved.parent, env=kit_env, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        solved.unlink()
    # nbgrader validate exits 0 whatever the result: read what it says.
    assert "Success! Your notebook passes all the tests." in result.stdout, (
        result.stdout[-3000:] + result.stderr[-2000:]
    )
