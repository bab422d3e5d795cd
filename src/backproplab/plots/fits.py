"""The network's predictions against the data: residuals (Part 1), before and after a step,
one curve per iteration, the final fit (Part 3), and the animation of the descent.

As in the worked example, green is kept for new predictions; the starting or current
curve is dark grey.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from backproplab.explain.steps import run_moments
from backproplab.explain.terminal import step_lines
from backproplab.nn import Module

# alike on purpose: the figures share plots.base's helpers, so their import lists look alike
from backproplab.plots.base import (
    DARK,
    GREEN,
    OKABE_ITO,
    FigureError,
    curve_inputs,
    figure_for,
    held_note,
    loss_at,
    new_figure,
    num,
    numbers,
    position,
    predict,
    scalar_path,
    short_loss,
    state,
    state_name,
    states,
    subsample,
    values_set,
)
from backproplab.plots.curves import loss_curve, minimum_label, slope_at
from backproplab.plots.minimum import find_minimum
from backproplab.train.trace import Trace, scalar


def _data(ax: Axes, x: Any, y: Any) -> None:
    ax.plot(np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1), "o",
            color=OKABE_ITO["black"], ms=8, label="observed data", gid="data", zorder=4)


def _which(trace: Trace, values: dict[str, Any]) -> str:
    """The trained parameters' values, for a curve's label, when there are few."""
    named = [(n, v) for n in trace.optimize if (v := scalar(values[n])) is not None]
    if len(trace.optimize) > 2 or len(named) != len(trace.optimize):
        return ""
    return " (" + ", ".join(f"{n} = {num(v)}" for n, v in named) + ")"


def _finish_fit(ax: Axes, model: Module, values: dict[str, Any] | None, x: Any, y: Any, loss: str,
                labels: tuple[str, str], title: str) -> None:
    """The data over the fit, the axes' names, and a title that ends in the loss at ``values``."""
    _data(ax, x, y)
    _axes_names(ax, *labels)
    with values_set(model, values):
        total = loss_at(model, x, y, loss)
    ax.set_title(f"{title}: {short_loss(loss)} = {num(total)}", fontsize=10)
    ax.legend(fontsize=8, loc="best")


def _axes_names(ax: Axes, x_label: str, y_label: str) -> None:
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)


def residuals(model: Module, x: Any, y: Any, *, trace: Trace | None = None, iteration: int = 1, loss: str = "ssr",
              ax: Axes | None = None, x_label: str = "x", y_label: str = "y") -> Figure:
    """The data, the prediction curve, and each residual y − ŷ as a vertical line (Part 1)."""
    fig, ax = figure_for(ax)
    values = state(trace, iteration) if trace is not None and trace.iterations else None
    grid, inputs = curve_inputs(x)
    xs = np.asarray(x, dtype=float).reshape(-1)
    ys = np.asarray(y, dtype=float).reshape(-1)
    fitted = predict(model, np.asarray(x, dtype=float), values)
    when = state_name(trace, iteration) if values is not None else "the current values"
    ax.plot(grid, predict(model, inputs, values), color=DARK, lw=2, label=f"predictions ŷ at {when}",
            gid="predictions")
    _residual_lines(ax, xs, ys, fitted, "residuals y − ŷ")
    for xi, yi, fi in zip(xs, ys, fitted):
        if len(xs) <= 12:
            ax.annotate(num(yi - fi), (xi, (yi + fi) / 2), textcoords="offset points", xytext=(8, 0), fontsize=8,
                        color=OKABE_ITO["vermillion"], va="center", gid="residual-label")
    _finish_fit(ax, model, values, x, y, loss, (x_label, y_label), f"Residuals at {when}")
    return fig


def _residual_lines(ax: Axes, xs: np.ndarray, ys: np.ndarray, fitted: np.ndarray, label: str) -> None:
    """Each residual as a dashed vertical line from the data point to the prediction; one legend entry."""
    for k, (xi, yi, fi) in enumerate(zip(xs, ys, fitted)):
        ax.plot([xi, xi], [yi, fi], color=OKABE_ITO["vermillion"], lw=1.5, ls="--", gid="residual",
                label=label if k == 0 else None)


