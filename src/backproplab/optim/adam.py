"""Adam and AdamW, as ``torch.optim.Adam`` and ``torch.optim.AdamW``, in PyTorch's order of operations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

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

    def update_lines(self, i: int, node: str, names: Any) -> list[str]:
        """Parameter ``i``'s update written out for a compiled step (``engine.fused``): ``delta``'s lines in its
        order of operations, the settings read at every step; a single float64 number in Python floats (the same
        IEEE operations). A step whose weight decay is switched on or off since the step was written runs
        ``step()`` itself."""
        group, data = self._group_of[i], self.params[i].data
        number = data.shape == () and data.dtype == np.float64
        if not (self.writes_out(i) or number):
            return super().update_lines(i, node, names)
        me, grp = names.name(self), names.name(group)
        decay = bool(group["weight_decay"])
        self._settings_lines(group, names)
        coupled, decoupled = decay and not self.decoupled, decay and self.decoupled
        p, zero, root, grad = ("d.item()", "0.0", "math_sqrt", "._grad.item()") if number else (
            "d", "zeros_like(g)", "sqrt", "._grad")
        title = (f"# {label(self.params[i].name or f'parameter {i}')}: {self.name}: m ← β1·m + (1 − β1)·g; "
                 "v ← β2·v + (1 − β2)·g²; p ← p − lr/(1 − β1ᵗ) × m/(√v/√(1 − β2ᵗ) + ε)")
        lines = [title, f"g, d = {node}{grad}, {node}.data",
                 f"(beta1, beta2), lr, eps = {grp}['betas'], {grp}['lr'], {grp}['eps']"]
        if coupled:
            lines.append(f"g = g + {grp}['weight_decay'] * {p}  # L2: λ·p added to the gradient")
        lines += [f"t = {me}.t[{i}] = {me}.t[{i}] + 1",
                  f"m = {me}.m[{i}] if {me}.m[{i}] is not None else {zero}",
                  f"v = {me}.v[{i}] if {me}.v[{i}] is not None else {zero}",
                  "w = 1 - beta1  # torch's lerp of m towards g, with its two branches",
                  "m = m + w * (g - m) if w < 0.5 else g - (g - m) * (1 - w)",
                  "v = v * beta2 + (1 - beta2) * (g * g)",
                  f"{me}.m[{i}], {me}.v[{i}] = " + ("float64(m), float64(v)" if number else "m, v"),
                  f"s = lr / (1 - beta1 ** t) * (m / ({root}(v) / (1 - beta2 ** t) ** 0.5 + eps))"]
        if decoupled:
            lines.append(f"s = {p} - ({p} * (1 - lr * {grp}['weight_decay']) - s)  # decay p itself, then step")
        if number:
            return [*lines, *move_number_lines(node, names.held_alone())]
        return [*lines, *move_lines(node, data.size > IN_PLACE_FROM, names.held_alone(), read=False)]

    def flat_update(self, nodes: list[str | None], names: Any, views: int) -> list[str]:
        """Every parameter's update at once (``optim.flat``), in ``delta``'s order of operations, on small parameters
        of one dtype without weight decay, each at the same step count; [] where that does not apply."""
        group, n = self.param_groups[0], len(self.params)
        started = self.t[0] > 0
        state = [*self.m, *self.v]
        if group["weight_decay"] or self.t.count(self.t[0]) != n or any((m is not None) != started for m in state):
            return []
        if started and any(m is None or m.shape != p.data.shape or m.dtype != p.data.dtype
                           for m, p in zip(state, self.params * 2)):
            return []
        flat = flat_params(self, nodes, IN_PLACE_FROM)
        if flat is None:
            return []
        self.m[:] = flat.add("m", cast("list[np.ndarray]", self.m) if started else None)  # none is None (above)
        self.v[:] = flat.add("v", cast("list[np.ndarray]", self.v) if started else None)
        self._settings_lines(group, names)
        me, grp = names.name(self), names.name(group)
        body = [f"(beta1, beta2), lr, eps = {grp}['betas'], {grp}['lr'], {grp}['eps']",
                f"t = {me}.t[0] + 1",
                f"{me}.t[:] = [t] * {n}",
                "w = 1 - beta1  # torch's lerp of m towards g, with its two branches",
                "if w < 0.5:",
                "    add(qm, multiply(subtract(qg, qm, qs), w, qs), qm)  # m ← m + w·(g − m)",
                "else:",
                "    subtract(qg, multiply(subtract(qg, qm, qs), 1 - w, qs), qm)  # m ← g − (g − m)·(1 − w)",
                "# v ← β2·v + (1 − β2)·g²; p ← p − lr/(1 − β1ᵗ) × m/(√v/√(1 − β2ᵗ) + ε)",
                "add(multiply(qv, beta2, qv), multiply(multiply(qg, qg, qs), 1 - beta2, qs), qv)",
                "divide(qm, add(divide(sqrt(qv, qs), (1 - beta2 ** t) ** 0.5, qs), eps, qs), qs)",
                "subtract(qp, multiply(qs, lr / (1 - beta1 ** t), qs), qp)"]
        return flat_lines(flat, [node for node in nodes if node is not None], names, {"m": f"{me}.m", "v": f"{me}.v"},
                          body, views, (f"{me}.t.count({me}.t[0]) == {n}",))

    def _settings_lines(self, group: Group, names: Any) -> None:
        switch_check_lines(self, group, names, ("weight_decay",), "weight decay")


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
