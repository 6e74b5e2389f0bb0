"""Notebook 2, one head is not enough: the checks of exercises 02.1 (how much each head looks at the right
place), 02.2 (an experiment with 1, 2 and 4 heads) and 02.3 (a seed study: mean ± sd and the count above a
baseline)."""

from __future__ import annotations

import torch

from mha.exercises import engine

__all__ = ["check_role_score", "check_accuracy_by_heads", "check_seed_summary"]  # the checks the notebook calls

# ---------------------------------------------------------------- 02.1 how much does each head look at the right place?


def _role_mistakes(weights, keys):
    b, q = (keys >= 0).nonzero(as_tuple=True)
    every_b, every_q = torch.meshgrid(torch.arange(keys.shape[0]), torch.arange(keys.shape[1]), indexing="ij")
    every_b, every_q = every_b.flatten(), every_q.flatten()
    on_key = weights[b, :, q, keys[b, q]]  # (pairs, h)
    return [
        (
            "you read row `key`, column `query`: in weights (n, h, T, T) axis 2 is the query that looks and axis 3 "
            "the key it looks at, so read weights[b, :, q, key]",
            lambda: weights[b, :, keys[b, q], q].mean(0),
        ),
        (
            "the queries where the role does not apply (keys == -1) were counted too: keep only keys >= 0",
            lambda: weights[every_b, :, every_q, keys[every_b, every_q]].mean(0),
        ),
        (
            "you divided by every position, not by the number of queries where the role applies",
            lambda: on_key.sum(0) / keys.numel(),
        ),
        ("one score per head: average over the examples and queries, not over the heads", lambda: on_key.mean()),
        ("one score per head: average over the examples and queries too", lambda: on_key),
    ]


def check_role_score(role_score) -> engine.CheckResult:
    """Exercise 02.1: role_score(weights, keys) -> (h,) the mean weight each head puts on the role's key.

    weights: (n, h, T, T) attention weights; keys: (n, T) long, the key position the role links each query to,
    -1 where the role does not apply. The same as one column of mha.train.head_role_scores.

    Hint: keep the (example, query) pairs where keys >= 0, read weights[b, :, q, keys[b, q]], average them
    """

    def body(fn):
        g = engine.generator(201)
        for n, h, T in [(6, 2, 5), (4, 3, 7), (9, 1, 4)]:
            weights = torch.softmax(engine.randn(g, n, h, T, T) * 2, dim=-1)
            keys = torch.randint(-1, T, (n, T), generator=g)
            keys[0, 0] = 1  # the role applies at least once
            b, q = (keys >= 0).nonzero(as_tuple=True)
            expected = weights[b, :, q, keys[b, q]].mean(0)  # (h,)
            got = engine.to_tensor(engine.call(fn, weights.clone(), keys.clone()), "role_score(weights, keys)")
            if not engine.close(got, expected):
                where = f"weights of shape {(n, h, T, T)}"
                engine.diagnose(got, expected, _role_mistakes(weights, keys), where, "role_score(weights, keys)")
        return "One number per head: how much of its attention lands where the role says."

    return engine.run_check("02.1", role_score, body)


# ---------------------------------------------------------------- 02.2 an experiment: more heads


# The settings of the exercise's task in notebook 2: the seed-0 runs, accuracies on the new sequences.
ACCURACY_BY_HEADS_SETTINGS = dict(head_counts=(1, 2, 4), seeds=(0,), d_model=16, steps=100, lr=0.01)
_REFERENCE: dict = {}


def accuracy_by_heads_reference() -> tuple[dict, dict]:
    """({h: accuracy on the new sequences}, {h: accuracy on the training sequences}) of the exercise's runs.

    Computed once per session by the procedure the notebook uses (``mha.train.train`` and ``evaluate`` on
    notebook 2's task), so the reference is right on every PyTorch version and machine.
    """
    if not _REFERENCE:
        from mha import data, train  # the experiment itself, run once

        task, test = data.make_two_relation_task(256, seed=0), data.make_two_relation_task(512, seed=1)
        settings = dict(ACCURACY_BY_HEADS_SETTINGS)
        head_counts, (seed,) = settings.pop("head_counts"), settings.pop("seeds")
        runs = {h: train.train(task, num_heads=h, seed=seed, **settings) for h in head_counts}
        _REFERENCE["test"] = {h: train.evaluate(run, test) for h, run in runs.items()}
        _REFERENCE["train"] = {h: train.evaluate(run, task) for h, run in runs.items()}
    return _REFERENCE["test"], _REFERENCE["train"]


