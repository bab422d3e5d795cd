"""Telling a diverging run: a loss or gradient that is no longer finite, or a loss that keeps growing.

The message names the iteration, the op that made the first NaN or infinity and the node it
belongs to (with its formula, for a network written as formulas), and what to try instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from backproplab.engine.autodiff import fed_by, op_of, topological_order
from backproplab.engine.replay import Compiled
from backproplab.engine.tape import where_not_finite
from backproplab.engine.tensor import Tensor
from backproplab.util.numbers import number

GROWTH_LIMIT = 20  # a loss that grows this many steps in a row has diverged


class Rated(Protocol):
    """Anything with a learning rate, such as an optimizer: the advice names a smaller one."""

    lr: float


def _node(model: Any, node: Tensor) -> str:
    """'node yhat (w1 * x / 0)': a named node as its spec wrote it, with its formula if it has one."""
    texts = getattr(model, "texts", None)
    texts = texts if isinstance(texts, dict) else {}
    name = "yhat" if node.name == "ŷ" and "yhat" in texts else node.name
    return f"node {name} ({texts[name]})" if name in texts else f"node {name}"


def cause_in_words(node: Tensor) -> str:
    """What an op did to make a non-finite value out of finite inputs, in words."""
    op = op_of(node).name
    args = [np.asarray(p.data) for p in node.parents]
    if op in ("div", "truediv") and len(args) == 2 and np.any(args[1] == 0):
        return "division by zero"
    if op == "log" and args and np.any(args[0] <= 0):
        return "log of a number that is not positive"
    if op in ("sqrt",) and args and np.any(args[0] < 0):
        return "square root of a negative number"
    if op == "pow" and args and np.any(args[0] < 0):
        return "a negative number raised to a fractional power"
    if op == "exp":
        return "exp overflowed (its input is too large)"
    if np.any(np.isnan(node.data)):
        return f"{op} gave NaN"
    return f"{op} overflowed"


def _named_consumer(order: list[Tensor], node: Tensor) -> Tensor | None:
    """The node itself if named, else the first named node computed from it."""
    if node.name:
        return node
    frontier = {id(node)}
    for later in order:
        if any(id(p) in frontier for p in later.parents):
            if later.name:
                return later
            frontier.add(id(later))
    return None


def _bad_leaf(order: list[Tensor]) -> Tensor | None:
    for node in order:
        for t in (*node.parents, node):
            if t.op is None and not np.all(np.isfinite(t.data)):
                return t
    return None


def first_not_finite(run: Compiled, model: Any, again: Callable[[], Tensor] | None = None) -> str:
    """Where the forward pass first made a NaN or infinity from finite inputs: the op, the node, its formula.

    A value computed only from data is not recorded; ``again`` recomputes the loss with the
    data recorded too, so the op that made it can still be named.
    """
    order = run.tape.order if run.tape is not None else []
    leaf = _bad_leaf(order)
    if leaf is not None and again is not None:
        root = again()
        order = topological_order(root) if root.requires_grad else order
        leaf = _bad_leaf(order)
    if leaf is not None:
        owner = _named_consumer(order, leaf)
        used = f", used in {_node(model, owner)}" if owner is not None and owner is not leaf else ""
        return f"the value of {leaf.name or 'a constant'} itself{used}"
    for node in order:
        if node.op is not None and not np.all(np.isfinite(node.data)):
            owner = _named_consumer(order, node)
            where = _node(model, owner) if owner is not None else "the loss"
            return f"{cause_in_words(node)} in {where}{fed_by(node)}"
    return "no op (every value is finite)"


class Checks:
    """The divergence checks: non-finite loss or gradients, or a loss that keeps growing."""

    def __init__(self, optimizer: Rated, names: list[str], model: Any, again: Callable[[], Tensor]) -> None:
        self.optimizer, self.names, self.model, self.again = optimizer, names, model, again
        self.losses: deque[float] = deque(maxlen=GROWTH_LIMIT + 1)
        self.sizes: deque[dict[str, float]] = deque(maxlen=GROWTH_LIMIT + 1)
        self.growing = 0

    def advice(self, step: int) -> str:
        if step == 0:
            return ("no step had been taken yet, so the network or the data makes it so, not the learning rate; "
                    "check the formulas and the data.")
        return f"try a smaller learning rate, such as {self.optimizer.lr / 10:g}."

    def before_backward(self, step: int, value: Tensor, run: Compiled) -> str:
        loss = float(value.data)
        if not np.isfinite(loss):
            return (f"iteration {step + 1}: the loss became {loss}: {first_not_finite(run, self.model, self.again)}; "
                    f"{self.advice(step)}")
        if self.growing >= GROWTH_LIMIT:
            first, then, now = self.losses[-GROWTH_LIMIT], self.sizes[-GROWTH_LIMIT], self.sizes[-1]
            grew = {n: now[n] - then[n] for n in self.names}  # by how much its largest step grew
            worst = max(grew, key=lambda n: grew[n]) if grew else ""
            blame = (f"; the step of {worst} grew most ({number(then[worst])} to {number(now[worst])})"
                     if worst else "")
            return (f"iteration {step + 1}: the loss grew for {GROWTH_LIMIT} steps in a row (from {number(first)} to "
                    f"{number(loss)}){blame}; {self.advice(step)}")
        self.growing = self.growing + 1 if self.losses and loss > self.losses[-1] else 0
        self.losses.append(loss)
        return ""

    def after_backward(self, step: int, run: Compiled, grads: list[Any], optimized: dict[str, Tensor]) -> str:
        for name, p in optimized.items():
            if p._grad is not None and not np.all(np.isfinite(p._grad)):
                assert run.tape is not None  # backward() ran, so forward() recorded a tape
                kind = "NaN" if np.any(np.isnan(p._grad)) else "infinite"
                return (f"iteration {step + 1}: the gradient of {name} became {kind}; it first went wrong in "
                        f"{where_not_finite(run.tape, grads)}; {self.advice(step)}")
        return ""

    def record_sizes(self, steps: dict[str, Any]) -> None:
        self.sizes.append({n: float(np.max(np.abs(steps[n]))) if np.size(steps[n]) else 0.0 for n in self.names})
