"""nbgrader's Execute preprocessor, made to keep the points a submission earned.

Stock nbgrader gives up on a whole submission when its kernel dies (``os._exit``, a
resource limit) or does not stop after a timeout (a loop that swallows
``KeyboardInterrupt``): it deletes the student's autograded folder and the student gets
no feedback. :class:`SafeExecute` instead

- stops at the cell where it happened, and adds an error output there that says why;
- kills the kernel, and runs nothing more;
- marks every later test cell "not run" with an error output, so nbgrader scores it 0
  (a test cell without an error output would count as passed);
- caps the output one cell may produce (printing a million lines costs the grader
  nothing but the cap).

Scores of the cells before the stop are kept. The reason is also returned to the grading
command through ``resources["poolkit_stop"]``, which writes it into the feedback.
"""

from __future__ import annotations

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Integer

from .limits import Limits, describe_signal

__all__ = ["SafeExecute", "STOP_ENAME", "NOT_RUN_ENAME"]

STOP_ENAME = "GradingStopped"
NOT_RUN_ENAME = "NotRun"


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SafeExecute(Execute):
    max_output_chars = Integer(
        200_000, help="Text one cell may print; the rest is dropped with a note."
    ).tag(config=True)

    limits = Limits()

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None
        self._printed: dict[int, int] = {}
        self.shutdown_kernel = "immediate"  # the notebook is done: no need to wait 1 s
        nb, resources = super().preprocess(nb, resources, km)
        if self._stopped and resources is not None:
            resources["poolkit_stop"] = self._stopped
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if self._stopped:
            if cell.cell_type == "code":
                cell.outputs = []
                if is_grade(cell) or is_solution(cell):
                    cell.outputs.append(error_output(NOT_RUN_ENAME, f"not run: {self._stopped}"))
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as exc:
            self._stopped = self._why(exc, cell, index)
            cell.outputs.append(error_output(STOP_ENAME, self._stopped))
            self._kill()
            return cell, resources

    def _why(self, exc: Exception, cell, index: int) -> str:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = f"in cell {index + 1}" + (f" ({grade_id!r})" if grade_id else "")
        if isinstance(exc, CellTimeoutError):
            return (
                f"{where}, the code ran longer than {self.timeout} s and did not stop when "
                "interrupted, so the kernel was stopped and the cells after it were not run"
            )
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        return f"{where}, {describe_signal(code, self.limits)}; the cells after it were not run"

    def _kill(self) -> None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            try:
                process.kill()
            except OSError:
                pass

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            printed = self._printed.get(cell_index, 0)
            self._printed[cell_index] = printed + len(msg["content"].get("text", ""))
            if printed >= self.max_output_chars:
                return None
            if self._printed[cell_index] >= self.max_output_chars:
                msg["content"]["text"] = (
                    msg["content"]["text"][: self.max_output_chars - printed]
                    + f"\n[output stopped here: more than {self.max_output_chars} characters]\n"
                )
        return super().output(outs, msg, display_id, cell_index)
