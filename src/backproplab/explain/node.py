"""Gradients with respect to a node inside the network (h1, z1, ŷ): d loss / d h1 for each sample,
each worked out by the chain rule from the loss down to that node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.autodiff import backprop, topological_order
from backproplab.engine.tensor import Tensor
from backproplab.explain.core import Explanation, explain
from backproplab.explain.document import Block, Math
from backproplab.explain.formulas import num
from backproplab.explain.symbols import SUBSCRIPT, Namer, latex_name

MAX_ENTRIES = 8  # entries worked out one by one; the rest are given as values


def plain_name(name: str) -> str:
    """z₁ → z1, ŷ → yhat: how a name is typed on a command line."""
    digits = str.maketrans("".join(str(i).translate(SUBSCRIPT) for i in range(10)), "0123456789")
    return name.translate(digits).replace("ŷ", "yhat")


def graph_nodes(loss: Tensor) -> dict[str, Tensor]:
    """The computed nodes of a loss's graph by the names the explainer shows (and as typed: z1, yhat)."""
    order = topological_order(loss) if loss.requires_grad else [loss]
    namer = Namer(order, loss)
    found: dict[str, Tensor] = {}
    for node in order:
        if node.op is not None and namer.stop(node) and node is not loss:
            name = namer.name(node)
            found.setdefault(name, node)
            found.setdefault(plain_name(name), node)
    return found


def explain_node(loss: Tensor, node: Tensor, *, digits: int = 2, form: str = "auto",
                 max_entries: int = MAX_ENTRIES) -> Explanation:
    """d loss / d node for each entry of ``node`` (one per sample for h1 or ŷ), each worked out
    by the chain rule; the values are the engine's, and each worked total is checked against them."""
    if node.data.size == 1:
        return explain(loss, node, digits=digits, form=form)
    order = topological_order(loss)
    grads = backprop(loss, np.ones_like(loss.data), order)
    engine = grads.get(id(node), np.zeros_like(node.data))
    entries = list(np.ndindex(node.shape))
    parts = [explain(loss, node, digits=digits, form=form, index=e) for e in entries[:max_entries]]
    first = parts[0]
    loss_name = first.loss
    name = first.wrt
    per = "sample" if node.data.ndim == 1 else "sample and unit"
    blocks: list[Block] = [Block("heading", [f"d{loss_name}/d{name}, entry by entry"]),
                           Block("para", [f"{name} holds one value per {per} ({node.data.size} here), so its "
                                          "gradient has one entry each. Each is worked out by the chain rule from "
                                          "the loss down to that entry:"])]
    for k, (entry, part) in enumerate(zip(entries, parts)):
        body = part.blocks[1:]
        if k > 0 and part.form == "paths":  # the chain rule and its factors were given for the first entry
            start = next((j for j, b in enumerate(body) if b.kind == "para" and b.parts
                          and str(b.parts[0]).startswith("Putting in the numbers")), 0)
            body = body[start + 1:]
        label = ",".join(str(i + 1) for i in entry)
        blocks.append(Block("para", [f"Sample {label}:" if node.data.ndim == 1 else f"Entry {label}:"]))
        blocks += body
    values: Any = engine
    text = ", ".join(num(v, digits, "text") for v in np.asarray(engine).reshape(-1)[:max_entries])
    latex = ", ".join(num(v, digits, "latex") for v in np.asarray(engine).reshape(-1)[:max_entries])
    more = node.data.size - max_entries
    if more > 0:
        text += f", … ({more} more)"
        latex += rf", \dots \text{{ ({more} more)}}"
        blocks.append(Block("note", [f"the first {max_entries} of {node.data.size} entries are worked out"]))
    blocks.append(Block("para", ["All together:"]))
    lhs = rf"\frac{{\partial {latex_name(loss_name)}}}{{\partial {latex_name(name)}}}"
    blocks.append(Block("lines", lines=[Math(f"d{loss_name}/d{name} = [{text}]", rf"{lhs} = \left[{latex}\right]")]))
    details = {"node": name, "entries": [{"index": [i + 1 for i in e], "value": p.gradient}
                                         for e, p in zip(entries, parts)]}
    return Explanation(loss_name, name, values.copy(), "node", digits, blocks, details)
