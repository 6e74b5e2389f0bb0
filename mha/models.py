"""The course's tiny models: embeddings, one or two ``MultiHeadAttention`` layers, and a linear readout.

They are the smallest things that need attention: a position answers only with what its heads fetched. ``mha.train``
trains them (notebooks 2, 6, 7 and 8); the helpers below reach inside one (its attention layer, a head copied to all).
"""

from __future__ import annotations

import torch
from torch import nn

from mha.attention import MultiHeadAttention
from mha.validate import check_divisible, check_positive_int

__all__ = ["TinyAttentionModel", "TwoLayerAttentionModel", "check_ids", "model_of", "attention_of", "copy_head_to_all"]


def _add_embeddings(model: nn.Module, vocab_size, d_model, num_heads, max_len, num_classes) -> int:
    """Check a model's sizes, store them, and give it its token and position embeddings; returns num_classes."""
    for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("num_heads", num_heads)):
        check_positive_int(name, value)
    check_positive_int("max_len", max_len)
    check_divisible(d_model, num_heads)
    num_classes = vocab_size if num_classes is None else num_classes
    check_positive_int("num_classes", num_classes)
    model.vocab_size, model.d_model, model.num_heads, model.max_len = vocab_size, d_model, num_heads, max_len
    model.tok_emb = nn.Embedding(vocab_size, d_model)  # created first: init_weights_ draws them first
    model.pos_emb = nn.Embedding(max_len, d_model)
    return num_classes


def _embed(model: nn.Module, ids):
    """Token + position embeddings of ids (B, T): (B, T, d_model)."""
    check_ids(ids, model.max_len)
    return model.tok_emb(ids) + model.pos_emb(torch.arange(ids.shape[1], device=ids.device))


class TinyAttentionModel(nn.Module):
    """Token + position embedding -> one MultiHeadAttention -> a linear readout.

    forward(ids (B, T), head_mask=None, padding_mask=None, dropout_noise=None)
        -> logits (B, T, num_classes), weights (B, num_heads, T, T).
    num_classes defaults to vocab_size (predicting words); the readout sees only the attention's output,
    so everything a position answers must have been fetched by a head.
    padding_mask: (B, T) bool, True for a real token (``mha.padding_mask``): no position attends to padding.
    dropout (constructor) and dropout_noise: the attention layer's dropout, in training mode only
    (see ``MultiHeadAttention``).
    """

    def __init__(
        self, vocab_size: int, d_model: int, num_heads: int, max_len: int, num_classes: int | None = None,
        dropout: float = 0.0,
    ):  # fmt: skip
        super().__init__()
        num_classes = _add_embeddings(self, vocab_size, d_model, num_heads, max_len, num_classes)
        self.attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.readout = nn.Linear(d_model, num_classes)

    def forward(self, ids, head_mask=None, padding_mask=None, dropout_noise=None):
        x = _embed(self, ids)  # (B, T, d_model)
        z, weights = self.attn(x, head_mask=head_mask, padding_mask=padding_mask, dropout_noise=dropout_noise)
        return self.readout(z), weights  # (B, T, num_classes), (B, h, T, T)


class TwoLayerAttentionModel(nn.Module):
    """Token + position embedding -> MultiHeadAttention -> MultiHeadAttention -> a linear readout.

    Each layer adds its output to what it read (a *residual* connection): x1 = x0 + attn1(x0),
    x2 = x1 + attn2(x1), so layer 2 sees every word together with what layer 1 fetched for it.
    forward(ids (B, T), head_mask=None, padding_mask=None) -> logits (B, T, num_classes), weights (B, 2, h, T, T).
    head_mask: optional (2, num_heads) tensor, row l multiplying the heads of layer l (0 removes a head).
    """

    num_layers = 2

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, max_len: int, num_classes: int | None = None):
        super().__init__()
        num_classes = _add_embeddings(self, vocab_size, d_model, num_heads, max_len, num_classes)
        self.layers = nn.ModuleList([MultiHeadAttention(d_model, num_heads) for _ in range(2)])
        self.readout = nn.Linear(d_model, num_classes)

    def residual_inputs(self, ids, padding_mask=None):
        """[x0, x1]: what layer 1 and layer 2 read, each (B, T, d_model)."""
        x = _embed(self, ids)
        return [x, x + self.layers[0](x, padding_mask=padding_mask)[0]]

    def forward(self, ids, head_mask=None, padding_mask=None):
        x = _embed(self, ids)  # (B, T, d_model)
        if head_mask is not None:
            head_mask = torch.as_tensor(head_mask, dtype=self.readout.weight.dtype, device=ids.device)
            if head_mask.shape != (2, self.num_heads):
                raise ValueError(f"head_mask must have shape (2, {self.num_heads}), got {tuple(head_mask.shape)}")
        weights = []
        for i, attn in enumerate(self.layers):
            z, w = attn(x, head_mask=None if head_mask is None else head_mask[i], padding_mask=padding_mask)
            x = x + z  # residual: keep the word, add what the heads fetched
            weights.append(w)  # (B, h, T, T)
        return self.readout(x), torch.stack(weights, dim=1)  # (B, T, num_classes), (B, 2, h, T, T)


def check_ids(ids, max_len: int) -> None:
    """Refuse anything but a (B, T) tensor of token ids (torch.long) with T <= max_len, saying what came."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = f"shape {tuple(ids.shape)}, dtype {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids)
        raise ValueError(f"ids must be a (B, T) tensor of token ids (torch.long), got {got}")
    if ids.shape[1] > max_len:
        raise ValueError(f"sequence length T={ids.shape[1]} is longer than the model's max_len={max_len}")


def model_of(model):
    """The nn.Module inside a TrainResult (or the module itself)."""
    inner = getattr(model, "model", None)
    return inner if isinstance(inner, nn.Module) else model


def attention_of(model) -> MultiHeadAttention:
    """The MultiHeadAttention of a one-layer model or its TrainResult (or the module itself)."""
    model = model_of(model)
    attn = model.attn if hasattr(model, "attn") else model
    if not isinstance(attn, MultiHeadAttention):
        raise TypeError(f"expected a TinyAttentionModel or a MultiHeadAttention, got {type(model).__name__}")
    return attn


@torch.no_grad()
def copy_head_to_all(model, head: int = 0) -> None:
    """Give every head of ``model.attn`` the W_Q, W_K, W_V (and biases) of head ``head``, and W_O's columns too.

    After this all heads are the same function of the input; their gradients are then equal as well,
    so training keeps them identical.
    """
    attn = model.attn if hasattr(model, "attn") else model
    h, d_k, d_model = attn.num_heads, attn.d_k, attn.d_model
    if not 0 <= head < h:
        raise ValueError(f"head must be in 0..{h - 1}, got {head}")
    w = attn.qkv.weight.view(3, h, d_k, d_model)  # [Q, K, V] x heads
    w.copy_(w[:, head : head + 1].expand_as(w).clone())
    if attn.qkv.bias is not None:
        b = attn.qkv.bias.view(3, h, d_k)
        b.copy_(b[:, head : head + 1].expand_as(b).clone())
    w_o = attn.out_proj.weight.view(d_model, h, d_k)  # columns of W_O, head by head
    w_o.copy_(w_o[:, head : head + 1].expand_as(w_o).clone())
