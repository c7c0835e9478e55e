"""Comparisons used by the notebooks' visible and hidden tests.

Every check raises ``AssertionError`` with a message that says which call was made,
what was expected and what came back, so a failing test teaches something. Checks
accept NumPy arrays, torch tensors, lists and scalars, and never trust the student's
return value to behave like an array.

When arrays differ, ``check_array`` says how many entries differ, where the first one is
with both values, and which known pitfall (``Pitfall``: ties, overlapping windows...) the
differing entries point to, when the test cell names the pitfalls its input exercises.

A test cell runs the student's function under its exercise's rules with
``poolkit.rules.guard``, which reads them from ``rules.toml`` beside the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poolkit.rules import ForbiddenCallError

__all__ = [
    "ForbiddenCallError",
    "Pitfall",
    "check_array",
    "check_int",
    "cpu_time_limited",
    "describe",
    "divisor_pitfall",
    "overlap_pitfall",
    "padding_pitfall",
    "rel_error",
    "repeated_index_pitfall",
    "ties_pitfall",
    "uncovered_pitfall",
]

# A failing message prints arrays up to this many elements; larger ones are summarised.
_PRINT_LIMIT = 36
# Larger arrays show the 2-D plane (the last two axes) that holds the first difference,
# up to this many elements.
_PLANE_LIMIT = 64


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


def _number(value: float, other: float) -> str:
    """``value`` to 6 significant digits, or in full when that would hide its difference."""
    short, other_short = f"{value:.6g}", f"{other:.6g}"
    return repr(value) if short == other_short else short


def _grid(arr: np.ndarray, indent: int) -> str:
    """An array's values, one row per line, continuation lines indented by ``indent``."""
    if np.all(np.isfinite(arr)) and np.all(arr == np.rint(arr)) and np.all(np.abs(arr) < 2**53):
        arr = arr.astype(np.int64)  # counts and other whole numbers print without "."
    text = np.array2string(arr, precision=4, suppress_small=True, separator=", ")
    return text.replace("\n", "\n" + " " * indent)


@dataclass(frozen=True)
class Pitfall:
    """A known mistake, and the entries of the expected array it changes.

    ``name`` is short ("ties"); ``where`` is a boolean array of the expected array's shape,
    True at the entries the mistake can change; ``located`` says what those entries are
    ("tie for the maximum of a window"); ``advice`` states the rule that avoids it. A failing
    ``check_array`` names every pitfall whose ``where`` holds some of the differing entries.
    """

    name: str
    where: object
    located: str
    advice: str


def ties_pitfall(x, kernel_size: int, stride: int | None = None) -> Pitfall:
    """The ties pitfall of max pooling on ``x`` (2-D, or batched with windows on the last two axes).

    Marks the entries that tie for the maximum of some ``kernel_size``×``kernel_size``
    window (no padding, stride ``stride`` or ``kernel_size``).
    """
    x = np.asarray(x, dtype=np.float64)
    k = int(kernel_size)
    s = k if stride is None else int(stride)
    where = np.zeros(x.shape, dtype=bool)
    if k <= min(x.shape[-2:]):
        windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
        windows = windows[..., ::s, ::s, :, :]
        is_max = windows == windows.max(axis=(-2, -1), keepdims=True)
        tied = is_max & (is_max.sum(axis=(-2, -1), keepdims=True) > 1)
        for i, j in np.ndindex(*windows.shape[-4:-2]):
            where[..., i * s : i * s + k, j * s : j * s + k] |= tied[..., i, j, :, :]
    return Pitfall(
        "ties",
        where,
        "tied for the maximum of a window",
        "By torch's rule the first maximum in row-major order of the window (rows top to "
        "bottom, each row left to right) receives the window's whole gradient; the other "
        "tied entries receive nothing from that window.",
    )


def overlap_pitfall(counts) -> Pitfall:
    """The overlapping-windows pitfall: entries that ``counts`` (windows per entry) puts in several.

    ``counts``: for each entry, how many windows send it gradient (for max pooling, torch's
    count map; for average pooling, how many windows contain it).
    """
    return Pitfall(
        "overlapping windows",
        np.asarray(counts) > 1,
        "sent gradient by more than one window",
        "Each window adds its share to what the others sent: accumulate with `+=` (`=` keeps "
        "only the last window's share).",
    )


def uncovered_pitfall(counts) -> Pitfall:
    """The pitfall of inputs that no window covers (``counts``: windows covering each entry)."""
    return Pitfall(
        "inputs outside every window",
        np.asarray(counts) == 0,
        "outside every window",
        "Windows start at 0, s, 2s, ... and only (H - k) // s + 1 of them fit, so a stride "
        "larger than the kernel skips inputs, and the last inputs may lie beyond the last "
        "window: they get nothing (a count of 0).",
    )


