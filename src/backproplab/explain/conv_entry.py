"""One entry of a convolution's kernel or bias, worked out short: the δ of its feature map at every
sample and output position, times the input entry the kernel entry reads there, summed
(dL/dK[c_out, c_in, i, j] = Σ_(n, p, q) δ[n, c_out, p, q] · x[n, c_in, p·s + i·d, q·s + j·d]).

A kernel entry is used at every output position of every sample, so its sum has thousands of terms;
the few largest (by size) are written out and the rest counted and added up. Positions where the
kernel entry reads padding add 0 and are left out. The statement of the rule is the op table's
(``conv2d``'s backward rule); the δ values are the engine's, and the sum is checked against its gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from string import Template
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Block, Math
from backproplab.explain.entry import alias_chain, named_alias
from backproplab.explain.symbols import Namer, fmt_number, latex_name, term
from backproplab.util.numbers import precision, sum_note

LISTED = 8  # the largest terms a kernel or bias entry writes out; the rest are counted and summed


def _users(order: list[Tensor], node: Tensor) -> list[Tensor]:
    return [n for n in order if n.op is not None and any(p is node for p in n.parents)]


@dataclass
class ConvPlan:
    """A convolution's kernel or bias entry: the conv2d node (None for a bias added to something else),
    the input it reads (None for a bias) and the nodes from the layer's output up that may carry its δ."""

    conv: Tensor | None
    inputs: Tensor | None
    chain: list[Tensor]

    @property
    def settings(self) -> dict[str, Any]:
        """stride, padding, dilation (pairs) and groups of the convolution; a bias alone has none."""
        return dict(self.conv.attrs or {}) if self.conv is not None else {}


def conv_entry_plan(wrt: Tensor, order: list[Tensor], namer: Namer) -> ConvPlan | None:
    """The plan when ``wrt`` is a conv2d kernel (4-d, the op's K) or a bias added per feature map
    (reshaped to (1, C, 1, 1) and added to an (N, C, H, W) map); None for any other use."""
    users = _users(order, wrt)
    if len(users) != 1:
        return None
    user = users[0]
    if wrt.data.ndim == 4 and op_of(user).name == "conv2d" and user.parents[1] is wrt and user.parents[0] is not wrt:
        return ConvPlan(user, user.parents[0], alias_chain(order, user, namer))
    if wrt.data.ndim != 1 or op_of(user).name != "reshape" or user.shape != (1, wrt.shape[0], 1, 1):
        return None
    adds = _users(order, user)
    if len(adds) != 1 or op_of(adds[0]).name != "add" or adds[0].data.ndim != 4 or adds[0].shape[1] != wrt.shape[0]:
        return None
    add = adds[0]
    other = add.parents[0] if add.parents[1] is user else add.parents[1]
    if other is user or other.shape != add.shape:
        return None
    conv = other if other.op is not None and op_of(other).name == "conv2d" else None
    return ConvPlan(conv, None, alias_chain(order, add, namer))


@dataclass
class Terms:
    """The terms of one entry's sum: value, sample, output position, and (for a kernel) the input entry read."""

    values: np.ndarray  # flat, one per (sample, position) that reads inside the input
    sample: np.ndarray
    p: np.ndarray
    q: np.ndarray
    delta: np.ndarray
    factor: np.ndarray | None = None
    h: np.ndarray | None = None
    w: np.ndarray | None = None


def kernel_terms(plan: ConvPlan, target: tuple[int, ...], delta: np.ndarray) -> Terms:
    """δ[n, o, p, q]·x[n, channel, row, col] at every sample and output position whose read is inside the input."""
    assert plan.inputs is not None
    x = plan.inputs.data
    o, _, i, j = target
    s, pad, dil = (plan.settings[k] for k in ("stride", "padding", "dilation"))
    channel = _channel(plan, target)
    rows = np.arange(delta.shape[2]) * s[0] + i * dil[0] - pad[0]
    cols = np.arange(delta.shape[3]) * s[1] + j * dil[1] - pad[1]
    p = np.flatnonzero((rows >= 0) & (rows < x.shape[2]))
    q = np.flatnonzero((cols >= 0) & (cols < x.shape[3]))
    d = delta[:, o][:, p][:, :, q]
    read = x[:, channel][:, rows[p]][:, :, cols[q]]
    n_, p_, q_ = (a.reshape(-1) for a in np.meshgrid(np.arange(x.shape[0]), p, q, indexing="ij"))
    return Terms((d * read).reshape(-1), n_, p_, q_, d.reshape(-1), read.reshape(-1),
                 rows[p_], cols[q_])


