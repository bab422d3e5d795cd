"""Reverse-mode autodiff over the recorded graph.

The topological order is found with an explicit stack, not recursion, so a chain of
100,000 ops works. ``backprop`` returns the gradient of every node (the explainer and the
graph drawing need the intermediate ones); ``backward`` stores the leaves' gradients in
``.grad`` the way PyTorch does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.tensor import Tensor


def topological_order(root: Tensor) -> list[Tensor]:
    """Every node that ``root`` depends on through recorded ops, inputs before outputs."""
    order: list[Tensor] = []
    seen: set[int] = {id(root)}
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        node, i = stack[-1]
        parents = node.parents
        while i < len(parents) and (id(parents[i]) in seen or not parents[i].requires_grad):
            i += 1
        if i < len(parents):
            stack[-1] = (node, i + 1)
            child = parents[i]
            seen.add(id(child))
            stack.append((child, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back down to the shape of an operand that NumPy broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def backprop(root: Tensor, seed: np.ndarray, order: list[Tensor] | None = None) -> dict[int, np.ndarray]:
    """d(root)/d(node) for every node, keyed by ``id(node)``, starting from ``seed``."""
    if order is None:
        order = topological_order(root)
    grads: dict[int, np.ndarray] = {id(root): seed}
    owned: set[int] = set()  # gradients we allocated ourselves and may add into in place
    for node in reversed(order):
        op = node.op
        if op is None:
            continue
        g = grads.get(id(node))
        if g is None:
            continue
        attrs = node.attrs or {}
        inputs = [p.data for p in node.parents]
        for k, parent in enumerate(node.parents):
            if not parent.requires_grad:
                continue
            vjp = op.vjps[k]
            if vjp is None:
                raise RuntimeError(f"{op.name} has no gradient with respect to its input {op.args[k]!r}")
            local = vjp(g, node.data, *inputs, **attrs)
            local = unbroadcast(np.asarray(local), parent.data.shape)
            key = id(parent)
            prev = grads.get(key)
            if prev is None:
                grads[key] = local
            elif key in owned:
                prev += local
            else:
                grads[key] = np.asarray(prev + local)  # a fresh array (0-d too) we may add into
                owned.add(key)
    return grads


def backward(root: Tensor, gradient: Any = None) -> None:
    """Add d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient."""
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
        seed = np.ones_like(root.data)
    else:
        seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=root.data.dtype)
        if seed.shape != root.shape:
            raise ValueError(f"gradient has shape {seed.shape} but the tensor has shape {root.shape}")
    order = topological_order(root)
    grads = backprop(root, seed, order)
    for node in order:
        if node.op is not None and not node._retain:
            continue
        g = grads.get(id(node))
        if g is None:
            continue
        if node.grad is None:
            node.grad = np.array(g, dtype=node.data.dtype, copy=True)
        else:
            node.grad += g
