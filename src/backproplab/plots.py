"""The pictures a learner needs: loss curves, descent paths, predictions, networks.

Every function returns a matplotlib ``Figure`` (or draws into the ``ax=`` it is given), built
without pyplot, so it works headless, in scripts and papers, and displays in Jupyter. The
worked example fixes two colours: the loss curve is pink and the new predictions are green;
everything else uses the colour-blind-safe Okabe–Ito palette and viridis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backproplab.losses import get_loss
from backproplab.nn import Module
from backproplab.tensor import Tensor, no_grad
from backproplab.trace import Trace, scalar

PINK = "#ff69b4"  # the worked example's loss curve
GREEN = "#009e73"  # the worked example's new predictions
OKABE_ITO = {"black": "#000000", "orange": "#e69f00", "sky": "#56b4e9", "green": "#009e73",
             "yellow": "#f0e442", "blue": "#0072b2", "vermillion": "#d55e00", "purple": "#cc79a7"}
LOSS_LABELS = {"ssr": "SSR (sum of squared residuals)", "mse": "MSE (mean squared error)",
               "bce": "BCE (binary cross-entropy)", "cross_entropy": "cross-entropy"}
MAX_PATH_POINTS = 200  # larger runs are subsampled when drawn


def _figure(ax: Axes | None, size: tuple[float, float] = (6.4, 4.4)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


@contextmanager
def _values(model: Module, values: dict[str, Any] | None = None) -> Iterator[None]:
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
    with _values(model, values), no_grad():
        return float(get_loss(loss)(model(Tensor(x, name="x")), y).data)


def subsample(n: int, most: int = MAX_PATH_POINTS) -> np.ndarray:
    """Indices 0..n-1 thinned to at most ``most``, always keeping the first and last."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def _scalar_path(trace: Trace, name: str) -> np.ndarray:
    values = [scalar(v) for v in trace.values(name)]
    if any(v is None for v in values):
        raise ValueError(f"{name} is not a single number; loss curves are drawn for scalar parameters")
    return np.array(values)


def loss_curve(model: Module, x: Any, y: Any, param: str, *, loss: str = "ssr", trace: Trace | None = None,
               span: tuple[float, float] | None = None, points: int = 201, ax: Axes | None = None,
               label_steps: int = 6) -> Figure:
    """The loss against one parameter (pink), its minimum, the tangent at the start, and the steps.

    The tangent's slope is the gradient; each gradient-descent step is a numbered point with
    its step size, so the picture shows why steps shrink as the curve flattens.
    """
    p = model.parameter(param)
    if p.data.size != 1:
        raise ValueError(f"{param} is not a single number; choose a scalar parameter for a loss curve")
    start = float(p.data.reshape(-1)[0])
    path = _scalar_path(trace, param) if trace is not None else np.array([start])
    if trace is not None and trace.iterations:
        start = path[0]
    if span is None:
        lo, hi = float(min(path.min(), start)), float(max(path.max(), start))
        margin = max(0.5 * (hi - lo), 1.0)
        span = (lo - margin, hi + margin)
    grid = np.linspace(span[0], span[1], points)
    curve = np.array([loss_at(model, x, y, loss, **{param: v}) for v in grid])
    fig, ax = _figure(ax)
    name = LOSS_LABELS.get(loss, loss)
    short = name.split(" ")[0]
    ax.plot(grid, curve, color=PINK, lw=2.5, label=f"{short} as {param} varies", gid="loss-curve")
    best = int(np.argmin(curve))
    ax.plot(grid[best], curve[best], marker="*", ms=14, color=OKABE_ITO["black"], ls="none",
            label=f"lowest point: {param} ≈ {grid[best]:.2f}", gid="minimum")
    start_loss = loss_at(model, x, y, loss, **{param: start})
    slope = _slope(model, x, y, loss, param, start)
    half = 0.12 * (span[1] - span[0])
    ts = np.array([start - half, start + half])
    ax.plot(ts, start_loss + slope * (ts - start), color=OKABE_ITO["blue"], lw=1.5, ls="--",
            label=f"tangent at {param} = {start:.2f} (slope = gradient = {slope:.2f})", gid="tangent")
    if trace is not None and trace.iterations:
        losses = np.array(trace.losses())
        keep = subsample(len(path))
        ax.plot(path[keep], losses[keep], color=OKABE_ITO["vermillion"], marker="o", ms=5, lw=1,
                label="gradient-descent steps", gid="descent-path")
        last_x = -np.inf
        for k in range(min(label_steps, len(trace.iterations))):
            if abs(path[k] - last_x) < 0.08 * (span[1] - span[0]):
                continue  # too close to the previous label to read
            last_x = path[k]
            step = scalar(trace.iterations[k].step_sizes.get(param, 0.0))
            ax.annotate(f"{k + 1}: step {step:+.2f}", (path[k], losses[k]), textcoords="offset points",
                        xytext=(6, 8), fontsize=8, color=OKABE_ITO["vermillion"])
    ax.set_xlabel(f"{param} (parameter value)")
    ax.set_ylabel(name)
    ax.set_title(f"{short} as a function of {param}")
    ax.set_ylim(min(curve.min(), 0) - 0.05 * np.ptp(curve), curve.max() + 0.1 * np.ptp(curve) + 1e-12)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def _slope(model: Module, x: Any, y: Any, loss: str, param: str, value: float) -> float:
    with _values(model, {param: value}):
        p = model.parameter(param)
        flag, p.grad, p.requires_grad = p.requires_grad, None, True
        try:
            get_loss(loss)(model(Tensor(x, name="x")), y).backward()
            return scalar(p.grad)
        finally:
            p.requires_grad, p.grad = flag, None


