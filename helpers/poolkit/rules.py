"""Each exercise's rules, declared once in ``rules.toml`` beside its notebook.

A notebook's folder (``solutions/<id>/``, and the release ``notebooks/<id>/``, where
nbgrader copies it) holds ``rules.toml``: one table per auto-graded test cell, named by the
cell's ``grade_id``::

    [exercises.test_pool2d]
    answer = "pool2d"            # grade_id of the answer cell that defines the function
    function = "pool2d"
    libraries = ["numpy"]        # "numpy" only: torch does not exist for this exercise
    forbid = []                  # with "torch": operator groups removed (see OPERATOR_GROUPS)
    allow = []                   # operator names kept out of a forbidden group
    rule = "NumPy only: ..."     # the rule in words, as the docstring states it
    calls = "pool2d"             # the clean re-check's random calls (instructor only)
    vectorised = false           # true: every call runs at most LINE_BUDGET lines of Python

A ``vectorised`` exercise forbids Python loops over windows, rows and columns by their
effect: the lines of Python that one call runs (the student's and the library code it
calls, counted by a trace function) may not exceed :data:`LINE_BUDGET`, and its calls
include inputs with thousands of windows. A loop over them runs many times that.

The answer key (``poolkey``, and ``poolkit`` beyond its checkers) is never allowed.

Two readers use a declaration:

- the clean re-check (``poolgrader.recheck``) runs the answer cell in a process where the
  forbidden things do not exist: no torch for "NumPy only", forbidden operators removed at
  torch's dispatcher, no answer-key modules. That verdict is the one that counts;
- the notebook's test cell, through :func:`guard`, switches the same things off inside the
  student's kernel while the student's function runs, for immediate feedback.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ANSWER_KEY_MODULES",
    "LINE_BUDGET",
    "OPERATOR_GROUPS",
    "ExerciseRules",
    "ForbiddenCallError",
    "guard",
    "line_budget_message",
    "load",
    "operators",
]

SPEC = "rules.toml"

# Modules that hold model answers: absent from every clean re-check process, and switched
# off (their public functions) inside the kernel. Patterns, as for fnmatch.
ANSWER_KEY_MODULES = (
    "poolkey",
    "poolkey.*",
    "poolkey.shapes",
    "poolkey.reference",
    "poolkey.cost",
    "poolkey.constructions",
    "poolkey.worked_example",
    "poolkey.invariance",
    "poolkit.shapes",
    "poolkit.constructions",
)

# Operator groups a rule can forbid, as patterns over the dispatcher's operator names
# ("aten::max_pool2d_with_indices", "quantized::max_pool2d", ...).
OPERATOR_GROUPS = {
    # every pooling operator: max, avg, adaptive, fractional, lp (built on avg), 1/2/3-D,
    # with indices, unpooling, quantized and mkldnn variants, and their backward ops
    "pooling": ("*pool1d*", "*pool2d*", "*pool3d*", "*max_unpool*"),
    # F.unfold and F.fold (im2col / col2im). Tensor.unfold (aten::unfold) is not in the
    # group: torch's own grouped convolution calls it on the CPU.
    "unfold": ("aten::im2col*", "aten::col2im*"),
    "logsumexp": ("aten::logsumexp*", "aten::special_logsumexp*"),
    "conv_transpose": ("aten::conv_transpose*", "aten::convolution_backward*"),
}


class ForbiddenCallError(AssertionError):
    """An exercise called something its rules switch off."""


# A vectorised exercise's call may run at most this many lines of Python, counting the
# library code it calls (a trace function counts "line" events). The model answer of
# 04's Exercise 6 runs 8 lines; a vectorised answer that pads and crops with np.pad, 186.
# A loop over the windows of the grader's largest inputs (tens of thousands) runs far more.
LINE_BUDGET = 1000


def line_budget_message(call: str, lines: int) -> str | None:
    """None if ``lines`` (what one call ran; ``call`` describes it) is within the budget;
    otherwise what the student needs to hear."""
    if lines <= LINE_BUDGET:
        return None
    return (
        f"{call} ran {lines:,} lines of Python. A vectorised answer runs the same few lines on "
        f"any input, and the rule allows at most {LINE_BUDGET:,}: the count grows with the "
        "input, so the function loops in Python over windows, rows or columns. Route all of "
        "the gradient at once with array operations (np.add.at, np.bincount)."
    )


@dataclass(frozen=True)
class ExerciseRules:
    """One auto-graded test cell's declaration (see the module docstring)."""

    test: str
    answer: str
    function: str
    libraries: tuple[str, ...]
    rule: str
    calls: str
    forbid: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    rtol: float = 1e-7
    atol: float = 1e-9
    vectorised: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def numpy_only(self) -> bool:
        return "torch" not in self.libraries

    def profile(self) -> tuple:
        """What the clean process must remove (and whether it counts lines): exercises with
        equal profiles share one."""
        return (self.numpy_only, tuple(sorted(self.forbid)), tuple(sorted(self.allow)),
                self.vectorised)  # fmt: skip


