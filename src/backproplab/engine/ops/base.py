"""The ``Op`` record: one primitive operation with its forward, its VJPs and its derivative statements.

Split from ``backproplab.engine.ops`` so the op modules in this package can build their entries;
``backproplab.engine.ops`` collects every entry into the one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from string import Template

import numpy as np

Array = np.ndarray
Axis = int | tuple[int, ...] | None  # a reduction's axis: one, several, or None for every axis


class ArgumentError(ValueError, RuntimeError):
    """Arguments an op cannot take: a RuntimeError, as PyTorch raises, and a ValueError, as NumPy raises."""

VJP = Callable[..., Array]


@dataclass(frozen=True)
class Op:
    """One primitive operation with its forward, backward and local-derivative statements."""

    name: str
    args: tuple[str, ...]
    forward: Callable[..., Array | np.generic]  # a whole reduction (np.mean(a)) gives a NumPy scalar
    vjps: tuple[VJP | None, ...]
    expr: tuple[str, str]  # how the forward is written: (text, latex)
    partials: tuple[tuple[str, str], ...]  # d out / d arg, per arg: (text, latex)
    elementwise: bool = True
    prec: int = 9  # binding strength when written inline: 1 (+ −) … 9 (a call or atom)
    attrs: tuple[str, ...] = field(default=())
    backward: tuple[tuple[str, str], ...] | None = None  # tensor-level VJP in words, where not G ⊙ partial
    whole: tuple[str, str] | None = None  # the forward for whole tensors (x·W), where ``expr`` is one entry's

    def vjp(self, k: int) -> VJP:
        """The VJP for argument ``k``; an op with none there (an index argument) has no gradient through it."""
        vjp = self.vjps[k]
        if vjp is None:
            raise RuntimeError(f"{self.name} has no gradient with respect to its input {self.args[k]!r}")
        return vjp

    def render(self, kind: str, which: str | int, values: dict[str, str]) -> str:
        """Fill the expression (``which="expr"``; ``"whole"`` for whole tensors) or the k-th partial template."""
        if which == "whole":
            pair = self.whole or self.expr
        else:
            pair = self.expr if which == "expr" else self.partials[int(which)]
        template = pair[0] if kind == "text" else pair[1]
        return Template(template).safe_substitute(values)

    def rule(self, k: int = 0, kind: str = "text") -> str:
        """The local derivative of this op with respect to argument ``k``, as a statement.

        For example ``d softplus(z)/dz = e^z/(1 + e^z) = σ(z)``.
        """
        names = {a: a for a in self.args} | {a: a for a in self.attrs} | {"n": "n"}
        if kind == "latex":
            names = {a: _LATEX_NAMES.get(a, a) for a in names}
            out = self.render("latex", "expr", names)
            out = rf"\,{out}" if self.prec == 9 else rf"\left({out}\right)"  # as the text form: d(a + b)/da
            return rf"\frac{{\partial {out}}}{{\partial {names[self.args[k]]}}} = " + self.render(
                "latex", k, names
            )
        names = {a: _TEXT_NAMES.get(a, a) for a in names}
        out = self.render("text", "expr", names)
        out = f"d {out}" if self.prec == 9 else f"d({out})"
        return f"{out}/d{names[self.args[k]]} = {self.render('text', k, names)}"

    def backward_rule(self, k: int = 0, kind: str = "text") -> str:
        """How the upstream gradient G flows to argument ``k``, for the layer-by-layer (δ) form."""
        if self.backward is not None:
            pair = self.backward[k]
            return pair[0] if kind == "text" else pair[1]
        partial = self.partials[k][0 if kind == "text" else 1]
        if partial == "1":
            return "G"
        return f"G ⊙ ({partial})" if kind == "text" else rf"G \odot \left({partial}\right)"


_TEXT_NAMES = {"yhat": "ŷ"}
_LATEX_NAMES = {"yhat": r"\hat{y}"}
