"""The training loop: forward, checks, backward, the optimizer's step, and the record of it.

Optimizers (``optim``) hold only their update rules; this module runs them. Each step is
recorded in a :class:`~backproplab.train.trace.Trace` (compactly: a row per iteration in one
array per parameter), and a run that stops being finite or keeps growing is stopped with a
message that names the step, the op and the node where it went wrong.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from backproplab.engine.autodiff import Compiled, compile, fed_by, topological_order, where_not_finite
from backproplab.engine.tensor import Tensor, no_grad
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.train.trace import Final, Iteration, Trace, exact
from backproplab.util import limits
from backproplab.util.numbers import number

GROWTH_LIMIT = 20  # a loss that grows this many steps in a row has diverged
DUPLICATES = ("optimizer contains a parameter group with duplicate parameters; each is trained once "
              "(a parameter listed twice would otherwise move twice per step)")


class Stepper(Protocol):
    """What the loop needs of an optimizer (see ``optim.Optimizer``)."""

    params: list[Tensor]
    lr: float
    name: str
    min_step: float
    max_steps: int

    def zero_grad(self) -> None: ...

    def step(self) -> list[np.ndarray]: ...


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: ``.trace`` holds every step finished before it."""

    def __init__(self, trace: Trace) -> None:
        super().__init__("interrupted")
        self.trace = trace


def distinct(params: Iterable[Tensor]) -> list[Tensor]:
    """The parameters with repeats dropped (first place kept), warning as ``torch.optim`` does."""
    items = list(params)
    seen: set[int] = set()
    unique = [p for p in items if not (id(p) in seen or seen.add(id(p)))]  # type: ignore[func-returns-value]
    if len(unique) != len(items):
        warnings.warn(DUPLICATES, stacklevel=3)
    return unique


def named_parameters(model: Any, params: Sequence[Tensor]) -> dict[str, Tensor]:
    """Every parameter of the model by name (the optimizer's own, if the model has none)."""
    named: dict[str, Tensor] = dict(model.named_parameters()) if isinstance(model, Module) else {}
    known = {id(q) for q in named.values()}
    for i, p in enumerate(params):
        if id(p) not in known:
            named[p.name or f"param{i}"] = p
            known.add(id(p))
    return named


def _node(model: Any, node: Tensor) -> str:
    """'node yhat (w1 * x / 0)': a named node as its spec wrote it, with its formula if it has one."""
    texts = getattr(model, "texts", None)
    texts = texts if isinstance(texts, dict) else {}
    name = "yhat" if node.name == "ŷ" and "yhat" in texts else node.name
    return f"node {name} ({texts[name]})" if name in texts else f"node {name}"


def _cause(node: Tensor) -> str:
    """What an op did to make a non-finite value out of finite inputs, in words."""
    op = node.op.name
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
            return f"{_cause(node)} in {where}{fed_by(node)}"
    return "no op (every value is finite)"


class _Checks:
    """The divergence checks: non-finite loss or gradients, or a loss that keeps growing."""

    def __init__(self, optimizer: Stepper, names: list[str], model: Any, again: Callable[[], Tensor]) -> None:
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
            if p.grad is not None and not np.all(np.isfinite(p.grad)):
                kind = "NaN" if np.any(np.isnan(p.grad)) else "infinite"
                return (f"iteration {step + 1}: the gradient of {name} became {kind}; it first went wrong in "
                        f"{where_not_finite(run.tape, grads)}; {self.advice(step)}")
        return ""

    def record_sizes(self, steps: dict[str, Any]) -> None:
        self.sizes.append({n: float(np.max(np.abs(steps[n]))) if np.size(steps[n]) else 0.0 for n in self.names})


def _unused(run: Compiled, optimized: dict[str, Tensor], value: Tensor) -> list[str]:
    """The optimized parameters the loss does not depend on; a ValueError if that is all of them."""
    used = {id(n) for n in run.tape.nodes} if run.tape is not None and value.requires_grad else set()
    unused = [n for n, p in optimized.items() if id(p) not in used]
    if len(unused) == len(optimized):
        raise ValueError(f"the loss does not use any optimized parameter ({', '.join(unused)}), so there is "
                         "nothing to train; optimize a parameter that the network uses")
    for name in unused:
        warnings.warn(f"parameter {name} is not used by the loss; it is left unchanged (gradient 0)",
                      stacklevel=4)
    return unused