_KNOWN_KEYS = {"answer", "function", "libraries", "rule", "calls", "forbid", "allow", "rtol",
               "atol", "test", "vectorised"}  # fmt: skip


@functools.lru_cache(maxsize=32)
def _parse(text: str) -> dict:
    """A rules file's TOML, parsed once per content: a test cell calls guard() in its loops.
    (Only read from, never changed.)"""
    import tomllib

    return tomllib.loads(text)


def load(folder) -> dict[str, ExerciseRules]:
    """The declarations in ``folder/rules.toml``, by test cell ``grade_id``.

    Raises ``FileNotFoundError`` when the folder has no spec, and ``ValueError`` naming the
    exercise and the key when a declaration is incomplete or unknown.
    """
    path = Path(folder) / SPEC
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the tests of this notebook read their rules from it. Keep the "
            "rules.toml that came with the notebook in the notebook's folder. (Every notebook "
            "with auto-graded cells declares their rules there: see poolkit.rules.)"
        )
    data = _parse(path.read_bytes().decode("utf-8"))
    out = {}
    for name, entry in data.get("exercises", {}).items():
        # A test cell that checks several functions has one table for each; all but one
        # name their cell with a "test" key ("test_x.helper" tables, for example).
        test = entry.get("test", name)
        missing = {"answer", "function", "libraries", "rule", "calls"} - set(entry)
        if missing:
            raise ValueError(f"{path}: exercise {test} lacks {', '.join(sorted(missing))}")
        unknown = set(entry) - _KNOWN_KEYS
        if unknown:
            raise ValueError(f"{path}: exercise {test} has unknown keys {sorted(unknown)}")
        libraries = tuple(entry["libraries"])
        if not set(libraries) <= {"numpy", "torch"}:
            raise ValueError(f"{path}: exercise {test}: libraries must be numpy and/or torch")
        forbid = tuple(entry.get("forbid", ()))
        bad = set(forbid) - set(OPERATOR_GROUPS)
        if bad:
            raise ValueError(f"{path}: exercise {test}: unknown operator groups {sorted(bad)}")
        if forbid and "torch" not in libraries:
            raise ValueError(f"{path}: exercise {test}: forbid needs torch in libraries")
        if not isinstance(entry.get("vectorised", False), bool):
            raise ValueError(f"{path}: exercise {test}: vectorised must be true or false")
        out[name] = ExerciseRules(
            test=test,
            answer=entry["answer"],
            function=entry["function"],
            libraries=libraries,
            rule=entry["rule"],
            calls=entry["calls"],
            forbid=forbid,
            allow=tuple(entry.get("allow", ())),
            rtol=float(entry.get("rtol", 1e-7)),
            atol=float(entry.get("atol", 1e-9)),
            vectorised=entry.get("vectorised", False),
        )
    return out


def operators(forbid, allow, names) -> list[str]:
    """The operator names (from ``names``) that ``forbid``'s groups remove, minus ``allow``."""
    patterns = [p for group in forbid for p in OPERATOR_GROUPS[group]]
    chosen = []
    for name in names:
        if name.startswith("inductor::"):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in patterns) and not any(
            fnmatch.fnmatchcase(name.split("::")[-1], f"*{a}*") for a in allow
        ):
            chosen.append(name)
    return sorted(chosen)


