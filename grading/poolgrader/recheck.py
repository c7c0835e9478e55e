"""Re-check every auto-graded exercise in clean processes, out of the student's reach.

nbgrader runs the tests inside the student's kernel, where a submission can replace
``np.allclose`` with ``lambda *a, **k: True``, pop the guard's dispatch mode off torch's
mode stack, or run forbidden code at the top of a cell. The clean re-check does not let
student code near a comparison or a rule:

1. Each exercise's rules are read from ``rules.toml`` beside the notebook
   (``poolkit.rules``; the calls from ``recheck_calls.py``, ``poolgrader.exercises``).
   Exercises with the same rules share a process; the student's answers run in one, the
   instructor's in another, both forked from a zygote that never imported the answer key
   and, for NumPy-only rules, never imported torch (``poolgrader.zygote.FLAVORS``).
2. Before any code of the notebook runs, :func:`prepare` makes the rules hold for the
   whole life of the process: an audit hook (which cannot be removed) refuses to import
   torch where the rule is NumPy only, and the answer-key modules always; forbidden torch
   operators get raising kernels at the dispatcher, registered through a library handle
   that is then leaked, so no Python object can reach it to undo the registration (the
   sandbox's audit hook refuses ctypes and walking the garbage collector).
3. The process runs the notebook's imports and helpers (from the source notebook), then
   the whole answer cells (top-level code included), then every call, including methods
   called on what a function returns (a returned network's forward pass). The grader draws
   random inputs (seeded by student and assignment) and sends the same calls to both.
4. Each process returns plain data (numbers, arrays as bytes). The grader decodes it
   without unpickling anything and compares, in its own process.

An exercise passes the clean re-check only if every call matches.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exercises import Call, Exercise, LinearModel, T, load

__all__ = ["CleanResult", "prepare", "recheck_notebook", "run_in_child"]

log = logging.getLogger(__name__)
_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)

# Dispatch keys that get a raising kernel for each forbidden operator: the CPU kernels,
# the composite ones (an operator such as aten::max_pool2d is composite), and the
# quantized and mkldnn back ends (a quantized tensor would reach a pooling kernel of its
# own). Keys an operator cannot take are skipped.
_KEYS = ("CPU", "CompositeImplicitAutograd", "CompositeExplicitAutograd", "QuantizedCPU",
         "MkldnnCPU", "SparseCPU", "NestedTensorCPU")  # fmt: skip
# The only poolkit modules the re-check processes may import (they hold no answers).
_POOLKIT_ALLOWED = frozenset({"poolkit", "poolkit.checks", "poolkit.rules"})
_NOT_NUMPY = frozenset({"torch", "functorch", "torchgen", "torchvision", "torchaudio"})


# ------------------------------------------------------------------------- plain data


def encode(value):
    """Plain JSON-able data for numbers, strings, arrays, tensors and nested containers."""
    torch = sys.modules.get("torch")  # never imported here: NumPy-only processes lack it
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, T):
        return {"__tensor__": encode(np.asarray(value.array))}
    if isinstance(value, LinearModel):
        return {"__linear__": encode(np.asarray(value.weight, dtype=np.float64))}
    if torch is not None and isinstance(value, torch.Tensor):
        return {"__tensor__": encode(value.detach().cpu().numpy())}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("an array of Python objects")
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
        return {"__array__": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, list):  # kept apart from tuples: an answer may need list methods
        return {"__list__": [encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"__seq__": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[str(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__}")


def decode(data, tensors: bool = False):
    """The inverse of :func:`encode`; tensors come back as arrays unless ``tensors``."""
    if isinstance(data, dict):
        if "__array__" in data:
            dtype = np.dtype(data["dtype"])
            if dtype.kind not in "biufc":
                raise TypeError(f"unexpected dtype {dtype}")
            raw = base64.b64decode(data["__array__"])
            return np.frombuffer(raw, dtype=dtype).reshape(data["shape"]).copy()
        if "__linear__" in data:
            weight = decode(data["__linear__"])
            if not tensors:
                return weight
            import torch

            weight_t = torch.from_numpy(weight)

            def model(x):
                return x.flatten(1).to(torch.float64) @ weight_t.T

            return model
        if "__tensor__" in data:
            array = decode(data["__tensor__"])
            if tensors:
                import torch

                return torch.from_numpy(array)
            return array
        if "__seq__" in data:
            return tuple(decode(v, tensors) for v in data["__seq__"])
        if "__list__" in data:
            return [decode(v, tensors) for v in data["__list__"]]
        if "__dict__" in data:
            return {k: decode(v, tensors) for k, v in data["__dict__"]}
        raise TypeError("unknown data")
    return data


# --------------------------------------------------------------------------- the child


def _remove_operators(names: list[str], rule: str) -> None:
    """Give every operator in ``names`` raising kernels at torch's dispatcher, for good."""
    import ctypes
    import warnings

    import torch

    def refuse(name):
        message = f"{name} does not exist in this exercise; the rule is: {rule}"

        def kernel(*args, **kwargs):
            raise RuntimeError(message)

        return kernel

    handles = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel"
        for full in names:
            ns, _, name = full.partition("::")
            if ns not in handles:
                handles[ns] = torch._C._dispatch_library("IMPL", ns, "", "<rules>", 0)
            for key in _KEYS:
                try:
                    handles[ns].impl(name, key, refuse(full), False)
                except RuntimeError:
                    pass
    # A registration lasts as long as its library handle. One more reference, held by no
    # Python object, keeps each handle alive to the end of the process: student code finds
    # no handle to destroy (torch.library.Library would have kept one in its finalizer).
    for handle in handles.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))
    handles.clear()


