"""Figures: they render without warnings, are not blank, and show exactly the trace's data."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

import backproplab as bl
from backproplab import datasets, plots
from backproplab.optim import Adam
from tests.figure_helpers import fitted, no_warnings  # noqa: F401 - no_warnings applies to every test here


def pixels(fig) -> np.ndarray:
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)


def assert_not_blank(fig):
    img = pixels(fig)
    assert img.std() > 10, "the figure looks blank"


def line(ax, gid):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert found, f"no line with gid {gid}"
    return found[0]


def test_loss_curve_is_pink_has_the_minimum_the_tangent_and_the_steps():
    net, x, y, trace = fitted()
    fig = plots.loss_curve(net, x, y, "b3", trace=trace)
    ax = fig.axes[0]
    assert_not_blank(fig)
    curve = line(ax, "loss-curve")
    assert curve.get_color() == plots.PINK
    np.testing.assert_array_equal(line(ax, "descent-path").get_xdata(), trace.values("b3"))
    np.testing.assert_array_equal(line(ax, "descent-path").get_ydata(), trace.losses())
    minimum = line(ax, "minimum").get_xdata()[0]
    assert abs(minimum - trace.final.params["b3"]) <= 1e-3  # the run stops within min_step of it
    tangent = line(ax, "tangent")
    (x0, x1), (y0, y1) = tangent.get_xdata(), tangent.get_ydata()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(trace.iterations[0].gradients["b3"], rel=1e-9)
    assert ax.get_xlabel().startswith("b3") and ax.get_ylabel().startswith("SSR") and "b3" in ax.get_title()
    assert net.b3.item() == trace.iterations[0].params["b3"], "drawing must not change the network"


def test_predictions_before_and_after_a_step_green():
    net, x, y, trace = fitted()
    fig = plots.predictions(net, x, y, trace=trace, iteration=1)
    ax = fig.axes[0]
    assert_not_blank(fig)
    after = line(ax, "after")
    assert after.get_color() == plots.GREEN
    grid = after.get_xdata()
    # After step 1 every prediction moved up by the step (b3 is a plain offset).
    shift = after.get_ydata() - line(ax, "before").get_ydata()
    np.testing.assert_allclose(shift, -trace.iterations[0].step_sizes["b3"], rtol=1e-12)
    assert grid.min() < 0 and grid.max() > 1
    np.testing.assert_array_equal(line(ax, "data").get_ydata(), y)
    with pytest.raises(ValueError, match="iteration must be between"):
        plots.predictions(net, x, y, trace=trace, iteration=99)


def test_loss_history_and_log_scale():
    _, _, _, trace = fitted()
    fig = plots.loss_history(trace, log=True)
    assert fig.axes[0].get_yscale() == "log"
    history = line(fig.axes[0], "loss-history")
    np.testing.assert_array_equal(history.get_ydata(), trace.losses())
    assert list(history.get_xdata()) == list(range(1, len(trace.losses()) + 1)), "iterations count from 1"
    assert_not_blank(fig)


def test_contour_with_the_descent_path():
    net, x, y, trace = fitted(("w3", "b3"), lr=0.05, max_steps=50)
    fig = plots.loss_contour(net, x, y, ("w3", "b3"), trace=trace, points=25)
    path = line(fig.axes[0], "descent-path")
    np.testing.assert_array_equal(path.get_xdata(), trace.values("w3"))
    np.testing.assert_array_equal(path.get_ydata(), trace.values("b3"))
    assert_not_blank(fig)
    with pytest.raises(ValueError, match="exactly two"):
        plots.loss_contour(net, x, y, ("w3",))


def test_size_is_as_asked_and_axes_can_be_passed_in():
    from matplotlib.figure import Figure

    net, x, y, trace = fitted()
    fig = Figure(figsize=(8, 3), dpi=50)
    axes = fig.subplots(1, 2)
    assert plots.loss_curve(net, x, y, "b3", trace=trace, ax=axes[0]) is fig
    plots.loss_history(trace, ax=axes[1])
    assert pixels(fig).shape[:2] == (150, 400)


def test_large_runs_are_subsampled():
    net, x, y, trace = fitted(("b3",), lr=0.001, max_steps=3000, min_step=0)
    fig = plots.loss_curve(net, x, y, "b3", trace=trace)
    drawn = line(fig.axes[0], "descent-path").get_xdata()
    assert len(drawn) <= plots.MAX_PATH_POINTS and drawn[0] == trace.values("b3")[0]
    assert drawn[-1] == trace.values("b3")[-1]


def test_network_diagram_edges_and_neurons():
    net, *_ = fitted()
    fig = plots.network_diagram(net)
    ax = fig.axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_gid() == "edge"]) == 4
    assert len([c for c in ax.patches if c.get_gid() == "neuron"]) == 4
    mlp = bl.MLP([3, 5, 2])
    assert len([ln for ln in plots.network_diagram(mlp).axes[0].get_lines() if ln.get_gid() == "edge"]) == 25
    with pytest.raises(ValueError, match="no layer structure"):
        plots.network_diagram(bl.nn.Module())


@pytest.mark.parametrize("name", ["moons", "circles", "xor", "spiral"])
def test_decision_boundary_on_generated_datasets(name):
    X, y = datasets.make(name, n=60, seed=1)
    assert X.shape == (60, 2) and set(np.unique(y)) == {0, 1}
    net = bl.MLP([2, 8, 1], "tanh", seed=0)
    Adam(net.parameters(), lr=0.05).fit(net, X, y.astype(float), loss="bce", max_steps=30, min_step=0)
    fig = plots.decision_boundary(net, X, y)
    assert_not_blank(fig)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections if c.get_gid() == "data") == 60
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plots.decision_boundary(net, np.zeros((3, 3)), [0, 1, 0])


def test_datasets_are_reproducible_and_checked():
    a, b = datasets.make("spiral", n=40, seed=3), datasets.make("spiral", n=40, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="did you mean 'moons'"):
        datasets.make("moon")


def test_animation_gif_has_one_frame_per_step(tmp_path):
    net, x, y, trace = fitted()
    path = tmp_path / "descent.gif"
    frames = plots.animate_descent(net, x, y, trace, "b3", str(path))
    assert frames == len(trace.iterations) + 1
    with Image.open(path) as gif:
        assert gif.n_frames == frames


def test_mp4_needs_ffmpeg_or_says_so(tmp_path):
    from matplotlib import animation

    net, x, y, trace = fitted()
    path = tmp_path / "descent.mp4"
    if animation.FFMpegWriter.isAvailable():
        assert plots.animate_descent(net, x, y, trace, "b3", str(path)) > 1 and path.stat().st_size > 0
    else:
        with pytest.raises(ValueError, match="MP4 needs ffmpeg"):
            plots.animate_descent(net, x, y, trace, "b3", str(path))


def test_prediction_curves_need_one_input():
    net = bl.MLP([2, 3, 1])
    with pytest.raises(ValueError, match="one input per sample"):
        plots.predictions(net, np.zeros((4, 2)), np.zeros(4))
