"""A recorded graph as flat programs over numbered slots: what ``bl.compile`` replays and codegen writes out.

Slots number the graph's nodes in topological order (the root last), then the constants its ops
read. The forward program says which op makes which node from which slots; the backward program,
outputs before inputs, lists each op node's edges to the inputs that need a gradient, in the order
``autodiff.gradients`` walks them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from backproplab.engine import inplace
from backproplab.engine.autodiff import fed_by, op_of, topological_order

if TYPE_CHECKING:
    from backproplab.engine.tensor import Tensor


class Tape:
    """One recorded graph: its nodes by slot, its forward and backward programs, and its inputs as recorded."""

    def __init__(self, root: Tensor) -> None:
        self.root = root
        self.order = topological_order(root)
        self.nodes, slot = _numbered(self.order)
        self.forward_program = _forward_program(self.order, slot)
        self.backward_program = _backward_program(self.order, slot)
        self.keep = [(i, n) for i, n in enumerate(self.order) if n.op is None or n._retain]  # the slots given .grad
        self.inputs = [(i, n) for i, n in enumerate(self.nodes) if n.op is None]
        self._state = [(n, n.data, n.data.shape, n.data.dtype, n.requires_grad) for _, n in self.inputs]
        self.seed = np.ones_like(root.data)  # read-only use: the vjps never write into their g

    def unchanged(self) -> bool:
        """Whether every input still has the shape, dtype, memory layout and requires_grad it was recorded with.

        The layout (strides) matters to the generated replay, whose buffers keep the recorded one.
        """
        for node, data, shape, dtype, flag in self._state:
            current = node.data
            if current is not data and (current.shape != shape or current.dtype != dtype
                                        or current.strides != data.strides):
                return False
            if node.requires_grad is not flag:
                return False
        return True

    def forward(self) -> list[np.ndarray]:
        """Recompute every op from the inputs' current data; the nodes' ``.data`` is updated too."""
        values: list[Any] = [None] * len(self.nodes)
        for i, n in self.inputs:
            values[i] = n.data
        now = inplace.changes  # every op recomputed from the inputs as they are now
        for i, node, forward, ins in self.forward_program:
            if len(ins) == 2:
                out = forward(values[ins[0]], values[ins[1]])
            else:
                out = forward(*[values[j] for j in ins])
            if not isinstance(out, np.ndarray):
                out = np.asarray(out)
            node.data = values[i] = out
            node._tick = now
        return values


def _bind(fn: Callable[..., Any], attrs: dict[str, Any] | None) -> Callable[..., Any]:
    """The op's function with its attributes (axis=…) filled in, so every call is positional."""
    return partial(fn, **attrs) if attrs else fn


def _numbered(order: list[Tensor]) -> tuple[list[Tensor], dict[int, int]]:
    """The graph's nodes (in ``order``) then the constants its ops read, and each one's slot by ``id``."""
    slot = {id(n): i for i, n in enumerate(order)}
    constants = []
    for node in order:
        for p in node.parents:
            if id(p) not in slot:
                slot[id(p)] = len(slot)
                constants.append(p)
    return order + constants, slot


def _backward_program(order: list[Tensor], slot: dict[int, int]) -> list[tuple[int, tuple[int, ...], list[Any]]]:
    """Per op node, outputs first: its slot, its inputs' slots, and (VJP, input slot, input shape) per edge."""
    program = []
    for i in range(len(order) - 1, -1, -1):
        node = order[i]
        op = node.op
        if op is None:
            continue
        edges = []
        for k, parent in enumerate(node.parents):
            if not parent.requires_grad:
                continue
            vjp = op.vjps[k]
            if vjp is None:
                raise RuntimeError(f"{op.name} has no gradient with respect to its input {op.args[k]!r}")
            edges.append((_bind(vjp, node.attrs), slot[id(parent)], parent.data.shape))
        program.append((i, tuple([slot[id(p)] for p in node.parents]), edges))
    return program


def _forward_program(order: list[Tensor], slot: dict[int, int]) -> list[tuple[int, Tensor, Any, tuple[int, ...]]]:
    """Per op node, inputs first: its slot, the node, its forward with the attributes filled in, its inputs' slots."""
    return [(i, node, _bind(node.op.forward, node.attrs), tuple(slot[id(p)] for p in node.parents))
            for i, node in enumerate(order) if node.op is not None]


def _label(node: Tensor) -> str:
    name = op_of(node).name
    return f"{name} ({node.name})" if node.name else name


def where_not_finite(tape: Tape, grads: list[Any] | None = None) -> str:
    """Where the first NaN or infinity appeared: in which op's forward, or in which op's backward.

    Like ``torch.autograd.detect_anomaly``, but said in words, for divergence messages.
    """
    if grads is None:
        for node in tape.nodes:
            if node.op is None and not np.all(np.isfinite(node.data)):
                return f"the value of {node.name or 'an input'} itself"
        for node in tape.order:
            if node.op is not None and not np.all(np.isfinite(node.data)):
                return f"the forward pass of {_label(node)}{fed_by(node)}"
        return "no op (every value is finite)"
    for i, _ins, edges in tape.backward_program:
        g = grads[i]
        if g is None or not np.all(np.isfinite(g)):
            continue
        for _vjp, p, _shape in edges:
            if grads[p] is not None and not np.all(np.isfinite(grads[p])):
                target = tape.nodes[p].name or "its input"
                return f"the backward pass of {_label(tape.order[i])}, on the way to {target}"
    return "the loss's own gradient"