def predictions(model: Module, x: Any, y: Any, *, trace: Trace | None = None, iteration: int = 1,
                ax: Axes | None = None, x_label: str = "x", y_label: str = "y", step: int | None = None) -> Figure:
    """The predictions at ``iteration`` (dark) and the new predictions after its step (green).

    ``iteration`` counts from 1 as the terminal's ``--iteration`` does: ``iteration=1`` is the
    starting values and draws the first step. ``step=`` (0-based) is deprecated.
    """
    if step is not None:
        iteration = _deprecated_step(step)
    fig, ax = figure_for(ax)
    grid, inputs = curve_inputs(x)
    if trace is not None and trace.iterations:
        at = position(trace, iteration)
        if at >= len(trace.iterations):
            raise FigureError(f"iteration must be between 1 and {trace.iterations[-1].step + 1} for this run (a step "
                              f"is taken from each), got {iteration}")
        following = numbers(trace)[at + 1]
        before, after = state(trace, iteration), state(trace, following)
        ax.plot(grid, predict(model, inputs, before), color=DARK, lw=2, ls="--",
                label=f"predictions at iteration {iteration}{_which(trace, before)}", gid="before")
        ax.plot(grid, predict(model, inputs, after), color=GREEN, lw=2.5,
                label=f"new predictions, {state_name(trace, following)}{_which(trace, after)}", gid="after")
        title = f"Predictions before and after the step of iteration {iteration}"
    else:
        ax.plot(grid, predict(model, inputs), color=DARK, lw=2.5, label="predictions", gid="after")
        title = "Predictions"
    _data(ax, x, y)
    _axes_names(ax, x_label, y_label)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return fig


def _deprecated_step(step: int) -> int:
    """The iteration that the old 0-based ``step=`` meant, with a warning that says what to write."""
    warnings.warn(f"predictions(step={step}) is deprecated: write iteration={step + 1} (iterations count from 1, "
                  "as the terminal's --iteration does)", DeprecationWarning, stacklevel=3)
    return step + 1


def fit_series(model: Module, x: Any, y: Any, trace: Trace, *, most: int = 15, ax: Axes | None = None,
               x_label: str = "x", y_label: str = "y") -> Figure:
    """One green curve per iteration, older ones fainter, from the start (dark) to the end."""
    fig, ax, grid, inputs = _run_figure(trace, ax, x)
    nums = numbers(trace)
    n = len(nums)
    _start_curve(ax, model, trace, (grid, inputs), nums[0], lw=2)
    picked = range(1, n) if n - 1 <= most else sorted(
        {int(i) for i in np.round(np.geomspace(1, n - 1, most))})  # spaced to show the early steps, which move most
    shown = [nums[i] for i in picked]
    for rank, k in enumerate(shown, start=1):
        alpha = 0.15 + 0.85 * rank / len(shown)
        label = None
        if k == shown[-1]:
            label = f"{state_name(trace, k)}{_which(trace, state(trace, k))}"
        elif rank == 1:
            label = "new predictions, one curve per iteration (older ones fainter)"
        ax.plot(grid, predict(model, inputs, state(trace, k)), color=GREEN, lw=2 if k == shown[-1] else 1.3,
                alpha=alpha, label=label, gid=f"iteration-{k}")
    _data(ax, x, y)
    _axes_names(ax, x_label, y_label)
    thinned = "" if len(shown) == n - 1 else f"\n({len(shown)} of {nums[-1]} shown, most of them early: big steps)"
    ax.set_title(f"Predictions at each iteration{thinned}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return fig


def _run_figure(trace: Trace, ax: Axes | None, x: Any) -> tuple[Figure, Axes, np.ndarray, np.ndarray]:
    """A figure of a run's predictions, and the inputs to draw them at; a run with no iterations has none."""
    if not trace.iterations:
        raise FigureError("the run has no iterations to draw")
    fig, ax = figure_for(ax)
    return (fig, ax, *curve_inputs(x))


def _start_curve(ax: Axes, model: Module, trace: Trace, curve: tuple[np.ndarray, np.ndarray], first: int,
                 lw: float) -> None:
    """The predictions at the start of the run, dashed and dark, under the later ones."""
    grid, inputs = curve
    ax.plot(grid, predict(model, inputs, state(trace, first)), color=DARK, lw=lw, ls="--",
            label=f"iteration 1 (start){_which(trace, state(trace, first))}", gid="start")


def final_fit(model: Module, x: Any, y: Any, trace: Trace, *, loss: str = "ssr", ax: Axes | None = None,
              x_label: str = "x", y_label: str = "y") -> Figure:
    """Where the run ended: the final predictions (green), the start (dark), and the residuals left."""
    fig, ax, grid, inputs = _run_figure(trace, ax, x)
    n = states(trace)
    end = state(trace, n)
    _start_curve(ax, model, trace, (grid, inputs), 1, lw=1.5)
    ax.plot(grid, predict(model, inputs, end), color=GREEN, lw=2.5,
            label=f"final predictions{_which(trace, end)}", gid="final")
    xs, ys = np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1)
    fitted = predict(model, np.asarray(x, dtype=float), end)
    tiny = np.max(np.abs(ys - fitted)) < 0.01 * (np.ptp(ys) or 1.0)
    _residual_lines(ax, xs, ys, fitted, "residuals left (too small to see)" if tiny else "residuals left")
    _finish_fit(ax, model, end, x, y, loss, (x_label, y_label), f"The final fit, {state_name(trace, n)}")
    return fig


