"""mha.viz.symmetry: the figure of notebook 6's symmetry experiment."""

import pytest

from mha import viz


def test_push_distance_figure_draws_seeds_and_median_on_a_log_axis():
    distances = {
        "no push": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        "one grid step": [[2e-6, 0.04, 0.123456789], [2e-6, 0.0, 0.2]],
    }
    fig = viz.push_distance_figure(distances, title="drift")
    assert fig.layout.yaxis.type == "log" and fig.layout.title.text == "drift"
    no_push, seed_a, seed_b, median = fig.data
    assert "not drawn" in no_push.name and list(no_push.y) == [None]
    assert list(seed_a.x) == [0, 1, 2] and list(seed_a.y) == [2e-6, 0.04, 0.1235]  # rounded to 4 digits
    assert list(seed_b.y) == [2e-6, None, 0.2]  # 0 is a gap on a log axis
    assert "median of 2 seeds" in median.name and list(median.y) == [2e-6, 0.02, 0.1617]
    assert median.line.color == viz.head_colour(1) and not seed_a.showlegend


def test_push_distance_figure_rejects_ragged_runs():
    with pytest.raises(ValueError, match="same number of steps"):
        viz.push_distance_figure({"a": [[0.1, 0.2], [0.1]]})
    with pytest.raises(ValueError, match="non-empty"):
        viz.push_distance_figure({})
