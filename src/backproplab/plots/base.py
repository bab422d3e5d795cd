"""What every figure shares: colours, a figure that shows itself in Jupyter, the loss at
chosen parameter values, the states of a run by 1-based iteration, and the notes that say
which parameters a slice holds fixed."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.train.trace import Trace, scalar
from backproplab.util.messages import InputError
from backproplab.util.numbers import number

PINK = "#d6267f"  # the worked example's loss curve, and the page's title: 4.7:1 on white, AA for text
GREEN = "#009e73"  # the worked example's new predictions
DARK = "#555555"  # predictions that are not new: the starting or current curve
OKABE_ITO = {"black": "#000000", "orange": "#e69f00", "sky": "#56b4e9", "green": "#009e73",
             "yellow": "#f0e442", "blue": "#0072b2", "vermillion": "#d55e00", "purple": "#cc79a7"}
LOSS_LABELS = {"ssr": "SSR (sum of squared residuals)", "mse": "MSE (mean squared error)",
               "bce": "BCE (binary cross-entropy)", "cross_entropy": "cross-entropy"}
MAX_PATH_POINTS = 200  # larger runs are subsampled when drawn


class FigureError(InputError):
    """A figure that cannot be drawn as asked (a parameter, an iteration, a file type, the data): one line."""


class LabFigure(Figure):
    """A matplotlib Figure that displays itself in Jupyter (no pyplot, no %matplotlib needed)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def new_figure(size: tuple[float, float] = (6.4, 4.4)) -> LabFigure:
    fig = LabFigure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def root_figure(ax: Axes) -> Figure:
    """The figure ``ax`` is drawn in (the whole figure, for axes in a subfigure)."""
    fig = ax.get_figure(root=True)
    if fig is None:
        raise FigureError("these axes belong to no figure; make them with plt.subplots() or fig.add_subplot()")
    return fig


def figure_for(ax: Axes | None, size: tuple[float, float] = (6.4, 4.4)) -> tuple[Figure, Axes]:
    """The caller's axes, or a new figure with one."""
    if ax is not None:
        return root_figure(ax), ax
    fig = new_figure(size)
    return fig, fig.add_subplot()


def num(value: float, digits: int = 2) -> str:
    """A number for a label: rounded for display, never "−0.00"."""
    return number(value, digits)


def short_loss(loss: str) -> str:
    return LOSS_LABELS.get(loss, loss).split(" ")[0]


@contextmanager
def values_set(model: Module, values: dict[str, Any] | None = None) -> Iterator[None]:
    """Set some parameters for a while; put every parameter back afterwards."""
    saved = {n: p.data.copy() for n, p in model.named_parameters()}
    try:
        for name, value in (values or {}).items():
            p = model.parameter(name)
            p.data = np.asarray(value, dtype=p.dtype).reshape(p.shape)
        yield
    finally:
        for name, data in saved.items():
            model.parameter(name).data = data


def loss_at(model: Module, x: Any, y: Any, loss: str = "ssr", **values: Any) -> float:
    """The loss with some parameters set to ``values`` (the model is left unchanged)."""
    with values_set(model, values), no_grad():
        return float(get_loss(loss)(model(Tensor(x, name="x")), y).data)


def predict(model: Module, inputs: np.ndarray, values: dict[str, Any] | None = None) -> np.ndarray:
    with values_set(model, values), no_grad():
        return np.asarray(model(Tensor(inputs, name="x")).data, dtype=float).reshape(len(inputs), -1)[:, 0]


def subsample(n: int, most: int = MAX_PATH_POINTS) -> np.ndarray:
    """Indices 0..n-1 thinned to at most ``most``, always keeping the first and last."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def scalar_path(trace: Trace, name: str) -> np.ndarray:
    values = [scalar(v) for v in trace.values(name)]
    if any(v is None for v in values):
        raise FigureError(f"{name} is not a single number; loss curves are drawn for scalar parameters")
    return np.array(values)


def numbers(trace: Trace) -> list[int]:
    """The 1-based iteration number of each recorded state: every iteration kept, then the end."""
    out = [it.step + 1 for it in trace.iterations]
    if trace.final is not None:
        out.append(trace.final.steps + 1)
    return out


def states(trace: Trace) -> int:
    """The number of the last state: the end of the run (one past the last iteration)."""
    nums = numbers(trace)
    return nums[-1] if nums else 1


def position(trace: Trace, iteration: int) -> int:
    """Where 1-based ``iteration`` is in the run's record (its index in ``trace.values(name)``)."""
    nums = numbers(trace)
    if 0 < iteration <= len(nums) and nums[iteration - 1] == iteration:
        return iteration - 1
    if iteration in nums:
        return nums.index(iteration)
    last = nums[-1] if nums else 1
    if 1 <= iteration <= last:
        raise FigureError(f"iteration {iteration} is not recorded in this run (it keeps only some iterations)")
    raise FigureError(f"iteration must be between 1 and {last} for this run, got {iteration}")


def state(trace: Trace, iteration: int) -> dict[str, Any]:
    """Every parameter at 1-based ``iteration`` (iteration 1 is the start; one past the last is the end)."""
    i = position(trace, iteration)
    if i < len(trace.iterations):
        return trace.iterations[i].params
    if trace.final is None:
        raise FigureError(f"iteration {iteration} is the end of the run, and this run has no end recorded")
    return trace.final.params


def state_name(trace: Trace | None, iteration: int) -> str:
    """'iteration k', or 'the end (after iteration n)' for the state after the last step."""
    if trace is not None and trace.final is not None and trace.iterations and iteration == trace.final.steps + 1:
        return f"the end (after iteration {trace.final.steps})"
    return f"iteration {iteration}"


def held_note(model: Module, shown: Sequence[str], trace: Trace | None, iteration: int,
              width: int = 80) -> str:
    """Which parameters a slice holds fixed, at which values and which iteration."""
    values = state(trace, iteration) if trace is not None and trace.iterations else {
        n: p.data for n, p in model.named_parameters()}
    held = [n for n, _ in model.named_parameters() if n not in shown]
    if not held:
        return ""
    parts = []
    for name in held:
        v = scalar(values[name])
        shape = "×".join(map(str, np.shape(values[name])))
        parts.append(f"{name}\u00a0=\u00a0{num(v)}" if v is not None else f"{name}\u00a0({shape})")
    moving = [n for n in held if trace is not None and n in trace.optimize]
    when = state_name(trace, iteration) if trace is not None and trace.iterations else "their current values"
    if trace is not None and not moving:
        lead = "held fixed (not trained in this run): "
    else:
        lead = f"held fixed at {when}: "
    return "\n".join(textwrap.wrap(lead + ", ".join(parts), width))


def curve_inputs(x: Any, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    if x.ndim == 2 and x.shape[1] != 1 or x.ndim > 2:
        raise FigureError("prediction curves need one input per sample; use decision_boundary for 2-D inputs")
    flat = x.reshape(-1)
    pad = 0.1 * (np.ptp(flat) or 1.0)
    grid = np.linspace(flat.min() - pad, flat.max() + pad, points)
    return grid, grid.reshape(-1, 1) if x.ndim == 2 else grid
