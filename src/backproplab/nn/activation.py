"""Activation layers by name (``relu``, ``softplus`` …), each a module around one op of the table."""

from __future__ import annotations

import warnings
from typing import Any

from backproplab.engine import ops
from backproplab.engine.tensor import Tensor, apply
from backproplab.nn.module import Module
from backproplab.util.messages import excerpt, unknown_name_message


class Activation(Module):
    """An elementwise activation by name: identity, relu, sigmoid, softplus, tanh, leaky_relu, elu,
    silu or gelu; leaky_relu and elu take PyTorch's settings unless given (negative_slope=0.01, alpha=1)."""

    def __init__(self, name: str, **settings: float) -> None:
        super().__init__()
        if name not in ops.ACTIVATIONS:
            raise ValueError(unknown_name_message("activation", name, ops.ACTIVATIONS))
        self.op = ops.ACTIVATIONS[name]
        defaults = ops.ACTIVATION_SETTINGS.get(name, {})
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise ValueError(f"the activation {name!r} has no setting {unknown[0]!r}"
                             + (f" (it takes {', '.join(defaults)})" if defaults else ""))
        who = name if type(self) is Activation else type(self).__name__
        self.settings = {k: _setting(settings.get(k, v), f"{who}: {k}") for k, v in defaults.items()}

    def forward(self, z: Tensor) -> Tensor:
        return z if self.op is ops.identity else apply(self.op, z, **self.settings)

    def __repr__(self) -> str:
        return f"Activation({self.op.name!r})"


class _ByClass(Activation):
    """An activation named by its class, as PyTorch's ``nn.Tanh()`` is; ``rule`` is the op's name."""

    rule = "identity"

    def __init__(self) -> None:
        super().__init__(self.rule)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(_ByClass):
    """PyTorch's ``nn.Identity``."""


class ReLU(_ByClass):
    """PyTorch's ``nn.ReLU``."""

    rule = "relu"


class Sigmoid(_ByClass):
    """PyTorch's ``nn.Sigmoid``."""

    rule = "sigmoid"


class Softplus(_ByClass):
    """PyTorch's ``nn.Softplus`` with its defaults (beta 1)."""

    rule = "softplus"


class Tanh(_ByClass):
    """PyTorch's ``nn.Tanh``."""

    rule = "tanh"


class LeakyReLU(Activation):
    """PyTorch's ``nn.LeakyReLU``: z where z > 0, else negative_slope·z."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__("leaky_relu", negative_slope=negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.settings['negative_slope']:g})"


class ELU(Activation):
    """PyTorch's ``nn.ELU``: z where z > 0, else alpha·(e^z − 1)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__("elu", alpha=alpha)

    def __repr__(self) -> str:
        return f"ELU(alpha={self.settings['alpha']:g})"


class SiLU(_ByClass):
    """PyTorch's ``nn.SiLU``: z·σ(z)."""

    rule = "silu"


class GELU(Module):
    """PyTorch's ``nn.GELU``: z·Φ(z), or its tanh formula with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {excerpt(approximate)}")
        self.approximate = approximate

    def forward(self, z: Tensor) -> Tensor:
        return apply(ops.OPS["gelu" if self.approximate == "none" else "gelu_tanh"], z)

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else "GELU(approximate='tanh')"


class Softmax(Module):
    """PyTorch's ``nn.Softmax``: e^z / Σ e^z along ``dim``.

    Without ``dim`` PyTorch's old rule picks one (0 for 0-, 1- and 3-dimensional inputs, else 1) and
    warns, as PyTorch does; name the dimension to be sure."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's names
        x = input if isinstance(input, Tensor) else Tensor(input)
        return self._run(x, _implicit_dim(type(self).__name__, x.ndim) if self.dim is None else self.dim)

    def _run(self, x: Tensor, dim: int) -> Tensor:
        return x.softmax(dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class LogSoftmax(Softmax):
    """PyTorch's ``nn.LogSoftmax``: z − ln Σ e^z along ``dim``, computed without overflow."""

    def _run(self, x: Tensor, dim: int) -> Tensor:
        return x.log_softmax(dim)


def _implicit_dim(layer: str, ndim: int) -> int:
    warnings.warn(f"{layer} without dim picks dimension {0 if ndim in (0, 1, 3) else 1}, PyTorch's old rule; "
                  "give dim= explicitly", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _setting(value: Any, what: str) -> float:
    """A layer's number setting (negative_slope, alpha) as a float, or a ValueError naming it."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {excerpt(value)}") from None


ACTIVATION_MODULES = (Activation, GELU)
