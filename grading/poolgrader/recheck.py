"""Re-check every auto-graded exercise in clean processes, out of the student's reach.

nbgrader runs the tests inside the student's kernel, where a submission can replace
``np.allclose`` with ``lambda *a, **k: True`` and pass every test. The clean re-check
does not let student code near a comparison:

1. Two fresh processes are forked from the zygote (``poolgrader.zygote``): one runs
   the student's answer cells, the other the instructor's. Both first run the notebook's
   own imports and helper definitions, taken from the source notebook (a student cannot
   change them), and both are sandboxed.
2. The grader draws random inputs (``poolgrader.exercises``, seeded by student and
   assignment so that a re-run gives the same result) and sends the same calls to both.
   An answer cell runs only when its function is first needed, so a cell that kills its
   process costs the exercises from that one on, not the earlier ones.
3. Each process returns plain data (numbers, arrays as bytes). The grader decodes it
   without unpickling anything and compares, in its own process.

An exercise passes the clean re-check only if every call matches.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import logging
import re
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from .exercises import EXERCISES, Call, Exercise, T

__all__ = ["CleanResult", "recheck_notebook", "run_in_child"]

log = logging.getLogger(__name__)
_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)


# ------------------------------------------------------------------------- plain data


def encode(value):
    """Plain JSON-able data for numbers, strings, arrays, tensors and nested containers."""
    import torch

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, T):
        return {"__tensor__": encode(np.asarray(value.array))}
    if isinstance(value, torch.Tensor):
        return {"__tensor__": encode(value.detach().cpu().numpy())}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("an array of Python objects")
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
        return {"__array__": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, (tuple, list)):
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
        if "__tensor__" in data:
            array = decode(data["__tensor__"])
            if tensors:
                import torch

                return torch.from_numpy(array)
            return array
        if "__seq__" in data:
            return tuple(decode(v, tensors) for v in data["__seq__"])
        if "__dict__" in data:
            return {k: decode(v, tensors) for k, v in data["__dict__"]}
        raise TypeError("unknown data")
    return data


# --------------------------------------------------------------------------- the child


def run_in_child(job: dict, send) -> None:
    """Run preamble, answer cells on demand, and the calls; ``send`` each result at once.

    Runs in a sandboxed child of the zygote. Everything the loop needs is bound to local
    names before any student code runs, so that patching modules cannot change it.
    """
    import importlib

    namespace = {"__name__": "__main__"}
    for source in job["preamble"]:
        exec(compile(source, "<notebook>", "exec"), namespace)
    guards = {}
    for module, name, kwargs in (tuple(g) for g in job["guards"] if g):
        guards[(module, name, repr(kwargs))] = (
            getattr(importlib.import_module(module), name),
            kwargs,
        )
    answers = list(job["answers"])
    done = set()
    _encode, _decode, _repr, _type = encode, decode, repr, type
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
                if grade_id == call["answer"]:
                    break
            func = namespace.get(call["function"])
            if not callable(func):
                raise NameError(f"{call['function']} is not defined by the answer cell")
            guard = call["guard"]
            if guard:
                wrap, kwargs = guards[(guard[0], guard[1], _repr(guard[2]))]
                func = wrap(func, **kwargs)
            result = func(*_decode(call["args"], True), **_decode(call["kwargs"], True))
            for method, *args in call["then"]:
                result = getattr(result, method)(*(_decode(a, True) for a in args))
            send({"call": index, "value": _encode(result)})
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
        nodes = [n for n in tree.body if isinstance(n, keep)]
        if nodes:
            out.append(ast.unparse(ast.Module(body=nodes, type_ignores=[])))
    return out


def _seed(assignment: str, student: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{assignment}/{student}".encode()).digest()[:8], "big")


def _describe_call(ex: Exercise, call: Call) -> str:
    def short(v):
        if isinstance(v, T):
            v = v.array
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


def _run(zygote, job: dict, settings: dict, timeout: float) -> tuple[dict[int, dict], str | None]:
    """Start a re-check child; collect its results; the reason if it stopped early."""
    request = {
        "kind": "recheck",
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


def recheck_notebook(
    zygote,
    assignment: str,
    student: str,
    source_nb,
    submitted_nb,
    settings: dict,
    timeout: float = 60.0,
) -> dict[str, CleanResult]:
    """Clean result for each test cell of ``assignment`` that has an exercise."""
    exercises = EXERCISES.get(assignment, [])
    if not exercises:
        return {}
    rng = np.random.default_rng(_seed(assignment, student))
    calls, owners = [], []
    for ex in exercises:
        for call in ex.calls(rng):
            calls.append(
                {
                    "answer": ex.answer,
                    "function": ex.function,
                    "guard": ex.guard,
                    "args": encode(call.args),
                    "kwargs": encode(call.kwargs),
                    "then": [[m, *(encode(a) for a in args)] for m, *args in call.then],
                }
            )
            owners.append((ex, call))
    guards = [ex.guard for ex in exercises if ex.guard]
    base = {"preamble": preamble(source_nb), "calls": calls, "guards": guards}
    reference_answers = [(g, _MARKERS.sub("", s)) for g, s in _cells(source_nb, "answer")]
    known = {g for g, _ in reference_answers}
    student_answers = [(g, s) for g, s in _cells(submitted_nb, "answer") if g in known]
    expected, ref_stop = _run(zygote, {**base, "answers": reference_answers}, settings, timeout)
    if ref_stop:
        raise RuntimeError(f"the instructor's answers could not be run: {ref_stop}")
    # A call the model answer itself rejects is outside the exercise's contract: skip it.
    valid = {i for i, r in expected.items() if "error" not in r}
    got, stop = _run(zygote, {**base, "answers": student_answers}, settings, timeout)
    verdicts: dict[str, CleanResult] = {}
    for index, (ex, call) in enumerate(owners):
        if index not in valid or (ex.test in verdicts and not verdicts[ex.test].passed):
            continue
        what = _describe_call(ex, call)
        result = got.get(index)
        if result is None:
            verdicts[ex.test] = CleanResult(False, f"{what}: no result ({stop})")
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
        verdicts[ex.test] = CleanResult(problem is None, f"{what} {problem}" if problem else "")
    return verdicts