# torch's Python implementations of operators (decompositions, references): calling one
# computes the operator from other operators, around the dispatcher.
_PYTHON_KERNELS = ("torch._decomp", "torch._refs", "torch._prims", "torch._meta_registrations",
                   "torch._inductor", "torch._functorch", "torch._dynamo")  # fmt: skip
# Words of the operator groups, as they appear in the names of those Python functions.
_GROUP_WORDS = {"pooling": "pool", "unfold": "im2col|col2im", "logsumexp": "logsumexp",
                "conv_transpose": "conv_transpose|convolution_backward"}  # fmt: skip


_CANDIDATES: list | None = None


def python_kernels() -> list:
    """(function, module, name) for torch's Python kernels whose name has a group's word.

    The scan of every object takes about 0.25 s, so the re-check's torch zygote makes it once
    and its children inherit the list. The list holds function objects only, never their
    original code: once a child has swapped a body, nothing in it can bring the old one back.
    """
    global _CANDIDATES
    if _CANDIDATES is None:
        import gc
        import types

        words = re.compile("|".join(_GROUP_WORDS.values()))
        function, found = types.FunctionType, []
        for obj in gc.get_objects():
            if type(obj) is function:
                name, module = obj.__code__.co_name, obj.__module__ or ""
                if module.startswith(_PYTHON_KERNELS) and words.search(name):
                    found.append((obj, module, name))
        _CANDIDATES = found
    return _CANDIDATES


def _remove_python_kernels(forbid, allow, rule: str) -> None:
    """Swap a raising body into torch's Python implementations of the forbidden operators.

    ``torch._decomp.decompositions.max_pool2d_with_indices`` (loaded with torch) computes
    max pooling from other operators, so removing the dispatcher's kernels is not enough.
    The original bodies are dropped: nothing can put them back.
    """
    words = re.compile("|".join(_GROUP_WORDS[g] for g in forbid))
    kept = re.compile("|".join(re.escape(a) for a in allow)) if allow else None
    for obj, module, name in python_kernels():
        if not words.search(name) or (kept is not None and kept.search(name)):
            continue
        message = f"torch's {module}.{name} does not exist in this exercise; the rule is: {rule}"
        # A closure's body must name the same free variables (their number must match).
        free = obj.__code__.co_freevars
        source = (
            "def outer():\n"
            + "".join(f"    {v} = None\n" for v in free)
            + "    def refused(*args, **kwargs):\n"
            + "".join(f"        {v}\n" for v in free)
            + f"        raise RuntimeError({message!r})\n"
            + "    return refused\n"
        )
        namespace: dict = {}
        exec(compile(source, "<rules>", "exec"), namespace)
        code = namespace["outer"]().__code__
        try:
            obj.__code__ = code
        except ValueError:
            pass


