"""The per-entry loss ops: the loss of each prediction on its own, before any reduction.

These are entries of the op table (the same :class:`~backproplab.engine.ops.Op` as in ``ops``), kept
in their own module. Each is elementwise, so ``reduction="none"`` is the op itself, and
``"sum"``/``"mean"`` follow it with the table's ``sum``/``mean`` ops: the explainer reads the
local derivative (d|ŷ − y|/dŷ = sign(ŷ − y)) from here and the 1/n from ``mean``.
Where a loss has no derivative (L1 at ŷ = y, Huber at |ŷ − y| = δ), PyTorch's value is used,
and the statement says which.
"""

from __future__ import annotations

import numpy as np

from backproplab.engine.ops.base import Array, Op
from backproplab.engine.ops.numeric import sigmoid, softplus

LOG_FLOOR = -100.0  # PyTorch clamps ln p and ln(1 − p) at −100 in binary cross-entropy
BCE_EPS = float(np.float32(1e-12))  # and keeps p(1 − p) above 1e-12 (a float32 constant there) in its gradient


def _huber(yhat: Array, y: Array, delta: float) -> Array:
    d = np.abs(yhat - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _huber_grad(yhat: Array, y: Array, delta: float) -> Array:
    """d/dŷ: ŷ − y inside ±δ, ±δ outside (PyTorch's clip, so the value at |ŷ − y| = δ is ±δ)."""
    return np.clip(yhat - y, -delta, delta)


def _smooth_l1(yhat: Array, y: Array, beta: float) -> Array:
    d = np.abs(yhat - y)
    if beta == 0.0:  # PyTorch's rule: beta = 0 is the L1 loss
        return d
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def _smooth_l1_grad(yhat: Array, y: Array, beta: float) -> Array:
    """d/dŷ: (ŷ − y)/β inside ±β, ±1 outside; sign(ŷ − y) for β = 0 (0 where ŷ = y, as PyTorch)."""
    if beta == 0.0:
        return _sign(yhat - y)
    return np.clip((yhat - y) / beta, -1.0, 1.0)


def _kl_div(x: Array, t: Array) -> Array:
    """t·(ln t − x) per entry, 0·ln 0 = 0 where t = 0 (PyTorch's xlogy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, t * np.log(np.where(t == 0, 1.0, t))) - t * x


def _kl_div_grad_t(g: Array, out: Array, x: Array, t: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return g * (np.log(t) + 1.0 - x)


def _clamped_logs(p: Array) -> tuple[Array, Array]:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_FLOOR), np.maximum(np.log1p(-p), LOG_FLOOR)


def _sign(d: Array) -> Array:
    """sign(d), with sign(NaN) = 0 as PyTorch's, so a NaN entry's gradient is 0."""
    return np.where(np.isnan(d), 0.0, np.sign(d))


def _bce(p: Array, y: Array) -> Array:
    log_p, log_q = _clamped_logs(p)
    return -(y * log_p + (1.0 - y) * log_q)


def _bce_grad_p(g: Array, out: Array, p: Array, y: Array) -> Array:
    return g * (p - y) / np.maximum(p * (1.0 - p), BCE_EPS)


def _bce_grad_y(g: Array, out: Array, p: Array, y: Array) -> Array:
    log_p, log_q = _clamped_logs(p)
    return g * (log_q - log_p)


squared_error = Op(
    "squared_error", ("yhat", "y"), lambda yhat, y: (y - yhat) * (y - yhat),
    (lambda g, out, yhat, y: (yhat - y) * 2.0 * g, lambda g, out, yhat, y: (y - yhat) * 2.0 * g),
    ("($y − $yhat)²", r"($y - $yhat)^{2}"),
    (("−2 × ($y − $yhat)", r"-2\,($y - $yhat)"), ("2 × ($y − $yhat)", r"2\,($y - $yhat)")),
    prec=9,
)
absolute_error = Op(
    "absolute_error", ("yhat", "y"), lambda yhat, y: np.abs(yhat - y),
    (lambda g, out, yhat, y: g * _sign(yhat - y), lambda g, out, yhat, y: -g * _sign(yhat - y)),
    ("|$yhat − $y|", r"\left|$yhat - $y\right|"),
    (
        ("sign($yhat − $y) (0 where $yhat = $y and at NaN, PyTorch's value)",
         r"\operatorname{sign}($yhat - $y)\ (0 \text{ where } $yhat = $y)"),
        ("−sign($yhat − $y) (0 where $yhat = $y and at NaN, PyTorch's value)",
         r"-\operatorname{sign}($yhat - $y)\ (0 \text{ where } $yhat = $y)"),
    ),
)
huber = Op(
    "huber", ("yhat", "y"), _huber,
    (
        lambda g, out, yhat, y, delta: g * _huber_grad(yhat, y, delta),
        lambda g, out, yhat, y, delta: -g * _huber_grad(yhat, y, delta),
    ),
    ("huber_δ($yhat − $y)", r"\operatorname{huber}_{\delta}($yhat - $y)"),
    (
        ("$yhat − $y if |$yhat − $y| ≤ δ else δ·sign($yhat − $y)",
         r"\begin{cases} $yhat - $y & |$yhat - $y| \le \delta \\ \delta \operatorname{sign}($yhat - $y)"
         r" & \text{otherwise} \end{cases}"),
        ("$y − $yhat if |$yhat − $y| ≤ δ else −δ·sign($yhat − $y)",
         r"\begin{cases} $y - $yhat & |$yhat - $y| \le \delta \\ -\delta \operatorname{sign}($yhat - $y)"
         r" & \text{otherwise} \end{cases}"),
    ),
    attrs=("delta",),
)
smooth_l1 = Op(
    "smooth_l1", ("yhat", "y"), _smooth_l1,
    (
        lambda g, out, yhat, y, beta: g * _smooth_l1_grad(yhat, y, beta),
        lambda g, out, yhat, y, beta: -g * _smooth_l1_grad(yhat, y, beta),
    ),
    ("smoothL1_β($yhat − $y)", r"\operatorname{smoothL1}_{\beta}($yhat - $y)"),
    (
        ("($yhat − $y)/β if |$yhat − $y| ≤ β else sign($yhat − $y)",
         r"\begin{cases} \frac{$yhat - $y}{\beta} & |$yhat - $y| \le \beta \\ \operatorname{sign}($yhat - $y)"
         r" & \text{otherwise} \end{cases}"),
        ("($y − $yhat)/β if |$yhat − $y| ≤ β else −sign($yhat − $y)",
         r"\begin{cases} \frac{$y - $yhat}{\beta} & |$yhat - $y| \le \beta \\ -\operatorname{sign}($yhat - $y)"
         r" & \text{otherwise} \end{cases}"),
    ),
    attrs=("beta",),
)
kl_div = Op(
    "kl_div", ("x", "t"), _kl_div,
    (lambda g, out, x, t: -g * t, _kl_div_grad_t),
    ("$t·(ln $t − $x)", r"$t\,(\ln $t - $x)"),
    (("−$t", "-$t"), ("ln $t + 1 − $x", r"\ln $t + 1 - $x")),
)
kl_div_log_target = Op(
    "kl_div_log_target", ("x", "t"), lambda x, t: np.exp(t) * (t - x),
    (lambda g, out, x, t: -g * np.exp(t), lambda g, out, x, t: g * np.exp(t) * (t - x + 1.0)),
    ("e^$t·($t − $x)", r"e^{$t}\,($t - $x)"),
    (("−e^$t", r"-e^{$t}"), ("e^$t·($t − $x + 1)", r"e^{$t}\,($t - $x + 1)")),
)
binary_cross_entropy = Op(
    "binary_cross_entropy", ("p", "y"), _bce,
    (_bce_grad_p, _bce_grad_y),
    ("−[$y·ln $p + (1 − $y)·ln(1 − $p)]", r"-\left[$y \ln $p + (1 - $y)\ln(1 - $p)\right]"),
    (
        ("($p − $y) / ($p·(1 − $p))", r"\frac{$p - $y}{$p\,(1 - $p)}"),
        ("ln(1 − $p) − ln $p", r"\ln(1 - $p) - \ln $p"),
    ),
)
bce_logits = Op(
    "bce_logits", ("z", "y"), lambda z, y: softplus(z) - y * z,
    (lambda g, out, z, y: g * (sigmoid(z) - y), lambda g, out, z, y: -g * z),
    ("ln(1 + e^$z) − $y·$z", r"\ln(1 + e^{$z}) - $y\,$z"),
    (("σ($z) − $y", r"\sigma($z) - $y"), ("−$z", "-$z")),
)

LOSS_OPS: dict[str, Op] = {
    op.name: op for op in (squared_error, absolute_error, huber, smooth_l1, kl_div, kl_div_log_target,
                           binary_cross_entropy, bce_logits)
}
"""The per-entry loss ops by name, alongside ``ops.OPS``."""
