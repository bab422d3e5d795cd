"""One entry of a layer's weight or bias, worked out short: the δ of its unit for each sample, times
the input it multiplies, summed over the samples (dL/dW1[2,1] = Σ_i δ_z1[i,2] · x[i,1]).

A weight is used as x·W (W is (in, out): entry [i, j] is input i into unit j) or, as in ``Linear``
and PyTorch, as x·Wᵀ (W is (out, in): entry [j, i] is input i into unit j); the working is the same.

In a wide network the entry-by-entry chain rule has thousands of paths; grouped by sample it has
one term per sample. The δ values are the engine's; the sum is checked against its gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import ROWS_IN_FULL, Block, Math, gap_row, shown_rows
from backproplab.explain.symbols import Namer, fmt_number, latex_name, sym
from backproplab.util.numbers import enough_digits, number, precision, sum_note


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
        if len(users) != 1 or op_of(users[0]).name != "add" or users[0].shape != chain[-1].shape:
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
    for a bias), the nodes that may carry its unit's δ and whether the weight is used as Wᵀ (its
    entry [j, i] is then unit j, input i). The numbers come separately."""

    user: Tensor
    inputs: Tensor | None
    chain: list[Tensor]
    transposed: bool = False

    def unit(self, target: tuple[int, ...]) -> int:
        """The unit (column of the layer's output) the entry feeds."""
        return target[0] if self.transposed else target[-1]

    def feature(self, target: tuple[int, ...]) -> int:
        """The input (column of ``inputs``) the entry multiplies."""
        return target[-1] if self.transposed else target[0]


def _matmul_of_transpose(order: list[Tensor], user: Tensor) -> Tensor | None:
    """The matmul x·Wᵀ (x a (samples, in) matrix) that is the one use of ``user``, an unnamed transpose of W."""
    if op_of(user).name != "transpose" or user.name is not None or user.data.ndim != 2:
        return None
    matmul = _consumer(order, user)
    if matmul is None or op_of(matmul).name != "matmul" or matmul.parents[1] is not user or matmul.parents[0] is user:
        return None
    return matmul if matmul.parents[0].data.ndim == 2 else None


def entry_plan(wrt: Tensor, order: list[Tensor], namer: Namer) -> EntryPlan | None:
    """The entry form's structure when ``wrt`` is a layer's weight (x·W or x·Wᵀ) or bias (+ b); None for
    any other use, where the layer-by-layer form is the way."""
    user = _consumer(order, wrt)
    if user is None or wrt.data.ndim not in (1, 2):
        return None
    if (op_of(user).name == "matmul" and user.parents[1] is wrt and wrt.data.ndim == 2
            and user.parents[0].data.ndim == 2):
        return EntryPlan(user, user.parents[0], alias_chain(order, user, namer))
    matmul = _matmul_of_transpose(order, user) if wrt.data.ndim == 2 else None
    if matmul is not None:
        return EntryPlan(matmul, matmul.parents[0], alias_chain(order, matmul, namer), transposed=True)
    if (op_of(user).name == "add" and user.parents[1] is wrt and wrt.data.ndim == 1
            and user.data.ndim == 2 and user.shape[1] == wrt.shape[0]):
        return EntryPlan(user, None, alias_chain(order, user, namer))
    return None


def entry_blocks(loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor],
                 grads: dict[int, np.ndarray], namer: Namer, digits: int,
                 loss_name: str, shown_wrt: str, param_latex: str) -> tuple[list[Block], dict[str, Any]] | None:
    """The short working for ``wrt[target]`` when ``wrt`` is a layer's weight (x·W or x·Wᵀ) or bias (+ b);
    None for any other use, where the layer-by-layer form is the way."""
    plan = entry_plan(wrt, order, namer)
    if plan is None:
        return None
    through = named_alias(plan.chain, grads)
    k = plan.unit(target)
    factor_values = plan.inputs.data[:, plan.feature(target)] if plan.inputs is not None \
        else np.ones(plan.user.shape[0])
    return entry_work(plan, target, through, grads[id(through)][:, k], factor_values, float(grads[id(wrt)][target]),
                      namer, digits, loss_name, shown_wrt, param_latex)


def _factor_and_role(plan: EntryPlan, target: tuple[int, ...], through: Tensor, namer: Namer,
                     shown_wrt: str) -> tuple[dict[str, str], str]:
    """What δ is multiplied by (the input, or 1 for a bias) and a sentence on the entry's part in the layer."""
    k = plan.unit(target)
    if plan.inputs is None:
        return {"text": "1", "latex": "1"}, f"{shown_wrt} is added to unit {k + 1} of {namer.name(through)}, once " \
                                             "for every sample"
    j = plan.feature(target)
    factor_sym = {fmt: sym(namer, plan.inputs, (0, j)).render(fmt, True) for fmt in ("text", "latex")}
    return factor_sym, (f"{shown_wrt} multiplies input {j + 1} ({factor_sym['text']}) into unit {k + 1} of "
                        f"{namer.name(through)}, once for every sample")


def _cell(value: float, digits: int, data: bool = False) -> Math:
    return Math(fmt_number(value, digits, "text", data), fmt_number(value, digits, "latex", data))


