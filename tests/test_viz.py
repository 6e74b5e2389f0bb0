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
