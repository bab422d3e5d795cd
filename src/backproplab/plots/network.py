"""The network as a diagram: units in columns (input, hidden, output), each named and with
its activation and bias; every weight an edge labelled by name and value.

The layout is read from the network itself: an MLP from its layers, any other network
(the dosage network, or one written as formulas in a spec file) from the graph its forward
pass records, so the same network drawn from a preset or from its spec file looks the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from backproplab.engine import ops
from backproplab.engine.tensor import Tensor
from backproplab.nn import MLP, Module, Parameter
from backproplab.plots.base import OKABE_ITO, figure_for, num, root_figure
from backproplab.util.messages import InputError

MOST_UNITS = 5  # a wider layer shows its first units and "… n more"
MOST_LABELLED_EDGES = 16  # more edges than this are drawn without value labels
ACTIVATION_NAMES = (*(name for name in ops.ACTIVATIONS if name != "identity"), "exp")


@dataclass
class Unit:
    name: str
    column: int
    activation: str = "input"
    bias: str | None = None
    bias_value: float | None = None


@dataclass
class Edge:
    source: str
    target: str
    weight: str
    value: float


@dataclass
class Layout:
    """What a network diagram shows: the units by column, the edges, and the units left out."""

    columns: list[list[Unit]]
    edges: list[Edge]
    more: list[int] = field(default_factory=list)  # units not drawn, per column


class NotLayeredError(InputError):
    """A model with no layer structure to draw: a network diagram is for layers of weighted sums."""


def _terms(t: Tensor) -> list[Tensor]:
    if t.op is not None and t.op.name == "add":
        return [term for parent in t.parents for term in _terms(parent)]
    return [t]


def _graph_layout(model: Module) -> Layout:
    """Units, edges and columns from the graph of one forward pass (a probe input of zeros)."""
    inputs = list(getattr(model, "inputs", None) or ["x"])
    probe = Tensor(np.zeros((1, len(inputs))) if len(inputs) > 1 else np.zeros(1), name=inputs[0])
    params = [p for _, p in model.named_parameters()]
    flags = [p.requires_grad for p in params]
    try:  # record the graph, whichever parameters are frozen
        for p in params:
            p.requires_grad = True
        out = model(probe)
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
    outputs = list(out.parents) if out.op is not None and out.op.name == "concat" else [out]
    units: dict[int, Unit] = {}
    edges: list[Edge] = []

    def visit(t: Tensor) -> Unit:
        if id(t) in units:
            return units[id(t)]
        if t.op is None and not isinstance(t, Parameter):
            unit = Unit(t.name or "x", 0)
            units[id(t)] = unit
            return unit
        activation, linear = "linear", t
        if t.op is not None and t.op.name in ACTIVATION_NAMES and len(t.parents) == 1:
            activation, linear = t.op.name, t.parents[0]
        unit = Unit("ŷ" if t.name in ("yhat", None) else t.name, 0, activation)
        column = 0
        for term in _terms(linear):
            if isinstance(term, Parameter) and term.data.size == 1:
                unit.bias, unit.bias_value = term.name, float(term.data.reshape(-1)[0])
                continue
            if term.op is None or term.op.name != "mul" or len(term.parents) != 2:
                raise NotLayeredError(f"{t.name or 'a node'} is not a weighted sum")
            params = [p for p in term.parents if isinstance(p, Parameter) and p.data.size == 1]
            if len(params) != 1:
                raise NotLayeredError(f"{t.name or 'a node'} has a term that is not weight × input")
            weight = params[0]
            source = visit(term.parents[1] if term.parents[0] is weight else term.parents[0])
            column = max(column, source.column + 1)
            edges.append(Edge(source.name, unit.name, weight.name or "w", float(weight.data.reshape(-1)[0])))
        unit.column = column
        units[id(t)] = unit
        return unit

    for o in outputs:
        visit(o)
    last = max(u.column for u in units.values())
    for o in outputs:
        units[id(o)].column = last
    columns = [[u for u in units.values() if u.column == c] for c in range(last + 1)]
    for column in columns:
        column.sort(key=lambda u: u.name)
    return Layout(columns, edges, [0] * len(columns))


def _mlp_layout(model: Any) -> Layout:  # an MLP, or any network that gives layer_weights()
    layers = model.layer_weights()
    sizes = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]  # each W is (out, in)
    acts = [a.op.name for a in getattr(model, "activations", [])] or ["?"] * len(layers)
    shown = [min(n, MOST_UNITS - 1) if n > MOST_UNITS else n for n in sizes]

    def name(c: int, i: int) -> str:
        if c == 0:
            return "x" if sizes[0] == 1 else f"x{i + 1}"
        if c == len(sizes) - 1:
            return "ŷ" if sizes[-1] == 1 else f"ŷ{i + 1}"
        return f"a{c}[{i + 1}]"

    columns = [[Unit(name(0, i), 0) for i in range(shown[0])]]
    edges = []
    for c, (w, b) in enumerate(layers, start=1):
        act = "linear" if acts[c - 1] == "identity" else acts[c - 1]
        columns.append([Unit(name(c, j), c, act, None if b is None else f"b{c}[{j + 1}]",
                             None if b is None else float(b[j])) for j in range(shown[c])])
        for i in range(shown[c - 1]):
            for j in range(shown[c]):
                edges.append(Edge(name(c - 1, i), name(c, j), f"W{c}[{j + 1},{i + 1}]", float(w[j, i])))
    return Layout(columns, edges, [n - s for n, s in zip(sizes, shown)])


def network_layout(model: Module) -> Layout:
    """The diagram's data: which units, in which column, joined by which weights."""
    if isinstance(model, MLP) or _plain_layers(model):
        return _mlp_layout(model)
    try:
        return _graph_layout(model)
    except (NotLayeredError, ValueError, TypeError, AttributeError, IndexError, NotImplementedError) as exc:
        raise NotLayeredError(f"{type(model).__name__} has no layer structure to draw ({exc}); network diagrams are "
                              "for MLP-style networks and formula networks of weighted sums") from None


