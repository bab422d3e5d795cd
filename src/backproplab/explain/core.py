"""``explain(loss, wrt=p)``: a gradient worked out by the chain rule, with the numbers put in.

Two forms, both read from the recorded graph and the op table:

* **paths** (scalar networks such as the dosage example): one term per path from the loss
  to the parameter, cut into factors at every named node, sample by sample, summed.
* **delta** (matrix layers): one step per named node, δ = ∂L/∂node, each δ obtained
  from the one above through the ops' backward rules; the values are the engine's own.

The numeric result of the paths form is checked against the engine's gradient before the
explanation is returned, so a wrong explanation cannot be shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from string import Template
from typing import Any

import numpy as np

from backproplab.engine.autodiff import backprop, topological_order
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Block, Math, Rendered, check_factors, lines_with_notes
from backproplab.explain.entry import entry_blocks
from backproplab.explain.paths import Factor, Paths, Term, TooManyPathsError, count, split, tidy
from backproplab.explain.steps import step_rule_text, step_working
from backproplab.explain.symbols import (
    LOSS_OPS,
    Namer,
    attr_values,
    element,
    expression,
    fmt_number,
    latex_name,
    name_shared_nodes,
    term,
)
from backproplab.nn import Parameter
from backproplab.train.loop import _cause as cause_in_words
from backproplab.train.trace import to_json_value
from backproplab.util.numbers import enough_digits, hand_decimal, holds, number, precision, rounding_note, sum_note

FORMS = ("auto", "paths", "delta")
MAX_PATHS = 200  # the most terms the paths form writes out, even when asked for explicitly
MAX_LINK_WORK = 5_000  # the most unit-gradient VJPs spent finding entry-level links (about a second)
MAX_NEST = 8  # an unnamed chain longer than this is cut into named δ steps
MAX_DELTA_WORK = 2_000_000  # the most backward-rule steps one layer-by-layer explanation may write
WIDE = 100  # a sum of terms longer than this is written one term per line
SHORT = 24  # a factor whose formula with numbers fits in this many characters is shown filled in
MOST_DIGITS = 12  # the most digits the exact-factors form shows a factor with


@dataclass
class Explanation(Rendered):
    """A worked gradient. Render it with ``to_text``, ``to_markdown``, ``to_latex``, ``to_html``
    or ``to_dict``; in Jupyter it displays itself."""

    loss: str
    wrt: str
    gradient: Any  # the engine's exact gradient (the explained entry, or the whole tensor)
    form: str
    digits: int
    blocks: list[Block] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    factors: str = "rounded"  # how it renders unless told: see document.FACTORS

    def html_title(self) -> str:
        return f"d{self.loss}/d{self.entry_name()}"

    def entry_name(self) -> str:
        """What was explained: the parameter (w1), or the entry of it (W1[1,2]), counted from 1."""
        index = self.details.get("index")
        value = np.asarray(self.gradient, dtype=float) if self.gradient is not None else None
        if index and value is not None and value.size == 1:
            return f"{self.wrt}[{','.join(str(int(i) + 1) for i in index)}]"
        return self.wrt

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "wrt": self.wrt, "form": self.form, "digits": self.digits,
                "gradient": to_json_value(self.gradient), **to_json_value(self.details)}

    def __repr__(self) -> str:
        value = np.asarray(self.gradient, dtype=float) if self.gradient is not None else None
        if value is None:
            shown_value = ""
        elif value.size == 1:
            shown_value = f" = {fmt_number(float(value.reshape(-1)[0]), self.digits, 'text')}"
        else:
            norm = fmt_number(float(np.linalg.norm(value)), self.digits, "text")
            shown_value = f": a {value.shape} array, norm {norm}"
        return (f"<Explanation d{self.loss}/d{self.entry_name()}{shown_value} ({self.form} form; print() it to read "
                "the working)>")


# --- shared pieces ---------------------------------------------------------------------------
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


# --- the paths form ----------------------------------------------------------------------------
def _factor_name(f: Factor, namer: Namer, fmt: str, general: bool) -> tuple[str, str]:
    top = term(namer, f.top[0], f.top[1], fmt, general, None)[0]
    bottom = term(namer, f.bottom[0], f.bottom[1], fmt, general, None)[0]
    return top, bottom


def _factor_formula(f: Factor, namer: Namer, fmt: str, general: bool, digits: int | None) -> str:
    return product([link.formula(namer, fmt, general, digits) for link in f.links], fmt)


def _shown_factor(f: Factor, namer: Namer, digits: int, cache: dict | None = None) -> dict[str, str]:
    """A factor with the numbers put in, the same way in every format: its formula filled in
    when that is short (decided on the text form), else its value. ``cache`` keeps those already written."""
    if cache is not None:
        if (id(f), digits) not in cache:
            cache[(id(f), digits)] = _shown_factor(f, namer, digits)
        return cache[(id(f), digits)]
    filled = _factor_formula(f, namer, "text", False, digits)
    if len(filled) <= SHORT and "=" not in filled and "if" not in filled:
        return {"text": filled, "latex": _factor_formula(f, namer, "latex", False, digits)}
    return {fmt: num(f.value, digits, fmt, wrap_negative=True) for fmt in ("text", "latex")}


def _hand_product(shown_factors: list[str], factors: list[Factor]) -> Decimal:
    """The product a reader gets from the factors as shown, worked on the shown decimals (a formula
    that is not plain arithmetic counts at its exact value)."""
    product_ = Decimal(1)
    for text, f in zip(shown_factors, factors):
        value = hand_decimal(text)
        product_ *= Decimal(repr(float(f.value))) if value is None else value
    return product_


@dataclass
class NumberLines:
    """The lines that put the numbers in, the factors shown in each term, the index of the line
    that shows the products (where a note on them goes) and whether every line's arithmetic holds."""

    lines: list[Math]
    pieces: list[list[dict[str, str]]]
    shown: list[str]
    products_at: int
    holds: bool = True


