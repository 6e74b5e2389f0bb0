"""Plotly figures for the course, and the renderer that shows them everywhere.

Every figure is a plain ``plotly.graph_objects.Figure`` built from numbers rounded on the CPU,
so a notebook's stored output is the same on a laptop CPU and on a GPU.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import plotly.graph_objects as go
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


def setup_notebook() -> str:
    """Pick the plotly renderer for where this kernel runs: Colab's own, else the course renderer (its name)."""
    name = "colab" if "google.colab" in sys.modules else "mha"
    pio.renderers.default = name
    return name


# ---------------------------------------------------------------- figures


def _rounded(values, decimals: int = 3):
    """A NumPy copy of ``values`` (tensor or array) on the CPU, rounded so outputs match across devices."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.round(np.asarray(values, dtype=float), decimals)


def attention_heatmap(weights, tokens, title: str = "Attention weights", height: int = 420) -> go.Figure:
    """A heatmap of one head's weights (T_q, T_k): row = the token that looks, column = the token looked at."""
    w = _rounded(weights)
    if w.ndim != 2 or w.shape != (len(tokens), len(tokens)):
        raise ValueError(
            f"weights must have shape ({len(tokens)}, {len(tokens)}) for {len(tokens)} tokens, got {w.shape}"
        )
    labels = _unique_labels(tokens)
    fig = go.Figure(
        go.Heatmap(
            z=w,
            x=labels,
            y=labels,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar=dict(title="weight"),
            hovertemplate="%{y} looks at %{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=height, margin=dict(l=80, r=20, t=50, b=80))
    fig.update_xaxes(title="key (looked at)", tickangle=-45)
    fig.update_yaxes(title="query (looking)", autorange="reversed")
    return fig


def _unique_labels(tokens) -> list[str]:
    """Plotly merges equal category labels; number repeated tokens ("the", "the#2") to keep them apart."""
    seen: dict[str, int] = {}
    labels = []
    for tok in tokens:
        seen[tok] = seen.get(tok, 0) + 1
        labels.append(tok if seen[tok] == 1 else f"{tok}#{seen[tok]}")
    return labels


def head_heatmaps(
    weights,
    tokens,
    title: str = "Attention weights of each head",
    cols: int | None = None,
    zmax: float | None = 1.0,
    height: int | None = None,
) -> go.Figure:
    """One heatmap per head, side by side, on one color scale shared by every head.

    weights: (h, T, T), the weights of h heads for one sentence (row = query, column = key).
    cols: subplots per row (default: up to 4). zmax: the top of the color scale (default 1; None = the
    largest weight of all heads, to make small differences visible). Returns a figure with h heatmap traces.
    """
    from plotly.subplots import make_subplots

    w = _rounded(weights)
    T = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (T, T) or w.shape[0] == 0:
        raise ValueError(f"weights must have shape (h, {T}, {T}) for {T} tokens and h >= 1 heads, got {w.shape}")
    h = w.shape[0]
    cols = min(h, 4) if cols is None else cols
    if isinstance(cols, bool) or not isinstance(cols, int) or cols <= 0:
        raise ValueError(f"cols must be a positive int, got {cols!r}")
    cols = min(cols, h)
    rows = -(-h // cols)  # ceil(h / cols)
    zmax = float(w.max()) if zmax is None else zmax
    labels = _unique_labels(tokens)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"head {i + 1}" for i in range(h)],
        horizontal_spacing=0.04,
        vertical_spacing=0.12 if rows > 1 else 0.0,
        shared_yaxes=True,
    )
    for i in range(h):
        fig.add_trace(
            go.Heatmap(
                z=w[i],
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                hovertemplate=f"head {i + 1}: " + "%{y} looks at %{x}: %{z:.2f}<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_layout(
        title=title,
        height=height or 120 + 300 * rows,
        coloraxis=dict(colorscale="Blues", cmin=0, cmax=zmax, colorbar=dict(title="weight")),
        margin=dict(l=80, r=20, t=80, b=40),
    )
    fig.update_xaxes(tickangle=-45, tickfont=dict(size=9))
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9))
    fig.update_yaxes(title="query (looking)", col=1)
    fig.update_xaxes(title="key (looked at)", row=rows)
    return fig
