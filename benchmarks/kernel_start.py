#!/usr/bin/env python3
"""Kernel start: a grading kernel forked from the zygote against a plain ipykernel start.

    .venv/bin/python benchmarks/kernel_start.py             # 3 kernels each way
    .venv/bin/python benchmarks/kernel_start.py --repeats 5

Each way, it starts a kernel with jupyter_client, runs the imports every notebook begins
with (numpy, torch, matplotlib, poolkit) in it, and shuts it down, ``--repeats`` times:

- plain: the stock ``python3`` kernel (a new Python that imports everything itself);
- zygote: the ``poolkit-grading`` kernelspec with a zygote running, as
  ``python -m poolgrader autograde`` starts kernels (forked, sandboxed, libraries already
  imported). The zygote's own start (once per worker) is timed separately.

It prints each time, the medians and their ratio. A script, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

IMPORTS = "import numpy, torch, matplotlib.pyplot, poolkit.checks, poolkey.reference"


def one_kernel(kernel_name: str, cwd: str) -> float:
    started = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=cwd, startup_timeout=300)
    try:
        reply = kc.execute_interactive(IMPORTS, timeout=300)
        assert reply["content"]["status"] == "ok", reply["content"]
        return time.perf_counter() - started
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from poolgrader import zygote
    from poolgrader.autograde import ensure_kernelspec
    from poolgrader.limits import GradingLimits

    ensure_kernelspec()
    cwd = tempfile.mkdtemp(prefix="kernel-start-")
    plain = [one_kernel("python3", cwd) for _ in range(args.repeats)]
    # The sandbox as the grader sets it up, minus the course's folders (none to hide here).
    settings = {"hide": [], "readonly": [], "limits": GradingLimits().limits().as_dict()}
    os.environ[zygote.ENV_SETTINGS] = json.dumps(settings)
    started = time.perf_counter()
    z = zygote.start([], figures=False)
    zygote_start = time.perf_counter() - started
    try:
        forked = [one_kernel("poolkit-grading", cwd) for _ in range(args.repeats)]
    finally:
        z.close()
    Path(cwd).rmdir()
    print(f"plain ipykernel start + imports: {', '.join(f'{t:.2f}' for t in plain)} s")
    print(f"zygote's own start (once per worker): {zygote_start:.2f} s")
    print(f"kernel forked from the zygote + imports: {', '.join(f'{t:.2f}' for t in forked)} s")
    ratio = statistics.median(plain) / statistics.median(forked)
    print(
        f"medians: plain {statistics.median(plain):.2f} s, forked "
        f"{statistics.median(forked):.2f} s; ratio {ratio:.1f}"
    )
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
