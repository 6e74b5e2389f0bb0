"""Interactive explorers: sliders that change num_heads, d_model and the sentence, and redraw at once.

Each explorer has ``set(**params)`` (changes settings and redraws, synchronously), ``figure`` (the current
plotly figure), ``message`` ("" when the settings are valid, else what is wrong and what would work) and
``widget`` (the ipywidgets box to display; the explorer itself displays as that box). A bad setting never
raises into the notebook: it shows a message and keeps the last good figure.

Where ipywidgets 8 runs (JupyterLab, Notebook 7, VS Code) the figure is drawn into a ``figure_pane.FigurePane``,
which redraws it in place in the browser (one plotly.js drawing per move); under ipywidgets 7 (classic Notebook,
Colab) into an ``ipywidgets.Output`` by the course's renderer, as every other figure of the notebooks. Each
explorer also has ``static_figure()``: a plotly figure with sliders over precomputed settings, which works on a
page with no kernel (the rendered book).

In a front end: an explorer's output carries, next to the widget, a short HTML note ("Run this cell to start
the explorer") that front ends show when the widget itself cannot be shown (a notebook opened before its kernel
has run); anything that takes longer than half a second (training) shows a progress bar that starts at zero
once the explorer is on the screen.

This package only wires controls to what lies below it: the figures come from ``mha.viz``, the made-up
embeddings of random heads from ``mha.data``, the trained toy models and their settings from ``mha.train``.
"""

from mha.data import EXAMPLE_SENTENCE
from mha.widgets.base import NOT_STARTED_HTML, SettingError
from mha.widgets.head_explorer import HeadExplorer
from mha.widgets.shape_explorer import ShapeExplorer
from mha.widgets.train_explorer import TrainExplorer

__all__ = [
    "EXAMPLE_SENTENCE",
    "HeadExplorer",
    "NOT_STARTED_HTML",
    "SettingError",
    "ShapeExplorer",
    "TrainExplorer",
]
