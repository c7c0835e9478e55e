"""How the course installs: pyproject.toml, constraints.txt and environment.yml agree, the
pinned set resolves on every supported Python, course.py builds the pip commands that put
the CPU build of torch on Linux (and falls back when PyTorch's index cannot be reached), and
the code base is lint-clean under the repo's ruff configuration, notebooks included."""

from __future__ import annotations

import http.server
import importlib.util
import json
import re
import socket
import subprocess
import sys
import threading
import time
import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
import yaml
from lock import CONSTRAINTS, CUDA_ONLY, PYTHONS, REPO, normal, requirements
from packaging.requirements import Requirement

_spec = importlib.util.spec_from_file_location("course", REPO / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
CONDA_NAMES = {"pytorch": "torch"}


def _pins(lines, python: str) -> dict[str, str]:
    """{package: version} that requirement ``lines`` pin with == on Python ``python``."""
    pins = {}
    for line in lines:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"python_version": python}):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line!r} is not pinned with =="
        assert normal(req.name) not in pins, f"{req.name} is pinned twice for Python {python}"
        pins[normal(req.name)] = spec.version
    return pins


def _pyproject_lines() -> list[str]:
    """What pyproject.toml and grading/pyproject.toml (the grader) require."""
    return requirements()


def _lock_lines() -> list[str]:
    text = CONSTRAINTS.read_text()
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if not line.startswith("-e"):
                    req = Requirement(line)
                    (spec,) = req.specifier
                    pins[normal(req.name)] = spec.version
        else:
            name, pinned, *build = dep.split("=")
            if name == "pytorch":
                assert build == ["cpu_*"], "environment.yml must ask for conda-forge's CPU build"
            if name != "python":
                pins[normal(CONDA_NAMES.get(name, name))] = pinned
    return pins


# --- the pins agree -------------------------------------------------------------------


def test_pyproject_pins_torch_and_supports_the_pythons_that_are_tested():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={PYTHONS[0]}"
    assert _pins(_pyproject_lines(), HERE)["torch"] == "2.13.0"


@pytest.mark.parametrize("python", PYTHONS)
def test_constraints_pin_what_pyproject_pins(python):
    pyproject, lock = _pins(_pyproject_lines(), python), _pins(_lock_lines(), python)
    differ = {n: (v, lock.get(n)) for n, v in pyproject.items() if lock.get(n) != v}
    assert not differ, f"Python {python}: (pyproject.toml, constraints.txt) differ: {differ}"
    assert not any(CUDA_ONLY.match(n) for n in lock), "CUDA-only packages do not belong here"


def test_environment_yml_names_the_same_packages_as_pyproject():
    pyproject, conda = _pins(_pyproject_lines(), "3.11"), _environment_pins()
    lock = _pins(_lock_lines(), "3.11")
    assert conda == pyproject, {
        "only in pyproject.toml": sorted(set(pyproject) - set(conda)),
        "only in environment.yml": sorted(set(conda) - set(pyproject)),
        "different versions": sorted(
            (k, pyproject[k], conda[k]) for k in set(pyproject) & set(conda)
            if pyproject[k] != conda[k]
        ),
    }  # fmt: skip
    assert all(lock[name] == pinned for name, pinned in conda.items())


def test_installed_versions_are_the_locked_ones():
    wrong = {}
    for name, pinned in _pins(_lock_lines(), HERE).items():
        try:
            installed = version(name).split("+")[0]
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed versions differ from constraints.txt (locked, installed): {wrong}"


@pytest.mark.network
def test_the_locked_set_resolves_on_every_supported_python(pip_resolution):
    """pip resolves pyproject.toml under constraints.txt on 3.11-3.13 to exactly the lock,
    reading wheels' metadata without downloading them (torch's wheel is 0.5 GB)."""
    tmp_path, runs = pip_resolution
    for python, (resolved, proc) in runs.items():
        assert proc.returncode == 0, f"Python {python}: pip failed:\n{proc.stderr[-3000:]}"
        lock = _pins(_lock_lines(), python)
        resolved = {n: v.split("+")[0] for n, v in resolved.items() if not CUDA_ONLY.match(n)}
        assert resolved == lock, {
            "resolved but not locked": sorted(set(resolved) - set(lock)),
            "locked but not resolved": sorted(set(lock) - set(resolved)),
            "versions": sorted((n, lock[n], v) for n, v in resolved.items() if lock.get(n, v) != v),
        }  # fmt: skip
        log = (tmp_path / f"pip-{python}.log").read_text()
        assert "Obtaining dependency information from torch 2.13.0" in log
        assert not re.search(r"Downloading .*torch-2\.13\.0", log), f"{python} downloaded torch"


# --- course.py ------------------------------------------------------------------------