def is_answer_key(module: str) -> bool:
    """Whether ``module`` (a dotted name) holds model answers."""
    return any(fnmatch.fnmatchcase(module, p) for p in ANSWER_KEY_MODULES)


# ------------------------------------------------------------------ the in-kernel guard
#
# Immediate feedback only: student code in the same process can undo any of this (a
# dispatch mode can be popped). The clean re-check is what counts.

_recorded: list[str] = []


def _record(name: str):
    _recorded.append(name)
    raise ForbiddenCallError(f"{name} is switched off in this exercise")


@functools.cache
def _stand_in_code(name: str) -> types.CodeType:
    """A body that records a call to ``name`` and raises; swapped into the function object
    itself, so every alias of it is caught. It reaches ``_record`` through ``__import__``
    because it runs with the globals of the module it is swapped into.

    Compiled once per name (a code object cannot change): a guarded call swaps one in for
    every answer-key function, and a test cell that calls the answer a hundred times spent
    most of its time compiling them again."""
    source = (
        "def stand_in(*args, **kwargs):\n"
        f"    __import__('poolkit.rules', fromlist=['_record'])._record({name!r})\n"
    )
    namespace: dict = {}
    exec(compile(source, f"<switched off: {name}>", "exec"), namespace)
    return namespace["stand_in"].__code__


def _answer_key_functions(modules):
    """(qualified name, function) for the public functions of the loaded answer-key modules."""
    import importlib
    import sys

    found = []
    for module_name in modules:
        if module_name not in sys.modules:
            try:
                importlib.import_module(module_name)
            except (ImportError, OSError):  # absent (the student edition), or hidden
                continue
        module = sys.modules[module_name]
        for name in getattr(module, "__all__", ()):
            func = getattr(module, name, None)
            if isinstance(func, types.FunctionType) and not func.__code__.co_freevars:
                found.append((f"{module_name}.{name}", func))
    return found


@contextlib.contextmanager
def switched_off(*, modules=(), ops=(), allow=(), any_torch=False, autograd=False, keep=()):
    """Switch off answer-key functions and torch operators for the duration of a call.

    ``modules``: modules whose public functions get a stand-in body (``keep``: names
    exempt); ``ops``: substrings of torch operator names that are refused (``allow``:
    substrings kept); ``any_torch``: refuse every torch operator (a NumPy-only exercise);
    ``autograd``: refuse torch's autograd entry points.
    """
    targets = [(n, f) for n, f in _answer_key_functions(modules) if n not in keep]
    if autograd:
        import torch

        targets += [
            ("torch.autograd.backward", torch.autograd.backward),
            ("torch.autograd.grad", torch.autograd.grad),
            ("torch.Tensor.backward", torch.Tensor.backward),
        ]
    saved = [(func, func.__code__) for _, func in targets]
    mode = contextlib.nullcontext()
    if ops or any_torch:
        import torch  # noqa: F401 (the dispatch mode needs torch loaded)
        from torch.utils._python_dispatch import TorchDispatchMode

        class Refuse(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls):
                # torch otherwise wraps __torch_dispatch__ in torch._dynamo.disable, whose
                # first call imports torch._dynamo (1.5-2 s of a graded notebook's run); the
                # base class's docstring shows this override as the way out (torch 2.13).
                return False

            def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
                name = func.name()
                if any_torch:
                    _record(f"torch's {name} (this exercise is NumPy only)")
                if any(w in name for w in ops) and not any(a in name for a in allow):
                    _record(f"torch's {name}")
                return func(*args, **(kwargs or {}))

        mode = Refuse()
    try:
        for name, func in targets:
            func.__code__ = _stand_in_code(name)
        with mode:
            yield
    finally:
        for func, code in saved:
            func.__code__ = code


