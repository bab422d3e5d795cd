"""What both forms of a worked gradient write the same way: dA/dB, a number, a product of
factors, and what a generated name stands for (u₁_i = w·x_i)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Math
from backproplab.explain.paths import tidy
from backproplab.explain.symbols import LOSS_OPS, Namer, expression, fmt_number, latex_name, term


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


def mentioned(text: str, nodes: Iterable[Tensor], namer: Namer, skip: set[int]) -> list[Tensor]:
    """The unnamed results ``text`` mentions by a generated name (softmax(u₁)) and ``skip`` does not hold: each
    needs a definition, so that no name is used without saying what it stands for."""
    out, seen = [], set(skip)
    for node in nodes:
        name = namer.names.get(id(node))
        if (id(node) in seen or not name or node.op is None or node.name or node.op.name in LOSS_OPS
                or not re.search(rf"(?<!\w){re.escape(name)}(?![₀-₉]|(?!ᵀ)\w)", text)):  # u₁ᵀ mentions u₁
            continue
        seen.add(id(node))
        out.append(node)
    return out


def definitions(text: str, nodes: Iterable[Tensor], namer: Namer, skip: set[int]) -> list[Math]:
    """Definitions of the generated names ``text`` mentions, and of those their definitions mention in turn,
    in the order of ``nodes`` (the forward pass's)."""
    nodes = list(nodes)
    found: list[Tensor] = []
    while True:
        more = mentioned(text, nodes, namer, skip | {id(n) for n in found})
        if not more:
            break
        found += more
        text = " ".join(definition(n, namer).text for n in more)
    rank = {id(n): k for k, n in reversed(list(enumerate(nodes)))}
    return [definition(n, namer) for n in sorted(found, key=lambda n: rank[id(n)])]


def definition(node: Tensor, namer: Namer) -> Math:
    """``u₁ = decoder reshaped to (12, 10)``: a reshape says so (its formula is its input alone); other
    results as ``define`` writes them."""
    if node.op is None or node.op.name != "reshape":
        return define(node, None, namer)
    name = namer.name(node)
    text, latex = (term(namer, node.parents[0], None, fmt, True, None)[0] for fmt in ("text", "latex"))
    shape = tuple(node.data.shape)
    return Math(f"{name} = {text} reshaped to {shape}",
                rf"{latex_name(name)} = \operatorname{{reshape}}\left({latex}, {shape}\right)")
