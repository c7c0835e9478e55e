"""``poolkit.viz.shifts``: the view of a moved digit is what the network computes, and the
explorer redraws it when a control moves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from poolkit import digits, nets  # noqa: E402
from poolkit.viz.shifts import plot_shift_view, shift_explorer, shift_view  # noqa: E402
from test_nets import blur  # noqa: E402


def _trained():
    split = digits.split(200, 20)
    x = digits.place(split.train_images)
    return split, {v: nets.train(v, x, split.train_labels, (0, 1), 10, blur=blur)
                   for v in ("max", "blur", "none")}  # fmt: skip


def test_the_view_is_what_the_network_computes():
    split, trained = _trained()
    for variant, t in trained.items():
        member = t.member(1)
        view = shift_view(member, split.test_images[3], split.test_labels[3], -2, 3)
        canvas = digits.place(split.test_images[3:4], -2, 3)
        assert np.array_equal(view.canvas, canvas[0, 0].numpy())
        with torch.no_grad():
            logits = member(canvas)[0]
            maps = member.features(canvas)
        np.testing.assert_allclose(view.probabilities, torch.softmax(logits, 0).numpy(),
                                   rtol=1e-6)  # fmt: skip
        assert view.predicted == int(logits.argmax())
        assert [m.shape for m in view.maps] == [tuple(m.shape[2:]) for m in maps], variant
        fig = plot_shift_view(view)
        assert len(fig.axes) == 4 and f"predicts {view.predicted}" in fig.axes[3].get_title()
        matplotlib.pyplot.close(fig)


def test_the_explorer_redraws_when_a_control_moves():
    split, trained = _trained()
    box = shift_explorer(trained, split.test_images, split.test_labels)
    out = box.children[-1]
    first = out.outputs
    assert first and any(o.get("output_type") == "display_data" for o in first)
    dx = box.children[1].children[1]
    dx.value = 2
    assert out.outputs != first
    variant = box.children[0].children[0]
    assert list(variant.options) == ["max", "blur", "none"]
    variant.value = "none"
    text = [o["text"] for o in out.outputs if o.get("output_type") == "stream"]
    assert text and text[0].startswith("none, seed 0, digit 0 (a ") and "moved (+0, +2)" in text[0]
