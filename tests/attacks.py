"""An attack corpus: submissions that try to get points they did not earn, or to break grading.

Each is built from an assignment's release (and, where an attack needs a working answer
next to it, from the model answers). ``attacks(assignment)`` returns
``name -> Attack``; every attack must score no more than the blank release, and its
feedback must contain ``reason`` (a regular expression): the student is told why.
``class_share(assignment)`` is the part of it that one assignment's attack class grades:
every attack aimed at the notebook's own tests and rules and, in MACHINERY_CLASS only, the
attacks on the grader's machinery (MACHINERY_ATTACKS), which behaves the same for every
notebook.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import algorithm_answers
import nbformat
from nbgrader_course import (
    REPO,
    filled_release,
    is_answer,
    is_test,
    nb_meta,
    notebook_path,
)

# Appended to an answer cell: replace every comparison that numpy and torch offer.
PATCH_COMPARISONS = """
import numpy as _np, torch as _torch
_yes = lambda *a, **k: True
_none = lambda *a, **k: None
_np.allclose = _np.array_equal = _np.array_equiv = _yes
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.broadcast(a, b).shape, dtype=bool)
for _name in dir(_np.testing):
    if _name.startswith("assert"):
        setattr(_np.testing, _name, _none)
_torch.allclose = _torch.equal = _yes
_torch.testing.assert_close = _none
"""

# Appended to an answer cell: switch off the course's own checkers and guards.
PATCH_CHECKERS = """
import poolkit.checks as _checks, poolkit.rules as _rules
_checks.check_array = _checks.check_int = lambda *a, **k: None
_rules.guard = lambda f, *a, **k: f
# ... and the names the notebook already imported
globals().update(check_array=_checks.check_array, check_int=_checks.check_int, guard=_rules.guard)
"""

LIAR = """
class _Liar:
    shape = dtype = None
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *a, **k): raise TypeError("no")
    def __float__(self): return 0.0
"""

READ_SECRETS = """
import glob as _glob, json as _json, os as _os
_found = []
# Where the course root can be: next to the submission; the shell's working folder, which
# the environment may name (PWD); and through /proc, where every process outside the
# sandbox (the grader, the shell that started it) shows its working folder and root.
_roots = ["../../..", "../.."] + [_os.environ[k] for k in ("PWD", "OLDPWD") if k in _os.environ]
_roots += _glob.glob("/proc/[0-9]*/cwd") + [p + r for p in _glob.glob("/proc/[0-9]*/root")
                                          for r in _roots[2:]]
for _root in _roots:
    for _path in [f"{_root}/solutions/{a}/{a}.ipynb", f"{_root}/grading/gradebook.db"]:
        try:
            with open(_path, "rb") as _f:
                _found.append((_path, _f.read()))
        except OSError as _e:
            pass
# The same through native code, which Python's audit hook does not see.
import torch as _torch
for _root in _roots:
    _path = f"{_root}/solutions/{a}/{a}.ipynb"
    try:
        _size = _os.stat(_path).st_size
        _data = _torch.from_file(_path, size=_size, dtype=_torch.uint8).numpy().tobytes()
        _found.append((_path, _data))
    except Exception as _e:
        pass
print("tried", len(_roots), "places; read", [(_p, len(_d)) for _p, _d in _found])
import builtins as _builtins
_builtins._STOLEN = {}  # grade id -> model answer; each answer cell runs its own
for _p, _data in _found:
    if _p.endswith(".ipynb"):
        for _cell in _json.loads(_data)["cells"]:
            if "BEGIN SOLUTION" in "".join(_cell["source"]):
                _builtins._STOLEN[_cell["metadata"]["nbgrader"]["grade_id"]] = "".join(
                    _cell["source"])
"""

# Each answer cell of the read-secrets attack: the stolen model answer, else the blank one.
RUN_STOLEN = "exec(_STOLEN[{gid!r}]) if {gid!r} in _STOLEN else exec({blank!r})\n"

WRITE_ELSEWHERE = """
import os as _os, poolkit.checks as _checks
for _path in (_checks.__file__, "../../../helpers/poolkit/checks.py",
              "../../autograded/correct/{a}/{a}.ipynb",
              "../../../grading/submitted/correct/{a}/{a}.ipynb",
              "../../submitted/correct/{a}/{a}.ipynb"):
    try:
        with open(_path, "a") as _f:
            _f.write("\\ncheck_array = lambda *a, **k: None\\n")
        print("wrote", _path)
    except OSError as _e:
        print("could not write", _path, type(_e).__name__, _e)
"""

ATTACK_CODE = {
    "os-exit": ("import os\nos._exit(3)\n", r"kernel exited with code 3"),
    "sys-exit": ("import sys\nsys.exit(0)\n", r"SystemExit"),
    "swallow-interrupt": (
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
        "    except KeyboardInterrupt:\n        pass\n",
        r"did not stop when interrupted",
    ),
    # Gigabyte blocks that are never written: the limit is on address space, so the bomb
    # ends at once. (A bytearray is zero-filled: touching 1 GiB page by page took more
    # than the tests' cell timeout, then 5 s, on a loaded machine, which turned MemoryError
    # into a timeout.)
    "memory-bomb": (
        "import numpy\n_hoard = []\nwhile True:\n    _hoard.append(numpy.empty(2**27))\n",
        r"MemoryError",
    ),
    "fork-bomb": ("import os\nwhile True:\n    os.fork()\n", r"not allowed while grading"),
    # 10**5 lines are about 590,000 characters, three times the kernel's 200,000-character
    # cap; 10**6 lines took longer than the tests' cell timeout, then 5 s, on a loaded
    # machine, and a timed-out cell's feedback shows the timeout instead of the cap.
    "print-flood": ("for _i in range(10**5):\n    print(_i)\n", r"Output truncated|output stopped"),
}

# One library call in place of the first exercise of each notebook.
CHEATS = {
    "01-pooling-basics": (
        "pool2d",
        """
