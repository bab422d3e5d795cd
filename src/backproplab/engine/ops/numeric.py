"""The numerically stable functions the op entries compute with: forward maths only, no calculus.

Each is defined here once; the op modules (``table``, ``elementwise``, ``reductions``, ``losses``)
and the generated replay code call these.
"""

from __future__ import annotations

import math

import numpy as np

from backproplab.engine.ops.base import Array, Axis


def sigmoid(z: Array) -> Array:
    """σ(z) = 1/(1 + e^-z), finite and accurate for any z (no overflow at ±1000)."""
    return np.exp(-np.logaddexp(0.0, -z))


def softplus(z: Array) -> Array:
    """ln(1 + e^z), computed without overflow."""
    return np.logaddexp(0.0, z)


def erf(x: Array) -> Array:
    """The error function entry by entry (NumPy has none; the C library's is exact to the last bit or so)."""
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def row_max(z: Array, axis: Axis) -> Array:
    """The maximum along ``axis`` (kept as size 1); −∞ along an empty axis, as PyTorch, where NumPy refuses."""
    if z.size == 0:
        return np.max(z, axis=axis, keepdims=True, initial=-np.inf)
    return np.max(z, axis=axis, keepdims=True)


def logsumexp(a: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
    """ln Σ e^a, shifted by the maximum so it never overflows."""
    m = row_max(a, axis)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):  # ln 0 = −∞: the sum over an empty axis, as PyTorch
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(z: Array, axis: int = -1) -> Array:
    """e^z / Σ e^z along ``axis``, shifted by the maximum so it never overflows."""
    if z.ndim == 0:  # one entry along its only axis
        return softmax(z.reshape(1), 0).reshape(())
    e = np.exp(z - row_max(z, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: Array, axis: int = -1) -> Array:
    """z − ln Σ e^z along ``axis``, shifted by the maximum so it never overflows."""
    if z.ndim == 0:
        return log_softmax(z.reshape(1), 0).reshape(())
    shifted = z - row_max(z, axis)
    total = np.add.reduce(np.exp(shifted), axis=axis, keepdims=True)
    if z.size == 0:  # only an empty axis sums to 0, whose ln is −∞: no warning for it
        with np.errstate(divide="ignore"):
            return shifted - np.log(total)
    return shifted - np.log(total)


def sum_of_squares(r: Array) -> Array:
    """Σ r², with NumPy's own reduction called directly (np.sum's wrapper costs more than the sum)."""
    return np.add.reduce(r * r, axis=None)


def expand_reduced(g: Array, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Array:
    """A reduced gradient given back its reduced axes, so it broadcasts onto the input of ``shape``."""
    if axis is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def reduced_count(shape: tuple[int, ...], axis: Axis) -> int:
    """How many entries a reduction over ``axis`` (None: every axis) adds up into each result."""
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))
