"""How the suite is spread over pytest-xdist workers (``-n auto --dist loadscope``).

Tests are scheduled in groups; a group runs on one worker, in collection order:

- nbval's cells of one notebook share a kernel, so a notebook is one group;
- the browser tests share one JupyterLab server and one Chromium: one group;
- the two slow grading modules build a class per assignment in a module-scoped fixture, so
  they are split by assignment (each group builds its own), and those groups come first,
  alternating between the two modules, so that a long group does not end the run;
- ``tests/test_grading_report.py`` (a class graded, then its report in Chromium) and
  ``tests/test_grading_faults.py`` (a class graded while processes are killed) and
  ``tests/test_grading_postgres.py`` (a class graded in shards into a real PostgreSQL) are a
  group each, scheduled after those;
- the test that resolves the pinned set with pip on every supported Python waits on PyPI
  for minutes with little CPU: it is a group of its own, started first;
- every other module is one group, which keeps its module-scoped fixtures built once.

xdist's own ``xdist_group`` mark (``--dist loadgroup``) has no effect with pytest 9, which
ignores the node-id suffix xdist writes; so the grouping is a scheduler of our own, through
xdist's ``pytest_xdist_make_scheduler`` hook.

``--quick`` (``python3 course.py test --quick``) is the developers' loop: the unit and
property tests and QUICK_ASSIGNMENT's nbgrader pipeline (generate, autograde, feedback); no
nbval, Validator, browser, attack-corpus or grading-CLI tests, and nothing that needs the
network. CI runs everything.
"""

from __future__ import annotations

import re

import pytest
from nbgrader_course import ASSIGNMENTS

SPLIT_BY_ASSIGNMENT = ("tests/test_grading_attacks.py", "tests/test_grading_pipeline.py")
# Each grades a class of its own (a report opened in Chromium; a class graded under faults):
# one group each, early.
SLOW_ALONE = (
    "tests/test_grading_report.py",
    "tests/test_grading_faults.py",
    "tests/test_grading_postgres.py",
)
QUICK_ASSIGNMENT = "01-pooling-basics"
NETWORK_TESTS = ("tests/test_packaging.py::test_the_locked_set_resolves_on_every_supported_",)
NOT_QUICK = ("solutions/", "tests/browser/", "tests/test_grading_attacks.py",
             "tests/test_grading_cli.py", "tests/test_grading_faults.py",
             "tests/test_grading_report.py", "tests/test_grading_postgres.py",
             "tests/test_student_kit.py")  # fmt: skip


def pytest_addoption(parser):
    parser.addoption(
        "--quick",
        action="store_true",
        help="the developers' loop: unit and property tests, one assignment's pipeline",
    )


def in_quick_tier(item) -> bool:
    if item.nodeid.startswith(NOT_QUICK) or item.get_closest_marker("network"):
        return False
    if item.nodeid.startswith("tests/test_grading_pipeline.py"):
        if "test_validator_" in item.nodeid:  # two more runs of the notebook, student side
            return False
        param = re.search(r"\[([^\]]*)\]$", item.nodeid)
        return not param or QUICK_ASSIGNMENT in param.group(1)
    return True


def group_of(nodeid: str) -> tuple[tuple[int, int], str]:
    """(scheduling rank, group name) of the test ``nodeid``."""
    path = nodeid.split("::", 1)[0]
    if nodeid.startswith(NETWORK_TESTS):
        # It mostly waits on PyPI (2-8 min here): started first, it overlaps the rest.
        return (0, -1), "network"
    if path.startswith("tests/browser/"):
        return (1, 0), "browser"
    if path in SLOW_ALONE:
        return (0, 2 * len(ASSIGNMENTS) + SLOW_ALONE.index(path)), path
    if path in SPLIT_BY_ASSIGNMENT:
        param = re.search(r"\[([^\]]*)\]$", nodeid)
        found = [a for a in ASSIGNMENTS if param and a in param.group(1)]
        if found:
            index = ASSIGNMENTS.index(found[0])
            return (0, 2 * index + SPLIT_BY_ASSIGNMENT.index(path)), f"{path}:{found[0]}"
    return (2, 0), path


def pytest_collection_modifyitems(config, items):
    if config.getoption("--quick"):
        deselected = [item for item in items if not in_quick_tier(item)]
        items[:] = [item for item in items if in_quick_tier(item)]
        config.hook.pytest_deselected(items=deselected)
    # The slow groups first; a stable sort keeps the order within every group.
    items.sort(key=lambda item: group_of(item.nodeid)[0])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        # xdist has no public way to say which tests form a group: its schedulers are made
        # through the public hook above, and LoadScopeScheduling's one customisation point is
        # this method (xdist's own LoadFileScheduling overrides it the same way). The public
        # alternative, xdist_group with --dist loadgroup, is the one pytest 9 breaks.
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)[1]

    return CourseScheduling(config, log)
