import math

import numpy as np
import pytest

from pathkernel.validation import finite_number, integer


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_integer_accepts_python_and_numpy_integers(value):
    result = integer("n", value)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value, match", [
    (True, "n=True"), (np.bool_(True), "n=.*True"), (3.0, "n=3.0"), (float("nan"), "n=nan"),
    ("3", "n='3'"), (None, "n=None"), (0, r"n=0 must be an integer >= 1"),
])
def test_integer_rejects_everything_else(value, match):
    with pytest.raises(ValueError, match=match):
        integer("n", value)
    with pytest.raises(ValueError, match=r"k=5 must be an integer in \[0, 4\]"):
        integer("k", 5, 0, 4)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.float64(0.25), np.int64(1)])
def test_finite_number_accepts_real_numbers(value):
    result = finite_number("x", value, 0, 1)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize("value, kwargs, match", [
    (float("nan"), {}, r"x=nan must be a finite number in \(-inf, inf\)"),
    (float("inf"), {"low": 0}, r"x=inf must be a finite number in \[0, inf\)"),
    (-math.inf, {}, "x=-inf"),
    (np.float64("nan"), {"low": 0, "open_low": True}, r"x=.*nan.* must be a finite number in \(0, inf\)"),
    (True, {}, "x=True .*got a bool"),
    (np.bool_(False), {}, "x=.*False"),
    ("1.0", {}, "x='1.0' .*got a str"),
    (None, {}, "x=None"),
    (0.0, {"low": 0, "open_low": True}, r"x=0.0 must be a finite number in \(0, inf\)"),
    (1.0, {"low": 0, "high": 1, "open_high": True}, r"x=1.0 must be a finite number in \[0, 1\)"),
    (-0.1, {"low": 0}, "x=-0.1"),
    (2, {"high": 1}, r"x=2 must be a finite number in \(-inf, 1\]"),
])
def test_finite_number_rejects_nan_inf_bools_and_out_of_range(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        finite_number("x", value, **kwargs)


def test_finite_number_closed_ends_are_included():
    assert finite_number("x", 0, 0, 1) == 0.0 and finite_number("x", 1, 0, 1) == 1.0