def fit(
    optimizer: Stepper,
    model: Module | Callable[[Tensor], Tensor],
    x: Any,
    y: Any,
    loss: str | Callable[[Any, Any], Tensor] = "ssr",
    max_steps: int | None = None,
    min_step: float | None = None,
    callback: Callable[[Iteration], None] | None = None,
    scheduler: Any = None,
    keep_every: int = 1,
) -> Trace:
    """Train ``model`` on (x, y) with ``optimizer`` and return the :class:`Trace` of the run.

    ``scheduler`` (anything with ``.step()``, such as a learning-rate schedule) is stepped
    after each optimizer step, as in PyTorch; each iteration records the learning rate it
    used. ``keep_every`` k > 1 records only every k-th iteration, and the last, for very long
    runs. Parameters that this optimizer does not train are frozen for the run (no work is
    spent on their gradients); their ``requires_grad`` is restored afterwards. On Ctrl-C an
    :class:`Interrupted` (a KeyboardInterrupt) carries the trace of the steps finished.
    """
    max_steps = optimizer.max_steps if max_steps is None else int(max_steps)
    min_step = optimizer.min_step if min_step is None else float(min_step)
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if not min_step >= 0:
        raise ValueError(f"min_step must be zero or more, got {min_step}")
    if isinstance(keep_every, bool) or not isinstance(keep_every, (int, np.integer)) or keep_every < 1:
        raise ValueError(f"keep_every must be a whole number of at least 1, got {keep_every!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
    loss_fn = get_loss(loss)
    loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
    all_named = named_parameters(model, optimizer.params)
    mine = {id(p) for p in optimizer.params}
    optimized = {n: p for n, p in all_named.items() if id(p) in mine}  # in the model's order
    names = list(optimized)
    name_of = {id(p): n for n, p in optimized.items()}
    dtype = optimizer.params[0].dtype
    x_t = x if isinstance(x, Tensor) else Tensor(x, name="x", dtype=dtype)
    y_t = y if isinstance(y, Tensor) else Tensor(y, name="y", dtype=dtype)

    trace = Trace(loss=loss_name, learning_rate=float(optimizer.lr), optimize=names, optimizer=optimizer.name,
                  inputs=exact(x_t.data), targets=exact(y_t.data), keep_every=int(keep_every))
    saved = {id(p): p.requires_grad for p in all_named.values()}
    for p in all_named.values():
        p.requires_grad = id(p) in mine
    stopped_by, message = "max_steps", ""
    made: dict[str, Tensor] = {}

    def loss_value() -> Tensor:
        made["prediction"] = model(x_t)
        return loss_fn(made["prediction"], y_t)

    def with_data_recorded() -> Tensor:  # for naming the op that made a bad value from the data alone
        return loss_fn(model(Tensor(x_t.data, name=x_t.name or "x", requires_grad=True)), y_t)

    run = compile(loss_value)  # the graph is recorded once and replayed: same numbers, less work
    checks = _Checks(optimizer, names, model, with_data_recorded)
    pending: Iteration | None = None  # the latest step not recorded (thinned out), kept in case it is the last
    done = 0
    prediction: Tensor | None = None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
            for step in range(max_steps):
                optimizer.zero_grad()
                value = run.forward()
                prediction = made["prediction"]
                if step == 0:
                    _unused(run, optimized, value)
                    _expect_record(trace, all_named, optimized, prediction, max_steps, int(keep_every))
                problem = checks.before_backward(step, value, run)
                if not problem:  # the list is not kept: the replay reuses a .grad array only nothing else holds
                    problem = checks.after_backward(step, run, run.backward(), optimized)
                if problem:
                    stopped_by, message = "diverged", problem
                    break
                lr = float(optimizer.lr)
                before = {n: p.data.copy() for n, p in all_named.items()}
                grads = {n: p.grad.copy() if p.grad is not None else np.zeros_like(p.data)
                         for n, p in optimized.items()}
                deltas = optimizer.step()  # in the optimizer's order, which may differ from the model's
                by_name = {name_of[id(p)]: d for p, d in zip(optimizer.params, deltas)}
                steps = {n: np.array(by_name[n], copy=True) for n in names}
                if scheduler is not None:
                    scheduler.step()
                checks.record_sizes(steps)
                done = step + 1
                keep = step % keep_every == 0
                if keep or callback is not None:
                    it = Iteration(step, before, prediction.data.copy(), float(value.data), grads, steps, lr)
                    pending = None if keep else it
                    if keep:
                        trace.iterations.append(it)
                    if callback is not None:
                        callback(trace.iterations[-1] if keep else it)
                else:
                    pending = Iteration(step, before, prediction.data.copy(), float(value.data), grads, steps, lr)
                if all(float(np.max(np.abs(d))) < min_step if np.size(d) else True for d in deltas):
                    stopped_by = "min_step"
                    break
            with no_grad():
                prediction = model(x_t)
                final_loss = float(loss_fn(prediction, y_t).data)
    except KeyboardInterrupt:
        if pending is not None:
            trace.iterations.append(pending)
        trace.final = _final(all_named, float("nan"), done, "interrupted",
                             prediction, f"interrupted by the user after {done} step(s)")
        raise Interrupted(trace) from None
    finally:
        for p in all_named.values():
            p.requires_grad = saved[id(p)]
    if pending is not None:
        trace.iterations.append(pending)
    trace.final = _final(all_named, final_loss, done, stopped_by, prediction, message)
    return trace


def _expect_record(trace: Trace, named: dict[str, Tensor], optimized: dict[str, Tensor], prediction: Tensor,
                   max_steps: int, keep_every: int) -> None:
    """Refuse a run whose kept iterations would not fit in the memory limit, before any is recorded, and
    size the trace's columns for exactly the iterations it may keep."""
    row = limits.trace_row_bytes(sum(p.data.size for p in named.values()),
                                 sum(p.data.size for p in optimized.values()), np.size(prediction.data))
    limits.check_record(row, max_steps, keep_every)
    trace.iterations.expect(limits.kept_iterations(max_steps, keep_every))


def _final(named: dict[str, Tensor], loss: float, steps: int, stopped_by: str, prediction: Tensor | None,
           message: str) -> Final:
    return Final(
        params={n: exact(p.data) for n, p in named.items()}, loss=loss, steps=steps,
        converged=stopped_by == "min_step", stopped_by=stopped_by,
        predictions=exact(prediction.data) if prediction is not None else None, message=message,
    )
