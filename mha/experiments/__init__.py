"""The experiments of notebooks 2, 6 and 7, run on the tiny models of ``mha.train``; one module per study.

- ``head_counts`` (notebook 2): one wide head against narrow heads over many seeds (``compare_head_counts``) and the
  baselines a critic asks for (``majority_baseline``, ``one_role_baseline``);
- ``symmetry`` (notebook 6): the roles heads take (``role_heads``, ``positional_baseline``) and heads that start as
  exact copies, pushed apart by a known amount (``push_heads_``, ``train_pushed``, ``symmetry_study``, ``first_steps``,
  ``head_distance``, ``role_spread``);
- ``two_layers`` (notebook 7): the question asked at "it" (``ask_at``), whether a row prefers the right noun
  (``prefers_right_noun``, ``resolver_scores``) against rules that use positions only (``positional_baselines``),
  each head's term of the output
  (``head_contributions``), and which heads matter (``head_importance``, ``pruning_curve``).

Every function gives the same numbers on every machine (see ``mha.train``).
"""

from mha.experiments.head_counts import compare_head_counts, majority_baseline, one_role_baseline
from mha.experiments.symmetry import (
    SymmetryStudy,
    compare_with_forced,
    first_steps,
    head_distance,
    positional_baseline,
    push_heads_,
    role_heads,
    role_spread,
    symmetry_study,
    train_from_identical_heads,
    train_pushed,
)
from mha.experiments.two_layers import (
    ask_at,
    head_contributions,
    head_importance,
    positional_baselines,
    prefers_right_noun,
    pruning_curve,
    resolver_scores,
)

__all__ = [
    "compare_head_counts",
    "majority_baseline",
    "one_role_baseline",
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
    "ask_at",
    "prefers_right_noun",
    "resolver_scores",
    "positional_baselines",
    "head_contributions",
    "head_importance",
    "pruning_curve",
    "positional_baselines",
    "prefers_right_noun",
    "resolver_scores",
]