def bias_terms(target: tuple[int, ...], delta: np.ndarray) -> Terms:
    """δ[n, o, p, q] at every sample and position of feature map o."""
    d = delta[:, target[0]]
    n_, p_, q_ = (a.reshape(-1) for a in np.indices(d.shape))
    return Terms(d.reshape(-1), n_, p_, q_, d.reshape(-1))


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` largest values by size, largest first (ties: the earlier one first)."""
    if len(values) <= k:
        return np.argsort(-np.abs(values), kind="stable")
    part = np.argpartition(-np.abs(values), k - 1)[:k]
    return part[np.lexsort((part, -np.abs(values[part])))]


def _cell(value: float, digits: int, data: bool = False) -> Math:
    return Math(fmt_number(value, digits, "text", data), fmt_number(value, digits, "latex", data))


def _plain(text: str) -> Math:
    return Math(text, rf"\text{{{text}}}")


def _rule(plan: ConvPlan, namer: Namer, fmt: str) -> str:
    """The op table's statement of dL/dK (conv2d's backward rule for its kernel), with this graph's names,
    from its sum on (the text form starts with its own dL/dK[c_out, c_in, i, j])."""
    assert plan.conv is not None
    op = op_of(plan.conv)
    values = {arg: term(namer, parent, None, fmt, True, None)[0] for arg, parent in zip(op.args, plan.conv.parents)}
    filled = Template(op.backward_rule(1, fmt)).safe_substitute(values)
    return filled.split(" = ", 1)[1] if fmt == "text" and " = " in filled else filled


def _settings_words(plan: ConvPlan) -> str:
    s = plan.settings
    if not s:
        return ""

    def pair(v: tuple[int, int]) -> str:
        return f"{v[0]}×{v[1]}" if v[0] != v[1] else str(v[0])

    return (f" (stride s = {pair(s['stride'])}, padding {pair(s['padding'])}, dilation d = {pair(s['dilation'])}, "
            f"groups {s['groups']})")


WHY = "(the layer-by-layer form shows how δ comes down from the loss)"


def _bias_statement(target: tuple[int, ...], zt: str, names: dict[str, Math]) -> list[Block]:
    """What a bias entry does in the layer, and the sum its gradient is."""
    lhs, d_sym = names["lhs"], names["delta"]
    return [Block("para", [f"{names['wrt'].text} is added to every position of feature map {target[0] + 1} of {zt}, "
                           "in every sample. By the chain rule, summed over the samples n and positions (p, q), with "
                           f"δ_{zt} = d{names['loss'].text}/d{zt} {WHY}:"]),
            Block("lines", lines=[Math(f"{lhs.text} = Σ_(n, p, q) {d_sym.text}",
                                       rf"{lhs.latex} = \sum_{{n, p, q}} {d_sym.latex}")])]


def _kernel_statement(plan: ConvPlan, target: tuple[int, ...], terms: Terms, through: Tensor, namer: Namer,
                      names: dict[str, Math]) -> list[Block]:
    """What a kernel entry does in the layer, the op table's rule for its gradient, and that rule for this entry."""
    assert plan.inputs is not None and plan.conv is not None
    o, c, i, j = target
    zt, xt, kt, loss = namer.name(through), namer.name(plan.inputs), namer.name(plan.conv.parents[1]), names["loss"]
    lhs, d_sym, x_sym = names["lhs"], names["delta"], names["input"]
    general = Math(f"d{loss.text}/d{kt}[c_out, c_in, i, j] = {_rule(plan, namer, 'text')}",
                   rf"\frac{{\partial {loss.latex}}}{{\partial {latex_name(kt)}_{{c_{{out}}, c_{{in}}, i, j}}}} = "
                   f"{_rule(plan, namer, 'latex')}")
    return [Block("para", [f"{names['wrt'].text} is row {i + 1}, column {j + 1} of the kernel from channel "
                           f"{_channel(plan, target) + 1} of {xt} to feature map {o + 1} of {zt}"
                           f"{_settings_words(plan)}; it is used at every output position (p, q) of every sample. "
                           f"By the chain rule (conv2d's backward rule), with δ = δ_{zt} = d{loss.text}/d{zt}, one "
                           f"map per output channel c_out {WHY}:"]),
            Block("lines", lines=[general]),
            Block("para", [f"For this entry (c_out = {o + 1}, c_in = {c + 1}, i = {i + 1}, j = {j + 1}, counted "
                           "from 1):"]),
            Block("lines", lines=[Math(f"{lhs.text} = Σ_(n, p, q) {d_sym.text} · {x_sym.text}",
                                       rf"{lhs.latex} = \sum_{{n, p, q}} {d_sym.latex} \cdot {x_sym.latex}")]),
            Block("para", [f"where (h, w) is the entry of {xt} the kernel entry reads at output position (p, q)"
                           f"{_padding_words(terms, through)}."])]


def _padding_words(terms: Terms, through: Tensor) -> str:
    """How many of the (sample, position) pairs read padding, which adds 0 and is left out."""
    n, _, oh, ow = through.shape
    padded = n * oh * ow - len(terms.values)
    if not padded:
        return ""
    return (f"; at {padded} of the {n * oh * ow} (sample, position) pairs it reads padding, which adds 0, so they "
            "are left out")


def _channel(plan: ConvPlan, target: tuple[int, ...]) -> int:
    """The input channel a kernel entry reads: its c_in within its group's channels."""
    assert plan.inputs is not None and plan.conv is not None
    groups = plan.settings["groups"]
    return target[0] // (plan.conv.shape[1] // groups) * (plan.inputs.shape[1] // groups) + target[1]


def _table(terms: Terms, shown: np.ndarray, digits: int, d_head: Math, x_head: Math | None) -> Block:
    """The largest terms: sample, position, δ, and for a kernel the entry read, its value and the product."""
    header = [_plain("sample n"), _plain("(p, q)"), d_head]
    if x_head is not None:
        header += [_plain("(h, w)"), x_head, _plain("product")]
    rows = []
    for k in shown:
        pos = f"({terms.p[k] + 1}, {terms.q[k] + 1})"
        row = [Math(str(terms.sample[k] + 1), str(terms.sample[k] + 1)), Math(pos, pos), _cell(terms.delta[k], digits)]
        if x_head is not None and terms.factor is not None and terms.h is not None and terms.w is not None:
            hw = f"({terms.h[k] + 1}, {terms.w[k] + 1})"
            row += [Math(hw, hw), _cell(terms.factor[k], digits, True), _cell(terms.values[k], digits)]
        rows.append(row)
    return Block("table", header=header, rows=rows)


def _sum_line(lhs: Math, listed: list[float], rest: float, rest_count: int, digits: int) -> Math:
    def shown(v: float, fmt: str) -> str:
        n = fmt_number(v, digits, fmt)
        return f"({n})" if v < 0 else n

    text = " + ".join(shown(v, "text") for v in listed)
    latex = " + ".join(shown(v, "latex") for v in listed)
    if rest_count:
        words = f"{rest_count} smaller term{'s' if rest_count != 1 else ''}"
        text += f" + … ({words}, together {fmt_number(rest, digits, 'text')})"
        latex += rf" + \dots \text{{ ({words}, together }} {fmt_number(rest, digits, 'latex')}\text{{)}}"
    return Math(f"{lhs.text} = {text}", f"{lhs.latex} = {latex}")


def conv_entry_work(plan: ConvPlan, target: tuple[int, ...], through: Tensor, delta: np.ndarray, exact: float,
                    namer: Namer, digits: int, loss_name: str, shown_wrt: str,
                    param_latex: str) -> tuple[list[Block], dict[str, Any]]:
    """The kernel or bias entry with its numbers: the rule, the largest terms, the rest counted, the total
    checked against the engine's gradient ``exact``."""
    terms = kernel_terms(plan, target, delta) if plan.inputs is not None else bias_terms(target, delta)
    total = math.fsum(terms.values)
    tol = 1e-9 if delta.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the terms
    size = max(1e-3 * max(1.0, abs(exact)), math.fsum(np.abs(terms.values)))  # thousands of terms may cancel
    if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * size):
        raise AssertionError(f"the sum over samples and positions of d{loss_name}/d{shown_wrt} gives {total!r}, the "
                             f"engine {exact!r}: please report this as a bug")
    shown = largest(terms.values, LISTED)
    mask = np.ones(len(terms.values), dtype=bool)
    mask[shown] = False
    listed = [float(terms.values[k]) for k in shown]
    rest = math.fsum(terms.values[mask])
    lhs = Math(f"d{loss_name}/d{shown_wrt}", rf"\frac{{\partial {latex_name(loss_name)}}}{{\partial {param_latex}}}")
    zt, o = namer.name(through), target[0]
    names = {"lhs": lhs, "wrt": Math(shown_wrt, param_latex), "loss": Math(loss_name, latex_name(loss_name)),
             "delta": Math(f"δ_{zt}[n,{o + 1},p,q]", rf"\left(\delta_{{{latex_name(zt)}}}\right)_{{n,{o + 1},p,q}}")}
    if plan.inputs is not None:
        xt, ch = namer.name(plan.inputs), _channel(plan, target) + 1
        names["input"] = Math(f"{xt}[n,{ch},h,w]", rf"{latex_name(xt)}_{{n,{ch},h,w}}")
        statement = _kernel_statement(plan, target, terms, through, namer, names)
    else:
        statement = _bias_statement(target, zt, names)
    what = "largest terms" if len(shown) < len(terms.values) else "terms"
    total_line = Math(f"= {fmt_number(exact, digits, 'text')}", f"= {fmt_number(exact, digits, 'latex')}")
    blocks = statement + [
        Block("para", [f"Putting in the numbers ({precision(digits)}; everything is computed exactly), the "
                       f"{len(shown)} {what} by size:"]),
        _table(terms, shown, digits, names["delta"], names.get("input")),
        Block("lines", lines=[_sum_line(lhs, listed, rest, int(mask.sum()), digits), total_line]),
    ]
    note = sum_note([*listed, rest], exact, digits)
    if note:
        blocks.append(Block("note", [note]))
    details = {"delta_of": zt, "feature_map": o + 1, "count": len(terms.values),
               "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.settings.items()},
               "terms": [_term_detail(terms, k) for k in shown],
               "rest": {"count": int(mask.sum()), "sum": rest}}
    if plan.inputs is not None:
        details["input"] = namer.name(plan.inputs)
    return blocks, details


def _term_detail(terms: Terms, k: int) -> dict[str, Any]:
    n, p, q = int(terms.sample[k]) + 1, int(terms.p[k]) + 1, int(terms.q[k]) + 1
    out: dict[str, Any] = {"label": f"sample {n}, position ({p}, {q})", "sample": n, "position": [p, q],
                           "delta": float(terms.delta[k]), "value": float(terms.values[k])}
    if terms.factor is not None and terms.h is not None and terms.w is not None:
        out["input"] = float(terms.factor[k])
        out["read"] = [int(terms.h[k]) + 1, int(terms.w[k]) + 1]
    return out


def conv_entry_blocks(loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor],
                      grads: dict[int, np.ndarray], namer: Namer, digits: int, loss_name: str, shown_wrt: str,
                      param_latex: str) -> tuple[list[Block], dict[str, Any]] | None:
    """The short working for ``wrt[target]`` when ``wrt`` is a convolution's kernel or a per-feature-map
    bias (called as :func:`~backproplab.explain.entry.entry_blocks` is); None for any other use."""
    plan = conv_entry_plan(wrt, order, namer)
    if plan is None:
        return None
    through = named_alias(plan.chain, grads)
    return conv_entry_work(plan, target, through, grads[id(through)], float(grads[id(wrt)][target]), namer, digits,
                           loss_name, shown_wrt, param_latex)
