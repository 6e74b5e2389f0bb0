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
    fig.update_xaxes(tickangle=-45, tickfont=dict(size=9), dtick=1)  # every token labelled
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9), dtick=1)
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
    Panel i + 1 shows per_head[i] (heads are counted from 1, as in the notebooks).
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
                colorscale=_head_colourscale(num_heads),
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


# ---------------------------------------------------------------- explorers (the figures behind mha.widgets)
# These figures are redrawn on every move of a widget's slider, so they are built as plain dicts (plotly's
# checking of every property would take most of a second) and wrapped once, unchecked, in a go.Figure.
# tests/test_widgets.py checks that plotly accepts every one of them.

_HEAD_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
)  # fmt: skip


def _blues() -> list:
    """plotly's "Blues", white to dark blue, as a list of colors: plotly.js reads the name in the opposite order."""
    from plotly.colors import sequential

    return [[round(i / (len(sequential.Blues) - 1), 4), c] for i, c in enumerate(sequential.Blues)]


def head_color(i: int) -> str:
    """The color of head i (0-based) in the explorers' figures."""
    return _HEAD_COLORS[i % len(_HEAD_COLORS)]


def _unchecked_figure(data: list, layout: dict) -> go.Figure:
    return go.Figure(data=data, layout=layout, _validate=False)


def _subplot_grid(**kwargs) -> tuple[dict, list]:
    """make_subplots(**kwargs)'s layout (a fresh copy) and each subplot's axis names, row by row (None for gaps).

    make_subplots is slow (a quarter of a second for ten subplots), so grids are remembered by their arguments.
    """
    import copy

    key = json.dumps(kwargs, sort_keys=True)
    if key not in _GRIDS:
        from plotly.subplots import make_subplots

        fig = make_subplots(**kwargs)
        axes = [[cell[0].trace_kwargs if cell else None for cell in row] for row in fig._grid_ref]
        layout = fig.to_dict()["layout"]
        layout.pop("template", None)
        _GRIDS[key] = (layout, axes)
    layout, axes = _GRIDS[key]
    return copy.deepcopy(layout), axes


_GRIDS: dict = {}


def _axis_key(ref: str) -> str:
    """'x3' -> 'xaxis3', 'y' -> 'yaxis'."""
    return ref[0] + "axis" + ref[1:]


def mha_sizes(d_model: int, num_heads: int, seq_len: int) -> dict:
    """The sizes of one MultiHeadAttention(d_model, num_heads) layer (with biases) on a sequence of seq_len tokens.

    Returns d_k, the number of parameters (4 d_model^2 + 4 d_model: W_Q, W_K, W_V, W_O and their biases),
    and the FLOPs of its matrix products (a multiply and an add count as 2): the Q, K, V projections
    6 T d_model^2, the scores Q K^T and the weighted sums of V 2 x 2 T^2 d_model, the output projection
    2 T d_model^2. The number of heads changes none of these, only how the work is cut.
    Raises ValueError when d_model is not divisible by num_heads.
    """
    from mha.attention import check_divisible, check_positive_int

    for name, value in (("d_model", d_model), ("num_heads", num_heads), ("seq_len", seq_len)):
        check_positive_int(name, value)
    check_divisible(d_model, num_heads)
    T, d = seq_len, d_model
    flops = {
        "Q, K, V projections": 6 * T * d * d,
        "scores Q K^T": 2 * T * T * d,
        "weights x V": 2 * T * T * d,
        "output projection W_O": 2 * T * d * d,
    }
    return {
        "d_k": d // num_heads,
        "parameters": 4 * d * d + 4 * d,
        "flops": sum(flops.values()),
        "flops_by_step": flops,
    }


def _block(x0: float, width: float, y: float, height: float = 0.56) -> tuple[list, list]:
    """The corners of a rectangle as a closed path (xs, ys) for a filled scatter, then None to start the next one."""
    x1, top, bottom = round(x0 + width, 5), y + height / 2, y - height / 2
    x0 = round(x0, 5)
    return [x0, x1, x1, x0, x0, None], [top, top, bottom, bottom, top, None]


