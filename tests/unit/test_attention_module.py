"""The module the learner builds in notebook 8: a panel of heads, the batched module, masks, padding,
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
@pytest.mark.parametrize("w_o_bias", [False, True])
def test_head_panel_and_from_heads_are_the_loop_written_out(h, d_model, bias, w_o_bias):
    """The heads run one by one, their z concatenated and projected by W_O: HeadPanel of those heads computes it, and
    so does the batched module MultiHeadAttention.from_heads builds from them (zero where only some had a bias)."""
    torch.manual_seed(h)
    d_k = d_model // h
    heads = [mha.SelfAttention(d_model, d_k, bias=bias) for _ in range(h)]
    W_O = nn.Linear(h * d_k, d_model, bias=w_o_bias)
    x = torch.randn(2, 5, d_model)
    mask = mha.causal_mask(5)
    outs = [head(x, mask) for head in heads]
    loop_out, loop_weights = W_O(torch.cat([z for z, _ in outs], dim=-1)), torch.stack([w for _, w in outs], dim=1)
    batched = mha.MultiHeadAttention.from_heads(heads, W_O)
    for module in (mha.HeadPanel(heads, W_O), batched):
        out, weights = module(x, mask)
        close(out, loop_out)
        close(weights, loop_weights)
        assert out.shape == (2, 5, d_model) and weights.shape == (2, h, 5, 5)
    zero_biases = ((0 if bias else 3 * d_model) + (0 if w_o_bias else d_model)) if bias or w_o_bias else 0
    count = mha.count_parameters
    assert count(batched) == sum(map(count, heads)) + count(W_O) + zero_biases


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


# ---------------------------------------------------------------- padding masks


def test_padding_mask_from_lengths():
    mask = mha.padding_mask([3, 1, 0, 4], 4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    assert mask.tolist() == [
        [True, True, True, False],
        [True, False, False, False],
        [False, False, False, False],
        [True, True, True, True],
    ]
    assert torch.equal(mha.padding_mask(torch.tensor([3, 1, 0, 4]), 4), mask)
    assert mha.attention.padding_mask is mha.padding_mask


@pytest.mark.parametrize(
    "lengths,T,error,match",
    [
        ([5, 2], 4, ValueError, r"lengths\[0\] must be an int from 0 to 4, got 5"),
        ([2, -1], 4, ValueError, r"lengths\[1\] must be an int from 0 to 4, got -1"),
        ([2.0], 4, TypeError, r"lengths\[0\] must be an int from 0 to 4, got 2.0"),
        ([], 4, ValueError, "one length per sequence"),
        (torch.tensor([[1, 2]]), 4, TypeError, r"1-D integer tensor .* shape \(1, 2\)"),
        (torch.tensor([1.0, 2.0]), 4, TypeError, "torch.float32"),
        (3, 4, TypeError, "list of ints or a 1-D integer tensor, got int"),
        ([1], 0, ValueError, "T must be a positive int"),
    ],
)
def test_padding_mask_errors(lengths, T, error, match):
    with pytest.raises(error, match=match):
        mha.padding_mask(lengths, T)


# ---------------------------------------------------------------- against torch.nn.MultiheadAttention


def _torch_call(ref, x, c, mask, padding):
    """torch's conventions: True = may NOT attend, True = padding."""
    return ref(
        x,
        c,
        c,
        attn_mask=None if mask is None else ~mask,
        key_padding_mask=None if padding is None else ~padding,
        need_weights=True,
        average_attn_weights=False,
    )