import torch, torch.nn.functional as F
def pool2d(X, kernel_size, stride=None, mode="max"):
    t = torch.as_tensor(np.asarray(X, dtype=np.float64))[None, None]
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    return pool(t, kernel_size, stride)[0, 0].numpy()
""",
    ),
    "02-pooling-as-convolution": (
        "avg_pool_as_conv",
        """
import torch.nn.functional as F
def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    return F.avg_pool2d(x, kernel_size, stride, padding)
""",
    ),
    "03-compute-cost": (
        "pool2d_cost",
        """
def pool2d_cost(*args, **kwargs):
    from poolkey import cost
    return cost.pool2d_cost(*args, **kwargs)
""",
    ),
    "04-backprop": (
        "gradient_counts",
        """
def gradient_counts(x, kernel_size, stride=None, mode="max"):
    from poolkey import reference
    return reference.gradient_counts(np.asarray(x)[None], kernel_size, stride, mode=mode)[0]
""",
    ),
    "05-conv-pool-mse-sgd": (
        "forward",
        """
def forward(x, kernel, target, pool="avg"):
    from poolkey.worked_example import conv_pool_mse
    r = conv_pool_mse(x, kernel, target, pool)
    return r.sigma, r.S, r.loss
""",
    ),
    "06-pooling-in-a-trained-network": (
        "blur_pool2d",
        """
def blur_pool2d(x, stride=2):
    from poolkey.invariance import blur_pool2d as answer
    return answer(x, stride)
""",
    ),
}


@dataclass
class Attack:
    kind: str  # "nb": write notebook; "raw": write text; "missing"; "misnamed"
    payload: object
    reason: str  # a regular expression the feedback (or the report's notes) must contain


def release(assignment: str):
    return nbformat.read(notebook_path(REPO, "notebooks", assignment), as_version=4)


def _answers(nb):
    return [c for c in nb.cells if is_answer(c) and c.cell_type == "code"]


def _wrong_everywhere(assignment: str):
    """Every answer defines its function but returns 0: wrong, and no exception."""
    nb = filled_release(assignment)
    for cell in _answers(nb):
        head, _, _ = cell.source.partition('    """')
        doc = cell.source[len(head) :]
        end = doc.find('"""', 7)
        cell.source = (
            head + doc[: end + 3] + "\n    return 0\n" if end > 0 else head + "    return 0\n"
        )
    return nb


PERTURB = """
def _perturb(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_perturb(v) for v in value)
    if isinstance(value, dict):
        return {k: _perturb(v) for k, v in value.items()}
    if isinstance(value, bool) or not hasattr(value, "__add__") or isinstance(value, str):
        return value
    return value + 1
"""


def _off_by_one(assignment: str):
    """Every answer returns the model answer's result plus one: right shapes, wrong values."""
    nb = filled_release(assignment)
    for cell in _answers(nb):
        defs = [ln for ln in cell.source.splitlines() if ln.startswith("def ")]
        name = defs[0].split("(")[0][4:]
        call = f"_model_{name}(*args, **kwargs)"
        wrapper = f"def {name}(*args, **kwargs):\n    return _perturb({call})"
        model = cell.source.replace(f"def {name}(", f"def _model_{name}(", 1)
        cell.source = f"{model}\n{PERTURB}\n\n{wrapper}\n"
    return nb


