"""One entry of a layer's weight or bias, worked out short: the δ of its unit for each sample, times
the input it multiplies, summed over the samples (dL/dW1[1,2] = Σ_i δ_z1[i,2] · x[i,1]).

In a wide network the entry-by-entry chain rule has thousands of paths; grouped by sample it has
one term per sample. The δ values are the engine's; the sum is checked against its gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Block, Math
from backproplab.explain.symbols import Namer, fmt_number, latex_name, sym
from backproplab.util.numbers import enough_digits, number, precision, sum_note

HEAD, TAIL = 8, 2  # samples shown of a long sum: the first and the last few


def _consumer(order: list[Tensor], wrt: Tensor) -> Tensor | None:
    """The one op that uses ``wrt``, or None when it is used more than once."""
    users = [node for node in order if node.op is not None and any(p is wrt for p in node.parents)]
    return users[0] if len(users) == 1 else None


def alias_chain(order: list[Tensor], node: Tensor, namer: Namer) -> list[Tensor]:
    """``node`` and the adds above it that may pass its gradient straight through, up to a named node
    (z1 above x·W1, since adding b1 passes δ through); which of them shares the gradient is in
    :func:`named_alias`."""
    chain = [node]
    while not namer.stop(chain[-1]):
        users = [n for n in order if n.op is not None and any(p is chain[-1] for p in n.parents)]
        if len(users) != 1 or users[0].op.name != "add" or users[0].shape != chain[-1].shape:
            break
        chain.append(users[0])
    return chain


def named_alias(chain: list[Tensor], grads: dict[int, np.ndarray]) -> Tensor:
    """The last node of ``chain`` that still shares the first one's gradient."""
    for below, above in zip(chain, chain[1:]):
        if not np.array_equal(grads[id(above)], grads[id(below)]):
            return below
    return chain[-1]


@dataclass
class EntryPlan:
    """Which entry form a weight or bias has: the op that uses it, the inputs it multiplies (None
    for a bias) and the nodes that may carry its unit's δ. The numbers come separately."""

    user: Tensor
    inputs: Tensor | None
    chain: list[Tensor]


def entry_plan(wrt: Tensor, order: list[Tensor], namer: Namer) -> EntryPlan | None:
    """The entry form's structure when ``wrt`` is a layer's weight (x·W) or bias (+ b); None for any
    other use, where the layer-by-layer form is the way."""
    user = _consumer(order, wrt)
    if user is None or wrt.data.ndim not in (1, 2):
        return None
    if user.op.name == "matmul" and user.parents[1] is wrt and wrt.data.ndim == 2 and user.parents[0].data.ndim == 2:
        return EntryPlan(user, user.parents[0], alias_chain(order, user, namer))
    if (user.op.name == "add" and user.parents[1] is wrt and wrt.data.ndim == 1
            and user.data.ndim == 2 and user.shape[1] == wrt.shape[0]):
        return EntryPlan(user, None, alias_chain(order, user, namer))
    return None


def entry_blocks(loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor],
                 grads: dict[int, np.ndarray], namer: Namer, digits: int,
                 loss_name: str, shown_wrt: str, param_latex: str) -> tuple[list[Block], dict[str, Any]] | None:
    """The short working for ``wrt[target]`` when ``wrt`` is a layer's weight (x·W) or bias (+ b);
    None for any other use, where the layer-by-layer form is the way."""
    plan = entry_plan(wrt, order, namer)
    if plan is None:
        return None
    through = named_alias(plan.chain, grads)
    k = target[-1]
    factor_values = plan.inputs.data[:, target[0]] if plan.inputs is not None else np.ones(plan.user.shape[0])
    return entry_work(plan, target, through, grads[id(through)][:, k], factor_values, float(grads[id(wrt)][target]),
                      namer, digits, loss_name, shown_wrt, param_latex)


