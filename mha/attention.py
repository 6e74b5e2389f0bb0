"""The math of attention: one head, many heads, and the helpers in between.

Shapes use these letters: B batch, T sequence length, h number of heads,
d_model the model width, d_k = d_model / h the width of one head.

This module knows no screen: it imports neither plotly nor ipywidgets.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from mha.validate import check_divisible, check_positive_int, check_probability

__all__ = [
    "scaled_dot_product_attention",
    "SelfAttention",
    "HeadPanel",
    "MultiHeadAttention",
    "split_heads",
    "merge_heads",
    "causal_mask",
    "padding_mask",
    "get_device",
    "count_parameters",
    "attention_flops",
]


# ---------------------------------------------------------------- checks


def _check_tensor(name: str, x, min_dim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions, got shape {tuple(x.shape)}")


def _check_mask(mask, scores_shape: torch.Size) -> None:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a boolean torch.Tensor (True = may attend), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = may attend), got {mask.dtype}")
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores' shape "
            f"{tuple(scores_shape)} (..., T_q, T_k)"
        )


# ---------------------------------------------------------------- one equation


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v, returning the output and the attention weights.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v).
    mask: optional boolean tensor broadcastable to (..., T_q, T_k); True means "may attend"
    (the convention of torch.nn.functional.scaled_dot_product_attention).

    Returns out (..., T_q, d_v) and weights (..., T_q, T_k); each row of weights sums to 1.
    A query whose keys are all masked attends to nothing: its weights row and its output row
    are zero (not NaN), and gradients stay finite.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_tensor(name, t, 2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share their last dimension d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys T_k, got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    weights = _attention_weights(q, k, mask)  # (..., T_q, T_k)
    return weights @ v, weights


def _attention_weights(q, k, mask):
    """softmax(q k^T / sqrt(d_k)) with masked keys removed; rows that see no key are all zero."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is None:
        return torch.softmax(scores, dim=-1)
    _check_mask(mask, scores.shape)
    attends = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1): does the row see any key?
    scores = scores.masked_fill(~(mask | ~attends), float("-inf"))  # empty rows: keep all, zero below
    return torch.softmax(scores, dim=-1).masked_fill(~attends, 0.0)


# ---------------------------------------------------------------- heads


