"""The colours of the course's figures: one colour per head, and the colour scales of attention weights.

Two head palettes are in use, and each keeps the colours that the stored notebooks show:
``HEAD_COLOURS`` (8 colours) for the figures that notebooks 2, 4, 5 and 6 draw directly, and
``EXPLORER_HEAD_COLOURS`` (16 colours, one per head up to the explorers' 16 heads) for the explorers' figures
(notebooks 3 and 6). Code asks for a colour with ``head_colour(i)`` or ``head_colour(i, EXPLORER_HEAD_COLOURS)``.
"""

from __future__ import annotations

HEAD_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#B279A2", "#72B7B2", "#EECA3B", "#9D755D")

EXPLORER_HEAD_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
)  # fmt: skip


def head_colour(i: int, palette: tuple = HEAD_COLOURS) -> str:
    """The colour of head i (0-based) in ``palette``; past its end the colours repeat."""
    return palette[i % len(palette)]


def head_colourscale(num_heads: int) -> list:
    """A stepped colour scale: the value i (0 <= i < num_heads) gets ``head_colour(i)``."""
    scale = []
    for i in range(num_heads):
        colour = head_colour(i)
        scale += [[i / num_heads, colour], [(i + 1) / num_heads, colour]]
    return scale


def blues() -> list:
    """plotly's "Blues", white to dark blue, as a list of colours: plotly.js reads the name in the opposite order."""
    from plotly.colors import sequential

    return [[round(i / (len(sequential.Blues) - 1), 4), c] for i, c in enumerate(sequential.Blues)]