def prepare(job: dict):
    """Make the job's rules hold for the rest of this process (before any notebook code).

    Runs in the re-check child after the fork and before the sandbox (which then refuses
    ctypes, processes and walking the garbage collector). Returns the line counter of a
    vectorised exercise (:func:`_count_lines`), else None.
    """
    import fnmatch

    from poolkit.rules import ANSWER_KEY_MODULES, operators

    profile = job["profile"]
    why = profile["rule"]
    if profile["numpy_only"]:
        if any(m.partition(".")[0] in _NOT_NUMPY for m in sys.modules):
            raise RuntimeError("a NumPy-only re-check process must start without torch")
    else:
        import torch

        names = operators(profile["forbid"], profile["allow"],
                          torch._C._dispatch_get_all_op_names())  # fmt: skip
        _remove_operators(names, why)
        if profile["forbid"]:
            _remove_python_kernels(profile["forbid"], profile["allow"], why)
    # torch's compilers and not-yet-loaded Python kernels: a way around both removals.
    blocked = _NOT_NUMPY if profile["numpy_only"] else frozenset(_PYTHON_KERNELS)
    allowed = _POOLKIT_ALLOWED
    # A compiled pattern, bound now: the hook reads no module attribute that student code
    # could rebind (poolkit.rules.ANSWER_KEY_MODULES, fnmatch.fnmatchcase).
    answer_key = re.compile("|".join(fnmatch.translate(p) for p in ANSWER_KEY_MODULES)).match

    def refused(name: str) -> bool:
        return (
            name.partition(".")[0] in blocked
            or ".".join(name.split(".")[:2]) in blocked
            or answer_key(name) is not None
            or (name.startswith("poolkit.") and name not in allowed)
        )

    # Files no answer may read, since a module's source can be compiled again without an
    # "import" event (importlib's pure-Python __import__ raises none): the answer key's, and
    # where torch is refused, torch's; elsewhere those of torch's Python kernels (a pooling
    # decomposition compiled again from torch/_decomp). Found by the attack review of 06.
    hidden = _source_dirs(("poolkey", *(_NOT_NUMPY if profile["numpy_only"] else _PYTHON_KERNELS)))
    realpath, fspath = os.path.realpath, os.fspath

    def hook(event: str, args: tuple) -> None:
        if event == "import" and refused(args[0]):
            raise ImportError(f"{args[0]} is not available in this exercise; the rule is: {why}")
        if event == "open" and isinstance(args[0], (str, bytes)):
            try:
                full = realpath(fspath(args[0]))
            except (TypeError, ValueError, OSError):
                return
            if isinstance(full, bytes):
                full = full.decode(errors="replace")
            if full.startswith(hidden):
                raise PermissionError(
                    f"{args[0]!r} is not available in this exercise; the rule is: {why}"
                )

    sys.addaudithook(hook)
    for name in list(sys.modules):  # answer-key modules the zygote may hold: gone
        if refused(name) and not name.startswith("torch") and name.partition(".")[0] not in blocked:
            del sys.modules[name]
    return _count_lines(why) if profile.get("count_lines") else None


def _source_dirs(names) -> tuple[str, ...]:
    """The real paths of the named packages' folders (with a trailing separator) and of the
    named modules' files, found without importing a top-level package that is absent."""
    import importlib.util

    out = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            out += [os.path.realpath(p) + os.sep for p in spec.submodule_search_locations]
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            out.append(os.path.realpath(spec.origin))
    return tuple(out)


# Attributes whose reading hands out a frame, and with it the frame's trace function.
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})


def _count_lines(why: str):
    """Count every line of Python this process runs from now on; return the counter's
    ``next`` (each call returns the count so far, plus one per earlier call).

    A vectorised exercise's rule is a budget of lines per call (``poolkit.rules``). The
    count must survive the student's code, which runs in this process:

    - the trace function holds its counter (``itertools.count``, which can only go up) and
      ``sys.gettrace`` as defaults, never in a closure cell that code could refill, and an
      audit hook refuses to change its defaults or its code;
    - the hook refuses ``sys.settrace`` and ``sys.setprofile`` (no switching it off), frame
      access (``sys._getframe``, ``tb_frame``, ``gi_frame``...: a frame's ``f_trace`` is
      its trace function), new code objects and subinterpreters, whose lines are not seen;
    - work in another thread is not traced: :func:`run_in_child` measures the CPU time
      other threads take during a call, and the grader refuses a call whose other threads
      took more than :data:`OTHER_THREADS_CPU`.
    """
    import itertools

    tick = itertools.count().__next__

    def tracer(frame, event, arg, _tick=tick, _current=sys.gettrace):
        if event == "line":
            _tick()
        return _current()  # this function, for the frame's own events

    def hook(event: str, args: tuple) -> None:
        if event in ("sys.settrace", "sys.setprofile", "sys._getframe", "sys._current_frames",
                     "code.__new__", "cpython.PyInterpreterState_New") or (
            event == "object.__getattr__" and args[1] in _FRAME_ATTRIBUTES
        ) or (event == "object.__setattr__" and args[0] is tracer):  # fmt: skip
            what = f"{event} {args[1]!r}" if event.startswith("object.") else event
            raise PermissionError(
                f"not allowed in this exercise: {what} (the grader counts the lines of "
                f"Python each call runs; the rule is: {why})"
            )

    sys.settrace(tracer)
    sys.addaudithook(hook)
    return tick


