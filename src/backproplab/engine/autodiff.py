"""Reverse-mode autodiff over the recorded graph.

A :class:`Tape` flattens a recorded graph into two lists: the forward program (which op
makes which node from which inputs) and the backward program (one entry per edge that
needs a gradient, outputs before inputs). ``backward()`` builds a tape and runs its backward
program once; :func:`compile` keeps the tape and replays both programs on every call, so the
fast path and the plain path run the very same code and give bit-identical gradients.

The topological order is found with an explicit stack, not recursion, so a chain of
100,000 ops works.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor, is_grad_enabled
from backproplab.engine.tensor_methods import RECORDING

EMPTY: dict[str, Any] = {}
OWN_FROM = 64  # a new backward result bigger than this is handed to .grad without a copy


def topological_order(root: Tensor) -> list[Tensor]:
    """Every node that ``root`` depends on through recorded ops, inputs before outputs."""
    order: list[Tensor] = []
    seen: set[int] = {id(root)}
    stack = [(root, iter(root.parents))]
    append, push, pop = order.append, stack.append, stack.pop
    while stack:
        node, parents = stack[-1]
        for child in parents:  # resumes where this node's last visit stopped
            if child.requires_grad and id(child) not in seen:
                seen.add(id(child))
                push((child, iter(child.parents)))
                break
        else:
            pop()
            append(node)
    return order


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back down to the shape of an operand that NumPy broadcast.

    The result is always a new array when the shapes differ, so the caller may own it.
    """
    if g.shape == shape:
        return g
    if not shape:
        return np.asarray(np.add.reduce(g, axis=None))
    if g.ndim == len(shape) + 1 and g.shape[1:] == shape:  # the common case: a bias over a batch
        return np.add.reduce(g, axis=0)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _bind(fn: Callable[..., Any], attrs: dict[str, Any] | None) -> Callable[..., Any]:
    """The op's function with its attributes (axis=…) filled in, so every call is positional."""
    return partial(fn, **attrs) if attrs else fn


class Tape:
    """A recorded graph as flat forward and backward programs over numbered slots."""

    def __init__(self, root: Tensor, order: list[Tensor] | None = None) -> None:
        order = topological_order(root) if order is None else order
        slot = {id(n): i for i, n in enumerate(order)}
        constants = []
        for node in order:
            for p in node.parents:
                if id(p) not in slot:
                    slot[id(p)] = len(slot)
                    constants.append(p)
        self.root = root
        self.order = order
        self.nodes: list[Tensor] = order + constants
        self.inputs = [(i, n) for i, n in enumerate(self.nodes) if n.op is None]
        self._state = [(n, n.data, n.data.shape, n.data.dtype, n.requires_grad) for _, n in self.inputs]
        self.forward_program = [
            (i, node, _bind(node.op.forward, node.attrs), tuple(slot[id(p)] for p in node.parents))
            for i, node in enumerate(order) if node.op is not None
        ]
        self.backward_program = []  # per node: its slot, its input slots, and (vjp, parent slot, shape) per edge
        for i in range(len(order) - 1, -1, -1):
            node = order[i]
            if node.op is None:
                continue
            edges = []
            for k, parent in enumerate(node.parents):
                if not parent.requires_grad:
                    continue
                vjp = node.op.vjps[k]
                if vjp is None:
                    raise RuntimeError(f"{node.op.name} has no gradient with respect to its input {node.op.args[k]!r}")
                edges.append((_bind(vjp, node.attrs), slot[id(parent)], parent.data.shape))
            self.backward_program.append((i, tuple(slot[id(p)] for p in node.parents), edges))
        self.keep = [(i, n) for i, n in enumerate(order) if n.op is None or n._retain]
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

    def values(self) -> list[np.ndarray]:
        """Every node's current value, by slot (what the last forward computed)."""
        return [n.data for n in self.nodes]

    def forward(self) -> list[np.ndarray]:
        """Recompute every op from the inputs' current data; the nodes' ``.data`` is updated too."""
        values: list[Any] = [None] * len(self.nodes)
        for i, n in self.inputs:
            values[i] = n.data
        for i, node, forward, ins in self.forward_program:
            if len(ins) == 2:
                out = forward(values[ins[0]], values[ins[1]])
            else:
                out = forward(*[values[j] for j in ins])
            if not isinstance(out, np.ndarray):
                out = np.asarray(out)
            node.data = values[i] = out
        return values

    def gradients(self, seed: np.ndarray, values: list[np.ndarray]) -> tuple[list[Any], set[int]]:
        """d(root)/d(node) for every slot, starting from ``seed``; also the slots whose arrays we own."""
        grads: list[Any] = [None] * len(values)
        grads[len(self.order) - 1] = seed  # the root comes last in topological order
        owned: set[int] = set()  # gradients we allocated ourselves and may add into in place
        for i, ins, edges in self.backward_program:
            g = grads[i]
            if g is None:
                continue
            out = values[i]
            args = (values[ins[0]], values[ins[1]]) if len(ins) == 2 else [values[j] for j in ins]
            for vjp, p, shape in edges:
                local = vjp(g, out, *args)
                if type(local) is not np.ndarray:
                    local = np.asarray(local)
                prev = grads[p]
                if local.shape != shape:
                    local = unbroadcast(local, shape)  # a new array: ours to add into
                    if prev is None:
                        grads[p] = local
                        owned.add(p)
                        continue
                if prev is None:
                    grads[p] = local
                    if local.size > OWN_FROM and local.base is None and local is not g and local is not out and all(
                            local is not a for a in args):
                        owned.add(p)  # a new array from the op's backward: nobody else holds it
                elif p in owned:
                    prev += local
                else:
                    grads[p] = np.asarray(prev + local)  # a fresh array (0-d too) we may add into
                    owned.add(p)
        return grads, owned

    def store(self, grads: list[Any], owned: set[int]) -> None:
        """Add the gradients into ``.grad`` of the leaves (and of tensors that retain theirs)."""
        for i, node in self.keep:
            g = grads[i]
            if g is None:
                continue
            if node.grad is None:
                own = i in owned and g.dtype == node.data.dtype
                node.grad = g if own else np.array(g, dtype=node.data.dtype, copy=True)
            else:
                node.grad += g


