"""nbgrader's Execute preprocessor, made to keep the points a submission earned.

Stock nbgrader gives up on a whole submission when its kernel dies (``os._exit``, a
resource limit) or does not stop after a timeout (a loop that swallows
``KeyboardInterrupt``): it deletes the student's autograded folder and the student gets
no feedback. :class:`SafeExecute` instead

- stops at the cell where it happened, and adds an error output there that says why;
- kills the kernel, and runs nothing more;
- marks every later test cell "not run" with an error output, so nbgrader scores it 0
  (a test cell without an error output would count as passed).

Scores of the cells before the stop are kept. A kernel that was SIGKILLed, which the
grader did not do (the zygote died, the OOM killer, an operator), is also recorded in
:attr:`SafeExecute.killed`, so that the grading command can grade that student again.
(A cell's printed output is capped in the kernel itself: ``poolgrader.limits.cap_output``.)
"""

from __future__ import annotations

import signal

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution

from .limits import Limits, describe_signal

__all__ = ["SafeExecute", "STOP_ENAME", "NOT_RUN_ENAME"]

STOP_ENAME = "GradingStopped"
NOT_RUN_ENAME = "NotRun"


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SafeExecute(Execute):
    limits = Limits()
    # Why each kernel that was SIGKILLed from outside died, since the grading command last
    # cleared the list (one process grades one student at a time).
    killed: list[str] = []

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None
        self.shutdown_kernel = "immediate"  # the notebook is done: no need to wait 1 s
        try:
            return super().preprocess(nb, resources, km)
        except Exception:
            # Killed while starting (nbclient has dropped its kernel manager by now).
            from .zygote import last_kernel

            process = last_kernel()
            if process is not None and process.poll() == -signal.SIGKILL:
                SafeExecute.killed.append("the grading kernel was killed while it started")
            raise

    def on_comm_open_jupyter_widget(self, msg):
        """No frontend emulation of ipywidgets' ``Output`` widget (nbclient makes one).

        nbclient's emulation answers the kernel with comm messages on the shell channel
        while the cell still runs, and sometimes the cell's reply is then not seen until
        the cell timeout (jupyter/nbclient#312, open): measured by
        ``benchmarks/widget_stall.py`` (12 of 160 runs with it, 4 of 160 without). The
        course's own widgets need no emulation (they set what their Output widget shows
        as state: ``poolkit.viz.show``); a student's widget that captures with ``with
        out:`` draws into its cell's outputs instead. Nothing is graded on a widget.
        (A method, not an emptied ``widget_registry``: nbconvert's ``preprocess`` runs
        ``__init__`` again.)
        """
        return None

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
        code = self._exit_code()
        why = describe_signal(code, self.limits)
        if code == -signal.SIGKILL:
            SafeExecute.killed.append(f"{where}, {why}")
        return f"{where}, {why}; the cells after it were not run"

    def _exit_code(self) -> int | None:
        process = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
        return process.poll() if process is not None else None

    def _kill(self) -> None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            try:
                process.kill()
            except OSError:
                pass