def run_in_child(job: dict, send, lines=None) -> None:
    """Run preamble, answer cells on demand, and the calls; ``send`` each result at once.

    Runs in a sandboxed child of the zygote. Everything the loop needs is bound to local
    names before any student code runs, so that patching modules cannot change it.
    ``lines``: the line counter of a vectorised exercise (from :func:`prepare`); each result
    then carries the lines the call ran and the CPU time other threads took meanwhile.
    """
    process_time, thread_time = time.process_time, time.thread_time
    namespace = {"__name__": "__main__"}
    for source in job["preamble"]:  # statement by statement: an import the rules refuse
        try:  # leaves its names undefined, and the rest still runs
            exec(compile(source, "<notebook>", "exec"), namespace)
        except Exception:  # noqa: BLE001, S110 (the instructor's notebook, under the rules)
            pass
    answers = list(job["answers"])
    done, failed = set(), {}
    _encode, _decode, _type = encode, decode, type
    for index, call in enumerate(job["calls"]):
        try:
            for grade_id, source in answers:  # run answer cells up to the one needed
                if grade_id not in done:
                    done.add(grade_id)
                    try:
                        exec(compile(source, f"<answer {grade_id}>", "exec"), namespace)
                    except BaseException as exc:  # noqa: BLE001 (a student's cell)
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        try:
                            failed[grade_id] = f"{_type(exc).__name__}: {exc}"[:300]
                        except BaseException:  # noqa: BLE001
                            failed[grade_id] = "an exception that could not be shown"
                if grade_id == call["answer"]:
                    break
            func = namespace.get(call["function"])
            if not callable(func):
                why = failed.get(call["answer"])
                raise NameError(
                    f"{call['function']} is not defined by the answer cell"
                    + (f" (running the cell raised {why})" if why else "")
                )
            args, kwargs = _decode(call["args"], True), _decode(call["kwargs"], True)
            if lines is not None:
                start, cpu, own = lines(), process_time(), thread_time()
            result = func(*args, **kwargs)
            for method, *more in call["then"]:
                result = getattr(result, method)(*(_decode(a, True) for a in more))
            message = {"call": index, "value": _encode(result)}
            if lines is not None:  # encoding counts too: it can run an array subclass's code
                message["lines"] = lines() - start - 1
                message["other_cpu"] = (process_time() - cpu) - (thread_time() - own)
            send(message)
        except BaseException as exc:  # noqa: BLE001 (anything the student's code raised)
            try:
                message = f"{_type(exc).__name__}: {exc}"[:500]
            except BaseException:  # noqa: BLE001
                message = "an exception that could not be shown"
            send({"call": index, "error": message})


# -------------------------------------------------------------------------- the grader


@dataclass
class CleanResult:
    passed: bool
    message: str


def _cells(nb, kind: str):
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        is_answer = bool(meta.get("solution")) and cell.cell_type == "code"
        is_test = bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"
        if kind == "answer" and is_answer:
            yield meta.get("grade_id"), cell.source
        elif kind == "other" and cell.cell_type == "code" and not is_answer and not is_test:
            yield None, cell.source


def preamble(source_nb) -> list[str]:
    """The notebook's imports and helper definitions (no plots, widgets or long runs)."""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    out = []
    for _, source in _cells(source_nb, "other"):
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        out += [ast.unparse(n) for n in tree.body if isinstance(n, keep)]
    return out


