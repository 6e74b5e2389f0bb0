"""Sphinx extension: every plotly figure of the book gets a name, a description and its numbers as a table.

A plotly figure is an SVG drawing: a screen reader finds nothing in it. For each figure on a page this adds, from
the figure's own data (the JSON passed to ``Plotly.newPlot``):

- ``role="figure"`` and an ``aria-label`` (the figure's title) on the figure's div, ``aria-describedby`` pointing
  at a one-sentence description, shown under the figure as its caption;
- the numbers the figure draws, as HTML tables, in a ``<details>`` block ("The numbers in this figure") that is
  closed until the reader opens it. Figures with a slider or buttons describe what the reader first sees.

It also makes the book's primary sidebar a landmark ("The course's pages"), so that all content of a page sits in
a landmark (axe-core's ``region`` rule).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter

_NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"(?P<id>[^"]+)",\s*')
_FIGURE_DIV = '<div id="{id}" class="plotly-graph-div"'
_SIDEBAR = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar">'
_SIDEBAR_LANDMARK = _SIDEBAR.replace(">", ' role="region" aria-label="The course\'s pages">')
MAX_ROWS = 40  # a table longer than this shows its first rows and says how many it left out


def values(v) -> list:
    """A trace's array as a (nested) list: plotly.py writes NumPy arrays as base64 ({"dtype", "bdata", "shape"})."""
    if isinstance(v, dict) and "bdata" in v:
        import numpy as np

        flat = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]).newbyteorder("<"))
        shape = v.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return (flat.reshape(shape) if shape else flat).tolist()
    return list(v) if v is not None else []


def _text(value) -> str:
    if isinstance(value, dict):
        value = value.get("text", "")
    return re.sub(r"<[^>]+>", " ", str(value or "")).strip()


def _figure_args(body: str, start: int) -> tuple[list, dict]:
    """The data and layout arguments of the Plotly.newPlot call whose arguments begin at ``start``."""
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(body, start)
    end = body.index(",", end) + 1
    while body[end].isspace():
        end += 1
    layout, _ = decoder.raw_decode(body, end)
    return data, layout


def _visible(trace: dict) -> bool:
    return trace.get("visible", True) is True


def _axis_title(layout: dict, axis: str, default: str) -> str:
    return _text((layout.get(axis) or {}).get("title")) or default


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return html.escape(str(value))


def describe(data: list, layout: dict) -> str:
    """One sentence: what kind of figure, how many series or panels, what the axes are, and its controls."""
    shown = [t for t in data if _visible(t)]
    counts = Counter(t.get("type", "scatter") for t in shown)
    words = {"heatmap": ("heatmap", "heatmaps"), "scatter": ("line or point series",) * 2, "bar": ("bar series",) * 2}
    kinds = [f"{n} {words.get(k, (k + ' trace', k + ' traces'))[n > 1]}" for k, n in counts.items()]
    parts = ["a figure with " + " and ".join(kinds) if kinds else "an empty figure"]
    heatmap = next((t for t in shown if t.get("type") == "heatmap"), None)
    if heatmap is not None:
        z = values(heatmap.get("z"))
        parts[0] += (
            f" of {len(z)} by {len(z[0]) if z else 0} values each"
            if counts["heatmap"] > 1
            else (f" of {len(z)} by {len(z[0]) if z else 0} values")
        )
    names = list(dict.fromkeys(_text(t.get("name")) for t in shown if _text(t.get("name"))))
    if names:
        parts.append("named " + ", ".join(names[:6]) + (", ..." if len(names) > 6 else ""))
    x, y = _axis_title(layout, "xaxis", ""), _axis_title(layout, "yaxis", "")
    if x and y and counts.keys() - {"heatmap"}:
        parts.append(f"{y} against {x}")
    for slider in layout.get("sliders") or []:
        labels = [str(s.get("label")) for s in slider.get("steps", [])]
        prefix = _text((slider.get("currentvalue") or {}).get("prefix")).rstrip(": =") or "a setting"
        parts.append(f"a slider chooses {prefix} ({', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''})")
    for menu in layout.get("updatemenus") or []:
        labels = [str(b.get("label")) for b in menu.get("buttons", [])]
        parts.append(f"buttons choose between {', '.join(labels[:8])}")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "." if sentence else "A figure."


