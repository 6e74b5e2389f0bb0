"""The experiments of notebooks 2 and 6, run on the tiny models of ``mha.train``.

- notebook 2: ``compare_head_counts`` (one wide head against narrow heads, over many seeds) and the baselines a
  critic asks for (``majority_baseline``, ``one_role_baseline``);
- notebook 6: identical heads trained freely (``train_from_identical_heads``, ``head_distance``), the question asked
  at "it" (``ask_at``) for the two-layer model, each head's term of the output (``head_contributions``), and which
  heads matter (``head_importance``, ``pruning_curve``).

Every function is deterministic on the CPU: the same seeds give the same numbers on every machine.
"""

from __future__ import annotations

import torch

from mha.attention import MultiHeadAttention
from mha.data import IGNORE, Task
from mha.train import (
    TrainResult,
    TwoLayerAttentionModel,
    check_ids,
    check_task,
    copy_head_to_all,
    evaluate,
    model_of,
    one_thread,
    train,
)

__all__ = [
    "head_distance",
    "train_from_identical_heads",
    "compare_head_counts",
    "majority_baseline",
    "one_role_baseline",
    "ask_at",
    "head_contributions",
    "head_importance",
    "pruning_curve",
]


def _attention_of(model):
    """The MultiHeadAttention of a one-layer model (or the module itself)."""
    attn = model.attn if hasattr(model, "attn") else model
    if not isinstance(attn, MultiHeadAttention):
        raise TypeError(f"expected a TinyAttentionModel or a MultiHeadAttention, got {type(model).__name__}")
    return attn


@torch.no_grad()
def head_distance(model) -> float:
    """How far apart the heads are: the largest |difference| between any head's parameters and head 0's.

    Compares W_Q, W_K, W_V (and their biases) and each head's columns of W_O. 0.0 means every head is an exact
    copy of head 0. ``model`` is a TinyAttentionModel, a TrainResult or a MultiHeadAttention.
    """
    attn = _attention_of(model_of(model))
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
    dtype: torch.dtype = torch.float32,
) -> tuple[TrainResult, list[float]]:
    """Start every head as a copy of head 0, then train freely (nothing keeps the heads equal).

    Returns (result, distances): distances[0] is ``head_distance`` at the start (0.0) and distances[t] after
    step t, so len(distances) == steps + 1. In exact arithmetic the heads would stay copies; on a computer
    the rounding differences of the batched computation (about 1e-8 in float32, 1e-16 in float64) are where
    any difference starts. Compare ``train(..., identical_heads=True)``, which averages the heads after every
    step and so keeps them equal by force.
    """
    distances: list[float] = []
    holder = []

    def init(model):
        copy_head_to_all(model)
        holder.append(model)
        distances.append(head_distance(model))

    def record(step, loss):
        distances.append(head_distance(holder[0]))

    result = train(task, num_heads, d_model, steps, seed, lr, init=init, callback=record, dtype=dtype)
    return result, distances


def _check_int_list(name: str, values, low: int) -> list[int]:
    values = list(values) if not isinstance(values, (str, bytes)) and hasattr(values, "__iter__") else None
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values):
        raise ValueError(f"{name} must be a non-empty list of ints >= {low}, e.g. [0, 1, 2], got {values!r}")
    return values


def compare_head_counts(task: Task, test: Task, head_counts=(1, 2), seeds=range(10), **settings) -> dict:
    """Train one model per (number of heads, seed) on ``task`` and measure its accuracy on ``test``.

    head_counts: the numbers of heads to compare, at the same ``d_model`` (so the same number of parameters).
    seeds: the random starts. settings: passed on to ``train`` (d_model, steps, lr, ...).
    Returns {num_heads: [accuracy on test, one per seed in the order of ``seeds``]}. Deterministic on the CPU.
    """
    check_task(task)
    check_task(test)
    head_counts = _check_int_list("head_counts", head_counts, 1)
    seeds = _check_int_list("seeds", seeds, 0)
    for forbidden in ("num_heads", "seed", "task"):
        if forbidden in settings:
            raise TypeError(f"compare_head_counts sets {forbidden} itself; pass head_counts=... and seeds=... instead")
    return {h: [evaluate(train(task, num_heads=h, seed=seed, **settings), test) for seed in seeds] for h in head_counts}