def _recorded_visible(assignment: str) -> tuple[str, str]:
    """(answer grade_id, source) that answers exactly the first exercise's visible tests.

    The release's test cells hold only the visible tests. A helper process runs the
    release up to the first test cell with the model answers, records every call of the
    answer cell just before it (an earlier ungraded answer, such as 03's output_size, is
    only a helper), and that answer becomes a lookup table of those calls.
    """
    script = textwrap.dedent(
        """
        import base64, json, pickle, sys, matplotlib
        matplotlib.use("Agg")
        import nbformat
        sys.path.insert(0, sys.argv[2])
        from nbgrader_course import filled_release, is_answer, is_test
        nb = filled_release(sys.argv[1])
        ns = {"__name__": "__main__"}
        tables, name = {}, None
        def recording(name, real, table):
            def recorder(*args, **kwargs):
                result = real(*args, **kwargs)
                table[pickle.dumps((args, sorted(kwargs.items())))] = result
                return result
            return recorder
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            src = "\\n".join(l for l in cell.source.splitlines() if not l.startswith(("%", "!")))
            exec(compile(src, "<cell>", "exec"), ns)
            if is_answer(cell):  # the first test cell tests the answer cell just before it
                defs = [l for l in cell.source.splitlines() if l.startswith("def ")]
                name = defs[0].split("(")[0][4:]
                ns[name] = recording(name, ns[name], tables.setdefault(name, {}))
                grade_id = cell.metadata["nbgrader"]["grade_id"]
            if is_test(cell):
                break
        table = tables[name]
        print(json.dumps([grade_id, name, base64.b64encode(pickle.dumps(table)).decode()]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, assignment, str(REPO / "tests")],
        capture_output=True, text=True, check=True, cwd=REPO / "notebooks" / assignment,
    )  # fmt: skip
    grade_id, name, table = json.loads(out.stdout.strip().splitlines()[-1])
    source = (
        "import base64 as _b64, pickle as _pickle\n"
        f"_TABLE = _pickle.loads(_b64.b64decode({table!r}))\n"
        f"def {name}(*args, **kwargs):\n"
        "    return _TABLE[_pickle.dumps((args, sorted(kwargs.items())))]\n"
    )
    return grade_id, source


def attacks(assignment: str) -> dict[str, Attack]:
    blank = release(assignment)
    out: dict[str, Attack] = {}

    def with_first_answer(code: str, base=None):
        nb = copy.deepcopy(base or blank)
        first = _answers(nb)[0]
        first.source = code + "\n" + first.source
        return nb

    wrong = _wrong_everywhere(assignment)
    out["patch-comparisons"] = Attack(
        "nb", with_first_answer(PATCH_COMPARISONS, wrong), r"AssertionError|clean re-check"
    )
    out["patch-checkers"] = Attack(
        "nb", with_first_answer(PATCH_CHECKERS, _off_by_one(assignment)), r"clean re-check failed"
    )
    liar = copy.deepcopy(blank)
    for cell in _answers(liar):
        head, _, _ = cell.source.partition('    """')
        cell.source = LIAR + head + "    return _Liar()\n"
    out["eq-always-true"] = Attack("nb", liar, r"AssertionError")
    grade_id, cheat = CHEATS[assignment]
    cheated = copy.deepcopy(blank)
    for cell in _answers(cheated):
        if nb_meta(cell)["grade_id"] == grade_id:
            cell.source = cheat
    out["calls-the-library"] = Attack("nb", cheated, r"ForbiddenCallError|switched off|not allowed")
    grade_id, table = _recorded_visible(assignment)
    hard = copy.deepcopy(blank)
    for cell in _answers(hard):
        if nb_meta(cell)["grade_id"] == grade_id:
            cell.source = table
    out["hard-coded-visible"] = Attack("nb", hard, r"AssertionError|KeyError")
    for name, (code, reason) in ATTACK_CODE.items():
        out[name] = Attack("nb", with_first_answer(code.replace("{a}", assignment)), reason)
    stealer = copy.deepcopy(blank)
    for index, cell in enumerate(_answers(stealer)):
        run = RUN_STOLEN.format(gid=nb_meta(cell)["grade_id"], blank=cell.source)
        cell.source = (READ_SECRETS.replace("{a}", assignment) if index == 0 else "") + run
    out["read-secrets"] = Attack("nb", stealer, r"NotImplementedError")
    out["writes-elsewhere"] = Attack(
        "nb", with_first_answer(WRITE_ELSEWHERE.format(a=assignment)),
        r"could not write .*(Read-only|not allowed|No such file)",
    )  # fmt: skip
    edited = copy.deepcopy(blank)
    for cell in edited.cells:
        if is_test(cell):
            cell.source = 'print("All tests passed.")'
    out["edited-tests"] = Attack("nb", edited, r"NotImplementedError")
    deleted = copy.deepcopy(blank)
    deleted.cells = [c for c in deleted.cells if not is_test(c)]
    out["deleted-tests"] = Attack("nb", deleted, r"NotImplementedError")
    meta = copy.deepcopy(blank)
    tests = [c for c in meta.cells if is_test(c)]
    tests[0].metadata["nbgrader"]["points"] = 100
    tests[-1].metadata["nbgrader"]["grade"] = False
    answer = _answers(meta)[0]
    answer.metadata["nbgrader"].update(grade=True, points=50)
    extra = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 99,
        "grade_id": "free_points", "schema_version": 3}})  # fmt: skip
    meta.cells.append(extra)
    out["changed-metadata"] = Attack("nb", meta, r"grading metadata changed")
    out["invalid-json"] = Attack("raw", '{"cells": [', r"could not be read as a notebook")
    out["not-a-notebook"] = Attack("raw", json.dumps({"hello": 1}), r"could not be read")
    out["missing-notebook"] = Attack("missing", None, r"no notebook named")
    out["misnamed-notebook"] = Attack("misnamed", filled_release(assignment), r"found: ")
    return out


# Attacks on the grader's machinery (a dead or hanging kernel, the sandbox's limits and its
# walls around the instructor's files, the output cap, nbgrader's restoring of tests and
# metadata, files that are not notebooks, comparisons patched in the kernel, which the clean
# re-check does outside it: "patch-checkers", graded in every class, shows that each
# notebook's re-check covers its exercises): what stops them does not depend on the notebook,
# so each is graded once, in MACHINERY_CLASS, not in six classes. That class is the
# notebook that is cheapest to grade, since every attack re-executes it: a submission of 02
# took 4-7 s in its class, one of 06 15-25 s (the classes' reports, 2026-12-01).
MACHINERY_ATTACKS = (
    "os-exit", "sys-exit", "swallow-interrupt", "memory-bomb", "fork-bomb", "print-flood",
    "writes-elsewhere", "read-secrets", "patch-comparisons", "edited-tests", "deleted-tests",
    "changed-metadata", "invalid-json", "not-a-notebook", "missing-notebook",
    "misnamed-notebook",
)  # fmt: skip
MACHINERY_CLASS = "02-pooling-as-convolution"


def machinery_share(assignment: str) -> set[str]:
    """The attacks on the machinery that ``assignment``'s class grades."""
    return set(MACHINERY_ATTACKS) if assignment == MACHINERY_CLASS else set()


def class_share(assignment: str, corpus: dict[str, Attack] | None = None) -> dict[str, Attack]:
    """The attacks that ``assignment``'s attack class grades: every attack on the
    notebook's own tests and rules, and its share of the attacks on the machinery.
    ``corpus``: ``attacks(assignment)``, if already built (building it takes seconds)."""
    mine = machinery_share(assignment)
    return {
        name: attack
        for name, attack in (corpus if corpus is not None else attacks(assignment)).items()
        if name not in MACHINERY_ATTACKS or name in mine
    }


def write_submission(root, student: str, assignment: str, attack: Attack) -> None:
    folder = root / "grading" / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    if attack.kind == "nb":
        nbformat.write(attack.payload, path)
    elif attack.kind == "raw":
        path.write_text(attack.payload)
    elif attack.kind == "misnamed":
        nbformat.write(attack.payload, folder / f"{assignment} (1).ipynb")


# --- rule bypasses (issue 18, part 2), each paired with a legitimate answer -------------
#
# A bypass replaces one answer cell of the model answers: it computes the right values by
# a way its exercise's rules (rules.toml) forbid, and must score 0 on that exercise while
# every other exercise keeps full marks. Each is paired with a legitimate answer to the
# same exercise written another way (LEGIT), which must score full marks.


