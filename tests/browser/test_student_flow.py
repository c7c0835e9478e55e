"""Student flow in JupyterLab, for every released notebook, as a student clicks through it.

Solved copy (the release with the model answers put in), for every notebook: Run All gives
no error, every figure renders as a PNG image, every widget renders and redraws its output
when a slider moves, and a save writes the executed cells.

Validate, for the first notebook: on the solved copy, after the save, it reports success;
and on the blank release, in a second JupyterLab over the same folder and at the same time,
Run All runs cleanly up to the first exercise (then the first test cell stops the run with
NotImplementedError), and Validate reports that cell's failure. The clicks are the same for
every notebook. Validate's verdict on every notebook is checked in
``tests/test_student_kit.py``, in the student edition's own virtualenv: every solved
notebook passes, and on every blank one every cell but the exercises' tests runs and every
exercise's test fails.
"""

from __future__ import annotations

import functools

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO, filled_release, is_answer, notebook_path
from playwright.sync_api import expect

from . import ui

pytestmark = pytest.mark.browser

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@functools.cache
def _layout(assignment: str):
    """(cell count, first exercise's index, figure cells, widget cells) of the notebook.

    Figures and widgets are read from the executed solutions, whose cells match the
    release's one for one.
    """
    release = nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4)
    solution = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    assert len(release.cells) == len(solution.cells), f"{assignment}: release and source differ"
    first = next(i for i, cell in enumerate(release.cells) if is_answer(cell))
    figures, widgets = [], []
    for index, cell in enumerate(solution.cells):
        mimes = {mime for out in cell.get("outputs", []) for mime in out.get("data", {})}
        if "image/png" in mimes:
            figures.append(index)
        if WIDGET_MIME in mimes:
            widgets.append(index)
    return len(release.cells), first, figures, widgets


def _errors(shown: list[dict], cells: range) -> dict[int, str]:
    return {
        index: output["text"][-600:]
        for index in cells
        for output in shown[index]["outputs"]
        if ui.is_error(output)
    }


def _check_widget_reacts(page, index: int) -> None:
    """The widget in cell ``index`` rendered; moving its first slider redraws its output."""
    cell = page.locator(f"{ui.PANEL} .jp-Notebook .jp-Cell").nth(index)
    output = cell.locator(".jp-OutputArea-output .widget-output").first
    slider = cell.locator(".widget-slider").first
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    for part in (output, handle, readout):
        part.wait_for(state="attached", timeout=60_000)
    expect(cell).not_to_contain_text("Error displaying widget")
    handle.scroll_into_view_if_needed()
    snapshot = ui.output_snapshot_js()
    # The widget's first drawing has arrived (text or a figure) before the slider moves.
    page.wait_for_function(
        f"(out) => ({snapshot})(out).replace(/\\|/g, '').trim().length > 0",
        arg=output.element_handle(),
        timeout=60_000,
    )
    before_value = readout.inner_text()
    before = output.evaluate(snapshot)

    handle.focus()
    page.keyboard.press("ArrowRight")
    expect(readout).not_to_have_text(before_value, timeout=10_000)
    try:
        page.wait_for_function(
            f"([out, before]) => ({snapshot})(out) !== before",
            arg=[output.element_handle(), before],
            timeout=60_000,
        )
    except Exception as error:
        raise AssertionError(
            f"cell {index}: the slider moved from {before_value} to {readout.inner_text()} "
            f"but the output below it did not change ({error})"
        ) from None


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_flow(assignment, lab, lab_b, course, page, page_b):
    """A solved copy in one Lab and, for the first notebook, the blank release in another,
    side by side: both run at once, and for the first notebook both are validated at once
    (each Validate holds up its own server)."""
    count, first, figures, widgets = _layout(assignment)
    blank = assignment == ASSIGNMENTS[0]  # the blank release, and Validate on both
    blank_path = f"notebooks/{assignment}/{assignment}.ipynb"
    solved = notebook_path(course, "notebooks", assignment).with_name(f"{assignment}-solved.ipynb")
    solved_path = str(solved.relative_to(course))
    nbformat.write(filled_release(assignment), solved)

    if blank:
        ui.open_notebook(page, lab, blank_path)
    ui.open_notebook(page_b, lab_b, solved_path)
    if blank:
        ui.wait_notebook(page, blank_path, count)
        ui.run_all(page)
    ui.wait_notebook(page_b, solved_path, count)
    ui.run_all(page_b)
    if blank:
        _run_and_validate_blank(page, count, first)
    _solved_flow(page_b, solved, solved_path, count, figures, widgets)
    if not blank:
        return
    ui.click_validate(page_b)
    classes, text = ui.validation_result(page)
    assert "validation-failed" in classes.split(), f"Validate did not fail the blank: {text}"
    assert "The following cell failed" in text and "NotImplementedError" in text, text
    classes, text = ui.validation_result(page_b)
    assert "validation-success" in classes.split(), f"Validate did not pass the solution: {text}"
    assert "Success! Your notebook passes all the tests." in text, text


def _run_and_validate_blank(page, count: int, first: int) -> None:
    """Blank release: runs without error up to the first exercise, then Validate (whose
    result the caller reads, once the solved copy's Validate was pressed too)."""
    ui.wait_run_finished(page)
    shown = ui.cells(page)
    errors = _errors(shown, range(first))
    assert not errors, f"error output before the first exercise (cell {first}): {errors}"
    skipped = [i for i in range(first) if shown[i]["code"] and not ui.executed(shown[i])]
    assert not skipped, f"cells before the first exercise (cell {first}) did not run: {skipped}"
    # The run stopped where a blank answer is first tested, not before the exercise.
    stopped = _errors(shown, range(count))
    assert stopped, "the blank release ran without any error, though its answers are blank"
    at = min(stopped)
    assert at > first and "NotImplementedError" in stopped[at], (
        f"the blank release's first error (cell {at}) is not a blank answer's "
        f"NotImplementedError after the first exercise (cell {first}): {stopped[at]}"
    )
    ui.click_validate(page)


def _solved_flow(page_b, solved, solved_path: str, count: int, figures, widgets) -> None:
    """Solved copy: no error anywhere, figures are PNG images, widgets react to a slider,
    then a save."""
    ui.wait_run_finished(page_b)
    shown = ui.cells(page_b)
    errors = _errors(shown, range(count))
    assert not errors, f"the solved notebook shows errors: {errors}"
    skipped = [i for i, cell in enumerate(shown) if cell["code"] and not ui.executed(cell)]
    assert not skipped, f"code cells of the solved notebook that did not run: {skipped}"

    assert figures, "the solutions have no figure, so the figure check would be empty"
    missing = [
        i for i in figures if not any(img["png"] and img["width"] > 0 for img in shown[i]["images"])
    ]
    assert not missing, f"cells whose figure is not shown as a PNG image: {missing}"

    assert widgets, "the solutions have no widget, so the widget check would be empty"
    for index in widgets:
        _check_widget_reacts(page_b, index)

    ui.save(page_b)
    saved = nbformat.read(solved, as_version=4)
    ran = [c for c in saved.cells if c.cell_type == "code" and c.execution_count]
    assert ran, f"saving wrote no executed cells to {solved_path}"
