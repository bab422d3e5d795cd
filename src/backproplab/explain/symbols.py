"""Names and symbols for the nodes of a recorded graph, in plain text and in LaTeX.

A node is spoken of by its name (``h1``, ``ŷ``, ``w3``). Nodes nobody named get sensible
generated names: ``ŷ`` for what the loss compares, ``z₁``/``a₁`` around each activation,
``u₁`` for anything else that needs one. Unnamed constants are written as their value, and
unnamed elementwise results as the expression that made them (``w1·x_i + b1``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from backproplab.engine import ops
from backproplab.engine.autodiff import op_of
from backproplab.engine.tensor import Tensor
from backproplab.nn import Parameter
from backproplab.util.numbers import exact_number, latex_number, number, wrap

SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
LOSS_OPS = {"ssr", "mse", "bce_with_logits", "softmax_cross_entropy"}
LATEX_SPECIAL = {"ŷ": r"\hat{y}", "δ": r"\delta", "θ": r"\theta", "Σ": r"\Sigma", "σ": r"\sigma"}
SAMPLE = "i"  # the letter for the sample index in the general form of a chain


def minus(fmt: str) -> str:
    return "-" if fmt == "latex" else "−"


def fmt_number(value: float, digits: int, fmt: str, data: bool = False) -> str:
    """A value as shown: exact short numbers as they are (0, 0.5, 1), others rounded; ``data``
    (inputs, targets) exactly when it has few decimals, whatever ``digits`` is. LaTeX writes
    scientific notation as 6.3 \\times 10^{-5}."""
    value = float(value)
    if data:
        text = exact_number(value, digits, minus(fmt))
    elif math.isfinite(value) and abs(value) < 1e9 and round(value, digits) == value:  # math, not NumPy: per number
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
        text = ("0" if text in ("-0", "") else text).replace("-", minus(fmt))
    else:
        text = number(value, digits, minus(fmt))
    return latex_number(text) if fmt == "latex" else text


def is_data(node: Tensor) -> bool:
    """Inputs and targets: leaves that are neither parameters nor trained."""
    return node.op is None and not node.requires_grad and not isinstance(node, Parameter)


LATEX_MATH_ESCAPES = {
    "\\": r"\backslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%", "_": r"\_",
    "^": r"\hat{}", "~": r"\sim{}", " ": r"\ ", "|": r"\vert{}",
}


def latex_escape(text: str) -> str:
    """Any string made safe inside LaTeX math: every TeX special written as a symbol, so a name
    such as ``\\input{/etc/passwd}`` is shown, never run. Control characters are dropped."""
    return "".join(LATEX_MATH_ESCAPES.get(ch, ch) for ch in text if ch.isprintable())


def latex_name(name: str) -> str:
    """``w1`` → ``w_{1}``, ``ŷ`` → ``\\hat{y}``, ``SSR`` → ``\\mathrm{SSR}``, ``z₁`` → ``z_{1}``;
    any other name is escaped and set upright, never interpreted."""
    name = name.translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
    m = re.fullmatch(r"(.*?)(\d+)", name)
    base, digits = (m.group(1), m.group(2)) if m and m.group(1) else (name, "")
    if base in LATEX_SPECIAL:
        base = LATEX_SPECIAL[base]
    elif re.fullmatch(r"[A-Za-z]+", base):
        base = rf"\mathrm{{{base}}}" if len(base) > 1 else base
    else:
        return rf"\mathrm{{{latex_escape(name)}}}"
    return f"{base}_{{{digits}}}" if digits else base


class Namer:
    """Display names for the nodes of one graph (the user's names win; others are generated)."""

    def __init__(self, order: list[Tensor], root: Tensor) -> None:
        self.names: dict[int, str] = {}
        self.stops: set[int] = set()
        self._counter = 0
        for node in order:
            if node.name:
                self.names[id(node)] = node.name
            for p in node.parents:
                if p.name:
                    self.names[id(p)] = p.name
        self.names.setdefault(id(root), "L")
        if root.op is not None and root.op.name in LOSS_OPS and root.parents:
            pred = root.parents[0]
            if pred.op is not None:
                self.names.setdefault(id(pred), "ŷ")
        layer = 0
        for node in order:  # inputs before outputs, so layers count up from the input
            if node.op is not None and node.op.name in ops.ACTIVATIONS and node.op is not ops.identity:
                layer += 1
                sub = str(layer).translate(SUBSCRIPT)
                self.names.setdefault(id(node), f"a{sub}")
                z = node.parents[0]
                if z.op is not None:
                    self.names.setdefault(id(z), f"z{sub}")
        self._name_nonlinear_inputs(order, root)
        in_order = {id(n) for n in order}  # built once: a set per name made naming quadratic
        self.stops = {key for key in self.names if key in in_order}

    def _name_nonlinear_inputs(self, order: list[Tensor], root: Tensor) -> None:
        """Name what a curved op bends (``u₁`` for the w·x_i of e^(w·x_i)), as a teacher writes
        u = w·x before differentiating e^u; a graph with no such op gets its summand named.

        Without a name between the loss and a parameter, the chain rule of (w·x_i)².sum() had
        one factor, dL/dw, and read dL/dw = Σ_i dL/dw. An op is curved in an argument when its
        derivative statement for that argument mentions the argument itself (e^z, 2·a, not b).
        """
        named = False
        for node in order:
            op = node.op
            if op is None or not op.elementwise or op.name in LOSS_OPS:
                continue
            for arg, parent, (partial, _) in zip(op.args, node.parents, op.partials):
                if parent.op is not None and f"${arg}" in partial and id(parent) not in self.names:
                    self.name(parent)
                    named = True
        if named or any(id(n) in self.names for n in order if n.op is not None and n is not root):
            return
        if root.op is not None and root.op.name in ("sum", "mean") and root.parents and root.parents[0].op is not None:
            self.name(root.parents[0])

    def add_stop(self, node: Tensor, name: str) -> None:
        self.names.setdefault(id(node), name)
        self.stops.add(id(node))

    def stop(self, node: Tensor) -> bool:
        """Whether a chain stops at this node: it has a name (given, or generated for a layer)."""
        return id(node) in self.stops

    def name(self, node: Tensor) -> str:
        """The node's name, generating ``u₁, u₂, …`` for nameless nodes that need one."""
        key = id(node)
        if key not in self.names:
            self._counter += 1
            self.names[key] = f"u{str(self._counter).translate(SUBSCRIPT)}"
        return self.names[key]


def name_shared_nodes(order: list[Tensor], reach: set[int], namer: Namer, wrt: Tensor) -> None:
    """Give every unnamed node used more than once its own δ line (u₁, u₂, …).

    Without it, a node shared by two consumers is written out once per path above it, and
    a graph such as y = y + y repeated doubles its text at every level.
    """
    uses: dict[int, int] = {}
    for node in order:
        if node.op is not None and id(node) in reach:
            for p in node.parents:
                uses[id(p)] = uses.get(id(p), 0) + 1
    for node in order:
        if uses.get(id(node), 0) > 1 and node.op is not None and node is not wrt and not namer.stop(node):
            namer.add_stop(node, namer.name(node))


@dataclass(frozen=True)
class Sym:
    """One entry of a named node: ``h1_i`` for sample i, ``W1[1,2]`` for a weight, ``b3`` alone."""

    name: str
    index: tuple[int, ...]
    sample_axis: bool  # the first index counts samples (data and activations, not parameters)

    def render(self, fmt: str, general: bool) -> str:
        if not self.index:
            return self.name if fmt == "text" else latex_name(self.name)
        parts = [str(i + 1) for i in self.index]
        if general and self.sample_axis:
            parts[0] = SAMPLE
        if fmt == "latex":
            return entry_latex(latex_name(self.name), parts, self.sample_axis)
        if len(parts) == 1 and self.sample_axis:
            return f"{self.name}_{parts[0]}"
        return f"{self.name}[{','.join(parts)}]"


def entry_latex(base: str, parts: list[str], sample_axis: bool = False) -> str:
    """An entry in LaTeX: (W_{1})_{1,2} for a matrix whose name has a subscript of its own, so the two
    subscripts cannot run together (W₁₁,₂); a sample of a named node stays {h_{1}}_{i}."""
    sub = ",".join(parts)
    if "_{" not in base:
        return f"{base}_{{{sub}}}"
    if sample_axis and len(parts) == 1:
        return f"{{{base}}}_{{{sub}}}"
    return rf"\left({base}\right)_{{{sub}}}"


def sym(namer: Namer, node: Tensor, index: tuple[int, ...]) -> Sym:
    sample_axis = not isinstance(node, Parameter) and node.data.ndim >= 1
    return Sym(namer.name(node), tuple(int(i) for i in index), sample_axis)


def softmax_row(namer: Namer, node: Tensor, index: tuple[int, ...], axis: int | tuple[int, ...] | None, fmt: str,
                general: bool, digits: int | None) -> tuple[str, str] | None:
    """The entries a softmax along ``axis`` (an int, a tuple, None for all) takes together for entry
    ``index`` of ``node``, and which of its outputs that entry is: (z2[i,:], 1), or with ``digits``
    the row's numbers ([0.05, −0.25, 0.056], 1). None for a node written as a formula, not by name."""
    if not index or (node.op is not None and node.op.elementwise and not (node.name or namer.stop(node))):
        return None
    axes = range(node.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    along = {int(a) % node.ndim for a in axes}
    picked = ",".join(str(i + 1) for k, i in enumerate(index) if k in along)
    if digits is not None:
        row = node.data[tuple(slice(None) if k in along else i for k, i in enumerate(index))].reshape(-1)
        return "[" + ", ".join(fmt_number(float(v), digits, fmt) for v in row) + "]", picked
    return _row_symbol(namer, node, index, along, fmt, general), picked


def _row_symbol(namer: Namer, node: Tensor, index: tuple[int, ...], along: set[int], fmt: str, general: bool) -> str:
    """z2[i,:] (the entries along ``along`` that share the rest of ``index``); z2 when that is all of it."""
    if len(along) == node.ndim:
        return _named(namer, node, None, fmt, general)[0]
    parts = [":" if k in along else str(i + 1) for k, i in enumerate(index)]
    if general and sym(namer, node, index).sample_axis and parts[0] != ":":
        parts[0] = SAMPLE
    name = namer.name(node)
    return f"{name}[{','.join(parts)}]" if fmt == "text" else entry_latex(latex_name(name), parts)


def element(node: Tensor, index: tuple[int, ...] | None) -> float:
    return float(node.data if index is None or node.data.ndim == 0 else node.data[index])


def aligned(index: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The entry of a broadcast operand of ``shape`` that feeds output entry ``index``."""
    if not shape:
        return ()
    tail = index[len(index) - len(shape):]
    return tuple(0 if n == 1 else i for i, n in zip(tail, shape))


def attr_values(node: Tensor, fmt: str = "text") -> dict[str, str]:
    """An op's settings (negative_slope=0.1, axis=1) as they are written in its statement."""
    shown = {}
    for key, value in (node.attrs or {}).items():
        if isinstance(value, float):
            shown[key] = f"{value:g}".replace("-", minus(fmt))
        elif isinstance(value, (int, str)) or value is None:
            shown[key] = str(value)
        elif isinstance(value, (tuple, list, slice)) or value is Ellipsis or hasattr(value, "tolist"):
            shown[key] = subscript(value)  # a picked part (0, 1:) or several axes (0, 1)
    return shown


def subscript(value: object) -> str:
    """An index as it is written between brackets: (0, slice(1, None)) → 0, 1:; [0, 2] stays [0, 2]."""
    if isinstance(value, tuple):
        return ", ".join(subscript(v) for v in value)
    if isinstance(value, slice):
        parts = ["" if v is None else str(v) for v in (value.start, value.stop, value.step)]
        return ":".join(parts if value.step is not None else parts[:2])
    if value is Ellipsis:
        return "..."
    if hasattr(value, "tolist"):  # a NumPy array or number
        return str(value.tolist())
    return str(value)


def _named(namer: Namer, node: Tensor, index: tuple[int, ...] | None, fmt: str, general: bool) -> tuple[str, int]:
    """A node by its name: the whole tensor (``index`` None) or one entry of it."""
    if index is None:
        name = namer.name(node)
        return (name if fmt == "text" else latex_name(name)), 9
    return sym(namer, node, index).render(fmt, general), 9


def _constant(namer: Namer, node: Tensor, index: tuple[int, ...] | None, fmt: str) -> tuple[str, int]:
    """An unnamed constant by its value (4 decimals); a whole array of them by its generated name."""
    if node.data.size == 1 or index is not None:
        value = float(node.data.reshape(-1)[0]) if node.data.size == 1 else element(node, index)
        text = fmt_number(value, 4, fmt)
        return (f"({text})" if value < 0 else text), 9
    return namer.name(node), 9


def term(namer: Namer, node: Tensor, index: tuple[int, ...] | None, fmt: str, general: bool,
         digits: int | None, depth: int = 0) -> tuple[str, int]:
    """How an entry of ``node`` is written inside a formula, and how tightly it binds.

    With ``digits`` the value is written instead of the symbol (the numbers put in).
    ``index`` None means the whole tensor (the layer-by-layer form).
    """
    if digits is not None:
        value = element(node, index) if index is not None or node.data.ndim == 0 else None
        if value is not None:
            text = fmt_number(value, digits, fmt, data=is_data(node))
            return (wrap(text, value) if fmt == "text" else (f"({text})" if value < 0 else text)), 9
    if namer.stop(node) or node.name or (node.op is None and node.data.size > 1 and digits is None):
        return _named(namer, node, index, fmt, general)
    if node.op is None:
        return _constant(namer, node, index, fmt)
    if node.op.elementwise and depth < 4:
        return expression(namer, node, index, fmt, general, depth)
    if unnamed_transpose(namer, node) and index is None:  # a Linear layer's W2ᵀ, written from W2
        return expression(namer, node, index, fmt, general, depth)
    return _named(namer, node, index, fmt, general)


def unnamed_transpose(namer: Namer, node: Tensor) -> bool:
    """Whether ``node`` is a matrix's transpose with no name of its own (x·Wᵀ in a ``Linear`` layer)."""
    return (node.op is not None and node.op.name == "transpose" and not node.name and not namer.stop(node)
            and node.data.ndim == 2)


def expression(namer: Namer, node: Tensor, index: tuple[int, ...] | None, fmt: str, general: bool,
               depth: int = 0) -> tuple[str, int]:
    """How ``node``'s own op writes it from its inputs (w·x_i + b1; x·W for a whole matrix product),
    whether or not the node has a name, and how tightly that binds."""
    op = op_of(node)
    values = {}
    for arg, parent in zip(op.args, node.parents):
        sub = None if index is None else aligned(index, parent.shape)
        text, prec = term(namer, parent, sub, fmt, general, None, depth + 1)
        values[arg] = text if prec >= 9 or prec > op.prec else f"({text})"  # an atom needs none
    values.update(attr_values(node, fmt))
    return op.render(fmt, "expr" if index is not None else "whole", values), op.prec
