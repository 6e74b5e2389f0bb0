"""The figures of notebooks 2 and 6: training curves, head-role scores, which head wins each role."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mha import viz
from mha.train import TrainResult


def test_training_curves_from_results_and_pairs():
    run = TrainResult(model=None, losses=[2.0, 1.0, 0.123456], accuracies=[0.1, 0.5, 0.9], seed=0, num_heads=1,
                      d_model=8, steps=3, lr=0.01)  # fmt: skip
    fig = viz.training_curves({"1 head": run, "2 heads": ([3.0, 2.0, 1.0], [0.0, 0.2, 0.4])})
    assert isinstance(fig, go.Figure) and len(fig.data) == 4  # loss and accuracy for each run
    assert list(fig.data[0].y) == [2.0, 1.0, 0.1235] and list(fig.data[1].y) == [0.1, 0.5, 0.9]
    assert [t.showlegend for t in fig.data] == [True, False, True, False]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color


@pytest.mark.parametrize("runs", [{}, [], {"a": ([1.0, 2.0], [0.5])}, {"a": ([], [])}])
def test_training_curves_bad_input(runs):
    with pytest.raises(ValueError):
        viz.training_curves(runs)


def test_head_role_figure():
    scores = torch.tensor([[0.9, 0.1234], [0.05, 0.8]])
    fig = viz.head_role_figure(scores, ["reference", "verb"])
    heat = fig.data[0]
    assert list(heat.y) == ["head 1", "head 2"] and list(heat.x) == ["reference", "verb"]
    np.testing.assert_array_equal(np.array(heat.z), [[0.9, 0.12], [0.05, 0.8]])
    assert heat.text[0][1] == "0.12"
    with pytest.raises(ValueError, match="num_heads, 3"):
        viz.head_role_figure(scores, ["a", "b", "c"])


def test_role_winners_figure():
    runs = {"seed 0": [[0.9, 0.1], [0.2, 0.7]], "seed 1": [[0.1, 0.8], [0.95, 0.3]]}
    fig = viz.role_winners_figure(runs, ["largest", "smallest"])
    heat = fig.data[0]
    assert list(heat.y) == ["seed 0", "seed 1"]
    assert [list(row) for row in heat.text] == [["head 1 (0.90)", "head 2 (0.70)"], ["head 2 (0.95)", "head 1 (0.80)"]]
    np.testing.assert_array_equal(np.array(heat.z), [[0.5, 1.5], [1.5, 0.5]])  # the middle of a head's colour
    with pytest.raises(ValueError, match="same shape"):
        viz.role_winners_figure({"a": [[0.1, 0.2]], "b": [[0.1, 0.2], [0.3, 0.4]]}, ["x", "y"])
    with pytest.raises(ValueError, match="non-empty"):
        viz.role_winners_figure({}, ["x"])


# ---------------------------------------------------------------- the training explorer's figure


def test_training_parts_loss_bars_and_faded_heads():
    w = torch.softmax(torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    ablation = {"without head 1": 0.5, "without head 3": 0.25, "your switches": 0.1}
    data, layout = viz.training_parts([2.0, 1.5, 1.0], w, list("abcd"), 0.75, ablation, heads_on=[True, True, False])
    loss, bars = data[0], data[1]
    assert loss["y"] == [2.0, 1.5, 1.0] and bars["x"] == ["all heads on", *ablation]
    assert bars["y"] == [0.75, 0.5, 0.25, 0.1]
    colours = bars["marker"]["color"]  # grey for all heads, the head's own colour for "without head i"
    assert colours == ["#555555", viz.HEAD_COLOURS[0], viz.HEAD_COLOURS[2], "#999999"]
    assert [d["opacity"] for d in data if d["type"] == "heatmap"] == [1.0, 1.0, 0.25]
    assert "head 3 (off)" in [a["text"] for a in layout["annotations"]]
    plotly_figure = go.Figure(viz.parts_figure(data, layout).to_dict())  # plotly accepts it
    assert len(plotly_figure.data) == 5
    with pytest.raises(ValueError, match="heads_on must have one entry per head"):
        viz.training_parts([1.0], w, list("abcd"), 0.5, heads_on=[True])


def test_seed_curves_figure_mean_band_and_baselines():
    accs = [[0.2, 0.5, 0.9], [0.4, 0.7, 0.9], [0.0, 0.3, 1.0]]  # 3 seeds, 3 steps
    fig = viz.training.seed_curves_figure({"1 head": ([10, 20, 30], accs), "2 heads": ([10, 20, 30], accs[:2])},
                                          {"rule": 0.5})  # fmt: skip
    band, mean = fig.data[0], fig.data[1]
    assert list(mean.x) == [10, 20, 30] and list(mean.y) == [0.2, 0.5, 0.9333]
    sd = np.std(accs, axis=0, ddof=1)  # the sample sd over seeds
    assert list(band.x) == [10, 20, 30, 30, 20, 10]
    np.testing.assert_allclose(band.y[:3], np.clip([0.2, 0.5, 0.9333] + sd, 0, 1), atol=1e-4)
    assert max(band.y) <= 1.0 and min(band.y) >= 0.0  # clipped to the range of an accuracy
    assert band.fill == "toself" and "3 seeds" in mean.name and "2 seeds" in fig.data[3].name
    assert fig.data[1].line.color != fig.data[3].line.color
    assert fig.layout.shapes[0].y0 == 0.5  # the baseline line
    with pytest.raises(ValueError, match="seeds >= 2"):
        viz.training.seed_curves_figure({"a": ([10, 20], [[0.1, 0.2]])})  # one seed: no spread
    with pytest.raises(ValueError, match="2 steps"):
        viz.training.seed_curves_figure({"a": ([10, 20], accs)})
    with pytest.raises(ValueError, match="non-empty"):
        viz.training.seed_curves_figure({})
