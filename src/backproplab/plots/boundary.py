"""Decision boundaries for 2-D classification data: the predicted class over the plane."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.plots.base import OKABE_ITO, FigureError, figure_for
from backproplab.util.numbers import number

# class 0, 1, 2, 3: the regions and the points of a decision boundary (the lesson page's heat map uses the same)
CLASS_COLOURS = (OKABE_ITO["sky"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"])


def _boundary_line(ax: Axes, gx: np.ndarray, gy: np.ndarray, score: np.ndarray, threshold: float | None,
                   classes: int) -> None:
    """The line where the prediction changes class: the output at ``threshold`` (logit 0: p̂ = 0.5),
    or, with several outputs, where the largest one changes."""
    levels = [threshold] if threshold is not None else list(np.arange(0.5, classes - 0.5))
    if not levels or np.all(score > max(levels)) or np.all(score < min(levels)):
        return  # one class everywhere: no line to draw
    lines = ax.contour(gx, gy, score, levels=levels, colors=OKABE_ITO["black"], linewidths=2)
    lines.set_gid("boundary")
    what = ("logit 0, p̂ = 0.5" if threshold == 0 else f"output = {number(threshold)}") if threshold is not None \
        else "where the largest output changes"
    ax.plot([], [], color=OKABE_ITO["black"], lw=2, label=f"decision boundary ({what})", gid="boundary-key")


def decision_boundary(model: Module, X: Any, y: Any, *, points: int = 150, threshold: float = 0.0,
                      ax: Axes | None = None, x_label: str = "x₁", y_label: str = "x₂") -> Figure:
    """For 2-D classification data: the predicted class over the plane, and the data.

    A single output is split at ``threshold``: 0 for logits (BCE), 0.5 for outputs trained
    towards 0/1 targets with MSE. Several outputs: the largest wins.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise FigureError(f"decision boundaries need 2-D inputs of shape (n, 2), got {X.shape}")
    pad = 0.15 * np.ptp(X, axis=0)
    gx, gy = np.meshgrid(*(np.linspace(X[:, k].min() - pad[k], X[:, k].max() + pad[k], points) for k in (0, 1)))
    with no_grad():
        out = np.asarray(model(Tensor(np.column_stack([gx.ravel(), gy.ravel()]), name="x")).data, dtype=float)
    out = out.reshape(len(gx.ravel()), -1)
    score = out[:, 0] if out.shape[1] == 1 else np.argmax(out, axis=1).astype(float)
    fig, ax = figure_for(ax, (5.6, 5.0))
    levels = [-np.inf, threshold, np.inf] if out.shape[1] == 1 else np.arange(-0.5, out.shape[1] + 0.5)
    colors = list(CLASS_COLOURS)
    ax.contourf(gx, gy, score.reshape(gx.shape), levels=levels, colors=colors[: len(levels) - 1], alpha=0.35)
    _boundary_line(ax, gx, gy, score.reshape(gx.shape), threshold if out.shape[1] == 1 else None, out.shape[1])
    for k, marker in zip(np.unique(labels), "os^D"):
        mask = labels == k
        ax.scatter(X[mask, 0], X[mask, 1], marker=marker, s=22, color=colors[int(k) % 4], edgecolors="black",
                   linewidths=0.5, label=f"class {int(k) if float(k).is_integer() else k}", gid="data")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title("Decision boundary")
    ax.legend(fontsize=8, loc="upper right")
    return fig
