"""Rendering: the plotly renderer "mha" that shows a figure everywhere, and numbers that render the same everywhere.

Every figure of the course is built from numbers rounded on the CPU (``rounded``), so a notebook's stored
output is the same on a laptop CPU and on a GPU. The renderer puts each figure into an output twice, as plotly
JSON (for JupyterLab, Notebook 7, VS Code) and as static HTML whose div id is derived from the figure (for the
book, which has no kernel, and for classic Notebook 6.5, which has no renderer for plotly JSON), so the output is
identical from run to run and nbval can compare it.

Where the HTML finds no ``Plotly`` (classic Notebook), it loads plotly.js itself: first from the Jupyter server's
``nbextensions/mha/`` folder, where ``setup_notebook()`` puts a copy of the plotly.js that plotly.py ships
(offline), else from plotly's CDN. Figures on one page share one load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer, PlotlyRenderer

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# A figure's script draws through this when the page has no global Plotly (classic Notebook): it loads plotly.js
# once per page, with requirejs where the page has it (classic Notebook does; a plain <script> would clash with
# it), from the server's nbextensions/mha/ (offline), else the CDN; if both fail, the figure's div says so.
_LOAD_PLOTLY = """(function (draw, id, version) {
  var w = window;
  if (w.Plotly) { draw(); return; }
  if (w.mhaPlotlyQueue) { w.mhaPlotlyQueue.push(draw); return; }
  w.mhaPlotlyQueue = [draw];
  var base = document.body.getAttribute("data-base-url");
  var urls = (base === null ? [] : [base + "nbextensions/mha/plotly-" + version + ".min.js"]);
  urls.push("https://cdn.plot.ly/plotly-" + version + ".min.js");
  function ready(P) { w.Plotly = w.Plotly || P; w.mhaPlotlyQueue.splice(0).forEach(function (d) { d(); }); }
  function fail() {
    var div = document.getElementById(id);
    var text = "plotly.js " + version + " could not be loaded, so this figure cannot be drawn here.";
    if (div) { div.textContent = text; }
  }
  function next(i) {
    if (i >= urls.length) { w.mhaPlotlyQueue = null; fail(); return; }
    if (typeof w.require === "function" && typeof w.define === "function" && w.define.amd) {
      w.require([urls[i]], ready, function () { next(i + 1); });
    } else {
      var s = document.createElement("script");
      s.src = urls[i];
      s.onload = function () { ready(w.Plotly); };
      s.onerror = function () { next(i + 1); };
      document.head.appendChild(s);
    }
  }
  next(0);
})"""


class CourseRenderer(MimetypeRenderer):
    """Emit each figure twice in one output: plotly JSON and static HTML.

    JupyterLab, Notebook 7 and VS Code draw the plotly JSON. The Jupyter Book page cannot, so it uses
    the HTML, a div plus a ``Plotly.newPlot`` call; plotly.js itself is served by the book
    (see ``_ext/plotly_offline.py``), so pages work offline. The div id is derived from the figure,
    so the output is identical from run to run (nbval compares it).
    """

    def to_mimebundle(self, fig_dict):
        bundle = PlotlyRenderer(config=PLOTLY_CONFIG).to_mimebundle(fig_dict)
        figure_text = json.dumps(bundle["application/vnd.plotly.v1+json"], sort_keys=True)
        div_id = "mha-" + hashlib.sha1(figure_text.encode()).hexdigest()[:12]
        height = fig_dict.get("layout", {}).get("height") or 450
        bundle["text/html"] = _self_loading(
            div_id,
            pio.to_html(
                fig_dict,
                config=PLOTLY_CONFIG,
                include_plotlyjs=False,
                full_html=False,
                div_id=div_id,
                default_height=f"{height}px",
                validate=False,
            ),
        )
        return bundle


def plotlyjs_version() -> str:
    """The version of the plotly.js that this plotly.py writes figures for (and ships)."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def plotlyjs_file() -> Path:
    """The plotly.js (minified, about 5 MB) that this plotly.py ships: what figures load where a page has none."""
    return Path(pio.__file__).resolve().parent.parent / "package_data" / "plotly.min.js"