def _label(node: Tensor) -> str:
    return f"{node.op.name} ({node.name})" if node.name else node.op.name


def fed_by(node: Tensor, most: int = 3) -> str:
    """', which uses w1, b1': the trainable leaves an op's result depends on."""
    names: list[str] = []
    stack, seen = [node], {id(node)}
    while stack and len(names) < most:
        current = stack.pop()
        for p in current.parents:
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            if p.op is None:
                names.append(p.name or "a parameter")
            else:
                stack.append(p)
    return f", which uses {', '.join(names)}" if names else ""


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


def backprop(root: Tensor, seed: np.ndarray, order: list[Tensor] | None = None) -> dict[int, np.ndarray]:
    """d(root)/d(node) for every node, keyed by ``id(node)``, starting from ``seed``.

    ``order`` is ``topological_order(root)`` when the caller has it already.
    """
    tape = Tape(root, order)
    grads, _ = tape.gradients(seed, tape.values())
    return {id(n): g for n, g in zip(tape.nodes, grads) if g is not None}


def _seed(root: Tensor, gradient: Any) -> np.ndarray:
    if not root.requires_grad:
        raise RuntimeError(
            "this tensor does not require a gradient: nothing it depends on was created with "
            "requires_grad=True (or it was computed inside no_grad())"
        )
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs a gradient argument; "
                "reduce it to a single number first (for example .sum()) or pass gradient="
            )
        return np.ones_like(root.data)
    seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=root.data.dtype)
    if seed.shape != root.shape:
        raise ValueError(f"gradient has shape {seed.shape} but the tensor has shape {root.shape}")
    return seed


def backward(root: Tensor, gradient: Any = None) -> None:
    """Add d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient.

    The same walk as :meth:`Tape.gradients` (same order, same sums, so the same bits), without
    building a replayable tape first: a graph used once needs no forward program.
    """
    seed = _seed(root, gradient)
    order = topological_order(root)
    grads: dict[int, Any] = {id(root): seed}
    owned: set[int] = set()  # gradients we allocated ourselves and may add into in place
    ndarray, asarray, add_reduce, get = np.ndarray, np.asarray, np.add.reduce, grads.get
    for node in reversed(order):
        op = node.op
        if op is None:
            continue
        g = get(id(node))
        if g is None:
            continue
        out, parents, attrs = node.data, node.parents, node.attrs
        args = [p.data for p in parents]
        for k, (parent, vjp) in enumerate(zip(parents, op.vjps)):
            if not parent.requires_grad:
                continue
            if vjp is None:
                raise RuntimeError(f"{op.name} has no gradient with respect to its input {op.args[k]!r}")
            local = vjp(g, out, *args, **attrs) if attrs else vjp(g, out, *args)
            if type(local) is not ndarray:
                local = asarray(local)
            key = id(parent)
            prev = get(key)
            shape = args[k].shape
            if local.shape != shape:  # summed back to the operand's shape: a new array, ours to add into
                local = asarray(add_reduce(local, axis=None)) if not shape else unbroadcast(local, shape)
                if prev is None:
                    grads[key] = local
                    owned.add(key)
                    continue
            if prev is None:
                grads[key] = local
                if local.size > OWN_FROM and local.base is None and local is not g and local is not out and all(
                        local is not a for a in args):
                    owned.add(key)  # a new array from the op's backward: nobody else holds it
            elif key in owned:
                prev += local
            else:
                grads[key] = asarray(prev + local)  # a fresh array (0-d too) we may add into
                owned.add(key)
    for node in order:
        if node.op is not None and not node._retain:
            continue
        g = grads.get(id(node))
        if g is None:
            continue
        if node.grad is None:
            own = id(node) in owned and g.dtype == node.data.dtype
            node.grad = g if own else np.array(g, dtype=node.data.dtype, copy=True)
        else:
            node.grad += g


