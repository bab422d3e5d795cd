"""Faster spellings of the op table's forward and VJPs, which the generated replay code is written with.

Each :class:`Inline` form calls the same NumPy functions in the same order as its op's entry in
the table, so results are bit for bit the same (the tests check op by op). The text put into the
code around them is only slot numbers, shapes and plain numbers (``literal``); node names appear
only in comments (``label``, ``comment``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from sys import getrefcount
from typing import Any

import numpy as np

from backproplab.engine.autodiff import unbroadcast
from backproplab.engine.ops import OPS, log_softmax
from backproplab.engine.ops.table import RELU_WHERE_MOST
from backproplab.engine.scalar import exp_float, softplus_float


@dataclass(frozen=True)
class Inline:
    """How to write one op's forward and VJPs as expressions.

    Placeholders: ``{0}``, ``{1}`` the op's inputs; ``{g}`` the upstream gradient; ``{out}``
    the op's result; ``{o}`` where ``, BUFFER`` goes when the result has a buffer (only on
    calls whose result has the final shape; ``out`` by position, which NumPy parses faster
    than the keyword); ``{out_kw}`` the same as ``, out=BUFFER``, for ``maximum``, which
    deprecates (and slows down) a third positional argument; attribute names such as ``{axis}``; the
    numbers in ``CONSTANTS`` (``{zero}``, ``{two}``, …); ``{keep}`` the value of ``keep``. A
    VJP of exactly ``"{g}"`` passes the gradient through unchanged.
    """

    forward: str | None
    vjps: tuple[str | None, ...] = ()
    unit_vjps: tuple[str | None, ...] = ()  # the VJPs when G is exactly 1 (the loss's own seed): x·1 is x, bit for bit
    keep: str | None = None  # a value the forward and the VJPs share: computed once per step, in the forward


INLINE: dict[str, Inline] = {
    "add": Inline("add({0}, {1}{o})", ("{g}", "{g}")),
    "sub": Inline("subtract({0}, {1}{o})", ("{g}", "negative({g}{o})")),
    "mul": Inline("multiply({0}, {1}{o})", ("multiply({g}, {1}{o})", "multiply({g}, {0}{o})")),
    "div": Inline("divide({0}, {1}{o})",
                  ("divide({g}, {1}{o})", "divide(multiply(negative({g}{o}), {out}{o}), {1}{o})")),
    "pow": Inline("power({0}, {1}{o})"),
    "neg": Inline("negative({0}{o})", ("negative({g}{o})",)),
    "exp": Inline("exp({0}{o})", ("multiply({g}, {out}{o})",)),
    "log": Inline("log({0}{o})", ("divide({g}, {0}{o})",)),
    "softplus": Inline("logaddexp({zero}, {0}{o})", ("multiply({g}, exp(subtract({0}, {out}{o}){o}){o})",)),
    "sigmoid": Inline("exp(negative(logaddexp({zero}, negative({0}{o}){o}){o}){o})",
                      ("multiply(multiply({g}, {out}{o}), subtract({one}, {out}){o})",)),
    "tanh": Inline("tanh({0}{o})", ("multiply({g}, subtract({one}, multiply({out}, {out}{o}){o}){o})",)),
    # relu's VJP is the op table's: PyTorch's where(z ≤ 0, 0, G) for a float64 G of up to RELU_WHERE_MOST entries;
    # else G·(z > 0 or NaN), which is out ≠ 0 (out = max(z, 0) is NaN at NaN), while G's sum is finite, and
    # where(z ≤ 0, 0, G) again otherwise (G·0 would be NaN at an infinite G)
    "relu": Inline("maximum({0}, {zero}{out_kw})",
                   (f"where(less_equal({{0}}, {{zero}}), {{zero}}, {{g}}) if {{g}}.size <= {RELU_WHERE_MOST} "
                    "and {g}.dtype == float64 else multiply({g}, not_equal({out}, {zero}){o}) "
                    "if isfinite(add_reduce({g}, None)) else where(less_equal({0}, {zero}), {zero}, {g})",)),
    "identity": Inline("{0}", ("{g}",)),
    "sum": Inline("add_reduce({0}, axis={axis}, keepdims={keepdims})"),
    "mean": Inline("mean({0}, axis={axis}, keepdims={keepdims})"),
    "matmul": Inline("dot({0}, {1}{o})", ("dot({g}, {1}.T{o})", "dot({0}.T, {g}{o})")),  # two matrices (op table)
    "reshape": Inline("reshape({0}, {shape})"),
    "transpose": Inline("{0}.T", ("{g}.T",)),  # .T: a view, without np.transpose's call overhead
    # ssr and mse keep ŷ − y from the forward for the VJP: (ŷ − y)² is (y − ŷ)² bit for bit (negation is exact)
    "ssr": Inline("add_reduce(square({keep}), None)",
                  ("multiply(multiply({keep}, {two}{o}), {g}{o})",
                   "multiply(multiply(subtract({1}, {0}{o}), {two}{o}), {g}{o})"),
                  ("multiply({keep}, {two}{o})", "multiply(subtract({1}, {0}{o}), {two}{o})"),
                  keep="subtract({0}, {1}{o})"),
    "mse": Inline("add_reduce(square({keep}), None) / {n}",
                  ("multiply(multiply({keep}, {two_over_n}{o}), {g}{o})",
                   "multiply(multiply(subtract({1}, {0}{o}), {two_over_n}{o}), {g}{o})"),
                  ("multiply({keep}, {two_over_n}{o})",
                   "multiply(subtract({1}, {0}{o}), {two_over_n}{o})"),
                  keep="subtract({0}, {1}{o})"),
    "softmax_cross_entropy": Inline(
        "negative(add_reduce(multiply({1}, {keep}), None, where=not_equal({1}, {int_zero}))) / {rows}",
        ("multiply(subtract(multiply(exp({keep}), add_reduce({1}, axis=-1, keepdims=True)), {1}), divide({g}, {rows}))",
         "multiply({keep}, divide(negative({g}), {rows}))"),
        keep="log_softmax({0})"),
}
"""Faster spellings of the op table's forward and VJPs, by op name (None: call the op itself)."""

