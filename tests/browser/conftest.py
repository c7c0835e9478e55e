"""Fixtures for the browser tests: one JupyterLab server and one Chromium per session.

The server serves a temporary copy of the course, so JupyterLab's saves never reach the
repo; the session checks at the end that the repo's notebooks/ and solutions/ are unchanged.
Each test gets its own browser context and page. A failing test leaves a screenshot of its
page in test-reports/browser/<test-name>.png under the repo root.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbgrader_course import REPO, copy_course  # tests/ is on sys.path: browser is a package

from . import submissions
from .lab import LabServer, launch_chromium, tree_digest

SCREENSHOTS = REPO / "test-reports" / "browser"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """A temporary copy of the course (config, solutions, release): the server's root."""
    return copy_course(tmp_path_factory.mktemp("course"))


def pytest_collection_modifyitems(items):
    """Run the instructor tests after the student tests: their autograding then runs in the
    background during the student tests (see ``autograde_job``)."""
    instructor = [item for item in items if item.path.name == "test_instructor_flow.py"]
    if not instructor:
        return
    ids = {id(item) for item in instructor}
    first = next(k for k, item in enumerate(items) if id(item) in ids)
    rest = [item for item in items if id(item) not in ids]
    students = [k for k, item in enumerate(rest) if item.path.name == "test_student_flow.py"]
    at = students[-1] + 1 if students else first
    items[:] = rest[:at] + instructor + rest[at:]


@pytest.fixture(scope="session", autouse=True)
def autograde_job(request, course):
    """Autograding the instructor tests' submissions (stock ``nbgrader autograde`` in the
    course copy), started in a background thread with the first browser test.

    The student tests leave one core of two idle most of the time (they wait on the browser
    and on Validate), so the autograding costs them little and is done by the time the
    instructor tests need it. Not started when no selected test asks for ``autograded``.
    """
    if not any("autograded" in item.fixturenames for item in request.session.items):
        yield None
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(submissions.autograde, course)
        yield job
        job.cancel()  # the pool's exit waits for a job that has started


@pytest.fixture(scope="session")
def lab(course, tmp_path_factory):
    """A JupyterLab server over the temporary course; afterwards, the repo is unchanged."""
    watched = (REPO / "notebooks", REPO / "solutions")
    before = tree_digest(*watched)
    server = LabServer(course, tmp_path_factory.mktemp("jupyter"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
    after = tree_digest(*watched)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"the browser tests changed files in the repo: {changed}"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(request, browser, lab):
    """A page in a new browser context; afterwards the context is closed and the kernels
    its notebooks started are shut down."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    request.node.browser_context = context  # for the screenshot on failure
    request.node.lab_server = lab
    try:
        yield context.new_page()
    finally:
        context.close()
        lab.shutdown_kernels()


def _screenshot_name(nodeid_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid_name).strip("_")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, screenshot the test's page (and any other page it opened) next to the
    test report, and add the end of the server's log to the report."""
    outcome = yield
    report = outcome.get_result()
    context = getattr(item, "browser_context", None)
    if not report.failed or report.when == "teardown" or context is None:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for index, page in enumerate(context.pages):
        suffix = f"-{index}" if index else ""
        path = SCREENSHOTS / f"{_screenshot_name(item.name)}{suffix}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as error:  # a crashed page must not hide the test's own failure
            saved.append(f"(screenshot of page {index} failed: {error})")
        else:
            saved.append(str(path))
    report.sections.append(("browser screenshots", "\n".join(saved)))
    lab = getattr(item, "lab_server", None)
    if lab is not None:
        report.sections.append(("jupyter lab log (last lines)", lab.log_tail(40)))
