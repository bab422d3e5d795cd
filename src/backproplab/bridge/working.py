"""The structure of one entry's explanation in a converted model, where a Linear layer's weight is used
through its transpose.

A converted Linear layer keeps PyTorch's (out, in) layout and computes x Wᵀ + b, so its weight
reaches the matmul through a transpose. When the entry's paths are too many to write out, the
entry form still applies: W[o, i] multiplies input i into unit o, once per sample, so
dL/dW[o,i] = Σ_s δ_z[s,o] · x[s,i], the same working as for x·W with the entry's indices swapped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.autodiff import backprop, topological_order
from backproplab.engine.tensor import Tensor
from backproplab.explain.core import Explanation, Prepared, explain
from backproplab.explain.entry import EntryPlan, alias_chain, entry_blocks, entry_work, named_alias
from backproplab.explain.paths import Paths
from backproplab.explain.symbols import Namer


def _users(order: list[Tensor], node: Tensor) -> list[Tensor]:
    return [n for n in order if n.op is not None and any(p is node for p in n.parents)]


def _transposed_matmul(wrt: Tensor, order: list[Tensor]) -> Tensor | None:
    """The matmul x·Wᵀ (x a (samples, in) matrix) when it is the one use of ``wrt``, through a transpose."""
    users = _users(order, wrt)
    if wrt.data.ndim != 2 or len(users) != 1 or users[0].op.name != "transpose":
        return None
    matmuls = _users(order, users[0])
    if len(matmuls) != 1 or matmuls[0].op.name != "matmul" or matmuls[0].parents[1] is not users[0]:
        return None
    return matmuls[0] if matmuls[0].parents[0].data.ndim == 2 else None


def transposed_plan(wrt: Tensor, order: list[Tensor], namer: Namer) -> EntryPlan | None:
    """The entry form's structure when ``wrt`` is used once, as Wᵀ in x·Wᵀ with x a (samples, in) matrix."""
    user = _transposed_matmul(wrt, order)
    return None if user is None else EntryPlan(user, user.parents[0], alias_chain(order, user, namer))


def entry_through_transpose(loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor],
                            grads: dict[int, np.ndarray], namer: Namer, digits: int, loss_name: str,
                            shown_wrt: str, param_latex: str) -> tuple[list, dict[str, Any]] | None:
    """The entry form for ``wrt[target]``, as ``explain``'s own entry form gives it, also for a weight
    used as Wᵀ; None where neither applies (the layer-by-layer form is the way)."""
    found = entry_blocks(loss, wrt, target, order, grads, namer, digits, loss_name, shown_wrt, param_latex)
    if found is not None:
        return found
    plan = transposed_plan(wrt, order, namer)
    if plan is None:
        return None
    unit, feature = target
    through = named_alias(plan.chain, grads)
    return entry_work(plan, (feature, unit), through, grads[id(through)][:, unit], plan.inputs.data[:, feature],
                      float(grads[id(wrt)][target]), namer, digits, loss_name, shown_wrt, param_latex)


def explain_entry(loss: Tensor, wrt: Tensor, index: tuple[int, ...] | None, form: str, **options: Any
                  ) -> Explanation:
    """``explain``, except that an entry of a weight used as Wᵀ, which ``explain`` would show layer by layer
    for want of a short working, is shown in the entry form: one term per sample."""
    order = topological_order(loss) if loss.requires_grad else [loss]
    if index is None or form == "delta" or _transposed_matmul(wrt, order) is None:
        return explain(loss, wrt=wrt, index=index, form=form, **options)
    try:
        exp = explain(loss, wrt=wrt, index=index, form=form, **options)
        if exp.form != "delta":
            return exp
    except ValueError:  # the paths form asked for, with too many terms
        if form != "paths":
            raise
    with np.errstate(all="ignore"):  # a gradient that is not finite is said by explain, in words
        grads = backprop(loss, np.ones_like(loss.data), order)
    prepared = Prepared(order, Paths(order, loss, wrt), None, grads, entry=entry_through_transpose)
    return explain(loss, wrt=wrt, index=index, form=form, prepared=prepared, **options)
