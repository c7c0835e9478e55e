"""Each exercise's rules are declared once (rules.toml) and hold where student code cannot reach.

The declarations cover every graded cell; the grader refuses a notebook that lacks one;
the release carries rules.toml but not the re-check's calls; and the clean re-check's
removals (torch absent, operators removed at the dispatcher, answer key unimportable)
cannot be undone from inside the process. The whole-class proof is in
``test_grading_attacks.py`` (bypasses and legitimate answers graded by the real grader).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO, nb_meta, notebook_path
from poolgrader.exercises import MissingRules, graded_cells, load
from poolkit import rules


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_has_rules_that_name_its_answer_cell_and_function(assignment):
    nb = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    specs = rules.load(REPO / "solutions" / assignment)
    graded = graded_cells(nb)
    assert graded and set(graded) == {spec.test for spec in specs.values()}
    answers = {nb_meta(c)["grade_id"]: c.source for c in nb.cells if nb_meta(c).get("solution")}
    for test, spec in specs.items():
        assert spec.answer in answers, f"{test}: no answer cell {spec.answer}"
        assert f"def {spec.function}(" in answers[spec.answer], f"{test}: {spec.function}"
        assert spec.rule.strip()
    assert [e.test for e in load(REPO / "solutions" / assignment, nb)] == [
        spec.test for spec in specs.values()
    ]


def test_a_graded_cell_without_rules_is_refused(tmp_path):
    assignment = "04-backprop"
    folder = tmp_path / assignment
    folder.mkdir()
    nb = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
    text = (REPO / "solutions" / assignment / "rules.toml").read_text()
    (folder / "recheck_calls.py").write_text(
        (REPO / "solutions" / assignment / "recheck_calls.py").read_text()
    )
    with pytest.raises(MissingRules, match="rules.toml is missing"):
        load(folder, nb)
    dropped = text.split("[exercises.test_avg_counts_1d]")[0]
    rest = text.split("[exercises.test_max_pool2d_backward]")[1]
    (folder / "rules.toml").write_text(dropped + "[exercises.test_max_pool2d_backward]" + rest)
    with pytest.raises(MissingRules, match="test_avg_counts_1d: their clean re-check"):
        load(folder, nb)


def test_a_bad_declaration_names_the_exercise_and_the_key(tmp_path):
    (tmp_path / "rules.toml").write_text(
        '[exercises.test_x]\nanswer = "x"\nfunction = "x"\nlibraries = ["numpy"]\n'
        'rule = "NumPy only"\ncalls = "x"\nforbid = ["pooling"]\n'
    )
    with pytest.raises(ValueError, match="test_x: forbid needs torch"):
        rules.load(tmp_path)


def test_an_edited_rules_file_is_read_again(tmp_path):
    """load() caches what it parsed, by the file's content: a rules.toml rewritten at once,
    to the same size and even the same modification time, gives its new rules."""
    entry = '[exercises.test_x]\nanswer = "x"\nfunction = "x"\nlibraries = ["numpy"]\n'
    path = tmp_path / "rules.toml"
    path.write_text(entry + 'rule = "rule A"\ncalls = "x"\n')
    stamp = path.stat().st_mtime_ns
    assert rules.load(tmp_path)["test_x"].rule == "rule A"
    path.write_text(entry + 'rule = "rule B"\ncalls = "x"\n')
    os.utime(path, ns=(stamp, stamp))
    assert rules.load(tmp_path)["test_x"].rule == "rule B"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_carries_the_rules_but_not_the_recheck_calls(assignment):
    """The committed release; that it is what nbgrader generates, file for file, is
    test_grading_pipeline.py's test_release_is_what_nbgrader_generates."""
    source = REPO / "solutions" / assignment
    released = REPO / "notebooks" / assignment
    assert (source / "recheck_calls.py").is_file()
    assert not (released / "recheck_calls.py").exists()
    assert (released / "rules.toml").read_text() == (source / "rules.toml").read_text()


