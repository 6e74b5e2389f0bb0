"""A tiny, seeded training loop: one (or two) multi-head attention layers learn a generated task in seconds.

The experiments built on it (notebooks 2, 6 and 7: head counts over seeds, baselines, identical heads, two layers,
pruning) are in ``mha.experiments``.

The models (``mha.models``) are the smallest things that need attention: token + position embeddings, one or two
``mha.MultiHeadAttention`` layers (every word sees the whole sentence, or its real words where the task is
padded), and a linear readout.

Training gives the same weights on every machine: float64, seeded starting weights drawn the same way on every
processor, and weights rounded to a fixed grid after every step (see GRID below). ``train_many`` trains many
seeds at once, with the same result per seed as ``train``. Training runs on the CPU by default (these models are
so small that the CPU is faster than a GPU); pass ``device="cuda"`` (or ``mha.get_device()``) to train elsewhere.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, vmap

from mha.data import IGNORE, Task
from mha.models import TinyAttentionModel, TwoLayerAttentionModel, copy_head_to_all, model_of
from mha.validate import check_positive_int, check_probability

__all__ = [
    "TrainResult",
    "one_thread",
    "GRID",
    "snap_to_grid_",
    "init_weights_",
    "train",
    "train_many",
    "evaluate",
    "attention_weights",
    "head_role_scores",
    "check_task",
]


@dataclass
class TrainResult:
    """What ``train`` returns: the trained model (on the CPU) and its per-step losses and accuracies."""

    model: TinyAttentionModel
    losses: list[float]
    accuracies: list[float]
    seed: int
    num_heads: int
    d_model: int
    steps: int
    lr: float
    config: dict = field(default_factory=dict)
    test_curve: list = field(default_factory=list)  # [(step, accuracy on the test task)], when one was given

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    @property
    def final_accuracy(self) -> float:
        return self.accuracies[-1]

    def __repr__(self) -> str:
        return (
            f"TrainResult(num_heads={self.num_heads}, d_model={self.d_model}, steps={self.steps}, seed={self.seed}, "
            f"loss={self.final_loss:.3f}, accuracy={self.final_accuracy:.3f})"
        )


def check_task(task) -> None:
    if not isinstance(task, Task):
        raise TypeError(f"task must be an mha.data.Task (e.g. mha.data.make_referent_task(512)), got {type(task)}")


def _accuracy(logits, targets) -> float:
    """The fraction of asked positions (targets != IGNORE) whose highest logit is the target.

    logits (n, T, num_classes), targets (n, T). Only the asked rows go through argmax (1 in 11 in the referent
    task): the same number as taking the argmax everywhere, cheaper at every training step.
    """
    asked = targets != IGNORE  # (n, T)
    return (logits[asked].argmax(-1) == targets[asked]).double().mean().item()


# ---------------------------------------------------------------- the same numbers on every machine
#
# Processors add in different orders (AVX-512, AVX2 or plain kernels, another BLAS, more threads), so two machines
# compute the same gradient to within about 1e-16 in float64, but rarely to the last bit. Training amplifies such
# differences (a model unsure between two solutions can go either way), so trained numbers would differ between
# machines. Two measures remove that without changing what is learned: the weights start from uniform random
# numbers, which every processor draws identically, and after every step each weight is rounded to a fixed grid
# of GRID = 2**-20 (about 1e-6, far below the learning rate's steps of about 1e-2). A difference of 1e-16 almost
# never crosses a grid line, so every machine rounds to the same weights and the next step starts from identical
# numbers again.

GRID = 2.0**-20


@torch.no_grad()
def snap_to_grid_(tensor: torch.Tensor) -> torch.Tensor:
    """Round ``tensor`` in place to the nearest multiple of GRID (exact in float64: GRID is a power of two)."""
    return tensor.copy_(torch.round(tensor / GRID) * GRID)


@torch.no_grad()
def init_weights_(model: nn.Module, seed: int) -> nn.Module:
    """Give every parameter of ``model`` its seeded starting value, identical on every machine; returns model.

    The distributions are PyTorch's defaults: embeddings N(0, 1) (from two uniform draws, Box-Muller) and
    linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). They come from uniform numbers of a seeded
    CPU generator in float64 (PyTorch's own normal sampler is vectorised differently on different processors)
    and are rounded to GRID.
    """
    generator = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        owner = model.get_submodule(name.rpartition(".")[0])
        u = torch.rand(p.shape, generator=generator, dtype=torch.float64)
        if isinstance(owner, nn.Embedding):
            u2 = torch.rand(p.shape, generator=generator, dtype=torch.float64)
            value = torch.sqrt(-2.0 * torch.log1p(-u)) * torch.cos(2.0 * math.pi * u2)  # N(0, 1)
        elif isinstance(owner, nn.Linear):
            value = (2.0 * u - 1.0) / math.sqrt(owner.in_features)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        else:
            raise TypeError(f"init_weights_ knows embeddings and linear layers, not {type(owner).__name__} ({name})")
        p.copy_(snap_to_grid_(value))
    return model


def _check_train_args(task, num_heads, d_model, steps, lr, callback, identical_heads, num_layers, dropout) -> None:
    check_task(task)
    if num_layers not in (1, 2):
        raise ValueError(f"num_layers must be 1 (TinyAttentionModel) or 2 (TwoLayerAttentionModel), got {num_layers!r}")
    if identical_heads and num_layers != 1:
        raise ValueError("identical_heads=True needs num_layers=1 (it copies the heads of the one attention layer)")
    if check_probability("dropout", dropout) and num_layers != 1:
        raise ValueError(f"dropout needs num_layers=1 (TinyAttentionModel), got dropout={dropout} with num_layers=2")
    check_positive_int("num_heads", num_heads)
    check_positive_int("d_model", d_model)
    check_positive_int("steps", steps)
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, loss), got {type(callback).__name__}")


def train(
    task: Task, num_heads: int, d_model: int = 16, steps: int = 150, seed: int = 0, lr: float = 0.02, **options
) -> TrainResult:
    """Train a fresh TinyAttentionModel on all of ``task`` (full batch, Adam), seeded and reproducible.

    The same arguments give the same weights, losses and accuracies on every machine (float64, and weights
    rounded to GRID after every step: see ``snap_to_grid_``), and the same as ``train_many`` for this seed.
    options: those of ``train_many`` (device, callback, init, identical_heads, num_layers, dropout, test,
    test_every, frozen), except that callback(step, loss) gets this model's loss after every step.
    Returns a TrainResult whose model is back on the CPU, in eval mode.
    """
    callback = options.pop("callback", None)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, loss), got {type(callback).__name__}")
    each_step = None if callback is None else (lambda step, losses: callback(step, losses[0]))
    (result,) = train_many(task, num_heads, [seed], d_model, steps, lr, callback=each_step, **options)
    return result


def train_many(
    task: Task,
    num_heads: int,
    seeds=range(10),
    d_model: int = 16,
    steps: int = 150,
    lr: float = 0.02,
    device="cpu",
    callback=None,
    init=None,
    identical_heads: bool = False,
    num_layers: int = 1,
    test: Task | None = None,
    test_every: int = 10,
    watch=None,
    frozen=(),
    dropout: float = 0.0,
) -> list[TrainResult]:
    """``train`` for many seeds at once: [train(task, num_heads, seed=s, ...) for s in seeds], computed together.

    device: where to train ("cpu", the default and the fastest for models this small, "cuda", mha.get_device()).
    init(model) is called once on each freshly initialised model before training (e.g. ``copy_head_to_all``).
    identical_heads=True starts every head as a copy of head 0 and, after every step, averages the heads
    again: they stay copies by force (the control of notebook 6's symmetry experiment).
    num_layers=2 trains TwoLayerAttentionModels instead (two attention layers with residual connections).
    test: a Task of new examples; its accuracy is measured every ``test_every`` steps (``result.test_curve``).
    frozen: names of parameters (or of modules, e.g. ``"attn.out_proj"``) kept at their starting values: the
    control "what if this part never learned?" (e.g. a W_O frozen at its random start).
    dropout: the attention layer's dropout during training (one-layer models); its random numbers come from the
    seed (a generator of their own, uniform numbers drawn on the CPU: the same on every machine).
    A padded task (``task.lengths``, e.g. ``mha.data.make_padded_two_relation_task``) is trained with its padding
    mask: no position attends to padding.

    The models are stacked along a new first dimension and trained as one batch (torch.func.vmap): each model
    keeps its own weights, loss and Adam state (Adam works weight by weight), so every result equals the one
    ``train`` gives for its seed (tests/unit/test_train.py checks it), in less time. callback(step, losses) gets
    one loss per seed. watch(step, models) is called after every step with the S models holding their weights
    of that moment (for experiments that follow the weights as they train).
    """
    _check_train_args(task, num_heads, d_model, steps, lr, callback, identical_heads, num_layers, dropout)
    seeds = list(seeds) if not isinstance(seeds, (str, bytes)) and hasattr(seeds, "__iter__") else seeds
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, e.g. [0, 1, 2], got {seeds!r}")
    if test is not None:
        check_task(test)
    check_positive_int("test_every", test_every)
    options = {"dropout": dropout} if num_layers == 1 else {}
    model_class = TinyAttentionModel if num_layers == 1 else TwoLayerAttentionModel
    models = []
    for seed in seeds:
        model = model_class(task.vocab_size, d_model, num_heads, task.seq_len, num_classes=task.num_classes, **options)
        init_weights_(model.to(torch.float64), seed)
        if init is not None:
            init(model)
        if identical_heads:
            copy_head_to_all(model)
        for p in model.parameters():
            snap_to_grid_(p)
        models.append(model.to(device))
    names = [name for name, _ in models[0].named_parameters()]
    frozen = _frozen_names(names, frozen)
    stacked = {  # name -> (S, *shape): the S models' weights, trained together
        name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_(
            name not in frozen
        )
        for name in names
    }
    optimizer = torch.optim.Adam([p for name, p in stacked.items() if name not in frozen], lr=lr)
    # dropout's uniform numbers: one CPU generator per seed, apart from the starting weights' stream
    noise_generators = [torch.Generator().manual_seed(2**32 + seed) for seed in seeds] if dropout else None
    shape = (task.num_examples, num_heads, task.seq_len, task.seq_len)  # one model's weights (n, h, T, T)
    history = {"loss": [], "accuracy": [], "test": []}
    # One thread: a second one gains at most 1.8 times on an idle 2-core machine, but where another process (a second
    # notebook, the grader's kernels) shares the cores, two threads each wait for the other and run many times slower.
    with one_thread():
        for step in range(steps):
            noise = None
            if noise_generators:  # (S, n, h, T, T)
                noise = torch.stack([torch.rand(shape, generator=g, dtype=torch.float64) for g in noise_generators])
            logits, answers = _stacked_logits(models[0], stacked, task, device, noise)  # (S, m, classes), (m,)
            log_p = torch.log_softmax(logits, dim=-1)
            losses = -log_p.gather(-1, answers.expand(len(seeds), -1)[..., None]).squeeze(-1).mean(-1)  # (S,)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # each model's gradient is that of its own loss
            optimizer.step()
            with torch.no_grad():
                if identical_heads:
                    _average_heads(stacked, num_heads, d_model)
                for p in stacked.values():
                    snap_to_grid_(p)
                history["loss"].append(losses.tolist())
                history["accuracy"].append((logits.argmax(-1) == answers).double().mean(-1).tolist())
                if test is not None and (step + 1) % test_every == 0:
                    models[0].eval()  # no dropout when measuring
                    test_logits, test_answers = _stacked_logits(models[0], stacked, test, device)
                    models[0].train()
                    history["test"].append((step + 1, (test_logits.argmax(-1) == test_answers).double().mean(-1)))
            if callback is not None:
                callback(step, history["loss"][-1])
            if watch is not None:
                _copy_weights(stacked, models)
                watch(step, models)
    _copy_weights(stacked, models)
    results = []
    for i, (seed, model) in enumerate(zip(seeds, models)):
        model.cpu().eval()
        config = dict(task=task.name, n=task.num_examples, num_layers=num_layers, identical_heads=identical_heads)
        config.update(frozen=sorted(frozen), dropout=dropout)
        result = TrainResult(
            model, [row[i] for row in history["loss"]], [row[i] for row in history["accuracy"]], seed, num_heads,
            d_model, steps, lr, config,
        )  # fmt: skip
        result.test_curve = [(at, accuracy[i].item()) for at, accuracy in history["test"]]
        results.append(result)
    return results


def _frozen_names(names: list[str], frozen) -> set[str]:
    """The parameter names that ``frozen`` (names of parameters or of the modules holding them) picks."""
    frozen = [frozen] if isinstance(frozen, str) else list(frozen)
    picked = set()
    for prefix in frozen:
        matches = [n for n in names if n == prefix or n.startswith(prefix + ".")]
        if not matches:
            raise ValueError(f"frozen names no parameter: {prefix!r}; the model has {names}")
        picked.update(matches)
    return picked


@torch.no_grad()
def _copy_weights(stacked: dict, models: list) -> None:
    """Give model i the weights stacked[name][i] of every parameter."""
    for i, model in enumerate(models):
        for name, p in model.named_parameters():
            p.copy_(stacked[name][i])


def _stacked_logits(model, stacked: dict, task: Task, device, noise=None):
    """Logits of S stacked models at the asked positions of ``task``: (S, m, num_classes), and the answers (m,).

    ``model`` supplies the architecture (torch.func.functional_call runs it with each model's weights).
    noise: None, or each model's dropout numbers (S, n, h, T, T).
    """
    asked = (task.targets != IGNORE).to(device)  # (n, T)
    padding = None if task.padding_mask is None else task.padding_mask.to(device)  # (n, T)

    def one_model(weights, ids, *noise):  # (m, num_classes)
        options = {"padding_mask": padding} if padding is not None else {}
        if noise:
            options["dropout_noise"] = noise[0]
        return functional_call(model, weights, (ids,), options)[0][asked]

    ids = task.ids.to(device)
    if noise is None:
        logits = vmap(one_model, in_dims=(0, None))(stacked, ids)  # (S, m, num_classes)
    else:
        logits = vmap(one_model, in_dims=(0, None, 0))(stacked, ids, noise.to(device))
    return logits, task.targets.to(device)[asked]


@contextmanager
def one_thread():
    """Run the block on one CPU thread (then restore the count): for these tiny models one thread is fastest,
    many times so on a busy machine, and it sums in a fixed order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def evaluate(model, task: Task, head_mask=None) -> float:
    """The fraction of asked positions (targets != IGNORE) the model answers right; head_mask (h,) removes heads."""
    model = model_of(model)
    check_task(task)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    padding = {} if task.padding_mask is None else {"padding_mask": task.padding_mask.to(device)}
    with one_thread():
        logits, _ = model(task.ids.to(device), head_mask=head_mask, **padding)
    model.train(was_training)
    return _accuracy(logits, task.targets.to(device))


@torch.no_grad()
def attention_weights(model, ids, padding_mask=None) -> torch.Tensor:
    """The model's attention weights (B, num_heads, T, T) for ids (B, T), on the CPU; padding_mask (B, T) or None."""
    model = model_of(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    padding = {} if padding_mask is None else {"padding_mask": padding_mask.to(device)}
    with one_thread():
        _, weights = model(ids.to(device), **padding)
    model.train(was_training)
    return weights.cpu()


@torch.no_grad()
def head_role_scores(model, task: Task, layer: int | None = None) -> torch.Tensor:
    """(num_heads, num_roles): for each head and role, the mean attention the query puts on the role's key.

    Role r of ``task.roles`` links some query positions to a key position; a head's score for r is the
    weight it gives that key, averaged over every example and query where the role applies. 1 means the
    head always looks exactly there; 1/T is what looking everywhere equally would give. Columns follow
    ``list(task.roles)``. For a TwoLayerAttentionModel, ``layer`` (0 or 1) says which layer's heads to score.
    """
    model = model_of(model)
    check_task(task)
    weights = _layer_weights(attention_weights(model, task.ids, task.padding_mask), layer)  # (n, h, T, T)
    scores = []
    for keys in task.roles.values():  # (n, T), -1 where the role does not apply
        b, q = (keys >= 0).nonzero(as_tuple=True)
        on_key = weights[b, :, q, keys[b, q]]  # (#queries, h)
        scores.append(on_key.mean(0))
    return torch.stack(scores, dim=1)  # (h, roles)


def _layer_weights(weights, layer):
    """(n, h, T, T) from a one-layer model's weights, or layer ``layer`` of a two-layer model's (n, L, h, T, T)."""
    if weights.dim() == 4:
        if layer not in (None, 0):
            raise ValueError(f"a one-layer model has only layer 0, got layer={layer!r}")
        return weights
    if layer is None or not isinstance(layer, int) or not 0 <= layer < weights.shape[1]:
        raise ValueError(
            f"this model has {weights.shape[1]} layers: pass layer=0 .. {weights.shape[1] - 1}, got {layer!r}"
        )
    return weights[:, layer]


@torch.no_grad()
def _average_heads(stacked: dict, num_heads: int, d_model: int) -> None:
    """Replace every head's W_Q, W_K, W_V, biases and W_O columns by their mean over heads, in S stacked models.

    stacked: {parameter name: (S, *shape)} of one-layer models (``train_many``'s weights).
    """
    h, d_k = num_heads, d_model // num_heads
    parts = {
        "attn.qkv.weight": (3, h, d_k, d_model),  # [Q, K, V] x heads
        "attn.qkv.bias": (3, h, d_k),
        "attn.out_proj.weight": (d_model, h, d_k),  # columns of W_O, head by head
    }
    for name, shape in parts.items():
        if name in stacked:
            w = stacked[name].view(-1, *shape)  # (S, ...): the head axis is 2 in each
            w.copy_(w.mean(dim=2, keepdim=True).expand_as(w))
