#!/usr/bin/env python3
"""How often nbclient stalls on a cell that draws into an ipywidgets ``Output`` widget.

    .venv/bin/python benchmarks/widget_stall.py            # 30 runs each way
    .venv/bin/python benchmarks/widget_stall.py --runs 60

nbclient emulates a frontend for ``Output`` widgets: while the cell runs, it answers the
kernel with comm messages on the shell channel. Sometimes the cell's reply is then not
seen until the cell timeout (jupyter/nbclient#312, open). This is what made poolgrader's
02 and 04 submissions take about 65 s now and then (grading/README.md).

One notebook of 10 cells like the course's widgets (an ``Output`` widget, drawn into with
``clear_output(wait=True)`` and two ``display`` calls, then shown), each followed by a
plain cell, is run ``--runs`` times in fresh kernels with a 5 s cell timeout: with
nbclient's emulation (stock), and without it (no handler for widget comms, what
``poolgrader.execute.SafeExecute`` does). It prints, for each, how many runs had a cell
that reached the timeout. A script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET_CELL = """
import ipywidgets as w
from IPython.display import HTML, display

out = w.Output()
slider = w.IntSlider(value=3)


def update(*_):
    with out:
        out.clear_output(wait=True)
        display(HTML("<p>first</p>"))
        display(HTML("<p>second</p>"))


update()
w.VBox([slider, out])
"""
TIMEOUT = 5


def notebook():
    cells = []
    for i in range(10):
        cells += [new_code_cell(WIDGET_CELL), new_code_cell(f"x = {i}\nprint(x)")]
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": spec})


def slowest_cell(emulate: bool) -> float:
    client = NotebookClient(notebook(), timeout=TIMEOUT, interrupt_on_timeout=True,
                            kernel_name="python3")  # fmt: skip
    if not emulate:
        client.on_comm_open_jupyter_widget = lambda msg: None
    seconds = []
    execute_cell = client.async_execute_cell

    async def timed(cell, index, **kwargs):
        started = time.perf_counter()
        result = await execute_cell(cell, index, **kwargs)
        seconds.append(time.perf_counter() - started)
        return result

    client.async_execute_cell = timed
    client.execute()
    return max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"{args.runs} runs each of a notebook with 10 Output-widget cells, "
          f"{TIMEOUT} s cell timeout")  # fmt: skip
    for emulate, name in ((True, "nbclient's Output emulation (stock)"),
                          (False, "no emulation (poolgrader)")):  # fmt: skip
        started = time.perf_counter()
        slowest = [slowest_cell(emulate) for _ in range(args.runs)]
        stalled = sum(s >= TIMEOUT - 0.5 for s in slowest)
        print(
            f"  {name:<38} runs that reached the timeout: {stalled}/{args.runs} "
            f"({time.perf_counter() - started:.0f} s in all)"
        )


if __name__ == "__main__":
    main()
