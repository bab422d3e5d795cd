"""The lowest point of a loss curve, found properly: the lowest point of a grid brackets it,
golden-section search refines it, and a minimum beyond the grid's edge is searched for
outward, so a figure never marks the edge of its range as the minimum."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

INV_PHI = (math.sqrt(5) - 1) / 2
FARTHEST = 1e4  # search no further out than this many span widths (or this far from 0)


@dataclass(frozen=True)
class Minimum:
    """Where the loss is lowest along one parameter.

    ``where`` is "inside" (the span holds it), "outside" (it exists beyond the span) or
    "none" (the loss keeps falling as the parameter moves in ``direction``).
    """

    where: str
    at: float | None = None
    loss: float | None = None
    direction: int = 0
    levels_off: bool = False  # "none" because the loss flattens out toward a value it never reaches

    @property
    def point(self) -> tuple[float, float]:
        """(at, loss) of a minimum found inside or outside the span ("none" has no point)."""
        if self.at is None or self.loss is None:
            raise ValueError(f"a minimum that is {self.where!r} has no point")
        return self.at, self.loss


def _finite(f: Callable[[float], float]) -> Callable[[float], float]:
    def g(v: float) -> float:
        with np.errstate(all="ignore"):  # far out, a loss may overflow: that is an answer (inf), not a warning
            out = f(v)
        return out if math.isfinite(out) else math.inf
    return g


def golden_section(f: Callable[[float], float], a: float, c: float, tol: float = 1e-11) -> float:
    """The minimiser of ``f`` on [a, c], assumed to have one minimum there."""
    b, d = c - INV_PHI * (c - a), a + INV_PHI * (c - a)
    fb, fd = f(b), f(d)
    for _ in range(200):
        if abs(c - a) <= tol * (1 + abs(b)):
            break
        if fb < fd:
            c, d, fd = d, b, fb
            b = c - INV_PHI * (c - a)
            fb = f(b)
        else:
            a, b, fb = b, d, fd
            d = a + INV_PHI * (c - a)
            fd = f(d)
    return (a + c) / 2


def find_minimum(f: Callable[[float], float], grid: np.ndarray, values: np.ndarray | None = None) -> Minimum:
    """The minimum of ``f`` near the sorted ``grid`` (``values`` = f on the grid, if known)."""
    f = _finite(f)
    grid = np.asarray(grid, dtype=float)
    vals = np.array([f(v) for v in grid]) if values is None else np.where(np.isfinite(values), values, np.inf)
    if not np.isfinite(vals).any():
        return Minimum("none")
    i = int(np.argmin(vals))
    lo, hi = grid[0], grid[-1]
    if 0 < i < len(grid) - 1:
        at = golden_section(f, grid[i - 1], grid[i + 1])
    else:
        direction = -1 if i == 0 else 1
        inner = grid[1] if i == 0 else grid[-2]
        step = hi - lo
        prev, prev_loss = grid[i], vals[i]
        while True:
            nxt = prev + direction * step
            if abs(nxt - grid[i]) > FARTHEST * (hi - lo) or abs(nxt) > FARTHEST * max(1.0, abs(grid[i])):
                return Minimum("none", direction=direction)
            nxt_loss = f(nxt)
            if nxt_loss >= prev_loss:
                break
            inner, prev, prev_loss = prev, nxt, nxt_loss
            step *= 2
        at = golden_section(f, min(inner, nxt), max(inner, nxt))
    loss = f(at)
    for direction in (-1, 1):  # a flat tail (the loss levelling off) or a lower region far out: no lowest point
        far = at + direction * max(50 * (hi - lo), 100 * max(1.0, abs(at)))
        far_loss = f(far)
        if far_loss <= loss + 1e-9 * max(1.0, abs(loss)):
            return Minimum("none", direction=direction, levels_off=far_loss >= loss - 1e-9 * max(1.0, abs(loss)))
    tol = 1e-6 * (hi - lo)  # golden-section search resolves a minimum to about sqrt(machine epsilon)
    where = "inside" if lo - tol <= at <= hi + tol else "outside"
    at = float(np.clip(at, lo, hi)) if where == "inside" else at
    return Minimum(where, float(at), float(loss))