# The removals, applied in a fresh process as the re-check applies them (prepare), then
# every way in that was tried. The process prints one line per attempt.
# Both probes end by trying every attempt and printing one line each.
RUN_ATTEMPTS = (
    "for name, f in attempts.items():\n"
    "    try:\n"
    "        f()\n"
    "        print('WORKS', name)\n"
    "    except Exception as e:\n"
    "        print('REFUSED', name, type(e).__name__)"
)

PROBE = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from poolgrader.recheck import prepare
    profile = {"numpy_only": False, "forbid": ["pooling", "unfold"], "allow": [],
               "rule": "conv2d only"}
    prepare({"profile": profile})
    import torch, torch.nn.functional as F
    from torch import nn
    x = torch.arange(32.0, dtype=torch.float64).reshape(1, 2, 4, 4)
    def pop_then_pool():
        while torch._C._len_torch_dispatch_stack():
            torch._C._pop_torch_dispatch_stack()
        return F.max_pool2d(x, 2)
    def new_library_then_pool():
        lib = torch.library.Library("aten", "IMPL")
        lib._destroy()
        return F.avg_pool2d(x, 2)
    def decomposition():
        from torch._decomp.decompositions import max_pool2d_with_indices
        return max_pool2d_with_indices(x, [2, 2], [2, 2])
    def im2col_decomposition():
        from torch._decomp import decompositions
        return decompositions.im2col(x, [2, 2], [1, 1], [0, 0], [2, 2])
    attempts = {
        "F.max_pool2d": lambda: F.max_pool2d(x, 2),
        "F.avg_pool2d": lambda: F.avg_pool2d(x, 2),
        "nn.MaxPool2d": lambda: nn.MaxPool2d(2)(x),
        "F.adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(x, 2),
        "F.adaptive_max_pool2d": lambda: F.adaptive_max_pool2d(x, 2),
        "F.lp_pool2d": lambda: F.lp_pool2d(x, 2, 2),
        "F.max_pool1d": lambda: F.max_pool1d(x[0], 2),
        "F.max_pool3d": lambda: F.max_pool3d(x, (1, 2, 2)),
        "F.fractional_max_pool2d": lambda: F.fractional_max_pool2d(x, 2, output_size=2),
        "torch.ops.aten.max_pool2d": lambda: torch.ops.aten.max_pool2d(x, [2, 2]),
        "torch.ops.aten.max_pool2d_with_indices":
            lambda: torch.ops.aten.max_pool2d_with_indices.default(x, [2, 2]),
        "torch.ops.aten.avg_pool2d": lambda: torch.ops.aten.avg_pool2d(x, [2, 2]),
        "quantized max_pool2d": lambda: F.max_pool2d(
            torch.quantize_per_tensor(x.float(), 1.0, 0, torch.quint8), 2),
        "mkldnn max_pool2d": lambda: F.max_pool2d(x.float().to_mkldnn(), 2),
        "F.unfold": lambda: F.unfold(x, 2),
        "F.fold": lambda: F.fold(torch.ones(1, 8, 4, dtype=torch.float64), 4, 2, stride=2),
        "torch.ops.aten.im2col": lambda: torch.ops.aten.im2col(x, [2, 2], [1, 1], [0, 0], [2, 2]),
        "pop the dispatch stack, then pool": pop_then_pool,
        "destroy a new library, then pool": new_library_then_pool,
        "torch._decomp max_pool2d_with_indices": decomposition,
        "torch._decomp im2col": im2col_decomposition,
        "import torch._inductor": lambda: __import__("torch._inductor"),
        "import poolkey": lambda: __import__("poolkey"),
        "import poolkit.shapes": lambda: __import__("poolkit.shapes"),
        "allowed: grouped F.conv2d": lambda: F.conv2d(
            x, torch.ones(2, 1, 2, 2, dtype=torch.float64), stride=2, groups=2),
        "allowed: conv2d backward": lambda: F.conv2d(x.requires_grad_(),
            torch.ones(2, 1, 2, 2, dtype=torch.float64), groups=2).sum().backward(),
        "allowed: Tensor.max": lambda: x.amax(dim=(2, 3)),
    }
    {RUN_ATTEMPTS}
    """
).replace("{RUN_ATTEMPTS}", RUN_ATTEMPTS)

NUMPY_PROBE = textwrap.dedent(
    """
    import importlib, importlib.util, sys
    from poolgrader.recheck import prepare
    prepare({"profile": {"numpy_only": True, "forbid": [], "allow": [], "rule": "NumPy only"}})
    import numpy
    def from_file():
        spec = importlib.util.find_spec("numpy")  # a path next to torch's
        path = spec.origin.replace("numpy/__init__.py", "torch/__init__.py")
        spec = importlib.util.spec_from_file_location("mytorch", path,
            submodule_search_locations=[path.rsplit("/", 1)[0]])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    attempts = {
        "import torch": lambda: __import__("torch"),
        "importlib.import_module('torch.nn.functional')":
            lambda: importlib.import_module("torch.nn.functional"),
        "torch/__init__.py under another name": from_file,
        "import functorch": lambda: __import__("functorch"),
        "import poolkey.reference": lambda: __import__("poolkey.reference"),
        "import poolkey.worked_example": lambda: __import__("poolkey.worked_example"),
        "import poolkit.shapes": lambda: __import__("poolkit.shapes"),
        "allowed: numpy.lib.stride_tricks": lambda: __import__("numpy.lib.stride_tricks"),
    }
    {RUN_ATTEMPTS}
    print("STATE", f"torch-loaded={'torch' in sys.modules}")
    """
).replace("{RUN_ATTEMPTS}", RUN_ATTEMPTS)


def _probe(code: str) -> dict[str, str]:
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out = {}
    for line in run.stdout.splitlines():
        verdict, _, name = line.partition(" ")
        out[name] = verdict
    return out


def test_forbidden_torch_operators_are_gone_for_the_whole_process():
    got = _probe(PROBE)
    allowed = {n for n in got if n.startswith("allowed:")}
    assert {n: v for n, v in got.items() if n in allowed and v != "WORKS"} == {}
    assert {n: v for n, v in got.items() if n not in allowed and v != "REFUSED"} == {}


def test_torch_cannot_be_imported_where_the_rule_is_numpy_only():
    got = _probe(NUMPY_PROBE)
    assert got.pop("torch-loaded=False") == "STATE"
    assert got.pop("allowed: numpy.lib.stride_tricks") == "WORKS"
    assert {n: v for n, v in got.items() if v != "REFUSED"} == {}


def test_a_spec_folder_is_found_for_the_in_kernel_guard(tmp_path, monkeypatch):
    """The notebooks' immediate feedback reads the same declaration (``rules.guard``)."""
    import numpy as np

    monkeypatch.chdir(REPO / "solutions" / "05-conv-pool-mse-sgd")

    def forward(x, kernel, target, pool="avg"):
        import torch
        import torch.nn.functional as F

        t = torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]
        k = torch.as_tensor(np.asarray(kernel, dtype=np.float64))[None, None]
        sigma = F.conv2d(t, k)[0, 0].numpy()
        return sigma, float(sigma.mean()), 0.0

    with pytest.raises(rules.ForbiddenCallError, match="NumPy only"):
        rules.guard(forward)(np.ones((3, 3)), np.ones((2, 2)), 0.0)

    def decorated(f):
        def inner(*args, **kwargs):  # no functools.wraps: another __name__
            return f(*args, **kwargs)

        return inner

    forward = decorated(forward)  # the name the test cell calls it by is still forward
    with pytest.raises(rules.ForbiddenCallError, match="NumPy only"):
        rules.guard(forward)(np.ones((3, 3)), np.ones((2, 2)), 0.0)
    with pytest.raises(ValueError, match="declares no exercise for 'nothing'"):
        rules.guard(lambda: None, test="nothing")
    assert Path("rules.toml").is_file()


