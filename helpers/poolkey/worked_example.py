"""The worked example of notebook 05, run by torch: conv → global pooling → squared error.

The pipeline, for a 2-D image ``x`` (H, W), a kernel (kh, kw) and a number ``target``::

    sigma = F.conv2d(x, kernel)                  # valid cross-correlation, no bias
    S     = pool(sigma, kernel_size=sigma.shape) # one window over all of sigma
    loss  = F.mse_loss(S, target)                # (S - target) ** 2 for a single number

``pool`` is ``F.avg_pool2d`` or ``F.max_pool2d``. On the source article's 3×3 input and 2×2
kernel, sigma is 2×2 and the global pooling is the article's ``F.avg_pool2d(sigma, 2)``.

- ``conv_pool_mse(x, kernel, target, pool="avg")``: every forward value and every gradient
  of the pipeline, computed by torch autograd in float64, as NumPy arrays and floats. The
  notebook's tests take their expected values from it.

It is answer key: ``poolkit.rules.guard`` switches it off while a student's answer runs,
and the clean re-check cannot import it, so it cannot stand in for a student's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pass", "conv_pool_mse"]

POOLS = ("avg", "max")


@dataclass(frozen=True)
class Pass:
    """One forward and backward pass of conv → global pooling → squared error.

    sigma: (H - kh + 1, W - kw + 1) float64, the convolution's output.
    S: float, the pooled value. loss: float, ``(S - target) ** 2``.
    dL_dS: float. dL_dsigma: like sigma. dL_dK: (kh, kw) float64.
    dS_dK: (kh, kw) float64, the gradient of S alone. For average pooling S is linear in
    the kernel, ``S = sum(dS_dK * kernel)``, and dS_dK is the mean of the patches of x.
    """

    sigma: np.ndarray
    S: float
    loss: float
    dL_dS: float
    dL_dsigma: np.ndarray
    dL_dK: np.ndarray
    dS_dK: np.ndarray


def _as_image(value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be non-empty with finite values")
    return arr


def conv_pool_mse(x, kernel, target, pool: str = "avg") -> Pass:
    """Forward values and gradients of the pipeline, by torch autograd, in float64.

    x: (H, W) array. kernel: (kh, kw) array with kh <= H and kw <= W. target: a finite
    number. pool: "avg" or "max"; for "max", a tie sends the gradient to the first largest
    entry of sigma in row-major order, as ``F.max_pool2d`` does. Returns a ``Pass``.
    """
    import torch
    import torch.nn.functional as F

    x_arr = _as_image(x, "x")
    k_arr = _as_image(kernel, "kernel")
    if k_arr.shape[0] > x_arr.shape[0] or k_arr.shape[1] > x_arr.shape[1]:
        raise ValueError(
            f"kernel of shape {k_arr.shape} does not fit in x of shape {x_arr.shape}: "
            "a valid convolution needs kh <= H and kw <= W"
        )
    if pool not in POOLS:
        raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
    target = float(target)
    if not np.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target!r}")

    pool_fn = F.avg_pool2d if pool == "avg" else F.max_pool2d
    with torch.enable_grad():
        xt = torch.from_numpy(x_arr.copy())[None, None]
        kt = torch.from_numpy(k_arr.copy())[None, None].requires_grad_()
        sigma = F.conv2d(xt, kt)
        sigma.retain_grad()
        S = pool_fn(sigma, kernel_size=tuple(sigma.shape[-2:]))
        S.retain_grad()
        loss = F.mse_loss(S, torch.full_like(S, target))
        loss.backward()
        # dS/dK on a graph of its own: S.grad above must hold dL/dS only.
        k_again = kt.detach().clone().requires_grad_()
        S_again = pool_fn(F.conv2d(xt, k_again), kernel_size=tuple(sigma.shape[-2:]))
        (dS_dK,) = torch.autograd.grad(S_again.sum(), k_again)
    return Pass(
        sigma=sigma.detach()[0, 0].numpy().copy(),
        S=float(S.item()),
        loss=float(loss.item()),
        dL_dS=float(S.grad.item()),
        dL_dsigma=sigma.grad[0, 0].numpy().copy(),
        dL_dK=kt.grad[0, 0].numpy().copy(),
        dS_dK=dS_dK[0, 0].numpy().copy(),
    )
