"""Top-level functions, as ``torch.where``, ``torch.cat``, ``torch.maximum``: each runs an op from
the table (or a tensor method that does), and accepts numbers and arrays where PyTorch accepts tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.axes import one_dim
from backproplab.engine.tensor import Tensor, apply


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself when it is a tensor (of that dtype), else a new tensor, as ``torch.as_tensor``."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor(data.data if isinstance(data, Tensor) else data, dtype=dtype)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input`` where ``condition`` holds, else ``other``; the gradient goes to the one chosen."""
    return as_tensor(input).where(condition, other)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension, as ``torch.cat``."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ops.ArgumentError("cat: give at least one tensor")
    ndim = items[0].ndim
    if ndim == 0:
        raise ops.ArgumentError("cat: 0-d tensors cannot be joined; use stack, or reshape them to (1,)")
    axis = one_dim(dim, ndim, "cat")
    for t in items[1:]:
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != items[0].shape[:axis] + items[0].shape[axis + 1:]:
            raise ops.ArgumentError(f"cat: shapes {items[0].shape} and {t.shape} differ outside dimension {axis}, "
                                    "so they cannot be joined along it")
    out = items[0] if len(items) > 1 else apply(ops.OPS["clone"], items[0])
    for t in items[1:]:
        out = apply(ops.OPS["cat"], out, t, axis=axis)
    return out


concat = concatenate = cat


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension, as ``torch.stack``."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ops.ArgumentError("stack: give at least one tensor")
    shape = items[0].shape
    for t in items[1:]:
        if t.shape != shape:
            raise ops.ArgumentError(f"stack: every tensor needs the same shape, got {shape} and {t.shape}")
    one_dim(dim, len(shape) + 1, "stack")
    return cat([t.unsqueeze(dim) for t in items], dim)


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["maximum"], input, other)


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["minimum"], input, other)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    return _t(input).clamp(min, max)


clip = clamp


def abs(input: Any) -> Tensor:  # noqa: A001
    return apply(ops.OPS["abs"], input)


def sqrt(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["sqrt"], input)


def sign(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["sign"], input)


def log2(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["log2"], input)


def log10(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["log10"], input)


def sin(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["sin"], input)


def cos(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.OPS["cos"], input)


def add(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    return _t(input).add(other, alpha=alpha)


def sub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    return _t(input).sub(other, alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:  # noqa: A002
    return apply(ops.mul, input, other)


def div(input: Any, other: Any) -> Tensor:  # noqa: A002
    return apply(ops.div, input, other)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001, A002
    return apply(ops.pow, input, exponent)


def neg(input: Any) -> Tensor:  # noqa: A002
    return apply(ops.neg, input)


def sum(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    return _t(input).sum(dim=dim, keepdim=keepdim)


def mean(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).mean(dim=dim, keepdim=keepdim)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    return _t(input).max(dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    return _t(input).min(dim, keepdim)


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).argmax(dim, keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).argmin(dim, keepdim)


def var(input: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).var(dim, correction=correction, keepdim=keepdim)


def std(input: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).std(dim, correction=correction, keepdim=keepdim)


def prod(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _t(input).prod(dim, keepdim)


def softmax(input: Any, dim: int) -> Tensor:  # noqa: A002
    return _t(input).softmax(dim)


def log_softmax(input: Any, dim: int) -> Tensor:  # noqa: A002
    return _t(input).log_softmax(dim)


def reshape(input: Any, shape: Sequence[int]) -> Tensor:  # noqa: A002
    return _t(input).reshape(shape)


def permute(input: Any, dims: Sequence[int]) -> Tensor:  # noqa: A002
    return _t(input).permute(dims)


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    return _t(input).transpose(dim0, dim1)


def squeeze(input: Any, dim: Any = None) -> Tensor:  # noqa: A002
    return _t(input).squeeze(dim)


def unsqueeze(input: Any, dim: int) -> Tensor:  # noqa: A002
    return _t(input).unsqueeze(dim)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    return _t(input).flatten(start_dim, end_dim)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return _t(tensor).split(split_size_or_sections, dim)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    return _t(input).chunk(chunks, dim)
