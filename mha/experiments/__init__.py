"""The experiments of notebooks 2, 6 and 7, run on the tiny models of ``mha.train``; one module per study.

- ``head_counts`` (notebook 2): one wide head against narrow heads over many seeds (``compare_head_counts``) and the
  baselines a critic asks for (``majority_baseline``, ``one_role_baseline``);
- ``symmetry`` (notebook 6): heads that start as exact copies (``train_from_identical_heads``, ``head_distance``);
- ``two_layers`` (notebook 7): the question asked at "it" (``ask_at``), whether a row prefers the right noun
  (``prefers_right_noun``, ``resolver_scores``) against rules that use positions only (``positional_baselines``),
  each head's term of the output
  (``head_contributions``), and which heads matter (``head_importance``, ``pruning_curve``).

Every function gives the same numbers on every machine (see ``mha.train``).
"""

from mha.experiments.head_counts import compare_head_counts, majority_baseline, one_role_baseline
from mha.experiments.symmetry import head_distance, train_from_identical_heads
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
    "ask_at",
    "prefers_right_noun",
    "resolver_scores",
    "positional_baselines",
    "head_contributions",
    "head_importance",
    "pruning_curve",
]
