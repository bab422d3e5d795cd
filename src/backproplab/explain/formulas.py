"""What both forms of a worked gradient write the same way: dA/dB, a number, a product of
factors, and what a generated name stands for (u₁_i = w·x_i)."""

from __future__ import annotations

from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Math
from backproplab.explain.paths import tidy
from backproplab.explain.symbols import Namer, expression, fmt_number, term


def d(top: str, bottom: str, fmt: str) -> str:
    """dA/dB in text, ∂A/∂B as a LaTeX fraction."""
    return f"d{top}/d{bottom}" if fmt == "text" else rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def num(value: float, digits: int, fmt: str, wrap_negative: bool = False) -> str:
    text = fmt_number(value, digits, fmt)
    return f"({text})" if wrap_negative and value < 0 else text


def _top_level_sum(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and ch in "+−-" and 0 < i and text[i - 1] == " ":
            return True
    return False


def product(parts: list[str], fmt: str, keep_ones: bool = False) -> str:
    """Factors joined by × (or \\times), each sum parenthesised; '1' alone if there are none.

    Factors of 1 are dropped from a formula, but kept (``keep_ones``) when numbers are put
    in, so every factor of the chain is seen, as in −2 × (0 − (−2.60)) × 1.
    """
    if not keep_ones:
        parts = [p for p in parts if p != "1"]
    if not parts:
        return "1"
    if len(parts) > 1:
        parts = [f"({p})" if _top_level_sum(p) or " if " in p else p for p in parts]
    return (" × " if fmt == "text" else r" \times ").join(parts)


def define(node: Tensor, idx: tuple[int, ...] | None, namer: Namer, general: bool = True) -> Math:
    """``u₁_i = w·x_i`` (an entry) or ``z₁ = x·W`` (``idx`` None: the whole tensor), from the op's expression."""
    sides = {fmt: f"{term(namer, node, idx, fmt, general, None)[0]} = "
                  f"{tidy(expression(namer, node, idx, fmt, general)[0])}" for fmt in ("text", "latex")}
    return Math(sides["text"], sides["latex"])
