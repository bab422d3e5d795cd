"""The primitive operations: each one defined once, here, and nowhere else.

An :class:`Op` carries its forward computation, its backward rule (a vector-Jacobian
product per input) and a readable statement of its local derivative, in plain text and in
LaTeX. The engine runs ``forward`` and ``vjps``; the explainer prints ``partials``. Keeping
all three side by side is what lets every explanation come from the same calculus the
engine uses.

Templates use ``$name`` placeholders (``string.Template``) for the op's argument names
(``args``) and its attributes, so an explanation can fill them with symbols (``ŷ_i``) or
with numbers (``-2.60``).

Conventions for ``vjps``: ``vjp(g, out, *inputs, **attrs)`` returns the gradient for one
input. For elementwise ops it returns an array of the *output's* shape; the engine sums it
back to the input's shape (broadcasting). Called with ``g = 1`` it therefore yields the
local derivative of each output element, which is what the explainer shows per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.ops.base import Array, Op
from backproplab.engine.ops.conv import CONV
from backproplab.engine.ops.elementwise import ELEMENTWISE
from backproplab.engine.ops.numeric import (
    expand_reduced,
    log_softmax,
    logsumexp,
    reduced_count,
    sigmoid,
    softplus,
    sum_of_squares,
)
from backproplab.engine.ops.reductions import REDUCTIONS
from backproplab.engine.ops.selection import SELECTION
from backproplab.engine.ops.shapes import SHAPES


def transposed(b: Array) -> bool:
    """Whether a matrix is the transposed view of one in row order (Wᵀ in x·Wᵀ, as ``Linear`` computes)."""
    return b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous


def _matmul(a: Array, b: Array) -> Array:
    """A·B. Two matrices go through ``np.dot``: the same BLAS product as ``@`` (bit for bit on contiguous
    operands) without the ufunc machinery, which costs more than the product itself on small matrices."""
    return np.dot(a, b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)


def _matmul_grad_a(g: Array, out: Array, a: Array, b: Array) -> Array:
    """dA = G·Bᵀ, with 1-D operands promoted the way ``@`` promotes them."""
    if a.ndim == 2 and b.ndim == 2:
        return np.dot(g, b.T)
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:  # a·B: dA_j = Σ_m B_jm G_m
        return (b @ g[..., None])[..., 0]
    if b.ndim == 1:  # A·b: dA_ij = G_i b_j
        return g[..., None] * b
    return g @ (b.T if b.ndim == 2 else np.swapaxes(b, -1, -2))


def _matmul_grad_b(g: Array, out: Array, a: Array, b: Array) -> Array:
    """dB = Aᵀ·G, with 1-D operands promoted the way ``@`` promotes them."""
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:  # a·B: dB_jm = a_j G_m
        return a[:, None] * g[..., None, :]
    if b.ndim == 1:  # A·b: db_j = Σ_i A_ij G_i
        return (np.swapaxes(a, -1, -2) @ g[..., None])[..., 0]
    if a.ndim == 2 and transposed(b):
        return np.dot(g.T, a).T  # B is Wᵀ (x·Wᵀ): dW = Gᵀ·A is then in W's own order, for the update that follows
    if a.ndim == 2 and b.ndim == 2:
        return np.dot(a.T, g)
    return (a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)) @ g


def _width(a: Array) -> int:
    return 1 if a.ndim == 1 else a.shape[-1]


def _concat(a: Array, b: Array) -> Array:
    """Columns side by side; a 1-D operand counts as one column."""
    return np.concatenate([a[:, None] if a.ndim == 1 else a, b[:, None] if b.ndim == 1 else b], axis=-1)


def _getitem_vjp(g: Array, out: Array, a: Array, index: Any) -> Array:
    full = np.zeros(a.shape, dtype=g.dtype)
    np.add.at(full, index, g)
    return full


def shape_message(op: Op, arrays: list[Array], attrs: dict) -> str | None:
    """One line naming the op and the shapes that do not fit, or None when shapes are not the problem."""
    shapes = [a.shape for a in arrays]
    if op.name == "matmul" and len(arrays) == 2:
        (sa, sb) = shapes
        if not sa or not sb:
            return f"matmul: {sa} @ {sb}: both operands need at least one dimension"
        inner_a, inner_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
        if inner_a != inner_b:
            return f"matmul: {sa} @ {sb}: inner sizes {inner_a} and {inner_b} differ"
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            return f"matmul: {sa} @ {sb}: the batch dimensions {sa[:-2]} and {sb[:-2]} cannot be broadcast"
        return None
    if op.name == "reshape":
        size = arrays[0].size
        return (f"reshape: a tensor of shape {shapes[0]} ({size} entries) cannot be reshaped to "
                f"{tuple(attrs.get('shape', ()))}")
    if len(arrays) > 1:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            listed = " and ".join(map(str, shapes))
            return f"{op.name}: shapes {listed} cannot be broadcast together ({_mismatch(shapes)})"
    return None


def _mismatch(shapes: list[tuple[int, ...]]) -> str:
    """Which sizes clash, counted from the right as broadcasting does."""
    ndim = max(len(s) for s in shapes)
    for k in range(1, ndim + 1):
        sizes = {s[-k] for s in shapes if len(s) >= k} - {1}
        if len(sizes) > 1:
            a, b = sorted(sizes)[:2]
            return f"sizes {a} and {b} differ in dimension {ndim - k}, and neither is 1"
    return "sizes differ"


# --- the table ------------------------------------------------------------------------------
# Each entry: name, argument names, forward, one VJP per argument, how the forward is
# written, and the local derivative per argument (text, LaTeX).

add = Op(
    "add", ("a", "b"), np.add,
    (lambda g, out, a, b: g, lambda g, out, a, b: g),
    ("$a + $b", "$a + $b"),
    (("1", "1"), ("1", "1")),
    prec=1,
)
sub = Op(
    "sub", ("a", "b"), np.subtract,
    (lambda g, out, a, b: g, lambda g, out, a, b: -g),
    ("$a − $b", "$a - $b"),
    (("1", "1"), ("−1", "-1")),
    prec=1,
)
mul = Op(
    "mul", ("a", "b"), np.multiply,
    (lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
    ("$a·$b", r"$a \cdot $b"),
    (("$b", "$b"), ("$a", "$a")),
    prec=2,
)
div = Op(
    "div", ("a", "b"), np.divide,
    (lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b),
    ("$a / $b", r"\frac{$a}{$b}"),
    (("1/$b", r"\frac{1}{$b}"), ("−$a/$b²", r"-\frac{$a}{$b^{2}}")),
    prec=2,
)
def _pow_grad_base(g: Array, out: Array, a: Array, b: Array) -> Array:
    """b·a^(b−1), and 0 wherever b = 0 (PyTorch's value: x⁰ is the constant 1, even at x = 0)."""
    if b.ndim == 0 and b != 0:  # x ** 2 and the like: no zero exponent to mask
        return g * b * np.power(a, b - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, g * b * np.power(a, b - 1))


def _pow_grad_exponent(g: Array, out: Array, a: Array, b: Array) -> Array:
    """a^b·ln a, and 0 where a = 0 and b ≥ 0 (PyTorch's value); NaN for a < 0, where ln a does not exist."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return g * np.where((a == 0) & (b >= 0), 0.0, out * np.log(a))


pow = Op(  # noqa: A001 - the op is called pow, as in the maths
    "pow", ("a", "b"), np.power,
    (_pow_grad_base, _pow_grad_exponent),
    ("$a^$b", "{$a}^{$b}"),
    (
        ("$b·$a^($b − 1) (0 where $b = 0)", r"$b\,{$a}^{$b - 1} \text{ (0 where } $b = 0\text{)}"),
        ("$a^$b·ln($a) (0 where $a = 0 and $b ≥ 0; NaN where $a < 0)",
         r"{$a}^{$b}\ln $a \text{ (0 where } $a = 0,\ $b \geq 0\text{; NaN where } $a < 0\text{)}"),
    ),
    prec=3,
)
neg = Op(
    "neg", ("a",), np.negative,
    (lambda g, out, a: -g,),
    ("−$a", "-$a"),
    (("−1", "-1"),),
    prec=1,
)
exp = Op(
    "exp", ("z",), np.exp,
    (lambda g, out, z: g * out,),
    ("e^$z", "e^{$z}"),
    (("e^$z", "e^{$z}"),),
)
log = Op(
    "log", ("z",), np.log,
    (lambda g, out, z: g / z,),
    ("ln($z)", r"\ln($z)"),
    (("1/$z", r"\frac{1}{$z}"),),
)
softplus_op = Op(
    "softplus", ("z",), softplus,
    (lambda g, out, z: g * np.exp(z - out),),  # σ(z) = e^(z − softplus(z)), reusing the forward result
    ("softplus($z)", r"\operatorname{softplus}($z)"),
    (("e^$z/(1 + e^$z) = σ($z)", r"\frac{e^{$z}}{1 + e^{$z}} = \sigma($z)"),),
)
sigmoid_op = Op(
    "sigmoid", ("z",), sigmoid,
    (lambda g, out, z: g * out * (1.0 - out),),
    ("σ($z)", r"\sigma($z)"),
    (("σ($z)·(1 − σ($z))", r"\sigma($z)\,(1 - \sigma($z))"),),
)
tanh = Op(
    "tanh", ("z",), np.tanh,
    (lambda g, out, z: g * (1.0 - out * out),),
    ("tanh($z)", r"\tanh($z)"),
    (("1 − tanh²($z)", r"1 - \tanh^{2}($z)"),),
)


RELU_WHERE_MOST = 8192  # float64 gradients up to this many entries take np.where in relu's VJP (see _relu_grad)


def _relu_grad(g: Array, out: Array, z: Array) -> Array:
    """PyTorch's rule: 0 where z ≤ 0, even for an infinite G (where G·0 would be NaN), else G (at z = NaN too).

    np.where gives it directly, and is the faster form for float64 gradients of up to RELU_WHERE_MOST
    entries; for float32 and larger arrays it is several times slower than the product G·(z > 0 or NaN),
    which is PyTorch's value while G's sum is finite (no infinity or NaN in G)."""
    if g.size <= RELU_WHERE_MOST and g.dtype == np.float64:
        return np.where(z <= 0, 0.0, g)
    if np.isfinite(np.add.reduce(g, axis=None)):
        return g * ~(z <= 0)
    return np.where(z <= 0, 0.0, g)


relu = Op(
    "relu", ("z",), lambda z: np.maximum(z, 0.0),
    (_relu_grad,),
    ("relu($z)", r"\operatorname{relu}($z)"),
    (("1 if $z > 0 else 0 (0 at $z = 0, 1 at NaN: PyTorch's values)", r"\mathbb{1}[$z > 0]"),),
)
identity = Op(
    "identity", ("z",), lambda z: z,
    (lambda g, out, z: g,),
    ("$z", "$z"),
    (("1", "1"),),
)

# Reductions and re-arrangements: not elementwise, so their VJPs return input-shaped arrays.
sum_op = Op(
    "sum", ("a",), lambda a, axis=None, keepdims=False: np.add.reduce(a, axis=axis, keepdims=keepdims),
    (lambda g, out, a, axis=None, keepdims=False: expand_reduced(g, a.shape, axis, keepdims),),
    ("Σ $a", r"\sum $a"),
    (("1", "1"),),
    elementwise=False, attrs=("axis", "keepdims"), backward=(("G copied to every summed entry", "G"),),
)
mean = Op(
    "mean", ("a",), lambda a, axis=None, keepdims=False: np.mean(a, axis=axis, keepdims=keepdims),
    (
        lambda g, out, a, axis=None, keepdims=False: expand_reduced(g, a.shape, axis, keepdims)
        / reduced_count(a.shape, axis),
    ),
    ("mean($a)", r"\operatorname{mean}($a)"),
    (("1/$n", r"\frac{1}{$n}"),),
    elementwise=False, attrs=("axis", "keepdims"), backward=(("G/$n copied to every averaged entry", r"\frac{G}{$n}"),),
)
logsumexp_op = Op(
    "logsumexp", ("a",), logsumexp,
    (
        lambda g, out, a, axis=None, keepdims=False: expand_reduced(g, a.shape, axis, keepdims)
        * np.exp(a - expand_reduced(out, a.shape, axis, keepdims)),
    ),
    ("ln Σ e^$a", r"\ln \sum e^{$a}"),
    (("softmax($a)", r"\operatorname{softmax}($a)"),),
    elementwise=False, attrs=("axis", "keepdims"),
)
matmul = Op(
    "matmul", ("a", "b"), _matmul,
    (_matmul_grad_a, _matmul_grad_b),
    ("Σ_j $a·$b", r"\sum_j $a\,$b"),  # one entry of the product: Σ_j a_ij·b_jk
    (("$b", "$b"), ("$a", "$a")),
    elementwise=False, prec=2,
    backward=(("G·$bᵀ", r"G\,{$b}^{\top}"), ("$aᵀ·G", r"{$a}^{\top} G")),
    whole=("$a·$b", r"$a\,$b"),
)
reshape = Op(
    "reshape", ("a",), lambda a, shape: np.reshape(a, shape),
    (lambda g, out, a, shape: np.reshape(g, a.shape),),
    ("$a", "$a"),
    (("1", "1"),),
    elementwise=False, attrs=("shape",), backward=(("G reshaped to $a's shape", r"\operatorname{reshape}(G)"),),
)
transpose = Op(
    "transpose", ("a",), lambda a: a.T,  # .T: np.transpose's view, without its call overhead
    (lambda g, out, a: g.T,),
    ("$aᵀ", "{$a}^{\\top}"),
    (("1", "1"),),
    elementwise=False, backward=(("Gᵀ", r"G^{\top}"),),
)
getitem = Op(
    "getitem", ("a",), lambda a, index: a[index],
    (_getitem_vjp,),
    ("$a[$index]", "${a}_{$index}"),
    (("1", "1"),),
    elementwise=False, attrs=("index",),
    backward=(("G placed at the picked entries, 0 elsewhere", r"\operatorname{scatter}(G)"),),
)

concat = Op(
    "concat", ("a", "b"), _concat,
    (
        lambda g, out, a, b: g[..., : _width(a)].reshape(a.shape),
        lambda g, out, a, b: g[..., _width(a):].reshape(b.shape),
    ),
    ("[$a, $b]", r"\left[$a,\ $b\right]"),
    (("1", "1"), ("1", "1")),
    elementwise=False,
    backward=(("G's columns for $a", r"G_{[:, $a]}"), ("G's columns for $b", r"G_{[:, $b]}")),
)

# Losses are primitive ops too: their local derivative is the first factor of every chain rule
# (dSSR/dŷ_i = −2(y_i − ŷ_i)), and fusing them keeps them numerically stable.
ssr = Op(
    "ssr", ("yhat", "y"), lambda yhat, y: sum_of_squares(y - yhat),
    (lambda g, out, yhat, y: (yhat - y) * 2.0 * g, lambda g, out, yhat, y: (y - yhat) * 2.0 * g),
    ("Σ ($y − $yhat)²", r"\sum ($y - $yhat)^{2}"),
    (("−2 × ($y − $yhat)", r"-2\,($y - $yhat)"), ("2 × ($y − $yhat)", r"2\,($y - $yhat)")),
    elementwise=False,
)
mse = Op(
    "mse", ("yhat", "y"), lambda yhat, y: sum_of_squares(y - yhat) / y.size,
    (
        lambda g, out, yhat, y: (yhat - y) * (2.0 / y.size) * g,
        lambda g, out, yhat, y: (y - yhat) * (2.0 / y.size) * g,
    ),
    ("(1/$n) Σ ($y − $yhat)²", r"\frac{1}{$n}\sum ($y - $yhat)^{2}"),
    (("−2 × ($y − $yhat) / $n", r"-\frac{2}{$n}($y - $yhat)"), ("2 × ($y − $yhat) / $n", r"\frac{2}{$n}($y - $yhat)")),
    elementwise=False,
)
bce_with_logits = Op(
    "bce_with_logits", ("z", "y"), lambda z, y: np.mean(softplus(z) - y * z),
    (lambda g, out, z, y: g * (sigmoid(z) - y) / y.size, lambda g, out, z, y: g * -z / y.size),
    ("(1/$n) Σ [ln(1 + e^$z) − $y·$z]", r"\frac{1}{$n}\sum \left[\ln(1 + e^{$z}) - $y\,$z\right]"),
    (("(σ($z) − $y) / $n", r"\frac{\sigma($z) - $y}{$n}"), ("−$z / $n", r"-\frac{$z}{$n}")),
    elementwise=False,
)
softmax_cross_entropy = Op(
    "softmax_cross_entropy", ("z", "y"),
    # classes with target 0 add nothing, even where ln softmax is −inf (logits ±1e308), as in PyTorch
    lambda z, y: -np.add.reduce(y * log_softmax(z), axis=None, where=y != 0) / (z.size // z.shape[-1]),
    (
        lambda g, out, z, y: (np.exp(log_softmax(z)) * np.add.reduce(y, axis=-1, keepdims=True) - y)
        * (g / (z.size // z.shape[-1])),
        lambda g, out, z, y: log_softmax(z) * (-g / (z.size // z.shape[-1])),
    ),
    ("−(1/$n) Σ $y·ln softmax($z)", r"-\frac{1}{$n}\sum $y \ln \operatorname{softmax}($z)"),
    (
        ("(softmax($z) − $y) / $n", r"\frac{\operatorname{softmax}($z) - $y}{$n}"),
        ("−ln softmax($z) / $n", r"-\frac{\ln \operatorname{softmax}($z)}{$n}"),
    ),
    elementwise=False,
)

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        add, sub, mul, div, pow, neg, exp, log, softplus_op, sigmoid_op, tanh, relu, identity,
        sum_op, mean, logsumexp_op, matmul, reshape, transpose, getitem, concat,
        ssr, mse, bce_with_logits, softmax_cross_entropy,
        *ELEMENTWISE, *REDUCTIONS, *SHAPES, *SELECTION, *CONV,
    )
}
"""Every primitive op by name: the one table the engine, the explainer and the tests share."""

ACTIVATIONS: dict[str, Op] = {
    op.name: op for op in (identity, relu, sigmoid_op, softplus_op, tanh)
} | {name: OPS[name] for name in ("leaky_relu", "elu", "silu", "gelu")}
"""The ops a network layer may use as its activation."""

ACTIVATION_SETTINGS: dict[str, dict[str, float]] = {"leaky_relu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}}
"""The settings an activation named alone takes: PyTorch's defaults."""