# --- the in-kernel guard: the notebooks' test cells read the same declarations ------------

SPECS = {a[:2]: REPO / "solutions" / a for a in ASSIGNMENTS}


@pytest.fixture
def x4():
    import torch

    return torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)


def _declared_rule(number: str, test: str) -> str:
    return rules.load(SPECS[number])[test].rule


def test_the_guard_quotes_the_declared_rule_and_lets_an_honest_answer_through(x4):
    import torch
    import torch.nn.functional as F

    def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
        weight = torch.full((x.shape[1], 1, kernel_size, kernel_size), 1 / kernel_size**2)
        return F.conv2d(x, weight.to(x.dtype), stride=stride or kernel_size, groups=x.shape[1])

    guarded = rules.guard(avg_pool_as_conv, SPECS["02"])
    assert guarded.__name__ == "avg_pool_as_conv"
    torch.testing.assert_close(guarded(x4, 2), F.avg_pool2d(x4, 2))

    def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):  # noqa: F811 (a cheat)
        return F.avg_pool2d(x, kernel_size, stride, padding)

    rule = _declared_rule("02", "test_avg_pool_as_conv")
    with pytest.raises(rules.ForbiddenCallError) as info:
        rules.guard(avg_pool_as_conv, SPECS["02"])(x4, 2)
    assert rule in str(info.value) and "avg_pool2d" in str(info.value)
    torch.testing.assert_close(avg_pool_as_conv(x4, 2), F.avg_pool2d(x4, 2))  # on again


