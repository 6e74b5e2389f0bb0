"""The checks of notebook 8's exercises: the reference solutions pass, and each typical mistake is named."""

import pytest
import torch

import mha
from mha.exercises import nb08_build_the_module as nb07

# ---------------------------------------------------------------- 08.1


@pytest.mark.parametrize(
    "fn,feedback",
    [
        (lambda mask, pad: mask[None, None] & pad[:, None, None, :], None),
        (lambda mask, pad: (mask & pad[:, None, :])[:, None], None),  # the same mask, built another way
        (lambda mask, pad: mask[None, None] & pad[:, None, :, None], "hides keys"),
        (lambda mask, pad: mask[None, None] | pad[:, None, None, :], "not | (or)"),
        (lambda mask, pad: ~(mask[None, None] & pad[:, None, None, :]), "other way round"),
        (lambda mask, pad: mask[None, None] & ~pad[:, None, None, :], "kept the padding"),
        (lambda mask, pad: mask[None, None].expand(pad.shape[0], 1, -1, -1), "left out the padding mask"),
        (lambda mask, pad: mask[None] & pad[:, None, :], "axis of size 1 for the heads"),
        (lambda mask, pad: (mask[None, None] & pad[:, None, None, :]).int(), "dtype"),
        (
            lambda mask, pad: torch.ones_like(mask).tril()[None, None] & pad[:, None, None, :],
            "not a causal mask of your own",
        ),
    ],
)
def test_combine_masks(fn, feedback):
    result = nb07.check_combine_masks(fn)
    assert result.passed == (feedback is None), result.feedback
    if feedback:
        assert feedback in result.feedback


def test_combine_masks_is_what_the_module_uses():
    """The reference combination gives the module the same output as its own mask and padding_mask arguments."""
    torch.manual_seed(0)
    attn = mha.MultiHeadAttention(8, 2)
    x, pad, causal = torch.randn(3, 5, 8), mha.padding_mask([5, 3, 1], 5), mha.causal_mask(5)
    with torch.no_grad():
        torch.testing.assert_close(
            attn(x, mask=causal[None, None] & pad[:, None, None, :])[0], attn(x, mask=causal, padding_mask=pad)[0]
        )


# ---------------------------------------------------------------- 08.2


@pytest.mark.parametrize(
    "fn,feedback",
    [
        (lambda lengths, T: torch.arange(T)[None] < lengths[:, None], None),
        (lambda lengths, T: torch.arange(T)[None] >= lengths[:, None], "other way round"),
        (lambda lengths, T: torch.arange(T)[None] <= lengths[:, None], "off by one"),
        (lambda lengths, T: (torch.arange(T)[None] < lengths[:, None]).int(), "dtype"),
    ],
)
def test_padding_mask(fn, feedback):
    result = nb07.check_padding_mask(fn)
    assert result.passed == (feedback is None)
    if feedback:
        assert feedback in result.feedback


# ---------------------------------------------------------------- 08.3


def _shapes(B, T_q, T_k, d, h, swap=False):
    d_k = d // h
    return {
        "q_heads": (B, h, T_q, d_k),
        "k_heads": (B, h, T_k, d_k),
        "v_heads": (B, h, T_k, d_k),
        "weights": (B, h, T_k, T_q) if swap else (B, h, T_q, T_k),
        "out": (B, T_q, d),
        "padding_mask": (B, T_k),
    }


def test_cross_attention_shapes():
    assert nb07.check_cross_attention_shapes(_shapes).passed
    result = nb07.check_cross_attention_shapes(lambda *a: _shapes(*a, swap=True))
    assert not result.passed and "one row per query" in result.feedback
    result = nb07.check_cross_attention_shapes(lambda *a: {"out": (1,)})
    assert not result.passed and "missing the keys" in result.feedback


# ---------------------------------------------------------------- 08.4


@pytest.mark.parametrize(
    "fn,feedback",
    [
        (lambda w, p, training, n: torch.where(n >= p, w / (1 - p), 0 * w) if training else w, None),
        (lambda w, p, training, n: torch.where(n >= p, w, 0 * w) if training else w, "did not scale"),
        (lambda w, p, training, n: torch.where(n >= p, w / (1 - p), 0 * w), "in evaluation"),
        (lambda w, p, training, n: torch.where(n < p, w / (1 - p), 0 * w) if training else w, "noise < p"),
    ],
)
def test_attention_dropout(fn, feedback):
    result = nb07.check_attention_dropout(fn)
    assert result.passed == (feedback is None)
    if feedback:
        assert feedback in result.feedback


# ---------------------------------------------------------------- 08.5


def test_torch_mha_weights():
    def right(W_q, W_k, W_v, W_O):
        return {"in_proj_weight": torch.cat([torch.cat(W_q), torch.cat(W_k), torch.cat(W_v)]), "out_proj.weight": W_O}

    def interleaved(W_q, W_k, W_v, W_O):
        rows = [torch.cat([q, k, v]) for q, k, v in zip(W_q, W_k, W_v)]
        return {"in_proj_weight": torch.cat(rows), "out_proj.weight": W_O}

    def transposed_w_o(W_q, W_k, W_v, W_O):
        return {**right(W_q, W_k, W_v, W_O), "out_proj.weight": W_O.T}

    assert nb07.check_torch_mha_weights(right).passed
    result = nb07.check_torch_mha_weights(interleaved)
    assert not result.passed and "head by head" in result.feedback
    result = nb07.check_torch_mha_weights(transposed_w_o)
    assert not result.passed and "do not transpose it" in result.feedback