def _self_loading(div_id: str, html: str) -> str:
    """plotly's HTML for one figure, its ``if (div) {Plotly.newPlot(...)}`` drawn through ``_LOAD_PLOTLY``.

    The script still starts with ``window.PLOTLYENV=`` and holds ``Plotly.newPlot(``, as the book's
    ``_ext/plotly_offline.py`` expects; on the book's pages Plotly is there, and the figure draws at once.
    """
    marker = f'if (document.getElementById("{div_id}")) {{'
    start = html.index(marker)
    end = html.rindex("</script>")
    body = html[start:end].rstrip()
    body = body.removesuffix(";").rstrip()
    wrapped = f'{_LOAD_PLOTLY}(function () {{ {body} }}, "{div_id}", "{plotlyjs_version()}");\n'
    return html[:start] + wrapped + html[end:]


pio.renderers["mha"] = CourseRenderer()


def renderer_name() -> str:
    """The renderer for where this kernel runs: Colab's own ("colab"), else the course's ("mha")."""
    return "colab" if "google.colab" in sys.modules else "mha"


def setup_notebook() -> str:
    """Make ``renderer_name()`` plotly's default renderer, and let classic Notebook load plotly.js offline.

    Returns the renderer's name. Prints nothing.
    """
    name = renderer_name()
    pio.renderers.default = name
    if name == "mha":
        serve_plotlyjs()
    return name


def nbextensions_dir() -> Path:
    """The user's Jupyter ``nbextensions`` folder, which classic Notebook serves at ``<base_url>nbextensions/``."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "nbextensions"


def serve_plotlyjs(folder: Path | None = None) -> Path | None:
    """Copy the plotly.js that plotly.py ships to ``folder/mha/plotly-<version>.min.js`` (default: the user's
    Jupyter nbextensions folder), where classic Notebook serves it to the figures' HTML, offline.

    Once per plotly.js version (3-5 MB); the path, or None where the folder cannot be written (the figures then
    load plotly.js from the CDN). Kept apart per version, so two environments never overwrite each other's.
    """
    try:
        target = (folder or nbextensions_dir()) / "mha" / f"plotly-{plotlyjs_version()}.min.js"
        if target.exists():
            return target
        source = plotlyjs_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.copyfile(source, partial)
        os.replace(partial, target)  # atomic: a server never serves half a file
        return target
    except OSError:
        return None


_TEMPLATE: dict = {}


def _templated(layout: dict) -> dict:
    """``layout`` with plotly's default template added, as go.Figure would add it."""
    if "template" not in _TEMPLATE:
        _TEMPLATE["template"] = pio.templates[pio.templates.default or "plotly"].to_plotly_json()
    return dict(layout, template=layout.get("template", _TEMPLATE["template"]))


def display_bundle(data: list, layout: dict) -> dict:
    """The display bundle ({mimetype: content}) of the figure (data, layout) for this front end.

    Built from the figure's plain (data, layout), with plotly's default template added as go.Figure would:
    making a go.Figure first would take most of the time of an explorer's update.
    """
    return pio.renderers[renderer_name()].to_mimebundle({"data": data, "layout": _templated(layout)})


def figure_json(data: list, layout: dict) -> dict:
    """The figure (data, layout) as plotly.js takes it, {"data", "layout", "config"}: plain JSON (arrays as
    plotly's base64 typed arrays), the template added and the course's config, as in ``display_bundle``."""
    bundle = PlotlyRenderer(config=PLOTLY_CONFIG).to_mimebundle({"data": data, "layout": _templated(layout)})
    return bundle["application/vnd.plotly.v1+json"]


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