def test_the_guard_catches_aliases_modules_unfold_and_swallowed_errors(x4):
    import torch
    import torch.nn.functional as F

    alias = F.max_pool2d

    def swallowing(x, kernel_size, stride=None, padding=0):
        try:
            return alias(x, kernel_size)
        except Exception:  # the student hides the refusal and returns something
            return torch.zeros(1, 1, 2, 2)

    cheats = [
        lambda x, k: torch.nn.AvgPool2d(k)(x),
        swallowing,
        lambda x, k: F.unfold(x, k, stride=k).mean(1).reshape(1, 1, 2, 2),
    ]
    for cheat in cheats:
        with pytest.raises(rules.ForbiddenCallError):
            rules.guard(cheat, SPECS["02"], test="test_avg_pool_as_conv")(x4, 2)


def test_the_answer_key_is_switched_off_under_any_name_even_if_caught():
    from poolkey.cost import pool2d_cost as renamed
    from poolkey.worked_example import conv_pool_mse

    def pool2d_cost(*args):
        try:
            return renamed(*args)
        except Exception:
            return {"outputs": 0}

    with pytest.raises(rules.ForbiddenCallError, match=r"poolkey\.cost\.pool2d_cost"):
        rules.guard(pool2d_cost, SPECS["03"])(1, 4, 4, 2)
    assert renamed(1, 4, 4, 2)["outputs"] == 4  # switched back on afterwards

    import numpy as np

    def forward(x, kernel, target, pool="avg"):
        return conv_pool_mse(x, kernel, target, pool)

    with pytest.raises(rules.ForbiddenCallError, match="conv_pool_mse"):
        rules.guard(forward, SPECS["05"])(np.ones((3, 3)), np.ones((2, 2)), 1.0)


def test_allowed_operators_and_other_groups_follow_each_declaration(x4):
    import torch
    import torch.nn.functional as F

    def min_pool2d(x, kernel_size, stride=None, padding=0):
        return -F.max_pool2d(-x, kernel_size, stride, padding)  # max pooling is allowed

    torch.testing.assert_close(rules.guard(min_pool2d, SPECS["02"])(x4, 2), -F.max_pool2d(-x4, 2))

    def min_pool2d(x, kernel_size, stride=None, padding=0):  # noqa: F811 (avg is not)
        return F.avg_pool2d(x, kernel_size)

    with pytest.raises(rules.ForbiddenCallError, match="avg_pool2d"):
        rules.guard(min_pool2d, SPECS["02"])(x4, 2)

    def lse_pool2d(x, beta, kernel_size, stride=None, padding=0):
        windows = F.unfold(x, kernel_size, stride=stride or kernel_size)  # allowed here
        return torch.logsumexp(beta * windows, dim=1) / beta

    with pytest.raises(rules.ForbiddenCallError, match="logsumexp"):
        rules.guard(lse_pool2d, SPECS["02"])(x4, 1.0, 2)


