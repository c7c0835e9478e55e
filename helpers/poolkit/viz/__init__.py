"""Plots and widgets for the notebooks, one submodule per kind of picture.

- ``poolkit.viz.windows``: pooling windows drawn over the numbers, images, the window explorer.

Later notebooks add their own submodules here. Import the submodule you need; this
package imports nothing heavy by itself.
"""
