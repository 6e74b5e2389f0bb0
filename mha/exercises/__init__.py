"""Checks for the exercises at the end of each notebook.

A learner writes a function (or sets a value) in one cell and calls its check in the next:

    def split_heads(x, num_heads):
        ...

    mha.exercises.check_split_heads(split_heads);

A check runs the learner's function on fresh random inputs of several shapes, compares the result with the
package (``mha.attention``) and prints one short line. When the answer is wrong it names the likely mistake
(a reshape without transpose, a missing sqrt(d_k), softmax over the wrong axis, ...), not just "wrong".

Every check returns a ``CheckResult`` (exercise, passed, points, max_points, status, feedback). It never raises
because of the learner's code and never hangs: an exception is reported with its type and message, a function
still raising ``NotImplementedError`` (or a value still ``...``) is "not done yet", and a function that runs for
more than ``TIME_LIMIT`` seconds is stopped.

The package reads like the course:

- ``engine``: what every check shares (running the learner's code safely, comparing, naming known mistakes,
  reporting, the registry of exercises, and ``final_check``, which the grader runs after a whole notebook);
- one module per notebook, in the course's order (``nb01_one_head``, ..., ``nb08_whats_next``), each holding that
  notebook's checks, the known mistakes they recognise, and its ``EXERCISES``: the records of its exercises, each
  pointing at its check.

Adding a notebook's exercises: write ``nbNN_<name>.py`` like the others (its checks call
``run_check("NN.k", ...)`` and it ends with ``EXERCISES = (Exercise(...), ...)``), add the module to
``NOTEBOOK_MODULES`` below, and re-export its checks here so that the notebook can call
``mha.exercises.check_...``.

This package imports only ``mha.attention``, torch and numpy (no plotly, no ipywidgets).
"""

from __future__ import annotations

from mha.exercises import (
    nb01_one_head,
    nb02_one_head_is_not_enough,
    nb03_panel_of_experts,
    nb04_heads_in_parallel,
    nb05_concat_and_project,
    nb06_specialisation_emerges,
    nb07_build_the_module,
    nb08_whats_next,
)
from mha.exercises.engine import (
    EXERCISES,
    RESULTS_ENV,
    TIME_LIMIT,
    CheckResult,
    CheckTimeout,
    Exercise,
    exercises_for,
    final_check,
    register,
)
from mha.exercises.nb01_one_head import check_scaled_attention, check_score_spread, check_softmax
from mha.exercises.nb02_one_head_is_not_enough import check_accuracy_by_heads, check_role_score
from mha.exercises.nb03_panel_of_experts import check_param_count, check_run_heads
from mha.exercises.nb04_heads_in_parallel import (
    check_attention_shapes,
    check_merge_heads,
    check_softmax_axis,
    check_split_heads,
)
from mha.exercises.nb05_concat_and_project import check_causal_mask, check_masked_attention, check_mha_forward
from mha.exercises.nb06_specialisation_emerges import check_accuracy_without, check_experts_seed_5
from mha.exercises.nb07_build_the_module import (
    check_attention_dropout,
    check_batched_forward,
    check_cross_attention_shapes,
    check_padding_mask,
    check_torch_mha_weights,
)
from mha.exercises.nb08_whats_next import check_block_param_count, check_layer_norm

# The notebooks' modules, in the course's order: registering a notebook's exercises is one entry here.
NOTEBOOK_MODULES = (
    nb01_one_head,
    nb02_one_head_is_not_enough,
    nb03_panel_of_experts,
    nb04_heads_in_parallel,
    nb05_concat_and_project,
    nb06_specialisation_emerges,
    nb07_build_the_module,
    nb08_whats_next,
)

for _module in NOTEBOOK_MODULES:
    register(_module.EXERCISES)

__all__ = [
    "CheckResult",
    "CheckTimeout",
    "Exercise",
    "EXERCISES",
    "NOTEBOOK_MODULES",
    "RESULTS_ENV",
    "TIME_LIMIT",
    "exercises_for",
    "final_check",
    "register",
    # notebook 1
    "check_softmax",
    "check_scaled_attention",
    "check_score_spread",
    # notebook 2
    "check_role_score",
    "check_accuracy_by_heads",
    # notebook 3
    "check_run_heads",
    "check_param_count",
    # notebook 4
    "check_attention_shapes",
    "check_split_heads",
    "check_merge_heads",
    "check_softmax_axis",
    # notebook 5
    "check_mha_forward",
    "check_causal_mask",
    "check_masked_attention",
    # notebook 6
    "check_experts_seed_5",
    "check_accuracy_without",
    # notebook 7
    "check_batched_forward",
    "check_padding_mask",
    "check_cross_attention_shapes",
    "check_attention_dropout",
    "check_torch_mha_weights",
    # notebook 8
    "check_block_param_count",
    "check_layer_norm",
]
