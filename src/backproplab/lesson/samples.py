"""The samples a lesson page draws from: loss curves (with their true minimum) along one
parameter or one entry of a matrix, prediction curves over the input range, and decision-boundary
grids, each at snapshots of a run. All are computed here with the engine; the page only draws them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backproplab import plots
from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor
from backproplab.lesson.settings import Job
from backproplab.nn.losses import get_loss
from backproplab.train.trace import Trace, scalar, to_json_value

CURVE_POINTS = 121
PREDICTION_POINTS = 80
PREDICTION_SNAPSHOTS = 300
BOUNDARY_SIDE = 36
BOUNDARY_SNAPSHOTS = 24
KEPT_CURVES = 256  # loss curves kept per run


def _at(job: Job, params: dict[str, Any]) -> None:
    job.net.load_state_dict(params)


def curve_key(param: str, index: tuple[int, ...] | None = None) -> str:
    """How a document names a loss curve: the parameter, or one entry of it (counted from 1)."""
    return param if index is None else f"{param}[{','.join(str(i + 1) for i in index)}]"


def curve(job: Job, trace: Trace, param: str, k: int, index: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The loss against ``param`` (or one entry of it) with everything else held at iteration k (0-based);
    kept with the run's job for its next request (the document's curve is the one a page asks for first)."""
    kept = getattr(job, "kept", None)  # a job made outside the page keeps nothing
    if kept is None:
        return _curve(job, trace, param, k, index)
    if kept.get("curves", (None, None))[0] is not trace:
        kept["curves"] = (trace, {})
    curves = kept["curves"][1]
    key = (param, None if index is None else tuple(index), k)
    if key not in curves:
        if len(curves) >= KEPT_CURVES:
            curves.pop(next(iter(curves)))  # the oldest
        curves[key] = _curve(job, trace, param, k, index)
    return curves[key]


def _curve(job: Job, trace: Trace, param: str, k: int, index: tuple[int, ...] | None = None) -> dict[str, Any]:
    held = trace.iterations[k].params if trace.iterations or trace.final is None else trace.final.params
    if index is not None:
        return _entry_curve(job, trace, param, k, tuple(index), held)
    path = np.array([scalar(v) for v in trace.values(param)], dtype=float)
    path = path[np.isfinite(path)]
    lo, hi = (float(path.min()), float(path.max())) if path.size else (-1.0, 1.0)
    margin = max(0.5 * (hi - lo), 1.0)
    grid = np.linspace(lo - margin, hi + margin, CURVE_POINTS)
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    try:
        _at(job, held)

        def f(v: float) -> float:
            return plots.loss_at(job.net, job.x, job.y, trace.loss, **{param: v})

        with np.errstate(all="ignore"):
            values = _curve_values(job, trace, held, param, grid)
            if values is None:
                values = np.array([f(v) for v in grid])
            minimum = _minimum(f, grid, values)
    finally:
        job.net.load_state_dict(saved)
    return {"iteration": k + 1, "grid": to_json_value(grid), "loss": to_json_value(values), "minimum": minimum}


def _entry_curve(job: Job, trace: Trace, param: str, k: int, index: tuple[int, ...],
                 held: dict[str, Any]) -> dict[str, Any]:
    path = np.array([np.asarray(v, dtype=float)[index] for v in trace.values(param)], dtype=float)
    path = path[np.isfinite(path)]
    lo, hi = (float(path.min()), float(path.max())) if path.size else (-1.0, 1.0)
    margin = max(0.5 * (hi - lo), 1.0)
    grid = np.linspace(lo - margin, hi + margin, CURVE_POINTS)
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    base = np.array(held[param], dtype=float)
    try:
        _at(job, held)

        def f(v: float) -> float:
            value = base.copy()
            value[index] = v
            return plots.loss_at(job.net, job.x, job.y, trace.loss, **{param: value})

        with np.errstate(all="ignore"):
            values = np.array([f(v) for v in grid])
            minimum = _minimum(f, grid, values)
    finally:
        job.net.load_state_dict(saved)
    return {"iteration": k + 1, "index": list(index), "grid": to_json_value(grid), "loss": to_json_value(values),
            "minimum": minimum}