def split_heads(x, num_heads: int):
    """(B, T, d_model) -> (B, num_heads, T, d_k): give every head its own slice of the features.

    Head i gets features i*d_k ... (i+1)*d_k - 1 of every token. Leading dimensions before T are kept.
    """
    _check_tensor("x", x, 2)
    check_positive_int("num_heads", num_heads)
    check_divisible(x.shape[-1], num_heads)
    x = x.unflatten(-1, (num_heads, x.shape[-1] // num_heads))  # (B, T, h, d_k)
    return x.transpose(-3, -2)  # (B, h, T, d_k)


def merge_heads(x):
    """(B, num_heads, T, d_k) -> (B, T, num_heads * d_k): the inverse of split_heads (concatenation)."""
    _check_tensor("x", x, 3)
    x = x.transpose(-3, -2)  # (B, T, h, d_k)
    return x.flatten(-2)  # (B, T, h * d_k)


def causal_mask(T: int, device=None):
    """Boolean (T, T) mask, True on and below the diagonal: token t may attend to tokens 0..t."""
    check_positive_int("T", T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, T: int, device=None):
    """Boolean (B, T) mask from the true lengths of B padded sequences: True for a real token, False for padding.

    lengths: B ints (a list, tuple or 1-D integer tensor), each from 0 to T; sequence b holds lengths[b] real
    tokens followed by T - lengths[b] padding tokens. Pass the result to
    ``MultiHeadAttention(...)(x, padding_mask=...)``: no query then attends to a padding key.
    """
    check_positive_int("T", T)
    if isinstance(lengths, torch.Tensor):
        if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise TypeError(
                f"lengths must be a 1-D integer tensor or a list of ints, got a {lengths.dtype} tensor "
                f"of shape {tuple(lengths.shape)}"
            )
        device = lengths.device if device is None else device
        values = lengths.tolist()
    elif isinstance(lengths, (list, tuple)):
        values = list(lengths)
    else:
        raise TypeError(f"lengths must be a list of ints or a 1-D integer tensor, got {type(lengths).__name__}")
    if not values:
        raise ValueError("lengths must hold one length per sequence, got an empty list")
    for b, length in enumerate(values):
        check_positive_int(f"lengths[{b}]", length, low=0, high=T)
    lengths = torch.tensor(values, device=device)
    return torch.arange(T, device=device) < lengths[:, None]  # (B, T): position t is real if t < length


class SelfAttention(nn.Module):
    """One head of self-attention with its own W_Q, W_K, W_V (each d_model -> d_k, no bias by default).

    forward(x (B, T, d_model), mask=None) -> z (B, T, d_k), weights (B, T, T).
    """

    def __init__(self, d_model: int, d_k: int, bias: bool = False):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("d_k", d_k)
        self.d_model, self.d_k = d_model, d_k
        self.W_q = nn.Linear(d_model, d_k, bias=bias)
        self.W_k = nn.Linear(d_model, d_k, bias=bias)
        self.W_v = nn.Linear(d_model, d_k, bias=bias)

    def forward(self, x, mask=None):
        _check_input(x, self.d_model)
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)  # (B, T, d_k) each
        return scaled_dot_product_attention(q, k, v, mask)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_k={self.d_k}"


def _check_input(x, d_model: int, name: str = "x", length: str = "T") -> None:
    _check_tensor(name, x, 2)
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (B, {length}, d_model={d_model}), got {tuple(x.shape)}")


class HeadPanel(nn.Module):
    """Multi-head attention written as a loop: h separate SelfAttention heads side by side, then W_O.

    The step between one head and the batched ``MultiHeadAttention``: every head runs on its own, their outputs
    Z_1 ... Z_h are concatenated, and one linear layer W_O mixes them back to d_model features:
    out = concat(Z_1, ..., Z_h) W_O^T (W_O stored as nn.Linear(h * d_k, d_model), weight (d_model, h * d_k)).

    heads: SelfAttention(d_model, d_k) with the same sizes; W_O: nn.Linear(h * d_k, d_model). h * d_k need not
    equal d_model here (W_O maps any width back); ``to_multihead`` needs it.

    forward(x (B, T, d_model), mask=None) -> out (B, T, d_model), weights (B, h, T, T).
    mask: boolean, True = may attend, (T, T), (B, T, T), or (B, h, T, T) / (B, 1, T, T) (head i gets mask[:, i]).
    """

    def __init__(self, heads, W_O: nn.Linear):
        super().__init__()
        heads = list(heads)
        if not heads or not all(isinstance(hd, SelfAttention) for hd in heads):
            got = [type(hd).__name__ for hd in heads]
            raise TypeError(f"heads must be a non-empty list of mha.SelfAttention, got {got}")
        d_model, d_k = heads[0].d_model, heads[0].d_k
        sizes = [(hd.d_model, hd.d_k) for hd in heads]
        if any(size != (d_model, d_k) for size in sizes):
            raise ValueError(f"all heads must have the same (d_model, d_k), got {sizes}")
        if not isinstance(W_O, nn.Linear) or W_O.in_features != len(heads) * d_k or W_O.out_features != d_model:
            raise ValueError(f"W_O must be nn.Linear({len(heads) * d_k}, {d_model}) (h * d_k -> d_model), got {W_O!r}")
        self.d_model, self.num_heads, self.d_k = d_model, len(heads), d_k
        self.heads = nn.ModuleList(heads)
        self.W_O = W_O

    def forward(self, x, mask=None):
        _check_input(x, self.d_model)
        results = []
        for i, head in enumerate(self.heads):
            head_mask = mask
            if isinstance(mask, torch.Tensor) and mask.dim() == 4:  # (B, h, T, T) or (B, 1, T, T)
                head_mask = mask[:, i if mask.shape[1] > 1 else 0]
            results.append(head(x, head_mask))  # z_i (B, T, d_k), weights_i (B, T, T)
        z = torch.cat([z_i for z_i, _ in results], dim=-1)  # (B, T, h * d_k): the heads side by side
        weights = torch.stack([w_i for _, w_i in results], dim=1)  # (B, h, T, T)
        return self.W_O(z), weights  # (B, T, d_model)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_k={self.d_k}"

    @classmethod
    def from_multihead(cls, m: MultiHeadAttention) -> HeadPanel:
        """The loop of h heads + W_O computing the same function as the batched ``m`` (the inverse of
        ``MultiHeadAttention.from_heads``). Head i gets rows i*d_k ... (i+1)*d_k - 1 of W_Q, W_K and W_V."""
        if not isinstance(m, MultiHeadAttention):
            raise TypeError(f"expected mha.MultiHeadAttention, got {type(m).__name__}")
        d_model, d_k, bias = m.d_model, m.d_k, m.qkv.bias is not None
        heads = [SelfAttention(d_model, d_k, bias=bias) for _ in range(m.num_heads)]
        W_O = nn.Linear(d_model, d_model, bias=m.out_proj.bias is not None)
        with torch.no_grad():
            for i, head in enumerate(heads):
                for part, layer in enumerate((head.W_q, head.W_k, head.W_v)):
                    rows = slice(part * d_model + i * d_k, part * d_model + (i + 1) * d_k)  # head i's rows
                    layer.weight.copy_(m.qkv.weight[rows])
                    if bias:
                        layer.bias.copy_(m.qkv.bias[rows])
            W_O.load_state_dict(m.out_proj.state_dict())
        return cls(heads, W_O).to(m.qkv.weight.device, m.qkv.weight.dtype)

    def to_multihead(self) -> MultiHeadAttention:
        """The batched MultiHeadAttention computing the same function (``MultiHeadAttention.from_heads``)."""
        return MultiHeadAttention.from_heads(self.heads, self.W_O)


class MultiHeadAttention(nn.Module):
    """h heads of attention computed together, concatenated, and projected back by W_O.

    W_Q, W_K, W_V of all heads are stacked in one (3 * d_model, d_model) linear layer ``qkv``
    (the layout of torch.nn.MultiheadAttention); head i owns rows i*d_k ... (i+1)*d_k - 1 of each.
    out = concat(Z_1, ..., Z_h) W_O^T, with W_O = ``out_proj`` (nn.Linear(d_model, d_model)).

    forward(x (B, T_q, d_model), mask=None, need_weights=True, head_mask=None, *, context=None, padding_mask=None)
        -> out (B, T_q, d_model), weights (B, num_heads, T_q, T_k) or None.
    context: optional (B, T_k, d_model); keys and values come from it (cross-attention). Default: x itself
        (self-attention, T_k = T_q).
    mask: boolean, True = may attend, shaped (T_q, T_k), (B, T_q, T_k) or broadcastable to (B, num_heads, T_q, T_k).
    padding_mask: optional boolean (B, T_k), True for a real token and False for padding (see ``padding_mask``);
        no query attends to a padding key. Combined with ``mask`` by "and".
    A query that may attend to no key at all gets zero weights and a zero output (not NaN, as in PyTorch).
    need_weights=False skips the weights and uses PyTorch's fused scaled_dot_product_attention (not while dropout
        is on: the fused kernel would draw its own random numbers).
    head_mask: optional (num_heads,) tensor multiplying each head's output before W_O (0 removes a head).
    dropout (constructor): the probability of zeroing each attention weight, in training mode only; the weights
        kept are scaled by 1 / (1 - dropout) and returned as used (each row then sums to about 1, not exactly 1).
    dropout_noise: optional uniform numbers in [0, 1), shaped like the weights; dropout zeroes the weights whose
        number is below ``dropout``. Default: drawn from PyTorch's seeded CPU generator (``torch.manual_seed``),
        which gives the same numbers on every machine (PyTorch's own dropout does not).
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("num_heads", num_heads)
        check_divisible(d_model, num_heads)
        self.dropout = check_probability("dropout", dropout)
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # [W_Q; W_K; W_V] of every head
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O

    def forward(
        self, x, mask=None, need_weights: bool = True, head_mask=None, *, context=None, padding_mask=None,
        dropout_noise=None,
    ):  # fmt: skip
        _check_input(x, self.d_model)
        B, T_q, _ = x.shape
        if context is None:  # self-attention: one product gives q, k, v
            q, k, v = self.qkv(x).split(self.d_model, dim=-1)  # (B, T, d_model) each
        else:  # cross-attention: q from x, k and v from the context
            self._check_context(context, B)
            w_q, w_kv = self.qkv.weight.split([self.d_model, 2 * self.d_model])
            b_q, b_kv = (None, None) if self.qkv.bias is None else self.qkv.bias.split([self.d_model, 2 * self.d_model])
            q = F.linear(x, w_q, b_q)  # (B, T_q, d_model)
            k, v = F.linear(context, w_kv, b_kv).split(self.d_model, dim=-1)  # (B, T_k, d_model) each
        T_k = k.shape[1]
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))  # (B, h, T_q or T_k, d_k)
        mask = self._combined_mask(mask, padding_mask, B, T_q, T_k)  # (B, h or 1, T_q, T_k) or None
        p = self.dropout if self.training else 0.0
        if need_weights or p > 0:
            weights = _attention_weights(q, k, mask)  # (B, h, T_q, T_k)
            if p > 0:  # training only: zero the weights whose noise is below p, scale the rest by 1/(1-p)
                noise = _dropout_noise(dropout_noise, weights)
                weights = torch.where(noise >= p, weights / (1 - p), torch.zeros_like(weights))
            z = weights @ v  # (B, h, T_q, d_k)
            weights = weights if need_weights else None
        else:
            z, weights = _fused_attention(q, k, v, mask), None
        if head_mask is not None:
            z = z * self._check_head_mask(head_mask, z).view(-1, 1, 1)
        return self.out_proj(merge_heads(z)), weights  # (B, T_q, d_model)

    def _check_context(self, context, B: int) -> None:
        _check_input(context, self.d_model, name="context", length="T_k")
        if context.shape[0] != B:
            raise ValueError(
                f"context must have the batch size of x, B={B}: expected (B={B}, T_k, d_model={self.d_model}), "
                f"got {tuple(context.shape)}"
            )

    def _combined_mask(self, mask, padding_mask, B: int, T_q: int, T_k: int):
        if mask is not None:
            if isinstance(mask, torch.Tensor) and mask.dim() == 3:  # (B, T_q, T_k): the same mask for every head
                mask = mask.unsqueeze(1)  # (B, 1, T_q, T_k)
            _check_mask(mask, torch.Size([B, self.num_heads, T_q, T_k]))
        if padding_mask is None:
            return mask
        if not isinstance(padding_mask, torch.Tensor) or padding_mask.dtype != torch.bool:
            got = padding_mask.dtype if isinstance(padding_mask, torch.Tensor) else type(padding_mask).__name__
            raise TypeError(f"padding_mask must be a torch.bool tensor (True = real token, False = padding), got {got}")
        if padding_mask.shape != (B, T_k):
            raise ValueError(
                f"padding_mask must have shape (B={B}, T_k={T_k}): one row per sequence, one entry per key"
                f"{' of the context' if T_k != T_q else ''}, got {tuple(padding_mask.shape)}"
            )
        keys = padding_mask[:, None, None, :]  # (B, 1, 1, T_k): the same for every head and query
        return keys if mask is None else mask & keys

    def _check_head_mask(self, head_mask, z):
        head_mask = torch.as_tensor(head_mask, dtype=z.dtype, device=z.device)
        if head_mask.shape != (self.num_heads,):
            raise ValueError(f"head_mask must have shape ({self.num_heads},), got {tuple(head_mask.shape)}")
        return head_mask

    def extra_repr(self) -> str:
        extra = f", dropout={self.dropout}" if self.dropout else ""
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_k={self.d_k}{extra}"

    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of a torch.nn.MultiheadAttention(d_model, h, batch_first=True) computing the same function.

        Its weights, biases, dropout and train/eval mode are copied. Masks differ in convention: torch's
        ``key_padding_mask`` is ``~padding_mask`` and its boolean ``attn_mask`` is ``~mask`` (True = may NOT attend).
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise TypeError(f"expected torch.nn.MultiheadAttention, got {type(m).__name__}")
        if not m.batch_first or not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise ValueError(
                "from_torch supports nn.MultiheadAttention(d_model, num_heads, batch_first=True) without "
                "kdim/vdim, add_bias_kv or add_zero_attn"
            )
        bias = m.in_proj_bias is not None
        new = cls(m.embed_dim, m.num_heads, bias=bias, dropout=float(m.dropout))
        new = new.to(m.in_proj_weight.device, m.in_proj_weight.dtype).train(m.training)
        with torch.no_grad():
            new.qkv.weight.copy_(m.in_proj_weight)
            new.out_proj.weight.copy_(m.out_proj.weight)
            if bias:
                new.qkv.bias.copy_(m.in_proj_bias)
                new.out_proj.bias.copy_(m.out_proj.bias)
        return new

    def to_torch(self) -> nn.MultiheadAttention:
        """A torch.nn.MultiheadAttention(d_model, h, batch_first=True) computing the same function (inverse of
        ``from_torch``); weights, biases, dropout and train/eval mode are copied.

        Call it as ``m(x, c, c, key_padding_mask=~padding_mask, attn_mask=~mask, need_weights=...,
        average_attn_weights=False)`` with c = context (or x): torch's masks say True = may NOT attend.
        """
        bias = self.qkv.bias is not None
        m = nn.MultiheadAttention(self.d_model, self.num_heads, dropout=self.dropout, bias=bias, batch_first=True)
        m = m.to(self.qkv.weight.device, self.qkv.weight.dtype).train(self.training)
        with torch.no_grad():
            m.in_proj_weight.copy_(self.qkv.weight)  # (3 d_model, d_model): the same stacked layout
            m.out_proj.weight.copy_(self.out_proj.weight)
            if bias:
                m.in_proj_bias.copy_(self.qkv.bias)
                m.out_proj.bias.copy_(self.out_proj.bias)
        return m

    @classmethod
    def from_heads(cls, heads, w_o: nn.Linear) -> MultiHeadAttention:
        """The batched module equal to running ``heads`` one by one, concatenating their z, and applying ``w_o``.

        heads: a list of SelfAttention(d_model, d_k) with the same sizes; w_o: nn.Linear(h * d_k, d_model).
        """
        heads = list(heads)
        if not heads or not all(isinstance(hd, SelfAttention) for hd in heads):
            raise TypeError("heads must be a non-empty list of mha.SelfAttention")
        d_model, d_k = heads[0].d_model, heads[0].d_k
        if any((hd.d_model, hd.d_k) != (d_model, d_k) for hd in heads):
            raise ValueError("all heads must have the same d_model and d_k")
        if not isinstance(w_o, nn.Linear) or w_o.in_features != len(heads) * d_k or w_o.out_features != d_model:
            raise ValueError(f"w_o must be nn.Linear({len(heads) * d_k}, {d_model}), got {w_o!r}")
        if len(heads) * d_k != d_model:
            raise ValueError(f"the heads' widths must add up to d_model: {len(heads)} x {d_k} != {d_model}")
        has_bias = heads[0].W_q.bias is not None or w_o.bias is not None
        new = cls(d_model, len(heads), bias=has_bias).to(w_o.weight.device, w_o.weight.dtype)
        with torch.no_grad():
            for part, name in enumerate(("W_q", "W_k", "W_v")):
                layers = [getattr(hd, name) for hd in heads]
                rows = slice(part * d_model, (part + 1) * d_model)
                new.qkv.weight[rows] = torch.cat([layer.weight for layer in layers])
                if has_bias:
                    new.qkv.bias[rows] = torch.cat([_bias_or_zero(layer) for layer in layers])
            new.out_proj.weight.copy_(w_o.weight)
            if has_bias:
                new.out_proj.bias.copy_(_bias_or_zero(w_o))
        return new


def _bias_or_zero(layer: nn.Linear):
    return layer.bias if layer.bias is not None else layer.weight.new_zeros(layer.out_features)


def _fused_attention(q, k, v, mask):
    """F.scaled_dot_product_attention with our convention for rows that see no key (zero, not NaN)."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    attends = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1)
    z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~attends)
    return z.masked_fill(~attends, 0.0)


