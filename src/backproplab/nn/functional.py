"""Activations and friends as functions, mirroring ``torch.nn.functional``: ``import
backproplab.nn.functional as F`` and ``F.gelu(x)`` as in a PyTorch script. Each runs an op from the
table, so the explainer can write out its derivative. The losses are ``backproplab.nn.losses``'s,
under PyTorch's names."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from backproplab.engine import ops
from backproplab.engine.functions import log_softmax, relu, sigmoid, softmax, tanh
from backproplab.engine.tensor import Tensor, apply
from backproplab.nn.conv import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d
from backproplab.nn.dropout import dropout
from backproplab.nn.embedding import embedding
from backproplab.nn.linear import linear
from backproplab.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from backproplab.nn.normalization import layer_norm

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv2d",
           "cross_entropy", "dropout", "elu", "embedding", "gelu", "huber_loss", "kl_div", "l1_loss", "layer_norm",
           "leaky_relu", "linear", "log_softmax", "logsigmoid", "max_pool2d", "mse_loss", "nll_loss", "one_hot",
           "pad", "relu", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "tanh"]


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:  # noqa: A002 - PyTorch's names
    """z where z > 0, else negative_slope·z."""
    return apply(ops.OPS["leaky_relu"], input, negative_slope=float(negative_slope))


def elu(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """z where z > 0, else alpha·(e^z − 1)."""
    return apply(ops.OPS["elu"], input, alpha=float(alpha))


def silu(input: Any) -> Tensor:  # noqa: A002
    """z·σ(z), also called swish."""
    return apply(ops.OPS["silu"], input)


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """z·Φ(z) with Φ the standard normal CDF; ``approximate="tanh"`` for the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(ops.OPS["gelu" if approximate == "none" else "gelu_tanh"], input)


def logsigmoid(input: Any) -> Tensor:  # noqa: A002
    """ln σ(z), computed without overflow."""
    return apply(ops.OPS["logsigmoid"], input)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """(1/β)·ln(1 + e^(β·z)); z itself where β·z > threshold, as PyTorch.

    With the defaults it is the table's plain ``softplus`` (the worked examples' op) unless some
    β·z is above the threshold.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    if beta == 1.0 and threshold == 20.0 and not np.any(x.data > threshold):
        return apply(ops.softplus_op, x)
    return apply(ops.OPS["softplus_beta"], x, beta=float(beta), threshold=float(threshold))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices as rows of 0s and a 1 (int64, no gradient), as ``torch.nn.functional.one_hot``."""
    labels = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class indices must be whole numbers (int64), got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("one_hot: class indices must not be negative")
    classes = int(labels.max()) + 1 if num_classes == -1 and labels.size else int(num_classes)
    if labels.size and labels.max() >= classes:
        raise ValueError(f"one_hot: class index {int(labels.max())} is too large for {classes} classes")
    return Tensor((labels[..., None] == np.arange(max(classes, 0))).astype(np.int64))


_INDEXED_MODES: dict[str, Literal["reflect", "edge", "wrap"]] = {
    "reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # PyTorch's name: NumPy's


def pad(input: Any, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Widen (or, with negative widths, crop) the last dimensions, as ``torch.nn.functional.pad``: ``pad`` lists
    (before, after) for the last dimension, then the one before it, and so on. ``mode="constant"`` fills with
    ``value`` (0); ``"reflect"``, ``"replicate"`` and ``"circular"`` repeat entries, and their gradients add up."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    widths = [int(w) for w in pad]
    if len(widths) % 2 or len(widths) // 2 > x.ndim:
        raise ops.ArgumentError(f"pad: {tuple(widths)} must hold (before, after) pairs, at most one per dimension "
                                f"of the tensor ({x.ndim}), starting from the last dimension")
    pairs = [(0, 0)] * x.ndim
    for k in range(len(widths) // 2):
        pairs[x.ndim - 1 - k] = (widths[2 * k], widths[2 * k + 1])
    for d, (n, (lo, hi)) in enumerate(zip(x.shape, pairs)):
        if n + lo + hi < 0:
            raise ops.ArgumentError(f"pad: cropping {-lo} and {-hi} entries from dimension {d} of size {n} "
                                    "leaves fewer than none")
    if mode == "constant":
        return apply(ops.OPS["pad"], x, pad=tuple(pairs), value=0.0 if value is None else float(value))
    if mode not in _INDEXED_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    return x[_repeat_index(x.shape, pairs, len(widths) // 2, mode)]


def _repeat_index(shape: tuple[int, ...], pairs: list[tuple[int, int]], padded: int, mode: str) -> Any:
    """The index that picks the padded tensor's entries from the tensor, for the modes that repeat entries."""
    if len(shape) - padded not in (1, 2):
        raise ops.ArgumentError(f"pad: mode {mode!r} pads the last 1 to 3 dimensions of a tensor with 1 or 2 more "
                                f"in front (channels, batch); got {padded} padded of {len(shape)}")
    maps = []
    for n, (lo, hi) in zip(shape, pairs):
        limit = n - 1 if mode == "reflect" else n
        if lo < 0 or hi < 0 or (mode != "replicate" and max(lo, hi) > limit):
            raise ops.ArgumentError(f"pad: mode {mode!r} takes widths from 0 to {limit} for a dimension of size {n}, "
                                    f"got ({lo}, {hi})")
        maps.append(np.pad(np.arange(n), (lo, hi), mode=_INDEXED_MODES[mode]))
    return np.ix_(*maps)
