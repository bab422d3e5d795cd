"""The loss against one parameter (the worked example's pink curve) and the loss per iteration.

A loss curve is a slice: every other parameter is held at its value at the iteration shown,
and the figure says so. Points drawn on the curve lie on it; where other parameters move
during the run, the loss along the run is its own, labelled series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from backproplab.engine.tensor import Tensor
from backproplab.explain.words import method_name
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


RUN_STYLES = (("vermillion", "o"), ("sky", "s"), ("orange", "^"), ("black", "D"))  # compared runs, in order
MAX_COMPARED = len(RUN_STYLES)


def run_colour(k: int) -> str:
    """The colour of the k-th of several runs drawn together (the page and the figures use the same)."""
    return OKABE_ITO[RUN_STYLES[k][0]]


def run_label(trace: Trace, param: str, parts: tuple[str, ...] = ("method", "lr", "start")) -> str:
    """A run named by ``parts`` of its settings: its method, learning rate and starting value."""
    start = scalar_path(trace, param)[0] if trace.iterations else float("nan")
    said = {"method": method_name(trace.optimizer), "lr": f"lr = {trace.learning_rate:g}",
            "start": f"from {param} = {num(start)}"}
    return ", ".join(said[p] for p in parts)


def run_labels(traces: Sequence[Trace], param: str) -> list[str]:
    """Runs drawn together, each named by only what sets it apart from the others (all of it, when nothing
    does)."""
    every = ("method", "lr", "start")
    named = {p: [run_label(t, param, (p,)) for t in traces] for p in every}
    parts = tuple(p for p in every if len(set(named[p])) > 1) or every
    return [run_label(t, param, parts) for t in traces]


def _gid(name: str, k: int) -> str:
    """A drawn series' id: the first run's keeps its plain name (tests and the page read it), others are numbered."""
    return f"{name}-{k}" if k else name


def _off_slice(s: _Slice, trace: Trace) -> bool:
    """Whether a compared run holds the other parameters elsewhere than the slice does (its points are then
    off the drawn curve)."""
    theirs = state(trace, s.iteration) if trace.iterations else {}
    return any(n != s.param and n in theirs and not np.array_equal(np.asarray(theirs[n]), np.asarray(v))
               for n, v in s.base.items())


def _steps_label(s: _Slice, trace: Trace, k: int, name: str) -> tuple[str, bool]:
    """What a run's series says, and whether it is off the slice (other parameters move too, or a compared run
    holds them elsewhere): its points are then the loss along the run, not points on the curve."""
    moving = [n for n in trace.optimize if n != s.param]
    diverged = trace.final is not None and trace.final.stopped_by == "diverged"
    said = ("; diverged" if name else "; the run diverged: each step overshoots further") if diverged else ""
    lead = f"{name}: " if name else ""
    if moving or (k and _off_slice(s, trace)):
        why = (f"{', '.join(moving[:3])}{' …' if len(moving) > 3 else ''} moving too" if moving
               else "other parameters held elsewhere")
        return f"{lead}loss along the run ({why}: off this slice){said}", True
    what = f"{lead}steps" if name else "gradient-descent steps (n: step size at iteration n)"
    return f"{what}{said}", False


def _draw_steps(ax: Axes, s: _Slice, markers: Markers, trace: Trace | None = None, k: int = 0,
                name: str = "") -> list[tuple[str, float, float]]:
    """One run's steps along the curve (or the loss along the run, when it is off the slice); returns each step's
    label and where it goes. ``k`` picks the run's colour and marker."""
    trace = trace if trace is not None else s.run
    path = scalar_path(trace, s.param)
    colour, marker = run_colour(k), RUN_STYLES[k][1]
    losses = np.array(trace.losses(), dtype=float)
    keep = [j for j in subsample(len(path)) if np.isfinite(path[j]) and np.isfinite(losses[j])]
    label, off = _steps_label(s, trace, k, name)
    ax.plot(path[keep], losses[keep], color=colour, marker=marker, ms=5, lw=1, ls=":" if off else "-",
            mfc="white" if off else colour, label=label, gid=_gid("path-loss" if off else "descent-path", k))
    if off and not k:
        ax.plot(s.shown, s.at(s.shown), "o", color=colour, ms=7, label=f"{s.when} (on this slice)", gid="shown-point")
        markers.append(([s.shown], [s.at(s.shown)], 7))
    markers.append((path[keep], losses[keep], 5))
    nums = numbers(trace)
    return [(f"{nums[j]}: step {num(single(trace.iterations[j].step_sizes[s.param]))}", path[j], losses[j])
            for j in keep if j < len(trace.iterations) and s.param in trace.iterations[j].step_sizes]


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


Compared = Sequence[Trace | tuple[str, Trace]]  # other runs to draw on the same curve: traces, or (name, trace)


