"""Kernel-free explorers: one plotly figure whose slider (and buttons) switch between precomputed figures.

A page with no kernel (the rendered book) cannot redraw a figure, but plotly.js can swap a figure's data and
layout when a slider moves. ``controls_figure`` packs several figures into one such figure; the explorers of
``mha.widgets`` use it for their ``static_figure()``.
"""

from __future__ import annotations

import plotly.graph_objects as go


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