@dataclass
class Bypass:
    bypass_class: str  # the letter and name
    answer: str  # grade_id of the answer cell replaced
    tests: str  # grade_ids of the test cells that must score 0 (backward calls forward)
    source: str


POP_MODE = """
import numpy as np
import torch
import torch.nn.functional as F


def _unguarded(f, *args):
    popped = []  # pop every dispatch mode off torch's stack (the in-kernel guard is one)
    while torch._C._len_torch_dispatch_stack():
        popped.append(torch._C._pop_torch_dispatch_stack(None))  # torch 2.13: one argument
    try:
        return f(*args)
    finally:
        for mode in reversed(popped):
            torch._C._push_on_torch_dispatch_stack(mode)
"""

LOOP_WINDOWS = """
import numpy as np


def max_pool2d_backward_indices(dy, indices, x_shape):
    dy = np.asarray(dy, dtype=np.float64)
    dx = np.zeros(tuple(x_shape))
    width = x_shape[3]
    for (n, c, i, j), g in np.ndenumerate(dy):
        r, q = divmod(int(indices[n, c, i, j]), width)
        dx[n, c, r, q] += g
    return dx
"""

LOOP_IN_A_THREAD = (
    LOOP_WINDOWS.replace("def max_pool2d_backward_indices(", "def _loop(")
    + """

import threading


def max_pool2d_backward_indices(dy, indices, x_shape):
    out = []
    worker = threading.Thread(target=lambda: out.append(_loop(dy, indices, x_shape)))
    worker.start()
    worker.join()
    return out[0]
"""
)