def _plain_layers(model: Module) -> bool:
    """A network that gives its layers as matrices but is not built from named scalar nodes."""
    if not hasattr(model, "layer_weights"):
        return False
    return not all(p.data.size == 1 for _, p in model.named_parameters())


def where_column(layout: Layout, name: str) -> int:
    return next(c for c, column in enumerate(layout.columns) if any(u.name == name for u in column))


def column_title(c: int, n: int) -> str:
    if c == 0:
        return "input"
    if c == n - 1:
        return "output"
    return "hidden" if n == 3 else f"hidden {c}"


@dataclass
class _Grid:
    """Where a diagram's units sit: the gaps between columns and rows, and each unit's centre."""

    gap_x: float
    gap_y: float
    radius: float
    where: dict[str, tuple[float, float]]


def _grid(layout: Layout) -> tuple[_Grid, tuple[float, float]]:
    """The units' centres, and the figure size that keeps the drawing's own proportions."""
    n_cols = len(layout.columns)
    tallest = max(len(c) + (1 if m else 0) for c, m in zip(layout.columns, layout.more))
    between = max([sum(1 for e in layout.edges if where_column(layout, e.target) == c) for c in range(1, n_cols)]
                  + [0])
    gap_x, gap_y, radius = 3.0 + 0.35 * max(0, between - 4), 1.6, 0.38  # room for the labels of many edges
    width = (n_cols - 1) * gap_x + 2.4
    height = (tallest - 1) * gap_y + 2 * radius + 2.2
    where: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(layout.columns):
        count = len(column) + (1 if layout.more[c] else 0)
        for i, unit in enumerate(column):
            where[unit.name] = (c * gap_x, ((count - 1) / 2 - i) * gap_y)
    return _Grid(gap_x, gap_y, radius, where), (0.75 * width + 0.4, 0.75 * height + 0.8)


def _draw_edges(ax: Axes, layout: Layout, where: dict[str, tuple[float, float]]) -> None:
    """Every weight as a line: width by size, blue positive, vermillion negative."""
    biggest = max([abs(e.value) for e in layout.edges] + [1e-12])
    for edge in layout.edges:
        (x0, y0), (x1, y1) = where[edge.source], where[edge.target]
        color = OKABE_ITO["blue"] if edge.value >= 0 else OKABE_ITO["vermillion"]
        ax.plot([x0, x1], [y0, y1], color=color, lw=0.6 + 3.5 * abs(edge.value) / biggest, alpha=0.8, gid="edge",
                zorder=1)


