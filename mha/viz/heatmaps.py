"""Heatmaps of attention weights: one head, a panel of heads, and the head view of one token.

weights are (T, T) for one head or (h, T, T) for h heads (row = the token that looks, column = the token
looked at); tokens label both axes (repeated tokens are numbered, "the", "the#2").
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mha.viz.palette import blues, head_colour, with_alpha
from mha.viz.parts import FigureParts, axis_key, parts_figure, subplot_grid
from mha.viz.render import rounded, unique_labels


def share_heatmap(z, x, y, colorbar: str, hovertemplate: str, **more) -> go.Heatmap:
    """A heatmap of shares of attention, from 0 (white) to 1 (dark blue), with a colour bar titled ``colorbar``."""
    return go.Heatmap(
        z=z,
        x=x,
        y=y,
        zmin=0,
        zmax=1,
        colorscale="Blues",
        colorbar=dict(title=colorbar),
        hovertemplate=hovertemplate,
        **more,
    )


def attention_heatmap(weights, tokens, title: str = "Attention weights", height: int = 420) -> go.Figure:
    """A heatmap of one head's weights (T_q, T_k): row = the token that looks, column = the token looked at."""
    w = rounded(weights)
    if w.ndim != 2 or w.shape != (len(tokens), len(tokens)):
        raise ValueError(
            f"weights must have shape ({len(tokens)}, {len(tokens)}) for {len(tokens)} tokens, got {w.shape}"
        )
    labels = unique_labels(tokens)
    fig = go.Figure(share_heatmap(w, labels, labels, "weight", "%{y} looks at %{x}: %{z:.2f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=80, r=20, t=50, b=80))
    fig.update_xaxes(title="key (looked at)", tickangle=-45)
    fig.update_yaxes(title="query (looking)", autorange="reversed")
    return fig


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

    w = rounded(weights)
    h = check_weights(w, tokens)
    cols = min(h, 4) if cols is None else cols
    if isinstance(cols, bool) or not isinstance(cols, int) or cols <= 0:
        raise ValueError(f"cols must be a positive int, got {cols!r}")
    cols = min(cols, h)
    rows = -(-h // cols)  # ceil(h / cols)
    zmax = float(w.max()) if zmax is None else zmax
    labels = unique_labels(tokens)
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
        coloraxis=dict(colorscale="Blues", cmin=0, cmax=zmax, colorbar=dict(title="weight", tickformat=".2f")),
        margin=dict(l=80, r=20, t=80, b=40),
    )
    fig.update_xaxes(tickangle=-45, tickfont=dict(size=9), dtick=1)  # every token labelled
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9), dtick=1)
    fig.update_yaxes(title="query (looking)", col=1)
    fig.update_xaxes(title="key (looked at)", row=rows)
    return fig


def check_weights(w, tokens) -> int:
    """The number of heads h of weights w (h, T, T), T = len(tokens); else a ValueError naming the shapes."""
    T = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (T, T) or w.shape[0] == 0:
        raise ValueError(f"weights must have shape (h, {T}, {T}) for {T} tokens and h >= 1 heads, got {w.shape}")
    return w.shape[0]


def heatmap_trace(w_i, labels, i: int, axes: dict) -> dict:
    """The heatmap (a plain dict) of head i's weights w_i (T, T) on the shared "coloraxis", in subplot ``axes``."""
    return dict(
        type="heatmap",
        z=w_i.tolist(),
        x=labels,
        y=labels,
        coloraxis="coloraxis",
        hovertemplate=f"head {i + 1}: " + "%{y} looks at %{x}: %{z:.2f}<extra></extra>",
        **axes,
    )


def style_heatmap_axes(layout: dict, axes: dict, first_col: bool) -> None:
    """Tilt and shrink the token labels of one heatmap subplot; only the first column shows the query labels."""
    layout[axis_key(axes["xaxis"])].update(tickangle=-45, tickfont=dict(size=9), dtick=1)  # every token labelled
    layout[axis_key(axes["yaxis"])].update(
        autorange="reversed", tickfont=dict(size=9), dtick=1, showticklabels=first_col
    )


# The heads' heatmaps of a head view share one heatmap trace: head i is the T x T block whose top left cell is
# grid_corner(i, T, cols), the blocks one empty column and GRID_ROW_GAP empty rows apart (room for each head's
# title). One trace on one pair of axes draws much faster than h subplots (8 heads, plotly.js 2.35, 2 cores: 59 ms
# median instead of 96-115 ms; benchmarks/RESULTS.md, Front ends), which the explorers need: JupyterLab draws each
# new figure three times.
GRID_ROW_GAP = 2


def grid_columns(h: int) -> int:
    """How many heads' heatmaps a head view puts side by side: all of up to 5, else 3, 4 or 5 so that every row is
    full (4 when none is: 7, 11, ... heads), so that the token labels under each column sit under a heatmap."""
    if h <= 5:
        return h
    return next((cols for cols in (4, 3, 5) if h % cols == 0), 4)


