"""A contour map of the loss over two parameters, with the descent path drawn on it.

The map is a slice: every other parameter is held at its value at one iteration, and the
figure says which. Where other parameters move during the run, the true loss along the path
is drawn in the map's own colours, so a reader can see it differ from the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke

from backproplab.nn import Module

# alike on purpose: the figures share plots.base's helpers, so their import lists look alike
from backproplab.plots.base import (
    LOSS_LABELS,
    OKABE_ITO,
    FigureError,
    figure_for,
    held_note,
    loss_at,
    position,
    scalar_path,
    short_loss,
    state,
    state_name,
    states,
    subsample,
    values_set,
)
from backproplab.train.trace import Trace


def training_note(a: str, b: str, trace: Trace | None) -> str:
    """What a run that did not train the map's parameters means for the path drawn."""
    if trace is None or not trace.iterations:
        return ""
    trained = [n for n in (a, b) if n in trace.optimize]
    others = ", ".join(trace.optimize)
    if not trained:
        return f"{a} and {b} are not trained in this run (only {others}): the path is a single point"
    if len(trained) == 1:
        still = b if trained == [a] else a
        return f"{still} is not trained in this run: the path moves along {trained[0]} only"
    return ""


def _scalar_pair(model: Module, params: Sequence[str]) -> tuple[str, str]:
    if len(params) != 2:
        raise FigureError(f"a contour map needs exactly two parameters, got {list(params)}")
    for name in params:
        if model.parameter(name).data.size != 1:
            raise FigureError(f"{name} is not a single number; contour maps take scalar parameters")
    return params[0], params[1]


def _slice_at(trace: Trace | None, iteration: int | None) -> int:
    """The iteration the map is taken through: as asked, else the end of the run, or the start of one that
    diverged (a diverged run's end is no place to look)."""
    if trace is None or not trace.iterations:
        return 1
    if iteration is not None:
        return iteration
    diverged = trace.final is not None and trace.final.stopped_by == "diverged"
    return 1 if diverged else states(trace)


def _path(model: Module, trace: Trace | None, name: str) -> np.ndarray:
    """The parameter's value at each recorded iteration (its current value alone without a run)."""
    if trace is not None and trace.iterations:
        return scalar_path(trace, name)
    return np.array([model.parameter(name).item()])


def _draw_path(ax: Axes, trace: Trace | None, paths: tuple[np.ndarray, np.ndarray], keep: list[int], k: int,
               moving: list[str], norm: Normalize) -> None:
    """The descent path; when other parameters move too, the true loss along it and where the slice is taken."""
    path_a, path_b = paths
    ax.plot(path_a[keep], path_b[keep], color=OKABE_ITO["orange"], marker="o", ms=3, lw=1.5,
            label="gradient-descent path", gid="descent-path")
    if moving and trace is not None:  # other parameters move only in a run
        true = np.array(trace.losses(), dtype=float)[keep]
        ax.scatter(path_a[keep], path_b[keep], c=true, cmap="viridis", norm=norm, s=40, edgecolors="white",
                   linewidths=1.2, zorder=3, gid="path-loss",
                   label="true loss along the path (its colour; other parameters move too)")
        at = position(trace, k)
        ax.plot(path_a[at], path_b[at], marker="D", ms=9, color="white", mec="black", ls="none",
                label=f"{state_name(trace, k)}: where this slice is taken", gid="slice-point", zorder=4)
    # the end and the start above the path, its dots and the slice's point; the start is an open square,
    # so an end that lands near it still shows inside it
    last = keep[-1] if keep else 0
    ax.plot(path_a[last], path_b[last], marker="*", ms=14, color=OKABE_ITO["orange"], mec="black", ls="none",
            label="end", gid="end", zorder=5)
    ax.plot(path_a[0], path_b[0], marker="s", ms=15, mfc="none", mec="black", mew=1.5, ls="none", label="start",
            gid="start", zorder=6, path_effects=[withStroke(linewidth=4, foreground="white")])


def loss_contour(model: Module, x: Any, y: Any, params: Sequence[str], *, loss: str = "ssr",
                 trace: Trace | None = None, points: int = 60, ax: Axes | None = None,
                 iteration: int | None = None) -> Figure:
    """The loss over two parameters through ``iteration`` (1-based; default: the end of the run, or the
    start of one that diverged)."""
    a, b = _scalar_pair(model, params)
    run = trace if trace is not None and trace.iterations else None
    k = _slice_at(trace, iteration)
    base = dict(state(run, k)) if run is not None else {n: p.data.copy() for n, p in model.named_parameters()}
    path_a, path_b = _path(model, trace, a), _path(model, trace, b)
    ok = np.isfinite(path_a) & np.isfinite(path_b)
    spans = []
    for path in (path_a[ok], path_b[ok]):
        lo, hi = path.min(), path.max()
        margin = max(0.4 * (hi - lo), 1.0)
        spans.append(np.linspace(lo - margin, hi + margin, points))
    ga, gb = np.meshgrid(*spans)
    with values_set(model, base):
        z = np.array([[loss_at(model, x, y, loss, **{a: va, b: vb}) for va, vb in zip(ra, rb)]
                      for ra, rb in zip(ga, gb)])
    fig, ax = figure_for(ax, (6.4, 5.6))
    finite = z[np.isfinite(z)]
    norm = Normalize(vmin=float(finite.min()), vmax=float(finite.max()))
    filled = ax.contourf(ga, gb, z, levels=30, cmap="viridis", norm=norm)
    ax.contour(ga, gb, z, levels=12, colors="white", linewidths=0.5, alpha=0.6)
    fig.colorbar(filled, ax=ax, label=LOSS_LABELS.get(loss, loss))
    keep = [i for i in subsample(len(path_a)) if ok[i]]
    moving = [n for n in (run.optimize if run is not None else []) if n not in (a, b)]
    _draw_path(ax, trace, (path_a, path_b), keep, k, moving, norm)
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    notes = [n for n in (training_note(a, b, trace), held_note(model, [a, b], run, k, 64))
             if n]
    ax.set_title("\n".join([f"{short_loss(loss)} over {a} and {b}", *notes]), fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return fig