def _draw_units(ax: Axes, layout: Layout, grid: _Grid, labelled: bool) -> list[Circle]:
    """Each unit as a named circle with its activation (and bias) under it; "… n more" for units left out."""
    circles = []
    radius = grid.radius
    for c, column in enumerate(layout.columns):
        for unit in column:
            cx, cy = grid.where[unit.name]
            circle = Circle((cx, cy), radius, facecolor="white", edgecolor="black", lw=1.2, zorder=2, gid="neuron")
            ax.add_patch(circle)
            circles.append(circle)
            ax.text(cx, cy, unit.name, ha="center", va="center", fontsize=10, zorder=3, gid="node-name")
            if c > 0:
                lines = [unit.activation]
                if unit.bias is not None and unit.bias_value is not None and labelled:
                    lines.append(f"{unit.bias} = {num(unit.bias_value)}")
                ax.text(cx, cy - radius - 0.08, "\n".join(lines), ha="center", va="top", fontsize=7.5, zorder=3,
                        gid="node-note")
        if layout.more[c]:
            count = len(column) + 1
            ax.text(c * grid.gap_x, ((count - 1) / 2 - len(column)) * grid.gap_y, f"… {layout.more[c]} more",
                    ha="center", va="center", fontsize=9, style="italic", gid="more")
    return circles


def network_diagram(model: Module, *, ax: Axes | None = None, values: bool | None = None,
                    when: str = "current values") -> Figure:
    """Units as circles, weights as edges (width by size, blue positive, vermillion negative).

    ``when`` says whose values are shown, such as "starting values (iteration 1)".
    """
    layout = network_layout(model)
    n_cols = len(layout.columns)
    grid, size = _grid(layout)
    fig, ax = figure_for(ax, size)
    labelled = values if values is not None else len(layout.edges) <= MOST_LABELLED_EDGES
    _draw_edges(ax, layout, grid.where)
    circles = _draw_units(ax, layout, grid, labelled)
    top = max(y for _, y in grid.where.values()) + grid.radius + 0.7
    for c in range(n_cols):
        ax.text(c * grid.gap_x, top, column_title(c, n_cols), ha="center", va="bottom", fontsize=10, weight="bold",
                gid="column-title")
    bottom = min(y for _, y in grid.where.values()) - grid.radius - 0.9
    ax.set_xlim(-1.2, (n_cols - 1) * grid.gap_x + 1.2)
    ax.set_ylim(bottom, top + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Network at its {when}\nedge width = |weight|, blue positive, vermillion negative"
                 + ("" if labelled or not layout.edges else "; too many weights to label"), fontsize=9)
    if labelled:
        _label_edges(ax, layout, grid.where, circles)
    return fig


def _label_edges(ax: Axes, layout: Layout, where: dict[str, tuple[float, float]], circles: list[Circle]) -> None:
    """Each weight's name and value on its edge, where it touches no circle, note or other label."""
    root_figure(ax).draw_without_rendering()
    taken = [c.get_window_extent().expanded(1.05, 1.05) for c in circles]
    taken += [t.get_window_extent() for t in ax.texts if t.get_gid() in ("node-note", "column-title", "more")]
    spots = (0.5, 0.38, 0.62, 0.3, 0.7, 0.25, 0.75, 0.44, 0.56, 0.2, 0.8, 0.33, 0.67)
    for edge in layout.edges:
        (x0, y0), (x1, y1) = where[edge.source], where[edge.target]
        wide, narrow = f"{edge.weight} = {num(edge.value)}", f"{edge.weight}\n{num(edge.value)}"
        tries = [(wide, 7.5, t) for t in spots] + [(narrow, 7, t) for t in spots] + [(narrow, 6, t) for t in spots]
        for text, size, t in tries:  # one line where there is room, else two lines, else smaller
            label = ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0), text, ha="center", va="center", fontsize=size,
                            zorder=4, gid="edge-label", bbox={"fc": "white", "ec": "none", "pad": 0.8},
                            linespacing=1.0)
            box = label.get_window_extent().padded(2)
            if not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()
        else:
            label = ax.text(x0 + 0.5 * (x1 - x0), y0 + 0.5 * (y1 - y0), narrow, ha="center", va="center",
                            fontsize=6, zorder=4, gid="edge-label", bbox={"fc": "white", "ec": "none", "pad": 0.5})
            taken.append(label.get_window_extent())


def layout_data(layout: Layout) -> dict[str, Any]:
    """Plain data, for comparing two diagrams."""
    return {"columns": [[(u.name, u.activation, u.bias, u.bias_value) for u in c] for c in layout.columns],
            "edges": sorted((e.source, e.target, e.weight, e.value) for e in layout.edges), "more": layout.more}
