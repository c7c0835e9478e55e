"""Plots and widgets for the notebooks, one submodule per kind of picture.

- ``poolkit.viz.windows``: pooling windows drawn over the numbers, images, the window explorer.
- ``poolkit.viz.soft``: the soft-pooling temperature slider on a photo (notebook 02).
- ``poolkit.viz.cost``: what each window reads, time against operation counts (notebook 03).
- ``poolkit.viz.gradients``: gradient-count heatmaps and their explorer (notebook 04).
- ``poolkit.viz.training``: loss curves and the learning-rate slider (notebook 05).

Import the submodule you need; this package imports nothing heavy by itself.
"""
