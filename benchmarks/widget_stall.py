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
``poolgrader.execute.SafeExecute`` does); and with the emulation, for cells that set the
same view as the widget's state (``poolkit.viz.show``, what the course's widgets do). It
prints, for each, how many runs had a cell that reached the timeout. A script, not a
test: it asserts nothing.
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


# The same view, set as the widget's state from the kernel (poolkit.viz.show): nbclient
# sends nothing back.
STATE_CELL = """
import ipywidgets as w
from IPython.display import HTML
from poolkit.viz import show

out = w.Output()
slider = w.IntSlider(value=3)
show(out, HTML("<p>first</p>"), HTML("<p>second</p>"))
w.VBox([slider, out])
"""


def notebook(cell=WIDGET_CELL):
    cells = []
    for i in range(10):
        cells += [new_code_cell(cell), new_code_cell(f"x = {i}\nprint(x)")]
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": spec})


def slowest_cell(emulate: bool, cell: str = WIDGET_CELL) -> float:
    client = NotebookClient(notebook(cell), timeout=TIMEOUT, interrupt_on_timeout=True,
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
    for emulate, cell, name in (
        (True, WIDGET_CELL, "nbclient's Output emulation (stock)"),
        (False, WIDGET_CELL, "no emulation (poolgrader)"),
        (True, STATE_CELL, "emulation, outputs set as state (poolkit)"),
    ):
        started = time.perf_counter()
        slowest = [slowest_cell(emulate, cell) for _ in range(args.runs)]
        stalled = sum(s >= TIMEOUT - 0.5 for s in slowest)
        print(
            f"  {name:<38} runs that reached the timeout: {stalled}/{args.runs} "
            f"({time.perf_counter() - started:.0f} s in all)"
        )


if __name__ == "__main__":
    main()
