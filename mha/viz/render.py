"""Rendering: the plotly renderer "mha" that shows a figure everywhere, and numbers that render the same everywhere.

Every figure of the course is built from numbers rounded on the CPU (``rounded``), so a notebook's stored
output is the same on a laptop CPU and on a GPU. The renderer puts each figure into an output twice, as plotly
JSON (for JupyterLab, Notebook 7, VS Code) and as static HTML whose div id is derived from the figure (for the
book, which has no kernel), so the output is identical from run to run and nbval can compare it.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer, PlotlyRenderer

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class CourseRenderer(MimetypeRenderer):
    """Emit each figure twice in one output: plotly JSON and static HTML.

    JupyterLab, Notebook 7 and VS Code draw the plotly JSON. The Jupyter Book page cannot, so it uses
    the HTML, a div plus a ``Plotly.newPlot`` call; plotly.js itself is served by the book
    (see ``_ext/plotly_offline.py``), so pages work offline. The div id is derived from the figure,
    so the output is identical from run to run (nbval compares it).
    """

    def to_mimebundle(self, fig_dict):
        bundle = PlotlyRenderer(config=PLOTLY_CONFIG).to_mimebundle(fig_dict)
        figure_json = json.dumps(bundle["application/vnd.plotly.v1+json"], sort_keys=True)
        div_id = "mha-" + hashlib.sha1(figure_json.encode()).hexdigest()[:12]
        height = fig_dict.get("layout", {}).get("height") or 450
        bundle["text/html"] = pio.to_html(
            fig_dict,
            config=PLOTLY_CONFIG,
            include_plotlyjs=False,
            full_html=False,
            div_id=div_id,
            default_height=f"{height}px",
            validate=False,
        )
        return bundle


pio.renderers["mha"] = CourseRenderer()


def renderer_name() -> str:
    """The renderer for where this kernel runs: Colab's own ("colab"), else the course's ("mha")."""
    return "colab" if "google.colab" in sys.modules else "mha"


def setup_notebook() -> str:
    """Make ``renderer_name()`` plotly's default renderer; returns its name."""
    name = renderer_name()
    pio.renderers.default = name
    return name


_TEMPLATE: dict = {}


def display_bundle(data: list, layout: dict) -> dict:
    """The display bundle ({mimetype: content}) of the figure (data, layout) for this front end.

    Built from the figure's plain (data, layout), with plotly's default template added as go.Figure would:
    making a go.Figure first would take most of the time of an explorer's update.
    """
    if "template" not in _TEMPLATE:
        _TEMPLATE["template"] = pio.templates[pio.templates.default or "plotly"].to_plotly_json()
    layout = dict(layout, template=layout.get("template", _TEMPLATE["template"]))
    return pio.renderers[renderer_name()].to_mimebundle({"data": data, "layout": layout})


def rounded(values, decimals: int = 3) -> np.ndarray:
    """A NumPy copy of ``values`` (tensor or array, any shape) on the CPU, rounded so outputs match across devices."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.round(np.asarray(values, dtype=float), decimals)


def unique_labels(tokens) -> list[str]:
    """Plotly merges equal category labels; number repeated tokens ("the", "the#2") to keep them apart."""
    seen: dict[str, int] = {}
    labels = []
    for tok in tokens:
        seen[tok] = seen.get(tok, 0) + 1
        labels.append(tok if seen[tok] == 1 else f"{tok}#{seen[tok]}")
    return labels
