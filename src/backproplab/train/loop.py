"""The training loop: forward, checks, backward, the optimizer's step, and the record of it.

Optimizers (``optim``) hold only their update rules; this module runs them. Each step is
recorded in a :class:`~backproplab.train.trace.Trace` (compactly: a row per iteration in one
array per parameter), and a run that stops being finite or keeps growing is stopped with a
message that names the step, the op and the node where it went wrong (see ``divergence``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from backproplab.engine.grad_mode import no_grad
from backproplab.engine.replay import Compiled, compile
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.train.divergence import Checks
from backproplab.train.trace import Final, Iteration, Trace, exact
from backproplab.util import limits

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


def _unused(run: Compiled, optimized: dict[str, Tensor], value: Tensor) -> list[str]:
    """The optimized parameters the loss does not depend on; a ValueError if that is all of them."""
    used = {id(n) for n in run.tape.nodes} if run.tape is not None and value.requires_grad else set()
    unused = [n for n, p in optimized.items() if id(p) not in used]
    if len(unused) == len(optimized):
        raise ValueError(f"the loss does not use any optimized parameter ({', '.join(unused)}), so there is "
                         "nothing to train; optimize a parameter that the network uses")
    for name in unused:
        warnings.warn(f"parameter {name} is not used by the loss; it is left unchanged (gradient 0)",
                      stacklevel=5)  # the caller of Optimizer.fit
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
    max_steps, min_step = _checked_settings(optimizer, max_steps, min_step, keep_every, scheduler)
    run = _Run(optimizer, model, x, y, loss, int(keep_every))
    saved = {id(p): p.requires_grad for p in run.all_named.values()}
    for p in run.all_named.values():
        p.requires_grad = id(p) in run.mine
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported by the checks
            run.steps(max_steps, min_step, callback, scheduler)
            final_loss = run.final_loss()
    except KeyboardInterrupt:
        message = f"interrupted by the user after {run.done} step(s)"
        raise Interrupted(run.finish(float("nan"), "interrupted", message)) from None
    finally:
        for p in run.all_named.values():
            p.requires_grad = saved[id(p)]
    return run.finish(final_loss, run.stopped_by, run.message)


def _checked_settings(optimizer: Stepper, max_steps: int | None, min_step: float | None, keep_every: Any,
           scheduler: Any) -> tuple[int, float]:
    """max_steps and min_step (the optimizer's where not given), with every setting of ``fit`` checked."""
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
    return max_steps, min_step


class _Run:
    """One call of :func:`fit`: the parameters by name, the data as tensors, the compiled loss and the trace."""

    def __init__(self, optimizer: Stepper, model: Module | Callable[[Tensor], Tensor], x: Any, y: Any,
                 loss: str | Callable[[Any, Any], Tensor], keep_every: int) -> None:
        self.optimizer, self.model, self.keep_every = optimizer, model, keep_every
        self.loss_fn = get_loss(loss)
        self.all_named = named_parameters(model, optimizer.params)
        self.mine = {id(p) for p in optimizer.params}
        self.optimized = {n: p for n, p in self.all_named.items() if id(p) in self.mine}  # in the model's order
        self.names = list(self.optimized)
        self.name_of = {id(p): n for n, p in self.optimized.items()}
        dtype = optimizer.params[0].dtype
        self.x = x if isinstance(x, Tensor) else Tensor(x, name="x", dtype=dtype)
        self.y = y if isinstance(y, Tensor) else Tensor(y, name="y", dtype=dtype)
        loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        self.trace = Trace(loss=loss_name, learning_rate=float(optimizer.lr), optimize=self.names,
                           optimizer=optimizer.name, inputs=exact(self.x.data), targets=exact(self.y.data),
                           keep_every=keep_every)
        self.prediction: Tensor | None = None  # the forward pass's (a replay refreshes the same tensor), then the final
        self.compiled = compile(self.loss_value)  # the graph is recorded once and replayed: same numbers, less work
        self.checks = Checks(optimizer, self.names, model, self.with_data_recorded)
        self.pending: Iteration | None = None  # the latest step not recorded (thinned out), kept in case it is the last
        self.done = 0
        self.stopped_by, self.message = "max_steps", ""

    def loss_value(self) -> Tensor:
        """The loss, keeping the prediction (the function that ``compile`` records once and replays)."""
        self.prediction = self.model(self.x)
        return self.loss_fn(self.prediction, self.y)

    def with_data_recorded(self) -> Tensor:
        """The loss with the data recorded too, for naming the op that made a bad value from the data alone."""
        return self.loss_fn(self.model(Tensor(self.x.data, name=self.x.name or "x", requires_grad=True)), self.y)

    def steps(self, max_steps: int, min_step: float, callback: Callable[[Iteration], None] | None,
              scheduler: Any) -> None:
        """Step until ``max_steps``, a step below ``min_step`` for every parameter, or a divergence."""
        optimizer, compiled, checks, optimized = self.optimizer, self.compiled, self.checks, self.optimized
        for step in range(max_steps):
            optimizer.zero_grad()
            value = compiled.forward()
            if step == 0:
                assert self.prediction is not None  # set by the forward pass
                _unused(compiled, optimized, value)
                _expect_record(self.trace, self.all_named, optimized, self.prediction, max_steps, self.keep_every)
            problem = checks.before_backward(step, value, compiled)
            if not problem:  # the list is not kept: the replay reuses a .grad array only nothing else holds
                problem = checks.after_backward(step, compiled, compiled.backward(), optimized)
            if problem:
                self.stopped_by, self.message = "diverged", problem
                return
            deltas = self.update(step, value, callback, scheduler)
            if all(float(np.max(np.abs(d))) < min_step if np.size(d) else True for d in deltas):
                self.stopped_by = "min_step"
                return

    def update(self, step: int, value: Tensor, callback: Callable[[Iteration], None] | None,
               scheduler: Any) -> list[np.ndarray]:
        """The optimizer's step (then the scheduler's), recorded; returns the step sizes in the optimizer's order."""
        optimizer = self.optimizer
        lr = float(optimizer.lr)
        before = {n: p.data.copy() for n, p in self.all_named.items()}
        grads = {n: p._grad.copy() if p._grad is not None else np.zeros_like(p.data) for n, p in self.optimized.items()}
        deltas = optimizer.step()  # in the optimizer's order, which may differ from the model's
        by_name = {self.name_of[id(p)]: d for p, d in zip(optimizer.params, deltas)}
        steps = {n: np.array(by_name[n], copy=True) for n in self.names}
        if scheduler is not None:
            scheduler.step()
        self.checks.record_sizes(steps)
        self.done = step + 1
        assert self.prediction is not None  # set by the forward pass
        it = Iteration(step, before, self.prediction.data.copy(), float(value.data), grads, steps, lr)
        self.keep(it, callback)
        return deltas

    def keep(self, it: Iteration, callback: Callable[[Iteration], None] | None) -> None:
        """Record every ``keep_every``-th iteration; the latest other one is kept aside in case it is the last."""
        if it.step % self.keep_every == 0:
            self.pending = None
            self.trace.iterations.append(it)
            if callback is not None:
                callback(self.trace.iterations[-1])  # the iteration as the trace holds it
        else:
            self.pending = it
            if callback is not None:
                callback(it)

    def final_loss(self) -> float:
        """The loss at the parameters the run ended with (its prediction becomes the final one)."""
        with no_grad():
            self.prediction = self.model(self.x)
            return float(self.loss_fn(self.prediction, self.y).data)

    def finish(self, loss: float, stopped_by: str, message: str) -> Trace:
        """The trace with its last step, if thinned out, and its final state."""
        if self.pending is not None:
            self.trace.iterations.append(self.pending)
        self.trace.final = _final(self.all_named, loss, self.done, stopped_by, self.prediction, message)
        return self.trace


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
