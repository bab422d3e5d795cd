"""Reductions and ops along an axis: softmax, log-softmax, max/min, variance, standard deviation, product.

Their VJPs take the output gradient and return an input-shaped array. Axes arrive checked and
made non-negative by the tensor methods; ``axis=None`` means the whole tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backproplab.engine.ops.base import VJP, ArgumentError, Array, Axis, Op
from backproplab.engine.ops.numeric import expand_reduced, log_softmax, reduced_count, softmax


def _softmax_grad(g: Array, out: Array, z: Array, axis: int = -1) -> Array:
    if z.ndim == 0:
        return _softmax_grad(g.reshape(1), out.reshape(1), z.reshape(1), 0).reshape(())
    return out * (g - np.sum(g * out, axis=axis, keepdims=True))


def _log_softmax_grad(g: Array, out: Array, z: Array, axis: int = -1) -> Array:
    if z.ndim == 0:
        return _log_softmax_grad(g.reshape(1), out.reshape(1), z.reshape(1), 0).reshape(())
    return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True)


def _ties(a: Array, out: Array) -> Array:
    """Where the whole-tensor max (or min) is reached; NaN counts as reached when the result is NaN."""
    return np.isnan(a) if np.isnan(out) else a == out


def _evenly(g: Array, out: Array, a: Array) -> Array:
    """PyTorch's rule for max() and min() of a whole tensor: G shared evenly among the tied entries."""
    mask = _ties(a, out)
    return mask * (g / np.count_nonzero(mask))


def _pick(a: Array, axis: int | None, keepdims: bool, arg: Callable[..., Array]) -> tuple[Array, Array]:
    """The values and indices of the max (``arg=np.argmax``) or min along an axis, as torch.max(dim)."""
    if a.ndim == 0:
        return a.copy(), np.zeros((), dtype=np.int64)
    index = arg(a, axis=axis, keepdims=True)
    values = np.take_along_axis(a, index, axis=axis)
    if not keepdims:
        values, index = np.squeeze(values, axis), np.squeeze(index, axis)
    return values, index


def _pick_grad(arg: Callable[..., Array]) -> VJP:
    def grad(g: Array, out: Array, a: Array, axis: int | None = None, keepdims: bool = False) -> Array:
        if a.ndim == 0:
            return g
        if axis is None:
            raise ArgumentError("max(dim) and min(dim) take the dim to pick along; use max() for the whole tensor")
        index = arg(a, axis=axis, keepdims=True)
        full = np.zeros(a.shape, dtype=g.dtype)
        np.put_along_axis(full, index, g if keepdims else np.expand_dims(g, axis), axis=axis)
        return full
    return grad


def _deviations(a: Array, axis: Axis = None) -> Array:
    """a − mean(a), with the mean's own rounding taken out again, so that equal values deviate by exactly
    0 (as PyTorch's variance finds) and not by the last bit of a rounded mean."""
    d = a - np.mean(a, axis=axis, keepdims=True)
    rounding = np.mean(d, axis=axis, keepdims=True)
    return d - np.where(np.isfinite(rounding), rounding, 0.0)  # an infinite value keeps its own deviation


def _var(a: Array, axis: Axis = None, correction: float = 1, keepdims: bool = False) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        d = _deviations(a, axis)
        total = np.sum(d * d, axis=axis, keepdims=keepdims)
        return total / np.asarray(max(reduced_count(a.shape, axis) - correction, 0), dtype=a.dtype)


def _var_grad(g: Array, out: Array, a: Array, axis: Axis = None, correction: float = 1,
              keepdims: bool = False) -> Array:
    n = reduced_count(a.shape, axis) - correction
    scale = 2.0 / n if n != 0 else np.inf  # N = correction: NaN, as PyTorch (inf × 0)
    with np.errstate(invalid="ignore"):
        return expand_reduced(g, a.shape, axis, keepdims) * scale * _deviations(a, axis)


def _std_grad(g: Array, out: Array, a: Array, axis: Axis = None, correction: float = 1,
              keepdims: bool = False) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        g_var = np.where(out == 0, 0.0, g / (2.0 * out))  # PyTorch's value: 0 where the spread is 0
        return _var_grad(g_var, out, a, axis, correction, keepdims)


def _prod_of_others(a: Array, axis: int | None) -> Array:
    """For every entry, the product of the other entries it is multiplied with (exact when some are 0)."""
    x = a.reshape(-1) if axis is None else a
    ax = 0 if axis is None else axis
    x = np.moveaxis(x, ax, -1)
    ones = np.ones(x.shape[:-1] + (1,), dtype=a.dtype)
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis(left * right, -1, ax).reshape(a.shape)