def animate_descent(model: Module, x: Any, y: Any, trace: Trace, param: str, path: str, *, loss: str = "ssr",
                    fps: int = 3, most_frames: int = 60, x_label: str = "x", y_label: str = "y") -> int:
    """A GIF (or MP4, if ffmpeg is installed and the path ends in .mp4) of the descent.

    Left: the point moving down the loss curve, with its tangent. Right: the predictions
    moving toward the data. Frames are labelled by iteration, counted from 1. Returns the
    number of frames written.
    """
    from matplotlib import animation

    if path.endswith(".mp4") and not animation.FFMpegWriter.isAvailable():
        raise FigureError("MP4 needs ffmpeg, which is not installed; write a .gif instead (no ffmpeg needed)")
    fig, draw, count = descent_frames(model, x, y, trace, param, loss=loss, most_frames=most_frames,
                                      x_label=x_label, y_label=y_label)
    anim = animation.FuncAnimation(fig, draw, frames=count, blit=False)
    if path.endswith(".mp4"):
        anim.save(path, writer=animation.FFMpegWriter(fps=fps))
    else:
        anim.save(path, writer=animation.PillowWriter(fps=fps))
    return count


def _slice_loss(model: Module, x: Any, y: Any, loss: str, base: dict[str, Any], param: str, value: float) -> float:
    with values_set(model, base):
        return loss_at(model, x, y, loss, **{param: value})


ENDINGS = {"min_step": "converged", "max_steps": "reached its most steps", "diverged": "diverged",
           "interrupted": "was interrupted"}


def _step_sentences(trace: Trace, param: str, at: list[int]) -> list[str]:
    """For each frame, the lesson's numbers for ``param``, as the terminal writes them: the gradient,
    the step size and the new value; at the end of the run, where it ended."""
    only = Trace(loss=trace.loss, learning_rate=trace.learning_rate, optimize=[param], optimizer=trace.optimizer,
                 iterations=trace.iterations, final=trace.final, keep_every=trace.keep_every)
    moments = {param: run_moments(trace, param)} if trace.optimizer == "adam" else None
    out = []
    for i in at:
        if i < len(trace.iterations):
            lines = step_lines(only, trace.iterations[i], 2, moments)
            out.append("   ·   ".join(t for t in lines if not t.lstrip().startswith("note:")))
        else:
            how = ENDINGS.get(trace.final.stopped_by, "stopped") if trace.final else "stopped"
            out.append(f"no step from here: the run {how} after {trace.final.steps if trace.final else 0} step(s), "
                       f"at {param} = {num(scalar_path(trace, param)[i])}")
    return out


class _CurvePanel:
    """The animation's left panel: the loss curve of ``param``, a point moving down it and its tangent.

    When other parameters move too, the slice (and its lowest point) changes from frame to frame.
    """

    def __init__(self, ax: Axes, model: Module, x: Any, y: Any, trace: Trace, param: str, loss: str) -> None:
        self.ax, self.model, self.x, self.y, self.trace, self.param, self.loss = ax, model, x, y, trace, param, loss
        self.moving = [n for n in trace.optimize if n != param]
        loss_curve(model, x, y, param, loss=loss, trace=trace, ax=ax, steps=False, iteration=1)
        self.curve = next(ln for ln in ax.get_lines() if ln.get_gid() == "loss-curve")
        self.tangent = next(ln for ln in ax.get_lines() if ln.get_gid() == "tangent")
        self.tangent.set_label("tangent at the point (slope = gradient)")
        self.star = None
        if self.moving:
            for old in [ln for ln in ax.get_lines() if ln.get_gid() in ("minimum", "minimum-note")]:
                old.remove()
            (self.star,) = ax.plot([], [], marker="*", ms=14, color=OKABE_ITO["black"], ls="none", gid="minimum",
                                   label="lowest point of this slice")
        self.legend = ax.legend(fontsize=7, loc="upper right")
        self.grid = np.asarray(self.curve.get_xdata(), dtype=float)
        self.half = 0.12 * (self.grid[-1] - self.grid[0])
        for static in [ln for ln in ax.get_lines() if ln.get_gid() == "shown-point"]:
            static.remove()  # the moving point takes its place
        (self.point,) = ax.plot([], [], "o", color=OKABE_ITO["vermillion"], ms=10, gid="moving-point")

    def draw(self, k: int, v: float) -> None:
        """Iteration ``k``, where the parameter is ``v``."""
        model, x, y, loss, param = self.model, self.x, self.y, self.loss, self.param
        base = state(self.trace, k)
        with values_set(model, base):
            here = loss_at(model, x, y, loss)
            if self.moving:
                self.curve.set_ydata([loss_at(model, x, y, loss, **{param: g}) for g in self.grid])
        if self.moving:
            self._lowest_point(k, base)
        slope = slope_at(model, x, y, loss, param, v, base)
        ts = np.array([v - self.half, v + self.half])
        self.tangent.set_data(ts, here + slope * (ts - v))
        self.point.set_data([v], [here])

    def _lowest_point(self, k: int, base: dict[str, Any]) -> None:
        """The lowest point of this frame's slice, and the title that says what the slice holds."""
        model, x, y, loss, param = self.model, self.x, self.y, self.loss, self.param
        m = find_minimum(lambda v: _slice_loss(model, x, y, loss, base, param, v), self.grid,
                         np.asarray(self.curve.get_ydata()))
        assert self.star is not None  # made where other parameters move, the only case that draws it
        low = m.point if m.where == "inside" else None
        self.star.set_data(*(([low[0]], [low[1]]) if low is not None else ([], [])))
        self.legend.get_texts()[-1].set_text(minimum_label(param, m, loss, of_slice=True))
        self.ax.set_title(f"{short_loss(loss)} as a function of {param}\n"
                          + held_note(model, [param], self.trace, k, 70), fontsize=9)


