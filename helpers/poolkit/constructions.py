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

_KEEP = tuple(
    f"poolkit.constructions.{n}" for n in ("NetworkSize", "network_size", "without_constructions")
)


def without_constructions(func, *, scratch=True, forbidden_ops=()):
    """Wrap a student's function so that it runs with this module's constructions off.

    A call to any construction in ``poolkey.constructions`` (whatever name it was imported
    under), or to a torch operator whose name contains one of ``forbidden_ops`` (for example
    ``("logsumexp",)``), makes the wrapper raise ``ForbiddenCallError`` (an
    ``AssertionError``, so the test cell scores 0) with a message saying why, even if the
    student's code caught the exception it got. With ``scratch=True`` torch's pooling and
    poolkit's reference are off too, as in ``poolkit.checks.from_scratch``. The switching is
    ``poolkit.rules``' (one mechanism).
    """
    from poolkit.rules import run_guarded

    modules = ["poolkit.constructions", "poolkey.constructions"]
    ops = tuple(forbidden_ops)
    if scratch:
        modules += ["poolkit.shapes", "poolkey.shapes", "poolkey.reference", "poolkey.cost"]
        ops += ("pool",)
    why = (
        "poolkey.constructions holds the course's answers, and this exercise asks you to do "
        "the switched-off operators' work yourself."
    )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return run_guarded(func, args, kwargs, why, modules=modules, ops=ops, keep=_KEEP)

    return wrapper
