"""Adagrad, as ``torch.optim.Adagrad``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Optimizer, check_setting


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: each entry's step divided by the root of its summed squared gradients.

    g = gradient + weight_decay·p; s = s + g² (s starts at ``initial_accumulator_value``); at step t
    the rate is lr / (1 + (t − 1)·lr_decay) and the step is rate·g / (√s + eps).
    """

    name = "adagrad"

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr)
        self.lr_decay = check_setting(lr_decay, "lr_decay")
        self.weight_decay = check_setting(weight_decay, "weight_decay")
        self.initial_accumulator_value = check_setting(initial_accumulator_value, "initial_accumulator_value")
        self.eps = check_setting(eps, "eps", hint="; try 1e-10")
        self.state_sum: list[np.ndarray | None] = [None] * len(self.params)
        self.t = [0] * len(self.params)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        if self.weight_decay:
            grad = grad + self.weight_decay * self.params[i].data
        self.t[i] += 1
        rate = self.lr / (1 + (self.t[i] - 1) * self.lr_decay)
        s = self.state_sum[i] if self.state_sum[i] is not None else np.full_like(grad, self.initial_accumulator_value)
        s = self.state_sum[i] = s + grad * grad
        return rate * (grad / (np.sqrt(s) + self.eps))
