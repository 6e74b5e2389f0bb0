"""The colours of the course's figures: one colour per head, and the colour scales of attention weights.

One head palette for every figure, chosen to stay apart for readers with a colour-vision deficiency: the first
seven are Okabe and Ito's colours (blue, orange, green, vermilion, purple, sky blue, yellow), safe for the
common red-green and blue-yellow deficiencies; heads 8 to 16 (only the explorers go that far) take Paul Tol's
"muted" colours. All keep a contrast with both the light and the dark page.
"""

from __future__ import annotations

HEAD_COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",  # Okabe & Ito
    "#882255", "#44AA99", "#999933", "#CC6677", "#117733", "#DDCC77", "#AA4499", "#88CCEE", "#332288",  # Tol muted
)  # fmt: skip


def head_colour(i: int) -> str:
    """The colour of head i (0-based); past the 16th the colours repeat."""
    return HEAD_COLOURS[i % len(HEAD_COLOURS)]


def with_alpha(colour: str, alpha: float) -> str:
    """ "#0072B2", 0.5 -> "rgba(0, 114, 178, 0.5)": a colour drawn see-through (no group opacity to composite)."""
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {round(alpha, 2)})"


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
