"""Element-wise ops and activations beyond the first few: each entry is forward, VJP and statement.

Where a function has no derivative at a point (|x| at 0, a tie of maximum, clamp at a bound),
the VJP gives PyTorch's value there and the statement says which value that is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from backproplab.engine.ops.base import Array, Op
from backproplab.engine.ops.numeric import erf, sigmoid

LN2 = math.log(2.0)
LN10 = math.log(10.0)
SQRT1_2 = math.sqrt(0.5)
GELU_PDF = 1.0 / math.sqrt(2.0 * math.pi)  # φ(x) = e^(−x²/2)/√(2π)
GELU_BETA = math.sqrt(2.0 / math.pi)
GELU_KAPPA = 0.044715


def _quiet(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Run a forward or VJP without NumPy warnings for the branch np.where throws away."""
    def run(*args: Any, **kwargs: Any) -> Array:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    run.__name__ = getattr(fn, "__name__", "op")
    return run


def _maximum_grad_a(g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.where(a < b, 0.0, np.where(a == b, g * 0.5, g))


def _maximum_grad_b(g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.where(a > b, 0.0, np.where(a == b, g * 0.5, g))


def _minimum_grad_a(g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.where(a > b, 0.0, np.where(a == b, g * 0.5, g))


def _minimum_grad_b(g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.where(a < b, 0.0, np.where(a == b, g * 0.5, g))


def _clamp(a: Array, min: float | None = None, max: float | None = None) -> Array:  # noqa: A002 - PyTorch's names
    out = a if min is None else np.maximum(a, min)
    out = out if max is None else np.minimum(out, max)
    return out if out is not a else a.copy()


def _clamp_grad(g: Array, out: Array, a: Array, min: float | None = None,  # noqa: A002
                max: float | None = None) -> Array:
    inside = np.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a >= min
    if max is not None:
        inside &= a <= max
    return np.where(inside, g, 0.0)  # not g·inside: an infinite G gives 0 outside the bounds, as PyTorch


def _gelu_tanh(z: Array) -> Array:
    return 0.5 * z * (1.0 + np.tanh(GELU_BETA * (z + GELU_KAPPA * z * z * z)))


def _gelu_tanh_grad(g: Array, out: Array, z: Array) -> Array:
    inner = np.tanh(GELU_BETA * (z + GELU_KAPPA * z * z * z))
    return g * (0.5 * (1.0 + inner) + 0.5 * z * (1.0 - inner * inner) * GELU_BETA * (1.0 + 3.0 * GELU_KAPPA * z * z))


def _softplus_beta(z: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    bz = z * beta
    return np.where(bz > threshold, z, np.logaddexp(0.0, bz) / beta)


abs_op = Op(
    "abs", ("a",), np.abs,
    (lambda g, out, a: g * np.sign(np.nan_to_num(a)),),  # sign(NaN) counts as 0, as PyTorch
    ("|$a|", r"\left|$a\right|"),
    (("sign($a) (0 at $a = 0 and at NaN, PyTorch's value)", r"\operatorname{sign}($a) \text{ (0 at } $a = 0\text{)}"),),
)
sqrt = Op(
    "sqrt", ("a",), np.sqrt,
    (_quiet(lambda g, out, a: g / (2.0 * out)),),
    ("√$a", r"\sqrt{$a}"),
    (("1/(2·√$a) (∞ at $a = 0)", r"\frac{1}{2\sqrt{$a}}"),),
)
# alike on purpose: maximum and minimum mirror each other; each is its own entry of the table, read on its own
maximum = Op(
    "maximum", ("a", "b"), np.maximum,
    (_maximum_grad_a, _maximum_grad_b),
    ("max($a, $b)", r"\max($a, $b)"),
    (
        ("1 if $a > $b, 1/2 if $a = $b (PyTorch splits a tie), else 0",
         r"\mathbb{1}[$a > $b] + \tfrac{1}{2}\,\mathbb{1}[$a = $b]"),
        ("1 if $b > $a, 1/2 if $a = $b (PyTorch splits a tie), else 0",
         r"\mathbb{1}[$b > $a] + \tfrac{1}{2}\,\mathbb{1}[$a = $b]"),
    ),
)
minimum = Op(
    "minimum", ("a", "b"), np.minimum,
    (_minimum_grad_a, _minimum_grad_b),
    ("min($a, $b)", r"\min($a, $b)"),
    (
        ("1 if $a < $b, 1/2 if $a = $b (PyTorch splits a tie), else 0",
         r"\mathbb{1}[$a < $b] + \tfrac{1}{2}\,\mathbb{1}[$a = $b]"),
        ("1 if $b < $a, 1/2 if $a = $b (PyTorch splits a tie), else 0",
         r"\mathbb{1}[$b < $a] + \tfrac{1}{2}\,\mathbb{1}[$a = $b]"),
    ),
)
# alike on purpose: an op's entry is data in one shape: name, args, forward, VJPs, expression, derivatives
clamp = Op(
    "clamp", ("a",), _clamp,
    (_clamp_grad,),
    ("clamp($a, $min, $max)", r"\operatorname{clamp}($a, $min, $max)"),
    (("1 if $min ≤ $a ≤ $max else 0 (1 at the bounds, PyTorch's value)",
      r"\mathbb{1}[$min \leq $a \leq $max]"),),
    attrs=("min", "max"),
)
clamp_tensor = Op(  # bounds that are tensors: PyTorch's clamp_backward_min_max, entry by entry
    "clamp_tensor", ("a", "lo", "hi"), lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi),
    (
        lambda g, out, a, lo, hi: np.where((a >= lo) & (a <= hi), g, 0.0),
        lambda g, out, a, lo, hi: np.where((a < lo) & (lo < hi), g, 0.0),
        lambda g, out, a, lo, hi: np.where((a > hi) | (hi < lo), g, 0.0),
    ),
    ("clamp($a, $lo, $hi)", r"\operatorname{clamp}($a, $lo, $hi)"),
    (
        ("1 if $lo ≤ $a ≤ $hi else 0 (1 at the bounds, PyTorch's value)", r"\mathbb{1}[$lo \leq $a \leq $hi]"),
        ("1 if $a < $lo < $hi else 0 (PyTorch's value)", r"\mathbb{1}[$a < $lo < $hi]"),
        ("1 if $a > $hi or $hi < $lo else 0 (PyTorch's value)", r"\mathbb{1}[$a > $hi \lor $hi < $lo]"),
    ),
)
where = Op(
    "where", ("c", "a", "b"), np.where,
    (None, lambda g, out, c, a, b: np.where(c, g, 0.0), lambda g, out, c, a, b: np.where(c, 0.0, g)),
    ("$a if $c else $b", r"\begin{cases} $a & $c \\ $b & \text{otherwise} \end{cases}"),
    (
        ("none (a condition has no gradient)", r"\text{none}"),
        ("1 if $c else 0", r"\mathbb{1}[$c]"),
        ("0 if $c else 1", r"\mathbb{1}[\lnot $c]"),
    ),
)
sign = Op(
    "sign", ("a",), lambda a: np.where(np.isnan(a), 0.0, np.sign(a)).astype(a.dtype, copy=False),
    (lambda g, out, a: np.zeros_like(g),),
    ("sign($a)", r"\operatorname{sign}($a)"),
    (("0 (also at $a = 0, PyTorch's value; sign(NaN) is 0, as PyTorch)", "0"),),
)
log2 = Op(
    "log2", ("z",), np.log2,
    (lambda g, out, z: g / (z * LN2),),
    ("log₂($z)", r"\log_{2}($z)"),
    (("1/($z·ln 2)", r"\frac{1}{$z \ln 2}"),),
)
log10 = Op(
    "log10", ("z",), np.log10,
    (lambda g, out, z: g / (z * LN10),),
    ("log₁₀($z)", r"\log_{10}($z)"),
    (("1/($z·ln 10)", r"\frac{1}{$z \ln 10}"),),
)
sin = Op(
    "sin", ("z",), np.sin,
    (lambda g, out, z: g * np.cos(z),),
    ("sin($z)", r"\sin($z)"),
    (("cos($z)", r"\cos($z)"),),
)
cos = Op(
    "cos", ("z",), np.cos,
    (lambda g, out, z: -g * np.sin(z),),
    ("cos($z)", r"\cos($z)"),
    (("−sin($z)", r"-\sin($z)"),),
)

# --- activations -----------------------------------------------------------------------------
leaky_relu = Op(
    "leaky_relu", ("z",), lambda z, negative_slope=0.01: np.where(z > 0, z, z * negative_slope),
    (lambda g, out, z, negative_slope=0.01: np.where(z > 0, g, g * negative_slope),),
    ("leaky_relu($z)", r"\operatorname{leaky\_relu}($z)"),
    (("1 if $z > 0 else $negative_slope ($negative_slope at $z = 0, PyTorch's value)",
      r"\begin{cases} 1 & $z > 0 \\ $negative_slope & $z \leq 0 \end{cases}"),),
    attrs=("negative_slope",),
)
elu = Op(
    "elu", ("z",),
    _quiet(lambda z, alpha=1.0: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))),
    # z ≤ 0 picks the exponential side, so at NaN the gradient is G, as PyTorch's
    (_quiet(lambda g, out, z, alpha=1.0: np.where(z <= 0, g * alpha * np.exp(np.minimum(z, 0.0)), g)),),
    ("elu($z)", r"\operatorname{elu}($z)"),
    (("1 if $z > 0 else $alpha·e^$z ($alpha at $z = 0, 1 at NaN: PyTorch's values)",
      r"\begin{cases} 1 & $z > 0 \\ $alpha\, e^{$z} & $z \leq 0 \end{cases}"),),
    attrs=("alpha",),
)
silu = Op(
    "silu", ("z",), lambda z: z * sigmoid(z),
    (lambda g, out, z: g * sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z))),),
    ("$z·σ($z)", r"$z\,\sigma($z)"),
    (("σ($z)·(1 + $z·(1 − σ($z)))", r"\sigma($z)\,\left(1 + $z\,(1 - \sigma($z))\right)"),),
)
gelu = Op(
    "gelu", ("z",), lambda z: 0.5 * z * (1.0 + erf(z * SQRT1_2)),
    (lambda g, out, z: g * (0.5 * (1.0 + erf(z * SQRT1_2)) + z * np.exp(-0.5 * z * z) * GELU_PDF),),
    ("$z·Φ($z)", r"$z\,\Phi($z)"),
    (("Φ($z) + $z·φ($z), Φ and φ the standard normal CDF and density",
      r"\Phi($z) + $z\,\varphi($z)"),),
)
gelu_tanh = Op(
    "gelu_tanh", ("z",), _gelu_tanh,
    (_gelu_tanh_grad,),
    ("$z·(1 + tanh(√(2/π)·($z + 0.044715·$z³)))/2",
     r"\tfrac{1}{2}\,$z\,\left(1 + \tanh\left(\sqrt{2/\pi}\,($z + 0.044715\,$z^{3})\right)\right)"),
    (("(1 + t)/2 + $z·(1 − t²)·√(2/π)·(1 + 3·0.044715·$z²)/2, t = tanh(√(2/π)·($z + 0.044715·$z³))",
      r"\tfrac{1 + t}{2} + \tfrac{1}{2}\,$z\,(1 - t^{2})\sqrt{2/\pi}\,(1 + 0.134145\,$z^{2}),\ "
      r"t = \tanh\left(\sqrt{2/\pi}\,($z + 0.044715\,$z^{3})\right)"),),
)
logsigmoid = Op(
    "logsigmoid", ("z",), lambda z: -np.logaddexp(0.0, -z),
    (lambda g, out, z: g * sigmoid(-z),),
    ("ln σ($z)", r"\ln \sigma($z)"),
    (("1 − σ($z) = σ(−$z)", r"1 - \sigma($z) = \sigma(-$z)"),),
)
softplus_beta = Op(
    "softplus_beta", ("z",), _quiet(_softplus_beta),
    (_quiet(lambda g, out, z, beta=1.0, threshold=20.0: np.where(z * beta > threshold, g, g * sigmoid(z * beta))),),
    ("ln(1 + e^($beta·$z))/$beta", r"\frac{1}{$beta}\ln\left(1 + e^{$beta $z}\right)"),
    (("σ($beta·$z) (1 where $beta·$z > $threshold, where the forward is $z itself, as PyTorch)",
      r"\sigma($beta $z)"),),
    attrs=("beta", "threshold"),
)
clone = Op(
    "clone", ("a",), np.copy,
    (lambda g, out, a: g,),
    ("$a", "$a"),
    (("1", "1"),),
)
cast = Op(
    "cast", ("a",), lambda a, dtype: a.astype(dtype),
    (lambda g, out, a, dtype: g.astype(a.dtype),),
    ("$a", "$a"),
    (("1", "1"),),
    attrs=("dtype",),
)
expand = Op(  # broadcasting itself: the engine sums the gradient back over the copies
    "expand", ("a",), lambda a, shape: np.broadcast_to(a, shape).copy(),
    (lambda g, out, a, shape: g,),
    ("$a", "$a"),
    (("1 (summed over the copies)", "1"),),
    attrs=("shape",),
)

ELEMENTWISE = (abs_op, sqrt, maximum, minimum, clamp, clamp_tensor, where, sign, log2, log10, sin, cos,
               leaky_relu, elu, silu, gelu, gelu_tanh, logsigmoid, softplus_beta, clone, cast, expand)
