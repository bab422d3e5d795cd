"""The loss against one parameter (the worked example's pink curve) and the loss per iteration.

A loss curve is a slice: every other parameter is held at its value at the iteration shown,
and the figure says so. Points drawn on the curve lie on it; where other parameters move
during the run, the loss along the run is its own, labelled series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.plots.base import (
    LOSS_LABELS,
    OKABE_ITO,
    PINK,
    FigureError,
    figure_for,
    held_note,
    loss_at,
    num,
    numbers,
    position,
    scalar_path,
    short_loss,
    state,
    state_name,
    subsample,
    values_set,
)
from backproplab.plots.labels import place
from backproplab.plots.minimum import Minimum, find_minimum
from backproplab.train.trace import Trace, scalar, single


def slope_at(model: Module, x: Any, y: Any, loss: str, param: str, value: float,
             base: dict[str, Any] | None = None) -> float:
    """d loss / d param at ``value`` (the other parameters as in ``base``): the tangent's slope."""
    with values_set(model, {**(base or {}), param: value}):
        p = model.parameter(param)
        flag, p.grad, p.requires_grad = p.requires_grad, None, True
        try:
            get_loss(loss)(model(Tensor(x, name="x")), y).backward()
            return single(p._grad)
        finally:
            p.requires_grad, p.grad = flag, None


def default_span(path: np.ndarray, minimum: Minimum | None) -> tuple[float, float]:
    """A range around the descent path and the minimum (when there is one), with a margin."""
    finite = path[np.isfinite(path)]
    lo, hi = float(finite.min()), float(finite.max())
    if minimum is not None and minimum.at is not None:
        lo, hi = min(lo, minimum.at), max(hi, minimum.at)
    margin = max(0.5 * (hi - lo), 1.0)
    return lo - margin, hi + margin


def minimum_label(param: str, m: Minimum, loss: str, of_slice: bool) -> str:
    what = "lowest point of this slice" if of_slice else "lowest point"
    if m.where == "inside":
        return f"{what}: {param} ≈ {num(m.point[0], 3)} ({short_loss(loss)} = {num(m.point[1], 3)})"
    if m.where == "outside":
        return f"{what} lies outside this range, at {param} ≈ {num(m.point[0], 3)}"
    if m.direction:
        way = "grows" if m.direction > 0 else "falls"
        if m.levels_off:
            return f"no lowest point: the loss levels off, falling ever more slowly, as {param} {way}"
        return f"no lowest point: the loss keeps falling as {param} {way}"
    return "no lowest point: the loss is not finite here"


def untrained_note(param: str) -> str:
    """Why a loss curve of ``param`` has no numbered steps: the run does not train it."""
    return f"no steps: {param} is not trained in this run"


@dataclass
class _Slice:
    """One loss curve's slice: the parameter drawn, the values the others are held at, and the run's path."""

    model: Module
    x: Any
    y: Any
    loss: str
    param: str
    trace: Trace | None
    iteration: int
    has_run: bool
    base: dict[str, Any]
    path: np.ndarray
    shown: float  # the parameter's value at ``iteration``: where the tangent touches

    @property
    def moving(self) -> list[str]:
        """The other parameters the run trains: they move off this slice."""
        return [n for n in (self.run.optimize if self.has_run else []) if n != self.param]

    @property
    def trained(self) -> bool:
        return self.has_run and self.param in self.run.optimize

    @property
    def when(self) -> str:
        return state_name(self.run, self.iteration) if self.has_run else "the current values"

    @property
    def run(self) -> Trace:
        """The trace, for a slice of a run that has iterations (``has_run``)."""
        if self.trace is None or not self.has_run:
            raise FigureError("this loss curve is not of a run; train first (fit) to draw the steps")
        return self.trace

    def at(self, v: float) -> float:
        """The loss with the parameter at ``v`` and the others held at the slice's values."""
        # an overflowing loss is drawn as off the chart
        with values_set(self.model, self.base), np.errstate(all="ignore"):
            return loss_at(self.model, self.x, self.y, self.loss, **{self.param: v})