def _numbers_lines(lhs: dict[str, str], ordered: list[Term], namer: Namer, digits: int, term_digits: int,
                   factor_digits: dict[int, int], total: float, cache: dict) -> NumberLines:
    """The terms with their factors put in (each term's at its own digits), the products (at
    ``term_digits``) and the total (at ``digits``)."""
    pieces = [[_shown_factor(f, namer, factor_digits[i], cache) for f in t.factors] for i, t in enumerate(ordered)]
    shown = {fmt: [product([p[fmt] for p in term_pieces], fmt, keep_ones=True) for term_pieces in pieces]
             for fmt in ("text", "latex")}
    values = [t.value for t in ordered]
    lines = []
    if len(ordered) <= 6 and all(len(s) <= 3 * SHORT for s in shown["text"]):
        joined = " + ".join(shown["text"])
        if len(joined) > WIDE:  # one term per line, as the LaTeX form does
            joined = "\n    + ".join(shown["text"])
        # a term that starts with a minus is braced, so "+ −2" is set as a sign, not as "+ − 2"
        terms = [f"{{{t}}}" if t.startswith("-") and k else t for k, t in enumerate(shown["latex"])]
        lines.append(Math(f"{lhs['text']} = " + joined, rf"{lhs['latex']} &= " + r" \\ &\quad + ".join(terms)))
        sums = " + ".join(num(v, term_digits, "text", True) for v in values)
        if len(ordered) > 1 and sums != joined:  # a single term, or terms already numbers: shown next
            lines.append(Math("= " + sums, "&= " + " + ".join(num(v, term_digits, "latex", True) for v in values)))
    else:
        for t, s_t, s_l in zip(ordered, shown["text"], shown["latex"]):
            label = _term_label(t, namer)
            lines.append(Math(f"{label}: {s_t} = {num(t.value, term_digits, 'text')}",
                              rf"\text{{{label}}}&: {s_l} = {num(t.value, term_digits, 'latex')}"))
        lines.append(Math(f"{lhs['text']} = " + " + ".join(num(v, term_digits, "text", True) for v in values),
                          rf"{lhs['latex']} &= " + " + ".join(num(v, term_digits, "latex", True) for v in values)))
    products_at = len(lines) - 1 if len(ordered) > 1 else len(lines)
    lines.append(Math(f"= {num(total, digits, 'text')}", rf"&= {num(total, digits, 'latex')}"))
    return NumberLines(lines, pieces, shown["text"], products_at)


