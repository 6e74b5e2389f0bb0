"""Plotly figures for the course, by concept, and the renderer that shows them everywhere.

- ``render``: the renderer "mha" (plotly JSON + kernel-free HTML), ``setup_notebook``, ``figure_json`` (what
  plotly.js takes), rounding for stable outputs
- ``palette``: the head colours and colour scales
- ``parts``: fast figures as plain (data, layout), for the explorers that redraw on every slider move
- ``heatmaps``: attention weights of one head, of h heads, and the head view of one token
- ``shapes``: the shape of every tensor of a layer, split_heads, W_O's blocks, the parameter budget of h heads,
  timings and FLOPs
- ``signals``: softmax saturation against a head's width, and how alike the tokens become through a deep stack
- ``training``: training curves, head roles, ablation, and the training explorer's figure
- ``studies``: the experiments of notebooks 2, 6 and 7 (accuracy per seed, drifting heads, one attention row in two
  sentences, pruning curves)
- ``symmetry``: notebook 6's heads that start identical, pushed apart by a known amount (distance over steps)
- ``explorer``: ``controls_figure``, the slider machinery of the explorers' kernel-free figures

Every figure is a ``plotly.graph_objects.Figure`` (or its plain (data, layout) parts) built from numbers
rounded on the CPU, so a notebook's stored output is the same on a laptop CPU and on a GPU.
``from mha import viz; viz.head_heatmaps(...)`` reaches every figure.
"""

from mha.viz.explorer import controls_figure
from mha.viz.heatmaps import (
    attention_heatmap,
    grid_columns,
    grid_corner,
    head_heatmaps,
    head_view_figure,
    head_view_parts,
)
from mha.viz.palette import HEAD_COLOURS, head_colour, with_alpha
from mha.viz.parts import FigureParts, parts_figure
from mha.viz.render import PLOTLY_CONFIG, CourseRenderer, display_bundle, figure_json, plotlyjs_file, setup_notebook
from mha.viz.shapes import (
    flops_figure,
    mha_sizes,
    parameter_budget_figure,
    shape_figure,
    shape_parts,
    split_heads_figure,
    timing_figure,
    w_o_blocks_figure,
)
from mha.viz.signals import depth_similarity_figure, softmax_saturation_figure
from mha.viz.studies import (
    attention_row_figure,
    frozen_control_figure,
    pruning_figure,
    resolver_seeds_figure,
)
from mha.viz.symmetry import push_distance_figure
from mha.viz.training import (
    head_ablation_figure,
    head_role_figure,
    role_winners_figure,
    training_curves,
    training_parts,
)

__all__ = [
    "CourseRenderer",
    "FigureParts",
    "HEAD_COLOURS",
    "PLOTLY_CONFIG",
    "attention_heatmap",
    "attention_row_figure",
    "controls_figure",
    "depth_similarity_figure",
    "display_bundle",
    "figure_json",
    "flops_figure",
    "frozen_control_figure",
    "grid_columns",
    "grid_corner",
    "head_ablation_figure",
    "head_colour",
    "head_heatmaps",
    "head_role_figure",
    "head_view_figure",
    "head_view_parts",
    "mha_sizes",
    "parameter_budget_figure",
    "parts_figure",
    "plotlyjs_file",
    "pruning_figure",
    "push_distance_figure",
    "resolver_seeds_figure",
    "role_winners_figure",
    "setup_notebook",
    "shape_figure",
    "shape_parts",
    "softmax_saturation_figure",
    "split_heads_figure",
    "timing_figure",
    "training_curves",
    "training_parts",
    "w_o_blocks_figure",
    "with_alpha",
]
