"""Notebook 6's symmetry experiment: heads that start as exact copies of each other, pushed apart by a known
amount (or not at all), then trained freely; and the roles that heads take over many seeds.

Every function gives the same numbers on every machine (see ``mha.train``): the pushes are drawn from a seeded
CPU generator and rounded to the training grid ``GRID``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mha.data import IGNORE, Task
from mha.models import TinyAttentionModel, attention_of, copy_head_to_all, model_of
from mha.train import (
    GRID,
    TrainResult,
    check_task,
    evaluate,
    head_role_scores,
    init_weights_,
    snap_to_grid_,
    train_many,
)

__all__ = [
    "head_distance",
    "train_from_identical_heads",
    "push_heads_",
    "role_spread",
    "role_heads",
    "positional_baseline",
    "train_pushed",
    "SymmetryStudy",
    "symmetry_study",
    "compare_with_forced",
    "first_steps",
]


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


@torch.no_grad()
def push_heads_(model, size: float, seed: int):
    """Move every weight of every head by +size or -size (signs drawn at random), then round to GRID; returns model.

    The weights that belong to one head are its rows of W_Q, W_K, W_V (and their biases) and its columns of W_O;
    the embeddings, W_O's bias and the readout are shared by all heads and stay as they are. The signs come from
    a CPU generator seeded with ``seed``, so the push is the same on every machine. After rounding, a size
    below GRID / 2 is no push at all, and one of GRID is the smallest push the training arithmetic can hold.
    Two heads that started equal then differ by 0 or 2 * size in each weight.
    """
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise ValueError(f"size must be a number >= 0 (e.g. mha.train.GRID or 1e-4), got {size!r}")
    attn = attention_of(model_of(model))
    generator = torch.Generator().manual_seed(seed)
    params = [attn.qkv.weight, attn.out_proj.weight] + ([attn.qkv.bias] if attn.qkv.bias is not None else [])
    for p in params:
        signs = torch.randint(0, 2, p.shape, generator=generator, dtype=torch.int64) * 2 - 1  # +-1, on the CPU
        p.add_(signs.to(p.device, p.dtype) * size)
        snap_to_grid_(p)
    return model


def role_spread(model, task: Task) -> float:
    """How differently the heads behave: for each role, the highest head's score minus the lowest head's,
    and the largest of these over roles (0.0 for heads that are copies; see ``mha.train.head_role_scores``)."""
    scores = head_role_scores(model, task)  # (heads, roles)
    return float((scores.max(0).values - scores.min(0).values).max())


def role_heads(scores: torch.Tensor, threshold) -> list:
    """For each role (column of ``scores`` (heads, roles)): the head (numbered from 1) with the highest score if
    that score is above the role's threshold, else None (no head took the role). ``threshold``: one number for
    every role, or one per role."""
    best, head = scores.max(0)
    thresholds = [threshold] * len(best) if isinstance(threshold, (int, float)) else list(threshold)
    if len(thresholds) != len(best):
        raise ValueError(f"threshold must be a number or one per role ({len(best)}), got {threshold!r}")
    return [int(i) + 1 if b > t else None for b, i, t in zip(best.tolist(), head.tolist(), thresholds)]


def positional_baseline(task: Task, role: str) -> float:
    """The best role score a head could get by always looking at one fixed position: for each position, the
    fraction of the role's queries whose key sits there; the largest. 1.0 where a role's key never moves."""
    check_task(task)
    if role not in task.roles:
        raise ValueError(f"role must be one of {list(task.roles)}, got {role!r}")
    keys = task.roles[role]
    keys = keys[keys >= 0]
    return float(torch.bincount(keys, minlength=task.seq_len).max() / keys.numel())


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
    runs = train_pushed(task, num_heads, sizes=[0.0], seeds=[seed], d_model=d_model, steps=steps, lr=lr)
    (result,), (distances,) = runs[0.0]
    return result, distances


def train_pushed(
    task: Task,
    num_heads: int,
    sizes=(0.0, GRID),
    seeds=range(10),
    d_model: int = 16,
    steps: int = 100,
    lr: float = 0.02,
) -> dict:
    """For each push size and seed: copy head 0 into every head, push with ``push_heads_(model, size, seed)``,
    then train freely (``mha.train.train_many``, all runs at once).

    Returns {size: (results, distances)}: results[i] the TrainResult of seeds[i], distances[i] its
    ``head_distance`` at the start (distances[i][0]) and after every step (len steps + 1).
    """
    sizes, seeds = [float(s) for s in sizes], list(seeds)
    if not sizes or len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be a non-empty list of different push sizes, got {sizes!r}")
    runs = [(size, seed) for size in sizes for seed in seeds]  # model i of train_many
    distances: list[list[float]] = []

    def init(model):
        size, seed = runs[len(distances)]
        copy_head_to_all(model)
        push_heads_(model, size, seed)
        distances.append([head_distance(model)])

    def watch(step, models):
        for d, model in zip(distances, models):
            d.append(head_distance(model))

    results = train_many(task, num_heads, [seed for _, seed in runs], d_model, steps, lr, init=init, watch=watch)
    n = len(seeds)
    return {size: (results[k * n : (k + 1) * n], distances[k * n : (k + 1) * n]) for k, size in enumerate(sizes)}


@dataclass
class SymmetryStudy:
    """What ``symmetry_study`` returns: per push size, the free runs (results, distances over steps) and, on the
    same seeds, the forced-equal control; plus each run's final loss, test accuracy and role spread."""

    sizes: list
    seeds: list
    free: dict  # size -> [TrainResult per seed]
    distances: dict  # size -> [[distance after step 0..steps] per seed]
    forced: list  # [TrainResult per seed], train(..., identical_heads=True)
    loss: dict = field(default_factory=dict)  # size or "forced" -> [final training loss per seed]
    accuracy: dict = field(default_factory=dict)  # size or "forced" -> [accuracy on test per seed]
    spread: dict = field(default_factory=dict)  # size or "forced" -> [role_spread on test per seed]


