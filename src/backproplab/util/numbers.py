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
import html
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation

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


def shown_decimal(text: str) -> Decimal:
    """A number as it is shown (−2.60, 6.3e−5), as the exact decimal a reader works with."""
    return Decimal(text.replace(MINUS, "-").strip("()"))


def decimal_of(value: float, digits: int = 2) -> Decimal:
    """The number a reader sees, as an exact decimal (what they would work with by hand)."""
    return shown_decimal(number(value, digits, minus="-"))


def half_unit(text: str) -> Decimal:
    """Half a unit in the last place shown: 0.005 for −2.60, 0.05e−5 for 6.3e−5."""
    exponent = shown_decimal(text).as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity has no last place
        raise ValueError(f"{text!r} is not a finite number, so it has no last place shown")
    return Decimal(5).scaleb(exponent - 1)


def holds(hand: Decimal | float, shown_text: str) -> bool:
    """Whether a value worked out by hand rounds to ``shown_text`` (a tie either way counts: −0.2505 is
    −0.250 as well as −0.251)."""
    try:
        hand = hand if isinstance(hand, Decimal) else Decimal(float(hand))  # a float's exact value
        shown_value = shown_decimal(shown_text)
    except InvalidOperation:  # ∞ or NaN shown
        return False
    if not (hand.is_finite() and shown_value.is_finite()):
        return False
    return abs(hand - shown_value) <= half_unit(shown_text)


def rounding_note(shown_terms_total: Decimal | float, exact_total: float, digits: int = 2, minus: str = MINUS,
                  what: str = "the rounded numbers shown give") -> str:
    """A note if the shown terms add up (by hand) to something other than the shown total.

    ``shown_terms_total`` is the arithmetic done on the displayed, rounded numbers, best as a
    :class:`~decimal.Decimal` worked on the shown decimals. Returns '' when it rounds to the shown
    total (a tie either way).
    """
    shown_total = number(exact_total, digits, "-")
    if not math.isfinite(exact_total) or holds(shown_terms_total, shown_total):
        return ""
    hand = number(float(shown_terms_total), digits, minus)
    return (
        f"{what} {hand}; the exact value is "
        f"{number(exact_total, max(digits + 4, 6), minus)}, shown as {number(exact_total, digits, minus)}"
    )


def sum_note(terms: Iterable[float], exact_total: float, digits: int = 2, minus: str = MINUS) -> str:
    """:func:`rounding_note` for a sum of terms as they are displayed, added as decimals."""
    values = [float(t) for t in terms]
    if not all(math.isfinite(t) for t in values):
        return ""
    return rounding_note(sum((decimal_of(t, digits) for t in values), Decimal(0)), exact_total, digits, minus)


