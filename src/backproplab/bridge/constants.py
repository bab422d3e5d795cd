"""Tensors a forward makes from sizes alone (``torch.arange(0, t)``, ``torch.tril(torch.ones(T, T))``): constants
of the converted network, with PyTorch's dtypes.

They hold no parameter, so no gradient flows into them; a causal mask or the positions of a sequence
is such a constant. ``device=`` is left out (backproplab computes on the CPU), and
``requires_grad=True`` is refused: a tensor made inside the forward is not a parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine import functions
from backproplab.engine.tensor import Tensor

IGNORED = ("device", "layout", "pin_memory", "memory_format")
"""Settings of PyTorch's constructors that change nothing here."""


def numpy_dtype(dtype: Any, default: Any) -> Any:
    """``torch.long`` → int64, ``torch.float32`` → float32; a NumPy dtype as it is; None → ``default``."""
    if dtype is None:
        return default
    name = str(dtype)
    return np.dtype(name.removeprefix("torch.")) if name.startswith("torch.") else np.dtype(dtype)


def _shape(size: tuple) -> tuple[int, ...]:
    """``ones(2, 3)`` and ``ones((2, 3))`` alike."""
    if len(size) == 1 and not isinstance(size[0], (int, np.integer)):
        size = tuple(size[0])
    return tuple(int(n) for n in size)


def _settings(name: str, settings: dict[str, Any]) -> None:
    if settings.get("requires_grad"):
        raise TorchBridgeError(f"torch.{name}(..., requires_grad=True) inside the forward makes a tensor that is no "
                               "parameter of the model; register it as an nn.Parameter in __init__ instead")
    unknown = sorted(set(settings) - {"requires_grad", *IGNORED})
    if unknown:
        raise TorchBridgeError(f"torch.{name}: the setting {unknown[0]}= is not supported by backproplab; leave it out")


def constructors(torch: Any) -> dict[Any, Any]:
    """torch's constructors of constant tensors → functions making the same tensors in backproplab."""
    default = np.dtype(str(torch.get_default_dtype()).removeprefix("torch."))

    def arange(*args: Any, dtype: Any = None, **settings: Any) -> Tensor:
        _settings("arange", settings)
        made = functions.arange(*args)
        return Tensor(made.data.astype(numpy_dtype(dtype, made.data.dtype if made.data.dtype.kind == "i" else default)))

    def filled(fill: float, name: str) -> Any:
        def make(*size: Any, dtype: Any = None, **settings: Any) -> Tensor:
            _settings(name, settings)
            return functions.full(_shape(size), fill, dtype=numpy_dtype(dtype, default))
        return make

    def full(size: Any, fill_value: Any, *, dtype: Any = None, **settings: Any) -> Tensor:
        _settings("full", settings)
        kind = bool if isinstance(fill_value, bool) else np.int64 if isinstance(fill_value, int) else default
        return functions.full(size, fill_value, dtype=numpy_dtype(dtype, kind))

    def like(fill: float, name: str) -> Any:
        def make(t: Any, *, dtype: Any = None, **settings: Any) -> Tensor:
            _settings(name, settings)
            return functions.full_like(t, fill, dtype=None if dtype is None else numpy_dtype(dtype, None))
        return make

    return {torch.arange: arange, torch.ones: filled(1.0, "ones"), torch.zeros: filled(0.0, "zeros"),
            torch.full: full, torch.ones_like: like(1.0, "ones_like"), torch.zeros_like: like(0.0, "zeros_like")}
