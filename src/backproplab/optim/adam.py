"""Adam and AdamW, as ``torch.optim.Adam`` and ``torch.optim.AdamW``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import Optimizer, check_setting


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
        self.eps = check_setting(eps, "eps", hint="; try 1e-8")
        self.weight_decay = check_setting(weight_decay, "weight_decay")
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


# alike on purpose: AdamW's signature repeats Adam's, with PyTorch's own default weight_decay (0.01)
class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, p ← p·(1 − lr·weight_decay) − Adam's step."""

    name = "adamw"
    decoupled = True

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