def _dropout_noise(noise, weights):
    """Dropout's uniform numbers, shaped like ``weights``: the ones given (checked), or new ones from the CPU."""
    if noise is None:  # drawn on the CPU, one by one in a fixed order: the same numbers on every processor
        return torch.rand(weights.shape, dtype=weights.dtype).to(weights.device)
    if not isinstance(noise, torch.Tensor) or noise.shape != weights.shape:
        got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise ValueError(f"dropout_noise must be a tensor shaped like the weights {tuple(weights.shape)}, got {got}")
    return noise


# ---------------------------------------------------------------- small helpers


def attention_flops(B: int, T: int, d_model: int, num_heads: int) -> dict[str, int]:
    """Floating-point operations of one forward pass of multi-head self-attention (a multiply-add counts 2).

    Q, K, V projections: three (B*T, d_model) @ (d_model, d_model) products -> 6 B T d_model^2.
    scores Q K^T and weights x V: per head (T, d_k) @ (d_k, T) and (T, T) @ (T, d_k), over h heads with
    h * d_k = d_model -> 2 B T^2 d_model each. Output projection W_O: 2 B T d_model^2.
    The number of heads changes none of these counts, only how the work is cut.
    """
    for name, value in (("B", B), ("T", T), ("d_model", d_model), ("num_heads", num_heads)):
        check_positive_int(name, value)
    check_divisible(d_model, num_heads)
    by_step = {
        "Q, K, V projections": 6 * B * T * d_model**2,
        "scores Q K^T": 2 * B * T**2 * d_model,
        "weights x V": 2 * B * T**2 * d_model,
        "output projection W_O": 2 * B * T * d_model**2,
    }
    projections = by_step["Q, K, V projections"] + by_step["output projection W_O"]
    attention = by_step["scores Q K^T"] + by_step["weights x V"]
    return {"projections": projections, "attention": attention, "total": projections + attention, "by_step": by_step}


def count_parameters(module: nn.Module) -> int:
    """The number of trainable numbers in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def get_device() -> torch.device:
    """The device to run on: $MHA_DEVICE if set (cpu, cuda, mps), else CUDA, else MPS, else CPU."""
    wanted = os.environ.get("MHA_DEVICE", "").strip().lower()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in ("cpu", "cuda", "mps"):
            raise ValueError(f"MHA_DEVICE must be cpu, cuda or mps, got {wanted!r}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("MHA_DEVICE=cuda, but PyTorch sees no CUDA device here")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("MHA_DEVICE=mps, but PyTorch sees no Apple MPS device here")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
