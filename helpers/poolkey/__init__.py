"""poolkey: the course's answer key, for instructors, hidden tests and the test suite.

Every piece of model-answer code lives here, out of the student package ``poolkit``:

- ``poolkey.shapes``: the output-size rule (notebook 01's ``pool_output_size``).
- ``poolkey.reference``: NumPy reference pooling, forward, backward and gradient counts,
  agreeing with ``torch.nn.functional`` exactly (01's ``pool2d``, 04's exercises).
- ``poolkey.constructions``: pooling built from convolutions and ReLUs, min and soft pooling
  (notebook 02's exercises).
- ``poolkey.cost``: operation counts in closed form, counting loops, the separable and
  summed-area-table algorithms (notebook 03's exercises).
- ``poolkey.worked_example``: conv -> pool -> MSE by torch autograd (notebook 05's).
- ``poolkey.invariance``: blur pooling, receptive fields and shift consistency (notebook
  06's exercises).

Release cells and visible tests never import it; the student edition built by
``python3 course.py student-kit`` leaves it out, and ``tests/test_student_kit.py`` proves
that no function in the edition answers a graded exercise.
"""

__all__ = ["constructions", "cost", "invariance", "reference", "shapes", "worked_example"]
