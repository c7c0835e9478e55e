"""poolkit: reference code, checkers and widgets for the pooling course.

Modules, one concept each:

- ``poolkit.shapes``: output-size rules and hyper-parameter validation.
- ``poolkit.reference``: NumPy reference pooling (forward, backward, gradient counts),
  agreeing with ``torch.nn.functional`` exactly.
- ``poolkit.checks``: the comparisons that the notebooks' tests use, with messages that teach.
- ``poolkit.constructions``: pooling built from convolutions and ReLUs; min and soft pooling.
- ``poolkit.cost``: operation counts (closed form and instrumented loops), faster algorithms.
- ``poolkit.worked_example``: the conv -> pool -> MSE example of notebook 05, in torch.
- ``poolkit.viz``: plots and widgets for the notebooks.
- ``poolkit.feedback``: nbgrader preprocessors that keep hidden tests out of feedback.

Submodules are imported on demand so that ``import poolkit`` stays cheap.
"""

__all__ = [
    "checks",
    "constructions",
    "cost",
    "feedback",
    "reference",
    "shapes",
    "viz",
    "worked_example",
]
