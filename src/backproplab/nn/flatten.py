"""``Flatten`` and ``Unflatten``, as ``torch.nn``'s: reshapes between layers, so an image of (channels, height,
width) can feed a ``Linear`` layer and come back out. The gradient flows through the table's ``reshape``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine.axes import one_dim
from backproplab.engine.tensor import Tensor
from backproplab.nn.module import Module


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class Flatten(Module):
    """Dimensions ``start_dim`` to ``end_dim`` merged into one, as ``torch.nn.Flatten``; by default every
    dimension but the first (the samples)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's names
        return _tensor(input).flatten(self.start_dim, self.end_dim)

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class Unflatten(Module):
    """Dimension ``dim`` split into ``unflattened_size`` (one entry may be −1), as ``torch.nn.Unflatten``."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        sizes = tuple(unflattened_size)
        if not sizes or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise TypeError(f"Unflatten: unflattened_size must be whole numbers, got {unflattened_size!r}")
        if sum(s == -1 for s in sizes) > 1 or any(s < -1 for s in sizes):
            raise ValueError(f"Unflatten: unflattened_size may hold one -1 and no other negative size, got {sizes}")
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in sizes)

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        x = _tensor(input)
        shape = x.shape
        d = one_dim(self.dim, len(shape), "Unflatten")
        sizes = self.unflattened_size
        known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
        fits = shape[d] % known == 0 if -1 in sizes and known else shape[d] == known
        if not shape or not fits:
            raise ValueError(f"Unflatten: dimension {self.dim} of shape {shape} cannot be split into {sizes}")
        return x.reshape(shape[:d] + sizes + shape[d + 1:])

    def __repr__(self) -> str:
        return f"Unflatten(dim={self.dim}, unflattened_size={self.unflattened_size})"
