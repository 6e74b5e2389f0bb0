"""Notebook 6, specialisation emerges: the checks of exercises 06.1 (another seed, other experts) and 06.2
(switch off one head)."""

from __future__ import annotations

import torch

from mha.exercises import engine

__all__ = ["check_experts_seed_5", "check_accuracy_without"]  # the checks the notebook calls

# ---------------------------------------------------------------- 06.1 and 06.2: experiments on trained models


# The settings of the exercises' tasks in notebook 6 (its four-head model on its 256 training sentences).
SETTINGS = dict(num_heads=4, d_model=16, steps=60, lr=0.02)
SHOWN_SEED = 10  # the model the notebook shows first (the first seed of its study of seeds 10 to 19)
_MODELS: dict = {}


def _tasks():
    from mha import data

    return data.make_referent_task(256, seed=0), data.make_referent_task(512, seed=1)


def _model(seed: int):
    """Notebook 6's four-head model trained from ``seed``, trained once per session by ``mha.train.train``."""
    if seed not in _MODELS:
        from mha import train  # the experiment itself, run once: the reference is right on every PyTorch version

        _MODELS[seed] = train.train(_tasks()[0], seed=seed, **SETTINGS)
    return _MODELS[seed]


def experts_reference(seed: int = 5) -> dict:
    """{"reference": head, "verb": head} (heads 1 to 4): the best head for each role of the ``seed`` model."""
    from mha import train

    test = _tasks()[1]
    scores = train.head_role_scores(_model(seed), test)  # (heads, roles)
    return {role: int(scores[:, j].argmax()) + 1 for j, role in enumerate(test.roles)}


def accuracy_without_reference(seed: int = SHOWN_SEED, on: str = "test") -> tuple[dict, dict]:
    """({head: accuracy with that head off}, {head: accuracy with only that head on}), on the new sentences
    (``on="test"``) or on the training sentences (``on="train"``)."""
    from mha import train

    model = _model(seed)
    sentences = _tasks()[1 if on == "test" else 0]
    without, only = {}, {}
    for head in range(1, SETTINGS["num_heads"] + 1):
        mask = torch.ones(SETTINGS["num_heads"])
        mask[head - 1] = 0.0
        without[head] = train.evaluate(model, sentences, head_mask=mask)
        only[head] = train.evaluate(model, sentences, head_mask=1.0 - mask)
    return without, only


def check_experts_seed_5(experts_seed_5) -> engine.CheckResult:
    """Exercise 06.1: {"reference": head, "verb": head}, heads numbered 1 to 4, for the model trained with seed 5.

    Hint: train with seed=5, compute train.head_role_scores, and find the best head (1 to 4) for each role
    """

    if experts_seed_5 is not Ellipsis:
        experts_reference(5)  # trains the reference model once, outside the check's time limit

    def body(answer):
        expected = experts_reference(5)
        if not isinstance(answer, dict) or set(answer) != set(expected):
            raise engine.Verdict(
                "wrong", 'answer with a dict {"reference": head, "verb": head}, heads numbered 1 to 4.'
            )
        try:
            got = {k: int(v) for k, v in answer.items()}
        except (TypeError, ValueError):
            raise engine.Verdict("wrong", "each head should be a whole number from 1 to 4.") from None
        if got == expected:
            return (
                f"With seed 5 the semantic head is head {expected['reference']} and the verb went to head "
                f"{expected['verb']}: other seed, other experts."
            )
        if got == {k: v - 1 for k, v in expected.items()}:
            raise engine.Verdict(
                "wrong",
                "these look like positions counted from 0: number the heads from 1 to 4, "
                "as the notebook does (argmax + 1).",
            )
        if got == {"reference": expected["verb"], "verb": expected["reference"]}:
            raise engine.Verdict(
                "wrong", "the two roles are swapped: column 0 of the scores is 'reference', 1 is 'verb'."
            )
        raise engine.Verdict(
            "wrong",
            "not the heads of a seed-5 run: train with seed=5 ("
            + ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
            + "), then take the argmax of each column of train.head_role_scores.",
        )

    return engine.run_check("06.1", experts_seed_5, body, value=True)


def check_accuracy_without(accuracy_without) -> engine.CheckResult:
    """Exercise 06.2: {head: accuracy on the new sentences with that head switched off}, for the model the
    notebook shows (seed ``SHOWN_SEED``).

    Hint: for each head i, evaluate the model `shown` with a head_mask that is 0 for head i and 1 elsewhere
    """

    if accuracy_without is not Ellipsis:
        accuracy_without_reference()  # trains the reference model once, outside the check's time limit

    def body(answer):
        expected, only = accuracy_without_reference()
        shifted = {k - 1: v for k, v in expected.items()}
        known = [
            (
                only,
                "these are the accuracies with ONLY that head kept: the head_mask must be 0 for the "
                "head you remove and 1 for the others",
            ),
            (shifted, "number the heads from 1 to 4, as the notebook does (head_mask[i - 1] = 0 removes head i)"),
            (
                accuracy_without_reference(on="train")[0],
                "these are accuracies on the training sentences `task`: measure on the new sentences `test`",
            ),
        ]
        engine.compare_number_dict(answer, expected, known, "accuracy_without")
        order = sorted(expected, key=expected.get)  # the head whose loss costs most first
        return (
            f"Without head {order[0]} ({expected[order[0]]:.2f}) or head {order[1]} ({expected[order[1]]:.2f}) the "
            f"model falls furthest; heads {order[2]} and {order[3]} matter less. Compare with the role scores (the "
            f"reference head of one layer is the adjective's semantic head, not a resolver of 'it')."
        )

    return engine.run_check("06.2", accuracy_without, body, value=True)


# ---------------------------------------------------------------- the exercises of notebook 6, in order

EXERCISES = (
    engine.Exercise("06.1", "An experiment: another seed, other experts", "experts_seed_5", check_experts_seed_5),
    engine.Exercise("06.2", "An experiment: switch off one head", "accuracy_without", check_accuracy_without),
)