CASES = {
    "self": dict(T_k=None, causal=False, lengths=None),
    "self-causal": dict(T_k=None, causal=True, lengths=None),
    "self-padding": dict(T_k=None, causal=False, lengths=[6, 3, 1]),
    "self-causal-padding": dict(T_k=None, causal=True, lengths=[6, 4, 2]),
    "cross": dict(T_k=4, causal=False, lengths=None),
    "cross-padding": dict(T_k=4, causal=False, lengths=[4, 2, 1]),
    "cross-mask-padding": dict(T_k=4, causal="random", lengths=[3, 4, 1]),
}


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("bias", [True, False])
def test_equals_torch_forward_and_backward(case, dtype, tol, bias):
    spec = CASES[case]
    torch.manual_seed(len(case))
    B, T_q, d_model, h = 3, 6, 12, 4
    ours = mha.MultiHeadAttention(d_model, h, bias=bias).to(dtype)
    ref = ours.to_torch()
    assert isinstance(ref, nn.MultiheadAttention) and ref.batch_first
    g = torch.Generator().manual_seed(7)
    x = torch.randn(B, T_q, d_model, generator=g, dtype=dtype)
    context = None if spec["T_k"] is None else torch.randn(B, spec["T_k"], d_model, generator=g, dtype=dtype)
    T_k = T_q if context is None else context.shape[1]
    mask = None
    if spec["causal"] is True:
        mask = mha.causal_mask(T_q)
    elif spec["causal"] == "random":
        mask = torch.rand(T_q, T_k, generator=g) > 0.5
        mask[:, 0] = True  # every query sees a key (torch gives NaN otherwise)
    padding = None if spec["lengths"] is None else mha.padding_mask(spec["lengths"], T_k)

    leaves = [x] + ([] if context is None else [context])
    results = []
    for run in ("ours", "ours-fused", "torch"):
        xs = [t.clone().requires_grad_(True) for t in leaves]
        xq, c = xs[0], (xs[1] if context is not None else None)
        module = ref if run == "torch" else ours
        module.zero_grad()
        if run == "torch":
            out, weights = _torch_call(ref, xq, xq if c is None else c, mask, padding)
        else:
            out, weights = ours(xq, mask=mask, need_weights=run == "ours", context=c, padding_mask=padding)
        out.pow(2).sum().backward()
        grads = [t.grad for t in xs] + [p.grad.clone() for p in module.parameters()]
        results.append((out, weights, grads))
    (o1, w1, g1), (o2, w2, g2), (o3, w3, g3) = results
    assert w2 is None and o1.shape == (B, T_q, d_model) and w1.shape == (B, h, T_q, T_k)
    for other in (o2, o3):
        close(o1, other, atol=tol, rtol=tol)
    close(w1, w3, atol=tol, rtol=tol)
    for a, b, c in zip(g1, g2, g3):
        close(a, b, atol=tol * 10, rtol=tol * 10)
        close(a, c, atol=tol * 10, rtol=tol * 10)
    if padding is not None:  # no weight on a padding key
        assert torch.all(w1.masked_select(~padding[:, None, None, :].expand_as(w1)) == 0)


def test_from_torch_and_to_torch_copy_weights_dropout_and_mode():
    ref = nn.MultiheadAttention(8, 2, dropout=0.25, batch_first=True).double().eval()
    ours = mha.MultiHeadAttention.from_torch(ref)
    assert ours.dropout == 0.25 and not ours.training and ours.qkv.weight.dtype == torch.float64
    back = ours.train().to_torch()
    assert back.dropout == 0.25 and back.training and back.in_proj_weight.dtype == torch.float64
    for a, b in zip(ref.parameters(), back.parameters()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- rows that see nothing


def test_fully_padded_rows_give_zeros_finite_gradients_and_both_paths_agree():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2, bias=False).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
    padding = mha.padding_mask([0, 2], 4)  # the first sentence is all padding: its queries see no key
    out, weights = m(x, padding_mask=padding)
    assert torch.all(weights[0] == 0) and torch.all(out[0] == 0)
    fused, _ = m(x, padding_mask=padding, need_weights=False)
    close(out, fused)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # PyTorch's own module gives NaN on such a row
    ref = m.to_torch()
    with torch.no_grad():
        ref_out, _ = ref(x, x, x, key_padding_mask=~padding)
    assert torch.isnan(ref_out[0]).all() and not torch.isnan(ref_out[1]).any()
    close(ref_out[1], out[1])


def test_mask_and_padding_combine_with_and():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    padding = mha.padding_mask([5, 3], 5)
    causal = mha.causal_mask(5)
    combined = causal & padding[:, None, :]  # (B, T, T)
    close(m(x, mask=causal, padding_mask=padding)[0], m(x, mask=combined)[0])


# ---------------------------------------------------------------- cross-attention


def test_cross_attention_shapes_and_context_defaults_to_x():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2)
    question, sentence = torch.randn(2, 3, 8), torch.randn(2, 7, 8)
    out, weights = m(question, context=sentence)
    assert out.shape == (2, 3, 8) and weights.shape == (2, 2, 3, 7)
    close(m(sentence, context=sentence)[0], m(sentence)[0])
    # the output of a query does not depend on the other queries
    close(m(question[:, :1], context=sentence)[0], out[:, :1])


# ---------------------------------------------------------------- dropout


