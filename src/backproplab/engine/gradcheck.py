"""Numerical gradients, the independent check on every analytic one.

``central_difference`` perturbs one entry at a time: (f(x + ε) − f(x − ε)) / 2ε, whose error
shrinks like ε². ``grad_check`` compares it with what ``backward()`` computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor


def central_difference(f: Callable[..., Tensor], inputs: Sequence[Tensor], wrt: int, eps: float = 1e-6) -> np.ndarray:
    """d f(*inputs).sum() / d inputs[wrt], entry by entry, by central differences."""
    x = inputs[wrt]
    original = x.data
    flat = original.astype(np.float64).reshape(-1)
    grad = np.zeros(flat.shape, dtype=np.float64)
    try:
        with no_grad():
            for i in range(flat.size):
                values = []
                for sign in (1.0, -1.0):
                    bumped = flat.copy()
                    bumped[i] += sign * eps
                    x.data = bumped.reshape(original.shape).astype(original.dtype)
                    values.append(float(np.sum(f(*inputs).data, dtype=np.float64)))
                grad[i] = (values[0] - values[1]) / (2 * eps)
    finally:
        x.data = original
    return grad.reshape(original.shape)


def grad_check(
    f: Callable[..., Tensor], *inputs: Tensor, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5
) -> dict[int, float]:
    """Check backward() against central differences for every input that requires a gradient.

    Returns the largest absolute difference per input; raises AssertionError, naming the
    input and the entry, when any difference is beyond ``atol + rtol·|numerical|``.
    """
    for t in inputs:
        t.grad = None
    f(*inputs).sum().backward()
    worst: dict[int, float] = {}
    for k, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        numeric = central_difference(f, inputs, k, eps)
        analytic = t._grad if t._grad is not None else np.zeros_like(numeric)
        diff = np.abs(analytic - numeric)
        worst[k] = float(diff.max(initial=0.0))
        bad = diff > atol + rtol * np.abs(numeric)
        if np.any(bad):
            where = np.unravel_index(int(np.argmax(bad)), numeric.shape) if numeric.ndim else ()
            raise AssertionError(
                f"gradient of input {k} ({t.name or 'unnamed'}) at {where}: backward gave "
                f"{analytic[where]!r}, central differences give {numeric[where]!r}"
            )
    return worst