def _named(s: _Slice, compare: Compared, name: str) -> list[tuple[str, Trace]]:
    """The slice's run and the compared ones, each with its name (given, or what sets it apart)."""
    if compare and not s.has_run:
        raise FigureError("comparing runs needs a run to compare with: pass trace=… as well")
    runs: list[tuple[str, Trace]] = [(name, s.run)] if compare else []
    for c in compare:
        name, t = c if isinstance(c, tuple) else ("", c)
        if not isinstance(t, Trace) or not t.iterations:
            raise FigureError("each compared run is a Trace with iterations (or a (name, Trace) pair); train it first")
        if s.param not in t.optimize:
            raise FigureError(f"a compared run does not train {s.param}; compare runs that train it")
        runs.append((name, t))
    if len(runs) > MAX_COMPARED:
        raise FigureError(f"at most {MAX_COMPARED} runs can be drawn together; got {len(runs)}")
    labels = run_labels([t for _, t in runs], s.param)
    return [(name or label, t) for (name, t), label in zip(runs, labels)]


def loss_curve(model: Module, x: Any, y: Any, param: str, *, loss: str = "ssr", trace: Trace | None = None,
               span: tuple[float, float] | None = None, points: int = 201, ax: Axes | None = None,
               label_steps: int = 6, iteration: int = 1, steps: bool = True, tangent: bool = True,
               compare: Compared = (), name: str = "") -> Figure:
    """The loss against one parameter (pink), its true minimum, the tangent, and the steps.

    The curve is drawn through ``iteration`` (1-based, as the terminal counts): the other
    parameters are held at their values there, and the tangent touches the curve there.
    Its slope is the gradient; each numbered step shows why steps shrink as the curve flattens.
    ``compare`` draws other runs' steps on the same curve, each in its own colour (up to four runs in all),
    so two learning rates or two starting values can be seen side by side; ``name`` names ``trace``'s run
    among them (by default each run is named by what sets it apart).
    """
    s = _slice(model, x, y, loss, param, trace, iteration)
    runs = _named(s, compare, name)
    lo, hi = _span(s, span if span is not None or not runs else _runs_span(s, runs))
    grid, curve, minimum = _curve(s, lo, hi, points)
    fig, ax = figure_for(ax, (6.4, 5.4) if runs else (6.4, 4.4))  # room for the runs' legend under the chart
    ax.plot(grid, curve, color=PINK, lw=2.5, label=f"{short_loss(loss)} as {param} varies", gid="loss-curve")
    markers: Markers = []
    _draw_minimum(ax, s, minimum, markers)
    if tangent and not runs:
        _draw_tangent(ax, s, hi - lo)
    if s.has_run and steps and not s.trained:  # the slice and its tangent stand; only steps need training
        ax.plot([], [], ls="none", label=untrained_note(param), gid="no-steps-note")
    drawn = _draw_all(ax, s, markers, runs) if s.trained and steps else []
    if tangent and not runs and not (s.trained and steps):
        ax.plot(s.shown, s.at(s.shown), "o", color=OKABE_ITO["blue"], ms=6, gid="shown-point")
        markers.append(([s.shown], [s.at(s.shown)], 6))
    _name_axes(ax, s, curve, lo, hi)
    _legend(ax, bool(runs))
    if label_steps > 0:
        _label_steps(ax, drawn, markers, label_steps)
    return fig


def _runs_span(s: _Slice, runs: list[tuple[str, Trace]]) -> tuple[float, float]:
    """A range with every compared run's path in view, and the slice's lowest point."""
    path = np.concatenate([scalar_path(t, s.param) for _, t in runs])
    return default_span(path, find_minimum(s.at, np.linspace(*default_span(path, None), 41)))


def _legend(ax: Axes, runs: bool) -> None:
    """The legend where it covers least: under the chart for several runs, else where matplotlib finds room."""
    if not runs:
        ax.legend(fontsize=7, loc="best")
        return
    wide = max(len(str(ln.get_label())) for ln in ax.get_lines()) > 48
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1 if wide else 2, frameon=False,
              title="n: step size at iteration n", title_fontsize=7)


def _label_steps(ax: Axes, drawn: list[list], markers: Markers, most: int) -> None:
    """Number a few steps of each run, in its colour, where no label covers a marker, a line or another label."""
    avoid = [ln for ln in ax.get_lines() if str(ln.get_gid()).startswith(("loss-curve", "tangent", "descent-path",
                                                                            "path-loss"))]
    for k, items in enumerate(drawn):
        if items:
            place(ax, items, markers, most=max(1, most // len(drawn)), color=run_colour(k), avoid=avoid)


def _draw_all(ax: Axes, s: _Slice, markers: Markers, runs: list[tuple[str, Trace]]) -> list[list]:
    """The steps of the slice's run, or of every compared run; each run's step labels, in run order."""
    if not runs:
        return [_draw_steps(ax, s, markers)]
    return [_draw_steps(ax, s, markers, trace=t, k=k, name=name) for k, (name, t) in enumerate(runs)]


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