class Compiled:
    """A step function recorded once and replayed: see :func:`compile`."""

    def __init__(self, fn: Callable[[], Tensor]) -> None:
        self.fn = fn
        self.tape: Tape | None = None
        self._last: Tensor | None = None
        self.records = 0  # how many times the graph was (re)recorded
        self.program: Any = None  # the tape as generated code (backproplab.engine.codegen), made at the first replay
        self.replayable = True  # False when the graph holds a mask or index taken from values that change

    def forward(self) -> Tensor:
        """Run the forward pass (replayed when nothing changed) and return the root."""
        tape, program = self.tape, self.program
        if (tape is None or not self.replayable or not is_grad_enabled()
                or not (program.unchanged() if program else tape.unchanged())):
            RECORDING.value_dependent = False
            root = self.fn()
            self.replayable = not RECORDING.value_dependent
            if not isinstance(root, Tensor):
                raise TypeError(f"the compiled function must return a Tensor, got {type(root).__name__}")
            if not root.requires_grad:
                self.tape, self._last = None, root
                return root
            self.tape, self.program = Tape(root), None
            self.records += 1
            return root
        if program is None:
            from backproplab.engine.codegen import make_program  # generated code reads the tape: a layer above it

            program = self.program = make_program(tape)
        if program is False:
            tape.forward()
        else:
            program.forward()
        return tape.root

    def backward(self) -> list[Any]:
        """Add the gradients of the last forward pass into the leaves' ``.grad``; returns them all, by slot.

        In a replay the returned arrays of nodes that keep no ``.grad`` are the replay's own buffers,
        overwritten by the next replay: copy what you keep. ``.grad`` arrays are never overwritten
        while anything still holds them.
        """
        if self.tape is None:
            if self._last is not None:
                _seed(self._last, None)  # the same clear error as loss.backward() on such a tensor
            raise RuntimeError("call forward() before backward()")
        tape = self.tape
        if not tape.root.requires_grad or tape.root.data.shape != tape.seed.shape:
            _seed(tape.root, None)  # raises the same clear error backward() would
        if self.program:
            return self.program.backward(tape.seed)
        grads, owned = tape.gradients(tape.seed, tape.values())
        tape.store(grads, owned)
        return grads

    def __call__(self) -> Tensor:
        program = self.program
        if program and self.replayable and is_grad_enabled() and program.replay():
            return self.tape.root  # replayed: forward() and backward() with their checks taken once
        root = self.forward()
        self.backward()
        return root

    @property
    def source(self) -> str:
        """The replay as readable Python: the forward and backward pass, one line per op and per gradient."""
        if self.tape is None:
            raise RuntimeError("call the compiled function once first: the graph is recorded on the first call")
        if self.program is None:
            from backproplab.engine.codegen import make_program

            self.program = make_program(self.tape)
        if self.program is False:
            raise RuntimeError("this graph is too long to write out as code; it is replayed op by op")
        return self.program.source


def compile(fn: Callable[[], Tensor]) -> Compiled:  # noqa: A001 - the name users expect
    """Record ``fn``'s graph once, then replay it: forward + backward without rebuilding the graph.

    ``fn`` takes no arguments and returns the loss; it must compute the same ops on every
    call (no branches on values). A graph that uses a comparison or an argmax of values that
    need gradients is recorded anew at every call instead, since its masks would go stale.
    Change inputs and parameters through ``.data``; a change of shape, dtype, memory layout
    (a transposed or Fortran-ordered array) or ``requires_grad`` records the graph again. Calling the result runs
    forward and backward and returns the loss; gradients accumulate in ``.grad`` exactly as
    ``loss.backward()`` would leave them, bit for bit.
    """
    return Compiled(fn)
