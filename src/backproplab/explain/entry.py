"""One entry of a layer's weight or bias, worked out short: the δ of its unit for each sample, times
the input it multiplies, summed over the samples (dL/dW1[1,2] = Σ_i δ_z1[i,2] · x[i,1]).

In a wide network the entry-by-entry chain rule has thousands of paths; grouped by sample it has
one term per sample. The δ values are the engine's; the sum is checked against its gradient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backproplab.display import precision, sum_note
from backproplab.explain.document import Block, Math
from backproplab.explain.symbols import Namer, fmt_number, latex_name, sym
from backproplab.tensor import Tensor

HEAD, TAIL = 8, 2  # samples shown of a long sum: the first and the last few


def _consumer(order: list[Tensor], wrt: Tensor) -> Tensor | None:
    """The one op that uses ``wrt``, or None when it is used more than once."""
    users = [node for node in order if node.op is not None and any(p is wrt for p in node.parents)]
    return users[0] if len(users) == 1 else None


def _named_alias(order: list[Tensor], node: Tensor, namer: Namer, grads: dict[int, np.ndarray]) -> Tensor:
    """The named node that shares ``node``'s gradient (z1 for x·W1, since adding b1 passes δ through)."""
    current = node
    while not namer.stop(current):
        users = [n for n in order if n.op is not None and any(p is current for p in n.parents)]
        if len(users) != 1 or users[0].op.name != "add" or users[0].shape != current.shape:
            break
        if not np.array_equal(grads[id(users[0])], grads[id(current)]):
            break
        current = users[0]
    return current


def entry_blocks(loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor],
                 grads: dict[int, np.ndarray], namer: Namer, digits: int,
                 loss_name: str, shown_wrt: str, param_latex: str) -> tuple[list[Block], dict[str, Any]] | None:
    """The short working for ``wrt[target]`` when ``wrt`` is a layer's weight (x·W) or bias (+ b);
    None for any other use, where the layer-by-layer form is the way."""
    user = _consumer(order, wrt)
    if user is None or wrt.data.ndim not in (1, 2):
        return None
    if user.op.name == "matmul" and user.parents[1] is wrt and wrt.data.ndim == 2 and user.parents[0].data.ndim == 2:
        j, k = target
        inputs = user.parents[0]
        through = _named_alias(order, user, namer, grads)
        factor_values = inputs.data[:, j]
        factor_sym = {fmt: sym(namer, inputs, (0, j)).render(fmt, True) for fmt in ("text", "latex")}
        role = (f"{shown_wrt} multiplies input {j + 1} ({factor_sym['text']}) into unit {k + 1} of "
                f"{namer.name(through)}, once for every sample")
    elif (user.op.name == "add" and user.parents[1] is wrt and wrt.data.ndim == 1
          and user.data.ndim == 2 and user.shape[1] == wrt.shape[0]):
        (k,) = target
        through = _named_alias(order, user, namer, grads)
        factor_values = np.ones(user.shape[0])
        factor_sym = {"text": "1", "latex": "1"}
        role = f"{shown_wrt} is added to unit {k + 1} of {namer.name(through)}, once for every sample"
    else:
        return None
    delta = grads[id(through)][:, k]
    terms = delta * factor_values
    exact = float(grads[id(wrt)][target])
    total = math.fsum(terms)
    tol = 1e-9 if delta.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the samples
    if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * 1e-3 * max(1.0, abs(exact))):
        raise AssertionError(f"the sum over samples of d{loss_name}/d{shown_wrt} gives {total!r}, the engine "
                             f"{exact!r}: please report this as a bug")
    zt, zl = namer.name(through), latex_name(namer.name(through))
    d_t = f"δ_{zt}[i,{k + 1}]"
    d_l = rf"{{\delta_{{{zl}}}}}_{{i,{k + 1}}}"
    lhs_t, lhs_l = f"d{loss_name}/d{shown_wrt}", rf"\frac{{\partial {latex_name(loss_name)}}}{{\partial {param_latex}}}"
    general_t = f"Σ_i {d_t} · {factor_sym['text']}" if factor_sym["text"] != "1" else f"Σ_i {d_t}"
    general_l = (rf"\sum_{{i}} {d_l} \cdot {factor_sym['latex']}" if factor_sym["text"] != "1"
                 else rf"\sum_{{i}} {d_l}")
    n = len(terms)
    blocks = [
        Block("para", [f"{role}. By the chain rule, summed over the samples, with δ_{zt} = d{loss_name}/d{zt} "
                       "(the layer-by-layer form, --form delta, shows how δ comes down from the loss):"]),
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
    if n <= HEAD + TAIL + 2:
        sum_t = " + ".join(f"({fmt_number(v, digits, 'text')})" if v < 0 else fmt_number(v, digits, "text")
                           for v in terms)
        sum_l = " + ".join(f"({fmt_number(v, digits, 'latex')})" if v < 0 else fmt_number(v, digits, "latex")
                           for v in terms)
        lines = [Math(f"{lhs_t} = {sum_t}", f"{lhs_l} = {sum_l}")]
        note = sum_note(terms, exact, digits)
    else:
        lines = [Math(f"{lhs_t} = the sum of the {n} products", rf"{lhs_l} = \text{{the sum of the {n} products}}")]
        note = ""
    lines.append(Math(f"= {fmt_number(exact, digits, 'text')}", f"= {fmt_number(exact, digits, 'latex')}"))
    blocks.append(Block("lines", lines=lines))
    if note:
        blocks.append(Block("note", [note]))
    details = {"delta_of": zt, "unit": k + 1, "input": factor_sym["text"], "deltas": delta, "inputs": factor_values,
               "terms": [{"label": f"sample {i + 1}", "value": float(t)} for i, t in enumerate(terms)]}
    return blocks, details
