"""The gradients an explanation reads: d loss / d node for the nodes that depend on the tensor explained.

The engine's backward pass works out the gradient of every node; an explanation of one parameter reads
only the nodes between it and the loss (its δ steps, the δ of its layer, its own gradient). The other
parameters' VJPs, a wide layer's weight gradient among them, would cost more than the whole explanation.
The VJPs are the op table's, run in the engine's order and added in its order, so every value is the
engine's own, bit for bit.
"""

from __future__ import annotations

import numpy as np

from backproplab.engine import inplace
from backproplab.engine.autodiff import check_inputs, unbroadcast
from backproplab.engine.tensor import Tensor


def gradients_between(order: list[Tensor], loss: Tensor, reach: set[int]) -> dict[int, np.ndarray]:
    """d loss / d node, by ``id``, for the nodes of ``order`` (the loss last) whose ids are in ``reach``
    (those that depend on the tensor explained) and the loss itself."""
    grads: dict[int, np.ndarray] = {id(loss): np.ones_like(loss.data)}
    now = inplace.changes
    for node in reversed(order):
        g = grads.get(id(node))
        if node.op is None or g is None:
            continue
        if node._tick != now:  # an input changed in place since this node was recorded: refused, as backward does
            check_inputs(node)
        args = [p.data for p in node.parents]
        attrs = node.attrs or {}
        for k, parent in enumerate(node.parents):
            if id(parent) not in reach or not parent.requires_grad:
                continue
            local = np.asarray(node.op.vjp(k)(g, node.data, *args, **attrs))
            if local.shape != args[k].shape:
                local = unbroadcast(local, args[k].shape)
            prev = grads.get(id(parent))
            grads[id(parent)] = local if prev is None else prev + local
    return grads
