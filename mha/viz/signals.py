"""How numbers behave as a layer gets wider or a stack gets deeper: softmax saturation against the width d_k of a
head (notebook 1), and how alike the tokens' vectors become through a stack of attention blocks (notebook 9).

Both take plain numbers (already computed in the notebook) and return a ``go.Figure``.
"""

from __future__ import annotations

import plotly.graph_objects as go

from mha.viz.palette import head_colour, with_alpha
from mha.viz.render import rounded


def softmax_saturation_figure(
    widths,
    largest_raw,
    largest_scaled,
    T: int,
    title: str = "Without scaling, softmax gives (almost) all the weight to one token as d_k grows",
) -> go.Figure:
    """The average largest weight of a softmax row against the width d_k, with and without dividing by sqrt(d_k).

    widths: the head widths d_k (drawn on a log axis); largest_raw, largest_scaled: the average largest weight of a
    row of T scores at each width, without and with the scaling; a dotted line marks 1/T (all tokens equal).
    """
    widths = list(widths)
    if not (len(widths) == len(largest_raw) == len(largest_scaled)):
        raise ValueError("widths, largest_raw and largest_scaled must have the same length")
    fig = go.Figure()
    fig.add_scatter(x=widths, y=list(largest_raw), name="scores not scaled", mode="lines+markers")
    fig.add_scatter(x=widths, y=list(largest_scaled), name="scores divided by sqrt(d_k)", mode="lines+markers")
    fig.add_hline(y=1 / T, line_dash="dot", annotation_text="1/T: all tokens equal", annotation_position="bottom right")
    fig.update_layout(
        title=title,
        xaxis=dict(title="width of a head, d_k (log scale)", type="log", tickvals=widths),
        yaxis=dict(title="average largest weight in a row", range=[0, 1.05]),
        height=420,
    )
    return fig


def depth_similarity_figure(
    depths,
    curves: dict,
    title: str = "How alike the tokens become through a stack of random attention blocks",
    y_title: str = "cosine similarity of two different tokens' vectors",
    x_title: str = "number of layers (depth)",
) -> go.Figure:
    """One line per kind of stack: the mean over seeds against the depth, with a band of ± one standard deviation.

    depths: the numbers of blocks (x axis); curves: {name: (means, sds)}, one value per depth each (e.g. the mean
    cosine similarity between different tokens' vectors over many seeds). Values are rounded to 4 decimals.
    """
    depths = [int(d) for d in depths]
    fig = go.Figure()
    for i, (name, (means, sds)) in enumerate(curves.items()):
        if not (len(means) == len(sds) == len(depths)):
            raise ValueError(f"curve {name!r}: means and sds need one value per depth ({len(depths)})")
        mean, sd = rounded(means, 4), rounded(sds, 4)
        colour = head_colour(i)
        fig.add_scatter(
            x=depths + depths[::-1],
            y=list((mean + sd).round(4)) + list((mean - sd).round(4))[::-1],
            fill="toself",
            fillcolor=with_alpha(colour, 0.2),
            line=dict(width=0),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=name,
        )
        fig.add_scatter(
            x=depths,
            y=list(mean),
            name=name,
            mode="lines+markers",
            line=dict(color=colour),
            legendgroup=name,
            hovertemplate="%{x} layers: %{y:.3f}<extra>" + name + "</extra>",
        )
    fig.update_layout(
        title=title, height=440, margin=dict(l=70, r=20, t=60, b=50), legend=dict(x=0.98, y=0.5, xanchor="right")
    )
    fig.update_xaxes(title=x_title, tickvals=depths)
    fig.update_yaxes(title=y_title, range=[-0.05, 1.05])
    return fig