def _exact_factors_lines(lhs: dict[str, str], ordered: list[Term], namer: Namer, digits: int,
                         total: float, rounded: NumberLines, cache: dict) -> NumberLines:
    """The same lines with each number worked on shown with the fewest digits (from ``digits``) that make
    the shown arithmetic hold: the products add up to the shown total, each term's factors multiply
    to its shown product. ``holds`` is False where even 12 digits would not do."""
    values = [t.value for t in ordered]
    term_digits = (enough_digits(values, lambda v: sum(v, Decimal(0)), number(total, digits, "-"), digits)
                   if len(values) > 1 else digits)
    found = term_digits is not None
    term_digits = digits if term_digits is None else term_digits
    factor_digits = {}
    for i, t in enumerate(ordered):
        factor_digits[i] = digits
        if len(t.factors) < 2:
            continue
        target = number(t.value, term_digits if len(ordered) > 1 else digits, "-")
        for d in range(term_digits if len(ordered) > 1 else digits, MOST_DIGITS + 1):
            if holds(_hand_product([_shown_factor(f, namer, d, cache)["text"] for f in t.factors], t.factors), target):
                factor_digits[i] = d
                break
        else:
            found = False
    if found and term_digits == digits and all(d == digits for d in factor_digits.values()):
        return rounded  # the rounded lines hold already
    out = _numbers_lines(lhs, ordered, namer, digits, term_digits, factor_digits, total, cache)
    out.holds = found
    return out


def _paths_blocks(loss_name: str, wrt_text: str, wrt_latex: str, terms: list[Term], namer: Namer, digits: int,
                  total: float, order: list[Tensor], general: bool = True) -> tuple[list[Block], dict[str, Any]]:
    """The paths form. ``general`` writes the chain with sample i (ŷ_i); a single sample's entry (h1_1)
    writes it with that sample's own index instead (ŷ_1)."""
    chains: dict[str, list[Term]] = {}
    for t in terms:
        key = " · ".join("/".join(_factor_name(f, namer, "text", True)) for f in t.factors)
        chains.setdefault(key, []).append(t)
    blocks: list[Block] = []
    sigma = {"text": "Σ_i ", "latex": r"\sum_{i} "}

    def chain_form(fmt: str) -> str:
        pieces = []
        for group in chains.values():
            first = group[0]
            factors = (" · " if fmt == "text" else r" \cdot ").join(
                d(*_factor_name(f, namer, fmt, general), fmt) for f in first.factors)
            if len(group) > 1:  # Σ_i where the terms are the samples; otherwise the paths themselves
                factors = (sigma if _indexed(first, namer) else over_paths)[fmt] + factors
            pieces.append(factors)
        return " + ".join(pieces)

    over_paths = {"text": "Σ_paths ", "latex": r"\sum_{\text{paths}} "}
    lhs = {"text": d(loss_name, wrt_text, "text"), "latex": d(latex_name(loss_name), wrt_latex, "latex")}
    blocks.append(Block("para", [f"By the chain rule, along every path from the loss to {wrt_text}:"]))
    blocks.append(Block("lines", lines=[Math(f"{lhs['text']} = {chain_form('text')}",
                                             rf"{lhs['latex']} = {chain_form('latex')}")]))
    defined = _definitions(terms, namer, order, general)
    if defined:
        blocks.append(Block("para", ["where"]))
        blocks.append(Block("lines", lines=defined))
    factor_lines = []
    seen = set()
    for group in chains.values():
        for f in group[0].factors:
            name_t = d(*_factor_name(f, namer, "text", general), "text")
            if name_t in seen:
                continue
            seen.add(name_t)
            name_l = d(*_factor_name(f, namer, "latex", general), "latex")
            factor_lines.append(Math(f"{name_t} = {_factor_formula(f, namer, 'text', general, None)}",
                                     f"{name_l} = {_factor_formula(f, namer, 'latex', general, None)}"))
    blocks.append(Block("para", ["Each factor is the local derivative of the op that links the two nodes:"]))
    blocks.append(Block("lines", lines=factor_lines))

    ordered = [t for group in chains.values() for t in group]
    values = [t.value for t in ordered]
    blocks.append(Block("para", [f"Putting in the numbers ({precision(digits)}; everything is computed exactly):"]))
    cache: dict = {}
    rounded = _numbers_lines(lhs, ordered, namer, digits, digits, {i: digits for i in range(len(ordered))}, total,
                             cache)
    quiet = _exact_factors_lines(lhs, ordered, namer, digits, total, rounded, cache)
    product_notes = []
    for t, term_pieces in zip(ordered, rounded.pieces):
        if len(t.factors) > 1:
            hand = _hand_product([p["text"] for p in term_pieces], t.factors)
            if rounding_note(hand, t.value, digits):
                exactly = num(t.value, max(digits + 4, 6), 'text')
                product_notes.append(f"{_term_label(t, namer)}: {number(float(hand), digits)}, exactly {exactly}, "
                                     f"shown as {num(t.value, digits, 'text')}")
    if product_notes:
        more = f"; and {len(product_notes) - 3} more" if len(product_notes) > 3 else ""
        product_notes = ["the rounded factors shown multiply to other values than the products shown ("
                         + "; ".join(product_notes[:3]) + more + ")"]
    note = sum_note(values, total, digits) if len(values) > 1 else ""
    lines = [Math(r.text, r.latex, q if q != r else None) for r, q in zip(rounded.lines, quiet.lines)]
    notes = {k: "" for k in range(len(lines))}
    notes[rounded.products_at] = product_notes[0] if product_notes else ""
    if note:  # the sum's note goes under the total, after a note on the products if they share the line
        notes[len(lines) - 1] = f"{notes[len(lines) - 1]}; {note}" if notes[len(lines) - 1] else note
    blocks += lines_with_notes([(line, notes[k], quiet.holds) for k, line in enumerate(lines)])
    shown = {"text": rounded.shown}
    details = {
        "chain_rule": chain_form("text"),
        "factors": [line.text for line in factor_lines],
        "terms": [{"label": _term_label(t, namer), "factors": [f.value for f in t.factors], "value": t.value,
                   "shown": s} for t, s in zip(ordered, shown["text"])],
        "rounding_note": note,
        "product_notes": product_notes,
    }
    return blocks, details


