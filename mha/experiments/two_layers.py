"""Notebook 7's experiments on the two-layer model: the question asked at "it", each head's term of the output,
and which heads matter (importance and pruning, after Michel et al. 2019)."""

from __future__ import annotations

import torch

from mha.data import IGNORE, Task
from mha.models import TwoLayerAttentionModel, attention_of, check_ids, model_of
from mha.train import attention_weights, check_task, evaluate, one_thread

__all__ = [
    "ask_at",
    "prefers_right_noun",
    "resolver_scores",
    "positional_baselines",
    "head_contributions",
    "head_importance",
    "pruning_curve",
]


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


def _asked(task: Task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a task that asks one question per sentence with roles "reference" and "other noun" (such as
    ``mha.data.make_moving_referent_task``): the asked position, the right noun's and the wrong noun's, each (n,)."""
    check_task(task)
    if not {"reference", "other noun"} <= set(task.roles):
        raise ValueError(f'the task needs the roles "reference" and "other noun", it has {list(task.roles)}')
    asked = task.targets != IGNORE  # (n, T)
    if not (asked.sum(dim=1) == 1).all():
        raise ValueError("the task must ask exactly one question per sentence")
    where = asked.float().argmax(dim=1)  # (n,)
    rows = torch.arange(task.num_examples)
    return where, task.roles["reference"][rows, where], task.roles["other noun"][rows, where]


def prefers_right_noun(model, task: Task, layer: int | None = None) -> torch.Tensor:
    """(n, h) bools: in each sentence and head, does the asking row put more weight on the right noun than on the
    wrong one?

    ``layer``: which layer's heads (default: the last layer, 1 for a two-layer model, 0 for a one-layer model).
    A tie (for example two weights of 0) counts as False.
    """
    where, right, wrong = _asked(task)
    weights = attention_weights(model, task.ids)  # (n, h, T, T) or (n, 2, h, T, T)
    if weights.dim() == 5:
        weights = weights[:, 1 if layer is None else layer]
    elif layer not in (None, 0):
        raise ValueError(f"a one-layer model has only layer 0, got layer={layer!r}")
    rows = torch.arange(task.num_examples)
    asking = weights[rows, :, where]  # (n, h, T): the asking row of every head
    return asking[rows, :, right] > asking[rows, :, wrong]  # (n, h)


def resolver_scores(model, task: Task, layer: int | None = None) -> torch.Tensor:
    """(h,): for each head, the fraction of the sentences in which its asking row weighs the right noun above the
    wrong one (``prefers_right_noun``). 0.5 is a coin flip between the two nouns."""
    return prefers_right_noun(model, task, layer).double().mean(dim=0)


def positional_baselines(task: Task) -> dict[str, float]:
    """What rules that look only at positions score, in ``resolver_scores``' measure (right noun above wrong one).

    - "the same position every time": the best single position k (the fraction of sentences whose right noun is at k);
    - "the first noun": always the noun that comes first;
    - "a position chosen by the adjective": for each adjective word, its best position (the shortcut a head can
      learn when nouns stand still).
    """
    where, right, wrong = _asked(task)
    adjective = task.ids[
        torch.arange(task.num_examples), task.roles["adjective"][torch.arange(task.num_examples), where]
    ]
    same = max(float((right == k).double().mean()) for k in range(task.seq_len))
    by_adjective = 0
    for word in adjective.unique():
        picked = right[adjective == word]
        by_adjective += max(int((picked == k).sum()) for k in range(task.seq_len))
    return {
        "the same position every time": same,
        "the first noun": float((right < wrong).double().mean()),
        "a position chosen by the adjective": by_adjective / task.num_examples,
    }


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
        attn = attention_of(model)
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
    return (attention_of(model).num_heads,)


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
