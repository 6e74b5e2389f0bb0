"""The figures of mha.viz: their structure (traces, subplots, scales) and their errors."""

import numpy as np
import pytest
import torch

from mha import viz

TOKENS = "The animal didn't cross the street because it was too tired".split()


def softmax_rows(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=g), dim=-1)


# ---------------------------------------------------------------- head_heatmaps


@pytest.mark.parametrize(
    "h, cols, rows", [(1, None, 1), (2, None, 1), (4, None, 1), (8, None, 2), (6, 3, 2), (5, 2, 3)]
)
def test_head_heatmaps_one_subplot_per_head(h, cols, rows):
    T = len(TOKENS)
    fig = viz.head_heatmaps(softmax_rows((h, T, T)), TOKENS, cols=cols)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == h
    assert [a.text for a in fig.layout.annotations] == [f"head {i + 1}" for i in range(h)]
    n_cols = min(h, 4) if cols is None else cols
    assert len(fig._grid_ref) == rows and len(fig._grid_ref[0]) == n_cols
    # every head sits in its own subplot and all share one color scale from 0 to 1
    assert len({(t.xaxis, t.yaxis) for t in heatmaps}) == h
    assert all(t.coloraxis == "coloraxis" for t in heatmaps)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 1)


def test_head_heatmaps_values_are_the_rounded_weights():
    T = len(TOKENS)
    w = softmax_rows((3, T, T), seed=1)
    fig = viz.head_heatmaps(w, TOKENS)
    for i, trace in enumerate(fig.data):
        np.testing.assert_array_equal(np.asarray(trace.z), np.round(w[i].numpy().astype(float), 3))
    assert list(fig.data[0].x) == list(fig.data[0].y)


def test_head_heatmaps_accepts_numpy():
    fig = viz.head_heatmaps(np.full((2, 3, 3), 1 / 3), ["a", "b", "a"])
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["a", "b", "a#2"]


@pytest.mark.parametrize(
    "shape", [(len(TOKENS), len(TOKENS)), (2, len(TOKENS), 5), (2, 5, len(TOKENS)), (0, 11, 11), (1, 2, 11, 11)]
)
def test_head_heatmaps_bad_shapes_raise(shape):
    with pytest.raises(ValueError, match=r"weights must have shape \(h, 11, 11\)"):
        viz.head_heatmaps(np.zeros(shape), TOKENS)


@pytest.mark.parametrize("cols", [0, -1, 1.5, True])
def test_head_heatmaps_bad_cols_raise(cols):
    with pytest.raises(ValueError, match="cols must be a positive int"):
        viz.head_heatmaps(np.full((2, 3, 3), 1 / 3), ["a", "b", "c"], cols=cols)


def test_head_heatmaps_zmax_none_uses_the_largest_weight():
    w = np.full((2, 3, 3), 1 / 3)
    w[1, 0] = [0.5, 0.25, 0.25]
    fig = viz.head_heatmaps(w, ["a", "b", "c"], zmax=None)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 0.5)


# ---------------------------------------------------------------- render


def test_renderer_html_has_a_div_id_derived_from_the_figure():
    import plotly.io as pio

    renderer = pio.renderers["mha"]
    one = renderer.to_mimebundle(viz.attention_heatmap(np.eye(3), ["a", "b", "c"]).to_dict())
    again = renderer.to_mimebundle(viz.attention_heatmap(np.eye(3), ["a", "b", "c"]).to_dict())
    other = renderer.to_mimebundle(viz.attention_heatmap(np.eye(3), ["a", "b", "d"]).to_dict())
    assert set(one) == {"application/vnd.plotly.v1+json", "text/html"}
    assert one == again  # the same figure gives the same output, run after run (nbval compares it)
    div_id = one["text/html"].split('id="')[1].split('"')[0]
    assert div_id.startswith("mha-") and div_id not in other["text/html"]
    assert "<script" in one["text/html"] and "plotly.min.js" not in one["text/html"]  # the book serves plotly.js


def test_setup_notebook_picks_the_course_renderer_outside_colab():
    import plotly.io as pio

    assert viz.setup_notebook() == "mha" and pio.renderers.default == "mha"


