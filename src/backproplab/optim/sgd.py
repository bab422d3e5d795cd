"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Optimizer, check_setting


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    g = gradient + weight_decay·p (L2); with momentum μ, v = μ·v + (1 − dampening)·g (v = g
    at the first step) and the step is lr·v, or lr·(g + μ·v) with Nesterov momentum.
    """

    name = "sgd"

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum = check_setting(momentum, "momentum", 0.0, 1.0)
        self.dampening = check_setting(dampening, "dampening", 0.0, 1.0)
        self.weight_decay = check_setting(weight_decay, "weight_decay")
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
