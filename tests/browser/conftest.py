"""Fixtures for the browser tests: JupyterLab servers and one Chromium per session.

The servers serve a temporary copy of the course, so JupyterLab's saves never reach the
repo; the session checks at the end that the repo's notebooks/ and solutions/ are unchanged.
Each server has one browser page for the session, in a context of its own; after each test
its tabs are closed and its kernels shut down. A failing test leaves a screenshot of its
pages in test-reports/browser/<test-name>.png under the repo root.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbgrader_course import REPO, copy_course  # tests/ is on sys.path: browser is a package

from . import submissions, ui
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

    It runs alongside the student tests, in the moments they wait on the browser and on
    Validate, and is done by the time the instructor tests need it. Not started when no
    selected test asks for ``autograded``.
    """
    if not any("autograded" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(submissions.autograde, course)
        yield job
        job.cancel()  # the pool's exit waits for a job that has started


@pytest.fixture(scope="session")
def servers(request, course, tmp_path_factory):
    """JupyterLab servers over the temporary course, started together: a second one only if
    a selected test asks for ``lab_b``. Afterwards, the repo is unchanged.

    Two servers because nbgrader's Validate handler runs the whole notebook inside the
    server's request, which holds up everything else that server does until the run ends:
    the student flow validates the blank release on one server and the solved copy on the
    other at once.
    """
    watched = (REPO / "notebooks", REPO / "solutions")
    before = tree_digest(*watched)
    wanted = any("lab_b" in item.fixturenames for item in request.session.items)
    started = [
        LabServer(course, tmp_path_factory.mktemp("jupyter")) for _ in range(2 if wanted else 1)
    ]
    try:
        for server in started:
            server.launch()  # ``lab`` and ``lab_b`` wait until it answers
        yield started
    finally:
        for server in started:
            server.stop()
    after = tree_digest(*watched)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"the browser tests changed files in the repo: {changed}"


@pytest.fixture(scope="session")
def lab(servers) -> LabServer:
    servers[0].wait_ready()
    return servers[0]


@pytest.fixture(scope="session")
def lab_b(servers) -> LabServer:
    servers[1].wait_ready()
    return servers[1]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


class _Pages:
    """One page per server, kept for the whole session: Lab loads once in each (every load
    costs seconds of the browser's time), and the tests open their notebooks in it."""

    def __init__(self, browser):
        self.browser = browser
        self.opened = {}

    def get(self, lab):
        if lab not in self.opened:
            context = self.browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(30_000)
            self.opened[lab] = context.new_page()
        return self.opened[lab]

    def discard(self, lab) -> None:
        """Close the server's page; the next test gets a new one."""
        page = self.opened.pop(lab, None)
        if page is not None:
            try:
                page.context.close()
            except Exception:  # a crashed page: nothing left to close
                pass

    def close(self) -> None:
        for lab in list(self.opened):
            self.discard(lab)


@pytest.fixture(scope="session")
def _pages(browser):
    pages = _Pages(browser)
    yield pages
    pages.close()


def _use_page(request, lab, pages: _Pages):
    """Hand the server's page to a test; afterwards close its tabs and shut down its
    kernels. After a failure the page is discarded instead: the test may have left a
    dialog open, or a Validate running whose dialog would open over the next test."""
    page = pages.get(lab)
    # For the screenshots and server logs on failure.
    request.node.__dict__.setdefault("browser_contexts", []).append(page.context)
    request.node.__dict__.setdefault("lab_servers", []).append(lab)
    try:
        yield page
    finally:
        report = getattr(request.node, "call_report", None)
        try:
            if report is not None and report.failed:
                pages.discard(lab)
            elif ui.shows_lab(page, lab):
                ui.close_all_tabs(page)
        except Exception:
            pages.discard(lab)
        lab.shutdown_kernels()


# ``servers`` comes first among the arguments: the servers start while Chromium does.
@pytest.fixture
def page(request, servers, _pages, lab):
    """The session's page on the first server (see ``_Pages``)."""
    yield from _use_page(request, lab, _pages)


@pytest.fixture
def page_b(request, servers, _pages, lab_b):
    """The session's page on the second server."""
    yield from _use_page(request, lab_b, _pages)


def _screenshot_name(nodeid_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid_name).strip("_")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, screenshot the test's page (and any other page it opened) next to the
    test report, and add the end of the server's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_report = report  # the page fixtures read it at teardown
    contexts = getattr(item, "browser_contexts", [])
    if not report.failed or report.when == "teardown" or not contexts:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    pages = [page for context in contexts for page in context.pages]
    for index, page in enumerate(pages):
        suffix = f"-{index}" if index else ""
        path = SCREENSHOTS / f"{_screenshot_name(item.name)}{suffix}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as error:  # a crashed page must not hide the test's own failure
            saved.append(f"(screenshot of page {index} failed: {error})")
        else:
            saved.append(str(path))
    report.sections.append(("browser screenshots", "\n".join(saved)))
    for index, lab in enumerate(getattr(item, "lab_servers", [])):
        report.sections.append((f"jupyter lab log {index} (last lines)", lab.log_tail(40)))
