"""Notebook 2's study: one wide head against narrow heads over many seeds, and the baselines a critic asks for."""

from __future__ import annotations

import torch

from mha.data import IGNORE, Task
from mha.train import check_task, evaluate, train_many

__all__ = [
    "compare_head_counts",
    "majority_baseline",
    "one_role_baseline",
    "seed_curves",
    "summarise_seeds",
    "count_ahead",
    "uniform_attention_rule",
]


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
    return {h: [evaluate(run, test) for run in train_many(task, h, seeds, **settings)] for h in head_counts}


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


# ---------------------------------------------------------------- statistics over seeds


def seed_curves(runs) -> tuple[list[int], torch.Tensor]:
    """(steps, accuracies (S, K)): the ``test_curve`` of S runs (``train_many(..., test=...)``), one row per seed."""
    runs = list(runs)
    if not runs or any(not getattr(run, "test_curve", None) for run in runs):
        raise ValueError("runs must be a non-empty list of results trained with test=... (they carry a test_curve)")
    steps = [step for step, _ in runs[0].test_curve]
    if any([step for step, _ in run.test_curve] != steps for run in runs):
        raise ValueError("every run must have measured the test accuracy at the same steps")
    return steps, torch.tensor([[acc for _, acc in run.test_curve] for run in runs], dtype=torch.float64)


def summarise_seeds(accuracies, baseline: float) -> dict:
    """What a study reports about one model over seeds: n, mean, sd, median, and how many seeds beat ``baseline``.

    accuracies: one number per seed. sd is the sample standard deviation (divides by n - 1); "above" counts the
    seeds strictly above the baseline, "ties" those exactly on it. Returns {"n", "mean", "sd", "median",
    "above", "ties"}.
    """
    a = torch.as_tensor(accuracies, dtype=torch.float64).flatten()
    if a.numel() < 2:
        raise ValueError(f"a study needs at least 2 seeds to measure a spread, got {a.numel()}")
    return dict(
        n=a.numel(), mean=a.mean().item(), sd=a.std().item(), median=a.median().item(),
        above=int((a > baseline).sum()), ties=int((a == baseline).sum()),
    )  # fmt: skip


def count_ahead(first, second) -> dict:
    """Seed by seed, how often ``first`` beats ``second``: {"ahead", "ties", "behind", "n"} (a tie is not a win)."""
    a = torch.as_tensor(first, dtype=torch.float64).flatten()
    b = torch.as_tensor(second, dtype=torch.float64).flatten()
    if a.shape != b.shape or a.numel() == 0:
        raise ValueError(f"first and second need one number per seed each, got {a.numel()} and {b.numel()}")
    return dict(ahead=int((a > b).sum()), ties=int((a == b).sum()), behind=int((a < b).sum()), n=a.numel())


def uniform_attention_rule(task: Task) -> float:
    """The accuracy of a single head that looks everywhere equally, with a hand-made linear readout.

    Uniform attention gives every position the mean of the value vectors of the sequence. If each digit's value
    is its own direction (10 digits fit in d_model = 16), that mean says which digits are present: a "bag of
    digits". A linear readout can then score the pair (a, b) as: +1 if a is present, +1 if b is present, -3 for
    every present digit above a or below b. Only the true (largest, smallest) pair scores 2 with no penalty, so
    this head answers every sequence of ``make_two_relation_task`` right: one head *can* do the task.
    """
    check_task(task)
    if list(task.roles) != ["largest", "smallest"]:
        raise ValueError("uniform_attention_rule is made for make_two_relation_task (roles largest and smallest)")
    v = task.vocab_size
    bag = torch.nn.functional.one_hot(task.ids, v).double().mean(dim=1)  # (n, v): what uniform attention fetches
    a, b, digit = torch.arange(v)[:, None, None], torch.arange(v)[None, :, None], torch.arange(v)
    weights = (digit == a).double() + (digit == b).double() - 3.0 * ((digit > a) | (digit < b)).double()  # (v, v, v)
    scores = bag @ weights.reshape(v * v, v).T  # (n, v * v): one score per pair "a,b", id a * v + b
    b_idx, _, answers = _asked(task)
    return (scores[b_idx].argmax(-1) == answers).double().mean().item()