def _indexed(t: Term, namer: Namer) -> bool:
    """Whether a path's factors name a sample (ŷ_i), so that its group is a sum over samples."""
    for f in t.factors:
        for node, idx in (f.top, f.bottom):
            if idx and term(namer, node, idx, "text", False, None)[0] != term(namer, node, idx, "text", True, None)[0]:
                return True
    return False


def _definitions(terms: list[Term], namer: Namer, order: list[Tensor], general: bool = True) -> list[Math]:
    """What each generated name in the chain stands for (u₁_i = w·x_i), in the order the forward pass
    computes them."""
    found: dict[int, tuple[Tensor, tuple[int, ...]]] = {}
    for t in terms:
        for f in t.factors:
            for node, idx in (f.top, f.bottom):
                if node.op is not None and not node.name and node.parents and id(node) not in found:
                    found[id(node)] = (node, idx)
    rank = {id(node): k for k, node in enumerate(order)}
    ordered = sorted(found.values(), key=lambda pair: rank.get(id(pair[0]), len(rank)))
    return [define(node, idx, namer, general) for node, idx in ordered
            if node.op.name not in LOSS_OPS and node.op.elementwise]


def define(node: Tensor, idx: tuple[int, ...] | None, namer: Namer, general: bool = True) -> Math:
    """``u₁_i = w·x_i`` (an entry) or ``z₁ = x·W`` (``idx`` None: the whole tensor), from the op's expression."""
    sides = {fmt: f"{term(namer, node, idx, fmt, general, None)[0]} = "
                  f"{tidy(expression(namer, node, idx, fmt, general)[0])}" for fmt in ("text", "latex")}
    return Math(sides["text"], sides["latex"])


