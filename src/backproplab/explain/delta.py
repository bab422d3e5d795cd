"""The layer-by-layer form of a worked gradient (matrix layers): one step per named node,
δ = ∂L/∂node, each δ obtained from the one above through the ops' backward rules; the values are
the engine's own. Its structure (:class:`DeltaPlan`) is the same at every iteration of a run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from string import Template
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import Block, ExplainError, Math
from backproplab.explain.formulas import d, define, definitions, num
from backproplab.explain.paths import count, tidy
from backproplab.explain.symbols import (
    LOSS_OPS,
    Namer,
    attr_values,
    latex_name,
    name_shared_nodes,
    term,
    unnamed_transpose,
)

MAX_NEST = 8  # an unnamed chain longer than this is cut into named δ steps
MAX_DELTA_WORK = 2_000_000  # the most backward-rule steps one layer-by-layer explanation may write


def _matrix(value: np.ndarray, digits: int, fmt: str) -> str:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return num(float(arr), digits, fmt)
    if arr.size > 24:
        norm = num(float(np.linalg.norm(arr)), digits, fmt)
        if fmt == "text":
            return f"[{'×'.join(map(str, arr.shape))} array, norm {norm}]"
        shape = r"\times".join(map(str, arr.shape))
        return rf"\left[{shape} \text{{ array, norm }} {norm}\right]"
    rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    if fmt == "text":
        body = "; ".join(", ".join(num(v, digits, "text") for v in row) for row in rows)
        return f"[{body}]"
    body = r" \\ ".join(" & ".join(num(v, digits, "latex") for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _filled_rule(link_node: Tensor, template: str, namer: Namer, fmt: str) -> str:
    """The op's backward rule with the names of its inputs, its count and its settings put in."""
    op = op_of(link_node)
    values = {}
    for arg, parent in zip(op.args, link_node.parents):
        transposed = f"${arg}ᵀ" if fmt == "text" else f"{{${arg}}}^{{\\top}}"
        if transposed in template and unnamed_transpose(namer, parent):  # (Wᵀ)ᵀ is W: δ_z2·W2, not δ_z2·W2ᵀᵀ
            text, prec = term(namer, parent.parents[0], None, fmt, True, None)
            template = template.replace(transposed, text if prec >= 9 else f"({text})")
        if f"${arg}" in template:
            text, prec = term(namer, parent, None, fmt, True, None)
            values[arg] = text if prec >= 9 else f"({text})"
    n = count(link_node)
    values["n"] = "n" if n is None else str(n)
    values.update(attr_values(link_node, fmt))
    return tidy(Template(template).safe_substitute(values))


def _per_feature_map(upstream: str, fmt: str) -> str:
    """conv2d's rule writes δ[n, c_out, p, q] for the δ of its output: one map per output channel."""
    if fmt == "text":
        return f", δ = {upstream} per feature map c_out"
    return rf",\ \delta = {upstream} \text{{ per feature map }} c_{{out}}"


def _compose(link_node: Tensor, k: int, upstream: str, namer: Namer, fmt: str) -> str:
    op = op_of(link_node)
    filled = _filled_rule(link_node, op.backward_rule(k, fmt), namer, fmt)
    if upstream == "1" and (filled.startswith("G ⊙ (") or filled.startswith(r"G \odot \left(")):
        inner = filled[len("G ⊙ ("):-1] if fmt == "text" else filled[len(r"G \odot \left("):-len(r"\right)")]
        return inner
    plain = " " not in upstream and "·" not in upstream  # a product in front of ᵀ needs its parentheses
    g = upstream if plain else (f"({upstream})" if fmt == "text" else rf"\left({upstream}\right)")
    filled = re.sub(r"(?<!\w)G(?![A-Za-z0-9_])", lambda _: g, filled)  # "Gᵀ" too: ᵀ counts as a letter to \b
    if op.name == "conv2d":
        filled += _per_feature_map(upstream, fmt)
    parent = link_node.parents[k]
    if op.elementwise and parent.shape != link_node.shape:
        filled = (f"{filled}, summed over the broadcast axes" if fmt == "text" else rf"\textstyle\sum_{{i}} {filled}")
    return filled


def _weight_of(node: Tensor, k: int, namer: Namer) -> Tensor | None:
    """W, when input ``k`` of ``node`` is an unnamed Wᵀ in x·Wᵀ (a ``Linear`` layer): its δ goes straight to W."""
    parent = node.parents[k]
    if op_of(node).name == "matmul" and k == 1 and unnamed_transpose(namer, parent):
        return parent.parents[0]
    return None


def _to_weight(node: Tensor, upstream: str, namer: Namer, fmt: str) -> str:
    """dL/dW for z = x·Wᵀ: Gᵀ·x, as (xᵀ·G)ᵀ is written in short."""
    x, prec = term(namer, node.parents[0], None, fmt, True, None)
    plain = " " not in upstream and "·" not in upstream
    if fmt == "text":
        return f"{upstream if plain else '(' + upstream + ')'}ᵀ·{x if prec >= 9 else '(' + x + ')'}"
    g = upstream if plain else r"\left(" + upstream + r"\right)"
    x = x if prec >= 9 else r"\left(" + x + r"\right)"
    return "{" + g + r"}^{\top} " + x


