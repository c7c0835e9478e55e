"""nbgrader preprocessors for the feedback students receive.

Stock ``nbgrader generate_feedback`` renders the autograded notebook as it is, and
autograding puts the hidden tests back into the test cells. Students would then read the
hidden tests twice: in the cell source, and in the traceback of a failing test, which
quotes the failing line. ``nbgrader_config.py`` adds ``HideHiddenTests`` and
``HideTracebacks`` to ``GenerateFeedback.preprocessors``, after ``GetGrades`` so that scores
are read first, and ``WrapLongLines`` after nbconvert's ``CSSHTMLHeaderPreprocessor``, whose
CSS list it extends: the checks' messages are long, and the feedback page would otherwise
show them on one line that runs off the right edge.
"""

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade

HIDDEN_NOTE = "# (hidden tests ran here; their code is not part of the feedback)"


class HideHiddenTests(ClearHiddenTests):
    """Remove each ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region."""

    def preprocess_cell(self, cell, resources, cell_index):
        removed = self._remove_hidden_test_region(cell)
        if removed:
            cell.source = cell.source.rstrip() + "\n" + HIDDEN_NOTE
        return cell, resources


class HideTracebacks(NbGraderPreprocessor):
    """Keep only the error's type and message in test cells: the traceback quotes test code.

    The messages of the course's checks say which input was used, what was expected and
    what came back, so the student keeps everything that helps and loses only the code.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


# The feedback page's outputs are <pre> blocks inside div.output_subarea. Bootstrap's <pre>
# keeps long lines on one line, so a check's message ran off the right edge of the page;
# wide figures (04's grid of count maps is 1768 px) did the same.
WRAP_CSS = """
div.output_area pre, div.output_subarea pre {
    white-space: pre-wrap;
    overflow-wrap: anywhere;
    word-break: normal;
}
div.output_subarea img {
    max-width: 100%;
    height: auto;
}
"""


class WrapLongLines(NbGraderPreprocessor):
    """Add CSS that wraps long output lines and fits figures to the page.

    Runs after ``CSSHTMLHeaderPreprocessor``, which creates the page's list of CSS blocks.
    """

    def preprocess(self, nb, resources):
        resources.setdefault("inlining", {}).setdefault("css", []).append(WRAP_CSS)
        return nb, resources
