#!/usr/bin/env python3
"""Set up the pooling course and open it, or test it. Needs only Python 3.11+.

    python3 course.py lab            # set up, then open notebooks/ in JupyterLab
    python3 course.py test           # set up, then run the whole test suite (what CI runs)
    python3 course.py test --quick   # set up, then the developers' loop (under 2 min)
    python3 course.py setup          # set up only
    python3 course.py student-kit    # build the student edition: dist/student-kit/ and a zip

Setting up means: a virtualenv in .venv inside the repo; pip, then torch, then poolkit
(editable) with the test tools, every package at the version in constraints.txt; and the
grading kernelspec installed into .venv. It is skipped when pyproject.toml,
constraints.txt and the torch build asked for have not changed since the last successful
install. JupyterLab started from .venv runs notebooks on .venv's own Python (its built-in
"python3" kernel), so no kernel needs registering.

torch: on Linux, PyPI's torch is the CUDA build (about 2.7 GB with its nvidia packages), so
set-up takes torch from PyTorch's CPU wheel index (about 0.2 GB). COURSE_TORCH=cuda takes
PyPI's build instead (for a machine with an NVIDIA GPU). macOS and Windows get PyPI's
torch, which is the CPU build there.

Extra arguments go to the tool: `python3 course.py test -k reference -x`,
`python3 course.py lab --port 8890`.

The student edition (student-kit) is this same script in a folder without solutions/,
grading/ or the answer key: there it installs only what students need (poolkit, not
editable extras or the grader) and offers setup and lab.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".course-installed"
CONSTRAINTS = ROOT / "constraints.txt"
# The instructor's repo has the grader; the student edition (student-kit) has not.
FULL_REPO = (ROOT / "grading" / "pyproject.toml").exists()
# What set-up installs editable, each with its extras. Another local distribution (an
# instructor-only one, say) is one more entry here.
# grading/: the grader (poolgrader), with the PostgreSQL driver its sharded runs need.
EDITABLE = [f"{ROOT}[test]", f"{ROOT / 'grading'}[postgresql]"] if FULL_REPO else [str(ROOT)]

TORCH_PIN = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# A dead index must not stall set-up: one try, and a short wait for each answer.
INDEX_TIMEOUT_S = 5
# Measured from PyPI's file sizes for the 3.12 resolution (cp312, manylinux x86_64):
# torch 0.53 GB and 19 nvidia-*/cuda-*/triton wheels 2.20 GB.
CUDA_DOWNLOAD = "about 2.7 GB (torch 0.5 GB and 2.2 GB of nvidia/cuda wheels)"
BUILDS = ("cpu", "cuda")


def torch_build(env: dict[str, str] | None = None) -> str:
    """The torch build to install: COURSE_TORCH, else the CPU build."""
    build = (os.environ if env is None else env).get("COURSE_TORCH", "cpu").strip().lower()
    if build not in BUILDS:
        sys.exit(f"COURSE_TORCH={build!r}: use one of {', '.join(BUILDS)}.")
    return build


def index_error(url: str, timeout: float = INDEX_TIMEOUT_S) -> str | None:
    """Why ``url`` (a package index) cannot be reached, or None when it answers."""
    try:
        request = urllib.request.Request(f"{url.rstrip('/')}/torch/", method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:  # it answered, with an error
        return f"it answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}"


def fallback_line(url: str, error: str) -> str:
    """The one line that says what happens when the CPU index cannot be reached."""
    return (
        f"course.py: PyTorch's CPU index {url} cannot be reached ({error}), so pip takes "
        f"{TORCH_PIN} from your other indexes: from PyPI on Linux that is the CUDA build, "
        f"{CUDA_DOWNLOAD}, unless a CPU wheel is found locally (pip's find-links). "
        "Press Ctrl-C to stop."
    )


def torch_command(
    python: str, build: str, platform: str = sys.platform, cpu_index: str = CPU_INDEX
) -> list[str]:
    """The pip command that installs torch.

    When the CPU index cannot be reached, pip says so in one warning and goes on with the
    other indexes (no retry, at most INDEX_TIMEOUT_S on each connection).
    """
    cmd = [python, "-m", "pip", "install", "--quiet", "-c", str(CONSTRAINTS)]
    if build == "cpu" and platform.startswith("linux"):
        # PEP 440 ranks 2.13.0+cpu above 2.13.0, so pip prefers this index's wheel.
        cmd += ["--extra-index-url", cpu_index]
        cmd += ["--retries", "0", "--timeout", str(INDEX_TIMEOUT_S)]
    return [*cmd, TORCH_PIN]


def install_commands(python: str) -> list[list[str]]:
    """pip's own version, then (after torch) the course and its tools, all constrained."""
    pip = [python, "-m", "pip", "install", "--quiet", "-c", str(CONSTRAINTS)]
    editable = [arg for target in EDITABLE for arg in ("-e", target)]
    return [[*pip, "pip"], [*pip, *editable]]


