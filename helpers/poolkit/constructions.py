"""Counting what a construction is made of.

The constructions of notebook 02 themselves (average pooling as a convolution, max pooling
from convolutions and ReLUs, min and soft pooling) answer its exercises, so they live in the
answer key, ``poolkey.constructions``, which the student edition does not contain.

``network_size(net)`` counts a network's convolutions, ReLUs, channels and weights.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

__all__ = ["NetworkSize", "network_size"]


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