_DECIMAL_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def hand_decimal(text: str) -> Decimal | None:
    """What a reader gets by working out a shown line of plain arithmetic (−2 × (0 − (−2.61))), on the
    decimals shown (−2.505 × 0.1 is exactly −0.2505); None when it holds anything else (a function, a name)."""
    plain = text.replace("−", "-").replace("×", "*").replace("·", "*")
    if not re.fullmatch(r"[0-9.eE\s()+\-*/]*", plain) or not plain.strip():
        return None
    try:
        tree = ast.parse(plain, mode="eval").body
    except (SyntaxError, ValueError):
        return None

    def ev(node: ast.AST) -> Decimal:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Decimal(ast.get_source_segment(plain, node) or repr(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = ev(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _DECIMAL_OPS:
            return _DECIMAL_OPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError("not plain arithmetic")

    try:
        return ev(tree)
    except (ValueError, ArithmeticError, RecursionError):
        return None


def hand_value(text: str) -> float | None:
    """What a reader gets by working out a shown line of plain arithmetic (−2 × (0 − (−2.61)));
    None when it holds anything else (a function, a name)."""
    value = hand_decimal(text)
    return None if value is None else float(value)


def enough_digits(values: Sequence[float], work: Callable[[list[Decimal]], Decimal], result: str, digits: int,
                  most: int = 12) -> int | None:
    """The fewest digits (from ``digits``) to show ``values`` with so that ``work`` done on them by hand
    gives the shown ``result``; None if even ``most`` digits do not."""
    for d in range(digits, max(most, digits) + 1):
        try:
            if holds(work([decimal_of(v, d) for v in values]), result):
                return d
        except (InvalidOperation, ArithmeticError):
            return None
    return None


# --- a run at a glance: one line, and a small HTML table with the loss as a sparkline ------------
SPARK_WIDTH, SPARK_HEIGHT = 160, 28


def sparkline_svg(values: Iterable[float], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """The values as a small inline SVG polyline (log scale when they are all positive and span
    more than a factor of 100); no scripts, nothing fetched."""
    ys = [float(v) for v in values if math.isfinite(float(v))]
    if len(ys) < 2:
        return ""
    if min(ys) > 0 and max(ys) / min(ys) > 100:
        ys = [math.log10(v) for v in ys]
    low, high = min(ys), max(ys)
    span = (high - low) or 1.0
    points = " ".join(f"{2 + (width - 4) * k / (len(ys) - 1):.1f},{2 + (height - 4) * (high - v) / span:.1f}"
                      for k, v in enumerate(ys))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="loss per iteration"><polyline fill="none" stroke="#d6457d" stroke-width="1.5" '
            f'points="{points}"/></svg>')


def _cell(value: float | None, digits: int) -> str:
    """A table cell: the number, or nothing where a parameter has more than one entry."""
    return "" if value is None else number(value, digits)


def _scalar(value: object) -> float | None:
    try:
        flat = [float(v) for v in getattr(value, "flat", [value])]
    except (TypeError, ValueError):
        return None
    return flat[0] if len(flat) == 1 else None


ENDINGS = {"min_step": "converged", "max_steps": "stopped at the step limit", "diverged": "diverged"}


def trace_repr(trace: object, digits: int = 4) -> str:
    """One line: what was trained, how many iterations, where it ended."""
    its = getattr(trace, "iterations", [])
    final = getattr(trace, "final", None)
    names = list(getattr(trace, "optimize", []))
    shown_names = ", ".join(names[:6]) + (f", … ({len(names) - 6} more)" if len(names) > 6 else "")
    end = (f"; {ENDINGS.get(final.stopped_by, final.stopped_by)} after {final.steps} step(s), final loss "
           f"{number(final.loss, digits, '-')}" if final is not None else "")
    method = str(getattr(trace, "optimizer", "?")).replace("_", " ")
    return (f"<Trace {method} on {shown_names} · loss {getattr(trace, 'loss', '?')} · "
            f"learning rate {getattr(trace, 'learning_rate', float('nan')):g} · {len(its)} iteration(s){end}>")


def trace_html(trace: object, digits: int = 4, head: int = 3, tail: int = 2, columns: int = 4) -> str:
    """A small table of the first and last iterations (loss and scalar parameters), how many are
    hidden between them, and the loss per iteration as a sparkline."""
    its = list(getattr(trace, "iterations", []))
    names = [n for n in getattr(trace, "optimize", []) if its and _scalar(its[0].params.get(n)) is not None][:columns]
    n = len(its)
    picks = list(range(n)) if n <= head + tail + 1 else [*range(head), -1, *range(n - tail, n)]
    cells = "".join(f"<th>{html.escape(n)}</th>" for n in ["iteration", "loss", *names])
    rows = []
    for i in picks:
        if i < 0:
            hidden = its[n - tail].step - its[head - 1].step - 1  # by iteration number: long runs keep only some
            rows.append(f'<tr><td colspan="{2 + len(names)}" style="text-align:center">… {hidden} iteration(s) '
                        "not shown …</td></tr>")
            continue
        it = its[i]
        values = [number(it.loss, digits)] + [_cell(_scalar(it.params[n]), digits) for n in names]
        rows.append(f"<tr><td>{it.step + 1}</td>" + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>")
    losses = [it.loss for it in its]
    final = getattr(trace, "final", None)
    ending = ""
    if final is not None:
        losses.append(final.loss)
        how = ENDINGS.get(final.stopped_by, final.stopped_by)
        ending = html.escape(f"{how} after {final.steps} step(s); final loss {number(final.loss, digits)}")
    more = len(getattr(trace, "optimize", [])) - len(names)
    note = f" ({more} parameter(s) not shown: not single numbers, or past the first {columns})" if more else ""
    return (f'<div class="bpl-trace"><p>{html.escape(trace_repr(trace, digits)[1:-1])}</p>'
            f'<table><thead><tr>{cells}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"<p>loss per iteration: {sparkline_svg(losses)} {ending}{html.escape(note)}</p></div>")