def test_numpy_only_refuses_every_torch_operator_and_autograd():
    import numpy as np
    import torch

    def pool2d(X, kernel_size, stride=None, mode="max"):
        return torch.as_tensor(X).reshape(2, 2, 2, 2).amax((1, 3)).numpy()  # no pooling op

    with pytest.raises(rules.ForbiddenCallError, match="NumPy only"):
        rules.guard(pool2d, SPECS["01"])(np.arange(16.0).reshape(4, 4), 2)

    def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None):
        x = torch.zeros(x_shape, requires_grad=True)
        (x.sum() * 0).backward()
        return x.grad.numpy()

    with pytest.raises(rules.ForbiddenCallError):
        rules.guard(avg_pool2d_backward, SPECS["04"])(np.ones((1, 1, 2, 2)), (1, 1, 4, 4), 2)

    def pool2d(X, kernel_size, stride=None, mode="max"):  # noqa: F811 (honest NumPy)
        X = np.asarray(X)
        return X.reshape(2, 2, 2, 2).max(axis=(1, 3))

    got = rules.guard(pool2d, SPECS["01"])(np.arange(16.0).reshape(4, 4), 2)
    assert got.tolist() == [[5.0, 7.0], [13.0, 15.0]]


# A vectorised exercise (rules.toml: vectorised = true) in the clean re-check: every call's
# lines of Python are counted, and the student's code, which runs in the same process,
# cannot switch the count off, hide its frames from it, or do the work where it does not
# look (another thread: the process's CPU time shows it). Each entry: an answer to 04's
# Exercise 6 that tries, and then loops over every window.
LINE_COUNT_ATTEMPTS = {
    "honest": "",
    "loop": "",
    "settrace-off": "sys.settrace(None)",
    "setprofile": "sys.setprofile(lambda *a: None)",
    "frame-f_trace": "sys._getframe().f_trace = None",
    "frame-f_trace_lines": "sys._getframe().f_trace_lines = False",
    "traceback-frame": "try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
    "        e.__traceback__.tb_frame.f_trace = None",
    "generator-frame": "g = (i for i in ())\n    g.gi_frame.f_trace_lines = False",
    "tracer-defaults": "sys.gettrace().__defaults__ = (lambda: 0, sys.gettrace)",
    "tracer-code": "sys.gettrace().__code__ = (lambda *a: None).__code__",
    "new-code-object": "global loop_windows\n    loop_windows.__code__.replace(co_linetable=b'')",
    "subinterpreter": "import _xxsubinterpreters as s\n    s.create()",
    "thread": "",
    "raw-thread": "",
}

