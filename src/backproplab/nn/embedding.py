"""``Embedding``, as ``torch.nn``'s: a table of vectors, one row per token, picked by index.

The output at each position is the row its index names, so a row's gradient is the sum of the gradients
at every position that used it (the table's ``embedding`` op), and rows no position used get 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.tensor import Tensor, apply
from backproplab.nn.linear import check_sizes
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter


def _index(input: Any, rows: int) -> Any:  # noqa: A002 - PyTorch's names
    """The indices as the op takes them (a tensor stays one, so a compiled step reads its current values),
    after PyTorch's checks: whole numbers, each naming a row of the table."""
    data = input.data if isinstance(input, Tensor) else np.asarray(input)
    if data.dtype.kind not in "iu":
        raise TypeError(f"embedding: the indices must be whole numbers (int64), got {data.dtype}; use .long()")
    if data.size and (data.min() < 0 or data.max() >= rows):
        bad = int(data.min() if data.min() < 0 else data.max())
        raise IndexError(f"embedding: index {bad} is out of range for a table of {rows} rows; indices must be "
                         f"from 0 to {rows - 1}")
    return input if isinstance(input, Tensor) else data.astype(np.int64, copy=False)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,  # noqa: A002
              **settings: Any) -> Tensor:
    """Row ``input[p]`` of ``weight`` at every position p, as ``torch.nn.functional.embedding``."""
    if padding_idx is not None or max_norm is not None or any(settings.values()):
        raise ValueError("embedding: padding_idx, max_norm, scale_grad_by_freq and sparse are not supported by "
                         "backproplab; leave them out")
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: the table must be a matrix (rows, embedding_dim), got shape {weight.shape}")
    return apply(ops.OPS["embedding"], weight, _index(input, weight.shape[0]))


class Embedding(Module):
    """A table of ``num_embeddings`` rows of ``embedding_dim`` numbers, as ``torch.nn.Embedding``: the output
    has the indices' shape plus one axis of ``embedding_dim``. The table is named ``E{suffix}``; its starting
    values are drawn from the standard normal distribution, as PyTorch draws them."""

    def __init__(self, num_embeddings: int, embedding_dim: int, suffix: str = "",
                 rng: np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        super().__init__()
        rows, width = check_sizes([num_embeddings, embedding_dim], "an Embedding", ("num_embeddings",
                                                                                  "embedding_dim"))
        rng = rng if rng is not None else np.random.default_rng(0)
        self.weight = Parameter(rng.standard_normal((rows, width)), f"E{suffix}", dtype=dtype)

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's names
        return embedding(input, self.weight)

    def __repr__(self) -> str:
        return f"Embedding({self.weight.shape[0]}, {self.weight.shape[1]})"