def _term_label(t: Term, namer: Namer) -> str:
    """'sample 2' when the path runs through one sample, otherwise the entries it passes."""
    for f in t.factors:
        node, idx = f.bottom
        symbol = term(namer, node, idx, "text", False, None)[0]
        general = term(namer, node, idx, "text", True, None)[0]
        if symbol != general and idx:
            return f"sample {idx[0] + 1}"
    return "path"


# --- the delta form ----------------------------------------------------------------------------
def _matrix(value: np.ndarray, digits: int, fmt: str) -> str:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return num(float(arr), digits, fmt)
    if arr.size > 24:
        norm = num(float(np.linalg.norm(arr)), digits, fmt)
        if fmt == "text":
            return f"[{'×'.join(map(str, arr.shape))} array, norm {norm}]"
        shape = r"\times".join(map(str, arr.shape))
        return rf"\left[{shape} \text{{ array, norm }} {norm}\right]"
    rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    if fmt == "text":
        body = "; ".join(", ".join(num(v, digits, "text") for v in row) for row in rows)
        return f"[{body}]"
    body = r" \\ ".join(" & ".join(num(v, digits, "latex") for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _compose(link_node: Tensor, k: int, upstream: str, namer: Namer, fmt: str) -> str:
    op = link_node.op
    template = op.backward_rule(k, fmt)
    values = {}
    for arg, parent in zip(op.args, link_node.parents):
        if f"${arg}" in template:
            text, prec = term(namer, parent, None, fmt, True, None)
            values[arg] = text if prec >= 9 else f"({text})"
    n = count(link_node)
    values["n"] = "n" if n is None else str(n)
    values.update(attr_values(link_node, fmt))
    filled = tidy(Template(template).safe_substitute(values))
    if upstream == "1" and (filled.startswith("G ⊙ (") or filled.startswith(r"G \odot \left(")):
        inner = filled[len("G ⊙ ("):-1] if fmt == "text" else filled[len(r"G \odot \left("):-len(r"\right)")]
        return inner
    plain = " " not in upstream and "·" not in upstream  # a product in front of ᵀ needs its parentheses
    g = upstream if plain else (f"({upstream})" if fmt == "text" else rf"\left({upstream}\right)")
    filled = re.sub(r"(?<!\w)G(?![A-Za-z0-9_])", lambda _: g, filled)  # "Gᵀ" too: ᵀ counts as a letter to \b
    parent = link_node.parents[k]
    if op.elementwise and parent.shape != link_node.shape:
        filled = (f"{filled}, summed over the broadcast axes" if fmt == "text" else rf"\textstyle\sum_{{i}} {filled}")
    return filled


@dataclass
class DeltaPlan:
    """The layer-by-layer form without its numbers: the first line, then per δ step the node, its
    label (text, LaTeX), the rule it comes by (text, LaTeX) and its name."""

    first: Math
    steps: list[tuple[Tensor, str, str, str, str, str]]
    defined: list[Math] = field(default_factory=list)  # what the generated names stand for (z₁ = x·W)


def delta_plan(loss: Tensor, wrt: Tensor, order: list[Tensor], namer: Namer, reach: set[int]) -> DeltaPlan:
    """Which δ lines the layer-by-layer form writes and by which rules: the same at every iteration."""
    incoming: dict[int, list[tuple[str, str]]] = {}
    name_shared_nodes(order, reach, namer, wrt)
    work = [0]

    def walk(start: Tensor) -> None:
        stack = [(start, {"text": "δ_" + namer.name(start) if start is not loss else "1",
                          "latex": rf"\delta_{{{latex_name(namer.name(start))}}}" if start is not loss else "1"}, 0)]
        while stack:
            node, g, depth = stack.pop()
            if node.op is None:
                continue
            for k, parent in enumerate(node.parents):
                if id(parent) not in reach:
                    continue
                work[0] += 1
                if work[0] > MAX_DELTA_WORK:
                    raise ValueError(f"this explanation needs more than {MAX_DELTA_WORK} steps of work (the graph has "
                                     f"{len(reach)} nodes between the loss and {namer.name(wrt)}); explain a smaller "
                                     "network, or name fewer nodes")
                nxt = {fmt: _compose(node, k, g[fmt], namer, fmt) for fmt in ("text", "latex")}
                if not (namer.stop(parent) or parent is wrt) and depth + 1 >= MAX_NEST:
                    namer.add_stop(parent, namer.name(parent))  # a long unnamed chain gets δ lines of its own
                if namer.stop(parent) or parent is wrt:
                    incoming.setdefault(id(parent), []).append((nxt["text"], nxt["latex"]))
                else:
                    stack.append((parent, nxt, depth + 1))

    walk(loss)
    first = Math(f"δ_{namer.name(loss)} = d{namer.name(loss)}/d{namer.name(loss)} = 1",
                 rf"\delta_{{{latex_name(namer.name(loss))}}} = 1")
    steps = []
    for node in reversed(order):
        if node is loss or id(node) not in incoming:
            continue
        name = namer.name(node)
        text_expr = " + ".join(t for t, _ in incoming[id(node)])
        latex_expr = " + ".join(latex for _, latex in incoming[id(node)])
        label_t = f"δ_{name}" if node is not wrt else f"d{namer.name(loss)}/d{name}"
        label_l = (rf"\delta_{{{latex_name(name)}}}" if node is not wrt
                   else d(latex_name(namer.name(loss)), latex_name(name), "latex"))
        steps.append((node, label_t, label_l, text_expr, latex_expr, name))
        if node is not wrt:
            walk(node)
    defined = [define(node, None, namer) for node, *_ in reversed(steps)
               if node is not wrt and node.op is not None and not node.name and node.op.name not in LOSS_OPS]
    return DeltaPlan(first, steps, defined)


def _delta_blocks(plan: DeltaPlan, grads: dict[int, np.ndarray], digits: int) -> tuple[list[Block], dict[str, Any]]:
    lines = [plan.first]
    details = []
    for node, label_t, label_l, text_expr, latex_expr, name in plan.steps:
        value = grads[id(node)]
        lines.append(Math(f"{label_t} = {text_expr} = {_matrix(value, digits, 'text')}",
                          rf"{label_l} = {latex_expr} = {_matrix(value, digits, 'latex')}"))
        details.append({"node": name, "rule": text_expr, "value": value})
    blocks = [
        Block("para", ["Layer by layer: δ of a node is the gradient of the loss with respect to it (",
                       Math("δ = ∂L/∂node", r"\delta = \partial L / \partial \text{node}"),
                       "). Each δ comes from the one above it through that op's backward rule; "
                       "⊙ multiplies entry by entry and ᵀ transposes."]),
        Block("lines", lines=lines),
    ]
    if plan.defined:
        blocks[1:1] = [Block("para", ["where"]), Block("lines", lines=plan.defined)]
    return blocks, {"steps": details}


# --- the entry point -----------------------------------------------------------------------------
@dataclass
class Prepared:
    """What an explanation needs besides the numbers, built once: the graph's order, its entry-level
    links and the paths found (None: not path by path); and the engine's gradients, by ``id`` of
    the node. ``entry`` is the entry form with this iteration's numbers (called as
    :func:`entry_blocks` is, without the graph), ``delta`` the layer-by-layer form's structure."""

    order: list[Tensor]
    paths: Paths
    found: list[list[Any]] | None
    grads: dict[int, np.ndarray]
    entry: Any = None
    delta: DeltaPlan | None = None


def namer_for(order: list[Tensor], loss: Tensor, wrt: Tensor) -> Namer:
    """The names an explanation of d loss / d wrt uses."""
    namer = Namer(order, loss)
    namer.add_stop(wrt, wrt.name or "θ")
    return namer


def paths_limit(form: str, max_terms: int) -> int:
    """The most terms the paths form writes out."""
    return max(max_terms, MAX_PATHS) if form == "paths" else max_terms


def not_finite(order: list[Tensor], namer: Any, loss_name: str) -> str:
    """'' when every value of the forward pass is finite, else one line: the first node that is not
    (order runs from the inputs to the loss), what made it so, and what to change."""
    for node in order:
        data = np.asarray(node.data)
        if data.dtype.kind != "f" or np.all(np.isfinite(data)):
            continue
        bad = np.flatnonzero(~np.isfinite(data))
        sample = f" for sample {bad[0] + 1}" if data.ndim == 1 and data.size > 1 else ""
        what = f"the value of {namer.name(node)} itself is not finite" if node.op is None else \
            f"{cause_in_words(node)} at node {namer.name(node)}{sample}"
        verb = "overflowed" if "overflow" in what else "is not finite"
        return (f"the forward pass {verb}: {what}, so {loss_name} = {number(float(np.asarray(order[-1].data).sum()))} "
                "and there is no gradient to work out; use smaller starting values or inputs (at a later "
                "iteration, a smaller learning rate)")
    return ""


def explain(
    loss: Tensor,
    wrt: Tensor,
    *,
    digits: int = 2,
    form: str = "auto",
    lr: float | None = None,
    index: tuple[int, ...] | int | None = None,
    max_terms: int = 64,
    step_rule: str = "gradient_descent",
    step: float | None = None,
    moments: tuple[float, float, float] | None = None,
    prepared: Prepared | None = None,
    factors: str = "rounded",
) -> Explanation:
    """Work out d loss / d wrt by the chain rule, from the recorded graph.

    ``form`` is "paths" (every path, sample by sample), "delta" (layer by layer) or "auto"
    (paths for a single entry when there are at most ``max_terms`` terms, else delta).
    ``index`` picks the entry of a tensor parameter for the paths form. With ``lr``, the
    gradient-descent step (step size and new value) is worked out too; ``step_rule``, ``step``
    and ``moments`` (Adam's m̂, v̂, ε) describe another optimizer's step. ``prepared`` is the
    structure of this explanation of this very graph, built once (see ``explain.plan``).
    ``factors="exact"`` renders each line's factors with enough digits for its arithmetic to hold,
    with no rounding notes (each rendering method also takes ``factors=``).
    """
    if not isinstance(loss, Tensor) or not isinstance(wrt, Tensor):
        raise TypeError("explain(loss, wrt=...) takes two tensors: the loss and a parameter")
    if loss.data.size != 1:
        raise ValueError(f"the loss must be a single number, got shape {loss.shape}; reduce it first (.sum())")
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r} (choose from: {', '.join(FORMS)})")
    if not 0 <= int(digits) <= 12:
        raise ValueError(f"digits must be between 0 and 12, got {digits}")
    check_factors(factors)
    if prepared is not None:
        order = prepared.order
    else:
        order = topological_order(loss) if loss.requires_grad else [loss]
    namer = namer_for(order, loss, wrt)
    loss_name, wrt_name = namer.name(loss), namer.name(wrt)
    problem = not_finite(order, namer, loss_name)
    if problem:
        raise ValueError(problem)
    if all(n is not wrt for n in order):
        zero = np.zeros_like(wrt.data)
        exp = Explanation(loss_name, wrt_name, to_json_value(zero), "none", digits, factors=factors)
        exp.blocks = [Block("heading", [f"d{loss_name}/d{wrt_name}"]),
                      Block("para", [f"{loss_name} does not depend on {wrt_name} here (or {wrt_name} does not "
                                     "require a gradient), so the gradient is 0."])]
        return exp
    with np.errstate(all="ignore"):  # a gradient that is not finite is said in words below, not warned of
        grads = prepared.grads if prepared is not None else backprop(loss, np.ones_like(loss.data), order)
    engine = grads[id(wrt)]
    if not np.all(np.isfinite(engine)):
        raise ValueError(f"the backward pass overflowed on the way to {wrt_name}: d{loss_name}/d{wrt_name} is "
                         f"{number(float(np.asarray(engine).reshape(-1)[np.flatnonzero(~np.isfinite(engine))[0]]))}; "
                         "use smaller starting values or inputs (at a later iteration, a smaller learning rate)")
    paths = prepared.paths if prepared is not None else Paths(order, loss, wrt)

    if index is not None:
        target = (index,) if isinstance(index, int) else tuple(index)
        if len(target) != wrt.data.ndim or any(not 0 <= i < n for i, n in zip(target, wrt.shape)):
            raise ValueError(f"index {index} does not fit {wrt_name}, which has shape {wrt.shape}")
    else:
        target = (0,) * wrt.data.ndim
    use_paths = form == "paths" or (form == "auto" and (wrt.data.size == 1 or index is not None))
    blocks: list[Block] = []
    details: dict[str, Any] = {}
    fallback = ""
    entry = None
    if use_paths:
        limit = paths_limit(form, max_terms)
        try:
            if prepared is not None:
                if prepared.found is None:
                    raise TooManyPathsError("not path by path")
                found = prepared.found
            else:
                if paths.cost(order) > MAX_LINK_WORK:
                    raise TooManyPathsError("too much work entry by entry")
                found = paths.enumerate(target, limit)
        except TooManyPathsError:
            use_paths = False
            shown_wrt = term(namer, wrt, target, "text", False, None)[0]
            param_latex = term(namer, wrt, target, "latex", False, None)[0]
            make = prepared.entry if prepared is not None and prepared.entry is not None else entry_blocks
            entry = make(loss, wrt, target, order, grads, namer, digits, loss_name, shown_wrt, param_latex)
            if entry is None and form == "paths":
                raise ValueError(f"d{loss_name}/d{wrt_name} has more than {limit} terms entry by entry; "
                                 "use the layer-by-layer form (form='delta', --form delta)") from None
            if entry is None and index is not None:
                fallback = (f"entry by entry this gradient has more than {max_terms} terms, so it is shown layer by "
                            "layer; ask for the paths form (form='paths', --form paths) to see every term")
    if entry is not None:
        blocks.append(Block("heading", [f"d{loss_name}/d{shown_wrt}"]))
        if form == "paths":
            blocks.append(Block("note", [f"entry by entry this gradient has more than {limit} paths; here they are "
                                         "grouped by sample, one term each"]))
        body, details = entry
        blocks += body
        gradient: Any = float(engine[target])
        form_used = "entry"
        old = element(wrt, target)
        param_label = shown_wrt
    elif use_paths:
        terms = [split(p, namer, loss) for p in found]
        exact = float(engine[target]) if engine.ndim else float(engine)
        total = math.fsum(t.value for t in terms)
        tol = 1e-9 if engine.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the paths
        if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * 1e-3 * max(1.0, abs(exact))):
            raise AssertionError(f"the explanation of d{loss_name}/d{wrt_name} gives {total!r}, "
                                 f"the engine {exact!r}: please report this as a bug")
        shown_wrt = term(namer, wrt, target if wrt.data.ndim else (), "text", False, None)[0]
        blocks.append(Block("heading", [f"d{loss_name}/d{shown_wrt}"]))
        param_latex = term(namer, wrt, target if wrt.data.ndim else (), "latex", False, None)[0]
        one_sample = index is not None and not isinstance(wrt, Parameter) and wrt.data.ndim >= 1  # h1_1, not h1_i
        body, details = _paths_blocks(loss_name, shown_wrt, param_latex, terms, namer, digits, exact, order,
                                      general=not one_sample)
        blocks += body
        gradient = exact
        form_used = "paths"
        old = element(wrt, target)
        param_label = shown_wrt
    else:
        blocks.append(Block("heading", [f"d{loss_name}/d{wrt_name}, layer by layer"]))
        if fallback:
            blocks.append(Block("note", [fallback]))
        plan = (prepared.delta if prepared is not None and prepared.delta is not None
                else delta_plan(loss, wrt, order, namer, paths.reach))
        body, details = _delta_blocks(plan, grads, digits)
        blocks += body
        gradient = engine.copy() if engine.ndim else float(engine)
        form_used = "delta"
        old = None
        param_label = param_latex = wrt_name
    details["index"] = list(target) if (use_paths or entry is not None) and wrt.data.ndim else None
    if lr is not None and old is not None:
        working = step_working(param_label, gradient, float(lr), old, digits, loss_name,
                               latex_param=param_latex, rule=step_rule, step=step, moments=moments)
        blocks.append(Block("para", [step_rule_text(step_rule)]))
        blocks += lines_with_notes(working)
        s = gradient * float(lr) if step is None else step
        details["step"] = {"learning_rate": float(lr), "step_size": s, "old": old, "new": old - s}
    return Explanation(loss_name, wrt_name, gradient, form_used, digits, blocks, details, factors)