@dataclass
class DeltaPlan:
    """The layer-by-layer form without its numbers: the first line, then per δ step the node, its
    label (text, LaTeX), the rule it comes by (text, LaTeX) and its name."""

    first: Math
    steps: list[tuple[Tensor, str, str, str, str, str]]
    defined: list[Math] = field(default_factory=list)  # what the generated names stand for (z₁ = x·W)


def delta_plan(loss: Tensor, wrt: Tensor, order: list[Tensor], namer: Namer, reach: set[int]) -> DeltaPlan:
    """Which δ lines the layer-by-layer form writes and by which rules: the same at every iteration."""
    incoming: dict[int, list[tuple[str, str]]] = {}
    name_shared_nodes(order, reach, namer, wrt)
    work = [0]

    def walk(start: Tensor) -> None:
        stack = [(start, {"text": "δ_" + namer.name(start) if start is not loss else "1",
                          "latex": rf"\delta_{{{latex_name(namer.name(start))}}}" if start is not loss else "1"}, 0)]
        while stack:
            node, g, depth = stack.pop()
            if node.op is None:
                continue
            for k, parent in enumerate(node.parents):
                if id(parent) not in reach:
                    continue
                work[0] += 1
                if work[0] > MAX_DELTA_WORK:
                    raise ExplainError(f"this explanation needs more than {MAX_DELTA_WORK} steps of work (the graph "
                                       f"has {len(reach)} nodes between the loss and {namer.name(wrt)}); explain a "
                                       "smaller network, or name fewer nodes")
                weight = _weight_of(node, k, namer)
                if weight is not None:
                    parent = weight
                    nxt = {fmt: _to_weight(node, g[fmt], namer, fmt) for fmt in ("text", "latex")}
                else:
                    nxt = {fmt: _compose(node, k, g[fmt], namer, fmt) for fmt in ("text", "latex")}
                if not (namer.stop(parent) or parent is wrt) and depth + 1 >= MAX_NEST:
                    namer.add_stop(parent, namer.name(parent))  # a long unnamed chain gets δ lines of its own
                if namer.stop(parent) or parent is wrt:
                    incoming.setdefault(id(parent), []).append((nxt["text"], nxt["latex"]))
                else:
                    stack.append((parent, nxt, depth + 1))

    walk(loss)
    first = Math(f"δ_{namer.name(loss)} = d{namer.name(loss)}/d{namer.name(loss)} = 1",
                 rf"\delta_{{{latex_name(namer.name(loss))}}} = 1")
    steps = []
    for node in reversed(order):
        if node is loss or id(node) not in incoming:
            continue
        name = namer.name(node)
        text_expr = " + ".join(t for t, _ in incoming[id(node)])
        latex_expr = " + ".join(latex for _, latex in incoming[id(node)])
        label_t = f"δ_{name}" if node is not wrt else f"d{namer.name(loss)}/d{name}"
        label_l = (rf"\delta_{{{latex_name(name)}}}" if node is not wrt
                   else d(latex_name(namer.name(loss)), latex_name(name), "latex"))
        steps.append((node, label_t, label_l, text_expr, latex_expr, name))
        if node is not wrt:
            walk(node)
    defined = [define(node, None, namer) for node, *_ in reversed(steps)
               if node is not wrt and node.op is not None and not node.name and node.op.name not in LOSS_OPS]
    said = " ".join(text for _, _, _, text, _, _ in steps)
    nodes = (*order, *(p for n in order for p in n.parents))  # a constant's slice is no step of order
    defined += definitions(said, nodes, namer, {id(n) for n, *_ in steps})
    return DeltaPlan(first, steps, defined)


def delta_blocks(plan: DeltaPlan, grads: dict[int, np.ndarray], digits: int) -> tuple[list[Block], dict[str, Any]]:
    lines = [plan.first]
    details = []
    for node, label_t, label_l, text_expr, latex_expr, name in plan.steps:
        value = grads[id(node)]
        lines.append(Math(f"{label_t} = {text_expr} = {_matrix(value, digits, 'text')}",
                          rf"{label_l} = {latex_expr} = {_matrix(value, digits, 'latex')}"))
        details.append({"node": name, "rule": text_expr, "value": value})
    blocks = [
        Block("para", ["Layer by layer: δ of a node is the gradient of the loss with respect to it (",
                       Math("δ = ∂L/∂node", r"\delta = \partial L / \partial \text{node}"),
                       "). Each δ comes from the one above it through that op's backward rule; "
                       "⊙ multiplies entry by entry and ᵀ transposes."]),
        Block("lines", lines=lines),
    ]
    if plan.defined:
        blocks[1:1] = [Block("para", ["where"]), Block("lines", lines=plan.defined)]
    return blocks, {"steps": details}
