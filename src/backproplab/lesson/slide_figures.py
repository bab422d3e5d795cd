"""The slides' two figures as SVG, drawn for a slide's large type: the network and the pink loss curve.

Both are drawn from the data the lesson page draws from (the document's network, the page's loss
curve), at a size where their labels read from the back of a room; the PDF and the HTML deck use the
same SVG.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

import numpy as np

from backproplab import plots

WIDTH, HEIGHT = 760, 270  # the network's drawing, in its own units: a slide's width, 1 unit about 1 pt
RADIUS = 30
LABEL = 28  # the labels' size in the drawing's units: 28 pt in the PDF, over 40 px in the HTML deck at 1280×720
MOST_LABELLED = 10  # edges labelled with their values; past it the lines say it all
INK, MUTED = "#1b1f24", "#57606a"


def _places(nodes: list[dict[str, Any]]) -> tuple[dict[str, tuple[float, float]], float]:
    """Each node's centre (a column per layer, its nodes spread down it) and the nodes' radius: smaller
    where a layer has many nodes, so that they do not overlap."""
    layers: dict[int, list[str]] = {}
    for node in nodes:
        layers.setdefault(int(node["layer"]), []).append(node["name"])
    n = len(layers)
    most = max(len(names) for names in layers.values())
    top, bottom = (80, HEIGHT - 80) if most <= 3 else (24, HEIGHT - 24)
    radius = min(RADIUS, 0.42 * (bottom - top) / max(1, most - 1))
    out = {}
    for c, layer in enumerate(sorted(layers)):
        names = layers[layer]
        x = 70 + c * (WIDTH - 140) / max(1, n - 1)
        for r, name in enumerate(names):
            out[name] = (x, (top + bottom) / 2 if len(names) == 1 else top + r * (bottom - top) / (len(names) - 1))
    return out, radius


def _text(x: float, y: float, text: str, hot: bool = False) -> str:
    """A label on a white halo, so that a line under it does not cut through it; the trained one bold and pink."""
    look = f' font-weight="bold" fill="{plots.PINK}"' if hot else f' fill="{INK}"'
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{look} stroke="#ffffff" stroke-width="7" '
            f'stroke-linejoin="round" paint-order="stroke">{escape(text)}</text>')


def _label(name: str, values: dict[str, str]) -> str:
    return f"{name} = {values[name]}" if name in values else name


def network_svg(network: dict[str, Any], values: dict[str, str], trained: list[str]) -> str:
    """The network's nodes and edges, each edge and bias with its value; the trained ones in bold pink.
    A label sits on the side of its line or node away from the drawing's middle, where there is room."""
    where, radius = _places(network["nodes"])
    middle = HEIGHT / 2
    labelled = len(network["edges"]) <= MOST_LABELLED
    shapes, labels = [], []
    for e in network["edges"]:
        (x1, y1), (x2, y2) = where[e["from"]], where[e["to"]]
        shapes.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{MUTED}" '
                      'stroke-width="2.5"/>')
        if labelled and e.get("param") and e.get("index") is None:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            labels.append(_text(mx, my - 18 if my < middle else my + 36, _label(e["param"], values),
                                e["param"] in trained))
    for node in network["nodes"]:
        x, y = where[node["name"]]
        shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="#ffffff" stroke="{INK}" '
                      'stroke-width="2.5"/>')
        if radius >= RADIUS:  # a small node is a dot: its name would not fit in it
            labels.append(f'<text x="{x:.1f}" y="{y + 8:.1f}" text-anchor="middle" fill="{INK}">'
                          f'{escape(node["label"])}</text>')
        for b in node.get("biases", []) if labelled else []:
            if b.get("index") is None:
                below = y >= middle - 1
                labels.append(_text(x, y + radius + 30 if below else y - radius - 12, "+ " + _label(b["param"], values),
                                    b["param"] in trained))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" font-family="Libertinus Serif, Georgia, serif" font-size="{LABEL}">'
            + "".join(shapes) + "".join(labels) + "</svg>")


def curve_svg(data: dict[str, Any], param: str, loss: str, points: list[tuple[int, float | None]]) -> str:
    """The page's loss curve (pink), its lowest point, and where each asked iteration stands on it."""
    from matplotlib import rc_context  # matplotlib, as plots loads it

    grid = [float("nan") if v is None else float(v) for v in data["grid"]]
    values = [float("nan") if v is None else float(v) for v in data["loss"]]
    with rc_context({"font.size": 20, "svg.hashsalt": "backproplab-slides", "svg.fonttype": "path"}):
        fig = plots.base.new_figure((6.6, 4.6))
        ax = fig.add_subplot()
        ax.plot(grid, values, color=plots.PINK, lw=4, label=f"{loss} as {param} varies")
        low = data.get("minimum") or {}
        if low.get("where") == "inside":
            ax.plot([low["at"]], [low["loss"]], "o", ms=12, color=plots.PINK, mfc="white", mew=3,
                    label=f"lowest at {param} = {plots.base.num(low['at'])}")
        for j, v in points:
            if v is None:
                continue
            y = _at(grid, values, v)
            ax.plot([v], [y], "o", ms=10, color=plots.OKABE_ITO["blue"])
            ax.annotate(str(j), (v, y), textcoords="offset points", xytext=(0, 12), ha="center",
                        color=plots.OKABE_ITO["blue"], fontsize=18)
        ax.set_xlabel(param)
        ax.set_ylabel(loss)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False, fontsize=17, loc="upper right")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _at(grid: list[float], values: list[float], v: float) -> float:
    """The curve's height at ``v``, between its grid points."""
    return float(np.interp(v, grid, values))