LINE_COUNT_PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from poolgrader.recheck import encode, prepare, run_in_child
    ATTEMPTS = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)  # numpy.random loads here, as in the re-check's zygote
    lines = prepare({"profile": {"numpy_only": True, "forbid": [], "allow": [],
                                 "rule": "vectorised", "count_lines": True}})
    common = sys.argv[2] + '''
    import sys, _thread

    def honest(dy, indices, x_shape):
        n, c, h, w = x_shape
        dx = np.zeros((n * c, h * w))
        planes = np.arange(n * c)[:, None]
        np.add.at(dx, (planes, np.asarray(indices).reshape(n * c, -1)), dy.reshape(n * c, -1))
        return dx.reshape(x_shape)

    def raw_thread(dy, indices, x_shape):
        done, out = _thread.allocate_lock(), []
        done.acquire()
        def work():
            out.append(loop_windows(dy, indices, x_shape))
            done.release()
        _thread.start_new_thread(work, ())
        done.acquire()
        return out[0]
    '''
    answers, calls = [("common", common)], []
    for name, attempt in ATTEMPTS.items():
        body = {"honest": "return honest(dy, indices, x_shape)",
                "raw-thread": "return raw_thread(dy, indices, x_shape)"}.get(
            name, attempt + "\\n    return loop_windows(dy, indices, x_shape)")
        function = "f_" + name.replace("-", "_")
        answers.append((name, f"def {function}(dy, indices, x_shape):\\n    {body}\\n"))
    # the attack corpus's thread (tests/attacks.py), as its own answer cell
    thread = sys.argv[3].replace("max_pool2d_backward_indices", "f_thread")
    answers = [(n, thread if n == "thread" else src) for n, src in answers]
    shape = (2, 2, 2048, 8)  # the grader's tall input: 65,536 windows of kernel 3, stride 1
    dy = rng.standard_normal(shape)
    idx = np.arange(2048 * 8).reshape(1, 1, 2048, 8).repeat(2, 0).repeat(2, 1)
    args = encode((dy, idx, shape))
    for name in ATTEMPTS:
        calls.append({"answer": name, "function": "f_" + name.replace("-", "_"),
                      "args": args, "kwargs": encode({}), "then": []})
    results = []
    run_in_child({"preamble": [], "answers": answers, "calls": calls}, results.append, lines)
    for name, r in zip(ATTEMPTS, sorted(results, key=lambda r: r["call"])):
        print(json.dumps([name, r.get("lines"), r.get("other_cpu"), r.get("error")]))
    """
)


def test_the_line_count_of_a_vectorised_exercise_cannot_be_dodged():
    import json

    from attacks import LOOP_IN_A_THREAD, LOOP_WINDOWS
    from poolgrader.recheck import OTHER_THREADS_CPU

    run = subprocess.run(
        [sys.executable, "-c", LINE_COUNT_PROBE, json.dumps(LINE_COUNT_ATTEMPTS),
         LOOP_WINDOWS.replace("def max_pool2d_backward_indices(", "def loop_windows("),
         LOOP_IN_A_THREAD],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = {}
    for line in run.stdout.splitlines():
        name, lines, other_cpu, error = json.loads(line)
        got[name] = (lines, other_cpu, error)
    assert set(got) == set(LINE_COUNT_ATTEMPTS)
    budget = f"`poolkit.rules.LINE_BUDGET` ({rules.LINE_BUDGET:,})"
    assert budget in (REPO / "grading" / "README.md").read_text()  # what it documents
    lines, other, error = got.pop("honest")
    assert error is None and lines <= rules.LINE_BUDGET and other <= OTHER_THREADS_CPU
    lines, other, error = got.pop("loop")  # the count sees a loop over 65,536 windows
    assert error is None and lines > 65_536 > rules.LINE_BUDGET
    for name in ("thread", "raw-thread"):  # unseen by the count, seen by the CPU time
        lines, other, error = got.pop(name)
        assert error is None and lines <= rules.LINE_BUDGET and other > OTHER_THREADS_CPU, name
    # every other attempt is refused before its loop runs; a subinterpreter's creation fails
    lines, other, error = got.pop("subinterpreter")
    assert lines is None and error == "RuntimeError: interpreter creation failed"
    refused = {n: e for n, (_, _, e) in got.items() if e and "not allowed in this exercise" in e}
    assert refused.keys() == got.keys(), {n: v for n, v in got.items() if n not in refused}


def test_every_module_of_the_answer_key_is_switched_off_by_name():
    # The in-kernel guard switches off the functions of the modules it names; "poolkey.*"
    # covers the imports, but a module missing here keeps its functions callable in the
    # kernel (06's poolkey.invariance was, until this test).
    modules = {f"poolkey.{p.stem}" for p in (REPO / "helpers" / "poolkey").glob("*.py")}
    modules.discard("poolkey.__init__")
    assert modules
    assert modules <= set(rules.ANSWER_KEY_MODULES)


def test_the_clean_recheck_passes_lists_as_lists_and_tuples_as_tuples():
    # A contract that promises a list must get one: an answer may call list methods.
    from poolgrader.recheck import decode, encode

    value = [(3, 1, 1), [2, 2, 1]]
    back = decode(encode(value))
    assert back == value
    assert type(back) is list and type(back[0]) is tuple and type(back[1]) is list
