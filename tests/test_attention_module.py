"""The module the learner builds in notebook 7: a panel of heads, the batched module, masks, padding,
cross-attention, dropout, and the round trip to torch.nn.MultiheadAttention."""

import pytest
import torch
from torch import nn

import mha


def close(a, b, atol=1e-5, rtol=1e-5):
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


# ---------------------------------------------------------------- HeadPanel: the loop of heads + W_O


@pytest.mark.parametrize("h,d_model", [(1, 4), (2, 8), (3, 12), (8, 8)])
@pytest.mark.parametrize("bias", [False, True])
def test_head_panel_is_the_loop_written_out(h, d_model, bias):
    torch.manual_seed(h)
    d_k = d_model // h
    heads = [mha.SelfAttention(d_model, d_k, bias=bias) for _ in range(h)]
    W_O = nn.Linear(h * d_k, d_model, bias=bias)
    panel = mha.HeadPanel(heads, W_O)
    x = torch.randn(2, 5, d_model)
    mask = mha.causal_mask(5)
    outs = [head(x, mask) for head in heads]
    out, weights = panel(x, mask)
    close(out, W_O(torch.cat([z for z, _ in outs], dim=-1)))
    close(weights, torch.stack([w for _, w in outs], dim=1))
    assert out.shape == (2, 5, d_model) and weights.shape == (2, h, 5, 5)


@pytest.mark.parametrize("bias", [False, True])
def test_panel_and_batched_module_compute_the_same_function_both_ways(bias):
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(12, 3, bias=bias)
    x = torch.randn(2, 6, 12, dtype=torch.float64)
    m = m.double()
    mask = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    panel = mha.HeadPanel.from_multihead(m)  # batched -> loop
    back = panel.to_multihead()  # loop -> batched
    for other in (panel, back):
        a, b = m(x, mask=mask), other(x, mask=mask)
        close(a[0], b[0], atol=1e-12, rtol=1e-12)
        close(a[1], b[1], atol=1e-12, rtol=1e-12)
    assert mha.count_parameters(panel) == mha.count_parameters(m)  # the same numbers, cut differently
    for p_back, p_m in zip(back.parameters(), m.parameters()):
        assert torch.equal(p_back, p_m)
    # the gradients agree too
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    m(xa)[0].sum().backward()
    panel(xb)[0].sum().backward()
    close(xa.grad, xb.grad, atol=1e-12, rtol=1e-12)


def test_head_panel_takes_a_per_head_mask():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2)
    panel = mha.HeadPanel.from_multihead(m)
    x = torch.randn(2, 4, 8)
    mask = torch.rand(2, 2, 4, 4) > 0.3
    mask[..., 0] = True
    close(panel(x, mask)[0], m(x, mask=mask)[0])


def test_head_panel_allows_any_width_for_w_o():
    """h * d_k need not equal d_model: W_O maps any width back (a convention, not a law)."""
    heads = [mha.SelfAttention(10, 3) for _ in range(4)]
    panel = mha.HeadPanel(heads, nn.Linear(12, 10))
    assert panel(torch.randn(1, 5, 10))[0].shape == (1, 5, 10)
    with pytest.raises(ValueError, match="add up to d_model"):
        panel.to_multihead()


def test_head_panel_errors():
    with pytest.raises(TypeError, match="non-empty list of mha.SelfAttention"):
        mha.HeadPanel([], nn.Linear(4, 4))
    with pytest.raises(TypeError, match="Linear"):
        mha.HeadPanel([nn.Linear(4, 4)], nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"same \(d_model, d_k\)"):
        mha.HeadPanel([mha.SelfAttention(8, 4), mha.SelfAttention(8, 2)], nn.Linear(6, 8))
    with pytest.raises(ValueError, match=r"W_O must be nn.Linear\(8, 8\)"):
        mha.HeadPanel([mha.SelfAttention(8, 4), mha.SelfAttention(8, 4)], nn.Linear(8, 6))
    with pytest.raises(TypeError, match="expected mha.MultiHeadAttention"):
        mha.HeadPanel.from_multihead(nn.MultiheadAttention(8, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model=8\)"):
        mha.HeadPanel([mha.SelfAttention(8, 4)] * 2, nn.Linear(8, 8))(torch.randn(1, 3, 6))