def _slice(model: Module, x: Any, y: Any, loss: str, param: str, trace: Trace | None, iteration: int) -> _Slice:
    p = model.parameter(param)
    if p.data.size != 1:
        raise FigureError(f"{param} is not a single number; choose a scalar parameter for a loss curve")
    run = trace if trace is not None and trace.iterations else None
    base = dict(state(run, iteration)) if run is not None else {n: q.data.copy() for n, q in model.named_parameters()}
    path = scalar_path(run, param) if run is not None else np.array([scalar(p.data)])
    shown = float(path[position(run, iteration)]) if run is not None else float(path[0])
    return _Slice(model, x, y, loss, param, trace, iteration, run is not None, base, path, shown)


def _span(s: _Slice, span: tuple[float, float] | None) -> tuple[float, float]:
    """The range asked for, else one around the path and the slice's lowest point."""
    if span is None:
        rough = default_span(s.path, None)
        span = default_span(s.path, find_minimum(s.at, np.linspace(*rough, 41)))
    lo, hi = float(span[0]), float(span[1])
    if not lo < hi:
        raise FigureError(f"the span must go from low to high, got {lo:g}, {hi:g}")
    return lo, hi


def _curve(s: _Slice, lo: float, hi: float, points: int) -> tuple[np.ndarray, np.ndarray, Minimum]:
    """The curve through the path's points, the shown value and its lowest point, so each lies on it."""
    path, shown = s.path, s.shown
    extra = path[np.isfinite(path) & (path >= lo) & (path <= hi)]
    grid = np.unique(np.concatenate([np.linspace(lo, hi, points), extra, [shown] if lo <= shown <= hi else []]))
    curve = np.array([s.at(v) for v in grid])
    minimum = find_minimum(s.at, grid, curve)
    if minimum.where == "inside":
        low, low_loss = minimum.point
        at = np.searchsorted(grid, low)
        grid, curve = np.insert(grid, at, low), np.insert(curve, at, low_loss)
    return grid, curve, minimum


Markers = list[tuple[Any, Any, float]]  # (xs, ys, size in points) of the markers step labels must not cover


def _draw_minimum(ax: Axes, s: _Slice, minimum: Minimum, markers: Markers) -> None:
    label = minimum_label(s.param, minimum, s.loss, of_slice=bool(s.moving))
    if minimum.where == "inside":
        ax.plot(*minimum.point, marker="*", ms=14, color=OKABE_ITO["black"], ls="none", label=label,
                gid="minimum")
        markers.append(([minimum.at], [minimum.loss], 14))
    else:
        ax.plot([], [], ls="none", label=label, gid="minimum-note")


def _draw_tangent(ax: Axes, s: _Slice, width: float) -> None:
    """The tangent at the shown value; its slope is the gradient."""
    shown = s.shown
    slope = slope_at(s.model, s.x, s.y, s.loss, s.param, shown, s.base)
    half = 0.12 * width
    ts = np.array([shown - half, shown + half])
    ax.plot(ts, s.at(shown) + slope * (ts - shown), color=OKABE_ITO["blue"], lw=1.5, ls="--",
            label=f"tangent at {s.when}, {s.param} = {num(shown)} (slope = gradient = {num(slope)})", gid="tangent")


def _draw_steps(ax: Axes, s: _Slice, markers: Markers) -> list[tuple[str, float, float]]:
    """The run's steps along the curve (or the loss along the run, when other parameters move too);
    returns each step's label and where it goes."""
    trace, path, moving = s.run, s.path, s.moving
    losses = np.array(trace.losses(), dtype=float)
    keep = [k for k in subsample(len(path)) if np.isfinite(path[k]) and np.isfinite(losses[k])]
    if moving:
        ax.plot(path[keep], losses[keep], color=OKABE_ITO["vermillion"], marker="o", ms=5, lw=1, ls=":",
                mfc="white", label=f"loss along the run ({', '.join(moving[:3])}{' …' if len(moving) > 3 else ''}"
                " moving too: off this slice)", gid="path-loss")
        ax.plot(s.shown, s.at(s.shown), "o", color=OKABE_ITO["vermillion"], ms=7, label=f"{s.when} (on this slice)",
                gid="shown-point")
        markers.append(([s.shown], [s.at(s.shown)], 7))
    else:
        diverged = trace.final is not None and trace.final.stopped_by == "diverged"
        ax.plot(path[keep], losses[keep], color=OKABE_ITO["vermillion"], marker="o", ms=5, lw=1,
                label="gradient-descent steps (n: step size at iteration n)"
                + ("; the run diverged: each step overshoots further" if diverged else ""), gid="descent-path")
    markers.append((path[keep], losses[keep], 5))
    nums = numbers(trace)
    return [(f"{nums[k]}: step {num(single(trace.iterations[k].step_sizes[s.param]))}", path[k], losses[k])
            for k in keep if k < len(trace.iterations) and s.param in trace.iterations[k].step_sizes]


