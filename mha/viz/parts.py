"""Fast figures: a figure as plain (data, layout) dicts and lists, and subplot grids built once.

The explorers redraw on every move of a slider. plotly's checking of every property of a go.Figure would take
most of a second, so their figures are built as a ``FigureParts`` pair (data, layout) of plain dicts and
lists, and wrapped, unchecked, by ``parts_figure`` when a go.Figure is wanted. tests/unit/test_widgets.py checks
that plotly accepts every one of them.
"""

from __future__ import annotations

import copy
import json

import plotly.graph_objects as go

FigureParts = tuple[list, dict]  # (data: one dict per trace, layout: a dict), as in a figure's to_dict()


def parts_figure(data: list, layout: dict) -> go.Figure:
    """The go.Figure of (data, layout), built without plotly's (slow) checks."""
    return go.Figure(data=data, layout=layout, _validate=False)


_GRIDS: dict = {}


def subplot_grid(**kwargs) -> tuple[dict, list]:
    """make_subplots(**kwargs)'s layout (a fresh copy) and each subplot's axis names, row by row (None for gaps).

    An axis name is a dict such as {"xaxis": "x3", "yaxis": "y3"}, ready to be put into a trace.
    make_subplots is slow (a quarter of a second for ten subplots), so grids are remembered by their arguments.
    """
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


def axis_key(ref: str) -> str:
    """The layout key of an axis reference: 'x3' -> 'xaxis3', 'y' -> 'yaxis'."""
    return ref[0] + "axis" + ref[1:]
