"""Adagrad, as ``torch.optim.Adagrad``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Group, Optimizer, check_setting


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: each entry's step divided by the root of its summed squared gradients.

    g = gradient + weight_decay·p; s = s + g² (s starts at ``initial_accumulator_value``); at step t
    the rate is lr / (1 + (t − 1)·lr_decay) and the step is rate·g / (√s + eps).
    """

    name = "adagrad"

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.01, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        self.state_sum: list[np.ndarray | None] = []
        self.t: list[int] = []
        super().__init__(params, lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def check_group(self, group: Group) -> None:
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value"):
            group[name] = check_setting(group[name], name)
        group["eps"] = check_setting(group["eps"], "eps", hint="; try 1e-10")

    def add_state(self, count: int) -> None:
        self.state_sum.extend([None] * count)
        self.t.extend([0] * count)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        group = self._group_of[i]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * self.params[i].data
        self.t[i] += 1
        rate = group["lr"] / (1 + (self.t[i] - 1) * group["lr_decay"])
        s = self.state_sum[i]
        if s is None:
            s = np.full_like(grad, group["initial_accumulator_value"])
        s = self.state_sum[i] = s + grad * grad
        return rate * (grad / (np.sqrt(s) + group["eps"]))
