"""The op table: every primitive op, with its forward, its VJP and its derivative in words.

``table`` holds the table; ``elementwise``, ``reductions``, ``shapes``, ``selection``, ``losses`` and ``conv``
define the ops by family, ``base`` the ``Op`` record they all share, and ``numeric`` the numerically
stable functions they compute with. The names below are the package's own: ``ops.OPS``, ``ops.add`` …
"""

from backproplab.engine.ops.base import VJP, ArgumentError, Array, Op
from backproplab.engine.ops.numeric import log_softmax  # the generated replay code imports it from here
from backproplab.engine.ops.table import (
    ACTIVATION_SETTINGS,
    ACTIVATIONS,
    OPS,
    add,
    bce_with_logits,
    concat,
    div,
    exp,
    getitem,
    identity,
    log,
    logsumexp_op,
    matmul,
    mean,
    mse,
    mul,
    neg,
    pow,
    relu,
    reshape,
    shape_message,
    sigmoid_op,
    softmax_cross_entropy,
    softplus_op,
    ssr,
    sub,
    sum_op,
    tanh,
    transpose,
)

__all__ = [
    "ACTIVATIONS", "ACTIVATION_SETTINGS", "OPS", "VJP", "ArgumentError", "Array", "Op", "add", "bce_with_logits",
    "concat", "div", "exp", "getitem", "identity", "log", "log_softmax", "logsumexp_op", "matmul", "mean", "mse",
    "mul", "neg", "pow", "relu", "reshape", "shape_message", "sigmoid_op", "softmax_cross_entropy", "softplus_op",
    "ssr", "sub", "sum_op", "tanh", "transpose",
]