def torch_summary(python: str) -> str:
    """``torch 2.13.0+cpu (CPU build)``, for the torch installed for ``python``."""
    script = (
        "import importlib.metadata as m, re\n"
        "d = m.distribution('torch')\n"
        "text = d.locate_file('torch/version.py').read_text()\n"
        "cuda = re.search(r\"^cuda[^=]*=\\s*'([^']+)'\", text, re.M)\n"
        "print(d.version, cuda.group(1) if cuda else '')\n"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True)
    if out.returncode != 0:
        return "torch is not installed"
    version, _, cuda = out.stdout.strip().partition(" ")
    return f"torch {version} ({f'CUDA {cuda}' if cuda else 'CPU'} build)"


def _fingerprint(build: str) -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", ROOT / "grading" / "pyproject.toml", CONSTRAINTS):
        if path.exists():
            digest.update(path.read_bytes())
    digest.update(f"{build} {EDITABLE}".encode())
    return digest.hexdigest()


def setup() -> dict[str, str]:
    """Create .venv and install the course into it; return an environment that uses it."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this script must explain, not crash, on 3.10)
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    build = torch_build()
    if not (BIN / "python").exists():
        print(f"Creating a virtualenv in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = str(BIN / "python")
    if not STAMP.exists() or STAMP.read_text() != _fingerprint(build):
        print("Installing the pinned dependencies and poolkit (editable) ...", flush=True)
        pip_cmd, course_cmd = install_commands(python)
        subprocess.run(pip_cmd, check=True)
        if build == "cpu" and sys.platform.startswith("linux"):
            error = index_error(CPU_INDEX)
            if error:  # said before pip starts a download of that size
                print(fallback_line(CPU_INDEX, error), flush=True)
        subprocess.run(torch_command(python, build), check=True)
        subprocess.run(course_cmd, check=True)
        if FULL_REPO:  # the limited kernel that `python -m poolgrader autograde` grades with
            subprocess.run([python, "-m", "poolgrader", "install-kernelspec"], check=True)
        STAMP.write_text(_fingerprint(build))
        print(f"Installed {torch_summary(python)}.", flush=True)
    env = dict(os.environ)
    # nbgrader finds alembic on PATH, so the venv's bin comes first.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONHOME", None)
    return env


def main(argv: list[str]) -> int:
    commands = ("lab", "test", "setup", "student-kit") if FULL_REPO else ("lab", "setup")
    if not argv or argv[0] not in commands:
        print(__doc__ if FULL_REPO else STUDENT_USAGE)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "student-kit":
        return student_kit(extra)
    env = setup()
    if command == "setup":
        return 0
    os.chdir(ROOT)
    if command == "lab":
        args = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=notebooks"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
    else:
        # --quick is an option of tests/conftest.py: it selects the developers' loop.
        args = [str(BIN / "python"), "-m", "pytest", *extra]
        extra = []
    return subprocess.run([*args, *extra], env=env).returncode


# --- the student edition --------------------------------------------------------------

STUDENT_USAGE = """Set up the pooling course and open it. Needs only Python 3.11+.

    python3 course.py setup    # once: a virtualenv in .venv with the pinned packages
    python3 course.py lab      # open the notebooks in JupyterLab
