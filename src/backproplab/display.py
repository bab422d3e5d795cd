"""Numbers for people: rounding for display only, and saying so when it shows.

All arithmetic is done on exact values. ``digits`` means decimals for numbers of 1 or more
and significant figures below 1, so a small value never rounds to nothing (0.0094, not
0.01; 6.3e−5, not 0.0001). When a line of working shows rounded numbers whose own arithmetic
does not give the rounded result (1.57 + 0.63 = 2.20, but the exact result is 2.19), or
factors whose product as shown is not the shown product, :func:`rounding_note` produces the
sentence that says so.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Iterable

MINUS = "−"
DATA_DIGITS = 6  # data (inputs, targets) are shown exactly when they have at most this many decimals


def number(value: float, digits: int = 2, minus: str = MINUS) -> str:
    """``value`` with ``digits`` decimals, but below 1 with ``digits`` significant figures
    (scientific notation, 6.3e−5, below 1e−4)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return ("" if value > 0 else minus) + "∞"
    magnitude = abs(value)
    text = ""
    if magnitude >= 1e9:
        text = f"{value:.{max(digits, 1)}g}"
    elif 0 < magnitude < 1:
        text = f"{value:#.{max(digits, 1)}g}"
        if "e" not in text and abs(float(text)) >= 1:  # 0.999 rounds up to 1: shown as numbers of 1 or more
            text = ""
        else:
            text = text.rstrip(".")
    if not text:
        text = f"{value:.{digits}f}"
        if float(text) == 0:
            text = text.lstrip("-")
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa.rstrip('.')}e{int(exponent)}"
    return text.replace("-", minus)


def precision(digits: int) -> str:
    """What ``digits`` means, in words, for the line that introduces the numbers."""
    if digits == 0:
        return "whole numbers shown, one significant figure below 1"
    return f"{digits} decimals shown, {digits} significant figures below 1"


def exact_number(value: float, digits: int = 2, minus: str = MINUS) -> str:
    """Data as it is: 0.5 stays 0.5 even with ``digits`` 0; a value with more than
    ``DATA_DIGITS`` decimals is rounded as :func:`number` does."""
    value = float(value)
    if math.isfinite(value):
        for decimals in range(0, DATA_DIGITS + 1):
            if round(value, decimals) == value and abs(value) < 1e9:
                text = f"{value:.{decimals}f}"
                return ("0" if float(text) == 0 else text).replace("-", minus)
    return number(value, digits, minus)


def latex_number(text: str) -> str:
    """Scientific notation written for LaTeX: 6.3e-5 → 6.3 \\times 10^{-5}."""
    return re.sub(r"([0-9.]+)e([−-]?[0-9]+)", lambda m: rf"{m.group(1)} \times 10^{{{m.group(2).replace('−', '-')}}}",
                  text)


def shown(value: float, digits: int = 2) -> float:
    """The number a reader sees, as a float (what they would add up by hand)."""
    return float(number(value, digits, minus="-").replace("∞", "inf"))


def wrap(text: str, value: float) -> str:
    """Parenthesise a negative number when it stands inside an expression: (−2.60)."""
    return f"({text})" if float(value) < 0 else text


def rounding_note(shown_terms_total: float, exact_total: float, digits: int = 2, minus: str = MINUS,
                  what: str = "the rounded numbers shown give") -> str:
    """A note if the shown terms add up (by hand) to something other than the shown total.

    ``shown_terms_total`` is the arithmetic done on the displayed, rounded numbers.
    Returns '' when the two agree at the displayed precision.
    """
    hand = number(shown_terms_total, digits, minus)
    if hand == number(exact_total, digits, minus):
        return ""
    return (
        f"{what} {hand}; the exact value is "
        f"{number(exact_total, max(digits + 4, 6), minus)}, shown as {number(exact_total, digits, minus)}"
    )


def sum_note(terms: Iterable[float], exact_total: float, digits: int = 2, minus: str = MINUS) -> str:
    """:func:`rounding_note` for a sum of terms as they are displayed."""
    return rounding_note(math.fsum(shown(t, digits) for t in terms), exact_total, digits, minus)


_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def hand_value(text: str) -> float | None:
    """What a reader gets by working out a shown line of plain arithmetic (−2 × (0 − (−2.61)));
    None when it holds anything else (a function, a name)."""
    plain = text.replace("−", "-").replace("×", "*").replace("·", "*")
    if not re.fullmatch(r"[0-9.eE\s()+\-*/]*", plain) or not plain.strip():
        return None
    try:
        tree = ast.parse(plain, mode="eval").body
    except (SyntaxError, ValueError):
        return None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = ev(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError("not plain arithmetic")

    try:
        return ev(tree)
    except (ValueError, ZeroDivisionError, RecursionError):
        return None
