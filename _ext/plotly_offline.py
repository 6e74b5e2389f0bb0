"""Sphinx extension: serve plotly.js from the book itself, so figures draw offline.

Notebook outputs made by ``mha.viz.CourseRenderer`` carry a ``text/html`` part that calls
``Plotly.newPlot``; this extension copies the ``plotly.min.js`` of the installed plotly package
into the built site's ``_static`` folder and loads it on every page (no CDN, no crossorigin).
"""

import shutil
from pathlib import Path

import plotly

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _copy_plotly_js(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PLOTLY_JS, static / "plotly.min.js")


def setup(app):
    app.add_js_file("plotly.min.js", priority=100)
    app.connect("build-finished", _copy_plotly_js)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
