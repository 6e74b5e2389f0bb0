"""The figures of notebook 6's symmetry experiment: how far apart heads that started identical drift, step by
step, for each size of push. Each takes plain numbers and rounds what it draws."""

from __future__ import annotations

import statistics

import plotly.graph_objects as go

from mha.viz.palette import head_colour, with_alpha


def push_distance_figure(distances: dict, title: str = "") -> go.Figure:
    """The distance between heads over training steps, on a log axis, one colour per push size.

    distances: {label: [[distance after step 0, 1, ...] for each seed]}. Each seed is a thin line and the median
    over seeds a thick one; step 0 (the push itself) is drawn too. A distance of exactly 0 cannot be drawn on a
    log axis: a label whose runs stay at 0 at every step gets a legend entry saying so and no line.
    """
    if not isinstance(distances, dict) or not distances:
        raise ValueError("distances must be a non-empty dict {label: [[distance per step] per seed]}")
    fig = go.Figure()
    for i, (label, runs) in enumerate(distances.items()):
        runs = [[float(v) for v in run] for run in runs]
        if not runs or len({len(run) for run in runs}) != 1 or not runs[0]:
            raise ValueError(f"{label!r}: every seed needs the same number of steps, got {[len(r) for r in runs]}")
        colour = head_colour(i)
        if all(v == 0.0 for run in runs for v in run):
            fig.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="lines", name=f"{label}: 0 at every step (not drawn on a log axis)",
                    line=dict(color=colour, width=3),
                )
            )  # fmt: skip
            continue
        steps = list(range(len(runs[0])))
        for run in runs:
            fig.add_trace(
                go.Scatter(
                    x=steps, y=[_drawable(v) for v in run], mode="lines", legendgroup=label, showlegend=False,
                    line=dict(color=with_alpha(colour, 0.3), width=1), hoverinfo="skip",
                )
            )  # fmt: skip
        median = [statistics.median(column) for column in zip(*runs)]
        fig.add_trace(
            go.Scatter(
                x=steps, y=[_drawable(v) for v in median], mode="lines", legendgroup=label,
                name=f"{label} (median of {len(runs)} seeds)", line=dict(color=colour, width=3),
                hovertemplate=label + ", step %{x}: median %{y:.2e}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title=title, height=460, xaxis=dict(title="training step (0 = after the push, before training)"),
        yaxis=dict(title="largest difference between heads", type="log", exponentformat="power"),
        legend=dict(title="push at the start", orientation="h", yanchor="top", y=-0.18, x=0),
        margin=dict(l=70, r=20, t=70, b=130),
    )  # fmt: skip
    return fig


def _drawable(value: float):
    """A distance rounded to 4 significant digits for the figure; None (a gap) for 0, which a log axis cannot show."""
    return float(f"{value:.4g}") if value > 0 else None
