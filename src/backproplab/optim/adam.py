"""Adam and AdamW, as ``torch.optim.Adam`` and ``torch.optim.AdamW``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Group, Optimizer, check_setting


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: steps scaled by running moments of the gradient.

    ``weight_decay`` adds weight_decay·p to the gradient (L2, as PyTorch's Adam does);
    ``AdamW`` decays the parameter itself instead.
    """

    name = "adam"
    decoupled = False

    def __init__(
        self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
    ) -> None:
        self.m: list[np.ndarray | None] = []
        self.v: list[np.ndarray | None] = []
        self.t: list[int] = []
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def check_group(self, group: Group) -> None:
        betas = group["betas"]
        try:
            beta1, beta2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"Adam's betas must be two numbers in [0, 1), got {betas!r}") from None
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam's betas must be in [0, 1), got {betas}")
        group["betas"] = (beta1, beta2)
        group["eps"] = check_setting(group["eps"], "eps", hint="; try 1e-8")
        group["weight_decay"] = check_setting(group["weight_decay"], "weight_decay")

    def add_state(self, count: int) -> None:
        self.m.extend([None] * count)
        self.v.extend([None] * count)
        self.t.extend([0] * count)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        """PyTorch's order of operations, so trajectories agree to the last bits."""
        group = self._group_of[i]
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        p = self.params[i].data
        if weight_decay and not self.decoupled:
            grad = grad + weight_decay * p
        self.t[i] += 1
        m = self.m[i] if self.m[i] is not None else np.zeros_like(grad)
        v = self.v[i] if self.v[i] is not None else np.zeros_like(grad)
        w = 1 - beta1  # torch's lerp of m towards the gradient, with its two branches
        m = m + w * (grad - m) if w < 0.5 else grad - (grad - m) * (1 - w)
        v = v * beta2 + (1 - beta2) * (grad * grad)
        self.m[i], self.v[i] = m, v
        step_size = lr / (1 - beta1 ** self.t[i])
        denom = np.sqrt(v) / (1 - beta2 ** self.t[i]) ** 0.5 + group["eps"]
        delta = step_size * (m / denom)
        if weight_decay and self.decoupled:
            return p - (p * (1 - lr * weight_decay) - delta)  # decay the parameter, then step
        return delta


# alike on purpose: AdamW's signature repeats Adam's, with PyTorch's own default weight_decay (0.01)
class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, p ← p·(1 − lr·weight_decay) − Adam's step."""

    name = "adamw"
    decoupled = True

    def __init__(
        self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
