"""``poolkey.invariance``, notebook 06's answer key, against definitions written out here:
blur pooling against the sum it stands for and against an exactly known signal, receptive
fields against the inputs that really reach an output (by autograd), and shift consistency
against a model whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from poolkey.invariance import BINOMIAL, blur_pool2d, receptive_field, shift_consistency


def blur_by_definition(x: np.ndarray, stride: int) -> np.ndarray:
    """out[n, c, i, j] = Σ_ab w[a, b] · xpad[n, c, stride·i + a, stride·j + b], with w the
    binomial [1, 2, 1]ᵀ[1, 2, 1] / 16 and xpad x reflected by one pixel on every side."""
    taps = np.array([1.0, 2.0, 1.0])
    w = np.outer(taps, taps) / 16
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    n, c, h, wd = x.shape
    out = np.zeros((n, c, (h - 1) // stride + 1, (wd - 1) // stride + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = xpad[:, :, stride * i : stride * i + 3, stride * j : stride * j + 3]
            out[:, :, i, j] = (window * w).sum(axis=(2, 3))
    return out


def test_the_filter_is_the_binomial_and_sums_to_one():
    assert BINOMIAL.tolist() == [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16],
                                 [1 / 16, 2 / 16, 1 / 16]]  # fmt: skip


def test_blur_pool_is_its_definition_on_random_inputs():
    rng = np.random.default_rng(6)
    for _ in range(40):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)),
                 int(rng.integers(2, 10)), int(rng.integers(2, 10)))  # fmt: skip
        stride = int(rng.integers(1, 4))
        x = rng.integers(-5, 6, size=shape).astype(np.float64)
        got = blur_pool2d(torch.from_numpy(x), stride)
        expected = blur_by_definition(x, stride)
        message = f"shape {shape}, stride {stride}"
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12, err_msg=message)


def test_blur_removes_the_pattern_that_makes_max_pooling_jump():
    """Vertical stripes 0, 1, 0, 1, ...: the highest frequency the grid holds. Blurring turns
    them into exactly 0.5 everywhere, so blur pooling gives the same output whichever pixel
    the stripes start on, where plain subsampling gives all zeros or all ones."""
    stripes = (torch.arange(8) % 2).double().expand(1, 1, 8, 8)
    moved = torch.roll(stripes, 1, dims=3)
    for x in (stripes, moved):
        assert torch.equal(blur_pool2d(x, 2), torch.full((1, 1, 4, 4), 0.5, dtype=torch.float64))
    assert stripes[..., ::2, ::2].sum() == 0 and moved[..., ::2, ::2].sum() == 16
    # With stride 1 a blur commutes with a shift, while the signal stays two pixels from
    # the borders (reflection reads one pixel in).
    x = torch.zeros(1, 1, 14, 14, dtype=torch.float64)
    x[0, 0, 4:8, 3:9] = torch.arange(24, dtype=torch.float64).view(4, 6)
    assert torch.equal(blur_pool2d(torch.roll(x, (1, 2), (2, 3)), 1),
                       torch.roll(blur_pool2d(x, 1), (1, 2), (2, 3)))  # fmt: skip


def test_blur_pool_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="stride must be at least 1, got 0"):
        blur_pool2d(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"x must be a floating-point tensor of shape \(N, C"):
        blur_pool2d(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="height and width must be at least 2, got"):
        blur_pool2d(torch.zeros(1, 1, 1, 5))


def reach(layers, output: int, length: int = 200) -> list[int]:
    """The inputs of a 1-D chain of convolutions (all-ones kernels: every input that can
    reach an output does) whose gradient at ``output`` is not zero."""
    x = torch.zeros(1, 1, length, dtype=torch.float64, requires_grad=True)
    h = x
    for kernel, stride, dilation in layers:
        h = F.conv1d(h, torch.ones(1, 1, kernel, dtype=torch.float64), stride=stride,
                     dilation=dilation)  # fmt: skip
    h[0, 0, output].backward()
    return torch.nonzero(x.grad[0, 0]).flatten().tolist()


def test_receptive_fields_are_the_inputs_that_reach_an_output():
    rng = np.random.default_rng(3)
    for _ in range(60):
        layers = [(int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 3)))
                  for _ in range(int(rng.integers(1, 5)))]  # fmt: skip
        got = receptive_field(layers)
        assert len(got) == len(layers)
        for depth in range(1, len(layers) + 1):
            first, second = reach(layers[:depth], 1), reach(layers[:depth], 2)
            size, jump = got[depth - 1]
            assert (size, jump) == (first[-1] - first[0] + 1, second[0] - first[0]), layers


def test_receptive_field_refuses_bad_layers_by_name():
    assert receptive_field([]) == []
    with pytest.raises(ValueError, match=r"layers\[1\] must be \(kernel, stride, dilation\)"):
        receptive_field([(3, 1, 1), (2, 2)])
    with pytest.raises(ValueError, match=r"layers\[0\]'s stride must be at least 1, got 0"):
        receptive_field([(3, 0, 1)])


class ColumnParity(torch.nn.Module):
    """Class 1 when an image's brightest pixel is in an odd column, else class 0."""

    def forward(self, x):
        column = x.flatten(1).argmax(dim=1) % x.shape[-1]
        return F.one_hot(column % 2, 2).double()


def test_shift_consistency_on_models_whose_answer_is_known():
    images = torch.zeros(5, 1, 9, 9)
    images[torch.arange(5), 0, torch.arange(5) + 2, 4] = 1.0
    # A horizontal move always changes the class, a vertical one never: half the pairs.
    for m in (1, 2, 3):
        assert shift_consistency(ColumnParity(), images, m) == 0.5
    constant = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(81, 3))
    torch.nn.init.zeros_(constant[1].weight)
    assert shift_consistency(constant, images, 2) == 1.0


def test_shift_consistency_counts_every_pair_one_pixel_apart():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                                torch.nn.LazyLinear(5))  # fmt: skip
    images = torch.rand(6, 1, 10, 10)
    model(images)
    m = 2
    with torch.no_grad():
        guess = {(dy, dx): model(torch.roll(images, (dy, dx), (2, 3))).argmax(1)
                 for dy in range(-m, m + 1) for dx in range(-m, m + 1)}  # fmt: skip
    agree = pairs = 0
    for (dy, dx), g in guess.items():
        for other in ((dy + 1, dx), (dy, dx + 1)):
            if other in guess:
                agree += int((g == guess[other]).sum())
                pairs += len(g)
    assert pairs == 2 * 5 * 4 * 6
    assert shift_consistency(model, images, m) == agree / pairs
    with pytest.raises(ValueError, match="max_shift must be at least 1, got 0"):
        shift_consistency(model, images, 0)