def test_dropout_only_in_training():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(16, 4, dropout=0.5)
    x = torch.randn(4, 10, 16)
    plain = mha.MultiHeadAttention(16, 4)
    plain.load_state_dict(m.state_dict())
    m.eval()
    for need_weights in (True, False):
        close(m(x, need_weights=need_weights)[0], plain(x, need_weights=need_weights)[0])
        close(m(x, need_weights=need_weights)[0], m(x, need_weights=need_weights)[0])  # eval is deterministic
    m.train()
    _, clean = plain(x)
    _, dropped = m(x)
    zeroed = (dropped == 0).float().mean().item()
    assert 0.45 < zeroed < 0.55  # about half of the weights are zeroed
    kept = dropped != 0
    close(dropped[kept], (clean * 2)[kept])  # the rest are scaled by 1 / (1 - p)
    assert not torch.allclose(dropped.sum(-1), torch.ones(4, 4, 10))  # rows no longer sum to 1 exactly
    assert abs(dropped.sum(-1).mean().item() - 1) < 0.1  # but about 1 on average
    fused_a, _ = m(x, need_weights=False)
    fused_b, _ = m(x, need_weights=False)
    assert not torch.allclose(fused_a, fused_b)  # new random numbers at each call in training
    assert not torch.allclose(fused_a, plain(x)[0])


@pytest.mark.parametrize("need_weights", [True, False])
def test_dropout_zeroes_where_the_seeded_uniform_numbers_are_below_p(need_weights):
    # the module's dropout is exercise 08.4's formula, on uniform numbers from torch's seeded CPU generator
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2, dropout=0.3).train()
    x = torch.randn(2, 5, 8)
    torch.manual_seed(1)
    out, weights = m(x, need_weights=need_weights)
    torch.manual_seed(1)
    noise = torch.rand(2, 2, 5, 5)  # (B, h, T, T): what the module draws
    clean = m.eval()(x)[1]
    expected = torch.where(noise >= 0.3, clean / 0.7, torch.zeros_like(clean))
    if need_weights:
        close(weights, expected)
    else:
        assert weights is None
    close(out, m.out_proj(mha.merge_heads(expected @ mha.split_heads(m.qkv(x)[..., 16:], 2))))
    m.train()
    given, _ = m(x, dropout_noise=noise)  # the same numbers passed in: the same output
    close(given, out)
    with pytest.raises(ValueError, match=r"dropout_noise must be a tensor shaped like the weights \(2, 2, 5, 5\)"):
        m(x, dropout_noise=noise[0])


def test_dropout_noise_is_ignored_in_evaluation_and_matches_torch_there():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2, dropout=0.3).eval()
    x = torch.randn(2, 5, 8)
    ref = m.to_torch()
    out, _ = m(x, dropout_noise=torch.zeros(2, 2, 5, 5))  # zeros would drop every weight in training
    close(out, ref(x, x, x)[0])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (
            dict(context=torch.randn(2, 4, 6)),
            ValueError,
            r"context must have shape \(B, T_k, d_model=8\), got \(2, 4, 6\)",
        ),
        (dict(context=torch.randn(4, 8)), ValueError, r"context must have shape \(B, T_k, d_model=8\), got \(4, 8\)"),
        (dict(context=torch.randn(3, 4, 8)), ValueError, r"batch size of x, B=2: expected .* got \(3, 4, 8\)"),
        (dict(context=[[0.0]]), TypeError, "context must be a torch.Tensor, got list"),
        (dict(padding_mask=torch.ones(2, 5)), TypeError, r"padding_mask must be a torch.bool tensor .* torch.float32"),
        (dict(padding_mask=[[True] * 5] * 2), TypeError, "padding_mask must be a torch.bool tensor .* got list"),
        (dict(padding_mask=torch.ones(2, 4, dtype=torch.bool)), ValueError, r"shape \(B=2, T_k=5\).* got \(2, 4\)"),
        (dict(padding_mask=torch.ones(5, dtype=torch.bool)), ValueError, r"shape \(B=2, T_k=5\).* got \(5,\)"),
        (
            dict(context=torch.randn(2, 7, 8), padding_mask=torch.ones(2, 5, dtype=torch.bool)),
            ValueError,
            r"\(B=2, T_k=7\).* of the context, got \(2, 5\)",
        ),
        (
            dict(context=torch.randn(2, 7, 8), mask=mha.causal_mask(5)),
            ValueError,
            r"\(5, 5\) does not broadcast .*\(2, 2, 5, 7\)",
        ),
        (dict(mask=torch.ones(5, 5, dtype=torch.int64)), TypeError, "mask must have dtype torch.bool"),
    ],
)
def test_bad_input_says_what_was_given_and_what_is_expected(kwargs, error, match):
    m = mha.MultiHeadAttention(8, 2)
    with pytest.raises(error, match=match):
        m(torch.randn(2, 5, 8), **kwargs)


@pytest.mark.parametrize("p,error", [(1.0, ValueError), (-0.1, ValueError), ("0.1", TypeError), (True, TypeError)])
def test_bad_dropout(p, error):
    with pytest.raises(error, match="dropout must be a probability"):
        mha.MultiHeadAttention(8, 2, dropout=p)
