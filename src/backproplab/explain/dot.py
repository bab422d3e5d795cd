"""The computation graph as Graphviz DOT: every tensor with its name, value and gradient.

Like micrograd's ``draw_dot``, but with names, and in the package. DOT text needs nothing;
SVG and PNG need Graphviz's ``dot`` program. A tensor with many entries is one node that
shows its shape and a summary, so a wide layer does not explode into thousands of nodes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from backproplab.engine.autodiff import backprop, topological_order
from backproplab.engine.tensor import Tensor
from backproplab.explain.document import ExplainError
from backproplab.explain.symbols import Namer, is_data
from backproplab.util import files
from backproplab.util.numbers import exact_number, number

GET_DOT = ("Graphviz's 'dot' program is not installed, so only the DOT file was written. Install it with "
           "'apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS), then run this again, "
           "or paste the DOT file into any Graphviz viewer.")
MAX_ENTRIES = 6
RANKDIRS = ("LR", "TB")  # left to right (micrograd's layout) or top to bottom


def _summary(arr: np.ndarray | None, digits: int, data: bool = False) -> str:
    """A value as the terminal writes it; data (x, y) exactly, as 0.5 rather than 0.50."""
    if arr is None:
        return "—"
    arr = np.asarray(arr, dtype=float)
    shown = exact_number if data else number
    if arr.size == 1:
        return shown(float(arr.reshape(-1)[0]), digits)
    if arr.size <= MAX_ENTRIES:
        return "[" + ", ".join(shown(v, digits) for v in arr.reshape(-1)) + "]"
    return (f"{'×'.join(map(str, arr.shape))}, mean {number(float(arr.mean()), digits)}, "
            f"norm {number(float(np.linalg.norm(arr)), digits)}")


ESCAPES = str.maketrans({c: "\\" + c for c in '\\"{}|<>'})  # what a DOT record label must escape


def _escape(text: str) -> str:
    return text.translate(ESCAPES)


def _all_nodes(order: list[Tensor]) -> list[Tensor]:
    """Every tensor of the graph once, constants and inputs included, each before the op that uses it."""
    nodes: list[Tensor] = []
    seen: set[int] = set()
    for node in order:
        for t in (*node.parents, node):
            if id(t) not in seen:
                seen.add(id(t))
                nodes.append(t)
    return nodes


def _node_lines(t: Tensor, namer: Namer, grad: np.ndarray | None, digits: int, gradients: bool) -> list[str]:
    """One tensor as a record (name, value, gradient), and the op that makes it with its edges."""
    tid = f"t{id(t)}"
    name = namer.name(t) if namer.stop(t) or t.name else ("const" if t.op is None else "")
    fields = [f"{name}" if name else t.op.name if t.op else "const", f"value {_summary(t.data, digits, is_data(t))}"]
    if gradients:
        fields.append(f"grad {_summary(grad, digits)}")
    label = "{" + " | ".join(_escape(f) for f in fields) + "}"
    fill = "#e8f1fa" if t.op is None and t.requires_grad else "#ffffff"
    lines = [f'  {tid} [shape=record, style=filled, fillcolor="{fill}", label="{label}"];']
    if t.op is not None:
        lines.append(f'  {tid}_op [shape=ellipse, label="{_escape(t.op.name)}", fontsize=9];')
        lines.append(f"  {tid}_op -> {tid};")
        lines += [f"  t{id(parent)} -> {tid}_op;" for parent in t.parents]
    return lines


def to_dot(root: Tensor, *, digits: int = 2, gradients: bool = True, rankdir: str = "LR") -> str:
    """DOT text for the graph below ``root``: tensors as records, ops as small ellipses.

    Numbers are written as the terminal writes them (``digits`` as in ``--digits``, a true minus
    sign); ``rankdir`` is "LR" (inputs on the left, as micrograd draws) or "TB" (inputs on top).
    """
    if rankdir not in RANKDIRS:
        raise ExplainError(f"rankdir must be LR (left to right) or TB (top to bottom), got {rankdir!r}")
    if not 0 <= int(digits) <= 12:
        raise ExplainError(f"digits must be between 0 and 12, got {digits}")
    order = topological_order(root) if root.requires_grad else [root]
    nodes = _all_nodes(order)
    grads = backprop(root, np.ones_like(root.data), order) if gradients and root.requires_grad else {}
    namer = Namer(order, root)
    lines = ["digraph backproplab {", f"  rankdir={rankdir};", "  ranksep=0.3;", "  nodesep=0.25;",
             '  node [fontname="Helvetica", fontsize=10];']
    for t in nodes:
        lines += _node_lines(t, namer, grads.get(id(t)) if t.requires_grad else None, digits, gradients)
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(dot: str, path: str | Path) -> tuple[Path, str]:
    """Write ``path`` (.dot, .svg, .png or .pdf). Returns the file written and a note ('' if none).

    A name without a suffix gets the DOT text as it is (``-o /dev/stdout`` works). Without
    Graphviz, an image request writes the DOT file beside it instead and says how to get
    Graphviz. Any write failure is one :class:`~backproplab.util.files.WriteError`.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("dot", "gv", ""):
        return files.write_text(path, dot), ""
    if fmt not in ("svg", "png", "pdf"):
        raise ExplainError(f"unknown graph format '.{fmt}' (choose .dot, .svg, .png or .pdf)")
    exe = shutil.which("dot")
    if exe is None:
        return files.write_text(path.with_suffix(".dot"), dot), GET_DOT
    with files.replacing(path, example="graph.svg") as part:  # Graphviz writes a temporary file beside it
        proc = subprocess.run([exe, f"-T{fmt}", "-o", str(part)], input=dot, text=True, capture_output=True,
                              timeout=120)
        if proc.returncode != 0:
            raise files.WriteError(f"Graphviz could not write {path}: {proc.stderr.strip()[:300]}")
    return path, ""
