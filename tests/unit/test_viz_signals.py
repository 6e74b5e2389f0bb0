"""The figures of notebooks 1, 3 and 9 that live in mha.viz: what they draw, and the inputs they refuse."""

import pytest
import torch

from mha import viz


def test_softmax_saturation_figure_draws_both_lines_and_the_uniform_level():
    fig = viz.softmax_saturation_figure([4, 16], [0.5, 0.7], [0.3, 0.3], T=11)
    assert [trace.name for trace in fig.data] == ["scores not scaled", "scores divided by sqrt(d_k)"]
    assert list(fig.data[0].y) == [0.5, 0.7]
    assert fig.layout.shapes[0].y0 == pytest.approx(1 / 11)  # the dotted line at 1/T
    with pytest.raises(ValueError, match="same length"):
        viz.softmax_saturation_figure([4, 16], [0.5], [0.3, 0.3], T=11)


def test_parameter_budget_figure_stacks_one_segment_per_head_to_the_same_total():
    per_head = {1: 768, 2: 384, 4: 192}
    fig = viz.parameter_budget_figure(per_head, d_model=16)
    assert len(fig.data) == 4  # as many segments as the largest head count
    totals = [sum(trace.y[k] for trace in fig.data) for k in range(3)]
    assert totals == [768, 768, 768]
    assert "768" in fig.layout.title.text


def test_depth_similarity_figure_draws_a_band_and_a_rounded_mean_per_curve():
    means, sds = torch.tensor([0.0, 0.123456, 1.0]), torch.tensor([0.04, 0.05, 0.0])
    fig = viz.depth_similarity_figure(range(3), {"without": (means, sds), "with": (means / 2, sds)})
    assert len(fig.data) == 4  # a band and a line for each curve
    band, line = fig.data[0], fig.data[1]
    assert band.fill == "toself" and line.name == "without"
    assert list(line.y) == [0.0, 0.1235, 1.0]  # rounded to 4 decimals
    assert list(band.y) == [0.04, 0.1735, 1.0, 1.0, 0.0735, -0.04]  # mean + sd out, mean - sd back
    with pytest.raises(ValueError, match="one value per depth"):
        viz.depth_similarity_figure(range(4), {"without": (means, sds)})
