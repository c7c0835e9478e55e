"""Comparisons used by the notebooks' visible and hidden tests.

Every check raises ``AssertionError`` with a message that says which call was made,
what was expected and what came back, so a failing test teaches something. Checks
accept NumPy arrays, torch tensors, lists and scalars, and never trust the student's
return value to behave like an array.

``from_scratch`` runs a student's function while torch's pooling operators and
poolkit's own reference functions are switched off, so that an exercise which must be
written by hand cannot be passed by calling them.
"""

from __future__ import annotations

import contextlib
import types

import numpy as np

__all__ = [
    "ForbiddenCallError",
    "check_array",
    "check_int",
    "describe",
    "from_scratch",
    "rel_error",
]

# A failing message prints arrays up to this many elements; larger ones are summarised.
_PRINT_LIMIT = 36


def rel_error(got, expected) -> float:
    """Largest relative error, ``max |a - b| / max(1e-8, |a| + |b|)``, as in CS231n.

    Correct float64 code is around 1e-12 or smaller; float32 around 1e-7.
    """
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def describe(value) -> str:
    """A short, readable description of an array-like: the values if small, else the shape."""
    arr = np.asarray(value)
    if arr.size <= _PRINT_LIMIT:
        text = np.array2string(arr, precision=4, suppress_small=True, separator=", ")
        return " ".join(text.split())
    return f"an array of shape {arr.shape} (min {np.nanmin(arr):.4g}, max {np.nanmax(arr):.4g})"


