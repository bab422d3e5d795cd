"""Activations and friends as functions, mirroring ``torch.nn.functional``: ``import
backproplab.nn.functional as F`` and ``F.gelu(x)`` as in a PyTorch script. Each runs an op from the
table, so the explainer can write out its derivative. The losses are ``backproplab.nn.losses``'s,
under PyTorch's names."""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.functions import log_softmax, relu, sigmoid, softmax, tanh
from backproplab.engine.tensor import Tensor, apply
from backproplab.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "elu", "gelu", "huber_loss",
           "l1_loss", "leaky_relu", "log_softmax", "logsigmoid", "mse_loss", "nll_loss", "one_hot", "relu", "sigmoid",
           "silu", "softmax", "softplus", "tanh"]


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
