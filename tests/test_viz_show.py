"""poolkit.viz.show and poolkit.viz.interact, in a real kernel run by nbclient.

Every widget of the course draws into an ``ipywidgets.Output`` by setting its outputs as
state. Capturing (``with out:``, which ``ipywidgets.interact`` uses) makes nbclient answer
the kernel on the shell channel while the cell runs, and that stalls cells now and then
until the timeout (jupyter/nbclient#312, ``benchmarks/widget_stall.py``).
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from poolkit.viz import interact

SETUP = """\
%matplotlib inline
import matplotlib.pyplot as plt
from poolkit.viz import interact

def explore(size=3, mode="max", flag=True):
    print(f"size {size} mode {mode} flag {flag}")
    if size > 5:
        raise ValueError(f"size {size} is too big")
    plt.plot([0, size])
    plt.show()

box = interact(explore, size=(3, 7), mode=["max", "avg"], flag=True)
box
"""

MOVE = """\
out = box.children[-1]

def shown():
    return [(o["output_type"], o.get("text", "") or sorted(o["data"])) for o in out.outputs]

print("first", shown())
box.children[0].value = 4
box.children[1].value = "avg"
print("moved", shown())
box.children[0].value = 7
print("raised", shown())
"""


def run():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(MOVE)]
    )
    NotebookClient(nb, timeout=60).execute()
    return nb


def test_interact_shows_prints_and_figures_as_state_and_redraws_on_every_move():
    # Read in the kernel while the cell runs: captured output (``with out:``) would reach
    # ``out.outputs`` only after a round trip through the client, so these would be empty.
    nb = run()
    first = nb.cells[0].outputs
    # The cell itself shows only the widget: nothing was captured into the cell.
    assert [o.output_type for o in first] == ["execute_result"], first
    assert "application/vnd.jupyter.widget-view+json" in first[0].data
    text = "".join(o.text for o in nb.cells[1].outputs)
    lines = dict(line.split(" ", 1) for line in text.splitlines())
    figure = "('display_data', ['image/png', 'text/plain'])"
    assert lines["first"] == f"[('stream', 'size 3 mode max flag True\\n'), {figure}]"
    assert lines["moved"] == f"[('stream', 'size 4 mode avg flag True\\n'), {figure}]"
    # An error is shown below the controls, with its message, instead of the figure.
    assert lines["raised"].startswith("[('stream', 'size 7 mode avg flag True\\nTraceback"), text
    assert "ValueError: size 7 is too big" in lines["raised"]
    assert "display_data" not in lines["raised"]


def test_interact_names_a_keyword_that_is_no_parameter():
    def explore(size=3):
        pass

    with pytest.raises(
        TypeError,
        match=r"interact: sise=\(3, 7\) names no parameter of "
        r"explore; its parameters are \['size'\]",
    ):
        interact(explore, sise=(3, 7))
