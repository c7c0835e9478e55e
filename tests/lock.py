"""The course's whole resolved set, as pip resolves it on every supported Python.

constraints.txt is this module's output; tests/test_packaging.py checks it. To regenerate it
after changing a pin in pyproject.toml (needs PyPI; about 2 minutes):

    .venv/bin/python tests/lock.py

pip resolves pyproject.toml's requirements (dependencies and every extra) once per Python in
PYTHONS, with ``pip --python`` so that each interpreter's markers are its own, and with
``pip install --dry-run --report``. It sees only the package indexes (no pip configuration
file, find-links or constraint of this machine), so the set is what a fresh machine gets.
PyPI serves no PEP 658 metadata to this machine's pip, so plain ``--dry-run`` downloads every
wheel (3.12: 146 wheels, 2.93 GB, 3 min 20 s); ``--use-feature=fast-deps`` makes pip read
each wheel's metadata with HTTP range requests instead (1 min 40 s, no wheel downloaded).

Versions that differ between Pythons get a ``python_version`` marker. torch's CUDA-only
dependencies (nvidia-*, cuda-*, triton) are left out: torch pins them exactly itself, and
the CPU build course.py installs on Linux has none.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
PYTHONS = ("3.11", "3.12", "3.13")
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
# Machine-level pip settings that would change what resolves (this machine has a
# find-links folder and a constraint file): the lock is what a fresh machine sees.
MACHINE_PIP_VARS = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_NO_INDEX", "PIP_REQUIREMENT")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


LOCAL_PACKAGES = ("poolkit", "poolgrader")


def requirements() -> list[str]:
    """The requirements of pyproject.toml and grading/pyproject.toml (the grader): their
    dependencies and every extra, less the course's own local packages."""
    reqs = []
    for path in (REPO / "pyproject.toml", REPO / "grading" / "pyproject.toml"):
        project = tomllib.loads(path.read_text())["project"]
        reqs += project["dependencies"]
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
    # The grader pins nbgrader as the course does: the same line once; two different pins
    # of one package stay two lines, which the pin checks reject.
    return [r for r in dict.fromkeys(reqs) if r not in LOCAL_PACKAGES]


def interpreter(version: str) -> str | None:
    """A python for ``version``: pyenv's newest 3.X, else a working python3.X on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python"))
    if candidates:
        key = lambda p: [int(x) for x in re.findall(r"\d+", p.split("versions")[-1])]  # noqa: E731
        return max(candidates, key=key)
    found = shutil.which(f"python{version}")  # (a pyenv shim without that version fails)
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    return None


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MACHINE_PIP_VARS}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def dry_run_command(python: str, report: Path, constraints: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "--python", python, "install", "--dry-run"]
    cmd += ["--ignore-installed", "--quiet", "--no-cache-dir", "--use-feature=fast-deps"]
    cmd += ["--report", str(report)]
    if constraints:
        cmd += ["-c", str(constraints)]
    return [*cmd, *requirements()]


def resolve(
    version: str, workdir: Path, constraints: Path | None = None
) -> tuple[dict[str, str], subprocess.CompletedProcess]:
    """{package: version} that pip resolves for Python ``version``, and pip's run."""
    python = interpreter(version)
    if python is None:
        raise RuntimeError(f"no Python {version} here: install it (pyenv install {version})")
    report = workdir / f"report-{version}.json"
    log = workdir / f"pip-{version}.log"
    cmd = dry_run_command(python, report, constraints)
    proc = subprocess.run([*cmd, "--log", str(log)], env=pip_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        return {}, proc
    installs = json.loads(report.read_text())["install"]
    return {normal(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}, proc


def resolve_all(workdir: Path, constraints: Path | None = None) -> dict[str, tuple]:
    """resolve() for every version in PYTHONS, at once (pip mostly waits on the network)."""
    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        runs = pool.map(lambda v: resolve(v, workdir, constraints), PYTHONS)
        return dict(zip(PYTHONS, runs, strict=True))


def lock_lines(resolved: dict[str, dict[str, str]]) -> list[str]:
    """constraints.txt's pins from {python version: {package: version}}."""
    names = sorted({n for pins in resolved.values() for n in pins if not CUDA_ONLY.match(n)})
    lines = []
    for name in names:
        by_version: dict[str, list[str]] = {}
        for python, pins in resolved.items():
            if name in pins:
                by_version.setdefault(pins[name], []).append(python)
        for pinned, pythons in by_version.items():
            if len(pythons) == len(resolved):
                lines.append(f"{name}=={pinned}")
            else:
                marker = " or ".join(f"python_version == '{p}'" for p in pythons)
                lines.append(f"{name}=={pinned}; {marker}")
    return lines


HEADER = """\
# Every package the course installs, at the version it is tested with, for Python 3.11-3.13.
# course.py and CI install with `pip install -c constraints.txt`. Written by tests/lock.py
# (`.venv/bin/python tests/lock.py` after changing pyproject.toml); do not edit by hand.
# torch's CUDA-only dependencies (nvidia-*, cuda-*, triton) are not listed: torch pins them.
"""


RESULT = "resolved.json"


def resolve_into(workdir: Path) -> None:
    """resolve_all() under constraints.txt, its outcome written to ``workdir/RESULT`` (for
    the test suite, which starts it in the background: see tests/conftest.py)."""
    runs = resolve_all(workdir, constraints=CONSTRAINTS)
    outcome = {v: [pins, proc.returncode, proc.stderr] for v, (pins, proc) in runs.items()}
    part = workdir / f"{RESULT}.part"
    part.write_text(json.dumps(outcome))
    part.rename(workdir / RESULT)  # whole, or not there


def start_resolving(workdir: Path) -> subprocess.Popen:
    """resolve_into(workdir) in a process of its own; it mostly waits on PyPI."""
    with (workdir / "resolving.err").open("w") as err:
        return subprocess.Popen(
            [sys.executable, __file__, "--into", str(workdir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


def resolved_in(workdir: Path, timeout: float) -> dict[str, tuple] | None:
    """What resolve_into(workdir) found, as resolve_all() returns it, once it is written;
    None if nothing came within ``timeout`` seconds."""
    import time
    import types

    deadline = time.monotonic() + timeout
    while not (workdir / RESULT).exists():
        if time.monotonic() > deadline:
            return None
        time.sleep(1)
    outcome = json.loads((workdir / RESULT).read_text())
    return {
        v: (pins, types.SimpleNamespace(returncode=code, stderr=err))
        for v, (pins, code, err) in outcome.items()
    }


def main() -> int:
    import tempfile

    if sys.argv[1:2] == ["--into"]:
        resolve_into(Path(sys.argv[2]))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        runs = resolve_all(Path(tmp))
    failed = {v: proc.stderr[-2000:] for v, (_, proc) in runs.items() if proc.returncode}
    if failed:
        for version, err in failed.items():
            print(f"Python {version}: pip could not resolve the pins:\n{err}", file=sys.stderr)
        return 1
    lines = lock_lines({v: pins for v, (pins, _) in runs.items()})
    CONSTRAINTS.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} pins to {CONSTRAINTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
