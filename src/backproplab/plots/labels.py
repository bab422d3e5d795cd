"""Labels that never overlap each other or a marker: each is tried at a few offsets and
left out when none is free, so a long run's labels thin themselves out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import Bbox

OFFSETS = ((6, 8), (6, -16), (-8, 10), (-8, -16), (10, 0), (-12, 0), (8, 24), (-10, 24), (14, 38), (-14, 38))


def marker_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float], size_pt: float) -> list[Bbox]:
    """The display-space boxes of markers of ``size_pt`` points drawn at (xs, ys)."""
    half = size_pt * ax.figure.dpi / 72 / 2 + 1
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    return [Bbox.from_extents(px - half, py - half, px + half, py + half)
            for px, py in pts if np.isfinite([px, py]).all()]


def place(ax: Axes, items: Sequence[tuple[str, float, float]], markers: Sequence[tuple[Sequence, Sequence, float]],
          *, most: int, color: str, fontsize: float = 8, gid: str = "step-label", avoid: Sequence = ()) -> list:
    """Annotate each (text, x, y) where it overlaps no marker, legend or label placed so far.

    ``markers`` are (xs, ys, size in points); ``avoid`` are lines whose points labels also
    keep clear of; at most ``most`` labels are placed.
    """
    ax.figure.draw_without_rendering()  # lay the figure out so the boxes are where they will be drawn
    axes_box = ax.get_window_extent()
    placed: list = []
    taken = [box for xs, ys, size in markers for box in marker_boxes(ax, xs, ys, size)]
    for line in avoid:
        taken += marker_boxes(ax, line.get_xdata(), line.get_ydata(), line.get_linewidth())
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent())
    labels: list[Bbox] = []  # placed label boxes, which leader lines must not cross
    leaders: list[Bbox] = []  # small boxes along placed leader lines, which labels must not cover
    for text, x, y in items:
        if len(placed) >= most:
            break
        for dx, dy in OFFSETS:
            ha = "left" if dx >= 0 else "right"
            options = {"textcoords": "offset points", "xytext": (dx, dy), "fontsize": fontsize, "color": color,
                       "ha": ha, "gid": gid, "annotation_clip": True}
            note = ax.annotate(text, (x, y), **options)
            note.set_in_layout(False)
            box = note.get_window_extent().padded(3)
            inside = axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1
            leader = _leader(ax, box, x, y) if dy > 12 else []
            if (inside and not any(box.overlaps(other) for other in taken + leaders)
                    and not any(a.overlaps(b) for a in leader for b in labels)):
                taken.append(box)
                labels.append(box)
                leaders += leader
                if dy > 12:  # far from its point: a thin leader line shows which point it names
                    note.remove()
                    note = ax.annotate(text, (x, y), **options, arrowprops={
                        "arrowstyle": "-", "color": color, "lw": 0.6, "shrinkA": 1, "shrinkB": 4})
                    note.set_in_layout(False)
                placed.append(note)
                break
            note.remove()
    return placed


def _leader(ax: Axes, box: Bbox, x: float, y: float) -> list[Bbox]:
    """Small boxes along the line from a label's box to its point (the last few pixels left out)."""
    px, py = ax.transData.transform((x, y))
    sx, sy = min(max(px, box.x0), box.x1), box.y0
    return [Bbox.from_extents(sx + t * (px - sx) - 1, sy + t * (py - sy) - 1, sx + t * (px - sx) + 1,
                              sy + t * (py - sy) + 1) for t in np.linspace(0.05, 0.8, 16)]