def test_display_bundle_is_what_the_renderer_gives_the_figure():
    import plotly.io as pio

    data, layout = viz.shape_parts(16, 2, 3)
    fast = viz.display_bundle(data, layout)
    slow = pio.renderers["mha"].to_mimebundle(viz.parts_figure(data, layout).to_dict())
    assert fast["application/vnd.plotly.v1+json"] == slow["application/vnd.plotly.v1+json"]


# ---------------------------------------------------------------- palette


def test_head_colours_repeat_past_the_end_of_the_palette():
    assert viz.head_colour(0) == viz.HEAD_COLOURS[0] == viz.head_colour(len(viz.HEAD_COLOURS))
    assert len(set(viz.HEAD_COLOURS)) == len(viz.HEAD_COLOURS) == 16  # the explorers go up to 16 heads


# Machado et al. (2009), severity 1: what a reader with each deficiency sees, as a matrix on linear RGB.
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _lab(hex_colour: str, matrix) -> np.ndarray:
    """CIE L*a*b* of a colour as a reader with the deficiency ``matrix`` sees it."""
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    rgb = np.clip(np.array(matrix) @ np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > 0.008856, np.cbrt(f), 7.787 * f + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("deficiency", list(CVD))
def test_the_first_eight_head_colours_stay_apart_for_colour_blind_readers(deficiency):
    """Up to 8 heads (every figure but the explorers' largest settings), any two head colours differ by a
    CIE76 distance of at least 15 as a reader with protanopia, deuteranopia or tritanopia sees them (about 2.3 is
    the smallest difference a person notices; the explorers' former palette, plotly's old default, drops to 4.6
    for protanopia and 7.3 for deuteranopia)."""
    labs = [_lab(c, CVD[deficiency]) for c in viz.HEAD_COLOURS[:8]]
    closest = min(np.linalg.norm(a - b) for i, a in enumerate(labs) for b in labs[i + 1 :])
    assert closest >= 15, f"{deficiency}: two of the first 8 head colours are only {closest:.1f} apart"


# ---------------------------------------------------------------- head view


@pytest.mark.parametrize("h", [1, 3, 4, 5, 8])
def test_head_view_one_line_per_head_and_token_from_the_query(h):
    T = len(TOKENS)
    w = softmax_rows((h, T, T), seed=2)
    data, layout = viz.head_view_parts(w, TOKENS, query=7)
    lines = layout["shapes"]
    assert len(lines) == h * T and all(s["y0"] == -7 for s in lines)
    # a line's width grows with its weight: the widest line of head 1 goes to the token it weighs most
    widths = [s["line"]["width"] for s in lines[:T]]
    assert widths.index(max(widths)) == int(w[0, 7].argmax())
    assert viz.head_view_figure(w, TOKENS, 7).to_dict()["data"] == viz.parts_figure(data, layout).to_dict()["data"]
    # each line ends in a dot whose hover text gives the weight; the dots' and lines' colours are the heads' colours,
    # which the heads' titles show (no legend)
    (dots,) = [d for d in data if d.get("mode") == "markers"]
    weight = float(np.round(float(w[-1, 7, 1]), 3))  # the last head's weight from token 7 to token 1
    assert len(dots["hovertext"]) == h * T
    assert dots["hovertext"][(h - 1) * T + 1] == f"head {h}: {TOKENS[7]} -> {TOKENS[1]}: {weight:.2f}"
    rgb = [viz.with_alpha(c, 1).rsplit(",", 1)[0] for c in dots["marker"]["color"]]
    assert rgb == [s["line"]["color"].rsplit(",", 1)[0] for s in lines]
    first = float(np.round(float(w[0, 7, 0]), 3))  # head 1's weight from token 7 to token 0
    assert lines[0]["line"]["color"] == viz.with_alpha(viz.head_colour(0), 0.06 + 0.94 * first)
    titles = [a["text"] for a in layout["annotations"][1:]]
    assert [t.endswith(f"head {i + 1}") and viz.head_colour(i) in t for i, t in enumerate(titles)] == [True] * h
    assert layout["showlegend"] is False
    # below: one heatmap holds every head's weights, head i in the block at viz.grid_corner(i, T, cols), under
    # its title; hovering a cell names the head and both tokens
    (grid,) = [d for d in data if d["type"] == "heatmap"]
    cols = viz.grid_columns(h)
    for i in range(h):
        r, c = viz.grid_corner(i, T, cols)
        block = [row[c : c + T] for row in grid["z"][r : r + T]]
        assert np.allclose(block, np.round(w[i].numpy(), 3))
        assert grid["text"][r + 7][c + 1] == f"head {i + 1}: {TOKENS[7]} looks at {TOKENS[1]}"
        assert (titles[i] and layout["annotations"][i + 1]["x"], layout["annotations"][i + 1]["y"]) == (c + 5, r - 0.5)
    assert sum(v is not None for row in grid["z"] for v in row) == h * T * T  # the rest of the grid is empty
    assert layout["xaxis2"]["ticktext"] == TOKENS * cols  # the tokens, once under each column of blocks


def test_head_view_rows_are_full_where_they_can_be():
    cols = [viz.grid_columns(h) for h in range(1, 17)]  # for 1, 2, ..., 16 heads
    assert cols == [1, 2, 3, 4, 5, 3, 4, 4, 3, 5, 4, 4, 4, 4, 3, 4]


@pytest.mark.parametrize("query", [-1, 11, 2.0, True])
def test_head_view_bad_query(query):
    with pytest.raises(ValueError, match="query must be a token index from 0 to 10"):
        viz.head_view_parts(softmax_rows((2, 11, 11)), TOKENS, query)


# ---------------------------------------------------------------- kernel-free explorers


def test_controls_figure_checks_its_input():
    with pytest.raises(ValueError, match="at least one"):
        viz.controls_figure({}, "h")
    figs = {
        (16, 1): viz.shape_figure(16, 1, 3),
        (16, 2): viz.shape_figure(16, 2, 3),
        (32, 1): viz.shape_figure(32, 1, 3),
    }
    with pytest.raises(ValueError, match=r"missing \[\(32, 2\)\]"):
        viz.controls_figure(figs, "num_heads", "d_model")


def test_controls_figure_steps_swap_in_each_figure():
    figs = {h: viz.shape_figure(16, h, 3) for h in (1, 2, 4)}
    fig = viz.controls_figure(figs, "num_heads", active=2)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["1", "2", "4"] and fig.layout.sliders[0].active == 1
    assert "h = 2" in fig.layout.title.text
    for step, h in zip(steps, (1, 2, 4)):
        assert f"h = {h}" in step.args[1]["title"]["text"]
        assert sum(step.args[0]["visible"]) == len(figs[h].data)  # the other trace slots are hidden
    assert len({s.args[1]["height"] for s in steps}) == 1  # one height: the page does not move


# ---------------------------------------------------------------- the experiments' figures (notebooks 2 and 6)


def test_attention_row_figure_one_panel_per_sentence():
    rows = [("tired", ["the", "cat"], torch.tensor([0.25, 0.75])), ("wide", ["the", "road"], [1.0, 0.0])]
    fig = viz.attention_row_figure(rows, head=2)
    assert [t.type for t in fig.data] == ["bar", "bar"] and fig.data[0].marker.color == viz.head_colour(2)
    assert list(fig.data[0].x) == ["0 the", "1 cat"] and list(fig.data[1].y) == [1.0, 0.0]
    with pytest.raises(ValueError, match="2 words but 3 weights"):
        viz.attention_row_figure([("x", ["a", "b"], [0.2, 0.3, 0.5])], head=0)


def test_pruning_figure_mean_and_spread_over_models():
    by_importance = torch.tensor([[1.0, 0.8, 0.2], [1.0, 0.6, 0.0]])  # (models, heads + 1)
    at_random = torch.tensor([[1.0, 0.5, 0.2], [1.0, 0.5, 0.0]])
    fig = viz.pruning_figure({"one layer": (by_importance, at_random)})
    first = fig.data[0]
    assert first.name == "least important first" and list(first.y) == [1.0, 0.7, 0.1]
    assert list(first.error_y.array) == [0.0, 0.1414, 0.1414]
    assert fig.data[1].name == "random order" and list(fig.data[1].x) == [0, 1, 2]
