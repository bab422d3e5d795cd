"""Optimizers, after ``torch.optim``, and a ``fit`` loop that records every step.

``GradientDescent`` is the textbook rule the worked example uses:
step size = gradient × learning rate, new value = old value − step size,
stopping once every |step size| is below ``min_step`` or after ``max_steps``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from backproplab.autodiff import compile, where_not_finite
from backproplab.losses import get_loss
from backproplab.nn import Module
from backproplab.tensor import Tensor, no_grad
from backproplab.trace import Final, Iteration, Trace, exact

IN_PLACE_FROM = 256  # parameters with more entries than this are updated in place
GROWTH_LIMIT = 20  # a loss that grows this many steps in a row has diverged


def check_learning_rate(lr: Any) -> float:
    """A positive, finite number, or a ValueError that says so."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"the learning rate must be a number, got {lr!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}; try 0.1")
    return value


class Optimizer(ABC):
    """Holds the parameters to train; subclasses say how far each one moves per step."""

    name = "optimizer"
    scalar_rule = False  # True where delta() is exactly gradient × lr (then single numbers take a fast path)

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters to train")
        for p in self.params:
            if not isinstance(p, Tensor):
                raise TypeError(f"the optimizer takes tensors, got {type(p).__name__}")
        self.lr = check_learning_rate(lr)
        self._rates: dict[np.dtype, np.ndarray] = {}
        self.min_step = 1e-4
        self.max_steps = 1000

    def zero_grad(self) -> None:
        """Clear the gradients before the next backward(), as in PyTorch."""
        for p in self.params:
            p.grad = None

    def step(self) -> list[np.ndarray]:
        """Move every parameter with a gradient, in place; returns each step size (old − new)."""
        steps = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                steps.append(np.zeros_like(p.data))
                continue
            data = p.data
            if self.scalar_rule and data.ndim == 0 and data.dtype == np.float64:
                # one float64 number: Python's float arithmetic is the same IEEE arithmetic, without NumPy's overhead
                delta = float(p.grad) * self.lr
                p.data = np.asarray(float(data) - delta)
                steps.append(np.asarray(delta))
                continue
            delta = self.delta(i, p.grad)
            if data.size > IN_PLACE_FROM and data.flags.writeable and data.dtype == delta.dtype:
                data -= delta  # large: update in place, no new memory
            else:
                p.data = data - delta  # small: a new array is cheaper than NumPy's in-place machinery
            steps.append(delta)
        return steps

    def rate(self, dtype: np.dtype) -> np.ndarray:
        """The learning rate as a 0-d array of the parameters' dtype (cheaper than a Python float)."""
        cached = self._rates.get(dtype)
        if cached is None:
            cached = self._rates[dtype] = np.asarray(self.lr, dtype=dtype)
        return cached

    @abstractmethod
    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        """How far parameter ``i`` moves down, given its gradient."""

    def _diverged(self, step: int, value: Tensor, params: dict[str, Tensor], run: Any, trace: Trace,
                  growing: int) -> str:
        """Run backward; say why the run must stop ('' if it need not), naming the step, parameter and op."""
        advice = f"try a smaller learning rate, such as {self.lr / 10:g}"
        if not np.all(np.isfinite(value.data)):
            where = where_not_finite(run.tape) if run.tape is not None else "the loss"
            return f"step {step}: the loss became {float(value.data)}; it first went wrong in {where}; {advice}"
        if growing >= GROWTH_LIMIT:
            first = trace.iterations[-GROWTH_LIMIT].loss
            return (f"step {step}: the loss grew for {GROWTH_LIMIT} steps in a row (from {first:.4g} to "
                    f"{float(value.data):.4g}); {advice}")
        grads = run.backward()
        for name, p in params.items():
            if p.grad is not None and not np.all(np.isfinite(p.grad)):
                kind = "NaN" if np.any(np.isnan(p.grad)) else "infinite"
                return (f"step {step}: the gradient of {name} became {kind}; it first went wrong in "
                        f"{where_not_finite(run.tape, grads)}; {advice}")
        return ""

    def fit(
        self,
        model: Module | Callable[[Tensor], Tensor],
        x: Any,
        y: Any,
        loss: str | Callable[[Any, Any], Tensor] = "ssr",
        max_steps: int | None = None,
        min_step: float | None = None,
        callback: Callable[[Iteration], None] | None = None,
    ) -> Trace:
        """Train ``model`` on (x, y) and return the :class:`Trace` of every step.

        Parameters that this optimizer does not train are frozen for the run, so no work
        is spent on their gradients; their ``requires_grad`` is restored afterwards.
        """
        max_steps = self.max_steps if max_steps is None else int(max_steps)
        min_step = self.min_step if min_step is None else float(min_step)
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        if not min_step >= 0:
            raise ValueError(f"min_step must be zero or more, got {min_step}")
        loss_fn = get_loss(loss)
        loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        all_named = _named(model, self.params)
        mine = {id(p) for p in self.params}
        optimized = {n: p for n, p in all_named.items() if id(p) in mine}  # in the model's order
        names = list(optimized)
        name_of = {id(p): n for n, p in optimized.items()}
        x_t = x if isinstance(x, Tensor) else Tensor(x, name="x", dtype=self.params[0].dtype)
        y_t = y if isinstance(y, Tensor) else Tensor(y, name="y", dtype=self.params[0].dtype)

        trace = Trace(loss=loss_name, learning_rate=self.lr, optimize=names, optimizer=self.name,
                      inputs=exact(x_t.data), targets=exact(y_t.data))
        saved = {id(p): p.requires_grad for p in all_named.values()}
        for p in all_named.values():
            p.requires_grad = id(p) in mine
        stopped_by, message = "max_steps", ""
        made: dict[str, Tensor] = {}

        def loss_value() -> Tensor:
            made["prediction"] = model(x_t)
            return loss_fn(made["prediction"], y_t)

        run = compile(loss_value)  # the graph is recorded once and replayed: same numbers, less work
        growing = 0
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
                for step in range(max_steps):
                    self.zero_grad()
                    value = run.forward()
                    prediction = made["prediction"]
                    problem = self._diverged(step, value, optimized, run, trace, growing)
                    if problem:
                        stopped_by, message = "diverged", problem
                        break
                    growing = growing + 1 if trace.iterations and float(value.data) > trace.iterations[-1].loss else 0
                    before = {n: exact(p.data) for n, p in all_named.items()}
                    grads = {n: exact(p.grad) for n, p in optimized.items()}
                    deltas = self.step()  # in the optimizer's order, which may differ from the model's
                    steps = {name_of[id(p)]: exact(d) for p, d in zip(self.params, deltas)}
                    it = Iteration(
                        step=step, params=before, predictions=exact(prediction.data), loss=float(value.data),
                        gradients=grads, step_sizes={n: steps[n] for n in names},
                    )
                    trace.iterations.append(it)
                    if callback is not None:
                        callback(it)
                    if all(float(np.max(np.abs(d))) < min_step for d in deltas):
                        stopped_by = "min_step"
                        break
                with no_grad():
                    prediction = model(x_t)
                    final_loss = float(loss_fn(prediction, y_t).data)
        finally:
            for p in all_named.values():
                p.requires_grad = saved[id(p)]
        trace.final = Final(
            params={n: exact(p.data) for n, p in all_named.items()}, loss=final_loss,
            steps=len(trace.iterations), converged=stopped_by == "min_step", stopped_by=stopped_by,
            predictions=exact(prediction.data), message=message,
        )
        return trace


