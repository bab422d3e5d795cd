"""The forward pass as a table: for each sample, every named node (x, z1, h1, …, ŷ), the residual,
its square, and the loss that sums them; each column headed by its formula, written from the op
table's expression templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.autodiff import op_of, topological_order
from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import ROWS_IN_FULL, Block, ExplainError, Math, Rendered, gap_row, shown_rows
from backproplab.explain.paths import count
from backproplab.explain.symbols import LOSS_OPS, Namer, fmt_number, is_data, latex_name
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.train.trace import to_json_value
from backproplab.util.numbers import precision, sum_note

WIDEST = 4  # a node with more units per sample than this is left out of the table (with a note)


@dataclass
class Column:
    """One column: the symbol, its formula (text and LaTeX), and one value per sample."""

    symbol: Math
    formula: Math | None
    values: np.ndarray
    data: bool = False


@dataclass
class ForwardTable(Rendered):
    """The forward pass, sample by sample. Render it with ``to_text``, ``to_markdown``,
    ``to_latex``, ``to_html`` or ``to_dict``; in Jupyter it displays itself."""

    loss: str
    value: float
    digits: int
    blocks: list[Block] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def html_title(self) -> str:
        return f"the forward pass and {self.loss}"

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "value": to_json_value(self.value), "digits": self.digits,
                **to_json_value(self.details)}

    def __repr__(self) -> str:
        return (f"<ForwardTable {self.loss} = {fmt_number(self.value, self.digits, 'text')}, "
                f"{self.details.get('samples', 0)} sample(s), {len(self.details.get('columns', []))} column(s)>")


LOGIT_LOSSES = {"bce": "σ", "cross_entropy": "softmax"}  # losses whose network output is a logit, and its squashing


@dataclass(frozen=True)
class OutputColumn:
    """One column of the network's output in a samples table: its heading and a row per sample."""

    text: str
    latex: str
    values: np.ndarray  # (samples, entries per sample)
    kind: str  # "prediction", "logit" or "probability"


