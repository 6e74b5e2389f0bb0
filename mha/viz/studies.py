"""The figures of notebook 7's studies: resolver scores per seed, the frozen-W_O control, one attention row in two
sentences, and pruning curves. Each takes plain numbers (lists or CPU tensors) and rounds what it draws."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mha.viz.palette import head_colour
from mha.viz.render import rounded


def attention_row_figure(rows: list, head: int, title: str = "") -> go.Figure:
    """One bar chart per sentence, side by side: rows [(subtitle, words, weights (T,))], in head ``head``'s colour."""
    fig = make_subplots(
        rows=1, cols=len(rows), shared_yaxes=True, horizontal_spacing=0.06, subplot_titles=[r[0] for r in rows]
    )
    for col, (_, words, weights) in enumerate(rows, start=1):
        weights = rounded(weights, 4).tolist()
        if len(words) != len(weights):
            raise ValueError(f"{len(words)} words but {len(weights)} weights")
        fig.add_trace(
            go.Bar(
                x=[f"{i} {w}" for i, w in enumerate(words)], y=weights, marker_color=head_colour(head),
                showlegend=False, hovertemplate="%{x}: %{y:.2f}<extra></extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    fig.update_layout(title=title, height=420, margin=dict(l=60, r=20, t=90, b=110))
    fig.update_yaxes(title="attention weight", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(tickangle=-60)
    return fig


def pruning_figure(curves: dict, title: str = "") -> go.Figure:
    """curves {panel name: (by_importance, at_random)}, each (models, heads + 1): mean ± sd over models."""
    fig = make_subplots(
        rows=1, cols=len(curves), subplot_titles=list(curves), shared_yaxes=True, horizontal_spacing=0.06
    )
    for col, pair in enumerate(curves.values(), start=1):
        for i, (label, values) in enumerate(zip(("least important first", "random order"), pair)):
            fig.add_trace(
                go.Scatter(
                    x=list(range(values.shape[1])), y=rounded(values.mean(0), 4).tolist(),
                    error_y=dict(type="data", array=rounded(values.std(0), 4).tolist(), visible=True),
                    mode="lines+markers", name=label, legendgroup=label, showlegend=col == 1,
                    line=dict(color=head_colour(i)), hovertemplate=label + ", %{x} removed: %{y:.2f}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    fig.update_layout(
        title=title, height=420, legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
        margin=dict(l=60, r=20, t=110, b=50),
    )  # fmt: skip
    fig.update_xaxes(title="heads removed", dtick=1)
    fig.update_yaxes(title="accuracy", range=[0, 1.05], row=1, col=1)
    return fig


def resolver_seeds_figure(scores: dict, baselines: dict, title: str = "") -> go.Figure:
    """One marker per (model, seed) of a resolver score: scores {name: {seed: score}}; baselines {name: score} as
    dashed lines. A score is the fraction of new sentences in which the row of "it" prefers the right noun."""
    fig = go.Figure()
    for i, (name, by_seed) in enumerate(scores.items()):
        fig.add_trace(
            go.Scatter(
                x=list(by_seed), y=rounded(list(by_seed.values()), 4).tolist(), mode="markers", name=name,
                marker=dict(size=10, color=head_colour(i)), hovertemplate=name + ", seed %{x}: %{y:.2f}<extra></extra>",
            )
        )  # fmt: skip
    for i, (name, value) in enumerate(baselines.items()):
        fig.add_hline(
            y=round(float(value), 4), line=dict(color="grey", dash="dash", width=1),
            annotation_text=f"{name}: {value:.2f}", annotation_position="bottom right" if i % 2 else "top left",
        )  # fmt: skip
    fig.update_layout(
        title=title, height=450, xaxis=dict(title="seed", dtick=1),
        yaxis=dict(title="sentences where 'it' prefers the right noun", range=[0, 1.02]),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), margin=dict(l=70, r=20, t=90, b=50),
    )  # fmt: skip
    return fig


def frozen_control_figure(panels: dict, title: str = "") -> go.Figure:
    """Paired accuracies, one line per seed: panels {panel name: {"learned": [per seed], "frozen": [per seed]}}
    (any two arm names), one panel each; a seed's two arms are joined by a line, the mean drawn as a grey bar."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), shared_yaxes=True)
    for col, arms in enumerate(panels.values(), start=1):
        names = list(arms)
        values = [rounded(v, 4).tolist() for v in arms.values()]
        if len(names) != 2 or len(values[0]) != len(values[1]):
            raise ValueError("each panel needs two arms with one accuracy per seed each")
        for seed, pair in enumerate(zip(*values)):
            fig.add_trace(
                go.Scatter(
                    x=names, y=list(pair), mode="lines+markers", showlegend=False, opacity=0.6,
                    line=dict(color=head_colour(col - 1), width=1), marker=dict(size=7),
                    hovertemplate=f"seed {seed}, " + "%{x}: %{y:.3f}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        means = [round(sum(v) / len(v), 4) for v in values]
        fig.add_trace(
            go.Scatter(
                x=names, y=means, mode="markers", showlegend=False,
                marker=dict(symbol="line-ew-open", size=40, line=dict(width=4, color="grey")),
                hovertemplate="mean, %{x}: %{y:.3f}<extra></extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    fig.update_layout(title=title, height=430, margin=dict(l=60, r=20, t=90, b=50))
    fig.update_yaxes(title="accuracy on new sentences", row=1, col=1)
    return fig
