"""Notebook 6's symmetry experiment: heads that start as exact copies of each other, trained freely."""

from __future__ import annotations

import torch

from mha.data import Task
from mha.train import TrainResult, attention_of, copy_head_to_all, model_of, train_many

__all__ = ["head_distance", "train_from_identical_heads"]


@torch.no_grad()
def head_distance(model) -> float:
    """How far apart the heads are: the largest |difference| between any head's parameters and head 0's.

    Compares W_Q, W_K, W_V (and their biases) and each head's columns of W_O. 0.0 means every head is an exact
    copy of head 0. ``model`` is a TinyAttentionModel, a TrainResult or a MultiHeadAttention.
    """
    attn = attention_of(model_of(model))
    h, d_k, d_model = attn.num_heads, attn.d_k, attn.d_model
    w = attn.qkv.weight.view(3, h, d_k, d_model)  # [Q, K, V] x heads
    parts = [w - w[:, :1], attn.out_proj.weight.view(d_model, h, d_k)]
    parts[1] = parts[1] - parts[1][:, :1]  # W_O's columns, head by head
    if attn.qkv.bias is not None:
        b = attn.qkv.bias.view(3, h, d_k)
        parts.append(b - b[:, :1])
    return max(p.abs().max().item() for p in parts)


def train_from_identical_heads(
    task: Task,
    num_heads: int,
    d_model: int = 16,
    steps: int = 150,
    seed: int = 0,
    lr: float = 0.02,
) -> tuple[TrainResult, list[float]]:
    """Start every head as a copy of head 0, then train freely (nothing keeps the heads equal).

    Returns (result, distances): distances[0] is ``head_distance`` at the start (0.0) and distances[t] after
    step t, so len(distances) == steps + 1. Compare ``train(..., identical_heads=True)``, which averages the
    heads after every step and so keeps them equal by force.
    """
    distances: list[float] = []

    def init(model):
        copy_head_to_all(model)
        distances.append(head_distance(model))

    def watch(step, models):
        distances.append(head_distance(models[0]))

    (result,) = train_many(task, num_heads, [seed], d_model, steps, lr, init=init, watch=watch)
    return result, distances
