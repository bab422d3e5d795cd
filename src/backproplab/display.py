"""Numbers for people: rounding for display only, and saying so when it shows.

All arithmetic is done on exact values. When a line of working shows rounded numbers whose
own arithmetic does not give the rounded result (1.57 + 0.63 = 2.20, but the exact result is
2.19), :func:`rounding_note` produces the sentence that says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

MINUS = "−"


def number(value: float, digits: int = 2, minus: str = MINUS) -> str:
    """``value`` with ``digits`` decimals; tiny non-zero values keep ``digits`` significant figures."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return ("" if value > 0 else minus) + "∞"
    if abs(value) >= 1e9 or (value != 0 and abs(value) < 0.5 * 10.0 ** -digits):
        text = f"{value:.{max(digits, 1)}g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
    else:
        text = f"{value:.{digits}f}"
        if float(text) == 0:
            text = text.lstrip("-")
    return text.replace("-", minus)


def shown(value: float, digits: int = 2) -> float:
    """The number a reader sees, as a float (what they would add up by hand)."""
    return float(number(value, digits, minus="-").replace("∞", "inf"))


def wrap(text: str, value: float) -> str:
    """Parenthesise a negative number when it stands inside an expression: (−2.60)."""
    return f"({text})" if float(value) < 0 else text


def rounding_note(shown_terms_total: float, exact_total: float, digits: int = 2, minus: str = MINUS) -> str:
    """A note if the shown terms add up (by hand) to something other than the shown total.

    ``shown_terms_total`` is the arithmetic done on the displayed, rounded numbers.
    Returns '' when the two agree at the displayed precision.
    """
    hand = number(shown_terms_total, digits, minus)
    if hand == number(exact_total, digits, minus):
        return ""
    return (
        f"the rounded numbers shown give {hand}; the exact value is "
        f"{number(exact_total, max(digits + 4, 6), minus)}, shown as {number(exact_total, digits, minus)}"
    )


def sum_note(terms: Iterable[float], exact_total: float, digits: int = 2, minus: str = MINUS) -> str:
    """:func:`rounding_note` for a sum of terms as they are displayed."""
    return rounding_note(math.fsum(shown(t, digits) for t in terms), exact_total, digits, minus)