def output_columns(loss: str, predictions: Any, name: str = "") -> list[OutputColumn]:
    """The network's output named for what it is, the one naming every samples table uses.

    A regression's output is the prediction ŷ_i. A classifier's output is a logit, not a
    prediction: it is shown as ``z3_i (logit)`` beside the probability ``p̂_i = σ(z3_i)``
    (softmax for several classes), so a logit of −4.98 is never read against y_i = 0 as ŷ.
    ``name`` is the output node's name (``z3``); a classifier's defaults to ``z``.
    """
    values = np.asarray(predictions, dtype=float)
    rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
    squash = LOGIT_LOSSES.get(loss)
    if squash is None:
        return [OutputColumn("ŷ_i", r"\hat{y}_{i}", rows, "prediction")]
    base = name if name and name != "ŷ" else "z"
    tex_base = latex_name(base)
    sym, tex = f"{base}_i", (f"{{{tex_base}}}_{{i}}" if "_{" in tex_base else f"{tex_base}_{{i}}")
    with np.errstate(over="ignore", under="ignore"):  # a huge logit is a probability of 0 or 1
        if squash == "σ" or rows.shape[1] == 1:
            probs = np.exp(-np.logaddexp(0.0, -rows))
            squash = "σ"
        else:
            shifted = rows - rows.max(axis=1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    many = "s" if rows.shape[1] > 1 else ""
    tex_squash = r"\sigma" if squash == "σ" else r"\operatorname{softmax}"
    return [OutputColumn(f"{sym} (logit{many})", rf"{tex}\ \text{{(logit{many})}}", rows, "logit"),
            OutputColumn(f"p̂_i = {squash}({sym})", rf"\hat{{p}}_{{i}} = {tex_squash}({tex})", probs, "probability")]


def output_name(model: Module, x: Any) -> str:
    """The name the network gives its output node (``z3``, ``ŷ``), for naming its column; '' if none."""
    with no_grad():
        return model(Tensor(x, name="x")).name or ""


def _symbol(namer: Namer, node: Tensor, per_sample: bool, fmt: str, unit: int | None = None) -> str:
    name = namer.name(node)
    base = name if fmt == "text" else latex_name(name)
    if not per_sample:
        return base
    if unit is None:
        return f"{base}_i" if fmt == "text" else (f"{{{base}}}_{{i}}" if "_{" in base else f"{base}_{{i}}")
    return f"{base}[i,{unit + 1}]" if fmt == "text" else f"{{{base}}}_{{i,{unit + 1}}}"


def _per_sample(node: Tensor, n: int) -> bool:
    """Whether the node holds one row per sample (data and what is computed from it; never a parameter)."""
    return node.data.ndim >= 1 and node.shape[0] == n and (node.op is not None or is_data(node))


def _expr(namer: Namer, node: Tensor, n: int, fmt: str, top: bool = False) -> tuple[str, int]:
    """How ``node`` is written from the nodes below it, stopping at named ones."""
    per_sample = _per_sample(node, n)
    op = node.op
    if op is None or (not top and namer.stop(node)):
        if op is None and not node.name and node.data.size == 1:
            return fmt_number(float(node.data.reshape(-1)[0]), 4, fmt), 9
        width = node.data.size // n if per_sample else 0
        return _symbol(namer, node, per_sample and width == 1, fmt), 9
    values = {}
    for arg, parent in zip(op.args, node.parents):
        text, prec = _expr(namer, parent, n, fmt)
        keep = prec >= 9 or prec > op.prec or (prec == op.prec and arg == op.args[0])
        values[arg] = text if keep else f"({text})"
    for attr in op.attrs:
        values.setdefault(attr, str((node.attrs or {}).get(attr, attr)))
    return op.render(fmt, "expr", values), op.prec


def _formula(namer: Namer, node: Tensor, n: int) -> Math | None:
    """A column's formula from the nodes below it; None for a leaf, or for an expression nested too
    deep to write out (a sum of a thousand terms is headed by its name alone)."""
    if node.op is None:
        return None
    try:
        return Math(_expr(namer, node, n, "text", True)[0], _expr(namer, node, n, "latex", True)[0])
    except RecursionError:
        return None


def _columns(loss: Tensor, n: int) -> tuple[list[Column], list[str], Namer]:
    order = topological_order(loss)
    namer = Namer(order, loss)
    columns: list[Column] = []
    left_out: list[str] = []
    target = loss.parents[1] if loss.op is not None and loss.op.name in LOSS_OPS else None
    for node in order:
        if node is loss or node is target or node.op is None or not _per_sample(node, n):
            continue
        if not (namer.stop(node) or (is_data(node) and node.name)):
            continue
        width = node.data.size // n
        if width > WIDEST:
            left_out.append(f"{namer.name(node)} ({width} per sample)")
            continue
        data = False
        formula = _formula(namer, node, n)
        values = node.data.reshape(n, -1)
        for j in range(width):
            unit = None if width == 1 else j
            sym = Math(_symbol(namer, node, True, "text", unit), _symbol(namer, node, True, "latex", unit))
            columns.append(Column(sym, formula if j == 0 or width == 1 else None, values[:, j], data))
    return columns, left_out, namer


def _name_logit(columns: list[Column], loss: str, yhat: Tensor, symbol: str, name: str) -> None:
    """Head a classifier's output column as the logit it is, and put the probability beside it."""
    at = next((k for k, c in enumerate(columns) if c.symbol.text == symbol), None)
    if at is None:
        return
    logit, prob = output_columns(loss, yhat.data, name)
    columns[at].symbol = Math(logit.text, logit.latex)
    head, formula = prob.text.split(" = ", 1)
    head_tex, formula_tex = prob.latex.split(" = ", 1)
    columns.insert(at + 1, Column(Math(head, head_tex), Math(formula, formula_tex), prob.values[:, 0]))


Y_SYMBOL = Math("y_i", "y_{i}")


def _recorded_loss(model: Module, xs: Tensor, ys: Tensor, loss: str) -> Tensor:
    """The loss with its graph recorded through every parameter, whichever of them require a gradient."""
    with_grad = {p: p.requires_grad for _, p in model.named_parameters()}
    try:
        for p in with_grad:
            p.requires_grad = True
        return get_loss(loss)(model(xs), ys)
    finally:
        for p, flag in with_grad.items():
            p.requires_grad = flag


def _input_columns(xs: Tensor, n: int) -> list[Column]:
    """The inputs' columns, x_i or x[i,1], x[i,2], … (at most WIDEST of them)."""
    width = xs.data.size // max(n, 1)
    x_values = xs.data.reshape(n, -1)
    return [Column(Math("x_i" if width == 1 else f"x[i,{j + 1}]", "x_{i}" if width == 1 else f"x_{{i,{j + 1}}}"),
                   None, x_values[:, j], True) for j in range(min(width, WIDEST))]


def _target_columns(out: Tensor, ys: Tensor, yhat: Tensor | None, hat: dict[str, str] | None,
                    n: int) -> tuple[list[Column], np.ndarray | None]:
    """The targets' column, and for SSR and MSE the residual and its square (returned too: the loss sums them)."""
    if (out.op is not None and out.op.name in ("ssr", "mse") and yhat is not None and hat is not None
            and yhat.data.size == n):
        residual = ys.data.reshape(n) - yhat.data.reshape(n)
        squares = residual ** 2
        res = {fmt: ops.sub.render(fmt, "expr", {"a": Y_SYMBOL.text if fmt == "text" else Y_SYMBOL.latex,
                                                  "b": hat[fmt]}) for fmt in ("text", "latex")}
        sq = {fmt: ops.pow.render(fmt, "expr", {"a": f"({res[fmt]})", "b": "2"}) for fmt in ("text", "latex")}
        return [Column(Y_SYMBOL, None, ys.data.reshape(n), True),
                Column(Math("residual", r"\text{residual}"), Math(res["text"], res["latex"]), residual),
                Column(Math("squared", r"\text{squared}"), Math(sq["text"], sq["latex"]), squares)], squares
    if ys.data.size == n:
        return [Column(Y_SYMBOL, None, ys.data.reshape(n), True)], None
    return [], None


def _table(columns: list[Column], n: int, digits: int) -> Block:
    """The table: each column headed by its symbol and formula, a row per sample (a long one cut in the middle)."""
    header = [Math("sample", r"\text{sample}")]
    for c in columns:
        header.append(c.symbol if c.formula is None else
                      Math(f"{c.symbol.text}\n= {c.formula.text}", f"{c.symbol.latex} = {c.formula.latex}"))
    rows = []
    for i in shown_rows(n):
        if i < 0:
            rows.append(gap_row(n, len(columns)))
            continue
        rows.append([Math(str(i + 1), str(i + 1))] + [
            Math(fmt_number(c.values[i], digits, "text", c.data), fmt_number(c.values[i], digits, "latex", c.data))
            for c in columns])
    return Block("table", header=header, rows=rows)


def _loss_formula(out: Tensor, loss_name: str, hat: dict[str, str] | None) -> dict[str, str]:
    """The loss in symbols, from its op's expression (SSR = Σ_i (y_i − ŷ_i)²)."""
    if out.op is None:
        return {"text": loss_name, "latex": loss_name}
    return {fmt: out.op.render(fmt, "expr", {"y": Y_SYMBOL.text if fmt == "text" else Y_SYMBOL.latex,
                                             "yhat": hat[fmt] if hat else "ŷ_i", "z": hat[fmt] if hat else "z_i",
                                             "n": str(count(out))})
            for fmt in ("text", "latex")}


def _loss_blocks(out: Tensor, loss_name: str, general: dict[str, str], squares: np.ndarray | None, n: int,
                 digits: int) -> list[Block]:
    """The loss worked out under the table: the squares added (checked against the engine's loss) when they
    are all shown, else the loss's formula and value."""
    total = float(out.data)
    lhs = {"text": loss_name, "latex": latex_name(loss_name)}
    if squares is not None:
        divisor = count(out) if op_of(out).name == "mse" else None  # MSE's n
        exact = math.fsum(squares) / (divisor or 1)
        if not math.isclose(exact, total, rel_tol=1e-12, abs_tol=1e-300):
            raise AssertionError(f"the table's {loss_name} is {exact!r}, the engine's {total!r}: please report this")
    if squares is None or n > ROWS_IN_FULL:
        return [Block("lines", lines=[Math(f"{lhs['text']} = {general['text']} = {fmt_number(total, digits, 'text')}",
                                           f"{lhs['latex']} = {general['latex']} = "
                                           f"{fmt_number(total, digits, 'latex')}")])]
    parts = {fmt: " + ".join(fmt_number(v, digits, fmt) for v in squares) for fmt in ("text", "latex")}
    if op_of(out).name == "mse":
        parts = {"text": f"({parts['text']}) / {n}", "latex": rf"\frac{{{parts['latex']}}}{{{n}}}"}
    line = Math(f"{lhs['text']} = {general['text']} = {parts['text']} = {fmt_number(total, digits, 'text')}",
                f"{lhs['latex']} = {general['latex']} = {parts['latex']} = {fmt_number(total, digits, 'latex')}")
    note = sum_note(squares, total, digits) if op_of(out).name == "ssr" else ""
    return [Block("lines", lines=[line])] + ([Block("note", [note])] if note else [])


def forward_table(model: Module, x: Any, y: Any, loss: str = "ssr", *, digits: int = 2,
                  title: str = "") -> ForwardTable:
    """The forward pass of ``model`` on ``(x, y)`` as a table, one row per sample, ending in the loss.

    The residual and squared-residual columns appear for SSR and MSE, where the loss is their sum
    (or mean); the total is checked against the engine's loss.
    """
    if not 0 <= int(digits) <= 12:
        raise ExplainError(f"digits must be between 0 and 12, got {digits}")
    xs, ys = Tensor(x, name="x"), Tensor(y, name="y")
    n = xs.shape[0] if xs.data.ndim else 1
    out = _recorded_loss(model, xs, ys, loss)
    columns, left_out, namer = _columns(out, n)
    columns[:0] = _input_columns(xs, n)
    loss_name = namer.name(out)
    yhat = out.parents[0] if out.op is not None and out.parents else None
    hat = {fmt: _symbol(namer, yhat, True, fmt) for fmt in ("text", "latex")} if yhat is not None else None
    if yhat is not None and hat is not None and loss in LOGIT_LOSSES:
        _name_logit(columns, loss, yhat, hat["text"], namer.name(yhat))
    targets, squares = _target_columns(out, ys, yhat, hat, n)
    columns += targets
    general = _loss_formula(out, loss_name, hat)
    blocks = [Block("heading", [title])] if title else []
    blocks += [Block("para", [f"The forward pass, sample by sample ({precision(digits)}; everything is computed "
                              "exactly). Each column is headed by the formula that computes it:"]),
               _table(columns, n, digits), *_loss_blocks(out, loss_name, general, squares, n, digits)]
    if left_out:
        blocks.append(Block("note", ["left out of the table, being wider than "
                                     f"{WIDEST} units: {', '.join(left_out)}"]))
    details = {
        "samples": n,
        "columns": [{"name": c.symbol.text, "formula": c.formula.text if c.formula else None,
                     "formula_latex": c.formula.latex if c.formula else None, "values": c.values}
                    for c in columns],
        "formula": general["text"],
        "left_out": left_out,
    }
    return ForwardTable(loss_name, float(out.data), digits, blocks, details)
