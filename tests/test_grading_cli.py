"""The grading command's edges: bad arguments, and the grading kernelspec on its own."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader_course import BIN
from poolgrader.autograde import ensure_kernelspec
from poolgrader.sandbox import remove_cgroup
from poolgrader.submission import stage


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "poolgrader", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def course(tmp_path_factory, generated):
    return generated("01-pooling-basics", tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["autograde", "01-pooling-basics", "--workers", "0"], "--workers must be at least 1"),
        (["autograde", "01-pooling-basics", "--timeout", "0"], "--timeout must be at least 1"),
        (["autograde", "99-nothing"], "'99-nothing' is not in the gradebook"),
        (["autograde", "01-pooling-basics", "--student", "nobody*"], "no submissions of"),
    ],
)
def test_bad_input_gets_a_clear_message(course, args, message):
    proc = run(*args, cwd=course)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr


def test_the_grader_refuses_an_assignment_with_an_undeclared_graded_cell(course):
    """Without its rules.toml, no graded cell of 01 has declared rules, so its clean
    re-check (the score that counts) could not run: the grader refuses before grading."""
    (course / "grading" / "submitted" / "s1" / "01-pooling-basics").mkdir(parents=True)
    rules = course / "solutions" / "01-pooling-basics" / "rules.toml"
    kept = rules.with_name("rules.toml.kept")
    rules.rename(kept)
    try:
        proc = run("autograde", "01-pooling-basics", cwd=course)
    finally:
        kept.rename(rules)
        shutil.rmtree(course / "grading" / "submitted" / "s1")
    assert proc.returncode == 2
    assert "rules.toml is missing" in proc.stdout


def test_outside_a_course_it_says_where_to_run(tmp_path):
    proc = run("autograde", "01-pooling-basics", cwd=tmp_path)
    assert proc.returncode == 2
    assert "run this from the course root" in proc.stdout


def _release_of(course) -> Path:
    return course / "notebooks" / "01-pooling-basics"


def test_staging_repairs_metadata_and_never_touches_the_submission(course, tmp_path):
    release = nbformat.read(_release_of(course) / "01-pooling-basics.ipynb", as_version=4)
    tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    tests[0].metadata["nbgrader"]["points"] = 1000
    release.cells.append(copy.deepcopy(tests[1]))  # a second cell with the same grade id
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    nbformat.write(release, submitted / "01-pooling-basics.ipynb")
    before = (submitted / "01-pooling-basics.ipynb").read_bytes()
    notes = stage(submitted, tmp_path / "staged", _release_of(course), ["01-pooling-basics"])
    assert (submitted / "01-pooling-basics.ipynb").read_bytes() == before
    staged = nbformat.read(tmp_path / "staged" / "01-pooling-basics.ipynb", as_version=4)
    first = tests[0].metadata["nbgrader"]["grade_id"]
    points = [
        c.metadata["nbgrader"].get("points")
        for c in staged.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == first
    ]
    assert points == [4]
    assert any("points" in n for n in notes)
    assert any("a second cell with grade id" in n for n in notes)


def test_the_grading_kernelspec_runs_a_notebook_sandboxed(course, tmp_path):
    """Stock nbclient with kernel_name=poolkit-grading: no zygote, same limits and hook."""
    ensure_kernelspec()
    work = course / "grading" / "autograded" / "someone" / "01-pooling-basics"
    work.mkdir(parents=True, exist_ok=True)
    cells = [
        "import os\ntry:\n    os.fork()\nexcept PermissionError as e:\n    print('refused:', e)",
        "print(sorted(os.listdir('../../../solutions')))",
        "import poolkit.checks\ntry:\n    open(poolkit.checks.__file__, 'a')\n"
        "except OSError as e:\n    print('write refused:', type(e).__name__)",
        "x = bytearray(10)\nprint('still alive', len(x))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="poolkit-grading", timeout=60, allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()  # fmt: skip
    text = ["".join(o.get("text", "") + o.get("evalue", "") for o in c.outputs) for c in nb.cells]
    assert "refused: not allowed while grading: starting a process" in text[0]
    assert "01-pooling-basics" not in text[1]  # solutions/ is hidden (empty, or refused)
    assert "write refused" in text[2]
    assert "still alive 10" in text[3]


# Run in a child process: the sandbox and the limits are for good once entered.
WITHOUT_NAMESPACES = """
import json, os, resource, socket, sys
from pathlib import Path
from poolgrader import limits, sandbox

def missing(libc, flags, what):  # what a container that forbids namespaces answers
    raise sandbox.SandboxError(f"{what}: Operation not permitted")

sandbox._unshare = missing
limits._STATM = limits._PROC = "/nonexistent/proc"  # and no /proc (macOS)
hidden = Path(sys.argv[1])
layers = sandbox.enter(hide=[hidden], keep=None, readonly=[], writable=[Path(sys.argv[2])],
                       uid=None, limits=limits.Limits(memory_mb=512, cpu_seconds=77))
said = {"layers": layers, "as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0]}
for name, attempt in [("read", lambda: (hidden / "key.txt").read_text()),
                      ("connect", lambda: socket.socket().connect(("127.0.0.1", 9)))]:
    try:
        attempt()
        said[name] = "allowed"
    except OSError as exc:
        said[name] = str(exc)
print(json.dumps(said))
"""


def test_without_namespaces_or_proc_the_sandbox_degrades_and_says_so(tmp_path):
    """Namespaces refused and /proc missing, simulated: the layers that remain still hold."""
    import json

    hidden = tmp_path / "solutions"
    hidden.mkdir()
    (hidden / "key.txt").write_text("the answers")
    child = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_NAMESPACES, str(hidden), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = child.communicate(timeout=120)
    remove_cgroup(child.pid)  # as root, the child limited its processes with a cgroup
    assert child.returncode == 0, err
    said = json.loads(out)
    layers = "\n".join(said["layers"])
    assert "NO private file system view (unshare(CLONE_NEWNS): Operation not permitted)" in layers
    assert "NO network namespace" in layers
    assert "NO memory limit" in layers
    assert said["as"] == -1  # RLIMIT_INFINITY: no limit rather than a wrong one
    assert said["cpu"] == 77  # the other limits are still set
    assert said["read"].startswith("not allowed while grading: opening")
    assert said["connect"] == "not allowed while grading: using the network (socket.connect)"
