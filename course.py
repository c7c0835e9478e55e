#!/usr/bin/env python3
"""Set up the pooling course and open it, or test it. Needs only Python 3.11+.

    python3 course.py lab            # set up, then open notebooks/ in JupyterLab
    python3 course.py test           # set up, then run the whole test suite (what CI runs)
    python3 course.py test --quick   # set up, then the developers' loop (under 2 min)

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
"""

from __future__ import annotations

import hashlib
import os
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
# What set-up installs editable, each with its extras. Another local distribution (an
# instructor-only one, say) is one more entry here.
# grading/: the grader (poolgrader), with the PostgreSQL driver its sharded runs need.
EDITABLE = [f"{ROOT}[test]", f"{ROOT / 'grading'}[postgresql]"]

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
        # The limited kernel that `python -m poolgrader autograde` grades with.
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
        # --quick is an option of tests/conftest.py: it selects the developers' loop.
        args = [str(BIN / "python"), "-m", "pytest", *extra]
        extra = []
    return subprocess.run([*args, *extra], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
