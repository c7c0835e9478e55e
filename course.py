#!/usr/bin/env python3
"""Set up the pooling course and open it, or test it. Needs only Python 3.10+.

    python3 course.py lab    # set up, then open notebooks/ in JupyterLab
    python3 course.py test   # set up, then run the whole test suite

Setting up means: a virtualenv in .venv inside the repo, the pinned dependencies from
pyproject.toml, poolkit installed editable, and the grading kernelspec installed into
.venv. It is skipped when pyproject.toml has
not changed since the last successful install. JupyterLab started from .venv runs
notebooks on .venv's own Python (its built-in "python3" kernel), so no kernel needs
registering.

Extra arguments go to the tool: `python3 course.py test -k reference -x`,
`python3 course.py lab --port 8890`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".course-installed"


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup() -> dict[str, str]:
    """Create .venv and install the course into it; return an environment that uses it."""
    if sys.version_info < (3, 10):  # noqa: UP036 (this script must explain, not crash, on 3.9)
        sys.exit(f"The course needs Python 3.10 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print(f"Creating a virtualenv in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != _fingerprint():
        print("Installing the pinned dependencies and poolkit (editable) ...", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        # grading/ is the grader (poolgrader): for instructors and CI, not for students.
        targets = ["-e", f"{ROOT}[test]", "-e", str(ROOT / "grading")]
        subprocess.run([*pip, "--quiet", *targets], check=True)
        # The limited kernel that `python -m poolgrader autograde` grades with.
        python = str(BIN / "python")
        subprocess.run([python, "-m", "poolgrader", "install-kernelspec"], check=True)
        STAMP.write_text(_fingerprint())
    env = dict(os.environ)
    # nbgrader finds alembic on PATH, so the venv's bin comes first.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONHOME", None)
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("lab", "test"):
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    env = setup()
    os.chdir(ROOT)
    if command == "lab":
        args = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=notebooks"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
    else:
        args = [str(BIN / "python"), "-m", "pytest", *extra]
        extra = []
    return subprocess.run([*args, *extra], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
