"""The loss against one parameter (the worked example's pink curve) and the loss per iteration.

A loss curve is a slice: every other parameter is held at its value at the iteration shown,
and the figure says so. Points drawn on the curve lie on it; where other parameters move
during the run, the loss along the run is its own, labelled series.
"""

from __future__ import annotations

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
from backproplab.train.trace import Trace, scalar


def slope_at(model: Module, x: Any, y: Any, loss: str, param: str, value: float,
             base: dict[str, Any] | None = None) -> float:
    """d loss / d param at ``value`` (the other parameters as in ``base``): the tangent's slope."""
    with values_set(model, {**(base or {}), param: value}):
        p = model.parameter(param)
        flag, p.grad, p.requires_grad = p.requires_grad, None, True
        try:
            get_loss(loss)(model(Tensor(x, name="x")), y).backward()
            return scalar(p.grad)
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
        return f"{what}: {param} ≈ {num(m.at, 3)} ({short_loss(loss)} = {num(m.loss, 3)})"
    if m.where == "outside":
        return f"{what} lies outside this range, at {param} ≈ {num(m.at, 3)}"
    if m.direction:
        way = "grows" if m.direction > 0 else "falls"
        if m.levels_off:
            return f"no lowest point: the loss levels off, falling ever more slowly, as {param} {way}"
        return f"no lowest point: the loss keeps falling as {param} {way}"
    return "no lowest point: the loss is not finite here"


def untrained_note(param: str) -> str:
    """Why a loss curve of ``param`` has no numbered steps: the run does not train it."""
    return f"no steps: {param} is not trained in this run"


def loss_curve(model: Module, x: Any, y: Any, param: str, *, loss: str = "ssr", trace: Trace | None = None,
               span: tuple[float, float] | None = None, points: int = 201, ax: Axes | None = None,
               label_steps: int = 6, iteration: int = 1, steps: bool = True, tangent: bool = True) -> Figure:
    """The loss against one parameter (pink), its true minimum, the tangent, and the steps.

    The curve is drawn through ``iteration`` (1-based, as the terminal counts): the other
    parameters are held at their values there, and the tangent touches the curve there.
    Its slope is the gradient; each numbered step shows why steps shrink as the curve flattens.
    """
    p = model.parameter(param)
    if p.data.size != 1:
        raise ValueError(f"{param} is not a single number; choose a scalar parameter for a loss curve")
    has_run = trace is not None and bool(trace.iterations)
    base = dict(state(trace, iteration)) if has_run else {n: q.data.copy() for n, q in model.named_parameters()}
    path = scalar_path(trace, param) if has_run else np.array([scalar(p.data)])
    shown = float(path[position(trace, iteration)]) if has_run else float(path[0])

    def f(v: float) -> float:
        with values_set(model, base), np.errstate(all="ignore"):  # an overflowing loss is drawn as off the chart
            return loss_at(model, x, y, loss, **{param: v})

    if span is None:
        rough = default_span(path, None)
        span = default_span(path, find_minimum(f, np.linspace(*rough, 41)))
    lo, hi = float(span[0]), float(span[1])
    if not lo < hi:
        raise ValueError(f"the span must go from low to high, got {lo:g}, {hi:g}")
    extra = path[np.isfinite(path) & (path >= lo) & (path <= hi)]
    grid = np.unique(np.concatenate([np.linspace(lo, hi, points), extra, [shown] if lo <= shown <= hi else []]))
    curve = np.array([f(v) for v in grid])
    minimum = find_minimum(f, grid, curve)
    if minimum.where == "inside":
        at = np.searchsorted(grid, minimum.at)
        grid, curve = np.insert(grid, at, minimum.at), np.insert(curve, at, minimum.loss)

    moving = [n for n in (trace.optimize if has_run else []) if n != param]
    fig, ax = figure_for(ax)
    short = short_loss(loss)
    ax.plot(grid, curve, color=PINK, lw=2.5, label=f"{short} as {param} varies", gid="loss-curve")
    markers: list[tuple[Any, Any, float]] = []
    label = minimum_label(param, minimum, loss, of_slice=bool(moving))
    if minimum.where == "inside":
        ax.plot(minimum.at, minimum.loss, marker="*", ms=14, color=OKABE_ITO["black"], ls="none", label=label,
                gid="minimum")
        markers.append(([minimum.at], [minimum.loss], 14))
    else:
        ax.plot([], [], ls="none", label=label, gid="minimum-note")
    when = state_name(trace, iteration) if has_run else "the current values"
    if tangent:
        slope = slope_at(model, x, y, loss, param, shown, base)
        half = 0.12 * (hi - lo)
        ts = np.array([shown - half, shown + half])
        ax.plot(ts, f(shown) + slope * (ts - shown), color=OKABE_ITO["blue"], lw=1.5, ls="--",
                label=f"tangent at {when}, {param} = {num(shown)} (slope = gradient = {num(slope)})", gid="tangent")
    items = []
    trained = has_run and param in trace.optimize
    if has_run and steps and not trained:  # the slice and its tangent stand; only steps need training
        ax.plot([], [], ls="none", label=untrained_note(param), gid="no-steps-note")
    if trained and steps:
        losses = np.array(trace.losses(), dtype=float)
        keep = [k for k in subsample(len(path)) if np.isfinite(path[k]) and np.isfinite(losses[k])]
        nums = numbers(trace)
        if moving:
            ax.plot(path[keep], losses[keep], color=OKABE_ITO["vermillion"], marker="o", ms=5, lw=1, ls=":",
                    mfc="white", label=f"loss along the run ({', '.join(moving[:3])}{' …' if len(moving) > 3 else ''}"
                    " moving too: off this slice)", gid="path-loss")
            ax.plot(shown, f(shown), "o", color=OKABE_ITO["vermillion"], ms=7, label=f"{when} (on this slice)",
                    gid="shown-point")
            markers.append(([shown], [f(shown)], 7))
        else:
            diverged = trace.final is not None and trace.final.stopped_by == "diverged"
            ax.plot(path[keep], losses[keep], color=OKABE_ITO["vermillion"], marker="o", ms=5, lw=1,
                    label="gradient-descent steps (n: step size at iteration n)"
                    + ("; the run diverged: each step overshoots further" if diverged else ""), gid="descent-path")
        markers.append((path[keep], losses[keep], 5))
        for k in keep:
            if k < len(trace.iterations) and param in trace.iterations[k].step_sizes:
                items.append((f"{nums[k]}: step {num(scalar(trace.iterations[k].step_sizes[param]))}", path[k],
                              losses[k]))
    if tangent and not (trained and steps):
        ax.plot(shown, f(shown), "o", color=OKABE_ITO["blue"], ms=6, gid="shown-point")
        markers.append(([shown], [f(shown)], 6))
    ax.set_xlabel(f"{param} (parameter value)")
    ax.set_ylabel(LOSS_LABELS.get(loss, loss))
    note = held_note(model, [param], trace if has_run else None, iteration, width=70)
    ax.set_title(f"{short} as a function of {param}" + (f"\n{note}" if note else ""), fontsize=9)
    finite = curve[np.isfinite(curve)]
    if finite.size:
        spread = float(np.ptp(finite)) or 1.0
        ax.set_ylim(min(finite.min(), 0) - 0.05 * spread, finite.max() + 0.15 * spread)
    ax.set_xlim(lo, hi)
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
