"""Plausible wrong answers, at least one per assignment, for the pipeline tests.

Each is made from the model answer by one small edit, the kind of slip students make.
An entry is (answer cell grade_id, the wrong source, the test cells that must score 0);
every other auto-graded cell must keep full marks: a mistake costs only its own exercise.
"""

import nbformat
from nbgrader_course import REPO, is_answer, nb_meta, notebook_path, strip_markers

# assignment -> [(answer grade_id, text in the model answer, its wrong replacement, tests)]
SLIPS = {
    "01-pooling-basics": [
        # ceil_mode without torch's rule that drops a window starting in the right padding
        (
            "pool_output_size",
            "    if (out - 1) * stride >= size + padding:\n        out -= 1\n",
            "",
            {"test_pool_output_size"},
        ),
    ],
    "02-pooling-as-convolution": [
        # a dense C×C kernel instead of a depthwise one: channels get mixed
        (
            "avg_pool_as_conv",
            "    weight = torch.full((channels, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype, "
            "device=x.device)\n    return F.conv2d(x, weight, stride=stride, padding=padding, "
            "groups=channels)",
            "    weight = torch.full((channels, channels, kh, kw), 1.0 / (kh * kw * channels), "
            "dtype=x.dtype, device=x.device)\n    return F.conv2d(x, weight, stride=stride, "
            "padding=padding)",
            {"test_avg_pool_as_conv"},
        ),
    ],
    "03-compute-cost": [
        # every window reads the full k×k, ignoring the border and padding
        (
            "pool2d_cost",
            "    work = channels * rows * cols - outputs\n",
            "    work = outputs * (kh * kw - 1)\n",
            {"test_pool2d_cost"},
        ),
        # the right counts from a loop over every output: the rule's time limit catches it
        # (the test measures the kernel's CPU time, so a busy grading machine cannot)
        (
            "pool2d_cost",
            "    oh, rows = reads_along(height, kh, sh, ph)\n"
            "    ow, cols = reads_along(width, kw, sw, pw)\n"
            "    outputs = channels * oh * ow\n"
            "    work = channels * rows * cols - outputs\n",
            "    def span(i, size, k, s, p):\n"
            "        lo, hi = (-p, size + p) if reads_padding else (0, size)\n"
            "        return min(hi, i * s - p + k) - max(lo, i * s - p)\n"
            "\n"
            "    oh = output_size(height, kh, sh, ph, ceil_mode)\n"
            "    ow = output_size(width, kw, sw, pw, ceil_mode)\n"
            "    outputs = channels * oh * ow\n"
            "    work = channels * sum(\n"
            "        span(i, height, kh, sh, ph) * span(j, width, kw, sw, pw)\n"
            "        for i in range(oh)\n"
            "        for j in range(ow)\n"
            "    ) - outputs\n",
            {"test_pool2d_cost"},
        ),
    ],
    "04-backprop": [
        # `=` where overlapping windows must accumulate with `+=`
        (
            "max_pool2d_backward",
            "dx[n, c, i * s + dr, j * s + dc] += dy[n, c, i, j]",
            "dx[n, c, i * s + dr, j * s + dc] = dy[n, c, i, j]",
            {"test_max_pool2d_backward"},
        ),
        # CS231n's mask `window == window.max()`, with tied maxima sharing the gradient
        # (test_course_feedback.py reads this student's feedback)
        (
            "max_pool2d_backward",
            "                    dr, dc = np.unravel_index(np.argmax(window), window.shape)\n"
            "                    dx[n, c, i * s + dr, j * s + dc] += dy[n, c, i, j]\n",
            "                    tied = window == window.max()\n"
            "                    dx[n, c, i * s : i * s + k, j * s : j * s + k] += (\n"
            "                        tied * dy[n, c, i, j] / tied.sum()\n"
            "                    )\n",
            {"test_max_pool2d_backward"},
        ),
        # buffered fancy indexing: a position that several windows name keeps one share
        (
            "max_pool2d_backward_indices",
            "np.add.at(dx, (planes, flat), g)",
            "dx[planes, flat] += g",
            {"test_max_pool2d_backward_indices"},
        ),
        # every window divided by k², as without padding: wrong at the edges
        (
            "avg_pool2d_backward_padded",
            "(dy[:, :, i, j] / (n_rows * n_cols))",
            "(dy[:, :, i, j] / (k * k))",
            {"test_avg_pool2d_backward_padded"},
        ),
    ],
    "05-conv-pool-mse-sgd": [
        # average pooling's 1/n forgotten in the chain rule
        (
            "backward",
            "np.full(sigma.shape, dL_dS / sigma.size)",
            "np.full(sigma.shape, dL_dS)",
            {"test_backward"},
        ),
        # the squared error's factor 2 forgotten: C taken for the Hessian, so 2 / λmax(C)
        (
            "critical_learning_rate",
            "return float(1.0 / np.linalg.eigvalsh(curvature)[-1])",
            "return float(2.0 / np.linalg.eigvalsh(curvature)[-1])",
            {"test_critical_learning_rate"},
        ),
    ],
    "06-pooling-in-a-trained-network": [
        # zero padding instead of reflection: the border pixels come out too dark
        (
            "blur_pool2d",
            'padded = F.pad(x, (1, 1, 1, 1), mode="reflect")',
            "padded = F.pad(x, (1, 1, 1, 1))",
            {"test_blur_pool2d"},
        ),
        # the jump forgotten: every layer's kernel counted in input pixels
        (
            "receptive_field",
            "        size += (kernel - 1) * dilation * jump\n",
            "        size += (kernel - 1) * dilation\n",
            {"test_receptive_field"},
        ),
    ],
}


def _wrong_answers():
    out = {}
    for assignment, slips in SLIPS.items():
        path = notebook_path(REPO, "solutions", assignment)
        if not path.exists():
            continue
        answers = {
            nb_meta(c)["grade_id"]: strip_markers(c.source)
            for c in nbformat.read(path, as_version=4).cells
            if is_answer(c)
        }
        out[assignment] = []
        for answer_id, right, wrong, tests in slips:
            source = answers[answer_id]
            assert right in source, f"{assignment}/{answer_id}: the slip no longer applies"
            out[assignment].append((answer_id, source.replace(right, wrong), tests))
    return out


WRONG_ANSWERS = _wrong_answers()
