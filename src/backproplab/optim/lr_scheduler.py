"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: call ``sched.step()`` after each
``optimizer.step()``; the schedule sets the learning rate of each of the optimizer's
``param_groups`` for the next step, from that group's starting rate (``base_lrs``, one per group).

The rules are PyTorch's own recursive forms (each new rate is computed from the current
one), so rates agree with PyTorch's to the last bit. Also reachable as
``backproplab.optim.lr_scheduler``.
"""

from __future__ import annotations

import math
from typing import Any

from backproplab.optim.optimizer import check_learning_rate


class LRScheduler:
    """Base class: keeps ``last_epoch`` (how many times ``step()`` ran) and the rates it set.

    Creating a schedule counts as its step 0 and leaves the optimizer's rate as it was.
    """

    def __init__(self, optimizer: Any) -> None:
        if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "step"):
            raise TypeError(f"a learning-rate schedule needs an optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]  # each group's rate as it is now
        self.last_epoch = -1
        self._step_count = 0
        self._last_lr = list(self.base_lrs)
        self.step()

    def next_lr(self, lr: float, base_lr: float) -> float:
        """The rate for epoch ``last_epoch``, from the current rate ``lr`` (epoch 0 keeps it)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set each parameter group's learning rate for it."""
        self._step_count += 1
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        if self.last_epoch > 0:
            for group, base_lr in zip(groups, self.base_lrs):
                group["lr"] = check_learning_rate(self.next_lr(group["lr"], base_lr), allow_zero=True)
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` set, one per parameter group, as in PyTorch."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _positive(value: Any, name: str, whole: bool = False) -> float:
    try:
        number = int(value) if whole and float(value) == int(value) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a {'whole ' if whole else ''}number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0) or (whole and not isinstance(number, int)):
        raise ValueError(f"{name} must be a positive {'whole ' if whole else ''}number, got {value!r}")
    return number


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = int(_positive(step_size, "step_size", whole=True))
        self.gamma = _positive(gamma, "gamma")
        super().__init__(optimizer)

    def next_lr(self, lr: float, base_lr: float) -> float:
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Any, gamma: float) -> None:
        self.gamma = _positive(gamma, "gamma")
        super().__init__(optimizer)

    def next_lr(self, lr: float, base_lr: float) -> float:
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from the starting rate down to ``eta_min`` over ``T_max`` epochs (then back up)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 - PyTorch's name
        self.T_max = int(_positive(T_max, "T_max", whole=True))
        try:
            self.eta_min = float(eta_min)
        except (TypeError, ValueError):
            raise ValueError(f"eta_min must be a number, got {eta_min!r}") from None
        if not (math.isfinite(self.eta_min) and 0 <= self.eta_min):
            raise ValueError(f"eta_min must be zero or a positive number, got {eta_min!r}")
        super().__init__(optimizer)

    def next_lr(self, lr: float, base_lr: float) -> float:
        e, t, low = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - t) % (2 * t) == 0:
            return lr + (base_lr - low) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t)) * (lr - low) + low


__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "StepLR"]