def _seed(assignment: str, student: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{assignment}/{student}".encode()).digest()[:8], "big")


def _describe_call(ex: Exercise, call: Call) -> str:
    def short(v):
        if isinstance(v, T):
            v = v.array
        if isinstance(v, LinearModel):
            return f"a linear model with weight of shape {v.weight.shape}"
        if isinstance(v, np.ndarray):
            return f"an array of shape {v.shape}"
        return repr(v)

    parts = [short(a) for a in call.args] + [f"{k}={short(v)}" for k, v in call.kwargs.items()]
    text = f"{ex.function}({', '.join(parts)})"
    for method, *args in call.then:
        text += f".{method}({', '.join(short(a) for a in args)})"
    return text


def _leaves(value) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k])]
    return [value]


def same(got, expected, rtol: float, atol: float) -> str | None:
    """None if ``got`` matches ``expected``; otherwise what differs."""
    got_l, exp_l = _leaves(got), _leaves(expected)
    if len(got_l) != len(exp_l):
        return f"returned {len(got_l)} values; expected {len(exp_l)}"
    for g, e in zip(got_l, exp_l, strict=True):
        if isinstance(e, str) or e is None:
            if g != e:
                return f"returned {g!r}; expected {e!r}"
            continue
        try:
            g_arr = np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError):
            return f"returned {g!r}, which is not a number or an array"
        e_arr = np.asarray(e, dtype=np.float64)
        if g_arr.shape != e_arr.shape:
            return f"returned shape {g_arr.shape}; expected {e_arr.shape}"
        if not np.allclose(g_arr, e_arr, rtol=rtol, atol=atol, equal_nan=True):
            return "returned different values from the expected ones"
        if not np.array_equal(np.isinf(g_arr), np.isinf(e_arr)):
            return "returned infinities where there should be none (or none where there should)"
    return None


def _run(
    zygote, job: dict, settings: dict, timeout: float, flavor: str
) -> tuple[dict[int, dict], str | None]:
    """Start a re-check child; collect its results; the reason if it stopped early."""
    request = {
        "kind": "recheck",
        "flavor": flavor,
        "job": job,
        "settings": settings,
        "cwd": tempfile.mkdtemp(prefix="poolkit-recheck-"),
    }
    child = zygote.spawn(request)
    deadline = time.monotonic() + timeout
    results: dict[int, dict] = {}
    stop = None
    try:
        while len(results) < len(job["calls"]):
            left = deadline - time.monotonic()
            if left <= 0:
                stop = f"the clean re-check ran longer than {timeout:.0f} s"
                break
            child._read(min(left, 1.0))
            for message in child.messages:
                if "call" in message:
                    results[message["call"]] = message
            if child.returncode is not None and len(results) < len(job["calls"]):
                child._read(0.2)
                for message in child.messages:
                    if "call" in message:
                        results[message["call"]] = message
                if len(results) < len(job["calls"]):
                    stop = f"the clean re-check process stopped (exit status {child.returncode})"
                    crash = next((m["crash"] for m in child.messages if "crash" in m), None)
                    if crash:
                        stop += f": {crash.strip().splitlines()[-1]}"
                        log.debug("re-check child crashed:\n%s", crash)
                break
    finally:
        child.kill()
        child.close()
    return results, stop


def _flavor(numpy_only: bool) -> str:
    return "numpy" if numpy_only else "torch"


def _profile(ex: Exercise) -> dict:
    r = ex.rules
    return {"numpy_only": r.numpy_only, "forbid": list(r.forbid), "allow": list(r.allow),
            "rule": r.rule, "count_lines": r.vectorised}  # fmt: skip


