"""Loss functions, with PyTorch's names and ``reduction=`` ("mean", "sum" or "none").

Each loss is an op of the op table (``ops`` or ``loss_ops``) or is made of them, so it is
numerically stable and its local derivative, such as dSSR/dŷ_i = −2(y_i − ŷ_i), is the first
factor every explanation shows. The worked example's losses (SSR, MSE, BCE on logits and
cross-entropy at their default reduction) are single fused ops; other reductions apply the
per-entry op of ``loss_ops`` and then the table's ``sum`` or ``mean``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.ops import losses as loss_ops
from backproplab.engine.tensor import Tensor, apply
from backproplab.util.messages import unknown_name_message

REDUCTIONS = ("mean", "sum", "none")


class LabelError(ops.ArgumentError, IndexError):
    """A class label outside 0 … classes − 1: an IndexError, as PyTorch raises, and a ValueError as before."""


def _check_reduction(reduction: Any, loss: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _target_like(prediction: Tensor, target: Any, loss: str) -> Tensor:
    """The target reshaped to the prediction, so (3,) and (3, 1) never broadcast to (3, 3)."""
    t = target if isinstance(target, Tensor) else Tensor(target, dtype=prediction.dtype, name="y")
    if t.dtype.kind not in "f":  # whole-number or boolean targets count as the prediction's floats
        t = Tensor(t.data.astype(prediction.dtype), name=t.name)
    if t.shape == prediction.shape:
        return t
    if t.numel() != prediction.numel():
        raise ValueError(
            f"{loss}: the prediction has shape {prediction.shape} but the target has shape {t.shape}; "
            "they need one target value per prediction"
        )
    return t.reshape(prediction.shape) if t.requires_grad else Tensor(t.data.reshape(prediction.shape), name=t.name)


def _prediction(p: Any) -> Tensor:
    return p if isinstance(p, Tensor) else Tensor(p)


def _reduce(per_entry: Tensor, reduction: str) -> Tensor:
    """Apply the table's ``sum`` or ``mean`` to a per-entry loss (the mean of nothing is NaN, as in PyTorch)."""
    if reduction == "none":
        return per_entry
    if reduction == "sum":
        return apply(ops.sum_op, per_entry, axis=None, keepdims=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "mean of empty slice"
        return apply(ops.mean, per_entry, axis=None, keepdims=False)


def _weighted(per_entry: Tensor, weight: Any) -> Tensor:
    return per_entry if weight is None else per_entry * _constant(weight, per_entry, "weight")


def _constant(value: Any, like: Tensor, what: str) -> Tensor:
    w = value if isinstance(value, Tensor) else Tensor(value, dtype=like.dtype, name=what)
    try:
        np.broadcast_shapes(w.shape, like.shape)
    except ValueError:
        raise ValueError(f"{what} of shape {w.shape} does not broadcast to the loss's shape {like.shape}") from None
    return w


def ssr(prediction: Any, target: Any, *, reduction: str = "sum") -> Tensor:
    """Sum of squared residuals, Σ (y_i − ŷ_i)²: the worked example's loss (its mean is the MSE)."""
    return _squared(prediction, target, _check_reduction(reduction, "ssr"), "ssr", "SSR")


def mse(prediction: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """Mean squared error, (1/n) Σ (y_i − ŷ_i)², as ``torch.nn.functional.mse_loss``."""
    return _squared(prediction, target, _check_reduction(reduction, "mse"), "mse", "MSE")


def _squared(prediction: Any, target: Any, reduction: str, loss: str, symbol: str) -> Tensor:
    prediction = _prediction(prediction)
    t = _target_like(prediction, target, loss)
    if reduction == "sum":
        return apply(ops.ssr, prediction, t).named(symbol)
    if reduction == "mean" and prediction.numel():
        return apply(ops.mse, prediction, t).named(symbol)
    return _reduce(apply(loss_ops.squared_error, prediction, t), reduction).named(symbol)


mse_loss = mse


def l1_loss(prediction: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """Mean absolute error, (1/n) Σ |ŷ_i − y_i|, as ``torch.nn.functional.l1_loss``."""
    _check_reduction(reduction, "l1_loss")
    prediction = _prediction(prediction)
    t = _target_like(prediction, target, "l1_loss")
    return _reduce(apply(loss_ops.absolute_error, prediction, t), reduction).named("L1")


def huber_loss(prediction: Any, target: Any, *, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: ½(ŷ − y)² within δ of the target, δ(|ŷ − y| − ½δ) beyond, as in PyTorch."""
    _check_reduction(reduction, "huber_loss")
    try:
        delta = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"huber_loss: delta must be a number, got {delta!r}") from None
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"huber_loss: delta must be a positive number, got {delta}; try 1.0")
    prediction = _prediction(prediction)
    t = _target_like(prediction, target, "huber_loss")
    return _reduce(apply(loss_ops.huber, prediction, t, delta=delta), reduction).named("Huber")


def smooth_l1_loss(prediction: Any, target: Any, *, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 loss: ½(ŷ − y)²/β within β of the target, |ŷ − y| − ½β beyond (β = 0: L1), as in PyTorch."""
    _check_reduction(reduction, "smooth_l1_loss")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"smooth_l1_loss: beta must be a number, got {beta!r}") from None
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"smooth_l1_loss: beta must be 0 or more, got {beta}; try 1.0")
    prediction = _prediction(prediction)
    t = _target_like(prediction, target, "smooth_l1_loss")
    return _reduce(apply(loss_ops.smooth_l1, prediction, t, beta=beta), reduction).named("SmoothL1")


KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def kl_div(input: Any, target: Any, *, reduction: str = "mean", log_target: bool = False) -> Tensor:  # noqa: A002
    """KL divergence Σ t·(ln t − x) of log-probabilities x from the target t (or ln t, with ``log_target``).

    As ``torch.nn.functional.kl_div``: ``reduction="batchmean"`` divides the sum by the batch size (the
    divergence per sample); PyTorch's default ``"mean"`` divides by the number of entries.
    """
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_div: reduction must be 'batchmean', 'mean', 'sum' or 'none', got {reduction!r}")
    x = _prediction(input)
    t = _target_like(x, target, "kl_div")
    if not log_target and np.any(t.data < 0):
        raise ValueError("kl_div: the target must hold probabilities (0 or more); for log-probabilities pass "
                         "log_target=True")
    per_entry = apply(loss_ops.kl_div_log_target if log_target else loss_ops.kl_div, x, t)
    if reduction == "batchmean":
        total = _reduce(per_entry, "sum")
        return (total / x.shape[0] if x.ndim else total).named("KL")
    return _reduce(per_entry, reduction).named("KL")


def binary_cross_entropy(probabilities: Any, target: Any, weight: Any = None, *, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities p in [0, 1]; ln p and ln(1 − p) are floored at −100, as in PyTorch.

    Prefer ``bce_with_logits`` on logits: it never needs the floor.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    p = _prediction(probabilities)
    t = _target_like(p, target, "binary_cross_entropy")
    if np.any((p.data < 0) | (p.data > 1)):
        raise ValueError("binary_cross_entropy: the inputs must be probabilities between 0 and 1 "
                         "(for logits use bce_with_logits)")
    _check_unit(t, "binary_cross_entropy")
    per_entry = _weighted(apply(loss_ops.binary_cross_entropy, p, t), weight)
    return _reduce(per_entry, reduction).named("BCE")


def _check_unit(t: Tensor, loss: str) -> None:
    if np.any((t.data < 0) | (t.data > 1)):
        raise ValueError(f"{loss}: targets must lie between 0 and 1 (class labels 0 or 1, or probabilities)")


def bce_with_logits(logits: Any, target: Any, weight: Any = None, *, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits z with targets in [0, 1]: ln(1 + e^z) − y·z per entry."""
    _check_reduction(reduction, "bce")
    logits = _prediction(logits)
    t = _target_like(logits, target, "bce")
    _check_unit(t, "bce")
    if reduction == "mean" and weight is None and logits.numel():
        return apply(ops.bce_with_logits, logits, t).named("BCE")
    per_entry = _weighted(apply(loss_ops.bce_logits, logits, t), weight)
    return _reduce(per_entry, reduction).named("BCE")


binary_cross_entropy_with_logits = bce_with_logits


def _labels_and_kind(logits: Tensor, target: Any, loss: str, allow_probabilities: bool) -> tuple[np.ndarray, bool]:
    """The target as an array, and whether it holds class indices (else class probabilities)."""
    raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{loss}: the target must be numbers, got {raw.dtype}")
    index_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim >= 2 else ()
    if raw.shape == index_shape:
        return raw, True
    if logits.ndim == 2 and raw.shape == (logits.shape[0], 1) and logits.shape[1] > 1:
        return raw.reshape(-1), True  # a column of labels
    if allow_probabilities and raw.shape == logits.shape:
        return raw, False
    shape = "(classes,)" if logits.ndim == 1 else "(samples, classes" + ", ..." * (logits.ndim > 2) + ")"
    wanted = f"class indices of shape {index_shape}"
    if allow_probabilities:
        wanted += f" or class probabilities of shape {logits.shape}"
    raise ValueError(f"{loss}: logits of shape {logits.shape} {shape} need {wanted}; got a target of shape {raw.shape}")


def _class_weight(weight: Any, classes: int, like: Tensor, loss: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=like.dtype)
    if w.shape != (classes,):
        raise ValueError(f"{loss}: weight needs one number per class, shape ({classes},), got {w.shape}")
    return w


def _log_probabilities(logits: Any, loss: str) -> Tensor:
    logits = _prediction(logits)
    if logits.ndim == 0:
        raise ValueError(f"{loss}: the input needs a class axis, shape (classes,) or (samples, classes, ...); got a "
                         "single number")
    return logits


def _picked(log_probs: Tensor, labels: np.ndarray, valid: np.ndarray) -> Tensor:
    """log_probs[i, y_i, ...] for every position, by indexing (never 0 × −inf for the other classes)."""
    fallback = np.argmax(log_probs.data, axis=1)  # ignored positions pick some finite entry, then weigh 0
    idx = np.where(valid, labels, fallback).astype(np.int64)
    grid: tuple[np.ndarray, ...] = np.indices(labels.shape, sparse=True)
    picked = (grid[0], idx, *grid[1:])
    return log_probs[picked]


def _nll(log_probs: Tensor, labels: np.ndarray, weight: np.ndarray | None, ignore_index: int, reduction: str,
         label_smoothing: float, loss: str) -> Tensor:
    """−w_y·ln p_y per position (with label smoothing, as PyTorch mixes it in), then the reduction."""
    classes = log_probs.shape[1]
    valid = labels != ignore_index
    chosen = labels[valid]
    if chosen.size and (not np.all(np.mod(chosen, 1) == 0) or chosen.min() < 0 or chosen.max() >= classes):
        raise LabelError(f"{loss}: labels must be whole numbers from 0 to {classes - 1}"
                         + (f" (or ignore_index {ignore_index})" if not np.all(valid) else ""))
    labels = np.where(valid, labels, 0).astype(np.int64)
    w_y = valid.astype(log_probs.dtype) if weight is None else np.where(valid, weight[labels], 0.0)
    plain = weight is None and bool(np.all(valid))
    per = -_picked(log_probs, labels, valid) if plain else _picked(log_probs, labels, valid) * Tensor(-w_y)
    if label_smoothing:
        w_c = 1.0 if weight is None else Tensor(weight.reshape((1, classes) + (1,) * (log_probs.ndim - 2)))
        smooth = -(log_probs * w_c).sum(axis=1)
        if not plain:
            smooth = smooth * Tensor(valid.astype(log_probs.dtype))
        per = per * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
    if reduction != "mean" or plain:
        return _reduce(per, reduction)
    total_weight = float(np.sum(w_y))
    if total_weight == 0.0:  # every position ignored: the loss is NaN and the gradient 0, as in PyTorch
        return _reduce(per, "sum").where(Tensor(np.array(False)), Tensor(np.array(np.nan, dtype=per.dtype)))
    return _reduce(per, "sum") / total_weight  # PyTorch's weighted mean: Σ w_y·loss / Σ w_y


def cross_entropy(input: Any, target: Any, weight: Any = None, *, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy on logits, as ``torch.nn.functional.cross_entropy``.

    Logits (classes,), (samples, classes) or (samples, classes, d1, ...); the target holds
    class indices (the logits' shape without the class axis) or class probabilities (the
    logits' shape). ``weight`` weighs each class, ``label_smoothing`` mixes in the uniform
    distribution, positions labelled ``ignore_index`` count for nothing.
    """
    _check_reduction(reduction, "cross_entropy")
    if not (isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"cross_entropy: label_smoothing must be between 0 and 1, got {label_smoothing!r}")
    logits = _log_probabilities(input, "cross_entropy")
    raw, is_index = _labels_and_kind(logits, target, "cross_entropy", allow_probabilities=True)
    if logits.ndim == 1:  # one sample: give it a batch of one, and take the batch away again
        out = cross_entropy(logits.reshape(1, -1), _batch_of_one(target, raw), weight, ignore_index=ignore_index,
                            reduction=reduction, label_smoothing=label_smoothing)
        return (out.reshape(()) if reduction == "none" else out).named("CE")
    classes = logits.shape[1]
    w = _class_weight(weight, classes, logits, "cross_entropy")
    plain = logits.ndim == 2 and reduction == "mean" and w is None and not label_smoothing
    if is_index:
        if plain and not np.any(raw == ignore_index) and raw.size:
            _nll_labels_check(raw, classes)
            probs = np.zeros(logits.shape, dtype=logits.dtype)
            probs[np.arange(raw.shape[0]), raw.astype(np.int64)] = 1.0
            return apply(ops.softmax_cross_entropy, logits, Tensor(probs, name="y")).named("CE")
        log_probs = logits.log_softmax(dim=1)
        return _nll(log_probs, raw, w, ignore_index, reduction, label_smoothing, "cross_entropy").named("CE")
    t = target if isinstance(target, Tensor) else Tensor(raw, dtype=logits.dtype, name="y")
    if plain:
        return apply(ops.softmax_cross_entropy, logits, t).named("CE")
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / classes
    if w is not None:
        t = t * Tensor(w.reshape((1, classes) + (1,) * (logits.ndim - 2)))
    log_probs = logits.log_softmax(dim=1)
    return _reduce(-(log_probs * t).sum(axis=1), reduction).named("CE")


def _nll_labels_check(raw: np.ndarray, classes: int) -> None:
    if not np.all(np.mod(raw, 1) == 0) or raw.min() < 0 or raw.max() >= classes:
        raise LabelError(f"cross_entropy: labels must be whole numbers from 0 to {classes - 1}")


def _batch_of_one(target: Any, raw: np.ndarray) -> Any:
    if isinstance(target, Tensor) and target.requires_grad:
        return target.reshape((1,) + target.shape)
    return raw.reshape((1,) + raw.shape)


def nll_loss(input: Any, target: Any, weight: Any = None, *, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (for example ``log_softmax``'s), as PyTorch's ``nll_loss``."""
    _check_reduction(reduction, "nll_loss")
    log_probs = _log_probabilities(input, "nll_loss")
    raw, _ = _labels_and_kind(log_probs, target, "nll_loss", allow_probabilities=False)
    if log_probs.ndim == 1:
        out = nll_loss(log_probs.reshape(1, -1), raw.reshape(1), weight, ignore_index=ignore_index,
                       reduction=reduction)
        return (out.reshape(()) if reduction == "none" else out).named("NLL")
    w = _class_weight(weight, log_probs.shape[1], log_probs, "nll_loss")
    return _nll(log_probs, raw, w, ignore_index, reduction, 0.0, "nll_loss").named("NLL")


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


__all__ = [
    "LOSSES", "REDUCTIONS", "bce_with_logits", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy", "get_loss", "huber_loss", "l1_loss", "mse", "mse_loss", "nll_loss", "ssr",
]
