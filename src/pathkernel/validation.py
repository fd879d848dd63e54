"""Argument checks shared by every layer: clear errors that name the bad value."""

from __future__ import annotations

import math
import numbers


def integer(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """`value` as an int in [low, high]; ValueError naming `name` and the range otherwise.

    Python and numpy integers are accepted (returned as int); bools, floats (even 2.0) and
    anything else are rejected.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low
            or (high is not None and value > high)):
        expected = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be {expected}")
    return int(value)


def finite_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """`value` as a finite float in the interval from `low` to `high`; ValueError otherwise.

    The one check for every real-valued argument (a radius, a variance, a noise level):
    it must be a real number (int, float or a numpy scalar; bools are rejected: ``True``
    is not a number of anything), finite (NaN and +-inf are rejected, so a NaN can never
    slip past a comparison such as ``value <= 0``, which is False for NaN), and lie in
    [low, high]; `open_low` / `open_high` exclude an end, so
    ``finite_number("thickness", t, 0, open_low=True)`` asks for t > 0. None leaves that
    side unbounded. The error names the argument, its value and the interval expected.
    """
    interval = f"{'(' if open_low or low is None else '['}{'-inf' if low is None else low}, " \
               f"{'inf' if high is None else high}{')' if open_high or high is None else ']'}"
    expected = f"must be a finite number in {interval}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} {expected}; got a {type(value).__name__}")
    number = float(value)
    if (not math.isfinite(number) or (low is not None and (number < low or (open_low and number == low)))
            or (high is not None and (number > high or (open_high and number == high)))):
        raise ValueError(f"{name}={value!r} {expected}")
    return number
