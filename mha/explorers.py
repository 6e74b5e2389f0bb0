"""The explorers' back end: how they train notebook 6's toy model, and the trained models they remember.

``mha.widgets`` draws; this module only computes (no plotly, no ipywidgets), so benchmarks and tests can use it
without a screen. The head explorer's untrained heads come from ``random_heads_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mha.attention import MultiHeadAttention
from mha.data import Task, make_referent_task, sinusoidal_positions, word_vector
from mha.models import model_of
from mha.train import TrainResult, evaluate, train
from mha.validate import check_positive_int

__all__ = [
    "ExplorerSettings",
    "EXPLORER_SETTINGS",
    "explorer_task",
    "trained_model",
    "is_trained",
    "forget_trained_models",
    "head_ablation",
    "random_heads_weights",
]


@dataclass(frozen=True)
class ExplorerSettings:
    """How the explorers of ``mha.widgets`` train notebook 6's toy model.

    steps, seed, lr: passed to ``train`` (notebook 6 trains 100 steps; 60 reach the same 1.00 on new sentences
    with seed 2, in less time).
    num_examples, train_seed, test_seed: the task, ``make_referent_task(num_examples, seed=train_seed)`` to
    train on and ``seed=test_seed`` for new sentences to test on.
    """

    steps: int = 60
    seed: int = 2
    lr: float = 0.02
    num_examples: int = 512
    train_seed: int = 0
    test_seed: int = 1


EXPLORER_SETTINGS = ExplorerSettings()

_EXPLORER_TASKS: dict = {}  # "train" / "test" -> Task
_TRAINED: dict = {}  # (num_heads, d_model, steps, seed) -> TrainResult


def explorer_task(split: str = "train") -> Task:
    """Notebook 6's referent task as the explorers use it: split "train" to train on, "test" for new sentences.

    Both have ``EXPLORER_SETTINGS.num_examples`` sentences (ids (n, 11)); each is made once and then reused.
    """
    if split not in ("train", "test"):
        raise ValueError(f'split must be "train" or "test", got {split!r}')
    if split not in _EXPLORER_TASKS:
        seed = EXPLORER_SETTINGS.train_seed if split == "train" else EXPLORER_SETTINGS.test_seed
        _EXPLORER_TASKS[split] = make_referent_task(EXPLORER_SETTINGS.num_examples, seed=seed)
    return _EXPLORER_TASKS[split]


def trained_model(
    num_heads: int,
    d_model: int,
    steps: int = EXPLORER_SETTINGS.steps,
    seed: int = EXPLORER_SETTINGS.seed,
    callback=None,
) -> TrainResult:
    """The toy model of notebook 6 trained on ``explorer_task("train")`` with lr ``EXPLORER_SETTINGS.lr``.

    The first call for a (num_heads, d_model, steps, seed) trains (a few seconds; callback(step, loss) after
    every step); later calls return the same TrainResult at once, without calling callback.
    Its model maps ids (B, T <= 11) to logits (B, T, 36) and weights (B, num_heads, T, T).
    """
    key = (num_heads, d_model, steps, seed)
    if key not in _TRAINED:
        lr = EXPLORER_SETTINGS.lr
        _TRAINED[key] = train(explorer_task(), num_heads, d_model, steps=steps, seed=seed, lr=lr, callback=callback)
    return _TRAINED[key]


def is_trained(num_heads: int, d_model: int, steps: int = EXPLORER_SETTINGS.steps, seed: int = EXPLORER_SETTINGS.seed):
    """Whether ``trained_model`` already holds this setting (then it returns at once)."""
    return (num_heads, d_model, steps, seed) in _TRAINED


def forget_trained_models() -> None:
    """Drop every model ``trained_model`` remembers (the next call for a setting trains again)."""
    _TRAINED.clear()


def head_ablation(model, task: Task) -> dict[str, float]:
    """{"without head i": accuracy on ``task`` with head i alone switched off}, for i = 1 .. num_heads.

    model: a one-layer model or its TrainResult; each accuracy is ``evaluate`` with head_mask (h,) all ones
    but a zero at head i - 1.
    """
    h = model_of(model).attn.num_heads  # a one-layer model: head_mask is (h,)
    return {f"without head {i + 1}": evaluate(model, task, head_mask=1.0 - torch.eye(h)[i]) for i in range(h)}


def random_heads_weights(tokens, d_model: int, num_heads: int, seed: int = 0, gain: float = 1.5) -> torch.Tensor:
    """The attention weights (num_heads, T, T) of a randomly initialised MultiHeadAttention on made-up embeddings.

    tokens: the T words of a sentence (T >= 1); each is embedded with ``word_vector`` plus
    ``sinusoidal_positions``. W_Q, W_K, W_V are drawn with standard deviation gain / sqrt(d_model): PyTorch's
    default, smaller initialisation gives almost uniform weights at this size, and the heads' differences
    would not show. Everything is drawn from ``seed`` on the CPU; torch's global random state is left as it was.
    Each row of weights sums to 1.
    """
    if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens) or len(tokens) == 0:
        raise ValueError(f"tokens must be a non-empty list of words, such as 'it was tired'.split(), got {tokens!r}")
    check_positive_int("seed", seed, low=0)
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
        raise ValueError(f"gain must be a positive number, got {gain!r}")
    T = len(tokens)
    with torch.random.fork_rng(devices=[]):  # the seed below must not change the caller's random numbers
        torch.manual_seed(seed)
        attn = MultiHeadAttention(d_model, num_heads)  # checks d_model, num_heads and that h divides d_model
        with torch.no_grad():
            attn.qkv.weight.normal_(0.0, gain / d_model**0.5)
            attn.qkv.bias.zero_()
            x = torch.stack([word_vector(t, d_model) for t in tokens]) + sinusoidal_positions(T, d_model)  # (T, d)
            _, weights = attn(x[None])  # (1, h, T, T)
    return weights[0]