def _table(caption: str, header: list, rows: list) -> str:
    more = len(rows) - MAX_ROWS
    rows = rows[:MAX_ROWS]
    head = "".join(f'<th scope="col">{_fmt(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + f'<th scope="row">{_fmt(r[0])}</th>' + "".join(f"<td>{_fmt(v)}</td>" for v in r[1:]) + "</tr>"
        for r in rows
    )
    note = f"<p>{more} more rows are left out.</p>" if more > 0 else ""
    # the theme's grey captions fail the contrast rule in dark mode: use the text's own colour
    caption = f'<caption style="color: inherit">{html.escape(caption)}</caption>'
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def tables(data: list, layout: dict) -> str:
    """The numbers of every visible trace: a heatmap as its grid, a line or bar series as (x, y) rows."""
    out = []
    for i, trace in enumerate(t for t in data if _visible(t)):
        name = _text(trace.get("name")) or f"series {i + 1}"
        if trace.get("type") == "heatmap" and trace.get("z") is not None:
            z = values(trace["z"])
            xs = values(trace.get("x")) or list(range(len(z[0]) if z else 0))
            ys = values(trace.get("y")) or list(range(len(z)))
            x_title = _axis_title(layout, "xaxis" + trace.get("xaxis", "x")[1:], "column")
            y_title = _axis_title(layout, "yaxis" + trace.get("yaxis", "y")[1:], "row")
            out.append(
                _table(
                    f"{name}: one row per {y_title}, one column per {x_title}",
                    [f"{y_title} / {x_title}"] + list(xs),
                    [[y] + list(row) for y, row in zip(ys, z)],
                )
            )
        elif trace.get("y") is not None or trace.get("x") is not None:
            ys = values(trace.get("y"))
            xs = values(trace.get("x")) or list(range(len(ys)))
            x_title = _axis_title(layout, "xaxis" + trace.get("xaxis", "x")[1:], "x")
            y_title = _axis_title(layout, "yaxis" + trace.get("yaxis", "y")[1:], "y")
            out.append(_table(name, [x_title, y_title], [[x, y] for x, y in zip(xs, ys)]))
    return "".join(out)


def add_text_alternatives(body: str) -> str:
    """The page body with a name, a description and a data table for each plotly figure in it."""
    pos = 0
    while match := _NEWPLOT.search(body, pos):
        pos = match.end()  # the body grows below: search on from here each time
        fig_id = match.group("id")
        try:
            data, layout = _figure_args(body, match.end())
        except (ValueError, IndexError) as e:
            raise ValueError(f"figure {fig_id}: cannot read its data and layout ({e})") from e
        title = _text(layout.get("title")) or "Figure"
        try:
            description, numbers = describe(data, layout), tables(data, layout)
        except Exception as e:
            raise ValueError(f"figure {fig_id}: cannot describe it ({type(e).__name__}: {e})") from e
        div = _FIGURE_DIV.format(id=fig_id)
        if div not in body:
            continue
        labelled = (
            f'<div id="{fig_id}" role="figure" aria-label="{html.escape(title)}" '
            f'aria-describedby="{fig_id}-description" class="plotly-graph-div"'
        )
        extra = (
            f'<p id="{fig_id}-description" class="mha-figure-description" style="font-size: 0.9em">'
            f"{html.escape(description)}</p>"
            f'<details class="mha-figure-data" data-figure="{fig_id}"><summary>The numbers in this figure</summary>'
            f"{numbers}</details>"
        )
        body = body.replace(div, labelled, 1)
        # after the output block that holds the figure: the first </script></div> after the div
        anchor = body.index("</script>", body.index(labelled)) + len("</script>")
        close = body.index("</div>", anchor) + len("</div>")
        body = body[:close] + extra + body[close:]
    return body


def _page_context(app, pagename, templatename, context, doctree):
    if "body" in context and "Plotly.newPlot(" in context["body"]:
        context["body"] = add_text_alternatives(context["body"])


def _fix_sidebar(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from pathlib import Path

    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if _SIDEBAR in text:
            page.write_text(text.replace(_SIDEBAR, _SIDEBAR_LANDMARK), encoding="utf-8")


def setup(app):
    app.connect("html-page-context", _page_context, priority=400)  # before plotly_offline wraps the scripts
    app.connect("build-finished", _fix_sidebar)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
