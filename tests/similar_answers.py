"""Answers to notebook 01's ``pool2d`` for the similarity tests: each is a body that goes
under the release's signature and docstring (``as_cell``).

- ``HONEST``: correct, written independently of the model answer (nested loops over named
  steps, a dict of reductions);
- ``COPIER``: correct, written another way again (list comprehensions, an if/elif chain);
- ``COPIED``: ``COPIER`` with every name changed, its spacing and line breaks changed, a
  comment added and its error message reworded, as a student who copies it would;
- ``model_renamed()``: the model answer with its names changed and re-spaced.
"""

from __future__ import annotations

import re

import nbformat
from nbgrader_course import REPO, is_answer, nb_meta, notebook_path, strip_markers

ASSIGNMENT = "01-pooling-basics"
CELL = "pool2d"

HONEST = """    A = np.array(X, dtype=float)
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    rows, cols = kernel_size
    if stride is None:
        stride = kernel_size
    elif isinstance(stride, int):
        stride = (stride, stride)
    step_r, step_c = stride
    reduce = {"max": np.max, "avg": np.mean}[mode]
    out_rows = 1 + (A.shape[0] - rows) // step_r
    out_cols = 1 + (A.shape[1] - cols) // step_c
    result = np.empty((out_rows, out_cols))
    for r in range(out_rows):
        top = r * step_r
        for c in range(out_cols):
            left = c * step_c
            result[r, c] = reduce(A[top:top + rows, left:left + cols])
    return result
"""

COPIER = """    grid = np.asarray(X, dtype=np.float64)
    kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    if stride is None:
        step = kernel
    else:
        step = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,) * 2
    if mode == "max":
        op = np.max
    elif mode == "avg":
        op = np.mean
    else:
        raise ValueError("mode must be max or avg")
    n_i = (grid.shape[0] - kernel[0]) // step[0] + 1
    n_j = (grid.shape[1] - kernel[1]) // step[1] + 1
    return np.array(
        [
            [op(grid[i * step[0]:i * step[0] + kernel[0], j * step[1]:j * step[1] + kernel[1]])
             for j in range(n_j)]
            for i in range(n_i)
        ]
    ).reshape(n_i, n_j)
"""

COPIED = """    M = np.asarray(X, dtype=np.float64)
    kk = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,)*2
    if stride is None:
        ss = kk
    else:
        ss = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,)*2
    # which reduction
    if mode == "max":
        f = np.max
    elif mode == "avg":
        f = np.mean
    else:
        raise ValueError("unknown mode")
    a = (M.shape[0] - kk[0]) // ss[0] + 1
    b = (M.shape[1] - kk[1]) // ss[1] + 1
    return np.array([[f(M[r*ss[0]:r*ss[0]+kk[0], c*ss[1]:c*ss[1]+kk[1]]) for c in range(b)]
                     for r in range(a)]).reshape(a, b)
"""

RENAMES = {"kh": "win_h", "kw": "win_w", "sh": "step_h", "sw": "step_w", "H": "rows",
           "W": "cols", "Y": "out", "window": "patch", "i": "row", "j": "col"}  # fmt: skip


def _cell(step: str, grade_id: str = CELL) -> str:
    nb = nbformat.read(notebook_path(REPO, step, ASSIGNMENT), as_version=4)
    return next(c.source for c in nb.cells if is_answer(c) and nb_meta(c)["grade_id"] == grade_id)


def skeleton(grade_id: str = CELL) -> str:
    """The released answer cell: signature, docstring, ``raise NotImplementedError()``."""
    return _cell("notebooks", grade_id)


def model(grade_id: str = CELL) -> str:
    """The model answer as a student would have it (no nbgrader markers)."""
    return strip_markers(_cell("solutions", grade_id))


def as_cell(body: str) -> str:
    """``body`` under the release's signature and docstring."""
    release = skeleton()
    return release[: release.index("    # YOUR CODE HERE")] + body


def model_renamed() -> str:
    """The model answer with its local names changed and its spacing changed."""
    source = model()
    end = source.index('    """\n', source.index('"""') + 3) + len('    """\n')
    body = source[end:]
    for old, new in RENAMES.items():
        body = re.sub(rf"\b{old}\b", new, body)
    body = body.replace(" : ", ":").replace(" * ", "*").replace(" + ", "+")
    return source[:end] + body