CONSTANTS: dict[str, Any] = {"zero": 0.0, "one": 1.0, "two": 2.0, "int_zero": 0}
"""The plain numbers the templates use, by placeholder. Where every array in a call has one float
dtype, each is passed as a 0-d array of that dtype instead of a Python number: NumPy then picks
the same loop (a Python number takes the array's dtype) and skips the conversion, which costs
more than the arithmetic on a few entries. Elsewhere the Python literal is written."""

NAMESPACE: dict[str, Any] = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide, "power": np.power,
    "negative": np.negative, "exp": np.exp, "log": np.log, "logaddexp": np.logaddexp, "tanh": np.tanh,
    "maximum": np.maximum, "greater": np.greater, "add_reduce": np.add.reduce, "mean": np.mean,
    "dot": np.dot, "reshape": np.reshape, "transpose": np.transpose, "asarray": np.asarray,
    "array": np.array, "empty_like": np.empty_like, "square": np.square, "not_equal": np.not_equal,
    "where": np.where, "less_equal": np.less_equal,
    "unbroadcast": unbroadcast, "log_softmax": log_softmax, "getrefcount": getrefcount,
    "exp_float": exp_float, "softplus_float": softplus_float, "math_tanh": math.tanh,
    "zeros_like": np.zeros_like, "sqrt": np.sqrt, "isfinite": math.isfinite, "math_sqrt": math.sqrt,
    "float64": np.float64, "concatenate": np.concatenate,
}
"""The only names the generated code uses besides its own numbered variables."""

OWN = {"unbroadcast": "backproplab.engine.autodiff", "log_softmax": "backproplab.engine.ops", "getrefcount": "sys",
       "exp_float": "backproplab.engine.scalar", "softplus_float": "backproplab.engine.scalar", "math_tanh": "math",
       "isfinite": "math", "math_sqrt": "math"}
"""The names in NAMESPACE that are not NumPy's, by module."""


def literal(value: Any) -> str:
    """A Python literal for a plain number, bool, None or tuple of them; ValueError for anything else."""
    if value is None or type(value) in (bool, int):
        return repr(value)
    if type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return repr(value)
    if type(value) is tuple:
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise ValueError(f"no literal for {type(value).__name__}")


def label(name: str, most: int = 24) -> str:
    """A node's name for a comment: escaped (see ``comment``) and cut to ``most`` characters."""
    text = comment(str(name))
    return text if len(text) <= most else text[: most - 1] + "…"


def comment(text: str) -> str:
    """Text safe inside a ``#`` comment: every character that is not printable is escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def inline_form(op: Any) -> Inline | None:
    """The inline form of a table op; None for an op that is not the table's own (it is called as it is)."""
    form = INLINE.get(op.name)
    return form if form is not None and OPS.get(op.name) is op else None
