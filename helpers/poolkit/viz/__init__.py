"""Plots and widgets for the notebooks, one submodule per kind of picture.

- ``poolkit.viz.windows``: pooling windows drawn over the numbers, images, the window explorer.
- ``poolkit.viz.soft``: the soft-pooling temperature slider on a photo (notebook 02).
- ``poolkit.viz.cost``: what each window reads, time against operation counts (notebook 03).
- ``poolkit.viz.gradients``: gradient-count heatmaps and their explorer (notebook 04).
- ``poolkit.viz.training``: loss curves and the learning-rate slider (notebook 05).
- ``poolkit.viz.shifts``: what a trained network sees of a moved digit, and its explorer
  (notebook 06).

Here: ``show`` (what an ``ipywidgets.Output`` shows, set as its state) and ``interact``
(``ipywidgets.interact`` drawn that way), how every widget of the course draws without
capturing output.

Import the submodule you need; this package imports nothing heavy by itself.
"""


def show(out, *items) -> None:
    """Replace what the ``ipywidgets.Output`` ``out`` shows with ``items``, in order: a
    ``str`` as a printed line, anything else as ``display`` would show it.

    The outputs are set as the widget's state, not captured with ``with out:``. Captured
    output makes nbclient (``nbconvert --execute``, nbgrader's Validate and autograde)
    answer the kernel on the shell channel while the cell runs, and now and then the cell's
    reply is then lost until the cell timeout (jupyter/nbclient#312; measured by
    ``benchmarks/widget_stall.py``). State sent from the kernel gets no answer.
    """
    from IPython import get_ipython
    from IPython.core.formatters import DisplayFormatter

    shell = get_ipython()
    formatter = shell.display_formatter if shell is not None else DisplayFormatter()
    outputs = []
    for item in items:
        if isinstance(item, str):
            outputs.append({"output_type": "stream", "name": "stdout", "text": item + "\n"})
        else:
            data, metadata = formatter.format(item)
            outputs.append({"output_type": "display_data", "data": data, "metadata": metadata})
    out.outputs = tuple(outputs)


def interact(func, **abbreviations):
    """``ipywidgets.interact(func, **abbreviations)``, drawn the way ``show`` draws: one
    control per keyword (the same abbreviations: ``(3, 7)`` a slider, a list a dropdown, a
    bool a checkbox), and below them what ``func`` prints and displays (``plt.show()``
    included), run again whenever a control moves. Returns the box, which a cell shows.
    """
    import inspect
    import traceback

    import ipywidgets as w
    from IPython.utils.capture import capture_output

    parameters = inspect.signature(func).parameters
    controls = {}
    for name, abbreviation in abbreviations.items():
        if name not in parameters:
            raise TypeError(
                f"interact: {name}={abbreviation!r} names no parameter of "
                f"{getattr(func, '__name__', func)}; its parameters are {list(parameters)}"
            )
        control = w.interactive.widget_from_abbrev(abbreviation, parameters[name].default)
        control.description = name
        controls[name] = control
    out = w.Output()

    def update(*_):
        with capture_output() as captured:
            try:
                func(**{name: control.value for name, control in controls.items()})
            except Exception:  # shown below the controls, as interact shows it
                print(traceback.format_exc(limit=-1), end="")
        items = [captured.stdout.rstrip("\n")] if captured.stdout else []
        show(out, *items, *captured.outputs)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return w.VBox([*controls.values(), out])
