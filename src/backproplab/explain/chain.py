"""The paths form of a worked gradient (scalar networks such as the dosage example): one term per
path from the loss to the parameter, cut into factors at every named node, sample by sample, summed;
each line of numbers also in an exact-factors form whose arithmetic holds as shown."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backproplab.engine.autodiff import op_of
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import HEAD, ROWS_IN_FULL, TAIL, Block, Math, lines_with_notes
from backproplab.explain.formulas import d, define, definitions, num, product
from backproplab.explain.paths import Factor, Term
from backproplab.explain.symbols import LOSS_OPS, Namer, latex_name, term
from backproplab.util.numbers import enough_digits, hand_decimal, holds, number, precision, rounding_note, sum_note

WIDE = 100  # a sum of terms longer than this is written one term per line
SHORT = 24  # a factor whose formula with numbers fits in this many characters is shown filled in
MOST_DIGITS = 12  # the most digits the exact-factors form shows a factor with


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


def _numbers_lines(lhs: dict[str, str], ordered: list[Term], labels: list[str], namer: Namer, digits: int,
                   term_digits: int, factor_digits: dict[int, int], total: float, cache: dict) -> NumberLines:
    """The terms with their factors put in (each term's at its own digits), the products (at
    ``term_digits``) and the total (at ``digits``); ``labels``: the terms' labels (:func:`_term_labels`)."""
    pieces = [[_shown_factor(f, namer, factor_digits[i], cache) for f in t.factors] for i, t in enumerate(ordered)]
    shown = {fmt: [product([p[fmt] for p in term_pieces], fmt, keep_ones=True) for term_pieces in pieces]
             for fmt in ("text", "latex")}
    if len(ordered) <= 6 and all(len(s) <= 3 * SHORT for s in shown["text"]):
        lines = _summed_lines(lhs, ordered, shown, term_digits)
    else:
        lines = _labelled_lines(lhs, ordered, shown, labels, term_digits)
    products_at = len(lines) - 1 if len(ordered) > 1 else len(lines)
    lines.append(Math(f"= {num(total, digits, 'text')}", rf"&= {num(total, digits, 'latex')}"))
    return NumberLines(lines, pieces, shown["text"], products_at)


def _added(values: list[float], digits: int, fmt: str) -> str:
    """Numbers joined by +, a negative one in parentheses."""
    return " + ".join(num(v, digits, fmt, True) for v in values)


def _summed_lines(lhs: dict[str, str], ordered: list[Term], shown: dict[str, list[str]],
                  term_digits: int) -> list[Math]:
    """A few short terms: written as one sum (one term per line when it is long), then their products."""
    joined = " + ".join(shown["text"])
    if len(joined) > WIDE:  # one term per line, as the LaTeX form does
        joined = "\n    + ".join(shown["text"])
    # a term that starts with a minus is braced, so "+ −2" is set as a sign, not as "+ − 2"
    terms = [f"{{{t}}}" if t.startswith("-") and k else t for k, t in enumerate(shown["latex"])]
    lines = [Math(f"{lhs['text']} = " + joined, rf"{lhs['latex']} &= " + r" \\ &\quad + ".join(terms))]
    values = [t.value for t in ordered]
    sums = _added(values, term_digits, "text")
    if len(ordered) > 1 and sums != joined:  # a single term, or terms already numbers: shown next
        lines.append(Math("= " + sums, "&= " + _added(values, term_digits, "latex")))
    return lines


def _labelled_lines(lhs: dict[str, str], ordered: list[Term], shown: dict[str, list[str]], labels: list[str],
                    term_digits: int) -> list[Math]:
    """Many or long terms: one line each, labelled by its sample or path, then their products added."""
    lines = []
    for t, s_t, s_l, label in zip(ordered, shown["text"], shown["latex"], labels):
        lines.append(Math(f"{label}: {s_t} = {num(t.value, term_digits, 'text')}",
                          rf"\text{{{label}}}&: {s_l} = {num(t.value, term_digits, 'latex')}"))
    values = [t.value for t in ordered]
    lines.append(Math(f"{lhs['text']} = " + _added(values, term_digits, "text"),
                      rf"{lhs['latex']} &= " + _added(values, term_digits, "latex")))
    return lines


