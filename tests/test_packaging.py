"""The two install paths (pip via pyproject.toml, conda via environment.yml) agree, and the
code base is lint-clean under the repo's ruff configuration, notebooks included."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^;\s]+)\s*(?:;\s*(.*))?$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for req in reqs:
        match = PIN.match(req)
        assert match, f"pyproject.toml: {req!r} is not pinned with =="
        name, version, marker = match.groups()
        # environment.yml installs Python 3.11, so the 3.11+ pins are the ones to compare.
        if marker is None or ">=" in marker:
            pins[_normal(name)] = version
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-e"):
                    continue
                name, version = line.split("==")
                pins[_normal(name)] = version
        elif "=" in dep:
            name, version = dep.split("=", 1)
            if name not in ("python",):
                pins[_normal(name)] = version
    return pins


def test_environment_yml_names_the_same_packages_as_pyproject():
    pyproject, conda = _pyproject_pins(), _environment_pins()
    assert "torch" in pyproject and pyproject["torch"] == "2.13.0"
    assert conda == pyproject, {
        "only in pyproject.toml": sorted(set(pyproject) - set(conda)),
        "only in environment.yml": sorted(set(conda) - set(pyproject)),
        "different versions": sorted(
            (k, pyproject[k], conda[k])
            for k in set(pyproject) & set(conda)
            if pyproject[k] != conda[k]
        ),
    }


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    wrong = {}
    for name, pinned in _pyproject_pins().items():
        if sys.version_info < (3, 11):
            break
        installed = version(name).split("+")[0]
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed versions differ from the pins (pinned, installed): {wrong}"


def test_ruff_lint_and_format_are_clean():
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run([*ruff, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