def divisor_pitfall(where) -> Pitfall:
    """The divisor pitfall of average pooling with padding: ``where`` marks the entries whose
    gradient would change if every window divided its sum by k² (entries of windows that
    reach into the padding or past it)."""
    return Pitfall(
        "divisor",
        np.asarray(where, dtype=bool),
        "in a window that reaches into the padding or past the edge",
        "Each window divides by its own divisor: with count_include_pad=False, the number of "
        "input elements it covers; with True, its positions inside the padded input (the "
        "rows and columns of a ceil_mode window that lie past the padding do not count). "
        "Dividing by k² is right only where all k² positions of the window count.",
    )


def padding_pitfall(where) -> Pitfall:
    """The padding pitfall of pooling with ``padding``: ``where`` marks the outputs whose
    window covers padding, where the padding's value (and, for average pooling, the
    divisor) decides the result."""
    return Pitfall(
        "padding",
        np.asarray(where, dtype=bool),
        "from a window that covers padding",
        "Max pooling pads with -inf, so that a padding cell never wins; average pooling pads "
        "with zeros, and count_include_pad decides the divisor: all kh*kw cells of the window "
        "(True) or only the input cells it covers (False).",
    )


def repeated_index_pitfall(indices, x_shape) -> Pitfall:
    """The pitfall of buffered fancy indexing: ``indices`` (N, C, H_out, W_out), flat
    positions in each (H, W) plane as ``F.max_pool2d(..., return_indices=True)`` gives
    them; marks the entries of dx (shape ``x_shape``) that several outputs name."""
    n, c, h, w = (int(v) for v in x_shape)
    flat = np.asarray(indices, dtype=np.int64).reshape(n * c, -1)
    flat = flat + (np.arange(n * c) * (h * w))[:, None]  # one numbering across the planes
    counts = np.bincount(flat.ravel(), minlength=n * c * h * w)[: n * c * h * w]
    return Pitfall(
        "repeated indices",
        counts.reshape(n, c, h, w) > 1,
        "named by more than one output (windows that share their maximum)",
        "`dx[idx] += g` is buffered: NumPy reads dx[idx] once, adds g and writes back, so a "
        "position named m times is written m times and keeps only the last share. "
        "np.add.at(dx, idx, g) adds every share (so does np.bincount(idx, weights=g, "
        "minlength=dx.size)).",
    )


def _pitfall_notes(pitfalls, wrong: np.ndarray) -> list[str]:
    """One line for each pitfall that explains the differing entries.

    A pitfall whose entries hold every differing entry explains them all; only such
    pitfalls are named when there is one. Otherwise every pitfall that holds some is named,
    with how many.
    """
    n_wrong = int(wrong.sum())
    found = []
    for pitfall in pitfalls:
        where = np.broadcast_to(np.asarray(pitfall.where, dtype=bool), wrong.shape)
        hits = int(np.sum(wrong & where))
        if hits:
            found.append((hits, pitfall))
    if any(hits == n_wrong for hits, _ in found):
        found = [(hits, p) for hits, p in found if hits == n_wrong]
    found.sort(key=lambda pair: -pair[0])
    notes = []
    for hits, p in found:
        if n_wrong == 1:
            which = "the differing entry is"
        elif hits == n_wrong:
            which = (
                "both differing entries are"
                if n_wrong == 2
                else f"all {n_wrong} differing entries are"
            )
        else:
            which = f"{hits} of the {n_wrong} differing entries {'is' if hits == 1 else 'are'}"
        notes.append(f"Known pitfall, {p.name}: {which} {p.located}. {p.advice}")
    return notes


def _mismatch_message(call, got_arr, exp, wrong, pitfalls, hint) -> str:
    """What a student needs to find the mistake: how many differ, the first one, context."""
    bad = tuple(int(i) for i in np.argwhere(wrong)[0])
    g, e = float(got_arr[bad]), float(exp[bad])
    lines = [
        f"{call} returned wrong values: {int(wrong.sum())} of {exp.size} entries differ.",
        f"First difference at index {bad}: expected {_number(e, g)}, got {_number(g, e)}.",
    ]
    lines += _pitfall_notes(pitfalls, wrong)
    if hint:
        lines.append(hint)
    if exp.size <= _PRINT_LIMIT or (exp.ndim == 2 and exp.size <= _PLANE_LIMIT):
        lines += [f"  expected: {_grid(exp, 12)}", f"  got:      {_grid(got_arr, 12)}"]
    elif exp.ndim >= 3 and exp.shape[-2] * exp.shape[-1] <= _PLANE_LIMIT:
        plane = bad[:-2]
        label = "[" + ", ".join(str(i) for i in plane) + ", :, :]"
        head_e = f"  expected{label}: "
        head_g = f"  got{label}: ".ljust(len(head_e))
        lines += [
            head_e + _grid(exp[plane], len(head_e)),
            head_g + _grid(got_arr[plane], len(head_g)),
        ]
    elif describe(exp) != describe(got_arr):
        lines += [f"  expected: {describe(exp)}", f"  got:      {describe(got_arr)}"]
    return "\n".join(lines)