def recheck_notebook(
    zygote,
    assignment: str,
    student: str,
    source_nb,
    submitted_nb,
    settings: dict,
    timeout: float = 60.0,
    folder=None,
) -> dict[str, CleanResult]:
    """Clean result for each test cell of ``assignment``, under its declared rules.

    ``folder``: the notebook's source folder, with ``rules.toml`` and ``recheck_calls.py``
    (default ``solutions/<assignment>``). Raises ``MissingRules`` (a ``RuntimeError``) if a
    graded cell has no declaration, and ``RuntimeError`` if the instructor's answers fail
    under the declared rules (the declaration or the model answer is wrong).
    """
    folder = Path(folder) if folder is not None else Path("solutions") / assignment
    exercises = load(folder, source_nb)
    if not exercises:
        return {}
    rng = np.random.default_rng(_seed(assignment, student))
    owners = [(ex, call) for ex in exercises for call in ex.calls(rng)]
    calls = [
        {
            "answer": ex.answer,
            "function": ex.function,
            "args": encode(call.args),
            "kwargs": encode(call.kwargs),
            "then": [[m, *(encode(a) for a in args)] for m, *args in call.then],
        }
        for ex, call in owners
    ]
    pre = preamble(source_nb)
    reference_answers = [(g, _MARKERS.sub("", s)) for g, s in _cells(source_nb, "answer")]
    known = {g for g, _ in reference_answers}
    student_answers = [(g, s) for g, s in _cells(submitted_nb, "answer") if g in known]
    # The instructor's answers: every call in one process, with torch where any exercise
    # has it and no operator removed (the class tests prove that the model answers pass
    # under their rules: the correct submission keeps full marks).
    numpy_only = all(ex.rules.numpy_only for ex in exercises)
    reference = {"numpy_only": numpy_only, "forbid": [], "allow": [], "rule": "model answers"}
    job = {"preamble": pre, "calls": calls, "profile": reference, "answers": reference_answers}
    expected, ref_stop = _run(zygote, job, settings, timeout, _flavor(numpy_only))
    if ref_stop:
        raise RuntimeError(f"the instructor's answers could not be run: {ref_stop}")
    # A call the model answer itself rejects is outside the exercise's contract: skip it.
    valid = {i for i, r in expected.items() if "error" not in r}
    for ex in exercises:
        mine = [i for i, (e, _) in enumerate(owners) if e is ex]
        if mine and not set(mine) & valid:
            raise RuntimeError(
                f"the model answer of {ex.test} fails on every call "
                f"({expected[mine[0]].get('error', '')})"
            )
    # The student's answers: one process per set of rules, the calls of those exercises.
    groups: dict[tuple, list[int]] = {}
    for index, (ex, _) in enumerate(owners):
        groups.setdefault(ex.rules.profile(), []).append(index)
    got: dict[int, dict] = {}
    stops: dict[int, str | None] = {}
    for indices in groups.values():
        first = owners[indices[0]][0]
        job = {
            "preamble": pre,
            "calls": [calls[i] for i in indices],
            "profile": _profile(first),
            "answers": student_answers,
        }
        results, stop = _run(zygote, job, settings, timeout, _flavor(first.rules.numpy_only))
        for local, index in enumerate(indices):
            if local in results:
                got[index] = results[local]
            stops[index] = stop
    verdicts: dict[str, CleanResult] = {}
    for index, (ex, call) in enumerate(owners):
        if index not in valid or (ex.test in verdicts and not verdicts[ex.test].passed):
            continue
        what = _describe_call(ex, call)
        result = got.get(index)
        if result is None:
            verdicts[ex.test] = CleanResult(False, f"{what}: no result ({stops.get(index)})")
            continue
        if "error" in result:
            verdicts[ex.test] = CleanResult(False, f"{what} raised {result['error']}")
            continue
        try:
            problem = same(
                decode(result["value"]), decode(expected[index]["value"]), ex.rtol, ex.atol
            )
        except (TypeError, ValueError) as exc:
            problem = f"returned data that could not be read ({exc})"
        if problem is None and ex.rules.vectorised:
            message = _vectorised_problem(ex, call, result)
            if message:
                verdicts[ex.test] = CleanResult(False, message)
                continue
        verdicts[ex.test] = CleanResult(problem is None, f"{what} {problem}" if problem else "")
    return verdicts


# CPU time that other threads may take during a vectorised call (seconds): the grading
# processes run NumPy's BLAS on one thread, so an honest answer's is about 0 (5 µs
# measured), and a loop over the 65,536 windows of the grader's tall input in another
# thread took 0.125 s (tests/test_rules.py, LINE_COUNT_PROBE).
OTHER_THREADS_CPU = 0.02


def _vectorised_problem(ex: Exercise, call: Call, result: dict) -> str | None:
    """Why a vectorised exercise's call breaks its line budget, or None."""
    from poolkit.rules import line_budget_message

    lines, other = result.get("lines"), result.get("other_cpu")
    if not isinstance(lines, int) or not isinstance(other, (int, float)):
        return f"{_describe_call(ex, call)}: the grader could not count the lines it ran"
    if other > OTHER_THREADS_CPU:
        return (
            f"{_describe_call(ex, call)} made other threads work for {other:.2f} s of CPU: the "
            "grader counts the lines of Python a call runs in its own thread only, so the "
            f"rule ({ex.rules.rule.rstrip('.')}) cannot be checked"
        )
    return line_budget_message(_describe_call(ex, call), lines)
