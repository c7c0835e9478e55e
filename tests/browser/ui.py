"""What a person does in JupyterLab, as Playwright steps, and what they see, as data.

Selectors are scoped to the notebook panel on show: Lab keeps hidden panels of other tabs
in the page, and an unscoped selector would match those too.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_START = 90_000  # ms: a kernel starting on two cores that are busy
RUN_ALL = 120_000  # ms: Run All Cells of one notebook (about 8 s when the machine is idle)
VALIDATE = 120_000  # ms: nbgrader runs the whole notebook again on the server


def open_lab(page: Page, lab, path: str = "") -> None:
    """Open Lab in a fresh workspace, optionally on ``path`` (relative to the course root).

    Returns once the page has loaded; Lab then goes on starting in the browser.
    """
    page.goto(lab.lab_url(path))


def current_tab(page: Page):
    return page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")


def wait_notebook(page: Page, path: str, cell_count: int, kernel: bool = True) -> None:
    """Wait until the notebook at ``path`` is the tab on show, shows all its cells (Lab adds
    them a few at a time) and (``kernel``) its kernel is idle."""
    name = path.rsplit("/", 1)[-1]
    expect(current_tab(page).locator(".lm-TabBar-tabLabel")).to_have_text(name, timeout=60_000)
    cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
    expect(cells, f"Lab does not show the {cell_count} cells of {path}").to_have_count(
        cell_count, timeout=60_000
    )
    if kernel:
        wait_kernel_idle(page)


def shows_lab(page: Page, lab) -> bool:
    """Whether the page has this server's Lab loaded."""
    return page.url.startswith(f"{lab.url}/lab")


def show_lab(page: Page, lab) -> None:
    """Make sure the page shows this server's Lab: load it unless it is there already."""
    if not shows_lab(page, lab):
        open_lab(page, lab)


def open_notebook(page: Page, lab, path: str) -> None:
    """Open the notebook at ``path`` (relative to the course root): in the Lab the page shows
    already, with File → Open from Path…; in a page that shows no Lab of this server yet, by
    loading Lab on it. ``wait_notebook`` then waits until it is ready."""
    if shows_lab(page, lab):
        menu(page, "File", "Open from Path…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill(path)
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    else:
        open_lab(page, lab, path)


def close_all_tabs(page: Page) -> None:
    """File → Close All Tabs, answering Discard each time Lab asks to save a notebook.

    Returns once no notebook is open (Lab then shows a Launcher).
    """
    menu(page, "File", "Close All Tabs")
    notebooks = page.locator(".jp-NotebookPanel")
    discard = page.locator(".jp-Dialog .jp-Dialog-button", has_text=re.compile("^Discard$"))
    deadline = time.monotonic() + 30
    while notebooks.count():
        assert time.monotonic() < deadline, f"{notebooks.count()} notebooks still open"
        if discard.count():
            discard.first.click()
        page.wait_for_timeout(100)


def wait_kernel_idle(page: Page, timeout: float = KERNEL_START) -> None:
    """Wait until the notebook's kernel is connected and idle, as the status bar says.

    (The toolbar's execution indicator says "idle" before there is a kernel at all, and Run
    All without a kernel quietly runs nothing.)
    """
    status = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
    expect(status, "the notebook's kernel is not idle").to_have_count(1, timeout=timeout)


def menu(page: Page, top: str, item: str) -> None:
    """Click ``top`` in the menu bar, then ``item`` in the menu that opens."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def menu_labels(page: Page, top: str) -> list[str]:
    """The labels of the items in menu ``top`` (the menu is left open)."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    labels = page.locator(".lm-Menu-content .lm-Menu-itemLabel")
    expect(labels.first).to_be_visible()
    return [text.strip() for text in labels.all_inner_texts()]


def run_all(page: Page) -> None:
    """Run → Run All Cells on the notebook on show; return once its first cell started."""
    menu(page, "Run", "Run All Cells")
    try:
        page.wait_for_function(
            """(panel) => [...document.querySelectorAll(panel + ' .jp-InputArea-prompt')]
                .some((p) => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
            arg=PANEL,
            timeout=30_000,
        )
    except PlaywrightTimeoutError:
        raise AssertionError("Run → Run All Cells started no cell within 30 s") from None


# Every cell of the panel on show, in order: prompt, outputs (mime type and text), images.
_CELLS_JS = """(panel) => {
  const root = document.querySelector(panel);
  if (!root) return [];
  return [...root.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell) => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')].map((out) => ({
      mime: out.getAttribute('data-mime-type'),
      text: out.textContent,
    }));
    const images = [...cell.querySelectorAll('.jp-OutputArea-output img')].map((img) => ({
      png: img.src.startsWith('data:image/png;base64,') && img.src.length > 100,
      width: img.naturalWidth,
    }));
    return {
      code: cell.classList.contains('jp-CodeCell'),
      prompt: prompt ? prompt.textContent.trim() : '',
      outputs,
      images,
    };
  });
}"""


def cells(page: Page) -> list[dict]:
    return page.evaluate(_CELLS_JS, PANEL)


def is_error(output: dict) -> bool:
    """An error output (a traceback) or stderr text that is not a library warning."""
    if output["mime"] != "application/vnd.jupyter.stderr":
        return False
    if "Traceback" in output["text"]:
        return True
    # nbgrader_config.py ignores "...Warning: " lines on stderr; so do these tests.
    lines = [line for line in output["text"].splitlines() if line.strip()]
    return not all(re.search(r"\w*Warning: ", line) or line.startswith(" ") for line in lines)


def executed(cell: dict) -> bool:
    return bool(re.fullmatch(r"\[\d+\]:", cell["prompt"]))


def wait_run_finished(page: Page) -> None:
    """Wait until Run All is over: no cell waits ("[*]"), and either the last code cell ran
    or a cell failed, which stops the run."""
    try:
        page.wait_for_function(
            """(panel) => {
              const root = document.querySelector(panel);
              if (!root) return false;
              const prompts = [...root.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                .map((p) => p.textContent);
              if (!prompts.length || prompts.some((t) => t.includes('*'))) return false;
              const failed = [...root.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
              )].some((o) => o.textContent.includes('Traceback'));
              return failed || /\\[\\d+\\]/.test(prompts[prompts.length - 1]);
            }""",
            arg=PANEL,
            timeout=RUN_ALL,
        )
    except PlaywrightTimeoutError:
        prompts = [cell["prompt"] for cell in cells(page) if cell["code"]]
        raise AssertionError(
            f"Run All did not finish within {RUN_ALL / 1000:.0f} s; the code cells' prompts: "
            f"{prompts}"
        ) from None


def save(page: Page) -> None:
    """Save with the toolbar's save button and wait until the tab is no longer dirty."""
    page.locator(f"{PANEL} .jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
    expect(current_tab(page)).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"), timeout=30_000)


def click_validate(page: Page) -> None:
    """Click nbgrader's Validate button (it saves, then the server runs the notebook)."""
    toolbar = page.locator(f"{PANEL} .jp-NotebookPanel-toolbar")
    toolbar.get_by_role("button", name="Validate").click()


def validation_result(page: Page) -> tuple[str, str]:
    """Wait for Validate's result dialog; return its body's class list and text, then close
    the dialog."""
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results", timeout=VALIDATE)
    body = dialog.locator(".jp-Dialog-body")
    classes, text = body.get_attribute("class") or "", body.inner_text()
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    return classes, text


def output_snapshot_js() -> str:
    """JS: the text and image data of one widget's output area, to tell a redraw."""
    return """(out) => out.textContent + '|' +
        [...out.querySelectorAll('img')].map((img) => img.src).join('|')"""
