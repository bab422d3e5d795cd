"""Reverse-mode autodiff over the recorded graph.

:func:`gradients` is the backward pass: it walks the graph from the root to the leaves once,
in reverse topological order, and sums each node's gradient from the VJPs of the ops that use
it. ``backward()`` runs it and adds the results into ``.grad``; ``bl.compile`` runs it on the
step it records, and replays the same walk as generated code (``backproplab.engine.codegen``),
the same sums in the same order, so both give the same bits.

The topological order is found with an explicit stack, not recursion, so a chain of
100,000 ops works.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from backproplab.engine import inplace
from backproplab.engine.tensor_methods import TensorMethods

if TYPE_CHECKING:
    from backproplab.engine.ops import Op
    from backproplab.engine.tensor import Tensor

OWN_FROM = 64  # a new backward result bigger than this is handed to .grad without a copy


def op_of(node: Tensor) -> Op:
    """The op that made ``node``, for code that walks a graph's op nodes (a leaf, made by no op, is a bug there)."""
    assert node.op is not None, f"{node.name or 'this tensor'} is a leaf: no op made it"
    return node.op


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
    if sums_rows_by_dot(g, shape):  # the common case: a bias over a batch
        return np.dot(row_ones(g.shape[0], g.dtype), g)
    if g.ndim == len(shape) + 1 and g.shape[1:] == shape:
        return np.add.reduce(g, axis=0)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def sums_rows_by_dot(g: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether ``g``'s rows are summed to ``shape`` as 1ᵀ·G (a bias's gradient over a batch of float rows).

    One BLAS product takes a quarter of the time ``add.reduce`` takes along the first axis of a small
    matrix. It adds in BLAS's order, not row after row; the plain path and the compiled replay both sum
    this way, so they give the same bits.
    """
    return g.ndim == 2 and len(shape) == 1 and g.shape[1] == shape[0] and g.dtype.char in "fd"


@functools.lru_cache(maxsize=64)
def row_ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, made once per length and dtype: 1ᵀ in 1ᵀ·G."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def unshared(local: np.ndarray, g: Any, out: np.ndarray, args: Any) -> bool:
    """Whether a VJP's result is a new array of its own (not ``g``, ``out``, an input or a view of one).

    A first gradient of more than ``OWN_FROM`` entries that is unshared is kept, to add the next ones into in place.
    """
    return local.base is None and local is not g and local is not out and all(local is not a for a in args)


def gradients(order: list[Tensor], seed: np.ndarray) -> tuple[dict[int, Any], set[int]]:
    """d(root)/d(node) for every node of ``order`` (the root last), by ``id``, starting from ``seed``.

    Also the ids of the gradients allocated here, which ``store`` may hand to ``.grad`` without a copy.
    """
    grads: dict[int, Any] = {id(order[-1]): seed}
    owned: set[int] = set()  # gradients we allocated ourselves and may add into in place
    ndarray, asarray, get = np.ndarray, np.asarray, grads.get
    now = inplace.changes
    for node in reversed(order):
        op = node.op
        g = get(id(node))
        if op is None or g is None:
            continue
        out, parents, attrs = node.data, node.parents, node.attrs
        args = [p.data for p in parents]
        if node._tick != now:  # an in-place op ran since this node was recorded: did it change an input?
            check_inputs(node)
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
            if local.shape != args[k].shape:  # summed back to the operand's shape: a new array, ours to add into
                local = unbroadcast(local, args[k].shape)
                if prev is None:
                    grads[key] = local
                    owned.add(key)
                    continue
            if prev is None:
                grads[key] = local
                if local.size > OWN_FROM and unshared(local, g, out, args):
                    owned.add(key)
            elif key in owned:
                prev += local
            else:
                grads[key] = asarray(prev + local)  # a fresh array (0-d too) we may add into
                owned.add(key)
    return grads, owned


def store(order: list[Tensor], grads: dict[int, Any], owned: set[int], adopt: bool = False) -> None:
    """Add the gradients into ``.grad`` of the leaves (and of tensors that retain theirs).

    With ``adopt`` (the caller drops ``grads`` afterwards), a large leaf gradient that is an in-order view of an
    array this backward made, and of nothing else, is kept without a copy: W's gradient in x·Wᵀ is the transpose of
    Wᵀ's. (A small one is copied: a copy costs less than the check.)
    """
    for node in order:
        if node.op is not None and not node._retain:
            continue
        g = grads.get(id(node))
        if g is None:
            continue
        if node._grad is None:
            own = id(node) in owned and g.dtype == node.data.dtype
            if not own and adopt and g.size > OWN_FROM and g.base is not None and g.dtype == node.data.dtype:
                own = adoptable(g, node, order, grads)
            node._grad = g if own else np.array(g, dtype=node.data.dtype, copy=True)
        else:
            node._grad += g


def adoptable(g: np.ndarray, node: Tensor, order: list[Tensor], grads: dict[int, Any]) -> bool:
    """Whether ``g`` (a view) may be ``node``'s .grad as it is: in row order, of the node's shape, over an array
    only the backward's own gradients view (no forward value, no other stored .grad)."""
    base = g.base
    if not g.flags.c_contiguous or g.shape != node.data.shape:
        return False
    for n in order:
        if n.data is base or getattr(n.data, "base", None) is base:
            return False  # a forward value
        other = grads.get(id(n)) if n is not node and (n.op is None or n._retain) else None
        if other is not None and (other is base or getattr(other, "base", None) is base):
            return False  # another .grad would share it
    return any(v is base or getattr(v, "base", None) is base for v in grads.values())


def check_inputs(node: Tensor) -> None:
    """Refuse a node whose inputs, or whose own values, changed in place after it was recorded: its gradient
    would use the new values (an op's VJP reads its inputs and its result)."""
    for tensor in (*node.parents, node):
        if inplace.changed_at(tensor) > node._tick:
            what = f"{tensor.name!r} (shape {tuple(tensor.data.shape)})" if tensor.name else (
                f"a tensor of shape {tuple(tensor.data.shape)}")
            role = "the result" if tensor is node else "an input"
            raise RuntimeError(
                f"{what}, {role} of {op_of(node).name}, was modified by an in-place operation after it was used; "
                f"use an out-of-place op (x = x + 1) or .clone() before changing it (its version is now "
                f"{tensor._version})"
            )


def backward(root: Tensor, gradient: Any = None) -> None:
    """Add d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient."""
    seed = seed_for(root, gradient)
    order = topological_order(root)
    store(order, *gradients(order, seed), adopt=True)


def backprop(root: Tensor, seed: np.ndarray, order: list[Tensor] | None = None) -> dict[int, np.ndarray]:
    """d(root)/d(node) for every node, keyed by ``id(node)``, starting from ``seed``.

    ``order`` is ``topological_order(root)`` when the caller has it already.
    """
    return gradients(topological_order(root) if order is None else order, seed)[0]


def seed_for(root: Tensor, gradient: Any = None) -> np.ndarray:
    """The gradient ``backward()`` starts from: ``gradient``, or 1 for a single number; a clear error otherwise."""
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
    seed = np.asarray(gradient.data if isinstance(gradient, TensorMethods) else gradient, dtype=root.data.dtype)
    if seed.shape != root.shape:
        raise ValueError(f"gradient has shape {seed.shape} but the tensor has shape {root.shape}")
    return seed


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
