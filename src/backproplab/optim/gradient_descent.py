"""Plain gradient descent, the textbook rule the worked example uses.

step size = gradient × learning rate, new value = old value − step size, stopping once every
|step size| is below ``min_step`` or after ``max_steps``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

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