def _describe_call(function: str, args, kwargs, names=None) -> str:
    """``f(dy=an array of shape (2, 3, 6, 6), x_shape=(2, 3, 7, 7))``: arrays by their shape.
    ``names``: the parameters' names, for the positional arguments."""

    def short(value):
        shape = getattr(value, "shape", None)
        if shape is not None and not isinstance(value, (int, float)):
            return f"an array of shape {tuple(shape)}"
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."

    names = list(names or ())
    parts = []
    for i, value in enumerate(args):
        name = names[i] if i < len(names) else None
        parts.append(f"{name}={short(value)}" if name else short(value))
    parts += [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{function}({', '.join(parts)})"


def _counting_lines(func, args, kwargs):
    """Call ``func``; return (result, lines of Python it ran, whether the count stayed on).

    Immediate feedback only (the student's code can switch a trace function off in its own
    process; it then fails here, and the clean re-check refuses to let it)."""
    import sys

    count = [0]

    def tracer(frame, event, arg):
        if event == "line":
            count[0] += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = func(*args, **kwargs)
    finally:
        intact = sys.gettrace() is tracer
        sys.settrace(previous)
    return result, count[0], intact


def run_guarded(func, args, kwargs, why: str, *, count_lines: bool = False, **switches):
    """Call ``func`` inside :func:`switched_off`; raise ``ForbiddenCallError`` (with
    ``why``) if it called anything switched off, even if it caught the exception.

    ``count_lines`` (a vectorised exercise): also count the lines of Python the call runs,
    and raise ``ForbiddenCallError`` if they exceed :data:`LINE_BUDGET`."""
    name = getattr(func, "__name__", "your function")
    del _recorded[:]
    lines, intact = 0, True
    try:
        with switched_off(**switches):
            if count_lines:
                result, lines, intact = _counting_lines(func, args, kwargs)
            else:
                result = func(*args, **kwargs)
    except ForbiddenCallError:
        result = None
    if _recorded:
        called = ", ".join(sorted(set(_recorded)))
        del _recorded[:]
        raise ForbiddenCallError(
            f"{name} called {called}, which is switched off here: {why} This test scores 0 "
            "until the answer computes the result itself."
        )
    if not intact:
        raise ForbiddenCallError(
            f"{name} switched off the count of the lines of Python it runs (sys.settrace), "
            f"so the rule cannot be checked: {why} This test scores 0 until the answer leaves "
            "the trace function alone."
        )
    if count_lines:
        try:
            import inspect

            names = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            names = None
        problem = line_budget_message(_describe_call(name, args, kwargs, names), lines)
        if problem:
            raise ForbiddenCallError(f"{problem} {why[:1].upper()}{why[1:]}")
    return result


def guard(func, spec_folder=".", *, test: str | None = None):
    """``func`` wrapped by the rules that ``rules.toml`` declares for it.

    The declaration is found by the function's name (or by ``test``, its test cell's
    ``grade_id``) in ``spec_folder/rules.toml`` (the notebook's folder). A call to anything
    the rules forbid makes the wrapper raise ``ForbiddenCallError`` (an ``AssertionError``,
    so the test cell scores 0) that quotes the rule.
    """
    import sys

    specs = load(spec_folder)
    name = getattr(func, "__name__", None)
    matches = [s for s in specs.values() if (s.test == test if test else s.function == name)]
    if not matches and test is None:
        # A wrapped function (a decorator without functools.wraps) has another __name__:
        # find the exercise whose function name the calling cell binds to this object.
        frame = sys._getframe(1)
        names = {**frame.f_globals, **frame.f_locals}
        matches = [s for s in specs.values() if names.get(s.function) is func]
    if len(matches) != 1:
        raise ValueError(
            f"rules.toml declares no exercise for {test or name!r}: declare its rules there"
        )
    spec = matches[0]
    ops = tuple(
        p.strip("*").split("::")[-1] for group in spec.forbid for p in OPERATOR_GROUPS[group]
    )
    switches = {
        "modules": [m for m in ANSWER_KEY_MODULES if "*" not in m],
        "ops": ops,
        "allow": spec.allow,
        "any_torch": spec.numpy_only,
        "autograd": spec.numpy_only,
    }

    def wrapper(*args, **kwargs):
        return run_guarded(
            func, args, kwargs, f"the rule is: {spec.rule}", count_lines=spec.vectorised,
            **switches,
        )  # fmt: skip

    wrapper.__name__ = name or "your function"
    wrapper.__doc__ = getattr(func, "__doc__", None)
    return wrapper
