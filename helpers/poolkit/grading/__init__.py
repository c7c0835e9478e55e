"""Grading a whole class: parallel, limited, tamper-evident autograding with nbgrader.

``python -m poolkit.grading autograde <assignment> [--workers N] [--student GLOB]`` grades
every submission in ``grading/submitted/`` with stock nbgrader machinery (the same
gradebook, so ``nbgrader export``, the formgrader and ``generate_feedback`` keep working),
in parallel worker processes. Modules:

- ``autograde``: the command: workers, progress, the gradebook, the report.
- ``submission``: checks and repairs a submission before grading (invalid JSON, missing
  or misnamed notebook, edited cell metadata).
- ``execute``: nbgrader's Execute preprocessor, made to keep earned points when a kernel
  dies or hangs.
- ``zygote``: pre-warmed kernels forked from a process that imported the libraries.
- ``sandbox`` and ``limits``: what a student's code may not see or do while graded.
- ``recheck`` and ``exercises``: every auto-graded exercise re-checked in clean processes.
- ``kernel``: the grading kernelspec's command.
- ``report``: the class report, ``grading/reports/<assignment>.html``.
"""