BYPASSES = {
    "01-pooling-basics": {
        "a-pop-dispatch-mode": Bypass("(a) torch pooling after popping the guard's mode",
            "pool2d", "test_pool2d", POP_MODE + '''
def pool2d(X, kernel_size, stride=None, mode="max"):
    t = torch.as_tensor(np.asarray(X, dtype=np.float64))[None, None]
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    return _unguarded(pool, t, kernel_size, stride)[0, 0].numpy()
'''),
        "b-private-helper": Bypass("(b) poolkey / poolkit private helpers",
            "pool_output_size", "test_pool_output_size", '''
def pool_output_size(size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    try:
        from poolkey.shapes import pool_output_size as answer
        return answer(size, kernel_size, stride, padding, dilation, ceil_mode)
    except ImportError:
        from poolkit.shapes import _output_size  # outside __all__: not switched off
        step = kernel_size if stride is None else stride
        return _output_size(size, kernel_size, step, padding, dilation, ceil_mode)
'''),
        "c-top-of-cell": Bypass("(c) code at the top of an answer cell",
            "pool2d", "test_pool2d", '''
import numpy as np
import torch
import torch.nn.functional as F
import torch.utils._python_dispatch as _dispatch

# Runs when the cell runs, outside any guard: dispatch modes stop doing anything.
_dispatch.TorchDispatchMode.__enter__ = lambda self: self
_dispatch.TorchDispatchMode.__exit__ = lambda self, *exc: None


def pool2d(X, kernel_size, stride=None, mode="max"):
    t = torch.as_tensor(np.asarray(X, dtype=np.float64))[None, None]
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    return pool(t, kernel_size, stride)[0, 0].numpy()
'''),
    },
    "02-pooling-as-convolution": {
        "a-pop-dispatch-mode": Bypass("(a) torch pooling after popping the guard's mode",
            "avg_pool_as_conv", "test_avg_pool_as_conv", POP_MODE + '''
def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    return _unguarded(F.avg_pool2d, x, kernel_size, stride, padding)
'''),
        "d-forward-hook": Bypass("(d) returned network: forward hook calls F.max_pool2d",
            "max_pool2x2_net", "test_max_pool2x2_net", '''
import torch.nn.functional as F
from torch import nn


def max_pool2x2_net(channels):
    net = nn.Sequential(nn.Conv2d(channels, channels, 1, groups=channels, bias=False))
    nn.init.ones_(net[0].weight)
    net.requires_grad_(False)
    net.register_forward_hook(lambda module, inputs, output: F.max_pool2d(output, 2))
    return net
'''),
        "d-instance-forward": Bypass("(d) returned network: instance forward on nn.ReLU",
            "max_pool2x2_net", "test_max_pool2x2_net", '''
import torch.nn.functional as F
from torch import nn


def max_pool2x2_net(channels):
    relu = nn.ReLU()
    relu.forward = lambda x: F.max_pool2d(x, 2)  # an allowed module, another forward
    return nn.Sequential(relu).requires_grad_(False)
'''),
        "a-python-decomposition": Bypass(
            "(a)/(d) torch's Python decomposition of max pooling, in a forward hook",
            "max_pool2x2_net", "test_max_pool2x2_net", '''
from torch import nn
from torch._decomp.decompositions import max_pool2d_with_indices


def max_pool2x2_net(channels):
    net = nn.Sequential(nn.ReLU())  # relu(x) + x - relu(x): only to carry the hook
    net.register_forward_hook(
        lambda module, inputs, output: max_pool2d_with_indices(inputs[0], [2, 2], [2, 2])[0]
    )
    return net.requires_grad_(False)
'''),
        "f-unfold": Bypass("(f) F.unfold where the rule is F.conv2d only",
            "avg_pool_as_conv", "test_avg_pool_as_conv", '''
import torch.nn.functional as F


def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    stride = (kh, kw) if stride is None else stride
    n, c, h, w = x.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C*kh*kw, L)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return cols.view(n, c, kh * kw, -1).mean(dim=2).view(n, c, oh, ow)
'''),
    },
    "03-compute-cost": {
        "bc-copied-answer-key": Bypass("(b)+(c) answer key copied at the top of the cell",
            "pool2d_cost", "test_pool2d_cost", '''
import types

try:
    from poolkey import cost as _key
except ImportError:
    from poolkit import cost as _key
# A copy made when the cell runs keeps the original code: the guard swaps the original's.
_f = _key.pool2d_cost
_copy = types.FunctionType(_f.__code__, _f.__globals__, "copy", _f.__defaults__)


def pool2d_cost(channels, height, width, kernel_size, stride=None, padding=0, mode="max",
                ceil_mode=False, count_include_pad=True):
    return _copy(channels, height, width, kernel_size, stride, padding, mode, ceil_mode,
                 count_include_pad)
'''),
    },
    "04-backprop": {
        # Exercise 6's rule (vectorised) is a budget of lines of Python per call: a loop
        # over the windows computes the right values and scores 0 (the kernel's guard and
        # the clean re-check both count). In another thread the kernel's count does not see
        # it, and the visible test passes; the clean re-check sees the other thread's CPU.
        "g-loop-over-windows": Bypass("(g) a Python loop over windows in a vectorised exercise",
            "max_pool2d_backward_indices", "test_max_pool2d_backward_indices", LOOP_WINDOWS),
        "g-loop-in-a-thread": Bypass("(g) the loop over windows in another thread",
            "max_pool2d_backward_indices", "test_max_pool2d_backward_indices",
            LOOP_IN_A_THREAD),
        "e-run-backward": Bypass("(e) autograd through Variable._execution_engine.run_backward",
            "avg_pool2d_backward", "test_avg_pool2d_backward", '''
import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd import Variable


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None):
    k = kernel_size
    s = k if stride is None else stride
    x = torch.zeros(tuple(x_shape), dtype=torch.float64, requires_grad=True)
    c = x_shape[1]
    w = torch.full((c, 1, k, k), 1.0 / (k * k), dtype=torch.float64)
    y = F.conv2d(x, w, stride=s, groups=c)  # average pooling as a convolution
    g = torch.as_tensor(np.asarray(dy, dtype=np.float64))
    (dx,) = Variable._execution_engine.run_backward((y,), (g,), False, False, (x,), True, False)
    return dx.numpy()
'''),
        "f-conv-transpose": Bypass("(f) F.conv_transpose2d in a NumPy-only exercise",
            "avg_pool2d_backward", "test_avg_pool2d_backward", '''
import numpy as np
import torch
import torch.nn.functional as F


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None):
    k = kernel_size
    s = k if stride is None else stride
    g = torch.as_tensor(np.asarray(dy, dtype=np.float64))
    c = g.shape[1]
    w = torch.full((c, 1, k, k), 1.0 / (k * k), dtype=torch.float64)
    spread = F.conv_transpose2d(g, w, stride=s, groups=c).numpy()
    dx = np.zeros(tuple(x_shape))
    dx[..., : spread.shape[-2], : spread.shape[-1]] = spread
    return dx
'''),
        "f-fold-unfold": Bypass("(f) F.unfold / F.fold in a NumPy-only exercise",
            "avg_counts_1d", "test_avg_counts_1d", '''
import numpy as np
import torch
import torch.nn.functional as F


def avg_counts_1d(n, kernel_size, stride=None):
    s = kernel_size if stride is None else stride
    ones = torch.ones(1, 1, 1, n, dtype=torch.float64)
    cols = F.unfold(ones, (1, kernel_size), stride=(1, s))
    back = F.fold(cols, (1, n), (1, kernel_size), stride=(1, s))
    return back.reshape(n).round().numpy().astype(np.int64)
'''),
    },
    "05-conv-pool-mse-sgd": {
        "f-conv2d": Bypass("(f) F.conv2d in a NumPy-only exercise",
            "forward", "test_forward test_backward", '''
import numpy as np
import torch
import torch.nn.functional as F


def forward(x, kernel, target, pool="avg"):
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float64))[None, None]
    sigma = F.conv2d(t, k)[0, 0].numpy()
    S = float(sigma.mean() if pool == "avg" else sigma.max())
    return sigma, S, (S - float(target)) ** 2
'''),
        "e-run-backward": Bypass("(e) autograd through Variable._execution_engine.run_backward",
            "backward", "test_backward", '''
import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd import Variable


def backward(x, kernel, target, pool="avg"):
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]
    k = torch.tensor(np.asarray(kernel, dtype=np.float64)[None, None], requires_grad=True)
    sigma = F.conv2d(t, k)
    S = sigma.mean() if pool == "avg" else sigma.flatten()[sigma.flatten().argmax()]
    loss = (S - float(target)) ** 2
    one = torch.ones((), dtype=torch.float64)
    dS, dsigma, dK = Variable._execution_engine.run_backward(
        (loss,), (one,), False, False, (S, sigma, k), True, False
    )
    return float(dS), dsigma[0, 0].numpy(), dK[0, 0].numpy()
'''),
    },
    "06-pooling-in-a-trained-network": {
        "a-pop-dispatch-mode": Bypass("(a) torch pooling after popping the guard's mode",
            "blur_pool2d", "test_blur_pool2d", POP_MODE + '''
def blur_pool2d(x, stride=2):
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    once = _unguarded(F.avg_pool2d, padded, 2, 1)
    return _unguarded(F.avg_pool2d, once, 2, 1)[..., ::stride, ::stride]
'''),
        "f-autograd-field": Bypass("(f) torch autograd in a NumPy-only exercise",
            "receptive_field", "test_receptive_field", '''
import torch
import torch.nn.functional as F


def receptive_field(layers):
    out = []
    for depth in range(1, len(layers) + 1):
        x = torch.ones(1, 1, 4000, dtype=torch.float64, requires_grad=True)
        h = x
        for k, s, d in layers[:depth]:
            h = F.conv1d(h, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
        first = []
        for j in (0, 1):
            (g,) = torch.autograd.grad(h[0, 0, j], x, retain_graph=True)
            hit = torch.nonzero(g[0, 0]).flatten()
            first.append((int(hit[0]), int(hit[-1])))
        out.append((first[0][1] - first[0][0] + 1, first[1][0] - first[0][0]))
    return out
'''),
        # found by the attack review of 06: torch imported through importlib's pure-Python
        # __import__ (no "import" audit event) and torch._C loaded under another name
        "g-torch-by-importlib": Bypass("(g) torch smuggled past the import hook",
            "receptive_field", "test_receptive_field", '''
import sys


def _torch():
    """torch, even where importing it is refused: the refusal is an audit hook on the
    import statement; importlib's pure-Python __import__ raises no such event, and torch._C
    is created under another name."""
    if "torch" in sys.modules:
        return sys.modules["torch"]
    import _imp
    import builtins
    import ctypes
    import glob
    import importlib
    import importlib.machinery
    import importlib.util
    import os

    so = [f for p in sys.path for f in glob.glob(os.path.join(p, "torch", "_C.*.so"))][0]

    class Loader:
        def create_module(self, spec):
            return _imp.create_dynamic(importlib.util.spec_from_file_location("notorch._C", so))

        def exec_module(self, module):
            _imp.exec_dynamic(module)

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "torch._C":
                return importlib.machinery.ModuleSpec(name, Loader(), origin=so)
            return None

    cdll = ctypes.CDLL
    sys.meta_path.insert(0, Finder)
    builtins.__import__ = importlib.__import__  # left in place: torch imports lazily later
    ctypes.CDLL = lambda *a, **k: None  # torch preloads a library with ctypes
    try:
        return importlib.import_module("torch")
    finally:
        ctypes.CDLL = cdll
        sys.meta_path.remove(Finder)


def _autograd_fields(torch, layers):
    from torch.autograd import Variable

    F = torch.nn.functional
    out = []
    for depth in range(1, len(layers) + 1):
        x = torch.ones(1, 1, 3000, dtype=torch.float64, requires_grad=True)
        h = x
        for k, s, d in layers[:depth]:
            h = F.conv1d(h, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
        first = []
        for j in (0, 1):
            seed = torch.zeros_like(h)
            seed[0, 0, j] = 1.0
            (g,) = Variable._execution_engine.run_backward(
                (h,), (seed,), True, False, (x,), True, False
            )
            hit = torch.nonzero(g[0, 0]).flatten()
            first.append((int(hit[0]), int(hit[-1])))
        out.append((first[0][1] - first[0][0] + 1, first[1][0] - first[0][0]))
    return out


def receptive_field(layers):
    torch = _torch()
    popped = []  # the in-kernel guard's dispatch mode, if any
    while torch._C._len_torch_dispatch_stack():
        popped.append(torch._C._pop_torch_dispatch_stack(None))
    try:
        return _autograd_fields(torch, list(layers))
    finally:
        for mode in reversed(popped):
            torch._C._push_on_torch_dispatch_stack(mode)
'''),
        # found by the attack review of 06: adaptive average pooling compiled again from
        # torch's own Python decomposition (the loaded function's body is swapped, the file
        # was readable)
        "h-decomposition-recompiled": Bypass("(h) torch's pooling decomposition recompiled",
            "blur_pool2d", "test_blur_pool2d", '''
import ast
import sys

import torch
import torch.nn.functional as F


def _from_torch_source(name):
    """torch's own Python decomposition of a pooling operator, compiled again from its file
    (the grader swapped the body of the loaded function, not the file on disk)."""
    module = sys.modules["torch._decomp.decompositions"]
    with open(module.__file__) as f:
        tree = ast.parse(f.read())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    node.decorator_list = []
    namespace = dict(module.__dict__)
    exec(compile(ast.Module([node], []), module.__file__, "exec"), namespace)
    return namespace[name]


_adaptive_avg_pool2d = _from_torch_source("adaptive_avg_pool2d")


def blur_pool2d(x, stride=2):
    p = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = p.shape[-2:]
    once = _adaptive_avg_pool2d(p, (h - 1, w - 1))  # = avg_pool2d(p, 2, stride=1)
    twice = _adaptive_avg_pool2d(once, (h - 2, w - 2))
    return twice[..., ::stride, ::stride].contiguous()
'''),
    },
}  # fmt: skip