def _curve_values(job: Job, trace: Trace, held: dict[str, Any], param: str, grid: np.ndarray) -> np.ndarray | None:
    """The loss at every grid value of ``param`` from one batched forward pass (None: not possible)."""
    x = np.asarray(job.x, dtype=float)
    outputs = _batched(job, [dict(held, **{param: v}) for v in grid], x)
    if outputs is None or np.asarray(job.y).ndim != 1:
        return None
    loss = get_loss(trace.loss)
    target = Tensor(job.y, name="y")
    with no_grad():
        return np.array([float(loss(Tensor(row), target).data) for row in outputs])


def _minimum(f: Any, grid: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    finder = getattr(plots, "find_minimum", None)
    if finder is not None:
        m = finder(f, grid, values)
        return {"where": m.where, "at": to_json_value(m.at), "loss": to_json_value(m.loss)}
    finite = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(finite))
    if not 0 < i < len(grid) - 1 or not np.isfinite(finite[i - 1:i + 2]).all():
        return {"where": "edge", "at": float(grid[i]), "loss": to_json_value(finite[i])}
    a, b, c = finite[i - 1:i + 2]  # the parabola through the lowest grid point and its neighbours
    h = grid[1] - grid[0]
    bend = a - 2 * b + c
    at = float(grid[i] + (0.5 * h * (a - c) / bend if bend > 0 else 0.0))
    return {"where": "inside", "at": at, "loss": to_json_value(min(f(at), b))}


def snapshots(keep: list[int], most: int) -> list[int]:
    """Kept iterations to draw a snapshot at: all of them, or a subsample that keeps the ends."""
    return [keep[int(i)] for i in plots.subsample(len(keep), most)]


def _outputs(job: Job, params: dict[str, Any], inputs: np.ndarray) -> np.ndarray:
    _at(job, params)
    with no_grad(), np.errstate(all="ignore"):
        return np.asarray(job.net(Tensor(inputs, name="x")).data, dtype=float).reshape(len(inputs), -1)


def _batched(job: Job, rows: list[dict[str, Any]], x: np.ndarray) -> np.ndarray | None:
    """The outputs for many parameter settings in one forward pass, one row per setting.

    Networks of single-number parameters on one input broadcast: each parameter becomes a
    column of its values. The first row is checked against an ordinary forward pass; any other
    network (or any mismatch) answers None and is evaluated one setting at a time."""
    names = [n for n, _ in job.net.named_parameters()]
    if x.ndim != 1 or not rows or any(np.ndim(rows[0][n]) != 0 for n in names):
        return None
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    try:
        for name in names:
            job.net.parameter(name).data = np.array([r[name] for r in rows], dtype=float).reshape(-1, 1)
        with no_grad(), np.errstate(all="ignore"):
            out = np.asarray(job.net(Tensor(x, name="x")).data, dtype=float)
    except (ValueError, TypeError, IndexError):
        return None
    finally:
        for name, data in saved.items():  # put the shapes back as well as the values
            job.net.parameter(name).data = data
    if out.shape != (len(rows), len(x)):
        return None
    first = _outputs(job, rows[0], x)[:, 0]
    job.net.load_state_dict(saved)
    return out if np.allclose(out[0], first, rtol=1e-12, atol=1e-12, equal_nan=True) else None


