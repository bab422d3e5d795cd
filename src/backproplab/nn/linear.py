"""``Linear``: an affine layer; ``linear``, the x Wᵀ + b every affine step computes; and the checks on layer
sizes that networks share."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine.tensor import ShapeError, Tensor
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter
from backproplab.util import limits
from backproplab.util.messages import excerpt


class Linear(Module):
    """z = x Wᵀ + b, with W of shape (out, in) as in PyTorch, so that a row of x is one sample and
    ``W[j, i]`` is the weight from input i to output j (a ``state_dict`` copies over as it is).

    Parameters are named ``W{suffix}`` and ``b{suffix}``; the output is named ``z{suffix}``.
    Without a ``suffix``, the network the layer joins numbers its layers 1, 2, … in the order
    they were added (a layer on its own keeps W, b and z).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, suffix: str | None = None,
        rng: np.random.Generator | None = None, dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        in_features, out_features = check_sizes([in_features, out_features], "a Linear layer",
                                                ("in_features", "out_features"))
        rng = rng if rng is not None else np.random.default_rng(0)
        bound = 1.0 / np.sqrt(in_features)
        self.auto_named = suffix is None
        suffix = "" if suffix is None else str(suffix)
        self.suffix = suffix
        # drawn as (in, out), then stored (out, in): a seed gives connection i → j the same value either way
        start = np.ascontiguousarray(rng.uniform(-bound, bound, (in_features, out_features)).T)
        self.weight = Parameter(start, f"W{suffix}", dtype=dtype)
        self.bias = Parameter(np.zeros(out_features), f"b{suffix}", dtype=dtype) if bias else None

    def rename(self, suffix: str) -> None:
        """Call the layer's parameters W{suffix}, b{suffix} and its output z{suffix}."""
        self.suffix = suffix
        self.weight.name = f"W{suffix}"
        if self.bias is not None:
            self.bias.name = f"b{suffix}"

    def forward(self, x: Tensor) -> Tensor:
        n_out, n_in = self.weight.shape
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if not shape or shape[-1] != n_in:
            raise ShapeError(f"the Linear layer with {self.weight.name} ({n_out}×{n_in}: {n_out} outputs × {n_in} "
                             f"inputs) takes {n_in} value(s) per sample, got input of shape {tuple(shape)}: its "
                             f"last size must be {n_in}")
        return linear(x, self.weight, self.bias).named(f"z{self.suffix}")

    def __repr__(self) -> str:
        n_out, n_in = self.weight.shape
        return f"Linear({n_in}, {n_out}, bias={self.bias is not None})"


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """x Wᵀ + b with W in PyTorch's (out, in) layout, as ``torch.nn.functional.linear``: a matmul by W's transpose
    (a view), then the bias added, each an op of the table."""
    z = input @ weight.T
    return z if bias is None else z + bias


def check_sizes(sizes: Sequence[int], what: str = "an MLP", names: Sequence[str] = ()) -> list[int]:
    """Layer sizes as whole numbers, 1 or more, whose parameters fit in the memory limit; ``names``
    are what the caller calls them (in_features, out_features), for the message."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"{what} needs at least two positive layer sizes (inputs and outputs), got {excerpt(sizes)}")
    checked = []
    for i, size in enumerate(sizes):
        try:
            if isinstance(size, bool):
                raise TypeError
            size = operator.index(size)
        except TypeError:
            raise ValueError(f"{_size_name(names, i)} should be a whole number, got {excerpt(size)}") from None
        if size < 1:
            raise ValueError(f"{_size_name(names, i)} must be 1 or more, got {size}")
        checked.append(size)
    need = limits.mlp_parameter_count(checked) * limits.FLOAT
    if need > limits.memory_limit():
        raise ValueError(f"{what} with sizes {excerpt(checked)} has {limits.mlp_parameter_count(checked):,} "
                         f"parameters, which need {limits.describe(need)}, "
                         + limits.limit_note("'with backproplab.util.limits.allowing(nbytes):'"))
    return checked


def _size_name(names: Sequence[str], i: int) -> str:
    return names[i] if i < len(names) else f"sizes[{i}]"
