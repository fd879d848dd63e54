"""Argument checks shared by every layer: clear errors that name the bad value."""

from __future__ import annotations


def integer(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """`value` as an int in [low, high]; ValueError naming `name` and the range otherwise (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        expected = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be {expected}")
    return value