def symmetry_study(
    task: Task,
    test: Task,
    num_heads: int = 4,
    sizes=(0.0, GRID, 1e-4, 1e-2),
    seeds=range(10),
    d_model: int = 16,
    steps: int = 100,
    lr: float = 0.02,
) -> SymmetryStudy:
    """Identical heads, pushed apart by each of ``sizes`` and trained freely, against the forced-equal control
    (``train_many(..., identical_heads=True)``) on the same seeds; measured on the new sentences ``test``."""
    check_task(test)
    seeds = list(seeds)
    runs = train_pushed(task, num_heads, sizes, seeds, d_model, steps, lr)
    forced = train_many(task, num_heads, seeds, d_model, steps, lr, identical_heads=True)
    study = SymmetryStudy(
        list(runs), seeds, {s: r for s, (r, _) in runs.items()}, {s: d for s, (_, d) in runs.items()}, forced
    )
    for key, results in [*study.free.items(), ("forced", forced)]:
        study.loss[key] = [r.final_loss for r in results]
        study.accuracy[key] = [evaluate(r, test) for r in results]
        study.spread[key] = [role_spread(r, test) for r in results]
    return study


def compare_with_forced(values: list, forced: list, tolerance: float) -> tuple[int, int, int]:
    """(lower, tie, higher): on how many seeds ``values[i]`` is below ``forced[i] - tolerance``, within
    ``tolerance`` of it, or above ``forced[i] + tolerance``."""
    if len(values) != len(forced):
        raise ValueError(f"{len(values)} values for {len(forced)} forced-equal runs")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    lower = sum(v < f - tolerance for v, f in zip(values, forced))
    higher = sum(v > f + tolerance for v, f in zip(values, forced))
    return lower, len(values) - lower - higher, higher


def first_steps(
    task: Task,
    num_heads: int = 4,
    size: float = GRID,
    seed: int = 0,
    steps: int = 3,
    d_model: int = 16,
    lr: float = 0.02,
    optimizer: str = "adam",
) -> list[float]:
    """The head distance at the start and after each of the first ``steps`` steps, from identical heads pushed by
    ``size``, trained with ``optimizer`` "adam" (as ``mha.train`` does) or "sgd" (plain gradient descent: each
    weight moves by lr times its gradient). The same model, loss, float64 and rounding to GRID as ``mha.train``.
    """
    check_task(task)
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f'optimizer must be "adam" or "sgd", got {optimizer!r}')
    model = TinyAttentionModel(task.vocab_size, d_model, num_heads, task.seq_len, num_classes=task.num_classes)
    init_weights_(model.to(torch.float64), seed)
    copy_head_to_all(model)
    push_heads_(model, size, seed)
    opt_class = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = opt_class(model.parameters(), lr=lr)
    asked = task.targets != IGNORE  # (n, T)
    distances = [head_distance(model)]
    for _ in range(steps):
        logits, _ = model(task.ids)  # (n, T, classes)
        loss = torch.nn.functional.cross_entropy(logits[asked], task.targets[asked])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in model.parameters():
                snap_to_grid_(p)
        distances.append(head_distance(model))
    return distances