def _shape_parts(d_model: int, num_heads: int, seq_len: int) -> tuple[list, dict]:
    """The (data, layout) of ``shape_figure``, as plain dicts and lists."""
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
        data.append(dict(block, x=xs, y=ys, line=dict(color=head_color(i), width=1), name=f"head {i + 1}"))
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
    return _unchecked_figure(*_shape_parts(d_model, num_heads, seq_len))


def _check_weights(w, tokens) -> int:
    T = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (T, T) or w.shape[0] == 0:
        raise ValueError(f"weights must have shape (h, {T}, {T}) for {T} tokens and h >= 1 heads, got {w.shape}")
    return w.shape[0]


def _heatmap(w_i, labels, i: int, axes: dict) -> dict:
    return dict(
        type="heatmap",
        z=w_i.tolist(),
        x=labels,
        y=labels,
        coloraxis="coloraxis",
        hovertemplate=f"head {i + 1}: " + "%{y} looks at %{x}: %{z:.2f}<extra></extra>",
        **axes,
    )


def _style_heatmap_axes(layout: dict, axes: dict, first_col: bool) -> None:
    layout[_axis_key(axes["xaxis"])].update(tickangle=-45, tickfont=dict(size=9))
    layout[_axis_key(axes["yaxis"])].update(autorange="reversed", tickfont=dict(size=9), showticklabels=first_col)


