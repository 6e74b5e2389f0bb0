"""The checks every module of the package makes of its arguments, each written once.

Each returns the value it accepts, or raises an error that names the argument, what it got and what would be
right (for a head count that does not divide d_model: the head counts and widths that would).
This module is the package's bottom layer: it imports nothing from the package.
"""

from __future__ import annotations

import math

__all__ = ["check_positive_int", "check_probability", "check_divisible", "head_count_message", "valid_head_counts"]


def check_positive_int(name: str, value, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` if it is an int in [low, high]; otherwise raise an error naming ``name`` and the range.

    The one validator every module of the package uses for sizes, counts, steps and seeds.
    """
    if high is not None:
        wanted = f"an int from {low} to {high}"
    else:
        wanted = "a positive int" if low == 1 else f"an int >= {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return value


def check_probability(name: str, value) -> float:
    """Return ``value`` as a float if it is a number in [0, 1); otherwise raise an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a probability, a float from 0 up to (not including) 1, got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability from 0 up to (not including) 1, got {value}")
    return float(value)


def valid_head_counts(d_model: int) -> list[int]:
    """The head counts that divide ``d_model`` evenly, smallest first."""
    check_positive_int("d_model", d_model)
    return [h for h in range(1, d_model + 1) if d_model % h == 0]


def head_count_message(d_model: int, num_heads: int, d_model_step: int = 1) -> str:
    """Why d_model cannot be cut into num_heads heads, with the nearest head counts and widths that would work.

    d_model_step: suggest only multiples of it for d_model (an explorer's slider step).
    """
    heads = valid_head_counts(d_model)
    below = [h for h in heads if h < num_heads]
    above = [h for h in heads if h > num_heads]
    near_heads = " or ".join(str(h) for h in (below[-1:] + above[:1]))
    unit = math.lcm(num_heads, d_model_step)  # a d_model both num_heads and the step allow
    lower = d_model // unit * unit
    near_widths = " or ".join(str(d) for d in (lower, lower + unit) if d > 0)
    return (
        f"d_model={d_model} is not divisible by num_heads={num_heads}: it cannot be cut into {num_heads} heads of "
        f"the same width d_k = d_model / num_heads ({d_model} / {num_heads} = {d_model / num_heads:.4g}). "
        f"Try num_heads = {near_heads}, or keep {num_heads} heads with d_model = {near_widths}."
    )


def check_divisible(d_model: int, num_heads: int, d_model_step: int = 1) -> None:
    """Raise a ValueError (``head_count_message``) unless num_heads divides d_model: the one check of this rule."""
    if d_model % num_heads:
        raise ValueError(head_count_message(d_model, num_heads, d_model_step))
