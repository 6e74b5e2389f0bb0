"""The math of mha.attention against PyTorch's own implementations, and its errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mha

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# (B, T, d_model, num_heads): includes T=1, one head, and num_heads == d_model
SHAPES = [(1, 1, 4, 1), (2, 1, 8, 2), (2, 7, 12, 3), (3, 5, 16, 16), (1, 9, 6, 6), (4, 13, 32, 4), (2, 3, 10, 5)]


def close(a, b, atol=1e-5, rtol=1e-5):
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


# ---------------------------------------------------------------- scaled dot-product attention


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1, 4), (2, 5, 8), (3, 2, 6, 4), (7, 16)])
def test_sdpa_matches_torch(shape, device):
    g = torch.Generator().manual_seed(sum(shape))
    q, k, v = (torch.randn(*shape, generator=g).to(device) for _ in range(3))
    out, weights = mha.scaled_dot_product_attention(q, k, v)
    close(out, F.scaled_dot_product_attention(q, k, v))
    close(weights.sum(-1), torch.ones(shape[:-1], device=device))


def test_sdpa_cross_attention_shapes_and_dv():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 5)
    out, weights = mha.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5) and weights.shape == (2, 3, 6)
    close(out, F.scaled_dot_product_attention(q, k, v))


def test_sdpa_is_scaled_by_sqrt_dk():
    q, k, v = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    _, weights = mha.scaled_dot_product_attention(q, k, v)
    close(weights, torch.softmax(q @ k.T / math.sqrt(8), dim=-1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "mask_shape",
    [(5, 5), (2, 1, 5, 5), (1, 1, 5), (2, 3, 1, 5)],
    ids=["square", "per-batch", "key-padding-row", "per-batch-padding"],
)
def test_sdpa_masks_match_torch(mask_shape, device):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g).to(device) for _ in range(3))
    mask = torch.rand(mask_shape, generator=g) > 0.3
    mask[..., 0] = True  # every query sees at least one key (torch gives NaN otherwise)
    mask = mask.to(device)
    out, weights = mha.scaled_dot_product_attention(q, k, v, mask)
    close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


def test_causal_mask_hides_the_future():
    T = 6
    mask = mha.causal_mask(T)
    assert mask.dtype == torch.bool and mask.shape == (T, T)
    assert mask.tril().equal(mask) and mask.diagonal().all()
    q, k, v = torch.randn(3, T, 4), torch.randn(3, T, 4), torch.randn(3, T, 4)
    out, weights = mha.scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(weights.triu(1) == 0)
    close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    # changing a future value must not change the past outputs
    v2 = v.clone()
    v2[:, -1] += 100
    out2, _ = mha.scaled_dot_product_attention(q, k, v2, mask)
    close(out[:, :-1], out2[:, :-1])


def test_fully_masked_row_gives_zero_not_nan_with_finite_gradients():
    q, k, v = (torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out, weights = mha.scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(out[0, 1] == 0) and torch.all(weights[0, 1] == 0)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_sdpa_gradcheck():
    q, k, v = (torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = mha.causal_mask(3)
    assert torch.autograd.gradcheck(lambda a, b, c: mha.scaled_dot_product_attention(a, b, c, mask)[0], (q, k, v))


# ---------------------------------------------------------------- split and merge


def test_split_heads_gives_each_head_its_own_slice():
    x = torch.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    heads = mha.split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 2)
    for i in range(4):
        assert heads[:, i].equal(x[..., 2 * i : 2 * i + 2])
    assert mha.merge_heads(heads).equal(x)


def test_plain_reshape_is_not_split_heads():
    x = torch.arange(1 * 3 * 4.0).reshape(1, 3, 4)
    assert not x.reshape(1, 2, 3, 2).equal(mha.split_heads(x, 2))


# ---------------------------------------------------------------- the modules


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("B,T,d_model,h", SHAPES)
def test_from_torch_matches_nn_multiheadattention(B, T, d_model, h, device):
    torch.manual_seed(B * 100 + T * 10 + h)
    ref = nn.MultiheadAttention(d_model, h, batch_first=True).to(device).eval()
    ours = mha.MultiHeadAttention.from_torch(ref)
    x = torch.randn(B, T, d_model).to(device)
    ref_out, ref_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    out, weights = ours(x)
    close(out, ref_out)
    close(weights, ref_w)
    out_fused, none = ours(x, need_weights=False)
    assert none is None
    close(out_fused, ref_out)


@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_with_causal_mask_and_padding(bias):
    torch.manual_seed(0)
    B, T, d_model, h = 3, 6, 12, 4
    ref = nn.MultiheadAttention(d_model, h, batch_first=True, bias=bias).eval()
    ours = mha.MultiHeadAttention.from_torch(ref)
    x = torch.randn(B, T, d_model)
    keep = mha.causal_mask(T)
    # torch's attn_mask uses True = "may NOT attend"; ours uses True = "may attend"
    ref_out, _ = ref(x, x, x, attn_mask=~keep)
    close(ours(x, mask=keep)[0], ref_out)
    close(ours(x, mask=keep, need_weights=False)[0], ref_out)
    padding = torch.tensor([[False] * T, [False] * 4 + [True] * 2, [False] * 5 + [True]])  # True = pad (torch)
    ref_out, _ = ref(x, x, x, key_padding_mask=padding)
    ours_mask = (~padding)[:, None, None, :]  # (B, 1, 1, T_k)
    close(ours(x, mask=ours_mask)[0], ref_out)
    close(ours(x, mask=ours_mask, need_weights=False)[0], ref_out)


def test_three_dimensional_mask_is_shared_by_heads():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    mask = torch.rand(2, 4, 4) > 0.5
    mask[..., 0] = True
    close(m(x, mask=mask)[0], m(x, mask=mask[:, None])[0])


@pytest.mark.parametrize("B,T,d_model,h", SHAPES)
def test_need_weights_false_gives_the_same_output(B, T, d_model, h):
    torch.manual_seed(T)
    m = mha.MultiHeadAttention(d_model, h)
    x = torch.randn(B, T, d_model)
    close(m(x)[0], m(x, need_weights=False)[0])
    mask = mha.causal_mask(T)
    close(m(x, mask=mask)[0], m(x, mask=mask, need_weights=False)[0])


def test_fully_masked_rows_agree_between_paths():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2)
    x = torch.randn(1, 3, 8)
    mask = torch.tensor([[True, True, False], [False, False, False], [True, False, True]])
    a, _ = m(x, mask=mask)
    b, _ = m(x, mask=mask, need_weights=False)
    assert torch.isfinite(b).all()
    close(a, b)
    close(a[0, 1], m.out_proj.bias)  # no head sees anything: only W_O's bias is left


def test_parameter_count_equals_one_full_width_head():
    d_model = 64
    one = mha.SelfAttention(d_model, d_model)
    many = mha.MultiHeadAttention(d_model, 8, bias=False)
    assert mha.count_parameters(many) == mha.count_parameters(one) + d_model * d_model  # + W_O


def test_head_mask_removes_a_head():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(8, 2, bias=False)
    x = torch.randn(1, 4, 8)
    out, _ = m(x, head_mask=torch.tensor([1.0, 0.0]))
    only_first = m.out_proj.weight[:, :4]
    q, k, v = m.qkv(x).split(8, dim=-1)
    z0, _ = mha.scaled_dot_product_attention(q[..., :4], k[..., :4], v[..., :4])
    close(out, z0 @ only_first.T)
    with pytest.raises(ValueError, match=r"head_mask must have shape \(2,\)"):
        m(x, head_mask=torch.ones(3))


def test_gradcheck_multihead_float64():
    torch.manual_seed(0)
    m = mha.MultiHeadAttention(6, 3).double()
    x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    mask = mha.causal_mask(4)
    assert torch.autograd.gradcheck(lambda t: m(t, mask=mask)[0], (x,))
    assert torch.autograd.gradcheck(lambda t: m(t, mask=mask, need_weights=False)[0], (x,))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("device", DEVICES)
def test_dtypes(dtype, tol, device):
    """Each dtype against an independent reference: torch.nn.MultiheadAttention in float64 with the same weights."""
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(16, 4, batch_first=True).to(device).double()
    x = torch.randn(2, 5, 16, dtype=torch.float64).to(device)
    with torch.no_grad():
        expected = ref(x, x, x, need_weights=False)[0]
    m = mha.MultiHeadAttention.from_torch(ref).to(dtype)
    out, weights = m(x.to(dtype))
    assert out.dtype == dtype and weights.dtype == dtype
    close(out.double(), expected, atol=tol * 10, rtol=tol * 10)
    close(m(x.to(dtype), need_weights=False)[0].double(), expected, atol=tol * 10, rtol=tol * 10)


# ---------------------------------------------------------------- NumPy reference


def test_numpy_reference_matches_selfattention():
    torch.manual_seed(0)
    head = mha.SelfAttention(6, 3)
    x = torch.randn(5, 6)
    z, weights = head(x[None])
    w = [layer.weight.detach().numpy().T for layer in (head.W_q, head.W_k, head.W_v)]
    z_np, weights_np = mha.self_attention_np(x.numpy(), *w)
    np.testing.assert_allclose(z_np, z[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(weights_np, weights[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(weights_np.sum(-1), 1.0, atol=1e-6)


def test_softmax_np_is_stable():
    out = mha.softmax_np(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0]])


# ---------------------------------------------------------------- bad input


def test_indivisible_heads_names_both_numbers_and_valid_choices():
    with pytest.raises(ValueError) as err:
        mha.MultiHeadAttention(10, 4)
    msg = str(err.value)
    assert "d_model=10" in msg and "num_heads=4" in msg and "num_heads = 2 or 5" in msg and "d_model = 8 or 12" in msg


@pytest.mark.parametrize("args", [(0, 2), (8, 0), (-8, 2), (8, -1)])
def test_non_positive_sizes(args):
    with pytest.raises(ValueError, match="positive"):
        mha.MultiHeadAttention(*args)


@pytest.mark.parametrize("args", [(8.0, 2), (8, "2"), (8, True)])
def test_non_integer_sizes(args):
    with pytest.raises(TypeError, match="positive int"):
        mha.MultiHeadAttention(*args)


def test_selfattention_bad_sizes():
    with pytest.raises(ValueError, match="d_k must be a positive int"):
        mha.SelfAttention(8, 0)


@pytest.mark.parametrize("shape", [(5, 8), (2, 5, 7), (2, 3, 5, 8)])
def test_wrong_input_shape(shape):
    m = mha.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model=8\), got"):
        m(torch.randn(*shape))


def test_input_not_a_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        mha.MultiHeadAttention(8, 2)(np.zeros((1, 2, 8)))


def test_mask_that_does_not_broadcast_names_both_shapes():
    m = mha.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast .*\(1, 2, 5, 5\)"):
        m(torch.randn(1, 5, 8), mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\) .*\(2, 2\)"):
        mha.scaled_dot_product_attention(torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4), torch.ones(3, 3) > 0)


def test_mask_must_be_boolean():
    with pytest.raises(TypeError, match="torch.bool"):
        mha.MultiHeadAttention(8, 2)(torch.randn(1, 5, 8), mask=torch.ones(5, 5))


def test_sdpa_mismatched_shapes():
    with pytest.raises(ValueError, match="share their last dimension"):
        mha.scaled_dot_product_attention(torch.randn(2, 4), torch.randn(2, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="same number of keys"):
        mha.scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 4), torch.randn(2, 4))


def test_split_heads_errors():
    with pytest.raises(ValueError, match="d_model=6 is not divisible by num_heads=4"):
        mha.split_heads(torch.randn(1, 2, 6), 4)


def test_from_heads_errors():
    heads = [mha.SelfAttention(8, 4), mha.SelfAttention(8, 4)]
    with pytest.raises(ValueError, match=r"w_o must be nn.Linear\(8, 8\)"):
        mha.MultiHeadAttention.from_heads(heads, nn.Linear(6, 8))
    with pytest.raises(TypeError):
        mha.MultiHeadAttention.from_heads([], nn.Linear(8, 8))


def test_from_torch_rejects_unsupported():
    with pytest.raises(ValueError, match="batch_first=True"):
        mha.MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2))


# ---------------------------------------------------------------- device


def test_get_device_honours_env(monkeypatch):
    monkeypatch.setenv("MHA_DEVICE", "cpu")
    assert mha.get_device() == torch.device("cpu")
    monkeypatch.setenv("MHA_DEVICE", "tpu")
    with pytest.raises(ValueError, match="cpu, cuda or mps"):
        mha.get_device()
    monkeypatch.delenv("MHA_DEVICE")
    assert mha.get_device().type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_get_device_cuda_missing(monkeypatch):
    monkeypatch.setenv("MHA_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        mha.get_device()


def test_valid_head_counts():
    assert mha.valid_head_counts(12) == [1, 2, 3, 4, 6, 12]
