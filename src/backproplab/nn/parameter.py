"""``Parameter``: a named tensor that a network learns (``w1``, ``b3``, ``W2``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor


class Parameter(Tensor):
    """A named tensor that a network learns; it requires a gradient unless frozen."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, requires_grad: bool = True, dtype: Any = None) -> None:
        # A parameter owns its values: training must never write into the caller's array.
        data = np.array(data.data if isinstance(data, Tensor) else data, copy=True)
        if dtype is None and data.dtype.kind in "biu":  # Parameter(0, "b3"): a parameter is a float
            data = data.astype(np.float64)
        super().__init__(data, requires_grad=requires_grad, name=name, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]
