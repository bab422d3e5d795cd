"""Plain gradient descent, the textbook rule the worked example uses.

step size = gradient × learning rate, new value = old value − step size, stopping once every
|step size| is below ``min_step`` or after ``max_steps``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.inline import label
from backproplab.engine.tensor import Tensor
from backproplab.optim.optimizer import IN_PLACE_FROM, Optimizer


class GradientDescent(Optimizer):
    """Plain gradient descent: step size = gradient × learning rate; new = old − step size.

    For large parameters the step sizes are written into a buffer kept per parameter (a new
    array every step would cost more in page faults than the arithmetic), and so are those of
    single float64 numbers, which are also updated in their own array; the array that
    ``step()`` returns for such a parameter is therefore reused by the next step.
    """

    name = "gradient_descent"
    scalar_rule = True

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.1, min_step: float = 1e-4, max_steps: int = 1000
    ) -> None:
        self._buffers: list[np.ndarray | None] = []
        super().__init__(params, lr)
        self.min_step = float(min_step)
        self.max_steps = int(max_steps)

    def add_state(self, count: int) -> None:
        self._buffers.extend([None] * count)

    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        rate = self.rate(grad.dtype, self._group_of[i]["lr"])
        if grad.size <= IN_PLACE_FROM:
            return grad * rate
        buf = self._buffers[i]
        if buf is None or buf.shape != grad.shape or buf.dtype != grad.dtype:
            buf = self._buffers[i] = np.empty_like(grad)
        return np.multiply(grad, rate, out=buf)

    def update_lines(self, i: int, node: str, names: Any) -> list[str]:
        """p ← p − lr·∂L/∂p written out, as ``step()`` computes it: in Python floats for a single float64
        number moved in its own array, else in NumPy (into the buffer ``step()`` uses, for a large array)."""
        me, lr, data = names.name(self), f"{names.name(self._group_of[i])}['lr']", self.params[i].data
        lines = [f"# {label(self.params[i].name or f'parameter {i}')}: p ← p − lr × ∂L/∂p (gradient descent)"]
        if data.shape == () and data.dtype == np.float64 and data.flags.writeable:
            self._scalar(i, data)
            d = names.name(data)
            return [*lines, f"if {node}.data is {d}:", f"    {d}[()] = {d}.item() - float({node}._grad) * {lr}",
                    "else:  # the array was replaced", f"    {me}.move({i})"]
        if data.size <= IN_PLACE_FROM:
            return [*lines, *_small_array_lines(me, node, lr, names.name(np.empty_like(data)), names.held_alone())]
        if not data.flags.writeable:
            return [*lines, f"{me}.move({i})"]
        buf = self._buffers[i]
        if buf is None or buf.shape != data.shape or buf.dtype != data.dtype:
            buf = self._buffers[i] = np.empty_like(data)
        b, d = names.name(buf), names.name(data)
        return [*lines, f"g = {node}._grad", f"same = {node}.data is {d} and {me}._buffers[{i}] is {b}",
                f"if same and g.shape == {d}.shape and g.dtype == {d}.dtype:  # in place, through step()'s buffer",
                f"    subtract({d}, multiply(g, {me}.rate(g.dtype, {lr}), {b}), {d})",
                "else:", f"    {me}.move({i})"]


def _small_array_lines(me: str, node: str, lr: str, buf: str, alone: int) -> list[str]:
    """A small array moved as ``step()`` moves it (p − g·lr), but in place where nothing else holds it (``step()``
    makes a new array, which only an array someone kept needs): the same numbers, no new arrays."""
    return [f"g, d = {node}._grad, {node}.data",
            f"s = multiply(g, {me}.rate(g.dtype, {lr}), {buf})",
            f"if getrefcount(d) <= {alone} and d.flags.writeable and d.dtype == s.dtype:",
            "    subtract(d, s, d)",
            "else:  # kept by someone, or read-only: a new array, as step() makes",
            f"    {node}.data = subtract(d, s)"]
