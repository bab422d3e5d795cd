"""Optimizers, after ``torch.optim``: the update rules (the loop that runs them is in ``loop``).

``GradientDescent`` is the textbook rule the worked example uses:
step size = gradient × learning rate, new value = old value − step size,
stopping once every |step size| is below ``min_step`` or after ``max_steps``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.optim import lr_scheduler  # noqa: F401 - also reachable as backproplab.optim.lr_scheduler, as in PyTorch
from backproplab.train import loop
from backproplab.train.trace import Iteration, Trace

IN_PLACE_FROM = 256  # parameters with more entries than this are updated in place


def check_learning_rate(lr: Any, allow_zero: bool = False) -> float:
    """A positive, finite number (or zero, where a schedule may reach it), or a ValueError that says so."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"the learning rate must be a number, got {lr!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}; try 0.1")
    return value


def _check_setting(value: Any, name: str, low: float = 0.0, high: float = math.inf, hint: str = "") -> float:
    """A number in [low, high), or a ValueError naming the setting."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (low <= number < high):
        span = f"at least {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise ValueError(f"{name} must be {span}, got {value!r}{hint}")
    return number


class Optimizer(ABC):
    """Holds the parameters to train; subclasses say how far each one moves per step."""

    name = "optimizer"
    scalar_rule = False  # True where delta() is exactly gradient × lr (then single numbers take a fast path)

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = loop.distinct(params)  # each parameter once, as torch.optim warns
        if not self.params:
            raise ValueError("the optimizer got no parameters to train")
        for p in self.params:
            if not isinstance(p, Tensor):
                raise TypeError(f"the optimizer takes tensors, got {type(p).__name__}")
        self._lr = check_learning_rate(lr)
        self._rates: dict[np.dtype, np.ndarray] = {}
        self._scalars: list[np.ndarray | None] = [None] * len(self.params)  # single numbers stepped in place
        self._scalar_steps: list[Any] = [None] * len(self.params)  # their step sizes, as 0-d arrays
        self._all_scalars: list[tuple[Tensor, np.ndarray, np.ndarray]] | None = None  # see step()
        self.min_step = 1e-4
        self.max_steps = 1000

    @property
    def lr(self) -> float:
        """The learning rate; a scheduler (``backproplab.optim.lr_scheduler``) may change it between steps."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_learning_rate(value, allow_zero=True)  # a schedule such as cosine annealing may reach 0
        self._rates = {}

    def zero_grad(self) -> None:
        """Clear the gradients before the next backward(), as in PyTorch."""
        for p in self.params:
            p.grad = None

    def step(self) -> list[np.ndarray]:
        """Move every parameter with a gradient, in place; returns each step size (old − new)."""
        every = self._all_scalars
        if every is not None and len(every) == len(self.params):
            # every parameter is one float64 number stepped in place (as below): one loop with nothing to look up
            steps = []
            lr = self._lr
            for p, data, out in every:
                grad = p.grad
                if grad is None or p.data is not data:
                    self._all_scalars = None
                    return steps + self._step_from(len(steps))
                delta = float(grad) * lr
                data[()] = data.item() - delta  # item(): a float64's own value, a little faster than float()
                out[()] = delta
                steps.append(out)
            return steps
        steps = self._step_from(0)
        known = self._scalars
        params = self.params
        if self.scalar_rule and params[0].data is known[0] and all(p.data is known[i] for i, p in enumerate(params)):
            self._all_scalars = [(p, p.data, out) for p, out in zip(self.params, self._scalar_steps)]
        return steps

    def _step_from(self, start: int) -> list[np.ndarray]:
        """Move parameters ``start`` onwards; returns their step sizes."""
        steps = []
        lr, known, outs = self._lr, self._scalars, self._scalar_steps
        for i in range(start, len(self.params)):
            p = self.params[i]
            grad = p.grad
            if grad is None:
                steps.append(np.zeros_like(p.data))
                continue
            data = p.data
            if data is known[i] or self._scalar(i, data):
                # one float64 number: Python's float arithmetic is the same IEEE arithmetic, without NumPy's
                # overhead; written into the parameter's own array, the step size into one kept per parameter
                delta = float(grad) * lr
                data[()] = float(data) - delta
                out = outs[i]
                out[()] = delta
                steps.append(out)
                continue
            delta = self.delta(i, p.grad)
            if data.size > IN_PLACE_FROM and data.flags.writeable and data.dtype == delta.dtype:
                data -= delta  # large: update in place, no new memory
            else:
                p.data = data - delta  # small: a new array is cheaper than NumPy's in-place machinery
            steps.append(delta)
        return steps

    def _scalar(self, i: int, data: np.ndarray) -> bool:
        """Whether parameter ``i`` is one float64 number updated by the scalar rule, in its own writeable array."""
        if len(self._scalars) != len(self.params):
            self._scalars = [None] * len(self.params)
            self._scalar_steps = [None] * len(self.params)
        if not (self.scalar_rule and data.shape == () and data.dtype == np.float64 and data.flags.writeable):
            return False
        self._scalars[i] = data
        self._scalar_steps[i] = np.empty((), np.float64)
        return True

    def rate(self, dtype: np.dtype) -> np.ndarray:
        """The learning rate as a 0-d array of the parameters' dtype (cheaper than a Python float)."""
        cached = self._rates.get(dtype)
        if cached is None:
            cached = self._rates[dtype] = np.asarray(self._lr, dtype=dtype)
        return cached

    @abstractmethod
    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        """How far parameter ``i`` moves down, given its gradient."""

    def fit(
        self,
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
        """Train ``model`` on (x, y) and return the :class:`Trace` of every step (see :func:`loop.fit`)."""
        return loop.fit(self, model, x, y, loss=loss, max_steps=max_steps, min_step=min_step, callback=callback,
                        scheduler=scheduler, keep_every=keep_every)


class GradientDescent(Optimizer):
    """Plain gradient descent: step size = gradient × learning rate; new = old − step size.

    For large parameters the step sizes are written into a buffer kept per parameter (a new
    array every step would cost more in page faults than the arithmetic), and so are those of
    single float64 numbers, which are also updated in their own array; the array that
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
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    g = gradient + weight_decay·p (L2); with momentum μ, v = μ·v + (1 − dampening)·g (v = g
    at the first step) and the step is lr·v, or lr·(g + μ·v) with Nesterov momentum.
    """

    name = "sgd"

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum = _check_setting(momentum, "momentum", 0.0, 1.0)
        self.dampening = _check_setting(dampening, "dampening", 0.0, 1.0)
        self.weight_decay = _check_setting(weight_decay, "weight_decay")
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs a momentum above 0 and dampening 0")
        self.nesterov = bool(nesterov)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        if self.weight_decay:
            grad = grad + self.weight_decay * self.params[i].data
        if self.momentum:
            v = self.velocity[i]
            v = grad.copy() if v is None else v * self.momentum + (1 - self.dampening) * grad
            self.velocity[i] = v
            grad = grad + self.momentum * v if self.nesterov else v
        return self.lr * grad


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: steps scaled by running moments of the gradient.

    ``weight_decay`` adds weight_decay·p to the gradient (L2, as PyTorch's Adam does);
    ``AdamW`` decays the parameter itself instead.
    """

    name = "adam"
    decoupled = False

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        try:
            self.beta1, self.beta2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"Adam's betas must be two numbers in [0, 1), got {betas!r}") from None
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam's betas must be in [0, 1), got {betas}")
        self.eps = _check_setting(eps, "eps", hint="; try 1e-8")
        self.weight_decay = _check_setting(weight_decay, "weight_decay")
        self.m: list[np.ndarray | None] = [None] * len(self.params)
        self.v: list[np.ndarray | None] = [None] * len(self.params)
        self.t = [0] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        """PyTorch's order of operations, so trajectories agree to the last bits."""
        p = self.params[i].data
        if self.weight_decay and not self.decoupled:
            grad = grad + self.weight_decay * p
        self.t[i] += 1
        m = self.m[i] if self.m[i] is not None else np.zeros_like(grad)
        v = self.v[i] if self.v[i] is not None else np.zeros_like(grad)
        w = 1 - self.beta1  # torch's lerp of m towards the gradient, with its two branches
        m = m + w * (grad - m) if w < 0.5 else grad - (grad - m) * (1 - w)
        v = v * self.beta2 + (1 - self.beta2) * (grad * grad)
        self.m[i], self.v[i] = m, v
        step_size = self.lr / (1 - self.beta1 ** self.t[i])
        denom = np.sqrt(v) / (1 - self.beta2 ** self.t[i]) ** 0.5 + self.eps
        delta = step_size * (m / denom)
        if self.weight_decay and self.decoupled:
            return p - (p * (1 - self.lr * self.weight_decay) - delta)  # decay the parameter, then step
        return delta


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, p ← p·(1 − lr·weight_decay) − Adam's step."""

    name = "adamw"
    decoupled = True

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gradient_descent": GradientDescent, "sgd": SGD, "adam": Adam, "adamw": AdamW,
}
"""Optimizers by the names the CLI and spec files use."""