def _asked(task: Task):
    b, q = (task.targets != IGNORE).nonzero(as_tuple=True)  # every asked (example, position)
    return b, q, task.targets[b, q]


def _check_same_vocab(train_task: Task, test_task: Task) -> None:
    check_task(train_task)
    check_task(test_task)
    if train_task.vocab != test_task.vocab or train_task.target_vocab != test_task.target_vocab:
        raise ValueError("train_task and test_task must be the same kind of task (same vocab and target_vocab)")


def majority_baseline(train_task: Task, test_task: Task) -> float:
    """The accuracy on ``test_task`` of always giving the answer most common in ``train_task`` (no looking at all)."""
    _check_same_vocab(train_task, test_task)
    _, _, answers = _asked(train_task)
    most_common = torch.bincount(answers, minlength=train_task.num_classes).argmax()
    _, _, test_answers = _asked(test_task)
    return (test_answers == most_common).float().mean().item()


def one_role_baseline(train_task: Task, test_task: Task, role: str) -> float:
    """The accuracy of a rule that looks at exactly one place: the key of ``role``, and nothing else.

    For each word that can sit at the role's key, the rule answers what ``train_task`` most often asks after
    that word (e.g. role "smallest": knowing the smallest digit, guess the most common pair with it). It is the
    best any single-look rule can do on this data, the ceiling of a head that finds one relation perfectly
    and ignores the other. Returns its accuracy on ``test_task``.
    """
    _check_same_vocab(train_task, test_task)
    if role not in train_task.roles:
        raise ValueError(f"role must be one of {list(train_task.roles)}, got {role!r}")

    def seen(task):
        b, q, answers = _asked(task)
        keys = task.roles[role][b, q]
        words = torch.where(keys >= 0, task.ids[b, keys.clamp(min=0)], task.vocab_size)  # vocab_size: no key
        return words, answers

    words, answers = seen(train_task)
    counts = torch.zeros(train_task.vocab_size + 1, train_task.num_classes, dtype=torch.long)
    counts.index_put_((words, answers), torch.ones_like(answers), accumulate=True)
    best = counts.argmax(dim=1)  # (vocab + 1,): the most common answer after each word
    test_words, test_answers = seen(test_task)
    return (best[test_words] == test_answers).float().mean().item()


def ask_at(task: Task, position: int) -> Task:
    """The same task with its question moved to ``position``: the answer and the roles are asked there instead.

    Every example must ask exactly one question (like ``mha.data.make_referent_task``, which asks at the
    adjective). ``ask_at(task, mha.data.IT_POS)`` asks "what does it refer to, and what did it not do?" at
    the word "it" itself, which in a one-layer model cannot see which adjective follows it.
    """
    check_task(task)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < task.seq_len:
        raise ValueError(f"position must be an int in 0 .. {task.seq_len - 1}, got {position!r}")
    asked = task.targets != IGNORE  # (n, T)
    if not (asked.sum(dim=1) == 1).all():
        raise ValueError("ask_at needs a task that asks exactly one question per example")
    where = asked.float().argmax(dim=1)  # (n,) the asked position
    rows = torch.arange(task.num_examples)
    targets = torch.full_like(task.targets, IGNORE)
    targets[:, position] = task.targets[rows, where]
    roles = {}
    for name, keys in task.roles.items():
        moved = torch.full_like(keys, -1)
        moved[:, position] = keys[rows, where]
        roles[name] = moved
    return Task(
        name=f"{task.name} at position {position}",
        ids=task.ids,
        targets=targets,
        vocab=task.vocab,
        target_vocab=task.target_vocab,
        roles=roles,
        sentences=task.sentences,
        description=f"{task.description} (asked at position {position})",
    )