class _FitPanel:
    """The animation's right panel: the data, the predictions at each frame (dark) and after its step (green)."""

    def __init__(self, ax: Axes, model: Module, x: Any, y: Any, trace: Trace, at: list[int],
                 labels: tuple[str, str]) -> None:
        self.ax, self.trace = ax, trace
        nums = numbers(trace)
        grid, inputs = curve_inputs(x)
        _data(ax, x, y)
        self.curves = [predict(model, inputs, state(trace, nums[i])) for i in at]
        self.news = [predict(model, inputs, state(trace, nums[i + 1])) if i + 1 < len(nums) else None for i in at]
        (self.current,) = ax.plot(grid, self.curves[0], color=DARK, lw=2, ls="--", gid="before")
        (self.line,) = ax.plot(grid, self.curves[0], color=GREEN, lw=2.5, label="new predictions, after its step",
                               gid="predictions")
        shown = self.curves + [c for c in self.news if c is not None]
        lo, hi = min(c.min() for c in shown), max(c.max() for c in shown)
        ax.set_ylim(min(lo, np.min(y)) - 0.2, max(hi, np.max(y)) + 0.2)
        _axes_names(ax, *labels)
        self.title = ax.set_title("")

    def draw(self, n: int, k: int, name: str) -> None:
        """Frame ``n``, iteration ``k``; ``name`` is the title (the iteration and the parameter's value)."""
        self.current.set_ydata(self.curves[n])
        self.current.set_label(f"predictions at {state_name(self.trace, k)}")
        new = self.news[n]
        self.line.set_visible(new is not None)
        if new is not None:
            self.line.set_ydata(new)
        self.ax.legend(handles=[h for h in self.ax.get_lines() if h.get_visible() and str(h.get_label())[:1] != "_"],
                       fontsize=8, loc="best")
        self.title.set_text(name)


def descent_frames(model: Module, x: Any, y: Any, trace: Trace, param: str, *, loss: str = "ssr",
                   most_frames: int = 60, x_label: str = "x", y_label: str = "y") -> tuple[Figure, Any, int]:
    """The animation's figure, the function that draws frame n, and the number of frames."""
    values = scalar_path(trace, param)
    nums = numbers(trace)
    at = [int(i) for i in subsample(len(values), most_frames)]
    frames = [nums[i] for i in at]
    fig = new_figure((11, 4.6))
    left, right = fig.subplots(1, 2)
    curve = _CurvePanel(left, model, x, y, trace, param, loss)
    fit = _FitPanel(right, model, x, y, trace, at, (x_label, y_label))
    numbers_line = fig.supxlabel("", fontsize=9, color=OKABE_ITO["vermillion"])
    numbers_line.set_gid("step-numbers")
    said = _step_sentences(trace, param, at)

    def draw(n: int) -> tuple:
        k, v = frames[n], values[at[n]]
        curve.draw(k, v)
        fit.draw(n, k, f"{state_name(trace, k)}: {param} = {num(v)}")
        numbers_line.set_text(said[n])
        return curve.point, fit.line, fit.current, fit.title, curve.tangent, numbers_line

    draw(0)
    fig.draw_without_rendering()
    if not curve.moving:  # the layout never changes between frames: work it out once
        fig.set_layout_engine("none")
    return fig, draw, len(frames)
