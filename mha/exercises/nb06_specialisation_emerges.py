"""Notebook 6, specialisation emerges: the checks of exercises 06.1 (another seed, other experts) and 06.2
(switch off one head)."""

from __future__ import annotations

from mha.exercises.engine import (
    CheckResult,
    Exercise,
    Verdict,
    compare_number_dict,
    run_check,
)

# ---------------------------------------------------------------- 06.1 and 06.2: experiments on trained models


# Results of mha.train.train on CPU (identical on every machine): see the exercises' tasks in notebook 6.
_ACCURACY_WITHOUT = {1: 0.8008, 2: 0.4277, 3: 0.7148, 4: 0.3711}  # seed-2 model of notebook 6, one head removed
_ACCURACY_ONLY = {1: 0.0684, 2: 0.2012, 3: 0.166, 4: 0.1191}  # ... with only that head kept
_EXPERTS_SEED_5 = {"reference": 2, "verb": 4}


def check_experts_seed_5(experts_seed_5) -> CheckResult:
    """Exercise 06.1: {"reference": head, "verb": head}, heads numbered 1 to 4, for the model trained with seed 5."""

    def body(answer):
        if not isinstance(answer, dict) or set(answer) != set(_EXPERTS_SEED_5):
            raise Verdict("wrong", 'answer with a dict {"reference": head, "verb": head}, heads numbered 1 to 4.')
        try:
            got = {k: int(v) for k, v in answer.items()}
        except (TypeError, ValueError):
            raise Verdict("wrong", "each head should be a whole number from 1 to 4.") from None
        if got == _EXPERTS_SEED_5:
            return "With seed 5 the resolver is head 2 and the verb went to head 4: other seed, other experts."
        if got == {k: v - 1 for k, v in _EXPERTS_SEED_5.items()}:
            raise Verdict(
                "wrong",
                "these look like positions counted from 0: number the heads from 1 to 4, "
                "as the notebook does (argmax + 1).",
            )
        if got == {"reference": _EXPERTS_SEED_5["verb"], "verb": _EXPERTS_SEED_5["reference"]}:
            raise Verdict("wrong", "the two roles are swapped: column 0 of the scores is 'reference', 1 is 'verb'.")
        raise Verdict(
            "wrong",
            "not the heads of a seed-5 run: train with seed=5 (num_heads=4, d_model=16, "
            "steps=150, lr=0.02), then take the argmax of each column of train.head_role_scores.",
        )

    return run_check("06.1", experts_seed_5, body, value=True)


def check_accuracy_without(accuracy_without) -> CheckResult:
    """Exercise 06.2: {head: accuracy on the new sentences with that head switched off}, for the seed-2 model."""

    def body(answer):
        shifted = {k - 1: v for k, v in _ACCURACY_WITHOUT.items()}
        known = [
            (
                _ACCURACY_ONLY,
                "these are the accuracies with ONLY that head kept: the head_mask must be 0 for the "
                "head you remove and 1 for the others",
            ),
            (shifted, "number the heads from 1 to 4, as the notebook does (head_mask[i - 1] = 0 removes head i)"),
        ]
        compare_number_dict(answer, _ACCURACY_WITHOUT, known, "accuracy_without")
        return "Without the verb head (4) or the resolver (2) the model falls far; heads 1 and 3 matter less."

    return run_check("06.2", accuracy_without, body, value=True)


# ---------------------------------------------------------------- the exercises of notebook 6, in order

EXERCISES = (
    Exercise(
        "06.1",
        "An experiment: another seed, other experts",
        "experts_seed_5",
        check_experts_seed_5,
        "train with seed=5, compute train.head_role_scores, and find the best head (1 to 4) for each role",
    ),
    Exercise(
        "06.2",
        "An experiment: switch off one head",
        "accuracy_without",
        check_accuracy_without,
        "for each head i, evaluate the seed-2 model with a head_mask that is 0 for head i and 1 elsewhere",
    ),
)
