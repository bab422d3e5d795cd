"""Labels that never overlap each other or a marker: each is tried at a few offsets and
left out when none is free, so a long run's labels thin themselves out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from backproplab.plots.base import root_figure

OFFSETS = ((6, 8), (6, -16), (-8, 10), (-8, -16), (10, 0), (-12, 0), (8, 24), (-10, 24), (14, 38), (-14, 38))


def marker_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float], size_pt: float) -> list[Bbox]:
    """The display-space boxes of markers of ``size_pt`` points drawn at (xs, ys)."""
    half = size_pt * ax.figure.dpi / 72 / 2 + 1
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    return [Bbox.from_extents(px - half, py - half, px + half, py + half)
            for px, py in pts if np.isfinite([px, py]).all()]


def segments(ax: Axes, line: Line2D) -> np.ndarray:
    """A line's straight pieces in display coordinates, as an (n, 2, 2) array of (start, end)."""
    pts = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
    pieces = np.stack([pts[:-1], pts[1:]], axis=1) if len(pts) > 1 else np.zeros((0, 2, 2))
    return pieces[np.isfinite(pieces).all(axis=(1, 2))]


def crossed(box: Bbox, pieces: np.ndarray) -> bool:
    """Whether any straight piece passes through the box (Liang–Barsky clipping, all pieces at once)."""
    if not len(pieces):
        return False
    start, d = pieces[:, 0], pieces[:, 1] - pieces[:, 0]
    enter, leave = np.zeros(len(pieces)), np.ones(len(pieces))
    ok = np.ones(len(pieces), dtype=bool)
    for p, q in ((-d[:, 0], start[:, 0] - box.x0), (d[:, 0], box.x1 - start[:, 0]),
                 (-d[:, 1], start[:, 1] - box.y0), (d[:, 1], box.y1 - start[:, 1])):
        flat = p == 0
        ok &= ~(flat & (q < 0))  # parallel to this edge and outside it
        r = np.divide(q, p, out=np.zeros_like(q), where=~flat)
        enter = np.where(~flat & (p < 0), np.maximum(enter, r), enter)
        leave = np.where(~flat & (p > 0), np.minimum(leave, r), leave)
    return bool(np.any(ok & (enter <= leave)))


@dataclass
class _Room:
    """What a new label must keep clear of, in display coordinates."""

    axes: Bbox
    lines: np.ndarray  # the straight pieces of the lines no label may cross
    taken: list[Bbox]  # markers, the legend and the labels placed so far
    labels: list[Bbox] = field(default_factory=list)  # placed label boxes, which leader lines must not cross
    leaders: list[Bbox] = field(default_factory=list)  # boxes along placed leader lines, which labels must not cover

    def fits(self, box: Bbox, leader: list[Bbox]) -> bool:
        """Whether a label's box (and its leader line) lies inside the axes and clear of everything placed."""
        axes = self.axes
        inside = axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 and box.y1 <= axes.y1
        free = inside and not crossed(box, self.lines) and not any(box.overlaps(o) for o in self.taken + self.leaders)
        clear = not any(crossed(a, self.lines) or any(a.overlaps(b) for b in self.labels) for a in leader)
        return free and clear

    def take(self, box: Bbox, leader: list[Bbox]) -> None:
        self.taken.append(box)
        self.labels.append(box)
        self.leaders += leader


def place(ax: Axes, items: Sequence[tuple[str, float, float]], markers: Sequence[tuple[Sequence, Sequence, float]],
          *, most: int, color: str, fontsize: float = 8, gid: str = "step-label", avoid: Sequence = ()) -> list:
    """Annotate each (text, x, y) where it overlaps no marker, legend, label placed so far or line in ``avoid``.

    ``markers`` are (xs, ys, size in points); ``avoid`` are lines (the curve, the tangent, the
    descent path) that no label may cross; at most ``most`` labels are placed.
    """
    root_figure(ax).draw_without_rendering()  # lay the figure out so the boxes are where they will be drawn
    taken = [box for xs, ys, size in markers for box in marker_boxes(ax, xs, ys, size)]
    lines = np.concatenate([segments(ax, line) for line in avoid]) if len(avoid) else np.zeros((0, 2, 2))
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent())
    taken += [t.get_window_extent().padded(3) for t in ax.texts if t.get_gid() == gid]  # placed by an earlier call
    room = _Room(ax.get_window_extent(), lines, taken)
    style = {"textcoords": "offset points", "fontsize": fontsize, "color": color, "gid": gid, "annotation_clip": True}
    placed: list = []
    for text, x, y in items:
        if len(placed) >= most:
            break
        note = _place_one(ax, room, text, x, y, style)
        if note is not None:
            placed.append(note)
    return placed


def _place_one(ax: Axes, room: _Room, text: str, x: float, y: float, style: dict) -> Annotation | None:
    """The label at the first offset where it fits (with a leader line when far from its point), else None."""
    for dx, dy in OFFSETS:
        options = {**style, "xytext": (dx, dy), "ha": "left" if dx >= 0 else "right"}
        note = ax.annotate(text, (x, y), **options)
        note.set_in_layout(False)
        box = note.get_window_extent().padded(3)
        leader = _leader(ax, box, x, y) if dy > 12 else []
        if room.fits(box, leader):
            room.take(box, leader)
            if dy > 12:  # far from its point: a thin leader line shows which point it names
                note.remove()
                note = ax.annotate(text, (x, y), **options, arrowprops={
                    "arrowstyle": "-", "color": style["color"], "lw": 0.6, "shrinkA": 1, "shrinkB": 4})
                note.set_in_layout(False)
            return note
        note.remove()
    return None


def _leader(ax: Axes, box: Bbox, x: float, y: float) -> list[Bbox]:
    """Small boxes along the line from a label's box to its point (the last few pixels left out)."""
    px, py = ax.transData.transform((x, y))
    sx, sy = min(max(px, box.x0), box.x1), box.y0
    return [Bbox.from_extents(sx + t * (px - sx) - 1, sy + t * (py - sy) - 1, sx + t * (px - sx) + 1,
                              sy + t * (py - sy) + 1) for t in np.linspace(0.05, 0.8, 16)]
