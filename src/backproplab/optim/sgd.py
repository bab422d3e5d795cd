"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Group, Optimizer, check_setting


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    g = gradient + weight_decay·p (L2); with momentum μ, v = μ·v + (1 − dampening)·g (v = g
    at the first step) and the step is lr·v, or lr·(g + μ·v) with Nesterov momentum.
    """

    name = "sgd"

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.01, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        self.velocity: list[np.ndarray | None] = []
        super().__init__(params, lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov)

    def check_group(self, group: Group) -> None:
        group["momentum"] = check_setting(group["momentum"], "momentum", 0.0, 1.0)
        group["dampening"] = check_setting(group["dampening"], "dampening", 0.0, 1.0)
        group["weight_decay"] = check_setting(group["weight_decay"], "weight_decay")
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum needs a momentum above 0 and dampening 0")
        group["nesterov"] = bool(group["nesterov"])

    def add_state(self, count: int) -> None:
        self.velocity.extend([None] * count)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        group = self._group_of[i]
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if weight_decay:
            grad = grad + weight_decay * self.params[i].data
        if momentum:
            v = self.velocity[i]
            v = grad.copy() if v is None else v * momentum + (1 - group["dampening"]) * grad
            self.velocity[i] = v
            grad = grad + momentum * v if group["nesterov"] else v
        return group["lr"] * grad