def _curve_inputs(x: Any, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    if x.ndim == 2 and x.shape[1] != 1 or x.ndim > 2:
        raise ValueError("prediction curves need one input per sample; use decision_boundary for 2-D inputs")
    flat = x.reshape(-1)
    pad = 0.1 * (np.ptp(flat) or 1.0)
    grid = np.linspace(flat.min() - pad, flat.max() + pad, points)
    return grid, grid.reshape(-1, 1) if x.ndim == 2 else grid


def _predict(model: Module, inputs: np.ndarray, values: dict[str, Any] | None = None) -> np.ndarray:
    with _values(model, values), no_grad():
        return np.asarray(model(Tensor(inputs, name="x")).data, dtype=float).reshape(len(inputs), -1)[:, 0]


def predictions(model: Module, x: Any, y: Any, *, trace: Trace | None = None, step: int = 0,
                ax: Axes | None = None, x_label: str = "x", y_label: str = "y") -> Figure:
    """The network's output over the input range before a step (grey) and after it (green)."""
    fig, ax = _figure(ax)
    grid, inputs = _curve_inputs(x)
    if trace is not None and trace.iterations:
        if not 0 <= step < len(trace.iterations):
            raise ValueError(f"step must be between 0 and {len(trace.iterations) - 1}, got {step}")
        before = trace.iterations[step].params
        after = trace.iterations[step + 1].params if step + 1 < len(trace.iterations) else trace.final.params
        ax.plot(grid, _predict(model, inputs, before), color="0.55", lw=2, ls="--",
                label=f"before step {step + 1}", gid="before")
        ax.plot(grid, _predict(model, inputs, after), color=GREEN, lw=2.5, label=f"after step {step + 1}",
                gid="after")
    else:
        ax.plot(grid, _predict(model, inputs), color=GREEN, lw=2.5, label="predictions", gid="after")
    ax.plot(np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1), "o",
            color=OKABE_ITO["black"], ms=8, label="observed data", gid="data")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title("Predictions before and after a gradient-descent step" if trace else "Predictions")
    ax.legend(fontsize=8)
    return fig


def loss_history(trace: Trace, *, log: bool = False, ax: Axes | None = None) -> Figure:
    """The loss at every iteration (log scale on request)."""
    fig, ax = _figure(ax)
    losses = np.array(trace.losses())
    keep = subsample(len(losses), 2000)
    ax.plot(keep, losses[keep], color=OKABE_ITO["blue"], lw=2, gid="loss-history")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(LOSS_LABELS.get(trace.loss, trace.loss) + (" (log scale)" if log else ""))
    ax.set_title(f"Loss per iteration ({trace.final.stopped_by.replace('_', ' ')} after {trace.final.steps} steps)"
                 if trace.final else "Loss per iteration")
    return fig