def _drawn(values: np.ndarray) -> list[Any]:
    """A curve's points to draw, to five significant figures of its largest value (more than a
    screen shows); non-finite points become null or "Infinity" as in a trace."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        return to_json_value(values)
    top = float(np.max(np.abs(values))) if values.size else 0.0
    decimals = 5 - int(math.floor(math.log10(top))) if top > 0 else 0
    return np.round(values, max(0, decimals)).tolist()


def _prediction_grid(job: Job) -> tuple[np.ndarray, np.ndarray] | None:
    """The input range a prediction curve is drawn over, and the inputs to feed (one input, one output)."""
    x = np.asarray(job.x, dtype=float)
    if not (x.ndim == 1 or x.ndim == 2 and x.shape[1] == 1):
        return None
    flat = x.reshape(-1)
    pad = 0.1 * (np.ptp(flat) or 1.0)
    grid = np.linspace(flat.min() - pad, flat.max() + pad, PREDICTION_POINTS)
    return grid, grid if x.ndim == 1 else grid.reshape(-1, 1)


def predictions(job: Job, trace: Trace, keep: list[int]) -> dict[str, Any] | None:
    """The network's output over the input range at snapshots of the run (one input, one output)."""
    found = _prediction_grid(job)
    if found is None:
        return None
    grid, inputs = found
    snaps = snapshots(keep, PREDICTION_SNAPSHOTS)
    batched = _batched(job, [trace.iterations[i].params for i in snaps], inputs)
    rows = list(batched) if batched is not None else [_outputs(job, trace.iterations[i].params, inputs)[:, 0]
                                                      for i in snaps]
    curves = [_drawn(r) for r in rows]
    final = _drawn(_outputs(job, trace.final.params, inputs)[:, 0]) if trace.final else None
    return {"grid": to_json_value(grid), "iterations": [i + 1 for i in snaps], "curves": curves, "final": final}


def _boundary_grid(job: Job, loss: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The grid a decision boundary is drawn on (2-D classification only): its xs, ys and inputs."""
    x = np.asarray(job.x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2 or loss not in ("bce", "cross_entropy"):
        return None
    pad = 0.15 * np.ptp(x, axis=0)
    xs = np.linspace(x[:, 0].min() - pad[0], x[:, 0].max() + pad[0], BOUNDARY_SIDE)
    ys = np.linspace(x[:, 1].min() - pad[1], x[:, 1].max() + pad[1], BOUNDARY_SIDE)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])


def _boundary_values(job: Job, params: dict[str, Any], inputs: np.ndarray, loss: str) -> list[float]:
    """P(class 1) (or the class) in each cell of the grid."""
    out = _outputs(job, params, inputs)
    if loss == "bce":
        v = 1 / (1 + np.exp(-np.clip(out[:, 0], -60, 60)))
    else:
        v = np.argmax(out, axis=1).astype(float)
    return rounded(v, 3)  # a colour per cell: three decimals are plenty


def rounded(values: np.ndarray, decimals: int) -> list[float]:
    """``[round(v, decimals) for v in values]``, float for float, with NumPy: its rounding agrees with
    Python's wherever ``v × 10^decimals`` is not within a hair of a half, and those few (and any NaN)
    are left to Python's own ``round``, which rounds the exact decimal value."""
    values = np.asarray(values, dtype=float).ravel()
    scaled = values * 10.0 ** decimals
    out = np.round(values, decimals).tolist()
    for i in np.flatnonzero(~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6)).tolist():
        out[i] = round(float(values[i]), decimals)
    return out


def boundary(job: Job, trace: Trace, keep: list[int]) -> dict[str, Any] | None:
    """Decision-boundary snapshots for 2-D classification: P(class 1) (or the class) on a grid."""
    found = _boundary_grid(job, trace.loss)
    if found is None:
        return None
    xs, ys, inputs = found
    snaps = snapshots(keep, BOUNDARY_SNAPSHOTS)
    values = [_boundary_values(job, trace.iterations[i].params, inputs, trace.loss) for i in snaps]
    final = _boundary_values(job, trace.final.params, inputs, trace.loss) if trace.final else None
    return {"xs": to_json_value(xs), "ys": to_json_value(ys), "kind": "probability" if trace.loss == "bce" else "class",
            "iterations": [i + 1 for i in snaps], "values": values, "final": final}


def snapshot(job: Job, trace: Trace, k: int) -> dict[str, Any]:
    """Iteration k's (0-based) prediction curve or decision boundary, as ``predictions`` or ``boundary``
    would hold it, for a page that asks for an iteration its document does not keep."""
    params = trace.iterations[k].params
    found = _boundary_grid(job, trace.loss)
    if found is not None:
        return {"boundary": _boundary_values(job, params, found[2], trace.loss)}
    grid = _prediction_grid(job)
    if grid is not None:
        return {"prediction": _drawn(_outputs(job, params, grid[1])[:, 0])}
    return {}
