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


# ---------------------------------------------------------------- heads in parallel, concatenate and project

HEAD_COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#B279A2", "#72B7B2", "#EECA3B", "#9D755D"]


def _head_colourscale(num_heads: int) -> list:
    """A stepped colour scale: the value i (0 <= i < num_heads) gets the colour of head i."""
    scale = []
    for i in range(num_heads):
        colour = HEAD_COLOURS[i % len(HEAD_COLOURS)]
        scale += [[i / num_heads, colour], [(i + 1) / num_heads, colour]]
    return scale


def split_heads_figure(x, per_head, num_heads: int, title: str = "Where each number goes") -> go.Figure:
    """Draw a small labelled input (T, d_model) next to the h blocks (T, d_k) that a split made of it.

    x holds the labels 0 ... T*d_model - 1 in order, so the number at token t, feature j is t*d_model + j.
    per_head (num_heads, T, d_k) holds the same numbers after a split (split_heads, or a wrong reshape).
    Every cell shows "t<token> f<feature>" of the number it holds and is coloured by the head that
    feature j belongs to (j // d_k): a correct split gives every head block one colour.
    """
    from plotly.subplots import make_subplots

    x, per_head = _rounded(x, 0).astype(int), _rounded(per_head, 0).astype(int)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T, d_model), got {x.shape}")
    T, d_model = x.shape
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    d_k = d_model // num_heads
    if per_head.shape != (num_heads, T, d_k):
        raise ValueError(f"per_head must have shape (num_heads, T, d_k) = {(num_heads, T, d_k)}, got {per_head.shape}")
    titles = [f"input x: T={T} tokens, d_model={d_model}"] + [
        f"head {i + 1} (index {i}): d_k={d_k}" for i in range(num_heads)
    ]
    fig = make_subplots(
        rows=1,
        cols=1 + num_heads,
        column_widths=[d_model] + [d_k] * num_heads,
        subplot_titles=titles,
        horizontal_spacing=0.04,
    )
    for col, values in enumerate([x, *per_head], start=1):
        token, feature = values // d_model, values % d_model
        text = [[f"t{t} f{j}" for t, j in zip(tr, jr)] for tr, jr in zip(token, feature)]
        fig.add_trace(
            go.Heatmap(
                z=feature // d_k,
                text=text,
                texttemplate="%{text}",
                zmin=-0.5,
                zmax=num_heads - 0.5,
                colorscale=_head_colourscale(num_heads),
                showscale=False,
                xgap=2,
                ygap=2,
                hovertemplate="holds %{text}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title="feature" if col == 1 else "d_k slot", dtick=1, row=1, col=col)
        fig.update_yaxes(autorange="reversed", dtick=1, showticklabels=col == 1, row=1, col=col)
    fig.update_yaxes(title="token t", row=1, col=1)
    fig.update_layout(
        title=title + " (colour = the head a feature belongs to)",
        height=170 + 45 * T,
        margin=dict(l=60, r=20, t=90, b=50),
    )
    return fig


def w_o_blocks_figure(w_o, num_heads: int, title: str = "W_O, one block of columns per head") -> go.Figure:
    """A heatmap of W_O (d_model, h*d_k) with its columns split into the h blocks that read each head's z."""
    w = _rounded(w_o)
    if w.ndim != 2 or w.shape[1] % num_heads:
        raise ValueError(f"w_o must have shape (d_model, h*d_k) with h={num_heads} dividing its columns, got {w.shape}")
    d_k = w.shape[1] // num_heads
    limit = float(np.abs(w).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=w,
            zmin=-limit,
            zmax=limit,
            colorscale="RdBu",
            colorbar=dict(title="weight"),
            hovertemplate="output feature %{y}<br>input column %{x}<br>weight %{z:.3f}<extra></extra>",
        )
    )
    for i in range(num_heads):
        colour = HEAD_COLOURS[i % len(HEAD_COLOURS)]
        fig.add_shape(
            type="rect",
            x0=i * d_k - 0.5,
            x1=(i + 1) * d_k - 0.5,
            y0=-0.5,
            y1=w.shape[0] - 0.5,
            line=dict(color=colour, width=3),
        )
        fig.add_annotation(
            x=(i + 0.5) * d_k - 0.5, y=-0.5, yshift=12, text=f"head {i + 1}", showarrow=False, font=dict(color=colour)
        )
    fig.update_layout(title=title, height=460, margin=dict(l=70, r=20, t=80, b=60))
    fig.update_xaxes(title="column = one number of the concatenated heads (d_k per head)")
    fig.update_yaxes(title="row = output feature", autorange="reversed")
    return fig


def head_ablation_figure(changes, title: str = "What removing one head does to the output") -> go.Figure:
    """Bars: for each head, how much the output changes when that head is zeroed (relative change)."""
    c = _rounded(changes)
    if c.ndim != 1:
        raise ValueError(f"changes must have shape (num_heads,), got {c.shape}")
    labels = [f"head {i + 1}" for i in range(len(c))]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=c,
            marker_color=[HEAD_COLOURS[i % len(HEAD_COLOURS)] for i in range(len(c))],
            text=[f"{v:.2f}" for v in c],
            textposition="outside",
            hovertemplate="without %{x} the output moves by %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=380, margin=dict(l=70, r=20, t=60, b=50))
    fig.update_xaxes(title="head set to zero with head_mask")
    fig.update_yaxes(title="relative change of the output", rangemode="tozero")
    return fig


def timing_figure(rows, pass_: str = "fwd", title: str = "Time per call as the sequence grows") -> go.Figure:
    """Lines of median time (ms) against sequence length T, one per variant, from ``mha.benchmark`` rows."""
    rows = [r for r in rows if r["pass"] == pass_]
    if not rows:
        raise ValueError(f"no rows with pass={pass_!r}")
    fig = go.Figure()
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = sorted((r["T"], r["ms"]) for r in rows if r["variant"] == name)
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in mine], y=list(_rounded([ms for _, ms in mine])), mode="lines+markers", name=name
            )
        )
    fig.update_layout(title=f"{title} ({pass_})", height=420, margin=dict(l=70, r=20, t=60, b=50))
    fig.update_xaxes(title="sequence length T (tokens)", type="log")
    fig.update_yaxes(title="median time per call (ms)", type="log")
    return fig


def flops_figure(T_values, projections, attention, title: str = "Where the arithmetic goes") -> go.Figure:
    """Stacked areas of the forward pass's FLOPs against T: the projections (grow like T) and attention (T^2)."""
    T_values = [int(t) for t in T_values]
    if not (len(T_values) == len(projections) == len(attention)):
        raise ValueError("T_values, projections and attention must have the same length")
    fig = go.Figure()
    for name, values, colour in (
        ("projections W_Q, W_K, W_V, W_O (grow like T)", projections, "#4C78A8"),
        ("scores and weighted sum (grow like T^2)", attention, "#E45756"),
    ):
        gflops = _rounded(np.asarray(values, dtype=float) / 1e9)
        fig.add_trace(
            go.Scatter(x=T_values, y=gflops, name=name, stackgroup="flops", mode="lines+markers", line_color=colour)
        )
    fig.update_layout(title=title, height=420, margin=dict(l=70, r=20, t=60, b=50), legend=dict(x=0.01, y=0.99))
    fig.update_xaxes(title="sequence length T (tokens)")
    fig.update_yaxes(title="GFLOP per forward pass")
    return fig
