"""poolkit: checkers, plots and widgets for the pooling course. It holds no answer key.

Modules, one concept each:

- ``poolkit.shapes``: the pooling hyper-parameters' rules (``pool_args``, the one validation
  every module calls) and output sizes asked of torch (``pool2d_out_hw``).
- ``poolkit.checks``: the comparisons that the notebooks' tests use, with messages that teach.
- ``poolkit.rules``: each exercise's rules, read from ``rules.toml`` beside its notebook, and
  ``guard``, which runs a student's function under them in the notebook's test cells.
- ``poolkit.constructions``: ``network_size``, what a network of convolutions is made of.
- ``poolkit.digits`` and ``poolkit.nets``: UCI's handwritten digits on a canvas, and the small
  CNN that notebook 06 trains on them with five ways of downsampling.
- ``poolkit.viz``: plots and widgets for the notebooks.
- ``poolkit.feedback``: nbgrader preprocessors that keep hidden tests out of feedback.

The model answers (the NumPy reference, the closed-form costs, the constructions, the worked
example) are the answer key, package ``poolkey`` beside this one: instructors, hidden tests
and the test suite use it, and the student edition (``python3 course.py student-kit``) does
not contain it. Submodules are imported on demand so that ``import poolkit`` stays cheap.
"""

__all__ = ["checks", "constructions", "digits", "feedback", "nets", "rules", "shapes", "viz"]
