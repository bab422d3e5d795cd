"""Display rounding: exact values in, rounded text out, and a note when they disagree."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from backproplab.display import number, rounding_note, shown, sum_note


def test_numbers_use_a_true_minus_and_fixed_decimals():
    assert number(-15.655108) == "−15.66"
    assert number(1.5655, 2) == "1.57"
    assert number(0.0) == "0.00"
    assert number(-0.0001, 2) == "−0.0001"
    assert number(-6.57e-5, 2) == "−6.6e−5"
    assert number(-1e-12, 2, minus="-") == "-1e-12"
    assert number(float("nan")) == "NaN" and number(float("-inf")) == "−∞"
    assert number(-0.001, 1) == "−0.001"


def test_the_seed_sum_note():
    # The seed's terms −5.2, −5.2, −5.22 add up to −15.62 but it printed −15.7.
    note = sum_note([-5.2, -5.2, -5.22], -15.655108, digits=2)
    assert "−15.62" in note and "−15.655108" in note and "shown as −15.66" in note
    assert sum_note([-5.21, -5.22, -5.23], -15.655108, 2) == ""


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 6))
def test_shown_is_what_is_printed(value, digits):
    assert math.isclose(shown(value, digits), float(number(value, digits, minus="-")))
    assert rounding_note(value, value, digits) == ""
