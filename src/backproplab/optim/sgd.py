"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.inline import label
from backproplab.engine.tensor import Tensor
from backproplab.optim.flat import flat_lines, flat_params
from backproplab.optim.optimizer import (
    IN_PLACE_FROM,
    Group,
    Optimizer,
    check_setting,
    move_lines,
    move_number_lines,
    switch_check_lines,
)


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

    def update_lines(self, i: int, node: str, names: Any) -> list[str]:
        """Parameter ``i``'s update written out for a compiled step (``engine.fused``), as ``delta`` and ``step()``
        compute it. The terms written are those switched on (momentum, weight decay, Nesterov) when the step was
        written; their values are read at every step, and a step whose settings switch a term on or off runs
        ``step()`` itself."""
        group, data = self._group_of[i], self.params[i].data
        momentum, decay, nesterov = bool(group["momentum"]), bool(group["weight_decay"]), group["nesterov"]
        number = data.shape == () and data.dtype == np.float64 and not (momentum or decay)
        if not (self.writes_out(i) or number):
            return super().update_lines(i, node, names)
        me, grp = names.name(self), names.name(group)
        self._settings_lines(group, names)
        large = data.size > IN_PLACE_FROM
        title = f"# {label(self.params[i].name or f'parameter {i}')}: "
        if number:  # one float64 number: Python float arithmetic, the same IEEE operations as step()'s NumPy ones
            return [f"{title}p ← p − lr × ∂L/∂p (SGD)", f"d = {node}.data",
                    f"s = {grp}['lr'] * {node}._grad.item()", *move_number_lines(node, names.held_alone())]
        if not (momentum or decay):
            rate = self._rate_line(group, data.dtype, names)
            buf = names.name(np.empty_like(data))
            return [f"{title}p ← p − lr × ∂L/∂p (SGD)", f"s = multiply({node}._grad, {rate}, {buf})",
                    *move_lines(node, large, names.held_alone(), same_dtype=True)]
        lines = [f"{title}SGD: g = ∂L/∂p" + (" + λ·p" if decay else "")
                 + "; v ← μ·v + (1 − τ)·g (g at the first step); p ← p − lr × "
                 + ("(g + μ·v)" if nesterov else "v"), f"g = {node}._grad"]
        if decay:
            lines.append(f"g = g + {grp}['weight_decay'] * {node}.data")
        lines += [f"v = {me}.velocity[{i}]",
                  f"v = g.copy() if v is None else v * {grp}['momentum'] + (1 - {grp}['dampening']) * g",
                  f"{me}.velocity[{i}] = v"] if momentum else []
        if momentum:
            lines.append(f"g = g + {grp}['momentum'] * v" if nesterov else "g = v")
        return [*lines, f"s = {grp}['lr'] * g", *move_lines(node, large, names.held_alone())]

    def flat_update(self, nodes: list[str | None], names: Any, views: int) -> list[str]:
        """Every parameter's update at once (``optim.flat``), for plain SGD (no momentum or weight decay) on small
        parameters of one dtype; [] where that does not apply."""
        group = self.param_groups[0]
        if group["momentum"] or group["weight_decay"] or group["nesterov"]:
            return []
        flat = flat_params(self, nodes, IN_PLACE_FROM)
        if flat is None:
            return []
        self._settings_lines(group, names)
        rate = self._rate_line(group, flat.dtype, names)
        body = [f"subtract(qp, multiply(qg, {rate}, qg), qp)  # p ← p − lr × ∂L/∂p (SGD)"]
        return flat_lines(flat, [n for n in nodes if n is not None], names, {}, body, views)

    def _settings_lines(self, group: Group, names: Any) -> None:
        switch_check_lines(self, group, names, ("momentum", "weight_decay", "nesterov"), "a term")

    def _rate_line(self, group: Group, dtype: np.dtype, names: Any) -> str:
        """The name of the group's learning rate as a 0-d array of ``dtype``, read once per compiled update."""
        me, grp = names.name(self), names.name(group)
        rate = f"lr{grp[1:]}_{dtype.name}"
        names.first(f"rate {grp} {dtype.name}", [
            f"{rate} = {me}.rate({names.name(dtype)}, {grp}['lr'])  # lr as a 0-d {dtype.name} array"])
        return rate