"""
KIT_DIST = ROOT / "dist"
KIT_NAME = "student-kit"
# What the kit takes from the repo besides the release and the set-up files. poolkit's
# feedback module is the instructor's nbgrader plug-in, not something students run.
KIT_HELPERS_SKIP = ("feedback.py",)
KIT_COMMENT_PINS = "# Exact pins, as in the course's repo; constraints.txt pins the rest."
# Test and grading tools that environment.yml lists for maintainers and instructors.
KIT_CONDA_SKIP = (
    "nbval",
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "ruff",
    "packaging",
    "pyyaml",
    "tqdm",
)
KIT_PIP_SKIP = ("playwright", "copydetect", "psycopg", "./grading")
# Text that marks solutions, hidden tests or a mark scheme: no file of the kit holds it.
ANSWER_MARKERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
    "**Mark scheme**",
)
# The answer key and the grader: no notebook of the release names them.
INSTRUCTOR_PACKAGES = ("poolkey", "poolgrader")


class KitError(Exception):
    """The kit cannot be built from this checkout; the message says why and what to do."""


def _assignments() -> list[str]:
    ids = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
    if not ids:
        raise KitError(f"no assignments in {ROOT / 'solutions'}: nothing to build a kit from")
    return ids


def _check_release(ids: list[str], allow_uncommitted: bool = False) -> None:
    """The committed release exists, is unchanged, holds no answers and matches solutions/."""
    missing = [i for i in ids if not (ROOT / "notebooks" / i / f"{i}.ipynb").exists()]
    if missing:
        raise KitError(
            f"the release is missing {', '.join(missing)}: run `nbgrader generate_assignment "
            "<id> --force` for each (or `git checkout notebooks/`), then build the kit again"
        )
    git = subprocess.run(
        ["git", "status", "--porcelain", "--", "notebooks", "solutions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if git.returncode == 0 and git.stdout.strip() and not allow_uncommitted:
        raise KitError(
            "notebooks/ or solutions/ has uncommitted changes; the kit is built from the "
            f"committed release. Commit or restore them first:\n{git.stdout.rstrip()}"
        )
    for i in ids:
        source = json.loads((ROOT / "solutions" / i / f"{i}.ipynb").read_text())
        release = json.loads((ROOT / "notebooks" / i / f"{i}.ipynb").read_text())
        where = f"notebooks/{i}/{i}.ipynb"
        released = {c.get("id"): c for c in release["cells"]}
        for cell in source["cells"]:
            nbg = cell.get("metadata", {}).get("nbgrader", {})
            got = released.get(cell.get("id"))
            if got is None:
                raise KitError(
                    f"{where} is stale: it has no cell {cell.get('id')!r} of solutions/{i}. "
                    f"Run `nbgrader generate_assignment {i} --force` and commit the release"
                )
            if not nbg.get("solution") and not nbg.get("grade") and got["source"] != cell["source"]:
                raise KitError(
                    f"{where} is stale: cell {cell.get('id')!r} differs from solutions/{i}. "
                    f"Run `nbgrader generate_assignment {i} --force` and commit the release"
                )
        text = json.dumps(release)
        for marker in (*ANSWER_MARKERS, *INSTRUCTOR_PACKAGES):
            if marker in text:
                raise KitError(f"{where} contains {marker!r}: the release must hold no answers")


def _kit_pyproject() -> str:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = "".join(f'    "{dep}",\n' for dep in project["dependencies"])
    return (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{project["name"]}"\nversion = "{project["version"]}"\n'
        'description = "Checks, plots and widgets for the pooling course (student edition)"\n'
        f'requires-python = "{project["requires-python"]}"\n'
        f"{KIT_COMMENT_PINS}\ndependencies = [\n{pins}]\n\n"
        '[tool.setuptools.packages.find]\nwhere = ["helpers"]\ninclude = ["poolkit*"]\n'
    )


def _kit_environment() -> str:
    lines = []
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("#") and "tests/" in line:  # the repo's own test, not shipped
            line = line.split(" (tests/")[0] + "."
        item = line.strip().removeprefix("- ").strip()
        if any(item.startswith(f"{name}=") for name in KIT_CONDA_SKIP):
            continue
        if any(name in item for name in KIT_PIP_SKIP):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _kit_readme(ids: list[str]) -> str:
    listing = "\n".join(f"- `notebooks/{i}/{i}.ipynb`" for i in ids)
    return f"""# Pooling layers from the inside: student edition

