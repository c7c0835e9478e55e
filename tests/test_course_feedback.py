"""The feedback a student gets for a plausible wrong answer says what to fix.

04's mixed class (``tests/attack_class.py``, graded with poolgrader, its feedback made by
stock nbgrader's generate_feedback, and shared with ``test_grading_attacks.py``) has a
submission with the model answers, except a max-pool backward pass that shares each
window's gradient among tied maxima (CS231n's mask ``window == window.max()``). Its
feedback page must name how many entries differ, the first differing index with the
expected and the returned value, and the ties pitfall with torch's rule; and its long lines
must wrap instead of running off the page. The expected numbers are worked out here from
torch and from the wrong rule itself, not read from the page.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nbgrader_course import html_text
from wrong_answers import WRONG_ANSWERS

ASSIGNMENT = "04-backprop"

# The visible tie case of 04's test_max_pool2d_backward (kernel 2, stride 1).
X_TIES = np.array([[1, 3, 3], [3, 2, 0], [0, 3, 1]], dtype=np.float64)
DY_TIES = np.array([[1, 2], [3, 4]], dtype=np.float64)


def _tie_sharing_index() -> int:
    """The tie-sharing answer's index in WRONG_ANSWERS[04]: its student is ``wrong-<index>``."""
    (index,) = [
        i
        for i, (answer_id, source, _) in enumerate(WRONG_ANSWERS[ASSIGNMENT])
        if answer_id == "max_pool2d_backward" and "tied.sum()" in source
    ]
    return index


@pytest.fixture(scope="module")
def feedback_page(poolgraded):
    index = _tie_sharing_index()
    graded = poolgraded(ASSIGNMENT)
    page = graded.root / "grading/feedback" / f"wrong-{index}" / ASSIGNMENT
    page = page / f"{ASSIGNMENT}.html"
    assert page.exists(), "generate_feedback wrote no page"
    return page


def _torch_backward(x, dy):
    xt = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(F.max_pool2d(xt[None, None], 2, 1)[0, 0], xt, torch.tensor(dy))
    return grad.numpy()


def _shared_backward(x, dy):
    """The wrong rule: each window's dy split equally among its tied maxima."""
    dx = np.zeros_like(x)
    for i, j in np.ndindex(*dy.shape):
        window = x[i : i + 2, j : j + 2]
        tied = window == window.max()
        dx[i : i + 2, j : j + 2] += tied * dy[i, j] / tied.sum()
    return dx


def test_tie_sharing_feedback_names_the_count_the_first_index_and_the_ties_pitfall(
    feedback_page,
):
    expected = _torch_backward(X_TIES, DY_TIES)
    got = _shared_backward(X_TIES, DY_TIES)
    differ = ~np.isclose(got, expected)
    first = tuple(int(i) for i in np.argwhere(differ)[0])
    text = " ".join(html_text(feedback_page).split())
    assert f"{int(differ.sum())} of {X_TIES.size} entries differ." in text
    assert (
        f"First difference at index {(0, 0, *first)}: expected {expected[first]:g}, "
        f"got {got[first]:g}." in text
    )
    assert f"Known pitfall, ties: all {int(differ.sum())} differing entries are tied" in text
    assert "the first maximum in row-major order of the window" in text
    # The old message's two identical summary lines are gone.
    assert "an array of shape" not in text


def test_the_feedback_page_carries_the_wrapping_css(feedback_page):
    from poolkit.feedback import WRAP_CSS

    assert "white-space: pre-wrap" in WRAP_CSS
    assert WRAP_CSS.strip() in feedback_page.read_text(encoding="utf-8")


@pytest.mark.browser
def test_feedback_fits_the_page_width_in_chromium(feedback_page):
    """In a real browser, the error message wraps and nothing runs off the right edge."""
    from concurrent.futures import ThreadPoolExecutor

    # Playwright's sync API refuses a thread with a running asyncio loop, and an earlier
    # test group on the same xdist worker can leave one (seen in the full suite): a thread
    # of its own has none.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_check_feedback_width, feedback_page).result()


def _check_feedback_width(feedback_page) -> None:
    from browser.lab import launch_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(feedback_page.as_uri())
            error = page.locator("div.output_error pre").first
            assert "entries differ" in error.inner_text()
            assert error.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
            # The message's first line is longer than the page is wide, so it must wrap:
            # the <pre> is taller than its lines would be unwrapped, and no wider than its box.
            wrapped = error.evaluate(
                """e => {
                    const line = parseFloat(getComputedStyle(e).lineHeight);
                    return e.clientHeight >= line * (e.innerText.split("\\n").length + 1);
                }"""
            )
            assert wrapped
            assert error.evaluate("e => e.scrollWidth <= e.clientWidth")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1000
        finally:
            browser.close()
