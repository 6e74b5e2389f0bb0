"""The checks of notebook 8's exercises: the reference solutions pass, and each typical mistake is named."""

import math

import pytest
import torch

import mha
from mha.exercises import nb08_build_the_module as nb07

# ---------------------------------------------------------------- 08.1


def _forward(x, W, b, W_o, b_o, h, *, scale_d_model=False, w_o_plain=False, reshape=False, dim=-1):
    B, T, d = x.shape
    q, k, v = (x @ W.T + b).split(d, dim=-1)
    if reshape:
        q, k, v = (t.reshape(B, h, T, d // h) for t in (q, k, v))
    else:
        q, k, v = (mha.split_heads(t, h) for t in (q, k, v))
    scale = math.sqrt(d if scale_d_model else d // h)
    z = torch.softmax(q @ k.transpose(-2, -1) / scale, dim=dim) @ v
    z = mha.merge_heads(z)
    return z @ (W_o if w_o_plain else W_o.T) + b_o


@pytest.mark.parametrize(
    "kwargs,feedback",
    [
        ({}, None),
        (dict(scale_d_model=True), "sqrt(d_model)"),
        (dict(w_o_plain=True), "out_weight.T"),
        (dict(reshape=True), "without transpose"),
        (dict(dim=-2), "softmax runs over the queries"),
    ],
)
def test_batched_forward(kwargs, feedback):
    result = nb07.check_batched_forward(lambda *a: _forward(*a, **kwargs))
    assert result.passed == (feedback is None)
    if feedback:
        assert feedback in result.feedback


def test_batched_forward_pair_is_refused():
    result = nb07.check_batched_forward(lambda *a: (_forward(*a), None))
    assert not result.passed and "not a pair" in result.feedback


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