@torch.no_grad()
def head_contributions(model, ids, layer: int = 0) -> torch.Tensor:
    """(B, h, T, d_model): what each head adds to the attention layer's output, W_O,i z_i.

    Head i's share is the layer's output with only head i switched on minus its output with every head off
    (which leaves W_O's bias). Their sum over heads plus W_O's bias is the layer's full output.
    ``layer`` picks the layer of a TwoLayerAttentionModel (0 or 1); a one-layer model has only layer 0.
    """
    model = model_of(model)
    check_ids(ids, model.max_len)
    device = next(model.parameters()).device
    ids = ids.to(device)
    if isinstance(model, TwoLayerAttentionModel):
        if layer not in (0, 1):
            raise ValueError(f"layer must be 0 or 1 for a two-layer model, got {layer!r}")
        attn, x = model.layers[layer], model.residual_inputs(ids)[layer]  # x: (B, T, d_model)
    else:
        if layer != 0:
            raise ValueError(f"a one-layer model has only layer 0, got layer={layer!r}")
        attn = _attention_of(model)
        x = model.tok_emb(ids) + model.pos_emb(torch.arange(ids.shape[1], device=device))  # (B, T, d_model)
    h = attn.num_heads
    with one_thread():
        off = attn(x, head_mask=torch.zeros(h, device=device))[0]  # (B, T, d_model): only W_O's bias
        alone = [attn(x, head_mask=torch.eye(h, device=device)[i])[0] - off for i in range(h)]
    return torch.stack(alone, dim=1).cpu()  # (B, h, T, d_model)


def _head_mask_shape(model) -> tuple[int, ...]:
    model = model_of(model)
    if isinstance(model, TwoLayerAttentionModel):
        return (2, model.num_heads)
    return (_attention_of(model).num_heads,)


def head_importance(model, task: Task) -> torch.Tensor:
    """How much accuracy on ``task`` falls when each head alone is switched off (the rest stay on).

    Returns a tensor shaped like the model's head_mask: (h,) for a one-layer model, (2, h) for a two-layer one.
    """
    shape = _head_mask_shape(model)
    full = evaluate(model, task)
    drops = torch.zeros(shape)
    for i in range(drops.numel()):
        mask = torch.ones(shape)
        mask.view(-1)[i] = 0.0
        drops.view(-1)[i] = full - evaluate(model, task, head_mask=mask)
    return drops


def pruning_curve(model, task: Task, order="importance", seed: int = 0) -> list[float]:
    """Accuracy on ``task`` as heads are switched off one by one, after Michel et al. (2019).

    order: "importance" removes the least important head first (``head_importance``, measured once on
    ``task``); "random" removes them in a random order drawn from ``seed``; or a list of head numbers
    (flattened layer by layer for a two-layer model). Returns len = number of heads + 1 accuracies:
    with 0, 1, ..., all heads removed.
    """
    shape = _head_mask_shape(model)
    total = int(torch.Size(shape).numel())
    if isinstance(order, str):
        if order == "importance":
            order = head_importance(model, task).flatten().argsort(stable=True).tolist()
        elif order == "random":
            order = torch.randperm(total, generator=torch.Generator().manual_seed(seed)).tolist()
        else:
            raise ValueError(f'order must be "importance", "random" or a list of head numbers, got {order!r}')
    order = list(order)
    if sorted(order) != list(range(total)):
        raise ValueError(f"order must name every head 0 .. {total - 1} exactly once, got {order}")
    mask = torch.ones(shape)
    curve = [evaluate(model, task)]
    for head in order:
        mask.view(-1)[head] = 0.0
        curve.append(evaluate(model, task, head_mask=mask))
    return curve


# ================================================================ the explorers' toy model (used by mha.widgets)
# One public place for how notebook 6's explorers train, and the trained models they remember.