def entry_work(plan: EntryPlan, target: tuple[int, ...], through: Tensor, delta: np.ndarray,
               factor_values: np.ndarray, exact: float, namer: Namer, digits: int, loss_name: str, shown_wrt: str,
               param_latex: str, terms: np.ndarray | None = None) -> tuple[list[Block], dict[str, Any]]:
    """The entry form with its numbers put in: δ of the unit per sample, the factor it is multiplied by
    (``terms`` is their product when it was already worked out) and the engine's gradient."""
    k = target[-1]
    if plan.inputs is not None:
        j = target[0]
        factor_sym = {fmt: sym(namer, plan.inputs, (0, j)).render(fmt, True) for fmt in ("text", "latex")}
        role = (f"{shown_wrt} multiplies input {j + 1} ({factor_sym['text']}) into unit {k + 1} of "
                f"{namer.name(through)}, once for every sample")
    else:
        factor_sym = {"text": "1", "latex": "1"}
        role = f"{shown_wrt} is added to unit {k + 1} of {namer.name(through)}, once for every sample"
    terms = delta * factor_values if terms is None else terms
    total = math.fsum(terms)
    tol = 1e-9 if delta.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the samples
    if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * 1e-3 * max(1.0, abs(exact))):
        raise AssertionError(f"the sum over samples of d{loss_name}/d{shown_wrt} gives {total!r}, the engine "
                             f"{exact!r}: please report this as a bug")
    zt, zl = namer.name(through), latex_name(namer.name(through))
    d_t = f"δ_{zt}[i,{k + 1}]"
    d_l = rf"\left(\delta_{{{zl}}}\right)_{{i,{k + 1}}}"  # (δ_{z_1})_{i,2}: its own subscripts apart from the entry's
    lhs_t, lhs_l = f"d{loss_name}/d{shown_wrt}", rf"\frac{{\partial {latex_name(loss_name)}}}{{\partial {param_latex}}}"
    general_t = f"Σ_i {d_t} · {factor_sym['text']}" if factor_sym["text"] != "1" else f"Σ_i {d_t}"
    general_l = (rf"\sum_{{i}} {d_l} \cdot {factor_sym['latex']}" if factor_sym["text"] != "1"
                 else rf"\sum_{{i}} {d_l}")
    n = len(terms)
    blocks = [
        Block("para", [f"{role}. By the chain rule, summed over the samples, with δ_{zt} = d{loss_name}/d{zt} "
                       "(the layer-by-layer form shows how δ comes down from the loss):"]),
        Block("lines", lines=[Math(f"{lhs_t} = {general_t}", f"{lhs_l} = {general_l}")]),
    ]
    rows_at = list(range(n)) if n <= HEAD + TAIL + 2 else list(range(HEAD)) + [-1] + list(range(n - TAIL, n))
    header = [Math("sample i", r"\text{sample } i"), Math(d_t, d_l)]
    if factor_sym["text"] != "1":
        header += [Math(factor_sym["text"], factor_sym["latex"]), Math("product", r"\text{product}")]
    rows = []
    for i in rows_at:
        if i < 0:
            gap = f"… {n - HEAD - TAIL} more"
            gap_cell = Math(gap, rf"\text{{{gap.replace('…', '...')}}}")
            rows.append([gap_cell] + [Math("…", r"\vdots")] * (len(header) - 1))
            continue
        row = [Math(str(i + 1), str(i + 1)),
               Math(fmt_number(delta[i], digits, "text"), fmt_number(delta[i], digits, "latex"))]
        if factor_sym["text"] != "1":
            row += [Math(fmt_number(factor_values[i], digits, "text", True),
                         fmt_number(factor_values[i], digits, "latex", True)),
                    Math(fmt_number(terms[i], digits, "text"), fmt_number(terms[i], digits, "latex"))]
        rows.append(row)
    blocks.append(Block("para", [f"Putting in the numbers ({precision(digits)}; everything is computed exactly):"]))
    blocks.append(Block("table", header=header, rows=rows))
    quiet = True  # whether the exact-factors form leaves the note unneeded
    if n <= HEAD + TAIL + 2:
        def summed(d: int) -> Math:
            sum_t = " + ".join(f"({fmt_number(v, d, 'text')})" if v < 0 else fmt_number(v, d, "text") for v in terms)
            sum_l = " + ".join(f"({fmt_number(v, d, 'latex')})" if v < 0 else fmt_number(v, d, "latex") for v in terms)
            return Math(f"{lhs_t} = {sum_t}", f"{lhs_l} = {sum_l}")
        lines = [summed(digits)]
        note = sum_note(terms, exact, digits)
        if note:  # the terms with enough digits to add up to the total shown
            d = enough_digits([float(v) for v in terms], lambda v: sum(v, Decimal(0)), number(exact, digits, "-"),
                              digits)
            quiet = d is not None
            if quiet:
                lines = [Math(lines[0].text, lines[0].latex, summed(d))]
    else:
        lines = [Math(f"{lhs_t} = the sum of the {n} products", rf"{lhs_l} = \text{{the sum of the {n} products}}")]
        note = ""
    lines.append(Math(f"= {fmt_number(exact, digits, 'text')}", f"= {fmt_number(exact, digits, 'latex')}"))
    blocks.append(Block("lines", lines=lines))
    if note:
        blocks.append(Block("note", [note], rounded_only=quiet))
    details = {"delta_of": zt, "unit": k + 1, "input": factor_sym["text"], "deltas": delta, "inputs": factor_values,
               "terms": [{"label": f"sample {i + 1}", "value": float(t)} for i, t in enumerate(terms)]}
    return blocks, details
