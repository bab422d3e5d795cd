"""Axis arguments checked the way PyTorch checks them: a dimension that does not exist is an
IndexError that names it (NumPy would wrap −3 or 5 around silently)."""

from __future__ import annotations

from typing import Any

import numpy as np


def dim_error(op: str, axis: Any, ndim: int) -> IndexError:
    low, high = (-ndim, ndim - 1) if ndim else (-1, 0)
    return IndexError(
        f"{op}: Dimension out of range: dimension {axis} does not exist in a tensor with {ndim} "
        f"dimension{'s' if ndim != 1 else ''} (expected a dimension from {low} to {high})"
    )


def norm_axis(axis: Any, ndim: int, op: str = "sum") -> Any:
    """Negative axes made positive, so every VJP can rely on them; an axis that does not exist is an
    IndexError (NumPy would wrap it silently). On a 0-d tensor axis 0 and −1 mean the whole tensor."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)):
        if -ndim <= axis < ndim:
            return int(axis) % ndim
        if ndim == 0 and axis in (0, -1):
            return None
        raise dim_error(op, axis, ndim)
    axes = tuple(axis)
    if not axes:
        return None  # dim=() reduces everything, as in PyTorch
    if ndim == 0:
        for a in axes:
            if a not in (0, -1):
                raise dim_error(op, a, ndim)
        return None
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise dim_error(op, a, ndim)
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise IndexError(f"{op}: dimension {axes} names one dimension more than once")
    return tuple(out)


def one_dim(axis: Any, ndim: int, op: str) -> int:
    """A single dimension, made non-negative (a 0-d tensor accepts 0 and −1, as in PyTorch)."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: dim must be one whole number, got {axis!r}")
    span = max(ndim, 1)
    if not -span <= axis < span:
        raise dim_error(op, axis, ndim)
    return int(axis) % span


def pick(axis: Any, dim: Any, keepdims: Any = False, keepdim: Any = None) -> tuple[Any, bool]:
    """NumPy's ``axis=``/``keepdims=`` or PyTorch's ``dim=``/``keepdim=``: either spelling, not both."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give dim= or axis=, not both (they mean the same)")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)