def grid_corner(i: int, T: int, cols: int) -> tuple[int, int]:
    """(row, column) in the head view's heatmap grid of the top left cell of head i's T x T block."""
    return (i // cols) * (T + GRID_ROW_GAP), (i % cols) * (T + 1)


def heads_grid_trace(w, labels, cols: int, axes: dict) -> dict:
    """One heatmap (a plain dict) holding every head's weights w (h, T, T) as blocks on a grid of ``cols`` columns;
    its cells between blocks are empty; hovering a cell names the head, both tokens and the weight."""
    h, T = w.shape[0], len(labels)
    rows = -(-h // cols)
    z = [[None] * (cols * (T + 1) - 1) for _ in range(rows * (T + GRID_ROW_GAP) - GRID_ROW_GAP)]
    text = [[None] * len(z[0]) for _ in z]
    for i in range(h):
        r0, c0 = grid_corner(i, T, cols)
        for q in range(T):
            z[r0 + q][c0 : c0 + T] = w[i, q].tolist()
            text[r0 + q][c0 : c0 + T] = [f"head {i + 1}: {labels[q]} looks at {k}" for k in labels]
    return dict(
        type="heatmap", z=z, text=text, coloraxis="coloraxis", hoverongaps=False,
        hovertemplate="%{text}: %{z:.2f}<extra></extra>", **axes,
    )  # fmt: skip


def head_view_parts(weights, tokens, query: int, title: str | None = None, cols: int | None = None) -> FigureParts:
    """The FigureParts (data, layout) of ``head_view_figure``, as plain dicts and lists (fast to build)."""
    w = rounded(weights)
    h = check_weights(w, tokens)
    T = len(tokens)
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)) or not 0 <= query < T:
        raise ValueError(f"query must be a token index from 0 to {T - 1}, got {query!r}")
    query = int(query)
    cols = grid_columns(h) if cols is None else max(1, min(int(cols), h))
    rows = -(-h // cols)  # ceil(h / cols)
    labels = unique_labels(tokens)
    layout, axes = subplot_grid(
        rows=2, cols=1, row_heights=[1.15, rows], vertical_spacing=0.3 / (rows + 1), subplot_titles=["head view"]
    )
    layout["annotations"][0]["text"] = (
        f"what '{labels[query]}' looks at: one line per head, coloured as the heads' titles, thicker = more weight"
    )
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
    lines, ends, colours, hover = [], [], [], []  # one line per (head, token); its end: a dot with hover text
    for i in range(h):
        row = w[i, query]  # (T,)
        for t in range(T):
            end = round(-t + (i - (h - 1) / 2) * spread, 4)
            weight = float(row[t])  # more weight: a wider, less see-through line
            lines.append(
                dict(
                    type="line", x0=0.02, y0=-query, x1=0.98, y1=end, layer="below",  # on axes x and y
                    line=dict(color=with_alpha(head_colour(i), 0.06 + 0.94 * weight), width=round(0.5 + 7 * weight, 1)),
                )
            )  # fmt: skip
            ends.append(end)
            colours.append(head_colour(i))
            hover.append(f"head {i + 1}: {labels[query]} -> {labels[t]}: {row[t]:.2f}")
    data.append(  # one trace for every head's dots: drawing h traces and a legend would take longer
        dict(
            type="scatter", x=[0.97] * len(ends), y=ends, mode="markers", marker=dict(color=colours, size=6),
            hovertext=hover, hoverinfo="text", showlegend=False, xaxis="x", yaxis="y",
        )
    )  # fmt: skip
    layout["xaxis"].update(visible=False, range=[-0.7, 1.7], fixedrange=True)
    layout["yaxis"].update(visible=False, range=[-T + 0.4, 0.6], fixedrange=True)
    # below: every head's heatmap, token labels once per block column (bottom) and block row (left)
    grid = axes[1][0]  # {"xaxis": "x2", "yaxis": "y2"}
    data.append(heads_grid_trace(w, labels, cols, grid))
    width, height = cols * (T + 1) - 1, rows * (T + GRID_ROW_GAP) - GRID_ROW_GAP
    # ticklabeloverflow "allow": checking whether each of the many labels overflows the figure costs more than
    # drawing the heatmaps (they fit: the margins leave them room)
    tick = dict(
        tickmode="array",
        tickfont=dict(size=9),
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        ticklabeloverflow="allow",
    )
    layout[axis_key(grid["xaxis"])].update(
        tick, tickvals=[c * (T + 1) + k for c in range(cols) for k in range(T)], ticktext=labels * cols,
        tickangle=-45, range=[-0.5, width - 0.5],
    )  # fmt: skip
    layout[axis_key(grid["yaxis"])].update(
        tick, tickvals=[r * (T + GRID_ROW_GAP) + q for r in range(rows) for q in range(T)], ticktext=labels * rows,
        range=[height - 0.5, -0.5],  # row 0 at the top
    )  # fmt: skip
    for i in range(h):  # each head's title, over its block, carries its colour, the colour of its lines: no legend
        r0, c0 = grid_corner(i, T, cols)
        layout["annotations"].append(
            dict(
                text=f'<span style="color:{head_colour(i)}">\u25a0</span> head {i + 1}', showarrow=False,
                x=c0 + (T - 1) / 2, y=r0 - 0.5, xref=grid["xaxis"], yref=grid["yaxis"], yanchor="bottom",
                font=dict(size=13),
            )
        )  # fmt: skip
    layout.update(
        title=dict(text=title or f"{h} head{'s' if h > 1 else ''} read the same sentence", x=0.02),
        height=440 + 260 * rows,
        shapes=lines,
        coloraxis=dict(colorscale=blues(), cmin=0, cmax=1, colorbar=dict(title=dict(text="weight"), len=0.45, y=0.2)),
        showlegend=False,
        # fixed margins (the colorbar fits in the right one): growing them would make plotly draw everything twice
        margin=dict(l=70, r=90, t=100, b=50, autoexpand=False),
        plot_bgcolor="white",
    )
    return data, layout


def head_view_figure(weights, tokens, query: int, title: str | None = None, cols: int | None = None) -> go.Figure:
    """A head view of one token above one heatmap per head.

    weights: (h, T, T), one sentence's attention weights (row = query, column = key); query: a token index.
    Top: the token ``query`` (left) joined to every token (right) by one line per head; a line's width and
    opacity grow with its weight. Below: the heads' heatmaps on one color scale from 0 to 1.
    """
    return parts_figure(*head_view_parts(weights, tokens, query, title, cols))
