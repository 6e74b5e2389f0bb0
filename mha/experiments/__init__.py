"""The experiments of notebooks 2, 6 and 7 on the tiny models of ``mha.models`` (trained by ``mha.train``), one module
per study.

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

from mha.experiments import head_counts, symmetry, two_layers

# Every study's public names, also as mha.experiments.<name> (the notebooks' spelling).
__all__ = [*head_counts.__all__, *symmetry.__all__, *two_layers.__all__]
for _module in (head_counts, symmetry, two_layers):
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