def _samples_table(delta: np.ndarray, factor_values: np.ndarray, terms: np.ndarray, factor_sym: dict[str, str],
                   d_sym: Math, digits: int) -> Block:
    """Per sample: δ, and (for a weight) the input and their product; a long table cut in the middle."""
    n = len(terms)
    header = [Math("sample i", r"\text{sample } i"), d_sym]
    if factor_sym["text"] != "1":
        header += [Math(factor_sym["text"], factor_sym["latex"]), Math("product", r"\text{product}")]
    rows = []
    for i in shown_rows(n):
        if i < 0:
            rows.append(gap_row(n, len(header) - 1))
            continue
        row = [Math(str(i + 1), str(i + 1)), _cell(delta[i], digits)]
        if factor_sym["text"] != "1":
            row += [_cell(factor_values[i], digits, True), _cell(terms[i], digits)]
        rows.append(row)
    return Block("table", header=header, rows=rows)


def _sum_lines(terms: np.ndarray, exact: float, lhs: Math, digits: int) -> tuple[list[Math], str, bool]:
    """The products added up to the gradient, the note on their rounding ('' if none) and whether the
    exact-factors form makes that note unneeded."""
    n = len(terms)
    if n > ROWS_IN_FULL:
        return [Math(f"{lhs.text} = the sum of the {n} products",
                     rf"{lhs.latex} = \text{{the sum of the {n} products}}"), _total(exact, digits)], "", True

    def summed(d: int) -> Math:
        sum_t = " + ".join(f"({fmt_number(v, d, 'text')})" if v < 0 else fmt_number(v, d, "text") for v in terms)
        sum_l = " + ".join(f"({fmt_number(v, d, 'latex')})" if v < 0 else fmt_number(v, d, "latex") for v in terms)
        return Math(f"{lhs.text} = {sum_t}", f"{lhs.latex} = {sum_l}")

    first = summed(digits)
    note = sum_note(terms, exact, digits)
    quiet = True
    if note:  # the terms with enough digits to add up to the total shown
        d = enough_digits([float(v) for v in terms], lambda v: sum(v, Decimal(0)), number(exact, digits, "-"), digits)
        quiet = d is not None
        if d is not None:
            first = Math(first.text, first.latex, summed(d))
    return [first, _total(exact, digits)], note, quiet


def _total(exact: float, digits: int) -> Math:
    return Math(f"= {fmt_number(exact, digits, 'text')}", f"= {fmt_number(exact, digits, 'latex')}")


def entry_work(plan: EntryPlan, target: tuple[int, ...], through: Tensor, delta: np.ndarray,
               factor_values: np.ndarray, exact: float, namer: Namer, digits: int, loss_name: str, shown_wrt: str,
               param_latex: str, terms: np.ndarray | None = None) -> tuple[list[Block], dict[str, Any]]:
    """The entry form with its numbers put in: δ of the unit per sample, the factor it is multiplied by
    (``terms`` is their product when it was already worked out) and the engine's gradient."""
    k = plan.unit(target)
    factor_sym, role = _factor_and_role(plan, target, through, namer, shown_wrt)
    terms = delta * factor_values if terms is None else terms
    total = math.fsum(terms)
    tol = 1e-9 if delta.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the samples
    if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * 1e-3 * max(1.0, abs(exact))):
        raise AssertionError(f"the sum over samples of d{loss_name}/d{shown_wrt} gives {total!r}, the engine "
                             f"{exact!r}: please report this as a bug")
    zt, zl = namer.name(through), latex_name(namer.name(through))
    # (δ_{z_1})_{i,2}: its own subscripts apart from the entry's
    d_sym = Math(f"δ_{zt}[i,{k + 1}]", rf"\left(\delta_{{{zl}}}\right)_{{i,{k + 1}}}")
    lhs = Math(f"d{loss_name}/d{shown_wrt}", rf"\frac{{\partial {latex_name(loss_name)}}}{{\partial {param_latex}}}")
    if factor_sym["text"] != "1":
        general = Math(f"Σ_i {d_sym.text} · {factor_sym['text']}",
                       rf"\sum_{{i}} {d_sym.latex} \cdot {factor_sym['latex']}")
    else:
        general = Math(f"Σ_i {d_sym.text}", rf"\sum_{{i}} {d_sym.latex}")
    lines, note, quiet = _sum_lines(terms, exact, lhs, digits)
    blocks = [
        Block("para", [f"{role}. By the chain rule, summed over the samples, with δ_{zt} = d{loss_name}/d{zt} "
                       "(the layer-by-layer form shows how δ comes down from the loss):"]),
        Block("lines", lines=[Math(f"{lhs.text} = {general.text}", f"{lhs.latex} = {general.latex}")]),
        Block("para", [f"Putting in the numbers ({precision(digits)}; everything is computed exactly):"]),
        _samples_table(delta, factor_values, terms, factor_sym, d_sym, digits),
        Block("lines", lines=lines),
    ]
    if note:
        blocks.append(Block("note", [note], rounded_only=quiet))
    details = {"delta_of": zt, "unit": k + 1, "input": factor_sym["text"], "deltas": delta, "inputs": factor_values,
               "terms": [{"label": f"sample {i + 1}", "value": float(t)} for i, t in enumerate(terms)]}
    return blocks, details