def _as_array(got, call: str) -> np.ndarray:
    """Turn a returned value into a NumPy array, or fail with a message that says why not."""
    if got is None:
        raise AssertionError(f"{call} returned None. Did you forget the `return` statement?")
    if hasattr(got, "detach") and hasattr(got, "numpy"):  # a torch tensor
        got = got.detach().cpu().numpy()
    if isinstance(got, np.ndarray):
        arr = got
    else:
        try:
            arr = np.array(got, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise AssertionError(
                f"{call} returned a {type(got).__name__}, which is not an array of numbers ({err})."
            ) from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise AssertionError(
            f"{call} returned an array of dtype {arr.dtype}; expected an array of numbers."
        )
    # A plain ndarray copy: a subclass or an object with a patched __eq__ cannot fool the check.
    return np.array(arr, dtype=np.float64, copy=True).view(np.ndarray)


def check_array(got, expected, call: str, *, rtol: float = 1e-7, atol: float = 1e-12) -> None:
    """Assert that ``got`` has ``expected``'s shape and values.

    ``call`` describes the call, e.g. ``"pool2d(X, 2, stride=1, mode='max') on X = [[...]]"``.
    Values match when ``|got - expected| <= atol + rtol * |expected|`` element-wise; NaN
    matches NaN. The defaults suit float64 results, whose error is about 1e-15.
    """
    got_arr = _as_array(got, call)
    exp = np.array(expected, dtype=np.float64)
    if got_arr.shape != exp.shape:
        raise AssertionError(f"{call} returned shape {got_arr.shape}; expected shape {exp.shape}.")
    finite = np.isfinite(exp)
    with np.errstate(invalid="ignore"):
        # Infinite expected values (max pooling's -inf padding) must match exactly: a
        # tolerance relative to |inf| would accept anything.
        close = np.where(finite, np.abs(got_arr - exp) <= atol + rtol * np.abs(exp), got_arr == exp)
        close |= np.isnan(got_arr) & np.isnan(exp)
    if not bool(np.all(close)):
        bad = tuple(int(i) for i in np.argwhere(~close)[0])
        raise AssertionError(
            f"{call} returned wrong values: {int(np.sum(~close))} of {exp.size} differ. "
            f"First at index {bad}: got {float(got_arr[bad])!r}, expected {float(exp[bad])!r}.\n"
            f"  expected: {describe(exp)}\n  got:      {describe(got_arr)}"
        )


def check_int(got, expected: int, call: str) -> None:
    """Assert that ``got`` is the integer ``expected`` (a Python or NumPy integer, not a float)."""
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        raise AssertionError(
            f"{call} returned {got!r} of type {type(got).__name__}; expected the int {expected}."
        )
    if int(got) != int(expected):
        raise AssertionError(f"{call} returned {int(got)}; expected {int(expected)}.")


class ForbiddenCallError(AssertionError):
    """A from-scratch exercise called torch's pooling or a poolkit reference function."""


# Calls to forbidden functions made inside ``from_scratch``; a student's try/except may
# swallow the exception, but not this record.
_recorded: list[str] = []


def _record(name: str):
    _recorded.append(name)
    raise ForbiddenCallError(f"{name} is switched off in this exercise")


def _stand_in_code(name: str) -> types.CodeType:
    """Code for a function body that records a call to ``name`` and raises.

    It is swapped into the real function object, so every alias of that object is caught.
    It looks ``_record`` up through ``__import__`` because it runs with the globals of
    the module it is swapped into.
    """
    source = (
        "def stand_in(*args, **kwargs):\n"
        f"    __import__('poolkit.checks', fromlist=['_record'])._record({name!r})\n"
    )
    namespace: dict = {}
    exec(compile(source, f"<switched off: {name}>", "exec"), namespace)
    return namespace["stand_in"].__code__


_REFERENCE_MODULES = ("poolkit.shapes", "poolkit.reference")
_AUTOGRAD_FUNCTIONS = ("torch.autograd.backward", "torch.autograd.grad", "torch.Tensor.backward")


def _forbidden_functions(autograd: bool):
    """(name, function) pairs that an exercise must not call, as Python function objects."""
    import importlib

    import torch

    found = []
    for module_name in _REFERENCE_MODULES:
        module = importlib.import_module(module_name)
        found += [(f"{module_name}.{name}", getattr(module, name)) for name in module.__all__]
    if autograd:
        found += [
            ("torch.autograd.backward", torch.autograd.backward),
            ("torch.autograd.grad", torch.autograd.grad),
            ("torch.Tensor.backward", torch.Tensor.backward),
        ]
    return [
        (name, func)
        for name, func in found
        if isinstance(func, types.FunctionType) and not func.__code__.co_freevars
    ]


@contextlib.contextmanager
def _switched_off(autograd: bool):
    """Switch off torch's pooling operators and poolkit's reference functions.

    Torch is stopped below its Python API, at the dispatcher, so an alias such as
    ``from torch.nn.functional import max_pool2d as mp`` or an ``nn.MaxPool2d`` module is
    caught too.
    """
    import torch  # noqa: F401  (the dispatch mode needs torch loaded)
    from torch.utils._python_dispatch import TorchDispatchMode

    class NoPooling(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls):
            # By default torch wraps __torch_dispatch__ in torch._dynamo.disable, whose first
            # call imports torch._dynamo: 1.5-2 s of a graded notebook's run. This mode never
            # runs under torch.compile, so it needs no wrapper. There is no public switch:
            # TorchDispatchMode itself lives in the private torch.utils._python_dispatch, and
            # its docstring shows overriding this classmethod as the way to turn the wrapper
            # off (torch 2.13).
            return False

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            name = func.name()
            if "pool" in name:
                _record(f"torch's {name}")
            return func(*args, **(kwargs or {}))

    targets = _forbidden_functions(autograd)
    saved = [(func, func.__code__) for _, func in targets]
    try:
        for name, func in targets:
            func.__code__ = _stand_in_code(name)
        with NoPooling():
            yield
    finally:
        for func, code in saved:
            func.__code__ = code


def from_scratch(func, *, autograd: bool = False):
    """Wrap a student's function so that it runs with the reference code switched off.

    ``from_scratch(pool2d)(X, 2)`` calls ``pool2d(X, 2)`` while torch's pooling operators
    and poolkit's ``shapes`` and ``reference`` functions are switched off, and with
    ``autograd=True`` torch's autograd entry points as well. The wrapper returns what
    ``func`` returns, and raises ``ForbiddenCallError`` (an ``AssertionError``, so the test
    cell scores 0) if ``func`` called any of them, even if it caught the exception it got.
    """
    name = getattr(func, "__name__", "your function")

    def wrapper(*args, **kwargs):
        del _recorded[:]
        try:
            with _switched_off(autograd):
                result = func(*args, **kwargs)
        except ForbiddenCallError:
            result = None
        if _recorded:
            called = ", ".join(sorted(set(_recorded)))
            del _recorded[:]
            raise ForbiddenCallError(
                f"{name} called {called}. This exercise must be written from scratch, without "
                "torch's pooling, autograd where the exercise says so, or poolkit's reference "
                "code, so this test scores 0 until the answer computes the result itself."
            )
        return result

    return wrapper