def loss_contour(model: Module, x: Any, y: Any, params: Sequence[str], *, loss: str = "ssr",
                 trace: Trace | None = None, points: int = 60, ax: Axes | None = None) -> Figure:
    """A contour map of the loss over two parameters, with the descent path drawn on it."""
    if len(params) != 2:
        raise ValueError(f"a contour map needs exactly two parameters, got {list(params)}")
    a, b = params
    for name in params:
        if model.parameter(name).data.size != 1:
            raise ValueError(f"{name} is not a single number; contour maps take scalar parameters")
    path_a = _scalar_path(trace, a) if trace else np.array([model.parameter(a).item()])
    path_b = _scalar_path(trace, b) if trace else np.array([model.parameter(b).item()])
    spans = []
    for path in (path_a, path_b):
        lo, hi = path.min(), path.max()
        margin = max(0.4 * (hi - lo), 1.0)
        spans.append(np.linspace(lo - margin, hi + margin, points))
    ga, gb = np.meshgrid(*spans)
    base = {a: path_a[0], b: path_b[0]} if trace else {}
    with _values(model, base):
        z = np.array([[loss_at(model, x, y, loss, **{a: va, b: vb}) for va, vb in zip(ra, rb)]
                      for ra, rb in zip(ga, gb)])
    fig, ax = _figure(ax, (6.4, 5.2))
    filled = ax.contourf(ga, gb, z, levels=30, cmap="viridis")
    ax.contour(ga, gb, z, levels=12, colors="white", linewidths=0.5, alpha=0.6)
    fig.colorbar(filled, ax=ax, label=LOSS_LABELS.get(loss, loss))
    keep = subsample(len(path_a))
    ax.plot(path_a[keep], path_b[keep], color=OKABE_ITO["orange"], marker="o", ms=3, lw=1.5,
            label="gradient-descent path", gid="descent-path")
    ax.plot(path_a[0], path_b[0], marker="s", color="white", mec="black", ls="none", label="start")
    ax.plot(path_a[-1], path_b[-1], marker="*", ms=13, color=OKABE_ITO["orange"], mec="black", ls="none",
            label="end")
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    ax.set_title(f"Loss over {a} and {b}")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def network_diagram(model: Module, *, ax: Axes | None = None, values: bool | None = None) -> Figure:
    """Neurons as circles and weights as edges: thickness by size, colour by sign."""
    layers = model.layer_weights() if hasattr(model, "layer_weights") else None
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer structure to draw; network diagrams are for "
                         "MLP-style networks")
    sizes = [layers[0][0].shape[0]] + [w.shape[1] for w, _ in layers]
    fig, ax = _figure(ax, (1.8 + 1.8 * len(sizes), 1.2 + 0.9 * max(sizes)))
    ys = [np.linspace(1, 0, n) if n > 1 else np.array([0.5]) for n in sizes]  # first unit on top
    biggest = max(float(np.abs(w).max()) for w, _ in layers) or 1.0
    edges = sum(w.size for w, _ in layers)
    show = values if values is not None else edges <= 24
    for li, (w, _b) in enumerate(layers):
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                v = float(w[i, j])
                color = OKABE_ITO["blue"] if v >= 0 else OKABE_ITO["vermillion"]
                ax.plot([li, li + 1], [ys[li][i], ys[li + 1][j]], color=color, lw=0.5 + 4 * abs(v) / biggest,
                        alpha=0.8, gid="edge", zorder=1)
                if show:
                    t = 0.3 if li % 2 == 0 else 0.7
                    ax.text(li + t, ys[li][i] + t * (ys[li + 1][j] - ys[li][i]), f"{v:.2f}", fontsize=7,
                            ha="center", va="center", bbox={"fc": "white", "ec": "none", "pad": 0.5}, zorder=3)
    for li, column in enumerate(ys):
        bias = layers[li - 1][1] if li > 0 else None
        for i, yy in enumerate(column):
            ax.scatter([li], [yy], s=500, color="white", edgecolors="black", zorder=2, gid="neuron")
            if bias is not None and show:
                ax.text(li, yy, f"{float(bias[i]):.2f}", fontsize=7, ha="center", va="center", zorder=4)
    ax.set_xticks(range(len(sizes)), ["input"] + [f"layer {k}" for k in range(1, len(sizes))])
    ax.set_yticks([])
    ax.set_xlim(-0.4, len(sizes) - 0.6)
    ax.set_ylim(-0.15, 1.15)
    ax.set_title("Network: edge width = |weight|, blue positive, vermillion negative"
                 + ("; biases in the nodes" if show else ""), fontsize=9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def decision_boundary(model: Module, X: Any, y: Any, *, points: int = 150, threshold: float = 0.0,
                      ax: Axes | None = None) -> Figure:
    """For 2-D classification data: the predicted class over the plane, and the data.

    A single output is split at ``threshold``: 0 for logits (BCE), 0.5 for outputs trained
    towards 0/1 targets with MSE. Several outputs: the largest wins.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision boundaries need 2-D inputs of shape (n, 2), got {X.shape}")
    pad = 0.15 * np.ptp(X, axis=0)
    gx, gy = np.meshgrid(*(np.linspace(X[:, k].min() - pad[k], X[:, k].max() + pad[k], points) for k in (0, 1)))
    with no_grad():
        out = np.asarray(model(Tensor(np.column_stack([gx.ravel(), gy.ravel()]), name="x")).data, dtype=float)
    out = out.reshape(len(gx.ravel()), -1)
    score = out[:, 0] if out.shape[1] == 1 else np.argmax(out, axis=1).astype(float)
    fig, ax = _figure(ax, (5.6, 5.0))
    levels = [-np.inf, threshold, np.inf] if out.shape[1] == 1 else np.arange(-0.5, out.shape[1] + 0.5)
    colors = [OKABE_ITO["sky"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"]]
    ax.contourf(gx, gy, score.reshape(gx.shape), levels=levels, colors=colors[: len(levels) - 1], alpha=0.35)
    for k, marker in zip(np.unique(labels), "os^D"):
        mask = labels == k
        ax.scatter(X[mask, 0], X[mask, 1], marker=marker, s=22, color=colors[int(k) % 4], edgecolors="black",
                   linewidths=0.5, label=f"class {int(k) if float(k).is_integer() else k}", gid="data")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title("Decision boundary")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def animate_descent(model: Module, x: Any, y: Any, trace: Trace, param: str, path: str, *, loss: str = "ssr",
                    fps: int = 3, most_frames: int = 60) -> int:
    """A GIF (or MP4, if ffmpeg is installed and the path ends in .mp4) of the descent.

    Left: the point moving down the loss curve. Right: the predictions moving toward the data.
    Returns the number of frames written.
    """
    from matplotlib import animation

    if path.endswith(".mp4") and not animation.FFMpegWriter.isAvailable():
        raise ValueError("MP4 needs ffmpeg, which is not installed; write a .gif instead (no ffmpeg needed)")
    values = _scalar_path(trace, param)
    frames = subsample(len(values), most_frames)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    loss_curve(model, x, y, param, loss=loss, trace=None, ax=left,
               span=(values.min() - max(0.5 * np.ptp(values), 1), values.max() + max(0.5 * np.ptp(values), 1)))
    losses = np.array(trace.losses())
    (point,) = left.plot([], [], "o", color=OKABE_ITO["vermillion"], ms=10, gid="moving-point")
    grid, inputs = _curve_inputs(x)
    right.plot(np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1), "o",
               color=OKABE_ITO["black"], ms=8, label="observed data")
    params_at = [it.params for it in trace.iterations] + [trace.final.params]
    curves = [_predict(model, inputs, params_at[k]) for k in frames]
    (line,) = right.plot(grid, curves[0], color=GREEN, lw=2.5, label="predictions")
    lo, hi = min(c.min() for c in curves), max(c.max() for c in curves)
    right.set_ylim(min(lo, np.min(y)) - 0.2, max(hi, np.max(y)) + 0.2)
    right.set_xlabel("x")
    right.set_ylabel("prediction")
    right.legend(fontsize=8, loc="upper right")
    title = right.set_title("")

    def draw(n: int) -> tuple:
        k = frames[n]
        point.set_data([values[k]], [losses[k]])
        line.set_ydata(curves[n])
        title.set_text(f"step {k}: {param} = {values[k]:.3f}")
        return point, line, title

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    if path.endswith(".mp4"):
        anim.save(path, writer=animation.FFMpegWriter(fps=fps))
    else:
        anim.save(path, writer=animation.PillowWriter(fps=fps))
    return len(frames)