The notebooks of the pooling course (池化层), with their exercises. You need Python 3.11 or
newer (Linux or macOS). In this folder:

```bash
python3 course.py setup    # once: a virtualenv in .venv with the course's packages
python3 course.py lab      # open the notebooks in JupyterLab
```

`setup` installs every package at the version in `constraints.txt`, torch's CPU build on
Linux (about 0.2 GB) and the course's helper package `poolkit` (plots, widgets and the
checks the tests use). If PyTorch's CPU index cannot be reached it prints one line and pip
takes torch from your other indexes. With conda instead: `conda env create -f
environment.yml`, `conda activate pooling-course`, then
`jupyter lab --ServerApp.root_dir=notebooks`.

## The notebooks

{listing}

Open one and run it from the top (Run → Run All Cells). Exercises are functions whose body
says `raise NotImplementedError()`: replace that line with your code, and keep the
function's name and arguments. The cell under each exercise runs visible tests; a failure
says which input was used, what was expected and what came back. Until you solve an
exercise its test fails, and so may a demonstration that uses your function (it says so).
Grading adds hidden tests on random inputs. Written questions say "YOUR ANSWER HERE".

Before you hand in a notebook, click **Validate** in the toolbar. Keep each notebook's
name and its cells.
"""


def _copy_tree(src: Path, dst: Path, skip=()) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", *skip)
    shutil.copytree(src, dst, ignore=ignore)


def build_student_kit(out: Path, allow_uncommitted: bool = False) -> Path:
    """Build the student edition into ``out`` (replaced) and ``out`` + ".zip"; return the zip.

    ``allow_uncommitted`` builds from the working tree's release even if it differs from the
    last commit (the test suite does, to test a change before it is committed).
    """
    if not FULL_REPO or not (ROOT / "solutions").is_dir():
        raise KitError("student-kit runs in the course's full repo (with solutions/ and grading/)")
    ids = _assignments()
    _check_release(ids, allow_uncommitted)
    out = out.resolve()
    if ROOT in (out, *out.parents) and out.parent != KIT_DIST.resolve():
        raise KitError(f"--out {out}: inside the repo, the kit goes under {KIT_DIST} only")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for i in ids:
        _copy_tree(ROOT / "notebooks" / i, out / "notebooks" / i)
    _copy_tree(ROOT / "helpers" / "poolkit", out / "helpers" / "poolkit", KIT_HELPERS_SKIP)
    shutil.copy2(ROOT / "course.py", out / "course.py")
    shutil.copy2(CONSTRAINTS, out / "constraints.txt")
    (out / "pyproject.toml").write_text(_kit_pyproject())
    (out / "environment.yml").write_text(_kit_environment())
    (out / "README.md").write_text(_kit_readme(ids))
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n")
    for path in out.rglob("*"):
        if path.name == "course.py":  # this script: it names the markers it looks for
            continue
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".toml", ".yml", ".txt"):
            text = path.read_text(errors="replace")
            found = [m for m in ANSWER_MARKERS if m in text]
            if found:
                raise KitError(f"{path.relative_to(out)} contains {found}: the kit is not built")
    return Path(shutil.make_archive(str(out), "zip", out.parent, out.name))


def student_kit(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="course.py student-kit")
    parser.add_argument("--out", type=Path, default=KIT_DIST / KIT_NAME, help="kit folder")
    parser.add_argument(
        "--allow-uncommitted",
        action="store_true",
        help="build from notebooks/ as it is, even with changes not yet committed",
    )
    args = parser.parse_args(argv)
    try:
        archive = build_student_kit(args.out, args.allow_uncommitted)
    except KitError as err:
        print(f"course.py student-kit: {err}", file=sys.stderr)
        return 1
    folder = archive.with_suffix("")
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"Student kit: {folder} ({len(files)} files, {size / 1e6:.2f} MB)")
    print(f"Zip:         {archive} ({archive.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
