"""poolkey.worked_example and poolkit.viz.training agree with torch.

Expected values come from torch, built independently of the code under test: an
``nn.Conv2d`` module, ``nn.MSELoss``, pooling over the whole conv output, ``loss.backward()``
and ``torch.optim.SGD``; gradients are also checked by centred finite differences.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from poolkey.worked_example import conv_pool_mse  # noqa: E402
from poolkit.viz.training import (  # noqa: E402
    DIVERGED,
    learning_rate_slider,
    loss_curve,
    plot_loss_curves,
)
from strategies import examples  # noqa: E402

POOLS = {"avg": F.avg_pool2d, "max": F.max_pool2d}
X = np.arange(1.0, 10.0).reshape(3, 3)
K = np.array([[3.0, 2.0], [1.0, 5.0]])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Every tensor here is tiny; on a busy 2-core machine a second thread only waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def module_dS_dK(x, kernel, pool):
    """dS/dK by autograd on a fresh nn.Conv2d (the gradient of the pooled value alone)."""
    conv = nn.Conv2d(1, 1, kernel_size=kernel.shape, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(kernel)[None, None])
    sigma = conv(torch.tensor(x)[None, None])
    S = POOLS[pool](sigma, kernel_size=sigma.shape[-2:])
    (grad,) = torch.autograd.grad(S.sum(), conv.weight)
    return grad[0, 0].numpy()


def module_pass(x, kernel, target, pool):
    """The pipeline as nn modules: conv weight, sigma, S and loss, after loss.backward()."""
    conv = nn.Conv2d(1, 1, kernel_size=kernel.shape, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(kernel)[None, None])
    sigma = conv(torch.tensor(x)[None, None])
    sigma.retain_grad()
    S = POOLS[pool](sigma, kernel_size=sigma.shape[-2:])
    S.retain_grad()
    loss = nn.MSELoss()(S, torch.full_like(S, target))
    loss.backward()
    return conv, sigma, S, loss


SMALL_INTS = st.integers(-3, 3)  # small integers: ties in sigma are common


@st.composite
def problems(draw, values=SMALL_INTS):
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    x = np.array(draw(st.lists(values, min_size=h * w, max_size=h * w)), float).reshape(h, w)
    k = np.array(draw(st.lists(values, min_size=kh * kw, max_size=kh * kw)), float)
    target = float(draw(st.integers(-30, 30)))
    return x, k.reshape(kh, kw), target


# --- conv_pool_mse -------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_the_article_example(pool):
    got = conv_pool_mse(X, K, 60.0, pool)
    conv, sigma, S, loss = module_pass(X, K, 60.0, pool)
    np.testing.assert_array_equal(got.sigma, sigma.detach()[0, 0].numpy())
    assert got.S == S.item() and got.loss == loss.item()
    assert got.dL_dS == S.grad.item()
    np.testing.assert_array_equal(got.dL_dsigma, sigma.grad[0, 0].numpy())
    np.testing.assert_array_equal(got.dL_dK, conv.weight.grad[0, 0].numpy())


@examples(40)
@given(problems(), st.sampled_from(["avg", "max"]))
def test_matches_nn_modules(problem, pool):
    x, k, target = problem
    got = conv_pool_mse(x, k, target, pool)
    conv, sigma, S, loss = module_pass(x, k, target, pool)
    np.testing.assert_allclose(got.sigma, sigma.detach()[0, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose([got.S, got.loss, got.dL_dS], [S.item(), loss.item(), S.grad.item()])
    np.testing.assert_allclose(got.dL_dsigma, sigma.grad[0, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.dL_dK, conv.weight.grad[0, 0].numpy(), rtol=1e-12, atol=1e-12)


@examples(20)
@given(problems(), st.sampled_from(["avg", "max"]))
def test_dS_dK_is_the_gradient_of_S_alone(problem, pool):
    x, k, target = problem
    got = conv_pool_mse(x, k, target, pool)
    np.testing.assert_allclose(got.dS_dK, module_dS_dK(x, k, pool), rtol=1e-12, atol=1e-12)


def test_gradient_by_centred_finite_differences():
    rng = np.random.default_rng(0)
    for pool in ("avg", "max"):
        for _ in range(5):
            x = rng.normal(size=(5, 4))  # real values: no ties, so max is differentiable here
            k = rng.normal(size=(2, 3))
            got = conv_pool_mse(x, k, 0.7, pool).dL_dK
            numeric = np.zeros_like(k)
            h = 1e-6
            for idx in np.ndindex(k.shape):
                step = np.zeros_like(k)
                step[idx] = h
                up = conv_pool_mse(x, k + step, 0.7, pool).loss
                down = conv_pool_mse(x, k - step, 0.7, pool).loss
                numeric[idx] = (up - down) / (2 * h)
            np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_max_ties_go_to_the_first_maximum_as_in_torch():
    got = conv_pool_mse(np.ones((3, 4)), np.ones((2, 2)), 1.0, "max")
    _, sigma, _, _ = module_pass(np.ones((3, 4)), np.ones((2, 2)), 1.0, "max")
    np.testing.assert_array_equal(got.dL_dsigma, sigma.grad[0, 0].numpy())
    assert np.count_nonzero(got.dL_dsigma) == 1 and got.dL_dsigma[0, 0] != 0


@pytest.mark.parametrize(
    ("x", "kernel", "target", "pool", "match"),
    [
        (np.ones(3), K, 1.0, "avg", "x must be a 2-D array"),
        (X, np.ones((4, 2)), 1.0, "avg", "does not fit"),
        (X, K, 1.0, "min", "pool must be"),
        (X, K, float("nan"), "avg", "target must be a finite"),
        (np.full((3, 3), np.inf), K, 1.0, "avg", "finite values"),
    ],
)
def test_conv_pool_mse_rejects_bad_arguments(x, kernel, target, pool, match):
    with pytest.raises(ValueError, match=match):
        conv_pool_mse(x, kernel, target, pool)


# --- loss_curve ------------------------------------------------------------------------


def torch_losses(x, kernel, target, lr, steps):
    """SGD with nn modules and torch.optim.SGD, written out: the loss before each step."""
    conv = nn.Conv2d(1, 1, kernel_size=kernel.shape, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(kernel)[None, None])
    optimizer = torch.optim.SGD(conv.parameters(), lr=lr)
    image = torch.tensor(x)[None, None]
    out = []
    for step in range(steps + 1):
        optimizer.zero_grad()
        sigma = conv(image)
        S = F.avg_pool2d(sigma, kernel_size=sigma.shape[-2:])
        loss = nn.MSELoss()(S, torch.full_like(S, target))
        out.append(loss.item())
        if step < steps:
            loss.backward()
            optimizer.step()
    return np.array(out), conv.weight.detach()[0, 0].numpy()


def a_squared(x, kernel_shape):
    """|dS/dK|² from autograd: S is linear in K, so this sets SGD's factor per step."""
    return float((module_dS_dK(x, np.zeros(kernel_shape), "avg") ** 2).sum())


