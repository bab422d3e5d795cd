"""RMSprop, as ``torch.optim.RMSprop``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Optimizer, check_setting


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: each entry's step divided by the root of its running mean square.

    g = gradient + weight_decay·p; s = alpha·s + (1 − alpha)·g²; with ``centered`` the running mean
    of g, m, is taken away: d = √(s − m²) + eps, else d = √s + eps. The step is lr·g/d, or with
    momentum μ, lr·b where b = μ·b + g/d.
    """

    name = "rmsprop"

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, lr)
        self.alpha = check_setting(alpha, "alpha")
        self.eps = check_setting(eps, "eps", hint="; try 1e-8")
        self.weight_decay = check_setting(weight_decay, "weight_decay")
        self.momentum = check_setting(momentum, "momentum")
        self.centered = bool(centered)
        self.square_avg: list[np.ndarray | None] = [None] * len(self.params)
        self.grad_avg: list[np.ndarray | None] = [None] * len(self.params)
        self.momentum_buffer: list[np.ndarray | None] = [None] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        if self.weight_decay:
            grad = grad + self.weight_decay * self.params[i].data
        s = self.square_avg[i] if self.square_avg[i] is not None else np.zeros_like(grad)
        s = self.square_avg[i] = s * self.alpha + (1 - self.alpha) * (grad * grad)
        if self.centered:
            m = self.grad_avg[i] if self.grad_avg[i] is not None else np.zeros_like(grad)
            w = 1 - self.alpha  # torch's lerp of m towards the gradient, with its two branches
            m = self.grad_avg[i] = m + w * (grad - m) if w < 0.5 else grad - (grad - m) * (1 - w)
            avg = np.sqrt(s - m * m) + self.eps
        else:
            avg = np.sqrt(s) + self.eps
        if not self.momentum:
            return self.lr * (grad / avg)
        b = self.momentum_buffer[i] if self.momentum_buffer[i] is not None else np.zeros_like(grad)
        b = self.momentum_buffer[i] = b * self.momentum + grad / avg
        return self.lr * b