def _head_view_parts(
    weights, tokens, query: int, title: str | None = None, cols: int | None = None
) -> tuple[list, dict]:
    """The (data, layout) of ``head_view_figure``, as plain dicts and lists."""
    w = _rounded(weights)
    h = _check_weights(w, tokens)
    T = len(tokens)
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)) or not 0 <= query < T:
        raise ValueError(f"query must be a token index from 0 to {T - 1}, got {query!r}")
    query = int(query)
    cols = min(h, 4) if cols is None else max(1, min(int(cols), h))
    rows = -(-h // cols)  # ceil(h / cols)
    labels = _unique_labels(tokens)
    layout, axes = _subplot_grid(
        rows=rows + 1,
        cols=cols,
        specs=[[{"colspan": cols}] + [None] * (cols - 1)] + [[{}] * cols for _ in range(rows)],
        row_heights=[1.15] + [1.0] * rows,
        vertical_spacing=0.3 / (rows + 1),
        horizontal_spacing=0.05,
        subplot_titles=["head view"] + [f"head {i + 1}" for i in range(h)],
    )
    layout["annotations"][0]["text"] = f"what '{labels[query]}' looks at: one line per head, thicker = more weight"
    # the head view: the looking token at x = 0, the tokens looked at x = 1, token t at y = -t
    data = [
        dict(
            type="scatter",
            x=[0] * T + [1] * T,
            y=[-t for t in range(T)] * 2,
            mode="text",
            text=labels + labels,
            textposition=["middle left"] * T + ["middle right"] * T,
            textfont=dict(color=["#bbbbbb"] * query + ["black"] + ["#bbbbbb"] * (T - query - 1) + ["black"] * T),
            showlegend=False,
            hoverinfo="skip",
            xaxis="x",
            yaxis="y",
        )
    ]
    spread = 0.5 / max(h, 2)  # the heads' line ends fan out a little around each token
    lines = []
    for i in range(h):
        ends = [round(-t + (i - (h - 1) / 2) * spread, 4) for t in range(T)]
        row = w[i, query]  # (T,)
        for t in range(T):
            lines.append(
                dict(
                    type="line", x0=0.02, y0=-query, x1=0.98, y1=ends[t], layer="below",  # on axes x and y
                    line=dict(color=head_color(i), width=round(0.5 + 7 * float(row[t]), 1)),
                    opacity=round(0.06 + 0.94 * float(row[t]), 2),
                )
            )  # fmt: skip
        data.append(  # a dot at each line's end: the hover text and the legend entry of head i
            dict(
                type="scatter", x=[0.97] * T, y=ends, mode="markers", name=f"head {i + 1}",
                marker=dict(color=head_color(i), size=6),
                hovertext=[f"head {i + 1}: {labels[query]} -> {labels[t]}: {row[t]:.2f}" for t in range(T)],
                hoverinfo="text", xaxis="x", yaxis="y",
            )
        )  # fmt: skip
    layout["xaxis"].update(visible=False, range=[-0.7, 1.7], fixedrange=True)
    layout["yaxis"].update(visible=False, range=[-T + 0.4, 0.6], fixedrange=True)
    for i in range(h):
        ax = axes[i // cols + 1][i % cols]
        data.append(_heatmap(w[i], labels, i, ax))
        _style_heatmap_axes(layout, ax, i % cols == 0)
    layout.update(
        title=dict(text=title or f"{h} head{'s' if h > 1 else ''} read the same sentence", x=0.02),
        height=440 + 260 * rows,
        shapes=lines,
        coloraxis=dict(colorscale=_blues(), cmin=0, cmax=1, colorbar=dict(title=dict(text="weight"), len=0.45, y=0.2)),
        legend=dict(x=1.0, xanchor="left", y=1.0, yanchor="top"),
        margin=dict(l=70, r=20, t=100, b=50),
        plot_bgcolor="white",
    )
    return data, layout


def head_view_figure(weights, tokens, query: int, title: str | None = None, cols: int | None = None) -> go.Figure:
    """A head view of one token above one heatmap per head.

    weights: (h, T, T), one sentence's attention weights (row = query, column = key); query: a token index.
    Top: the token ``query`` (left) joined to every token (right) by one line per head; a line's width and
    opacity grow with its weight. Below: the heads' heatmaps on one color scale from 0 to 1.
    """
    return _unchecked_figure(*_head_view_parts(weights, tokens, query, title, cols))


def _training_parts(
    losses, weights, tokens, accuracy: float, ablation: dict | None = None, title: str | None = None, heads_on=None
) -> tuple[list, dict]:
    """The (data, layout) of ``training_figure``, as plain dicts and lists."""
    w = _rounded(weights)
    h = _check_weights(w, tokens)
    losses = _rounded(losses).tolist()
    labels = _unique_labels(tokens)
    heads_on = [True] * h if heads_on is None else [bool(on) for on in heads_on]
    if len(heads_on) != h:
        raise ValueError(f"heads_on must have one entry per head ({h}), got {len(heads_on)}")
    cols = max(h, 2)
    left = cols // 2
    layout, axes = _subplot_grid(
        rows=2,
        cols=cols,
        specs=[[{"colspan": left}] + [None] * (left - 1) + [{"colspan": cols - left}] + [None] * (cols - left - 1)]
        + [[{}] * h + [None] * (cols - h)],
        vertical_spacing=0.22,
        horizontal_spacing=0.07,
        subplot_titles=["training loss", "accuracy on new sentences, heads switched off"]
        + [f"head {i + 1}" for i in range(h)],
    )
    loss_ax, acc_ax = axes[0][0], axes[0][left]
    names = ["all heads on"] + list(ablation or {})
    accs = [round(float(accuracy), 3)] + [round(float(a), 3) for a in (ablation or {}).values()]
    colors = ["#555555"] + [
        head_color(int(n.split()[-1]) - 1) if n.split()[-1].isdigit() else "#999999" for n in names[1:]
    ]
    data = [
        dict(
            type="scatter", x=list(range(1, len(losses) + 1)), y=losses, mode="lines", line=dict(color="#444"),
            showlegend=False, hovertemplate="step %{x}: loss %{y:.3f}<extra></extra>", **loss_ax,
        ),
        dict(
            type="bar", x=names, y=accs, text=[f"{a:.0%}" for a in accs], textposition="outside", showlegend=False,
            marker=dict(color=colors), hovertemplate="%{x}: accuracy %{y:.3f}<extra></extra>", **acc_ax,
        ),
    ]  # fmt: skip
    layout[_axis_key(loss_ax["xaxis"])].update(title=dict(text="training step"))
    layout[_axis_key(loss_ax["yaxis"])].update(title=dict(text="loss"), rangemode="tozero")
    layout[_axis_key(acc_ax["yaxis"])].update(title=dict(text="accuracy"), range=[0, 1.15], tickformat=".0%")
    for i in range(h):
        data.append(dict(_heatmap(w[i], labels, i, axes[1][i]), opacity=1.0 if heads_on[i] else 0.25))
        _style_heatmap_axes(layout, axes[1][i], i == 0)
        if not heads_on[i]:
            layout["annotations"][2 + i]["text"] = f"head {i + 1} (off)"
    layout.update(
        title=dict(text=title or f"{h} head{'s' if h > 1 else ''} after training: accuracy {accuracy:.0%}", x=0.02),
        height=700,
        coloraxis=dict(colorscale=_blues(), cmin=0, cmax=1, colorbar=dict(title=dict(text="weight"), len=0.42, y=0.2)),
        margin=dict(l=70, r=20, t=90, b=60),
    )
    return data, layout


def training_figure(
    losses, weights, tokens, accuracy: float, ablation: dict | None = None, title: str | None = None, heads_on=None
) -> go.Figure:
    """What one training run learned: its loss curve, its accuracy with heads removed, each head's pattern.

    losses: the training loss after each step. weights: (h, T, T), the trained heads on one sentence.
    accuracy: the accuracy with every head on. ablation: optional {label: accuracy}, such as
    {"without head 1": 0.61}; a label ending in a head's number gets that head's color.
    heads_on: optional list of h booleans; the heatmaps of heads that are off are drawn faded.
    """
    return _unchecked_figure(*_training_parts(losses, weights, tokens, accuracy, ablation, title, heads_on))


def _trace_slots(data: list) -> dict:
    """{(type, k): the k-th trace of that type} of a figure's traces."""
    seen: dict = {}
    slots = {}
    for trace in data:
        kind = trace.get("type", "scatter")
        slots[(kind, seen.get(kind, 0))] = trace
        seen[kind] = seen.get(kind, 0) + 1
    return slots


def controls_figure(figures: dict, slider_name: str, button_name: str | None = None, active=None) -> go.Figure:
    """One figure whose slider (and buttons) switch between precomputed figures: interactive with no kernel.

    figures: {slider value: figure}, or {(button value, slider value): figure} when ``button_name`` is given.
    Each step replaces the traces' data and the layout (axes, titles, shapes, height) by those of its figure,
    so the figures may differ in their number of traces and subplots. ``active``: the key shown first.
    With buttons, a button shows the figure for its value at the slider's first position and gives the slider
    that value's steps.
    """
    if not figures:
        raise ValueError("figures must hold at least one figure")
    if button_name is None:
        figures = {(None, k): f for k, f in figures.items()}
        active = None if active is None else (None, active)
    keys = list(figures)
    active = keys[0] if active not in figures else active
    button_values = list(dict.fromkeys(k[0] for k in keys))
    slider_values = list(dict.fromkeys(k[1] for k in keys))
    missing = [(b, s) for b in button_values for s in slider_values if (b, s) not in figures]
    if missing:
        raise ValueError(f"figures must hold every (button, slider) pair; missing {missing}")
    dicts = {k: f.to_dict() for k, f in figures.items()}
    for d in dicts.values():  # room for the buttons above and the slider below
        margin = d["layout"].get("margin", {})
        d["layout"]["margin"] = dict(margin, t=margin.get("t", 80) + (45 if button_name else 0), b=110)
        d["layout"]["title"] = dict(
            d["layout"].get("title", {}), yref="container", y=1.0, yanchor="top", pad=dict(t=20)
        )
    tallest = max(d["layout"].get("height", 450) for d in dicts.values())
    for d in dicts.values():  # one height for every step: the page around the figure must not move
        d["layout"]["height"] = tallest + 70 + (45 if button_name else 0)
    # trace slots: slot (type, k) holds the k-th trace of that type of every figure (a step must never turn a
    # scatter into a heatmap); figures with fewer traces of a type hide the rest of its slots
    slotted = {key: _trace_slots(d["data"]) for key, d in dicts.items()}
    slots = list(dict.fromkeys(s for key in keys for s in slotted[key]))
    kinds = list(dict.fromkeys(kind for kind, _ in slots))
    slots.sort(key=lambda slot: (kinds.index(slot[0]), slot[1]))
    trace_attrs = sorted({a for d in dicts.values() for t in d["data"] for a in t if a not in ("type", "visible")})
    layout_keys = sorted({k for d in dicts.values() for k in d["layout"] if k not in ("template", "sliders")})

    def step_args(key):
        traces, layout = [slotted[key].get(s) for s in slots], dicts[key]["layout"]
        restyle = {a: [t.get(a) if t else None for t in traces] for a in trace_attrs}
        restyle["visible"] = [t.get("visible", True) if t else False for t in traces]
        relayout = {}
        for k in layout_keys:
            hidden = {"visible": False} if k.startswith(("xaxis", "yaxis")) else None
            relayout[k] = layout.get(k, hidden)
        return [restyle, relayout]

    base = dicts[active]
    data = [slotted[active].get(s, {"type": s[0], "visible": False}) for s in slots]
    layout = dict(base["layout"])
    for k in layout_keys:  # axes that only other figures use start hidden
        if k.startswith(("xaxis", "yaxis")) and k not in layout:
            layout[k] = {"visible": False}
    start = slider_values.index(active[1])

    def steps(b):
        return [dict(method="update", label=str(s), args=step_args((b, s))) for s in slider_values]

    layout["sliders"] = [
        dict(
            active=start,
            currentvalue=dict(prefix=f"{slider_name} = ", font=dict(size=14)),
            pad=dict(t=45),
            len=0.9,
            x=0.05,
            steps=steps(active[0]),
        )
    ]
    if button_name is not None:  # a button shows its figure and gives the slider that button value's steps
        buttons = []
        for b in button_values:
            restyle, relayout = step_args((b, active[1]))
            relayout.update({"sliders[0].steps": steps(b), "sliders[0].active": start})
            buttons.append(dict(method="update", label=f"{button_name} = {b}", args=[restyle, relayout]))
        layout["updatemenus"] = [
            dict(
                type="buttons", direction="right", buttons=buttons, active=button_values.index(active[0]),
                x=0.0, xanchor="left", y=1.0, yanchor="bottom", pad=dict(b=30), showactive=True,
            )
        ]  # fmt: skip
    return go.Figure(data=data, layout=layout)


# ---------------------------------------------------------------- training and specialisation (notebooks 2 and 6)


def _curves_of(run) -> tuple[np.ndarray, np.ndarray]:
    """(losses, accuracies) of a TrainResult-like object or a (losses, accuracies) pair."""
    if hasattr(run, "losses") and hasattr(run, "accuracies"):
        losses, accs = run.losses, run.accuracies
    else:
        losses, accs = run
    losses, accs = _rounded(losses, 4), _rounded(accs, 4)
    if losses.ndim != 1 or losses.shape != accs.shape or len(losses) == 0:
        raise ValueError(
            f"each run needs equally long, non-empty 1-d losses and accuracies, got {losses.shape} and {accs.shape}"
        )
    return losses, accs


def training_curves(runs: dict, title: str = "Training: loss and accuracy, step by step") -> go.Figure:
    """Loss (left) and accuracy (right) against the training step, one line per run.

    runs: {label: run}, where a run is a ``mha.train.TrainResult`` or a pair (losses, accuracies) of lists.
    """
    from plotly.subplots import make_subplots

    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {label: TrainResult or (losses, accuracies)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss (lower is better)", "accuracy"], horizontal_spacing=0.1)
    for i, (label, run) in enumerate(runs.items()):
        losses, accs = _curves_of(run)
        steps = list(range(1, len(losses) + 1))
        color = HEAD_COLOURS[i % len(HEAD_COLOURS)]
        for col, y, fmt in ((1, losses, "loss %{y:.3f}"), (2, accs, "accuracy %{y:.1%}")):
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=y,
                    mode="lines",
                    name=str(label),
                    legendgroup=str(label),
                    showlegend=col == 1,
                    line=dict(color=color, width=2),
                    hovertemplate=f"{label}, step %{{x}}: {fmt}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(title=title, height=400, margin=dict(l=60, r=20, t=80, b=50), legend=dict(title="model"))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="accuracy", range=[0, 1.02], tickformat=".0%", row=1, col=2)
    return fig


def head_role_figure(scores, roles, title: str = "How much each head looks where each role says") -> go.Figure:
    """A heatmap heads x roles: the mean attention each head puts on the token that each role points to.

    scores: (num_heads, num_roles), e.g. from ``mha.train.head_role_scores``; roles: the role names.
    """
    s = _rounded(scores, 2)
    roles = list(roles)
    if s.ndim != 2 or s.shape[1] != len(roles) or s.shape[0] == 0:
        raise ValueError(f"scores must have shape (num_heads, {len(roles)}) for roles {roles}, got {s.shape}")
    heads = [f"head {i + 1}" for i in range(s.shape[0])]
    fig = go.Figure(
        go.Heatmap(
            z=s,
            x=roles,
            y=heads,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            text=[[f"{v:.2f}" for v in row] for row in s],
            texttemplate="%{text}",
            colorbar=dict(title="attention<br>on target"),
            hovertemplate="%{y}, role %{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=140 + 60 * s.shape[0], margin=dict(l=80, r=20, t=60, b=50))
    fig.update_xaxes(title="role (where the right answer sits)", side="bottom")
    fig.update_yaxes(title="head", autorange="reversed")
    return fig


def role_winners_figure(scores_by_run: dict, roles, title: str = "Which head took each role, run by run") -> go.Figure:
    """A table-like heatmap runs x roles: the colour and label of the head with the highest role score.

    scores_by_run: {run label (e.g. "seed 0"): scores (num_heads, num_roles)}; all with the same shape.
    """
    if not isinstance(scores_by_run, dict) or not scores_by_run:
        raise ValueError("scores_by_run must be a non-empty dict {label: scores (num_heads, num_roles)}")
    roles = list(roles)
    table = [_rounded(s, 2) for s in scores_by_run.values()]
    shapes = {t.shape for t in table}
    if len(shapes) != 1 or table[0].ndim != 2 or table[0].shape[1] != len(roles):
        raise ValueError(f"every scores must have the same shape (num_heads, {len(roles)}), got {sorted(shapes)}")
    num_heads = table[0].shape[0]
    winners = np.array([t.argmax(axis=0) for t in table])  # (runs, roles)
    best = np.array([t.max(axis=0) for t in table])
    text = [[f"head {w + 1} ({b:.2f})" for w, b in zip(wr, br)] for wr, br in zip(winners, best)]
    fig = go.Figure(
        go.Heatmap(
            z=winners + 0.5,
            x=roles,
            y=[str(k) for k in scores_by_run],
            zmin=0,
            zmax=num_heads,
            colorscale=_head_colourscale(num_heads),
            showscale=False,
            text=text,
            texttemplate="%{text}",
            textfont=dict(color="white", size=14),
            xgap=3,
            ygap=3,
            hovertemplate="%{y}, role %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=140 + 55 * len(table), margin=dict(l=80, r=20, t=60, b=50))
    fig.update_xaxes(title="role")
    fig.update_yaxes(title="training run", autorange="reversed")
    return fig
