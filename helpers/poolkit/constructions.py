"""Counting what a construction is made of, and switching the constructions off.

The constructions of notebook 02 themselves (average pooling as a convolution, max pooling
from convolutions and ReLUs, min and soft pooling) answer its exercises, so they live in the
answer key, ``poolkey.constructions``, which the student edition does not contain.

- ``network_size(net)`` counts a network's convolutions, ReLUs, channels and weights.
- ``without_constructions(func, scratch=True, forbidden_ops=())`` is for the notebook's test
  cells: it runs a student's function with the constructions switched off (and, with
  ``scratch=True``, inside ``poolkit.checks.from_scratch``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from torch import nn

from poolkit.checks import ForbiddenCallError, from_scratch

__all__ = ["NetworkSize", "network_size", "without_constructions"]


class NetworkSize(NamedTuple):
    """What a network of convolutions and ReLUs is made of."""

    conv_layers: int
    relu_layers: int
    widths: tuple[int, ...]  # output channels of each convolution, in order
    weights: int  # number of weights (parameters), zeros included


def network_size(net) -> NetworkSize:
    """Count the convolutions, ReLUs, channels and weights of ``net`` (an ``nn.Module``)."""
    if not isinstance(net, nn.Module):
        raise ValueError(f"net must be an nn.Module, got {type(net).__name__}")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    weights = sum(p.numel() for p in net.parameters())
    return NetworkSize(len(convs), len(relus), tuple(c.out_channels for c in convs), weights)


# --- grading: switching the constructions off -------------------------------------------

# Every public construction of the answer key (absent from the student edition).
_CONSTRUCTIONS_MODULE = "poolkey.constructions"


def _constructions() -> list:
    import importlib

    try:
        module = importlib.import_module(_CONSTRUCTIONS_MODULE)
    except ModuleNotFoundError:
        return []
    return [getattr(module, n) for n in module.__all__ if n not in ("NetworkSize", "network_size")]


# Calls made to switched-off constructions or operators; a student's try/except can swallow
# the exception, not this record.
_calls: list[str] = []


def _switched_off_call(name: str):
    _calls.append(name)
    raise ForbiddenCallError(f"{name} is switched off in this exercise")


def _stand_in_code(name: str):
    """Code for a body that records a call to ``name`` and raises. It is swapped into the
    function object itself, so every alias of it is caught; it runs with this module's
    globals; it finds ``_switched_off_call`` through ``__import__``, because the
    constructions live in another module (``poolkey.constructions``)."""
    source = (
        "def stand_in(*args, **kwargs):\n"
        f"    __import__('poolkit.constructions', fromlist=['_']"
        f")._switched_off_call({name!r})\n"
    )
    namespace: dict = {}
    exec(compile(source, f"<switched off: {name}>", "exec"), namespace)
    return namespace["stand_in"].__code__


def without_constructions(func, *, scratch=True, forbidden_ops=()):
    """Wrap a student's function so that it runs with this module's constructions off.

    A call to any construction in ``poolkey.constructions`` (whatever name it was imported
    under), or to a torch operator whose name contains one of ``forbidden_ops`` (for example
    ``("logsumexp",)``), makes the wrapper raise ``ForbiddenCallError`` (an
    ``AssertionError``, so the test cell scores 0) with a message saying why, even if the
    student's code caught the exception it got. With ``scratch=True`` the function also runs
    inside ``poolkit.checks.from_scratch``: torch's pooling and poolkit's reference off.
    """
    name = getattr(func, "__name__", "your function")
    inner = from_scratch(func) if scratch else func
    ops = tuple(forbidden_ops)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from torch.utils._python_dispatch import TorchDispatchMode

        class NoForbiddenOps(TorchDispatchMode):
            def __torch_dispatch__(self, op, types_, args=(), kwargs=None):
                if any(word in op.name() for word in ops):
                    _switched_off_call(f"torch's {op.name()}")
                return op(*args, **(kwargs or {}))

        del _calls[:]
        targets = _constructions()
        saved = [(f, f.__code__) for f in targets]
        result, error = None, None
        try:
            for f in targets:
                f.__code__ = _stand_in_code(f"{_CONSTRUCTIONS_MODULE}.{f.__name__}")
            if ops:
                with NoForbiddenOps():
                    result = inner(*args, **kwargs)
            else:
                result = inner(*args, **kwargs)
        except ForbiddenCallError as err:
            error = err
        finally:
            for f, code in saved:
                f.__code__ = code
        if _calls:
            called = sorted(set(_calls))
            del _calls[:]
            why = []
            if any(c.startswith(("poolkit.", "poolkey.")) for c in called):
                why.append("poolkey.constructions holds the course's answers")
            if any(c.startswith("torch's") for c in called):
                why.append("this exercise asks you to do that operator's work yourself")
            raise ForbiddenCallError(
                f"{name} called {', '.join(called)}, which is switched off here: "
                f"{' and '.join(why)}. This test scores 0 until the answer computes the "
                "result itself."
            )
        if error is not None:
            raise error
        return result

    return wrapper
