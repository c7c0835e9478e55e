"""How the suite is spread over pytest-xdist workers (``-n auto --dist loadscope``).

Tests are scheduled in groups; a group runs on one worker, in collection order:

- nbval's cells of one notebook share a kernel, so a notebook is one group;
- the browser tests share one JupyterLab server and one Chromium: one group;
- the two slow grading modules build a class per assignment, so they are split by
  assignment, one group per assignment holding both modules' tests of it: the two classes
  start from one generated course (``generated``, built once per worker: about 6 s each);
- ``tests/test_course_feedback.py`` reads 04's mixed class (``poolgraded``, built once
  per worker): it joins 04's group, so that class is graded once, not twice;
- ``tests/test_grading_report.py`` (a class graded, then its report in Chromium) and
  ``tests/test_grading_faults.py`` (a class graded while processes are killed) and
  ``tests/test_grading_postgres.py`` (a class graded in shards into a real PostgreSQL) are a
  group each;
- the test that resolves the pinned set with pip on every supported Python waits on PyPI
  for minutes with little CPU: under xdist, the first worker to finish collecting starts
  that resolution in a background process (``pip_resolution``), and the test, a group of
  its own scheduled last, reads its result; so the wait overlaps the whole run instead of
  holding a worker (and a core's share of the work) for minutes;
- every other module is one group, which keeps its module-scoped fixtures built once.

The groups are handed out longest first (GROUP_SECONDS, measured), so that the run ends on
small groups, not with one worker busy on a long one while the other has nothing left.
xdist would otherwise sort the groups by their number of tests (``--loadscope-reorder``, on
by default): a run on 2026-12-01 started with the unit tests and nbval, and the six mixed
classes, half the suite's work, began between 5 and 16 minutes in (the tail happened to
even out). ``--no-loadscope-reorder`` in ``pyproject.toml`` keeps the order set here.

xdist's own ``xdist_group`` mark (``--dist loadgroup``) has no effect with pytest 9, which
ignores the node-id suffix xdist writes; so the grouping is a scheduler of our own, through
xdist's ``pytest_xdist_make_scheduler`` hook.

``--quick`` (``python3 course.py test --quick``) is the developers' loop: the unit and
property tests and QUICK_ASSIGNMENT's nbgrader pipeline (generate, autograde, feedback); no
nbval, browser (Validate), attack-corpus or grading-CLI tests, no second notebook's
feedback class, and nothing that needs the network. Its Hypothesis tests run a tenth of
their examples (the "quick" profile; every ``max_examples`` is written through
``strategies.examples``). CI runs everything.

Every process of the run computes on one thread (OMP_NUM_THREADS=1, set before anything
imports torch, and inherited by the kernels nbval, nbgrader, the student kit and JupyterLab
start): the suite already runs one worker per core, next to grading processes, and torch's
default of one thread per core made them fight. Under a grading class, one test of
``tests/test_nets.py`` took 24.7 s with torch's default and 2.7 s with one thread.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from nbgrader_course import ASSIGNMENTS

# Before any test module imports torch or NumPy (none of the imports above does).
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

SPLIT_BY_ASSIGNMENT = ("tests/test_grading_attacks.py", "tests/test_grading_pipeline.py")
# Seconds a worker spent on each slow group in a full run (2026-12-01, 2 cores, both busy
# throughout: each worker's start and end of every test, logged by a plug-in). The others
# took under 90 s each and follow, in collection order.
GROUP_SECONDS = {
    "tests/test_student_kit.py": 374,
    "assignment:03-compute-cost": 346,
    "browser": 270,
    "assignment:06-pooling-in-a-trained-network": 251,
    "assignment:02-pooling-as-convolution": 249,
    "assignment:04-backprop": 236,
    "tests/test_grading_postgres.py": 204,
    "assignment:01-pooling-basics": 202,
    "assignment:05-conv-pool-mse-sgd": 147,
    "tests/test_grading_faults.py": 108,
    "tests/test_grading_report.py": 107,
}
QUICK_ASSIGNMENT = "01-pooling-basics"
NETWORK_TESTS = ("tests/test_packaging.py::test_the_locked_set_resolves_on_every_supported_",)
NOT_QUICK = ("solutions/", "tests/browser/", "tests/test_grading_attacks.py",
             "tests/test_grading_cli.py", "tests/test_grading_faults.py",
             "tests/test_grading_report.py", "tests/test_grading_postgres.py",
             "tests/test_course_feedback.py", "tests/test_student_kit.py")  # fmt: skip
# Modules that read another module's graded class join that assignment's group:
# module -> assignment.
SHARES_CLASS = {"tests/test_course_feedback.py": "04-backprop"}
# The quick tier's share of each Hypothesis test's examples (tests/strategies.examples).
settings.register_profile("quick", max_examples=10)


def pytest_addoption(parser):
    parser.addoption(
        "--quick",
        action="store_true",
        help="the developers' loop: unit and property tests, one assignment's pipeline",
    )


def pytest_ignore_collect(collection_path, config):
    """Under --quick, whole modules and folders outside the tier are not even imported
    (nbval's notebooks, Playwright, PostgreSQL's driver): each xdist worker collects
    everything, so what it skips here it saves once per worker."""
    if not config.getoption("--quick"):
        return None
    try:
        relative = collection_path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return None
    if collection_path.is_dir():
        relative += "/"
    return True if relative.startswith(NOT_QUICK) else None


def pytest_configure(config):
    if config.getoption("--quick"):
        settings.load_profile("quick")  # before the test modules are imported


def _background_folder(config) -> Path | None:
    """Where this xdist run's background pip resolution writes (None without xdist)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    return Path(tempfile.gettempdir()) / f"course-pip-resolution-{workerinput['testrunuid']}"


