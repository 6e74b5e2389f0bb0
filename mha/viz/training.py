"""Training and the heads' roles: loss and accuracy curves, what each head looks at, what removing a head does.

The figures of notebooks 2, 5 and 6, and ``training_parts``, the figure of the training explorer.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mha.viz.heatmaps import check_weights, heatmap_trace, share_heatmap, style_heatmap_axes
from mha.viz.palette import blues, head_colour, head_colourscale, with_alpha
from mha.viz.parts import FigureParts, axis_key, subplot_grid
from mha.viz.render import rounded, unique_labels


def _curves_of(run) -> tuple[np.ndarray, np.ndarray]:
    """(losses, accuracies) of a TrainResult-like object or a (losses, accuracies) pair."""
    if hasattr(run, "losses") and hasattr(run, "accuracies"):
        losses, accs = run.losses, run.accuracies
    else:
        losses, accs = run
    losses, accs = rounded(losses, 4), rounded(accs, 4)
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
        color = head_colour(i)
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
    s = rounded(scores, 2)
    roles = list(roles)
    if s.ndim != 2 or s.shape[1] != len(roles) or s.shape[0] == 0:
        raise ValueError(f"scores must have shape (num_heads, {len(roles)}) for roles {roles}, got {s.shape}")
    heads = [f"head {i + 1}" for i in range(s.shape[0])]
    text = [[f"{v:.2f}" for v in row] for row in s]
    hover = "%{y}, role %{x}: %{z:.2f}<extra></extra>"
    fig = go.Figure(share_heatmap(s, roles, heads, "attention<br>on target", hover, text=text, texttemplate="%{text}"))
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
    table = [rounded(s, 2) for s in scores_by_run.values()]
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
            colorscale=head_colourscale(num_heads),
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


def head_ablation_figure(changes, title: str = "What removing one head does to the output") -> go.Figure:
    """Bars: for each head, how much the output changes when that head is zeroed (relative change)."""
    c = rounded(changes)
    if c.ndim != 1:
        raise ValueError(f"changes must have shape (num_heads,), got {c.shape}")
    labels = [f"head {i + 1}" for i in range(len(c))]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=c,
            marker_color=[head_colour(i) for i in range(len(c))],
            text=[f"{v:.2f}" for v in c],
            textposition="outside",
            hovertemplate="without %{x} the output moves by %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=380, margin=dict(l=70, r=20, t=60, b=50))
    fig.update_xaxes(title="head set to zero with head_mask")
    fig.update_yaxes(title="relative change of the output", rangemode="tozero")
    return fig


def training_parts(
    losses, weights, tokens, accuracy: float, ablation: dict | None = None, title: str | None = None, heads_on=None
) -> FigureParts:
    """What one training run learned: its loss curve, its accuracy with heads removed, each head's pattern.

    The FigureParts (data, layout) of the training explorer's figure, as plain dicts and lists (fast to build;
    ``parts_figure(*training_parts(...))`` is its go.Figure).
    losses: the training loss after each step. weights: (h, T, T), the trained heads on one sentence.
    accuracy: the accuracy with every head on. ablation: optional {label: accuracy}, such as
    {"without head 1": 0.61}; a label ending in a head's number gets that head's colour.
    heads_on: optional list of h booleans; the heatmaps of heads that are off are drawn faded.
    """
    w = rounded(weights)
    h = check_weights(w, tokens)
    losses = rounded(losses).tolist()
    labels = unique_labels(tokens)
    heads_on = [True] * h if heads_on is None else [bool(on) for on in heads_on]
    if len(heads_on) != h:
        raise ValueError(f"heads_on must have one entry per head ({h}), got {len(heads_on)}")
    cols = max(h, 2)
    left = cols // 2
    layout, axes = subplot_grid(
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
        head_colour(int(n.split()[-1]) - 1) if n.split()[-1].isdigit() else "#999999" for n in names[1:]
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
    layout[axis_key(loss_ax["xaxis"])].update(title=dict(text="training step"))
    layout[axis_key(loss_ax["yaxis"])].update(title=dict(text="loss"), rangemode="tozero")
    layout[axis_key(acc_ax["yaxis"])].update(title=dict(text="accuracy"), range=[0, 1.15], tickformat=".0%")
    for i in range(h):
        data.append(dict(heatmap_trace(w[i], labels, i, axes[1][i]), opacity=1.0 if heads_on[i] else 0.25))
        style_heatmap_axes(layout, axes[1][i], i == 0)
        if not heads_on[i]:
            layout["annotations"][2 + i]["text"] = f"head {i + 1} (off)"
    layout.update(
        title=dict(text=title or f"{h} head{'s' if h > 1 else ''} after training: accuracy {accuracy:.0%}", x=0.02),
        height=700,
        coloraxis=dict(colorscale=blues(), cmin=0, cmax=1, colorbar=dict(title=dict(text="weight"), len=0.42, y=0.2)),
        margin=dict(l=70, r=20, t=90, b=60),
    )
    return data, layout


def seed_curves_figure(
    curves: dict, baselines: dict | None = None, title: str = "Accuracy on new examples while training, over seeds"
) -> go.Figure:
    """Accuracy against the training step for many seeds: per model, the mean over seeds and a band of ± 1 sd.

    curves: {label: (steps, accuracies)} with steps a list of K step numbers and accuracies (S seeds, K), e.g.
    the ``test_curve`` of each ``mha.train.train_many`` result. baselines: optional {name: accuracy}, drawn as
    dashed lines. The band (clipped to [0, 1]) shows how far single seeds stray from the mean.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: (steps, accuracies (seeds, steps))}")
    fig = go.Figure()
    for i, (label, (steps, accs)) in enumerate(curves.items()):
        steps, accs = [int(s) for s in steps], rounded(accs, 6)
        if accs.ndim != 2 or accs.shape[1] != len(steps) or accs.shape[0] < 2:
            raise ValueError(
                f"{label!r}: accuracies must have shape (seeds >= 2, {len(steps)} steps), got {accs.shape}"
            )
        mean, sd = accs.mean(axis=0), accs.std(axis=0, ddof=1)
        low, high = np.round(np.clip(mean - sd, 0, 1), 4), np.round(np.clip(mean + sd, 0, 1), 4)
        colour = head_colour(i)
        fig.add_trace(
            go.Scatter(
                x=steps + steps[::-1], y=high.tolist() + low[::-1].tolist(), fill="toself", mode="lines",
                line=dict(width=0), fillcolor=with_alpha(colour, 0.2), name=f"{label}: mean ± 1 sd",
                legendgroup=str(label), hoverinfo="skip",
            )
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=steps, y=np.round(mean, 4).tolist(), mode="lines+markers", marker=dict(size=4),
                line=dict(color=colour, width=3), name=f"{label}: mean of {accs.shape[0]} seeds",
                legendgroup=str(label), hovertemplate=f"{label}, step %{{x}}: mean %{{y:.3f}}<extra></extra>",
            )
        )  # fmt: skip
    for name, value in (baselines or {}).items():
        fig.add_hline(
            y=round(float(value), 4), line=dict(color="grey", dash="dash", width=1),
            annotation_text=f"{name}: {value:.2f}", annotation_position="bottom right",
        )  # fmt: skip
    fig.update_layout(
        title=title, height=460, margin=dict(l=60, r=20, t=110, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )  # fmt: skip
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="accuracy on new examples", range=[0, 1.02], tickformat=".0%")
    return fig