@examples(12)
@given(problems(), st.floats(0.05, 0.95))
# x sums to 0, so dS/dK is rounding error: an example hypothesis once found.
@example((np.array([[0.0, 0.0, 0.0], [1.0, -3.0, 2.0]]), np.zeros((1, 1)), 1.0), 0.5)
def test_loss_curve_matches_torch_optim(problem, fraction):
    x, k, target = problem
    a_sq = a_squared(x, k.shape)
    if np.sqrt(a_sq) <= 1e-12 * max(1.0, float(np.abs(x).max())):
        # S does not depend on the kernel: |dS/dK| is 0, or only rounding error (e.g. x's
        # entries sum to 0 but their float mean is 1e-17), and lr = fraction / a_sq is huge.
        return
    lr = fraction / a_sq
    curve = loss_curve(x, k, target, lr, steps=8)
    expected, kernel = torch_losses(x, k, target, lr, 8)
    np.testing.assert_allclose(curve.losses, expected, rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(curve.kernel, kernel, rtol=1e-9, atol=1e-12)
    if expected[0] > 1e-6:
        assert curve.factor == pytest.approx((1 - 2 * lr * a_sq) ** 2, rel=1e-6, abs=1e-12)


def test_the_article_learning_rate_grows_the_loss_by_a_constant_factor():
    curve = loss_curve(X, K, 60.0, 0.01, steps=10)
    expected, _ = torch_losses(X, K, 60.0, 0.01, 10)
    np.testing.assert_allclose(curve.losses, expected, rtol=1e-12)
    np.testing.assert_allclose(expected[1:] / expected[:-1], curve.factor, rtol=1e-9)
    assert curve.factor > 1 and "diverges" in curve.message


def test_messages_name_the_regimes():
    crit = 1 / a_squared(X, (2, 2))
    one = loss_curve(X, K, 60.0, crit / 2, steps=5, lr_critical=crit)
    assert "solved in one step" in one.message and "≈0" in one.message
    flat = loss_curve(X, K, 60.0, crit, steps=5, lr_critical=crit)
    assert "stays put" in flat.message
    below = loss_curve(X, K, 60.0, 0.9 * crit, steps=5, lr_critical=crit)
    assert "converges" in below.message and "0.9 × the critical" in below.message


def test_a_divergent_run_stops_with_a_message():
    curve = loss_curve(X, K, 60.0, 1.0, steps=200)
    finite = curve.losses[np.isfinite(curve.losses)]
    assert finite.size < curve.losses.size and np.all(finite <= DIVERGED)
    assert np.all(np.isnan(curve.losses[finite.size :])) and np.all(np.isnan(curve.kernel))
    assert f"at step {finite.size}" in curve.message and "diverges" in curve.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr must be a positive"),
        ({"lr": -1e-3}, "lr must be a positive"),
        ({"lr": True}, "lr must be a positive"),
        ({"steps": 0}, "steps must be between"),
        ({"steps": 2.0}, "steps must be an int"),
        ({"lr_critical": float("inf")}, "lr_critical must be a positive"),
        ({"kernel": np.ones((4, 1))}, "does not fit"),
    ],
)
def test_loss_curve_rejects_bad_arguments(kwargs, match):
    args = {"x": X, "kernel": K, "target": 60.0, "lr": 1e-3, "steps": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        loss_curve(**args)


# --- plots and the slider ----------------------------------------------------------------


def test_plot_loss_curves_draws_each_curve_on_a_log_scale():
    crit = 1 / a_squared(X, (2, 2))
    curves = [loss_curve(X, K, 60.0, rate, steps=6) for rate in (crit / 2, 0.9 * crit, 0.01)]
    ax = plot_loss_curves(curves, labels=["one step", "below", "source"])
    assert ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:3] == ["one step", "below", "source"] and "loss 0 up to rounding" in texts
    first = ax.get_lines()[0].get_ydata()
    assert first[0] == 4.0 and np.all(first[1:] == first[1])  # zero losses sit on the floor
    assert first[1] > 0 and first[1] < min(c.losses[c.losses > 1e-10].min() for c in curves)


def test_plot_loss_curves_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        plot_loss_curves([])
    with pytest.raises(ValueError, match="labels"):
        plot_loss_curves([loss_curve(X, K, 60.0, 1e-3, 2)], labels=["a", "b"])


def test_slider_redraws_for_each_setting():
    crit = 1 / a_squared(X, (2, 2))
    box = learning_rate_slider(X, K, 60.0, lr_critical=crit, lr=0.01, steps=5)
    assert box.curve.lr == pytest.approx(0.01, rel=0.02)
    rate, n_steps = box.children[0].children
    rate.value = 0.5 * crit
    assert box.curve.lr == pytest.approx(0.5 * crit) and box.curve.losses.size == 6
    n_steps.value = 12
    assert box.curve.losses.size == 13
    assert "solved in one step" in box.curve.message


def test_slider_rejects_an_empty_range():
    with pytest.raises(ValueError, match="lr_min"):
        learning_rate_slider(X, K, 60.0, lr_critical=0.01, lr_min=0.02, lr_max=0.01)