def check_accuracy_by_heads(accuracy_by_heads) -> engine.CheckResult:
    """Exercise 02.2: {num_heads: accuracy on the new sequences} for 1, 2 and 4 heads (d_model = 16, seed 0).

    Hint: train with num_heads = 4 as above, and put train.evaluate(model, test) of the 1, 2 and 4 heads in a dict
    """

    if accuracy_by_heads is not Ellipsis:
        accuracy_by_heads_reference()  # trains the reference models once, outside the check's time limit

    def body(answer):
        expected, on_training = accuracy_by_heads_reference()
        known = [
            (
                on_training,
                "these are the accuracies on the training sequences: measure on the new "
                "ones, train.evaluate(result, test)",
            ),
        ]
        engine.compare_number_dict(answer, expected, known, "accuracy_by_heads")
        one, two, four = (expected[h] for h in (1, 2, 4))
        return (
            f"Two heads ({two:.2f}) against one ({one:.2f}) and four ({four:.2f}), with seed 0. One seed only, "
            f"though: try seeds 1 and 2 before you trust what four heads do."
        )

    return engine.run_check("02.2", accuracy_by_heads, body, value=True)


# ---------------------------------------------------------------- 02.3 a seed study


def _summary(values, baseline, *, ddof=1, ties=False, centre="mean", fraction=False):
    a = torch.as_tensor(values, dtype=torch.float64)
    mean = a.median().item() if centre == "median" else a.mean().item()
    above = int((a >= baseline).sum()) if ties else int((a > baseline).sum())
    return mean, a.std(correction=ddof).item(), above / len(a) if fraction else above


def _as_triple(got):
    try:
        mean, sd, above = got
        return float(mean), float(sd), float(above)
    except (TypeError, ValueError):
        raise engine.Verdict(
            "wrong", f"seed_summary should return three numbers (mean, sd, above), got {type(got).__name__} {got!r}"
        ) from None


def check_seed_summary(seed_summary) -> engine.CheckResult:
    """Exercise 02.3: seed_summary(accuracies, baseline) -> (mean, sd, above) of one model's accuracies over seeds.

    sd: the sample standard deviation (divide by n - 1); above: how many seeds are strictly above the baseline.

    Hint: mean with .mean(), the sample sd with .std(), and count the seeds strictly above the baseline
    """

    def body(fn):
        g = engine.generator(203)
        cases = []
        for n in (5, 12, 20):
            accs = (torch.rand(n, generator=g, dtype=torch.float64) * 40).round() / 40  # multiples of 0.025
            baseline = accs[1].item()  # one seed sits exactly on the baseline: a tie
            cases.append((accs, baseline))
        mistakes = [
            ("the sd divides by n (the population sd): over seeds, use the sample sd, which divides by n - 1 "
             "(torch's .std() does)", dict(ddof=0)),
            ("a seed exactly on the baseline was counted as above: a tie is not a win, count with >", dict(ties=True)),
            ("that is the median, not the mean", dict(centre="median")),
            ("`above` should be a count of seeds, not a fraction", dict(fraction=True)),
        ]  # fmt: skip
        for accs, baseline in cases:
            got = _as_triple(engine.call(fn, accs.tolist(), baseline))
            expected = _summary(accs, baseline)
            if all(abs(x - y) <= 1e-6 for x, y in zip(got, expected)):
                continue
            where = f"{len(accs)} seeds, baseline {baseline:.3f}"
            for message, how in mistakes:
                wrong = _summary(accs, baseline, **how)
                if sum(abs(x - y) <= 1e-6 for x, y in zip(got, wrong)) == 3:
                    raise engine.Verdict("wrong", f"{message} ({where}).")
            names = ("mean", "sd", "above")
            off = [name for name, x, y in zip(names, got, expected) if abs(x - y) > 1e-6]
            raise engine.Verdict(
                "wrong", f"{', '.join(off)} not as expected ({where}): expected {expected}, got {got}."
            )
        return "Mean, sample sd and a strict count: the three numbers a seed study reports for each model."

    return engine.run_check("02.3", seed_summary, body)


# ---------------------------------------------------------------- the exercises of notebook 2, in order

EXERCISES = (
    engine.Exercise(
        "02.1", "How much does each head look at the right place?", "role_score", check_role_score, points=2
    ),
    engine.Exercise("02.2", "An experiment: more heads", "accuracy_by_heads", check_accuracy_by_heads),
    engine.Exercise("02.3", "A seed study: mean, spread and a count", "seed_summary", check_seed_summary),
)