def test_on_linux_torch_comes_from_pytorchs_cpu_index_without_retries():
    cmd = course.torch_command("py", "cpu", platform="linux")
    assert cmd[:4] == ["py", "-m", "pip", "install"]
    assert cmd[-1] == "torch==2.13.0"
    assert cmd[cmd.index("-c") + 1] == str(CONSTRAINTS)
    assert cmd[cmd.index("--extra-index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert cmd[cmd.index("--retries") + 1] == "0"
    assert int(cmd[cmd.index("--timeout") + 1]) <= 10


@pytest.mark.parametrize(("build", "platform"), [("cuda", "linux"), ("cpu", "darwin")])
def test_cuda_on_request_and_pypis_torch_elsewhere_take_no_extra_index(build, platform):
    cmd = course.torch_command("py", build, platform=platform)
    assert "--extra-index-url" not in cmd and "--retries" not in cmd
    assert cmd[-1] == "torch==2.13.0" and str(CONSTRAINTS) in cmd


def test_course_torch_chooses_the_build_and_rejects_anything_else():
    assert course.torch_build({}) == "cpu"
    assert course.torch_build({"COURSE_TORCH": "CUDA"}) == "cuda"
    with pytest.raises(SystemExit, match="COURSE_TORCH='rocm': use one of cpu, cuda"):
        course.torch_build({"COURSE_TORCH": "rocm"})


def test_every_install_is_constrained_and_every_local_package_editable():
    upgrade_pip, install = course.install_commands("py")
    assert upgrade_pip[-1] == "pip"
    for cmd in (upgrade_pip, install):
        assert cmd[cmd.index("-c") + 1] == str(CONSTRAINTS)
    assert [install[i + 1] for i, a in enumerate(install) if a == "-e"] == course.EDITABLE
    assert f"{REPO}[test]" in course.EDITABLE


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_index_is_reported_at_once_and_a_live_one_is_not(tmp_path):
    start = time.monotonic()
    error = course.index_error(f"http://127.0.0.1:{_closed_port()}/simple", timeout=5)
    assert error and "refused" in error.lower(), error
    assert time.monotonic() - start < 5
    (tmp_path / "torch").mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=tmp_path)  # noqa: E731
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            assert course.index_error(f"http://127.0.0.1:{server.server_port}/") is None
        finally:
            server.shutdown()


def test_the_fallback_line_says_what_happens_and_how_big_it_is():
    line = course.fallback_line(course.CPU_INDEX, "gaierror: Name or service not known")
    assert "\n" not in line
    for words in (course.CPU_INDEX, "cannot be reached", "Name or service not known",
                  "CUDA build", "2.7 GB", "Ctrl-C"):  # fmt: skip
        assert words in line


def test_pip_falls_back_from_an_unreachable_cpu_index_in_seconds(tmp_path):
    """The real pip, with course.py's torch command pointed at a closed port: it warns,
    skips that index and still resolves torch 2.13.0 from the others."""
    dead = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    cmd = course.torch_command(sys.executable, "cpu", platform="linux", cpu_index=dead)
    cmd[cmd.index("--quiet")] = "--dry-run"
    report = tmp_path / "report.json"
    cmd[-1:-1] = ["--ignore-installed", "--no-deps", "--use-feature=fast-deps"]
    log = tmp_path / "pip.log"
    cmd[-1:-1] = ["--report", str(report), "--log", str(log)]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    (torch,) = json.loads(report.read_text())["install"]
    assert torch["metadata"]["version"].split("+")[0] == "2.13.0"
    assert not torch["download_info"]["url"].startswith(dead)
    # pip tried the dead index and went on. It says so only in its debug log: with no
    # retries it prints no warning, which is why course.py prints its own line.
    text = log.read_text()
    assert f"Could not fetch URL {dead}/torch/" in text
    # Quick because pip tries the dead index once: no retry. (Asserted from the log, not
    # from the clock: a loaded machine took 53 s for the whole pip run; a quiet one 5 s.)
    assert text.count(f"{dead}/torch/") >= 1 and "Retrying (Retry(" not in text, text[-2000:]
    print(f"falling back took {took:.1f} s (pip's whole run)")


def test_set_up_names_the_torch_build_that_is_installed():
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    assert course.torch_summary(sys.executable) == f"torch {torch.__version__} ({build} build)"


# --- lint -----------------------------------------------------------------------------


def test_ruff_lint_and_format_are_clean():
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run([*ruff, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_the_schedulers_timed_groups_are_groups_of_the_suite():
    """conftest.GROUP_SECONDS orders the slow groups: a renamed module or assignment would
    leave its group untimed, and scheduled among the small ones."""
    from conftest import GROUP_SECONDS, group_of
    from nbgrader_course import ASSIGNMENTS

    files = [p.relative_to(REPO).as_posix() for p in (REPO / "tests").rglob("test_*.py")]
    groups = {group_of(f"{path}::t[{a}]") for path in files for a in ASSIGNMENTS}
    assert set(GROUP_SECONDS) <= groups, sorted(set(GROUP_SECONDS) - groups)
    assert "network" not in GROUP_SECONDS  # the network test goes last, whatever it costs
