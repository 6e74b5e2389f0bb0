"""The figures of notebooks 4 and 5: split_heads, W_O blocks, head ablation, timing and FLOPs."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import mha
from mha import viz
from mha.attention import attention_flops


def test_split_heads_figure_colours_each_head_block_by_its_own_head():
    x = torch.arange(3 * 6).reshape(1, 3, 6)  # the number 6t + j at token t, feature j
    fig = viz.split_heads_figure(x[0], mha.split_heads(x, 2)[0], num_heads=2)
    assert isinstance(fig, go.Figure) and len(fig.data) == 3  # the input and one panel per head
    assert fig.data[1].text[1][2] == "t1 f2" and fig.data[2].text[0][0] == "t0 f3"
    for head, trace in enumerate(fig.data[1:]):
        assert np.all(np.asarray(trace.z) == head)  # a correct split: one colour per head


def test_split_heads_figure_shows_the_mix_of_a_plain_reshape():
    x = torch.arange(3 * 6).reshape(1, 3, 6)
    fig = viz.split_heads_figure(x[0], x.reshape(2, 3, 3), num_heads=2)
    assert set(np.asarray(fig.data[1].z).ravel()) == {0, 1}  # head 1's block holds both heads' features


def test_split_heads_figure_errors():
    x = torch.arange(12).reshape(2, 6)
    with pytest.raises(ValueError, match="per_head must have shape"):
        viz.split_heads_figure(x, x.reshape(2, 2, 3)[:1], num_heads=2)
    with pytest.raises(ValueError, match="not divisible"):
        viz.split_heads_figure(x, torch.zeros(4, 2, 1), num_heads=4)


def test_w_o_blocks_figure_draws_one_box_per_head():
    w = torch.randn(8, 8)
    fig = viz.w_o_blocks_figure(w, num_heads=4)
    assert len(fig.layout.shapes) == 4
    assert [a.text for a in fig.layout.annotations] == ["head 1", "head 2", "head 3", "head 4"]
    assert fig.layout.shapes[1].x0 == 1.5 and fig.layout.shapes[1].x1 == 3.5
    with pytest.raises(ValueError, match="w_o must have shape"):
        viz.w_o_blocks_figure(torch.randn(8, 6), num_heads=4)


def test_head_ablation_figure_rounds_and_labels():
    fig = viz.head_ablation_figure(torch.tensor([0.12345, 0.5]))
    assert list(fig.data[0].x) == ["head 1", "head 2"]
    assert list(fig.data[0].y) == [0.123, 0.5]
    with pytest.raises(ValueError, match="changes must have shape"):
        viz.head_ablation_figure(torch.ones(2, 2))


def test_timing_figure_one_line_per_variant():
    rows = [
        {"pass": "fwd", "variant": v, "T": T, "ms": T * k} for k, v in ((1.0, "loop"), (0.1, "mha")) for T in (64, 32)
    ]
    fig = viz.timing_figure(rows)
    assert [t.name for t in fig.data] == ["loop", "mha"]
    assert list(fig.data[0].x) == [32, 64]  # sorted by T
    with pytest.raises(ValueError, match="no rows"):
        viz.timing_figure(rows, pass_="fwd+bwd")


def test_flops_figure_stacks_two_parts():
    fig = viz.flops_figure([1, 2], [2e9, 4e9], [1e9, 4e9])
    assert len(fig.data) == 2 and list(fig.data[1].y) == [1.0, 4.0]
    with pytest.raises(ValueError, match="same length"):
        viz.flops_figure([1, 2], [1.0], [1.0, 2.0])


# ---------------------------------------------------------------- shapes and costs


def test_mha_sizes_uses_the_one_flop_formula_and_counts_parameters():
    sizes = viz.mha_sizes(64, 8, 11)
    flops = attention_flops(1, 11, 64, 8)
    assert sizes == {"d_k": 8, "parameters": 16_640, "flops": flops["total"], "flops_by_step": flops["by_step"]}
    assert sizes["parameters"] == mha.count_parameters(mha.MultiHeadAttention(64, 8))
    assert list(sizes["flops_by_step"]) == [
        "Q, K, V projections",
        "scores Q K^T",
        "weights x V",
        "output projection W_O",
    ]


def test_mha_sizes_flops_do_not_depend_on_num_heads():
    flops = {h: viz.mha_sizes(64, h, 11)["flops"] for h in (1, 2, 4, 8)}
    assert len(set(flops.values())) == 1
    assert flops[1] == 8 * 11 * 64**2 + 4 * 11**2 * 64


@pytest.mark.parametrize(
    "args, error, words",
    [
        ((60, 8, 11), ValueError, "not divisible"),
        ((64, 8, 0), ValueError, "seq_len"),
        ((64.0, 8, 11), TypeError, "d_model"),
    ],
)
def test_mha_sizes_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        viz.mha_sizes(*args)


def test_shape_figure_one_block_trace_per_head():
    data, layout = viz.shape_parts(48, 6, 5)
    heads = [d for d in data if d.get("name", "").startswith("head ")]
    assert [d["name"] for d in heads] == [f"head {i + 1}" for i in range(6)]
    assert [d["line"]["color"] for d in heads] == list(viz.HEAD_COLOURS[:6])
    assert (
        "d_k = 48 / 6 = 8" in layout["title"]["text"]
        and "FLOPs of the matrix products: 96,960" in layout["title"]["text"]
    )
    with pytest.raises(ValueError, match="not divisible"):
        viz.shape_parts(48, 5, 5)
