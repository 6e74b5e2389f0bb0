"""The book's own copy of plotly.js, and how pages load it (_ext/plotly_offline.py)."""

import re
import sys
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "_ext"))

import figure_text  # noqa: E402
import plotly_offline  # noqa: E402


def test_the_bundle_is_the_plotly_js_that_plotly_py_writes_figures_for():
    assert plotly_offline.bundle_version() == plotly.offline.get_plotlyjs_version(), (
        "update _ext/static/plotly-cartesian.min.js: `npm pack plotly.js-cartesian-dist-min@"
        f"{plotly.offline.get_plotlyjs_version()}` and copy its plotly-cartesian.min.js"
    )


def _figure_html(fig=None) -> str:
    from mha import viz  # noqa: F401  (registers the course renderer "mha")

    fig = fig or go.Figure(go.Heatmap(z=[[0, 1], [1, 0]]))
    return plotly.io.renderers["mha"].to_mimebundle(fig.to_dict())["text/html"]


def test_figures_wait_for_the_loader():
    body = "<p>text</p>" + _figure_html() + "<p>more</p>" + _figure_html()
    page = plotly_offline.defer_figures(body, "../_static/plotly-cartesian.min.js")
    assert page.index("window.mhaWhenPlotly") < page.index("Plotly.newPlot(")
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)
    figure_scripts = [s for s in scripts if "Plotly.newPlot(" in s]
    assert len(figure_scripts) == 2
    assert all(s.startswith("mhaWhenPlotly(function () {") and s.endswith("});") for s in figure_scripts), (
        figure_scripts[0][:80]
    )
    assert '"../_static/plotly-cartesian.min.js"' in page
    # dark mode and keyboard controls are installed before the first figure is drawn
    assert page.index("window.mhaFigures = {") < page.index("mhaFigures.install(window.Plotly)")
    assert page.index("mhaFigures.install(window.Plotly)") < page.index("queue.splice(0)")
    assert "<script src=" not in page  # nothing that blocks the first paint


def test_pages_without_figures_load_no_plotly():
    body = "<h1>Introduction</h1><p>No figure here.</p>"
    assert plotly_offline.defer_figures(body, "_static/plotly-cartesian.min.js") == body


def test_every_figure_gets_a_name_a_description_and_its_numbers():
    import numpy as np

    heat = go.Figure(go.Heatmap(z=np.array([[0.25, 0.75], [1.0, 0.0]]), x=["the", "cat"], y=["the", "cat"]))
    heat.update_layout(title="Where each word looks")
    line = go.Figure(go.Scatter(x=np.arange(3), y=np.array([2.5, 1.5, 0.5]), name="loss"))
    line.update_layout(title="Training", xaxis_title="step", yaxis_title="loss")
    body = "<p>a</p>" + _figure_html(heat) + "<p>b</p>" + _figure_html(line)
    page = figure_text.add_text_alternatives(body)
    assert page.count('role="figure"') == 2
    assert 'aria-label="Where each word looks"' in page and 'aria-label="Training"' in page
    assert "A figure with 1 heatmap of 2 by 2 values." in page
    assert "named loss; loss against step." in page
    tables = page.split("<table>")[1:]
    assert len(tables) == 2
    assert "<td>0.25</td><td>0.75</td>" in tables[0] and '<th scope="row">cat</th><td>1</td>' in tables[0]
    assert "<td>2.5</td>" in tables[1] and "<td>0.5</td>" in tables[1]
    # the data block comes after the figure's output, and names the figure it belongs to
    assert page.index("mha-figure-data") > page.index("Plotly.newPlot(")
    assert page.count('data-figure="mha-') == 2