def _exact_factors_lines(lhs: dict[str, str], ordered: list[Term], labels: list[str], namer: Namer, digits: int,
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
        for shown in range(term_digits if len(ordered) > 1 else digits, MOST_DIGITS + 1):
            if holds(_hand_product([_shown_factor(f, namer, shown, cache)["text"] for f in t.factors], t.factors),
                     target):
                factor_digits[i] = shown
                break
        else:
            found = False
    if found and term_digits == digits and all(n == digits for n in factor_digits.values()):
        return rounded  # the rounded lines hold already
    out = _numbers_lines(lhs, ordered, labels, namer, digits, term_digits, factor_digits, total, cache)
    out.holds = found
    return out


SIGMA = {"text": "Σ_i ", "latex": r"\sum_{i} "}  # in front of a chain whose terms are the samples
OVER_PATHS = {"text": "Σ_paths ", "latex": r"\sum_{\text{paths}} "}  # in front of one that stands for several paths


def _chains(terms: list[Term], namer: Namer) -> dict[str, list[Term]]:
    """The terms grouped by their chain of factors, so one chain is written once for all its samples."""
    chains: dict[str, list[Term]] = {}
    for t in terms:
        key = " · ".join("/".join(_factor_name(f, namer, "text", True)) for f in t.factors)
        chains.setdefault(key, []).append(t)
    return chains


def _largest_chains(chains: dict[str, list[Term]]) -> tuple[list[list[Term]], int]:
    """The chains the chain rule writes out, in their order, and how many it leaves out: all of them, or,
    as a long table keeps its rows, the few whose terms add up to the most (in size)."""
    groups = list(chains.values())
    if len(groups) <= ROWS_IN_FULL:
        return groups, 0
    size = [abs(math.fsum(t.value for t in group)) for group in groups]
    kept = sorted(sorted(range(len(groups)), key=lambda k: -size[k])[:HEAD + TAIL])
    return [groups[k] for k in kept], len(groups) - len(kept)


def _chain_form(chains: dict[str, list[Term]], namer: Namer, fmt: str, general: bool) -> str:
    """The chain rule in symbols: each chain's factors, summed over what its terms stand for."""
    pieces = []
    groups, left_out = _largest_chains(chains)
    for group in groups:
        first = group[0]
        factors = (" · " if fmt == "text" else r" \cdot ").join(
            d(*_factor_name(f, namer, fmt, general), fmt) for f in first.factors)
        if len(group) > 1:  # Σ_i where the terms are the samples; otherwise the paths themselves
            factors = (SIGMA if _indexed(first, namer) else OVER_PATHS)[fmt] + factors
        pieces.append(factors)
    if left_out:
        smaller = f"({left_out} smaller terms)"
        pieces.append(f"… {smaller}" if fmt == "text" else rf"\dots \text{{ {smaller}}}")
    return " + ".join(pieces)


def factor_line(f: Factor, namer: Namer, general: bool = True) -> tuple[str, str]:
    """A factor's name (dŷ_i/dh1_i) and its line with its formula from the op table (dŷ_i/dh1_i = w3)."""
    name = d(*_factor_name(f, namer, "text", general), "text")
    return name, f"{name} = {_factor_formula(f, namer, 'text', general, None)}"


def _factor_lines(chains: dict[str, list[Term]], namer: Namer, general: bool) -> list[Math]:
    """Each factor of the chains once, with its formula."""
    lines = []
    seen = set()
    for group in chains.values():
        for f in group[0].factors:
            name_t = d(*_factor_name(f, namer, "text", general), "text")
            if name_t in seen:
                continue
            seen.add(name_t)
            name_l = d(*_factor_name(f, namer, "latex", general), "latex")
            lines.append(Math(f"{name_t} = {_factor_formula(f, namer, 'text', general, None)}",
                              f"{name_l} = {_factor_formula(f, namer, 'latex', general, None)}"))
    return lines


def _product_notes(ordered: list[Term], rounded: NumberLines, labels: list[str], digits: int) -> list[str]:
    """One note (or none) on the terms whose rounded factors, multiplied by hand, give another product
    than the one shown; the first three are named."""
    found = []
    for t, term_pieces, label in zip(ordered, rounded.pieces, labels):
        if len(t.factors) > 1:
            hand = _hand_product([p["text"] for p in term_pieces], t.factors)
            if rounding_note(hand, t.value, digits):
                exactly = num(t.value, max(digits + 4, 6), 'text')
                found.append(f"{label}: {number(float(hand), digits)}, exactly {exactly}, "
                             f"shown as {num(t.value, digits, 'text')}")
    if not found:
        return []
    more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
    return ["the rounded factors shown multiply to other values than the products shown ("
            + "; ".join(found[:3]) + more + ")"]


def _noted_lines(rounded: NumberLines, exact: NumberLines, product_notes: list[str],
                 sum_note_: str) -> list[tuple[Math, str, bool]]:
    """The lines with the numbers put in, each carrying its exact-factors form, and the note under each."""
    lines = [Math(r.text, r.latex, q if q != r else None) for r, q in zip(rounded.lines, exact.lines)]
    notes = {k: "" for k in range(len(lines))}
    notes[rounded.products_at] = product_notes[0] if product_notes else ""
    last = len(lines) - 1
    if sum_note_:  # the sum's note goes under the total, after a note on the products if they share the line
        notes[last] = f"{notes[last]}; {sum_note_}" if notes[last] else sum_note_
    return [(line, notes[k], exact.holds) for k, line in enumerate(lines)]


def paths_blocks(loss_name: str, wrt_text: str, wrt_latex: str, terms: list[Term], namer: Namer, digits: int,
                  total: float, order: list[Tensor], general: bool = True) -> tuple[list[Block], dict[str, Any]]:
    """The paths form. ``general`` writes the chain with sample i (ŷ_i); a single sample's entry (h1_1)
    writes it with that sample's own index instead (ŷ_1)."""
    chains = _chains(terms, namer)
    chain_rule = {fmt: _chain_form(chains, namer, fmt, general) for fmt in ("text", "latex")}
    lhs = {"text": d(loss_name, wrt_text, "text"), "latex": d(latex_name(loss_name), wrt_latex, "latex")}
    blocks = [Block("para", [f"By the chain rule, along every path from the loss to {wrt_text}:"]),
              Block("lines", lines=[Math(f"{lhs['text']} = {chain_rule['text']}",
                                         rf"{lhs['latex']} = {chain_rule['latex']}")])]
    defined = _definitions(terms, namer, order, general)
    factor_lines = _factor_lines(chains, namer, general)
    said = " ".join([chain_rule["text"], *(line.text for line in factor_lines)])
    on_paths = {id(node) for t in terms for f in t.factors for node, _ in (f.top, f.bottom)}
    nodes = (*order, *(p for n in order for p in n.parents))
    defined += definitions(said, nodes, namer, on_paths)
    if defined:
        blocks += [Block("para", ["where"]), Block("lines", lines=defined)]
    blocks += [Block("para", ["Each factor is the local derivative of the op that links the two nodes:"]),
               Block("lines", lines=factor_lines),
               Block("para", [f"Putting in the numbers ({precision(digits)}; everything is computed exactly):"])]
    ordered = [t for group in chains.values() for t in group]
    labels = _term_labels(ordered, namer)
    cache: dict = {}
    rounded = _numbers_lines(lhs, ordered, labels, namer, digits, digits, {i: digits for i in range(len(ordered))},
                             total, cache)
    exact = _exact_factors_lines(lhs, ordered, labels, namer, digits, total, rounded, cache)
    product_notes = _product_notes(ordered, rounded, labels, digits)
    note = sum_note([t.value for t in ordered], total, digits) if len(ordered) > 1 else ""
    blocks += lines_with_notes(_noted_lines(rounded, exact, product_notes, note))
    details = {
        "chain_rule": chain_rule["text"],
        "factors": [line.text for line in factor_lines],
        "terms": [{"label": label, "factors": [f.value for f in t.factors], "value": t.value, "shown": s}
                  for t, s, label in zip(ordered, rounded.shown, labels)],
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
            if op_of(node).name not in LOSS_OPS and op_of(node).elementwise]


def _term_label(t: Term, namer: Namer) -> str:
    """'sample 2' when the path runs through one sample, otherwise 'path'; :func:`_term_labels` tells
    apart the terms that share one."""
    for f in t.factors:
        node, idx = f.bottom
        symbol = term(namer, node, idx, "text", False, None)[0]
        general = term(namer, node, idx, "text", True, None)[0]
        if symbol != general and idx:
            return f"sample {idx[0] + 1}"
    return "path"


def _term_labels(ordered: list[Term], namer: Namer) -> list[str]:
    """Each term's label, unique: 'sample 1' alone when it is that sample's only path; else the sample and
    the named entries its path passes that the sample's other paths do not ('sample 1 via z2[1,3]'), or,
    where named entries do not tell them apart, its place among them ('sample 1, path 2')."""
    labels = [_term_label(t, namer) for t in ordered]
    shared: dict[str, list[int]] = {}
    for k, label in enumerate(labels):
        shared.setdefault(label, []).append(k)
    out = list(labels)
    for label, ks in shared.items():
        if len(ks) > 1:
            via = _told_apart([ordered[k] for k in ks], namer)
            for n, k in enumerate(ks):
                out[k] = f"{label} via {via[n]}" if via else f"{label}, path {n + 1}"
    return out


def _told_apart(terms: list[Term], namer: Namer) -> list[str] | None:
    """Per term, the named entries its path passes where the others' paths pass other ones; None when
    they do not tell every term apart."""
    passed = [[term(namer, *f.bottom, "text", False, None)[0] for f in t.factors if f.bottom[0].name] for t in terms]
    width = max(len(p) for p in passed)
    padded = [p + [""] * (width - len(p)) for p in passed]
    differ = [i for i in range(width) if len({p[i] for p in padded}) > 1]
    via = [", ".join(p[i] for i in differ if p[i]) for p in padded]
    return via if all(via) and len(set(via)) == len(via) else None