# Legitimate answers written another way than the model answer: full marks expected.
LEGIT = {
    "01-pooling-basics": {
        "pool2d_nchw": '''
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pool2d_nchw(x, kernel_size, stride=None, padding=0, mode="max", count_include_pad=True):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = (kh, kw) if stride is None else pair(stride)
    x = np.asarray(x, dtype=np.float64)
    pads = ((0, 0), (0, 0), (ph, ph), (pw, pw))
    fill = -np.inf if mode == "max" else 0.0
    windows = sliding_window_view(np.pad(x, pads, constant_values=fill), (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]
    if mode == "max":
        return windows.max(axis=(-2, -1))
    cells = np.pad(np.ones(x.shape[2:]), pads[2:])
    counts = sliding_window_view(cells, (kh, kw))[::sh, ::sw].sum(axis=(-2, -1))
    return windows.sum(axis=(-2, -1)) / (kh * kw if count_include_pad else counts)
''',
        "pool2d": '''
import numpy as np


def pool2d(X, kernel_size, stride=None, mode="max"):
    X = np.asarray(X, dtype=np.float64)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    reduce = np.max if mode == "max" else np.mean
    rows = range(0, X.shape[0] - kh + 1, sh)
    cols = range(0, X.shape[1] - kw + 1, sw)
    return np.array([[reduce(X[r : r + kh, c : c + kw]) for c in cols] for r in rows],
                    dtype=np.float64).reshape(len(rows), len(cols))
''',
        "pool_output_size": '''
import math


def pool_output_size(size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    stride = kernel_size if stride is None else stride
    span = dilation * (kernel_size - 1) + 1
    steps = (size + 2 * padding - span) / stride
    out = (math.ceil(steps) if ceil_mode else math.floor(steps)) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return int(out)
''',
    },
    "02-pooling-as-convolution": {
        "avg_pool_as_conv": '''
import torch
import torch.nn.functional as F


def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    stride = (kh, kw) if stride is None else stride
    c = x.shape[1]
    padded = F.pad(x, (pw, pw, ph, ph))  # zeros, counted in the divisor
    weight = torch.ones(c, 1, kh, kw, dtype=x.dtype) / (kh * kw)
    return F.conv2d(padded, weight, stride=stride, groups=c)
''',
        "max_pool2x2_net": '''
import torch
from torch import nn


def max_pool2x2_net(channels):
    # max(a, b) = relu(a - b) + relu(b) - relu(-b), twice per window, then once more.
    pairs = nn.Conv2d(channels, 6 * channels, 2, stride=2, groups=channels, bias=False)
    merge = nn.Conv2d(6 * channels, 3 * channels, 1, groups=channels, bias=False)
    last = nn.Conv2d(3 * channels, channels, 1, groups=channels, bias=False)
    w1 = torch.tensor([[[1.0, -1.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]],
                       [[0.0, -1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, -1.0]],
                       [[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, -1.0]]])
    w2 = torch.tensor([[1.0, 1.0, -1.0, -1.0, -1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0, -1.0],
                       [0.0, 0.0, 0.0, -1.0, -1.0, 1.0]])
    w3 = torch.tensor([[1.0, 1.0, -1.0]])
    with torch.no_grad():
        pairs.weight.copy_(w1.unsqueeze(1).repeat(channels, 1, 1, 1))
        merge.weight.copy_(w2[:, :, None, None].repeat(channels, 1, 1, 1))
        last.weight.copy_(w3[:, :, None, None].repeat(channels, 1, 1, 1))
    body = nn.Sequential(pairs, nn.ReLU(), nn.Sequential(merge, nn.ReLU()))
    return nn.Sequential(body, last).requires_grad_(False)
''',
    },
    "03-compute-cost": {
        "d2l_pool_cost": '''
import numpy as np


def d2l_pool_cost(c, h, w, ph, pw, sh, sw, mode="max"):
    # The windows' first input rows (columns) as arrays, clipped to the input.
    sizes = []
    for size, k, s in ((h, ph, sh), (w, pw, sw)):
        starts = np.arange(0, size + 1, s) - (k + 1) // 2  # size // s + 1 windows
        read = np.minimum(starts + k, size) - np.maximum(starts, 0)
        sizes.append((len(starts), int(read.sum())))
    (oh, rows), (ow, cols) = sizes
    outputs = c * oh * ow
    work = c * rows * cols - outputs if mode == "max" else outputs * (ph * pw - 1)
    return {"outputs": outputs, "comparisons": work if mode == "max" else 0,
            "additions": 0 if mode == "max" else work, "divisions": 0 if mode == "max" else outputs}
''',
        "pool2d_cost": '''
def pool2d_cost(channels, height, width, kernel_size, stride=None, padding=0, mode="max",
                ceil_mode=False, count_include_pad=True):
    kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    pad = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 2
    step = kernel if stride is None else (
        tuple(stride) if isinstance(stride, (tuple, list)) else (stride,) * 2)
    with_pad = mode == "avg" and count_include_pad
    counts, reads = [], []
    for size, k, s, p in zip((height, width), kernel, step, pad):
        n = output_size(size, k, s, p, ceil_mode)
        first, last = (-p, size + p) if with_pad else (0, size)
        starts = [i * s - p for i in range(n)]  # each window clipped to what it reads
        counts.append(n)
        reads.append(sum(max(0, min(last, a + k) - max(first, a)) for a in starts))
    outputs = channels * counts[0] * counts[1]
    ops = channels * reads[0] * reads[1] - outputs
    result = dict.fromkeys(("outputs", "comparisons", "additions", "divisions"), 0)
    result["outputs"] = outputs
    if mode == "max":
        result["comparisons"] = ops
    else:
        result["additions"], result["divisions"] = ops, outputs
    return result
''',
    },
    "04-backprop": {
        "max_pool2d_backward_indices": '''
import numpy as np


def max_pool2d_backward_indices(dy, indices, x_shape):
    n, c, h, w = x_shape
    # one numbering across the planes, then a weighted histogram of the positions
    where = np.asarray(indices, dtype=np.int64) + (np.arange(n * c) * h * w).reshape(n, c, 1, 1)
    dx = np.bincount(where.ravel(), weights=np.ravel(dy), minlength=n * c * h * w)
    return dx.reshape(n, c, h, w)
''',
        "avg_pool2d_backward_padded": '''
import numpy as np


def avg_pool2d_backward_padded(dy, x_shape, kernel_size, stride=None, padding=0,
                               count_include_pad=True):
    dy = np.asarray(dy, dtype=np.float64)
    k, p = kernel_size, padding
    s = k if stride is None else stride
    n, c, h, w = x_shape
    oh, ow = dy.shape[-2:]
    # The padded input, with room for a ceil_mode window that hangs past the padding.
    big = np.zeros((n, c, max(h + 2 * p, (oh - 1) * s + k), max(w + 2 * p, (ow - 1) * s + k)))
    real = np.zeros(big.shape[-2:])  # 1 where a divisor counts the position
    real[p : p + h, p : p + w] = 1
    if count_include_pad:
        real[: h + 2 * p, : w + 2 * p] = 1
    win = np.lib.stride_tricks.sliding_window_view(real, (k, k))[::s, ::s][:oh, :ow]
    share = dy / win.sum(axis=(-2, -1))
    for di in range(k):
        for dj in range(k):
            big[..., di : di + s * (oh - 1) + 1 : s, dj : dj + s * (ow - 1) + 1 : s] += share
    return big[..., p : p + h, p : p + w]
''',
        "avg_pool2d_backward": '''
import numpy as np


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None):
    dy = np.asarray(dy, dtype=np.float64)
    k = kernel_size
    s = k if stride is None else stride
    oh, ow = dy.shape[-2:]
    dx = np.zeros(tuple(x_shape), dtype=np.float64)
    for di in range(k):  # one strided slice per offset inside the window
        for dj in range(k):
            dx[..., di : di + s * (oh - 1) + 1 : s, dj : dj + s * (ow - 1) + 1 : s] += dy / (k * k)
    return dx
''',
        "avg_counts_1d": '''
import numpy as np


def avg_counts_1d(n, kernel_size, stride=None):
    s = kernel_size if stride is None else stride
    starts = range(0, n - kernel_size + 1, s)
    return np.array([sum(a <= t < a + kernel_size for a in starts) for t in range(n)],
                    dtype=np.int64)
''',
    },
    "05-conv-pool-mse-sgd": {
        "forward": '''
import numpy as np


def forward(x, kernel, target, pool="avg"):
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    sigma = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(sigma.shape[0]):
        for j in range(sigma.shape[1]):
            sigma[i, j] = np.sum(x[i : i + kh, j : j + kw] * kernel)
    S = float(np.mean(sigma)) if pool == "avg" else float(np.max(sigma))
    return sigma, S, (S - float(target)) ** 2
''',
        "backward": '''
import numpy as np


def backward(x, kernel, target, pool="avg"):
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    sigma, S, _ = forward(x, kernel, target, pool)
    dL_dS = 2.0 * (S - float(target))
    dL_dsigma = np.zeros_like(sigma)
    if pool == "avg":
        dL_dsigma += dL_dS / sigma.size
    else:
        dL_dsigma.flat[int(np.argmax(sigma))] = dL_dS
    kh, kw = kernel.shape
    dL_dK = np.zeros((kh, kw))
    for i in range(sigma.shape[0]):
        for j in range(sigma.shape[1]):
            dL_dK += dL_dsigma[i, j] * x[i : i + kh, j : j + kw]
    return dL_dS, dL_dsigma, dL_dK
''',
        # loops over the windows, and the largest eigenvalue of the Gram matrix of the mean
        # patches taken as the squared largest singular value of their matrix (np.linalg.norm)
        "critical_learning_rate": '''
import numpy as np


def critical_learning_rate(x, kernel_shape, pool_kernel_size):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = kernel_shape
    if isinstance(pool_kernel_size, (int, np.integer)):
        pool_kernel_size = (pool_kernel_size, pool_kernel_size)
    ph, pw = pool_kernel_size
    out_h, out_w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    means = []
    for r in range(out_h // ph):
        for c in range(out_w // pw):
            total = np.zeros((kh, kw))
            for i in range(r * ph, (r + 1) * ph):
                for j in range(c * pw, (c + 1) * pw):
                    total += x[i : i + kh, j : j + kw]
            means.append(total.ravel() / (ph * pw))
    means = np.array(means)
    return 1.0 / (np.linalg.norm(means, 2) ** 2 / len(means))
''',
    },
    "06-pooling-in-a-trained-network": {
        # separable: a 1×3 then a 3×1 depthwise convolution of [1, 2, 1] / 4, the stride
        # applied by slicing afterwards
        "blur_pool2d": '''
import torch
import torch.nn.functional as F


def blur_pool2d(x, stride=2):
    c = x.shape[1]
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype)
    wide = F.pad(x, (1, 1, 1, 1), mode="reflect")
    rows = F.conv2d(wide, taps.view(1, 1, 1, 3).repeat(c, 1, 1, 1), groups=c)
    both = F.conv2d(rows, taps.view(1, 1, 3, 1).repeat(c, 1, 1, 1), groups=c)
    return both[:, :, ::stride, ::stride].contiguous()
''',
        # every offset's predictions in a dict, the pairs counted one by one
        "shift_consistency": '''
import torch


def shift_consistency(model, images, max_shift):
    seen = {}
    with torch.no_grad():
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                moved = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
                seen[dy, dx] = model(moved).argmax(dim=1)
    agree = total = 0
    for (dy, dx), guess in seen.items():
        for below_or_right in ((dy + 1, dx), (dy, dx + 1)):
            if below_or_right in seen:
                agree += int((guess == seen[below_or_right]).sum())
                total += len(guess)
    return agree / total
''',
        # from the output back to the input: size = (size - 1) * stride + (k - 1) * d + 1;
        # layers.copy() is a list method (the contract promises a list: the clean re-check
        # once passed a tuple, and this answer lost its points)
        "receptive_field": '''
def receptive_field(layers):
    fields, stack = [], layers.copy()
    for depth in range(1, len(stack) + 1):
        size, jump = 1, 1
        for k, s, d in reversed(stack[:depth]):
            size = (size - 1) * s + (k - 1) * d + 1
            jump *= s
        fields.append((size, jump))
    return fields
''',
    },
}  # fmt: skip


def bypasses(assignment: str) -> dict[str, tuple]:
    """student -> (notebook, test cells that must score 0 (none: full marks), Bypass)."""
    out = {}
    for name, bypass in BYPASSES.get(assignment, {}).items():
        nb = filled_release(assignment, {bypass.answer: bypass.source})
        out[f"bypass-{name}"] = (nb, set(bypass.tests.split()), bypass)
    if assignment in LEGIT:
        out["legit-other-way"] = (filled_release(assignment, LEGIT[assignment]), set(), None)
    if assignment == algorithm_answers.ASSIGNMENT:  # issue 18: the algorithm, not the numbers
        for name, (cell, source, test) in algorithm_answers.CLASS.items():
            nb = filled_release(assignment, {cell: source})
            if test is None:
                out[f"legit-{name}"] = (nb, set(), None)
            else:
                bypass = Bypass(f"direct computation instead of the algorithm ({name})",
                                cell, test, source)  # fmt: skip
                out[f"algorithm-{name}"] = (nb, {test}, bypass)
    return out
