"""RMSprop, as ``torch.optim.RMSprop``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Group, Optimizer, check_setting


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: each entry's step divided by the root of its running mean square.

    g = gradient + weight_decay·p; s = alpha·s + (1 − alpha)·g²; with ``centered`` the running mean
    of g, m, is taken away: d = √(s − m²) + eps, else d = √s + eps. The step is lr·g/d, or with
    momentum μ, lr·b where b = μ·b + g/d.
    """

    name = "rmsprop"

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        self.square_avg: list[np.ndarray | None] = []
        self.grad_avg: list[np.ndarray | None] = []
        self.momentum_buffer: list[np.ndarray | None] = []
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered)

    def check_group(self, group: Group) -> None:
        group["alpha"] = check_setting(group["alpha"], "alpha")
        group["eps"] = check_setting(group["eps"], "eps", hint="; try 1e-8")
        group["weight_decay"] = check_setting(group["weight_decay"], "weight_decay")
        group["momentum"] = check_setting(group["momentum"], "momentum")
        group["centered"] = bool(group["centered"])

    def add_state(self, count: int) -> None:
        for state in (self.square_avg, self.grad_avg, self.momentum_buffer):
            state.extend([None] * count)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        group = self._group_of[i]
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * self.params[i].data
        s = self.square_avg[i] if self.square_avg[i] is not None else np.zeros_like(grad)
        s = self.square_avg[i] = s * alpha + (1 - alpha) * (grad * grad)
        if group["centered"]:
            m = self.grad_avg[i] if self.grad_avg[i] is not None else np.zeros_like(grad)
            w = 1 - alpha  # torch's lerp of m towards the gradient, with its two branches
            m = self.grad_avg[i] = m + w * (grad - m) if w < 0.5 else grad - (grad - m) * (1 - w)
            avg = np.sqrt(s - m * m) + eps
        else:
            avg = np.sqrt(s) + eps
        if not momentum:
            return group["lr"] * (grad / avg)
        b = self.momentum_buffer[i] if self.momentum_buffer[i] is not None else np.zeros_like(grad)
        b = self.momentum_buffer[i] = b * momentum + grad / avg
        return group["lr"] * b