def _prod_grad(g: Array, out: Array, a: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    """PyTorch's rule: G·prod/a when no entry is 0 (NaN for an infinite entry), else the product of the others."""
    if a.ndim == 0:
        return g
    g = expand_reduced(g, a.shape, axis, keepdims)
    zeros = np.count_nonzero(a == 0)
    if not zeros:
        with np.errstate(invalid="ignore"):
            return g * (expand_reduced(out, a.shape, axis, keepdims) / a)
    if axis is None and zeros > 1:  # every product of others includes a 0
        return np.zeros_like(g)
    with np.errstate(invalid="ignore"):
        return g * _prod_of_others(a, axis)


AXIS = ("axis",)
# alike on purpose: an op's entry is data in one shape: name, args, forward, VJPs, expression, derivatives
softmax_op = Op(
    "softmax", ("z",), softmax,
    (_softmax_grad,),
    ("softmax($z)", r"\operatorname{softmax}($z)"),
    (("s_e·(δ_ef − s_f) with s = softmax($z) along axis $axis",
      r"s_e\,(\delta_{ef} - s_f),\ s = \operatorname{softmax}($z)"),),
    elementwise=False, attrs=AXIS,
    backward=(("s ⊙ (G − Σ G ⊙ s), s = softmax($z), the sum along the axis",
               r"s \odot \left(G - \textstyle\sum G \odot s\right)"),),
)
log_softmax_op = Op(
    "log_softmax", ("z",), log_softmax,
    (_log_softmax_grad,),
    ("log_softmax($z)", r"\operatorname{log\_softmax}($z)"),
    (("δ_ef − softmax($z)_f along axis $axis", r"\delta_{ef} - \operatorname{softmax}($z)_f"),),
    elementwise=False, attrs=AXIS,
    backward=(("G − softmax($z) ⊙ Σ G, the sum along the axis",
               r"G - \operatorname{softmax}($z) \odot \textstyle\sum G"),),
)
max_op = Op(
    "max", ("a",), lambda a: np.max(a),
    (_evenly,),
    ("max($a)", r"\max $a"),
    (("1/k at each of the k entries equal to the maximum, 0 elsewhere (PyTorch shares a tie evenly)",
      r"\tfrac{1}{k}\,\mathbb{1}[$a = \max $a]"),),
    elementwise=False,
    backward=(("G shared evenly among the entries equal to the maximum", r"\tfrac{G}{k}"),),
)
min_op = Op(
    "min", ("a",), lambda a: np.min(a),
    (_evenly,),
    ("min($a)", r"\min $a"),
    (("1/k at each of the k entries equal to the minimum, 0 elsewhere (PyTorch shares a tie evenly)",
      r"\tfrac{1}{k}\,\mathbb{1}[$a = \min $a]"),),
    elementwise=False,
    backward=(("G shared evenly among the entries equal to the minimum", r"\tfrac{G}{k}"),),
)
# alike on purpose: max_dim and min_dim mirror each other; each is its own entry of the table, read on its own
max_dim = Op(
    "max_dim", ("a",), lambda a, axis=None, keepdims=False: _pick(a, axis, keepdims, np.argmax)[0],
    (_pick_grad(np.argmax),),
    ("max($a) along axis $axis", r"\max_{$axis} $a"),
    (("1 at the first index of the maximum, 0 elsewhere (PyTorch's index at a tie)",
      r"\mathbb{1}[\text{index of } \max]"),),
    elementwise=False, attrs=("axis", "keepdims"),
    backward=(("G placed at the index of each maximum", r"\operatorname{scatter}(G)"),),
)
min_dim = Op(
    "min_dim", ("a",), lambda a, axis=None, keepdims=False: _pick(a, axis, keepdims, np.argmin)[0],
    (_pick_grad(np.argmin),),
    ("min($a) along axis $axis", r"\min_{$axis} $a"),
    (("1 at the first index of the minimum, 0 elsewhere (PyTorch's index at a tie)",
      r"\mathbb{1}[\text{index of } \min]"),),
    elementwise=False, attrs=("axis", "keepdims"),
    backward=(("G placed at the index of each minimum", r"\operatorname{scatter}(G)"),),
)
var = Op(
    "var", ("a",), _var,
    (_var_grad,),
    ("var($a)", r"\operatorname{var}($a)"),
    (("2·($a − mean($a))/(N − $correction), N entries in the reduction",
      r"\frac{2\,($a - \bar{$a})}{N - $correction}"),),
    elementwise=False, attrs=("axis", "correction", "keepdims"),
    backward=(("2·G·($a − mean($a))/(N − $correction)", r"\frac{2\,G\,($a - \bar{$a})}{N - $correction}"),),
)
std = Op(
    "std", ("a",), lambda a, axis=None, correction=1, keepdims=False: np.sqrt(_var(a, axis, correction, keepdims)),
    (_std_grad,),
    ("std($a)", r"\operatorname{std}($a)"),
    (("($a − mean($a))/((N − $correction)·std($a)) (0 where std($a) = 0, PyTorch's value)",
      r"\frac{$a - \bar{$a}}{(N - $correction)\operatorname{std}($a)}"),),
    elementwise=False, attrs=("axis", "correction", "keepdims"),
    backward=(("G·($a − mean($a))/((N − $correction)·std($a))",
               r"\frac{G\,($a - \bar{$a})}{(N - $correction)\operatorname{std}($a)}"),),
)
prod = Op(
    "prod", ("a",), lambda a, axis=None, keepdims=False: np.prod(a, axis=axis, keepdims=keepdims),
    (_prod_grad,),
    ("Π $a", r"\prod $a"),
    (("the product of the other entries (prod/$a where no entry is 0, as PyTorch)", r"\prod_{f \neq e} {$a}_{f}"),),
    elementwise=False, attrs=("axis", "keepdims"),
    backward=(("G times the product of the other entries", r"G \odot \prod_{f \neq e} {$a}_{f}"),),
)

REDUCTIONS = (softmax_op, log_softmax_op, max_op, min_op, max_dim, min_dim, var, std, prod)
