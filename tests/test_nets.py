"""``poolkit.digits`` and ``poolkit.nets``, notebook 06's data and networks, against torch:
the grouped training gives each seed the network it would get alone, the hand-written Adam
is ``torch.optim.Adam``, batch norm ends with the training set's exact statistics, and the
digits move on the canvas exactly as ``torch.roll`` moves them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from poolkit import digits, nets
from torch import nn


def blur(x, stride=2):
    """A blur for the blur variant: [1, 2, 1] ⊗ [1, 2, 1] / 16, reflect padding, depthwise."""
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, stride=stride, groups=x.shape[1])


@pytest.fixture(scope="module")
def data():
    split = digits.split(200, 50)
    return split, digits.place(split.train_images)


def test_the_split_is_fixed_and_disjoint():
    a, b = digits.split(1000, 300), digits.split(1000, 300)
    assert np.array_equal(a.test_index, b.test_index)
    assert len(a.train_index) == 1000 and len(a.test_index) == 300
    assert not set(a.train_index) & set(a.test_index)
    images, labels = digits.load()
    assert np.array_equal(a.train_images, images[a.train_index])
    assert np.array_equal(a.test_labels, labels[a.test_index])
    assert not np.array_equal(digits.split(1000, 300, seed=1).test_index, a.test_index)
    with pytest.raises(ValueError, match="n_test must be between 1 and 797, got 900"):
        digits.split(1000, 900)
    with pytest.raises(ValueError, match="n_train must be an int, got 10.0 of type float"):
        digits.split(10.0)


def test_moving_a_digit_is_rolling_the_centred_canvas():
    images, _ = digits.load()
    centred = digits.place(images[:20])
    assert centred.shape == (20, 1, 16, 16) and centred.dtype == torch.float32
    assert torch.equal(centred[:, 0, 4:12, 4:12], torch.from_numpy(images[:20]))
    for dy, dx in digits.shifts(4):
        rolled = torch.roll(centred, (dy, dx), dims=(2, 3))
        assert torch.equal(digits.place(images[:20], dy, dx), rolled), (dy, dx)
    assert len(digits.shifts(3)) == 49 and digits.shifts(1)[0] == (-1, -1)
    with pytest.raises(ValueError, match="dx must be between -4 and 4, got 5"):
        digits.place(images[:2], 0, 5)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 8, 8\)"):
        digits.place(np.zeros((2, 16, 16)))


def test_every_variant_has_the_same_parameters_and_map_sizes(data):
    split, x = data
    # conv1 8·9, bn1 2·8, conv2 16·8·9, bn2 2·16, fc 16·10 + 10 (no bias before batch norm)
    expected = 8 * 9 + 2 * 8 + 16 * 8 * 9 + 2 * 16 + 16 * 10 + 10
    halved = [(2, 8, 8, 8), (2, 16, 4, 4)]
    sizes = {"max": halved, "avg": halved, "strided": halved, "blur": halved,
             "none": [(2, 8, 16, 16), (2, 16, 16, 16)]}  # fmt: skip
    for variant in nets.VARIANTS:
        trained = nets.train(variant, x[:64], split.train_labels[:64], (0,), 1, blur=blur)
        member = trained.member(0)
        assert sum(p.numel() for p in member.parameters()) == expected == 1442
        assert [tuple(m.shape) for m in member.features(x[:2])] == sizes[variant], variant


def test_each_seed_gets_the_network_it_would_get_alone(data):
    split, x = data
    together = nets.train("blur", x, split.train_labels, seeds=(3, 7), steps=15, blur=blur)
    alone = nets.train("blur", x, split.train_labels, seeds=(7,), steps=15, blur=blur)
    a, b = together.member(1), alone.member(0)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-5, msg=name)
    torch.testing.assert_close(together.logits(x[:30])[:, 1], a(x[:30]), rtol=1e-4, atol=1e-5)


def test_untrained_layers_are_pytorchs_defaults():
    trained = nets.train("max", torch.zeros(4, 1, 16, 16), [0, 1, 2, 3], seeds=(5, 9), steps=0)
    for index, seed in enumerate((5, 9)):
        torch.manual_seed(seed)
        conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        fc = nn.Linear(16, 10)
        member = trained.member(index)
        for mine, theirs in ((member.conv1, conv1), (member.conv2, conv2), (member.fc, fc)):
            assert torch.equal(mine.weight, theirs.weight)
        assert member.conv1.bias is None and torch.equal(member.fc.bias, fc.bias)


def test_training_is_adam_with_batch_norm_as_torch_keeps_it(data):
    split, x = data
    steps, lr = 6, 0.01
    trained = nets.train("avg", x, split.train_labels, seeds=(4,), steps=steps, lr=lr)
    torch.manual_seed(4)
    conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
    conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    fc = nn.Linear(16, 10)
    bn1, bn2 = nn.BatchNorm2d(8), nn.BatchNorm2d(16)
    model = nn.Sequential(
        conv1, bn1, nn.ReLU(), nn.AvgPool2d(2), conv2, bn2, nn.ReLU(), nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc,
    )  # fmt: skip
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    labels = torch.from_numpy(split.train_labels)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=generator)
    model.train()
    for step in range(steps):
        batch = order[32 * step : 32 * (step + 1)]
        optimiser.zero_grad()
        F.cross_entropy(model(x[batch]), labels[batch]).backward()
        optimiser.step()
    member = trained.member(0)
    for mine, theirs in ((member.conv1, conv1), (member.conv2, conv2), (member.fc, fc)):
        torch.testing.assert_close(mine.weight, theirs.weight, rtol=1e-4, atol=1e-6)
    # Batch norm's running statistics, kept as nn.BatchNorm2d keeps them.
    for mine, theirs in ((member.bn1, bn1), (member.bn2, bn2)):
        torch.testing.assert_close(mine.running_mean, theirs.running_mean, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(mine.running_var, theirs.running_var, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(mine.weight, theirs.weight, rtol=1e-4, atol=1e-6)


def test_training_is_deterministic(data):
    split, x = data
    runs = [nets.train("max", x, split.train_labels, (1, 2), 10).params for _ in range(2)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_accuracy_by_shift_is_each_members_accuracy_at_each_offset(data):
    split, x = data
    labels = torch.from_numpy(split.test_labels)
    for variant in ("strided", "max", "blur", "none"):
        trained = nets.train(variant, x, split.train_labels, (0, 1), 20, blur=blur)
        acc = nets.accuracy_by_shift(trained, split.test_images, split.test_labels, 3)
        assert acc.shape == (2, 7, 7) and acc.dtype == np.float64
        assert 0 < acc.mean() < 1  # neither all right nor all wrong: the comparison can fail
        for s in (0, 1):
            member = trained.member(s)
            for dy, dx in digits.shifts(3):
                with torch.no_grad():
                    guess = member(digits.place(split.test_images, dy, dx)).argmax(dim=1)
                expected = (guess == labels).double().mean().item()
                assert acc[s, 3 + dy, 3 + dx] == expected, (variant, s, dy, dx)


def test_bad_arguments_name_the_argument_and_the_rule():
    x = torch.zeros(4, 1, 16, 16)
    with pytest.raises(ValueError, match="variant must be one of max, avg, strided, blur"):
        nets.train("maxpool", x, [0] * 4)
    with pytest.raises(ValueError, match="the blur variant needs blur="):
        nets.train("blur", x, [0] * 4)
    with pytest.raises(ValueError, match=r"images must be \(N, 1, H, W\) with one label each"):
        nets.train("max", x, [0] * 3)


def test_the_stride_1_max_is_torchs():
    x = torch.randint(-3, 4, (5, 6, 9, 16)).float()  # integers: ties everywhere
    x[0, 0, 0, 0] = float("-inf")
    assert torch.equal(nets._max_2x2_stride_1(x), F.max_pool2d(x, 2, stride=1))


def _reach(member, size: int = 40) -> tuple[int, int]:
    """The receptive field of the last feature map, measured: which input rows can change
    its pixel (r, r), r in the middle, and its neighbour (r + 1, r), found by adding 100 to
    one input pixel at a time. The network is made monotone first (all-ones filters, batch
    norm the identity), so a larger input never lowers an output and every input that can
    reach one does. Returns (extent, how far down the neighbour's rows start)."""
    with torch.no_grad():
        for module in member.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0)
            if isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0), module.bias.zero_()
                module.running_mean.zero_(), module.running_var.fill_(1.0 - module.eps)
        base = torch.ones(1, 1, size, size)
        pokes = base.repeat(size, 1, 1, 1)
        pokes[torch.arange(size), 0, torch.arange(size), size // 2] += 100.0
        out = member.features(torch.cat([base, pokes]))[-1][:, 0]
        r = out.shape[-1] // 2
        rows = [torch.nonzero(out[1:, i, r] != out[0, i, r]).flatten() for i in (r, r + 1)]
    assert len(rows[0]) and len(rows[1]), "the poked column misses the field"
    return int(rows[0][-1] - rows[0][0] + 1), int(rows[1][0] - rows[0][0])


def test_each_variants_layers_are_the_network_it_builds():
    """nets.LAYERS, through the receptive-field rule, gives the field the network has."""
    from poolkey.invariance import receptive_field

    for variant in nets.VARIANTS:
        x = torch.zeros(2, 1, 16, 16)
        member = nets.train(variant, x, [0, 1], (0,), 0, blur=blur).member(0)
        assert receptive_field(nets.LAYERS[variant])[-1] == _reach(member), variant


def test_operation_counts_are_notebook_03s_for_each_layer():
    """Each layer's counts against poolkey.cost (03's answer key): conv2d_cost for the
    convolutions (the blur is one 1-channel convolution per channel), pool2d_cost for the
    poolings and for global average pooling (one window as large as the map); the shapes
    against the network's own maps."""
    from poolkey.cost import conv2d_cost, pool2d_cost

    x = torch.zeros(2, 1, 16, 16)
    for variant in nets.VARIANTS:
        rows = nets.operation_counts(variant)
        member = nets.train(variant, x, [0, 1], (0,), 0, blur=blur).member(0)
        maps = member.features(torch.zeros(1, 1, 16, 16))
        ends = [i for i, r in enumerate(rows) if r["layer"].startswith("conv")][1:]
        block_ends = [rows[i - 1] for i in ends] + [rows[-3]]
        assert [r["shape"] for r in block_ends] == [tuple(m.shape[1:]) for m in maps], variant
        shape = (1, 16, 16)
        for r in rows:
            c, h, w = shape
            layer, expected = r["layer"], None
            if layer.startswith("conv"):
                stride = 2 if variant == "strided" else 1
                cost = conv2d_cost(c, r["shape"][0], h, w, 3, stride, 1)
                expected = {"multiply_adds": cost["multiply_adds"]}
            elif layer.startswith("blur"):
                cost = conv2d_cost(1, 1, h, w, 3, 2, 1)
                expected = {"multiply_adds": c * cost["multiply_adds"]}
            elif layer.startswith(("max", "average")):
                mode = "max" if layer.startswith("max") else "avg"
                stride = int(layer.rsplit(" ", 1)[1])
                expected = pool2d_cost(c, h, w, 2, stride, mode=mode)
            elif layer.startswith("global"):
                expected = pool2d_cost(c, h, w, (h, w), mode="avg")
            else:
                expected = {"multiply_adds": c * 10}
            expected = {op: expected.get(op, 0) for op in nets.OPERATIONS}
            assert {op: r[op] for op in nets.OPERATIONS} == expected, (variant, layer)
            shape = r["shape"] if not layer.startswith("global") else (c, 1, 1)
    with pytest.raises(ValueError, match="variant must be one of"):
        nets.operation_counts("mean")


def test_recalibrated_statistics_are_torchs_precise_batch_norm(data):
    # recalibrate=n: the running statistics nn.BatchNorm2d(momentum=None) keeps after
    # reset_running_stats() and one training-mode pass over the first n digits.
    split, x = data
    trained = nets.train("max", x, split.train_labels, seeds=(3,), steps=5, recalibrate=120)
    member = trained.member(0)
    conv1, bn1, conv2, bn2 = member.conv1, member.bn1, member.conv2, member.bn2
    torch_bn1, torch_bn2 = nn.BatchNorm2d(8, momentum=None), nn.BatchNorm2d(16, momentum=None)
    for mine, theirs in ((bn1, torch_bn1), (bn2, torch_bn2)):
        theirs.load_state_dict(mine.state_dict())
        theirs.momentum = None
        theirs.reset_running_stats()
    model = nn.Sequential(
        conv1, torch_bn1, nn.ReLU(), nn.MaxPool2d(2), conv2, torch_bn2, nn.ReLU(),
    ).train()  # fmt: skip
    with torch.no_grad():
        model(x[:120])
    for mine, theirs in ((bn1, torch_bn1), (bn2, torch_bn2)):
        torch.testing.assert_close(mine.running_mean, theirs.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(mine.running_var, theirs.running_var, rtol=1e-5, atol=1e-6)
    # ... and they are not what training alone left (the moving average).
    plain = nets.train("max", x, split.train_labels, seeds=(3,), steps=5).member(0)
    assert not torch.allclose(plain.bn2.running_var, bn2.running_var, rtol=1e-2)
    with pytest.raises(ValueError, match="recalibrate must be at least 0, got -1"):
        nets.train("max", x, split.train_labels, seeds=(3,), steps=1, recalibrate=-1)