def _named(model: Any, params: Sequence[Tensor]) -> dict[str, Tensor]:
    """Every parameter of the model by name (the optimizer's own, if the model has none)."""
    if isinstance(model, Module):
        named: dict[str, Tensor] = dict(model.named_parameters())
    else:
        named = {}
    for i, p in enumerate(params):
        if all(q is not p for q in named.values()):
            named[p.name or f"param{i}"] = p
    return named


class GradientDescent(Optimizer):
    """Plain gradient descent: step size = gradient × learning rate; new = old − step size.

    For large parameters the step sizes are written into a buffer kept per parameter (a new
    array every step would cost more in page faults than the arithmetic); the array that
    ``step()`` returns for such a parameter is therefore reused by the next step.
    """

    name = "gradient_descent"
    scalar_rule = True

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.1, min_step: float = 1e-4, max_steps: int = 1000
    ) -> None:
        super().__init__(params, lr)
        self.min_step = float(min_step)
        self.max_steps = int(max_steps)
        self._buffers: list[np.ndarray | None] = [None] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        if grad.size <= IN_PLACE_FROM:
            return grad * self.rate(grad.dtype)
        buf = self._buffers[i]
        if buf is None or buf.shape != grad.shape or buf.dtype != grad.dtype:
            buf = self._buffers[i] = np.empty_like(grad)
        return np.multiply(grad, self.rate(grad.dtype), out=buf)


class SGD(Optimizer):
    """Gradient descent with momentum, as ``torch.optim.SGD``: v = μ·v + g; step = lr·v."""

    name = "sgd"

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        if self.momentum:
            v = self.velocity[i]
            v = grad.copy() if v is None else self.momentum * v + grad
            self.velocity[i] = v
            return self.lr * v
        return self.lr * grad


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: steps scaled by running moments of the gradient."""

    name = "adam"

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam's betas must be in [0, 1), got {betas}")
        self.eps = float(eps)
        self.m: list[np.ndarray | None] = [None] * len(self.params)
        self.v: list[np.ndarray | None] = [None] * len(self.params)
        self.t = [0] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        self.t[i] += 1
        m = self.m[i] if self.m[i] is not None else np.zeros_like(grad)
        v = self.v[i] if self.v[i] is not None else np.zeros_like(grad)
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        self.m[i], self.v[i] = m, v
        m_hat = m / (1 - self.beta1 ** self.t[i])
        v_hat = v / (1 - self.beta2 ** self.t[i])
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {"gradient_descent": GradientDescent, "sgd": SGD, "adam": Adam}
"""Optimizers by the names the CLI and spec files use."""
