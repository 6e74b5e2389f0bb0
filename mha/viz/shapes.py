"""Shapes and costs: where each number of a multi-head attention layer goes, and what the layer costs.

``shape_figure`` (the shape explorer's figure), ``split_heads_figure`` (notebook 4), ``w_o_blocks_figure``
(notebook 5), and the costs, ``timing_figure`` and ``flops_figure`` (notebook 4).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mha.attention import attention_flops
from mha.validate import check_divisible, check_positive_int
from mha.viz.palette import head_colour, head_colourscale
from mha.viz.parts import FigureParts, parts_figure
from mha.viz.render import rounded


def mha_sizes(d_model: int, num_heads: int, seq_len: int) -> dict:
    """The sizes of one MultiHeadAttention(d_model, num_heads) layer (with biases) on a sequence of seq_len tokens.

    Returns {"d_k", "parameters" (4 d_model^2 + 4 d_model: W_Q, W_K, W_V, W_O and their biases), "flops" (the
    matrix products of one sequence: ``mha.attention.attention_flops``' total) and "flops_by_step"}.
    The number of heads changes none of these but d_k, only how the work is cut.
    Raises ValueError when d_model is not divisible by num_heads.
    """
    check_positive_int("seq_len", seq_len)
    flops = attention_flops(1, seq_len, d_model, num_heads)  # checks d_model and num_heads too
    return {
        "d_k": d_model // num_heads,
        "parameters": 4 * d_model * d_model + 4 * d_model,
        "flops": flops["total"],
        "flops_by_step": flops["by_step"],
    }


def split_heads_figure(x, per_head, num_heads: int, title: str = "Where each number goes") -> go.Figure:
    """Draw a small labelled input (T, d_model) next to the h blocks (T, d_k) that a split made of it.

    x holds the labels 0 ... T*d_model - 1 in order, so the number at token t, feature j is t*d_model + j.
    per_head (num_heads, T, d_k) holds the same numbers after a split (split_heads, or a wrong reshape).
    Every cell shows "t<token> f<feature>" of the number it holds and is coloured by the head that
    feature j belongs to (j // d_k): a correct split gives every head block one colour.
    Panel i + 1 shows per_head[i] (heads are counted from 1, as in the notebooks).
    """
    from plotly.subplots import make_subplots

    x, per_head = rounded(x, 0).astype(int), rounded(per_head, 0).astype(int)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T, d_model), got {x.shape}")
    T, d_model = x.shape
    check_divisible(d_model, num_heads)
    d_k = d_model // num_heads
    if per_head.shape != (num_heads, T, d_k):
        raise ValueError(f"per_head must have shape (num_heads, T, d_k) = {(num_heads, T, d_k)}, got {per_head.shape}")
    titles = [f"x: T={T}, d_model={d_model}"] + [f"head {i + 1}" for i in range(num_heads)]
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
                colorscale=head_colourscale(num_heads),
                showscale=False,
                xgap=2,
                ygap=2,
                hovertemplate="holds %{text}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title="feature j" if col == 1 else "slot", dtick=1, row=1, col=col)
        fig.update_yaxes(autorange="reversed", dtick=1, showticklabels=col == 1, row=1, col=col)
    fig.update_yaxes(title="token t", row=1, col=1)
    fig.update_layout(
        title=title,
        height=170 + 45 * T,
        margin=dict(l=60, r=20, t=90, b=50),
    )
    return fig


def w_o_blocks_figure(w_o, num_heads: int, title: str = "W_O, one block of columns per head") -> go.Figure:
    """A heatmap of W_O (d_model, h*d_k) with its columns split into the h blocks that read each head's z."""
    w = rounded(w_o)
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
        colour = head_colour(i)
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


def timing_figure(rows, pass_: str = "fwd", title: str = "Time per call as the sequence grows") -> go.Figure:
    """Lines of time per call (ms) against sequence length T, one per variant, from ``mha.benchmark`` rows (whatever
    statistic the benchmark kept: the median or the fastest run)."""
    rows = [r for r in rows if r["pass"] == pass_]
    if not rows:
        raise ValueError(f"no rows with pass={pass_!r}")
    fig = go.Figure()
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = sorted((r["T"], r["ms"]) for r in rows if r["variant"] == name)
        fig.add_trace(
            go.Scatter(x=[t for t, _ in mine], y=list(rounded([ms for _, ms in mine])), mode="lines+markers", name=name)
        )
    fig.update_layout(title=f"{title} ({pass_})", height=420, margin=dict(l=70, r=20, t=60, b=50))
    fig.update_xaxes(title="sequence length T (tokens)", type="log")
    fig.update_yaxes(title="time per call (ms)", type="log")
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
        gflops = rounded(np.asarray(values, dtype=float) / 1e9)
        fig.add_trace(
            go.Scatter(x=T_values, y=gflops, name=name, stackgroup="flops", mode="lines+markers", line_color=colour)
        )
    fig.update_layout(title=title, height=420, margin=dict(l=70, r=20, t=60, b=50), legend=dict(x=0.01, y=0.99))
    fig.update_xaxes(title="sequence length T (tokens)")
    fig.update_yaxes(title="GFLOP per forward pass")
    return fig


def _block(x0: float, width: float, y: float, height: float = 0.56) -> tuple[list, list]:
    """The corners of a rectangle as a closed path (xs, ys) for a filled scatter, then None to start the next one."""
    x1, top, bottom = round(x0 + width, 5), y + height / 2, y - height / 2
    x0 = round(x0, 5)
    return [x0, x1, x1, x0, x0, None], [top, top, bottom, bottom, top, None]


def shape_parts(d_model: int, num_heads: int, seq_len: int) -> FigureParts:
    """The FigureParts (data, layout) of ``shape_figure``, as plain dicts and lists (fast to build)."""
    sizes = mha_sizes(d_model, num_heads, seq_len)
    h, T, d_k = num_heads, seq_len, sizes["d_k"]
    rows = [  # (what, drawn per head?, columns of one block, shape)
        ("X, the input", False, d_model, f"({T} x {d_model})"),
        ("Q = X W_Q, cut into heads", True, d_k, f"{h} x ({T} x {d_k})"),
        ("K = X W_K, cut into heads", True, d_k, f"{h} x ({T} x {d_k})"),
        ("V = X W_V, cut into heads", True, d_k, f"{h} x ({T} x {d_k})"),
        ("weights: softmax(Q_i K_i^T / sqrt(d_k))", True, T, f"{h} x ({T} x {T})"),
        ("Z_i = weights_i V_i", True, d_k, f"{h} x ({T} x {d_k})"),
        ("concat(Z_1, ..., Z_h)", True, d_k, f"({T} x {h * d_k})"),
        ("output = concat W_O", False, d_model, f"({T} x {d_model})"),
    ]
    gap_total = 0.12 if h > 1 else 0.0  # the gaps between a row's head blocks take 12% of the width
    scale = (1.0 - gap_total) / max(d_model, h * T)
    gap = gap_total / (h - 1) if h > 1 else 0.0
    whole, per_head = ([], []), [([], []) for _ in range(h)]
    for r, (_, split, cols, _) in enumerate(rows):
        if not split:
            xs, ys = _block(0.0, cols * scale, -r)
            whole[0].extend(xs), whole[1].extend(ys)
            continue
        glued = r == 6  # the concatenation: the heads' blocks touch
        for i in range(h):
            xs, ys = _block(i * (cols * scale + (0.0 if glued else gap)), cols * scale, -r)
            per_head[i][0].extend(xs), per_head[i][1].extend(ys)
    block = dict(type="scatter", fill="toself", mode="lines", hoverinfo="skip")
    data = [dict(block, x=whole[0], y=whole[1], line=dict(color="#555", width=1), fillcolor="#c8c8c8", name="all")]
    for i, (xs, ys) in enumerate(per_head):
        colour = head_colour(i)
        data.append(dict(block, x=xs, y=ys, line=dict(color=colour, width=1), name=f"head {i + 1}"))
    ys = [-r for r in range(len(rows))]
    text = dict(type="scatter", mode="text", showlegend=False, hoverinfo="skip", y=ys)
    data.append(dict(text, x=[-0.03] * len(rows), text=[r[0] for r in rows], textposition="middle left"))
    data.append(dict(text, x=[1.03] * len(rows), text=[r[3] for r in rows], textposition="middle right"))
    layout = dict(
        title=dict(
            text=f"d_model = {d_model}, h = {h}, T = {T}: each head has d_k = {d_model} / {h} = {d_k} columns"
            f"<br><sub>parameters: {sizes['parameters']:,} = 4 x {d_model}\u00b2 + 4 x {d_model}, for any h"
            f"   |   FLOPs of the matrix products: {sizes['flops']:,}<br>a block's width = its number of columns; "
            "one color per head</sub>",
            x=0.02,
        ),
        height=470,
        showlegend=h <= 16,
        legend=dict(orientation="h", x=0.5, xanchor="center", y=0.0, yanchor="top"),
        margin=dict(l=10, r=10, t=95, b=40),
        plot_bgcolor="white",
        xaxis=dict(visible=False, range=[-0.75, 1.4], fixedrange=True),
        yaxis=dict(visible=False, range=[-len(rows) + 0.45, 0.55], fixedrange=True),
    )
    return data, layout


def shape_figure(d_model: int, num_heads: int, seq_len: int) -> go.Figure:
    """The shape of every tensor in one multi-head attention layer, drawn as blocks from top to bottom.

    Each block is one matrix: its width is proportional to its number of columns, its color says which head
    owns it (grey: all heads together). The text right of each row gives the shape, the title d_k, the
    number of parameters and the FLOPs. Raises ValueError when d_model is not divisible by num_heads.
    """
    return parts_figure(*shape_parts(d_model, num_heads, seq_len))


def parameter_budget_figure(per_head: dict, d_model: int) -> go.Figure:
    """Stacked bars: for each head count h, the parameters of W_Q, W_K, W_V cut into h segments, one per head.

    per_head: {h: parameters of one head of width d_model / h}; every bar has the same height, 3 d_model^2.
    """
    head_counts = list(per_head)
    fig = go.Figure()
    for i in range(max(head_counts)):  # one bar segment per head: head i+1 of every panel that has one
        fig.add_bar(
            x=[f"h = {h}" for h in head_counts],
            y=[per_head[h] if i < h else 0 for h in head_counts],
            marker=dict(color="#4a90c2" if i % 2 == 0 else "#a9cce3", line=dict(color="white", width=1)),
            hovertemplate="%{x}: one head has %{y} parameters<extra></extra>",
            showlegend=False,
        )
    fig.update_layout(
        barmode="stack",
        title=f"The same {3 * d_model**2} parameters, cut into h heads (d_model = {d_model})",
        xaxis_title="number of heads h (each segment is one head of width d_k = d_model / h)",
        yaxis_title="parameters in W_Q, W_K, W_V",
        height=400,
    )
    return fig
