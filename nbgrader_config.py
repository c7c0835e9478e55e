"""nbgrader configuration for the pooling course. Run every nbgrader command from this folder."""

from pathlib import Path

from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

ROOT = Path(__file__).resolve().parent
GRADING = ROOT / "grading"
# sqlite cannot create a missing folder and nbgrader then blames the schema ("run nbgrader
# db upgrade"), so the gradebook's folder is made here, before any command opens it.
GRADING.mkdir(exist_ok=True)

c.CourseDirectory.course_id = "pooling-course"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
c.CourseDirectory.source_with_tests_directory = "grading/source_with_tests"
c.CourseDirectory.db_url = f"sqlite:///{GRADING / 'gradebook.db'}"
# recheck_calls.py (the clean re-check's random calls, beside each notebook's rules.toml)
# is instructor-only: it stays out of the release. rules.toml itself is released.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store", "recheck_calls.py",
]  # fmt: skip

# A student who deletes a test cell is still graded: the cell comes back from the gradebook.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell 0 when anything reaches stderr. A correct answer that makes a
# library print a warning ("...: UserWarning: ...") must keep its points, so warnings are dropped.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "

# Grading re-runs every cell; a single cell that hangs must not hold up a class.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Feedback goes to students: strip hidden tests from the sources and tracebacks from the
# outputs, and wrap long messages.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "poolkit.feedback.HideHiddenTests",
    "poolkit.feedback.HideTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "poolkit.feedback.WrapLongLines",  # after the header CSS, which it extends
]

# The release carries no run-time state of the executed solutions: no saved widget state
# (05's slider output states an answer), no execution timestamps. nbconvert's
# ClearMetadataPreprocessor runs last and keeps only what nbgrader and Jupyter need.
c.GenerateAssignment.preprocessors = [
    *GenerateAssignment.class_traits()["preprocessors"].default(),
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
]
c.ClearMetadataPreprocessor.enabled = True
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", "language_info"}
c.ClearMetadataPreprocessor.preserve_cell_metadata_mask = {"nbgrader", "editable", "deletable"}