def _name_axes(ax: Axes, s: _Slice, curve: np.ndarray, lo: float, hi: float) -> None:
    """The axis names, the title with what the slice holds fixed, and limits that fit the curve."""
    ax.set_xlabel(f"{s.param} (parameter value)")
    ax.set_ylabel(LOSS_LABELS.get(s.loss, s.loss))
    note = held_note(s.model, [s.param], s.trace if s.has_run else None, s.iteration, width=70)
    ax.set_title(f"{short_loss(s.loss)} as a function of {s.param}" + (f"\n{note}" if note else ""), fontsize=9)
    finite = curve[np.isfinite(curve)]
    if finite.size:
        spread = float(np.ptp(finite)) or 1.0
        ax.set_ylim(min(finite.min(), 0) - 0.05 * spread, finite.max() + 0.15 * spread)
    ax.set_xlim(lo, hi)


def loss_curve(model: Module, x: Any, y: Any, param: str, *, loss: str = "ssr", trace: Trace | None = None,
               span: tuple[float, float] | None = None, points: int = 201, ax: Axes | None = None,
               label_steps: int = 6, iteration: int = 1, steps: bool = True, tangent: bool = True) -> Figure:
    """The loss against one parameter (pink), its true minimum, the tangent, and the steps.

    The curve is drawn through ``iteration`` (1-based, as the terminal counts): the other
    parameters are held at their values there, and the tangent touches the curve there.
    Its slope is the gradient; each numbered step shows why steps shrink as the curve flattens.
    """
    s = _slice(model, x, y, loss, param, trace, iteration)
    lo, hi = _span(s, span)
    grid, curve, minimum = _curve(s, lo, hi, points)
    fig, ax = figure_for(ax)
    ax.plot(grid, curve, color=PINK, lw=2.5, label=f"{short_loss(loss)} as {param} varies", gid="loss-curve")
    markers: Markers = []
    _draw_minimum(ax, s, minimum, markers)
    if tangent:
        _draw_tangent(ax, s, hi - lo)
    if s.has_run and steps and not s.trained:  # the slice and its tangent stand; only steps need training
        ax.plot([], [], ls="none", label=untrained_note(param), gid="no-steps-note")
    items = _draw_steps(ax, s, markers) if s.trained and steps else []
    if tangent and not (s.trained and steps):
        ax.plot(s.shown, s.at(s.shown), "o", color=OKABE_ITO["blue"], ms=6, gid="shown-point")
        markers.append(([s.shown], [s.at(s.shown)], 6))
    _name_axes(ax, s, curve, lo, hi)
    ax.legend(fontsize=7, loc="best")
    if items and label_steps > 0:
        avoid = [ln for ln in ax.get_lines() if ln.get_gid() in ("loss-curve", "tangent", "descent-path", "path-loss")]
        place(ax, items, markers, most=label_steps, color=OKABE_ITO["vermillion"], avoid=avoid)
    return fig


def loss_history(trace: Trace, *, log: bool = False, ax: Axes | None = None) -> Figure:
    """The loss at every iteration, counted from 1 as the terminal does (log scale on request)."""
    fig, ax = figure_for(ax)
    losses = np.array(trace.losses())
    keep = subsample(len(losses), 2000)
    ax.plot(np.array(numbers(trace))[keep], losses[keep], color=OKABE_ITO["blue"], lw=2,
            marker="o" if len(losses) <= 30 else None, ms=3, gid="loss-history")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration (the last point is the end of the run)" if trace.final else "iteration")
    ax.set_ylabel(LOSS_LABELS.get(trace.loss, trace.loss) + (" (log scale)" if log else ""))
    ax.set_title(f"Loss per iteration ({trace.final.stopped_by.replace('_', ' ')} after {trace.final.steps} steps)"
                 if trace.final else "Loss per iteration")
    return fig
