"""Loss functions. Each is one primitive op (see ``ops``), so it is stable and its local
derivative, such as dSSR/dŷ_i = −2(y_i − ŷ_i), is the first factor every explanation shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backproplab import ops
from backproplab.nn import unknown_name_message
from backproplab.tensor import Tensor, apply


def _target_like(prediction: Tensor, target: Any, loss: str) -> Tensor:
    """The target reshaped to the prediction, so (3,) and (3, 1) never broadcast to (3, 3)."""
    t = target if isinstance(target, Tensor) else Tensor(target, dtype=prediction.dtype, name="y")
    if t.shape == prediction.shape:
        return t
    if t.size != prediction.size:
        raise ValueError(
            f"{loss}: the prediction has shape {prediction.shape} but the target has shape {t.shape}; "
            "they need one target value per prediction"
        )
    return t.reshape(prediction.shape) if t.requires_grad else Tensor(t.data.reshape(prediction.shape), name=t.name)


def _prediction(p: Any) -> Tensor:
    return p if isinstance(p, Tensor) else Tensor(p)


def ssr(prediction: Any, target: Any) -> Tensor:
    """Sum of squared residuals, Σ (y_i − ŷ_i)²."""
    prediction = _prediction(prediction)
    return apply(ops.ssr, prediction, _target_like(prediction, target, "ssr")).named("SSR")


def mse(prediction: Any, target: Any) -> Tensor:
    """Mean squared error, (1/n) Σ (y_i − ŷ_i)²."""
    prediction = _prediction(prediction)
    return apply(ops.mse, prediction, _target_like(prediction, target, "mse")).named("MSE")


def bce_with_logits(logits: Any, target: Any) -> Tensor:
    """Binary cross-entropy on logits z with targets in [0, 1]: mean of ln(1 + e^z) − y·z."""
    logits = _prediction(logits)
    t = _target_like(logits, target, "bce")
    if np.any((t.data < 0) | (t.data > 1)):
        raise ValueError("bce: targets must lie between 0 and 1 (class labels 0 or 1, or probabilities)")
    return apply(ops.bce_with_logits, logits, t).named("BCE")


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Softmax cross-entropy; ``target`` holds class indices (n,) or probabilities (n, classes)."""
    logits = _prediction(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits need shape (samples, classes), got {logits.shape}")
    n, classes = logits.shape
    raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    if raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1 and classes > 1):
        labels = raw.reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"cross_entropy: {n} samples but {labels.shape[0]} labels")
        if not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min() < 0 or labels.max() >= classes:
            raise ValueError(f"cross_entropy: labels must be whole numbers from 0 to {classes - 1}")
        probs = np.zeros((n, classes), dtype=logits.dtype)
        probs[np.arange(n), labels.astype(np.int64)] = 1.0
        t = Tensor(probs, name="y")
    else:
        t = target if isinstance(target, Tensor) else Tensor(raw, dtype=logits.dtype, name="y")
        if t.shape != logits.shape:
            raise ValueError(f"cross_entropy: target probabilities have shape {t.shape}, logits {logits.shape}")
    return apply(ops.softmax_cross_entropy, logits, t).named("CE")


LOSSES: dict[str, Callable[[Any, Any], Tensor]] = {
    "ssr": ssr,
    "mse": mse,
    "bce": bce_with_logits,
    "cross_entropy": cross_entropy,
}
"""Losses by the names the CLI and spec files use."""


def get_loss(name: str | Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
    """A loss function by name (or the callable itself)."""
    if callable(name):
        return name
    if name not in LOSSES:
        raise ValueError(unknown_name_message("loss", name, LOSSES))
    return LOSSES[name]