def check_array(
    got,
    expected,
    call: str,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    pitfalls=(),
    hint: str | None = None,
) -> None:
    """Assert that ``got`` has ``expected``'s shape and values.

    ``call`` describes the call, e.g. ``"pool2d(X, 2, stride=1, mode='max') on X = [[...]]"``.
    Values match when ``|got - expected| <= atol + rtol * |expected|`` element-wise; NaN
    matches NaN. The defaults suit float64 results, whose error is about 1e-15.

    When values differ, the message says how many entries differ, the first differing
    index with the expected and the returned value there, and the values around it (the
    whole array, or the 2-D plane that holds the first difference). ``pitfalls``: ``Pitfall``
    objects (see ``ties_pitfall``, ``overlap_pitfall``); the message names each one whose
    entries hold some of the differing entries. ``hint``: a sentence added to any failure.
    """
    got_arr = _as_array(got, call)
    exp = np.array(expected, dtype=np.float64)
    if got_arr.shape != exp.shape:
        message = f"{call} returned shape {got_arr.shape}; expected shape {exp.shape}."
        raise AssertionError(f"{message}\n{hint}" if hint else message)
    finite = np.isfinite(exp)
    with np.errstate(invalid="ignore"):
        # Infinite expected values (max pooling's -inf padding) must match exactly: a
        # tolerance relative to |inf| would accept anything.
        close = np.where(finite, np.abs(got_arr - exp) <= atol + rtol * np.abs(exp), got_arr == exp)
        close |= np.isnan(got_arr) & np.isnan(exp)
    if not bool(np.all(close)):
        raise AssertionError(_mismatch_message(call, got_arr, exp, ~close, pitfalls, hint))


def check_int(got, expected: int, call: str, *, hint: str | None = None) -> None:
    """Assert that ``got`` is the integer ``expected`` (a Python or NumPy integer, not a float).

    ``hint``: a sentence added to the failure message, e.g. the pitfall this input tests.
    """
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        message = (
            f"{call} returned {got!r} of type {type(got).__name__}; expected the int {expected}."
        )
    elif int(got) != int(expected):
        message = f"{call} returned {int(got)}; expected {int(expected)}."
    else:
        return
    raise AssertionError(f"{message}\n{hint}" if hint else message)


class _CpuBudgetSpent(BaseException):
    # BaseException: an answer's own ``except Exception`` cannot swallow the stop.
    pass


def cpu_time_limited(func, seconds: float, call: str, hint: str):
    """``func()``'s result, or ``AssertionError`` once it has used ``seconds`` of CPU time.

    CPU time (the kernel process's, ``time.process_time``), not wall time: a grading
    machine busy with other work pauses the kernel without charging it. Where the
    platform has ``signal.ITIMER_PROF`` (Linux, macOS), a slow answer is stopped when the
    budget is spent rather than left to finish; elsewhere it is timed when it returns.
    The message names ``call``, the budget and the time used, then ``hint``.
    """
    import signal
    import threading
    import time

    timer = getattr(signal, "ITIMER_PROF", None)
    if threading.current_thread() is not threading.main_thread():
        timer = None  # signal handlers can only be set from the main thread

    def spent(signum, frame):
        raise _CpuBudgetSpent

    previous = signal.signal(signal.SIGPROF, spent) if timer is not None else None
    started = time.process_time()
    stopped = False
    try:
        if timer is not None:
            signal.setitimer(timer, seconds)
        result = func()
    except _CpuBudgetSpent:
        stopped = True
    finally:
        if timer is not None:
            signal.setitimer(timer, 0)
            signal.signal(signal.SIGPROF, previous)
    used = time.process_time() - started
    if stopped or used > seconds:
        ran = "was stopped after" if stopped else "used"
        raise AssertionError(
            f"{call} {ran} {used:.1f} s of CPU time; the budget is {seconds:g} s. {hint}"
        )
    return result