def pytest_collection_finish(session):
    """Start the network test's pip resolution now, once per run, if it was selected."""
    folder = _background_folder(session.config)
    if folder is None or not any(item.nodeid.startswith(NETWORK_TESTS) for item in session.items):
        return
    try:
        folder.mkdir()  # the first worker to get here starts it; the others see the folder
    except FileExistsError:
        return
    from lock import start_resolving

    start_resolving(folder)


@pytest.fixture
def pip_resolution(request, tmp_path):
    """(folder, runs): ``lock.resolve_all``'s result under constraints.txt, and the folder
    with pip's logs; from the background process when one was started, else resolved here."""
    from lock import CONSTRAINTS, resolve_all, resolved_in

    folder = _background_folder(request.config)
    if folder is None or not folder.exists():
        return tmp_path, resolve_all(tmp_path, constraints=CONSTRAINTS)
    runs = resolved_in(folder, timeout=1800)
    if runs is None:
        err = (folder / "resolving.err").read_text()[-3000:]
        pytest.fail(f"the background pip resolution gave nothing in 30 min:\n{err}")
    for log in folder.glob("pip-*.log"):
        shutil.copy2(log, tmp_path)
    shutil.rmtree(folder, ignore_errors=True)
    return tmp_path, runs


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """(assignment, dest) -> dest, a course in which stock ``nbgrader generate_assignment``
    made the assignment's release and gradebook. Generated once per test process and copied:
    a generation costs about 6 s on a quiet machine (5.8 s measured), part of it in the
    ``alembic heads`` process that nbgrader starts for every new gradebook."""
    from nbgrader_course import copy_generated, generated_course

    @functools.cache
    def template(assignment: str) -> Path:
        return generated_course(tmp_path_factory.mktemp(f"generated-{assignment}"), assignment)

    def get(assignment: str, dest: Path) -> Path:
        return copy_generated(template(assignment), dest)

    return get


@pytest.fixture(scope="session")
def poolgraded(tmp_path_factory, generated):
    """assignment -> its mixed class graded with poolgrader (tests/attack_class.py), built on
    first use and kept for the session, so modules that read the same class share it (the
    scheduler below puts them on one worker)."""
    from attack_class import build

    @functools.cache
    def get(assignment: str):
        return build(
            assignment, generated(assignment, tmp_path_factory.mktemp(f"class-{assignment}"))
        )

    return get


@pytest.fixture(scope="session")
def stock_graded(tmp_path_factory, generated):
    """assignment -> its pipeline class graded with stock nbgrader (tests/pipeline_class.py),
    built on first use and kept for the session."""
    from pipeline_class import build

    @functools.cache
    def get(assignment: str):
        return build(assignment, generated(assignment, tmp_path_factory.mktemp(assignment)))

    return get


def in_quick_tier(item) -> bool:
    if item.nodeid.startswith(NOT_QUICK) or item.get_closest_marker("network"):
        return False
    if item.nodeid.startswith("tests/test_grading_pipeline.py"):
        param = re.search(r"\[([^\]]*)\]$", item.nodeid)
        return not param or QUICK_ASSIGNMENT in param.group(1)
    return True


def group_of(nodeid: str) -> str:
    """The scheduling group of the test ``nodeid``."""
    path = nodeid.split("::", 1)[0]
    if nodeid.startswith(NETWORK_TESTS):
        return "network"
    if path.startswith("tests/browser/"):
        return "browser"
    if path in SHARES_CLASS:
        return f"assignment:{SHARES_CLASS[path]}"
    if path in SPLIT_BY_ASSIGNMENT:
        param = re.search(r"\[([^\]]*)\]$", nodeid)
        found = [a for a in ASSIGNMENTS if param and a in param.group(1)]
        if found:
            return f"assignment:{found[0]}"
    return path


def schedule_rank(nodeid: str) -> tuple[int, int]:
    """Where the test's group goes in the queue: the longest groups first; the network test
    last (its pip runs, 2-8 min here, started in the background when collection ended:
    last, it finds them done or nearly)."""
    group = group_of(nodeid)
    return (1 if group == "network" else 0, -GROUP_SECONDS.get(group, 0))


def pytest_collection_modifyitems(config, items):
    if config.getoption("--quick"):
        deselected = [item for item in items if not in_quick_tier(item)]
        items[:] = [item for item in items if in_quick_tier(item)]
        config.hook.pytest_deselected(items=deselected)
    # The slow groups first; a stable sort keeps the order within every group.
    items.sort(key=lambda item: schedule_rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        # xdist has no public way to say which tests form a group: its schedulers are made
        # through the public hook above, and LoadScopeScheduling's one customisation point is
        # this method (xdist's own LoadFileScheduling overrides it the same way). The public
        # alternative, xdist_group with --dist loadgroup, is the one pytest 9 breaks.
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return CourseScheduling(config, log)
