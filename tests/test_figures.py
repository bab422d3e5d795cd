"""What a reader sees on the figures is true: the marked minimum is the minimum, points lie on
their curves, slices say what they hold, labels do not overlap, every figure gets a file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure
from matplotlib.text import Text

import backproplab as bl
from backproplab import plots
from backproplab.explain.dot import to_dot
from backproplab.plots import figures
from backproplab.plots.minimum import find_minimum
from backproplab.plots.network import layout_data, network_layout
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import read
from backproplab.train.trace import Trace
from tests.conftest import assert_clean_error, cli
from tests.figure_helpers import fitted, no_warnings  # noqa: F401 - no_warnings applies to every test here


def lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def line(ax, gid):
    found = lines(ax, gid)
    assert found, f"no line with gid {gid}"
    return found[0]


def best_b3(net, x, y, values=None):
    """The oracle: SSR is quadratic in b3, so the best b3 is the mean of y − (ŷ − b3)."""
    with plots.base.values_set(net, {**(values or {}), "b3": 0.0}):
        rest = np.asarray(net(bl.Tensor(x)).data)
    return float(np.mean(np.asarray(y) - rest))


def minimum_text(ax) -> str:
    return " ".join(ln.get_label() for ln in ax.get_lines() if ln.get_gid() in ("minimum", "minimum-note"))


def test_default_loss_curve_marks_the_true_minimum_inside_its_span():
    net, (x, y) = bl.presets.statquest()
    ax = plots.loss_curve(net, x, y, "b3").axes[0]
    at = line(ax, "minimum").get_xdata()[0]
    assert at == pytest.approx(best_b3(net, x, y), abs=1e-6)
    assert abs(at - 2.609) < 1e-3 and "2.609" in minimum_text(ax)
    lo, hi = ax.get_xlim()
    assert lo < at < hi and (at - lo) > 0.1 * (hi - lo) and (hi - at) > 0.1 * (hi - lo), "not at an edge"


@pytest.mark.parametrize("lr", [0.3, 0.5])
def test_minimum_after_other_learning_rates_and_a_diverged_run(lr):
    net, x, y, trace = fitted(lr=lr)
    if lr == 0.5:
        assert trace.final.stopped_by == "diverged"
    ax = plots.loss_curve(net, x, y, "b3", trace=trace).axes[0]
    assert line(ax, "minimum").get_xdata()[0] == pytest.approx(best_b3(net, x, y), abs=1e-4)
    assert "2.609" in minimum_text(ax)
    if lr == 0.5:
        assert "27356" not in minimum_text(ax)


def test_a_minimum_outside_the_span_is_named_not_marked_at_the_edge():
    net, (x, y) = bl.presets.statquest()
    ax = plots.loss_curve(net, x, y, "b3", span=(-1, 1)).axes[0]
    assert not lines(ax, "minimum"), "an edge must not be marked as the minimum"
    text = minimum_text(ax)
    assert "outside" in text and "2.609" in text
    assert ax.get_xlim() == (-1, 1)


def test_no_minimum_when_the_loss_only_levels_off():
    class Logit(bl.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = bl.nn.Parameter(0.0, "w")

        def forward(self, x):
            return self.w * x

    net, x, y = Logit(), np.array([1.0, 2.0]), np.array([1.0, 1.0])
    ax = plots.loss_curve(net, x, y, "w", loss="bce").axes[0]
    assert not lines(ax, "minimum")
    assert "no lowest point" in minimum_text(ax) and "grows" in minimum_text(ax)


def test_slice_of_an_all_parameter_run_holds_the_others_and_draws_the_run_apart():
    net, x, y, trace = fitted(tuple(n for n, _ in bl.presets.statquest()[0].named_parameters()), max_steps=40)
    for k in (1, 5):
        ax = plots.loss_curve(net, x, y, "w1", trace=trace, iteration=k).axes[0]
        title = ax.get_title()
        assert f"iteration {k}" in title and all(n in title for n in ("b1", "w2", "b2", "w3", "w4", "b3"))
        curve = line(ax, "loss-curve")
        point = line(ax, "shown-point")
        on = np.interp(point.get_xdata(), curve.get_xdata(), curve.get_ydata())
        np.testing.assert_allclose(point.get_ydata(), on, rtol=1e-9)
        assert point.get_xdata()[0] == trace.values("w1")[k - 1]
        assert not lines(ax, "descent-path"), "the run's loss is not on this slice"
        np.testing.assert_array_equal(line(ax, "path-loss").get_ydata(), trace.losses())
        assert "moving" in line(ax, "path-loss").get_label()
        tangent = line(ax, "tangent")
        (x0, x1), (y0, y1) = tangent.get_xdata(), tangent.get_ydata()
        assert (y1 - y0) / (x1 - x0) == pytest.approx(trace.iterations[k - 1].gradients["w1"], rel=1e-9)
        assert (x0 + x1) / 2 == pytest.approx(point.get_xdata()[0]) and (y0 + y1) / 2 == pytest.approx(on[0])
        if lines(ax, "minimum"):  # a marked minimum of the slice is its lowest point (dense oracle)
            m = line(ax, "minimum")
            dense = np.linspace(*ax.get_xlim(), 4001)
            with plots.base.values_set(net, trace.iterations[k - 1].params):
                low = min(plots.loss_at(net, x, y, "ssr", w1=v) for v in dense)
            assert m.get_ydata()[0] <= low + 1e-9
        else:
            assert "no lowest point" in minimum_text(ax) or "outside" in minimum_text(ax)


def test_points_drawn_on_the_curve_lie_on_it_and_the_tangent_is_at_the_iteration_shown():
    net, x, y, trace = fitted()
    ax = plots.loss_curve(net, x, y, "b3", trace=trace, iteration=3).axes[0]
    curve, path = line(ax, "loss-curve"), line(ax, "descent-path")
    on = np.interp(path.get_xdata(), curve.get_xdata(), curve.get_ydata())
    np.testing.assert_allclose(path.get_ydata(), on, rtol=1e-9)
    m = line(ax, "minimum")
    np.testing.assert_allclose(m.get_ydata(), np.interp(m.get_xdata(), curve.get_xdata(), curve.get_ydata()))
    (x0, x1), (y0, y1) = line(ax, "tangent").get_xdata(), line(ax, "tangent").get_ydata()
    assert (x0 + x1) / 2 == pytest.approx(trace.values("b3")[2])
    assert (y1 - y0) / (x1 - x0) == pytest.approx(trace.iterations[2].gradients["b3"], rel=1e-9)
    assert "iteration 3" in line(ax, "tangent").get_label()
    assert "not trained" in ax.get_title() and "w1" in ax.get_title()


def test_curve_only_and_span_options():
    net, x, y, trace = fitted()
    ax = plots.loss_curve(net, x, y, "b3", trace=trace, steps=False, tangent=False, span=(-2, 5)).axes[0]
    assert not lines(ax, "descent-path") and not lines(ax, "tangent") and not ax.texts
    assert line(ax, "minimum") and ax.get_xlim() == (-2, 5)
    assert line(ax, "loss-curve").get_xdata()[[0, -1]].tolist() == [-2, 5]


def _boxes_of_markers(ax, gid):
    out = []
    for ln in lines(ax, gid):
        half = ln.get_markersize() * ax.figure.dpi / 72 / 2
        for px, py in ax.transData.transform(np.column_stack([ln.get_xdata(), ln.get_ydata()])):
            out.append((px - half, py - half, px + half, py + half))
    return out


def text_box(note):
    """The box of an annotation's text alone (without its leader line)."""
    note.get_window_extent()  # places the text
    return Text.get_window_extent(note)


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("lr,steps", [(0.1, None), (0.02, 400)])
def test_step_labels_overlap_nothing(lr, steps):
    net, x, y, trace = fitted(lr=lr, **({"max_steps": steps} if steps else {}))
    fig = plots.loss_curve(net, x, y, "b3", trace=trace, label_steps=20)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "step-label"]
    assert len(labels) >= 2
    boxes = [tuple(text_box(t).extents) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), "two step labels overlap"
        for b in _boxes_of_markers(ax, "descent-path") + _boxes_of_markers(ax, "minimum"):
            assert not _overlap(a, b), "a step label covers a marker"


def test_contour_says_what_it_holds_and_when_its_parameters_are_not_trained():
    net, x, y, trace = fitted()
    ax = plots.loss_contour(net, x, y, ("w3", "w4"), trace=trace, points=12).axes[0]
    assert "not trained" in ax.get_title() and "single point" in ax.get_title()
    net, x, y, trace = fitted(("w1", "w3", "b3"), max_steps=30)
    ax = plots.loss_contour(net, x, y, ("w3", "b3"), trace=trace, points=12).axes[0]
    assert "w1" in ax.get_title() and "after iteration 30" in ax.get_title()
    marks = [c for c in ax.collections if c.get_gid() == "path-loss"]
    assert marks and "true loss" in marks[0].get_label()
    np.testing.assert_allclose(marks[0].get_array(), trace.losses())


def test_residuals_predictions_series_and_final_fit():
    net, x, y, trace = fitted()
    labels = {"x_label": "dosage", "y_label": "efficacy"}
    ax = plots.residuals(net, x, y, trace=trace, **labels).axes[0]
    fitted_y = np.asarray(net(bl.Tensor(x)).data)
    for r, xi, yi, fi in zip(lines(ax, "residual"), x, y, fitted_y):
        assert list(r.get_xdata()) == [xi, xi] and r.get_ydata()[0] == yi
        assert r.get_ydata()[1] == pytest.approx(fi)
    assert line(ax, "predictions").get_color() != plots.GREEN and ax.get_xlabel() == "dosage"
    assert "iteration 1" in ax.get_title() and "20.4" in ax.get_title()
    ax = plots.predictions(net, x, y, trace=trace, iteration=2, **labels).axes[0]
    assert line(ax, "after").get_color() == plots.GREEN and line(ax, "before").get_color() == plots.DARK
    assert "iteration 2" in line(ax, "before").get_label() and "iteration 3" in line(ax, "after").get_label()
    ax = plots.fit_series(net, x, y, trace, **labels).axes[0]
    greens = [ln for ln in ax.get_lines() if ln.get_gid().startswith("iteration-")]
    assert len(greens) == len(trace.iterations) and all(ln.get_color() == plots.GREEN for ln in greens)
    alphas = [ln.get_alpha() for ln in greens]
    assert alphas == sorted(alphas) and alphas[0] < alphas[-1]
    with plots.base.values_set(net, trace.final.params):
        end = np.asarray(net(bl.Tensor(greens[-1].get_xdata())).data)
    np.testing.assert_allclose(greens[-1].get_ydata(), end)
    ax = plots.final_fit(net, x, y, trace, **labels).axes[0]
    assert "6.3e−5" in ax.get_title() and line(ax, "final").get_color() == plots.GREEN


def test_animation_frames_count_from_1_and_the_tangent_moves_with_the_point():
    net, x, y, trace = fitted()
    fig, draw, count = plots.fits.descent_frames(net, x, y, trace, "b3", x_label="dosage", y_label="efficacy")
    left, right = fig.axes
    assert right.get_xlabel() == "dosage" and right.get_ylabel() == "efficacy"
    draw(0)
    assert right.get_title() == "iteration 1: b3 = 0.00"
    draw(2)
    assert right.get_title() == "iteration 3: b3 = 2.19"
    point, tangent = line(left, "moving-point"), line(left, "tangent")
    assert np.mean(tangent.get_xdata()) == pytest.approx(point.get_xdata()[0])
    assert np.mean(tangent.get_ydata()) == pytest.approx(point.get_ydata()[0])
    draw(count - 1)
    assert right.get_title().startswith("the end (after iteration 12)")


def test_network_diagram_labels_every_node_and_weight_clear_of_the_circles():
    net, x, y, trace = fitted()
    fig = plots.network_diagram(net, when="starting values (iteration 1)")
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = {t.get_gid(): [] for t in ax.texts}
    for t in ax.texts:
        texts[t.get_gid()].append(t)
    assert sorted(t.get_text() for t in texts["node-name"]) == ["h1", "h2", "x", "ŷ"]
    assert sum("softplus" in t.get_text() for t in texts["node-note"]) == 2
    assert sorted(t.get_text() for t in texts["column-title"]) == ["hidden", "input", "output"]
    edge_labels = sorted(t.get_text() for t in texts["edge-label"])
    assert edge_labels == ["w1 = 3.34", "w2 = −3.53", "w3 = −1.22", "w4 = −2.30"]
    assert "starting values" in ax.get_title()
    circles = [p.get_window_extent() for p in ax.patches if p.get_gid() == "neuron"]
    for t in texts["edge-label"]:
        box = t.get_window_extent()
        assert not any(box.overlaps(c) for c in circles), f"{t.get_text()} touches a circle"


def test_a_spec_from_the_preset_draws_the_same_network(tmp_path):
    path = tmp_path / "mynet.toml"
    path.write_text(PRESETS["statquest"].text)
    spec_net, _ = read(path).build()
    preset_net, _ = PRESETS["statquest"].build()
    assert type(spec_net) is not type(preset_net)
    assert layout_data(network_layout(spec_net)) == layout_data(network_layout(preset_net))
    hints = figures.hints_for_spec(read(path))
    assert (hints.x_label, hints.y_label, hints.contour) == ("dosage", "efficacy", ("w3", "b3"))


def test_wide_layers_show_a_few_units_and_say_how_many_more():
    fig = plots.network_diagram(bl.MLP([2, 16, 16, 1], "tanh"))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "more") == ["… 12 more", "… 12 more"]
    assert len([p for p in ax.patches if p.get_gid() == "neuron"]) == 2 + 4 + 4 + 1


def test_figures_show_themselves_in_jupyter():
    net, x, y, trace = fitted()
    fig = plots.loss_history(trace)
    assert isinstance(fig, Figure)
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_graph_is_left_to_right_and_never_shows_minus_zero():
    w = bl.Tensor([-0.0], requires_grad=True, name="w")
    dot = to_dot((w * 2.0).sum())
    assert "rankdir=LR" in dot and "−0.00" not in dot and "-0" not in dot and "value 0.00" in dot
    tiny = to_dot((bl.Tensor([-1e-9], requires_grad=True, name="w") * 2.0).sum())
    assert "value −1.0e−9" in tiny  # as the terminal writes it: a small value never rounds to nothing


def test_csv_axes_use_the_column_names(tmp_path):
    (tmp_path / "d.csv").write_text("dose,response\n0,0\n0.5,1\n1,0\n")
    text = PRESETS["statquest"].text.replace('x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy',
                                             'csv = "d.csv"\nx = ["dose"]\ny = "response"')
    assert 'csv = "d.csv"' in text
    (tmp_path / "s.toml").write_text(text.replace('name = "statquest"', 'name = "mine"'))
    hints = figures.hints_for_spec(read(tmp_path / "s.toml"))
    assert (hints.x_label, hints.y_label) == ("dose", "response")


def test_every_optimized_parameter_gets_a_loss_curve_file():
    net, x, y, trace = fitted(tuple(n for n, _ in bl.presets.statquest()[0].named_parameters()), max_steps=3)
    stems = [job.stem for job in figures.plan(PRESETS["statquest"], net, trace)]
    for p in ("w1", "b1", "w2", "b2", "w3", "w4", "b3"):
        assert f"ssr-vs-{p}" in stems
    assert len(stems) == len(set(stems)), "two figures share a file name"


def test_export_writes_the_figures_and_an_index_of_them(capsys, tmp_path):
    out = tmp_path / "figs"
    code, _, err = cli(capsys, "export-figures", "statquest", str(out), "--no-animation", "--no-svg", "--dpi", "50")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    index = (out / "index.md").read_text()
    for name in names - {"index.md"}:
        assert f"[{name}]" in index, f"{name} is not in the index"
    for stem in ("data-and-residuals", "ssr-vs-b3", "ssr-vs-b3-curve-only", "predictions-iteration-1-and-2",
                 "predictions-every-iteration", "final-fit", "network-starting-values", "network-final-values",
                 "loss-per-iteration", "contour-ssr-over-w3-and-b3"):
        assert f"{stem}.png" in names
    from PIL import Image

    with Image.open(out / "final-fit.png") as im:
        assert im.size == (int(6.4 * 50), int(4.4 * 50))


def test_plot_command_options(capsys, tmp_path):
    code, _, err = cli(capsys, "plot", "statquest", "loss-curve", "--no-steps", "--no-tangent", "--span", "0,4",
                       "--iteration", "2", "-o", str(tmp_path / "c.png"))
    assert code == 0, err
    code, _, err = cli(capsys, "plot", "statquest", "predictions", "--iteration", "99", "-o", str(tmp_path / "p.png"))
    assert code == 2 and "--iteration 99" in err
    code, _, err = cli(capsys, "plot", "statquest", "loss-curve", "--span", "4,0", "-o", str(tmp_path / "c.png"))
    assert code == 2 and "LO below HI" in err


@given(a=st.floats(0.01, 100), c=st.floats(-50, 50), d=st.floats(-10, 10), lo=st.floats(-20, 20),
       width=st.floats(0.5, 30))
def test_find_minimum_of_a_parabola_inside_or_outside_the_span(a, c, d, lo, width):
    hi = lo + width
    m = find_minimum(lambda v: a * (v - c) ** 2 + d, np.linspace(lo, hi, 51))
    assert m.at == pytest.approx(c, abs=1e-4 * max(1, abs(c)))
    if min(abs(c - lo), abs(c - hi)) > 1e-5 * width:  # at an edge, either answer is right
        assert m.where == ("inside" if lo <= c <= hi else "outside")


def test_find_minimum_says_when_there_is_none():
    falling = find_minimum(lambda v: -v, np.linspace(-1, 1, 21))
    assert falling.where == "none" and falling.direction == 1 and not falling.levels_off
    levelling = find_minimum(lambda v: float(np.exp(-v)), np.linspace(-1, 1, 21))
    assert levelling.where == "none" and levelling.direction == 1 and levelling.levels_off


def test_a_formula_that_is_not_a_weighted_sum_cannot_be_drawn_as_a_network(tmp_path):
    text = PRESETS["statquest"].text.replace('z1 = "w1 * x + b1"', 'z1 = "w1 * x * x + b1"')
    (tmp_path / "odd.toml").write_text(text)
    net, _ = read(tmp_path / "odd.toml").build()
    with pytest.raises(ValueError, match="no layer structure"):
        plots.network_diagram(net)


def test_a_run_that_keeps_every_third_iteration_is_numbered_by_its_real_iterations():
    net, x, y, trace = fitted()
    record = trace.to_dict()
    record["iterations"] = record["iterations"][::3]  # iterations 1, 4, 7, 10, then the end (13)
    trace = Trace.from_dict(record)
    history = line(plots.loss_history(trace).axes[0], "loss-history")
    assert list(history.get_xdata()) == [1, 4, 7, 10, 13]
    ax = plots.loss_curve(net, x, y, "b3", trace=trace, iteration=4).axes[0]
    assert {t.get_text().split(":")[0] for t in ax.texts} <= {"1", "4", "7", "10"}
    assert np.mean(line(ax, "tangent").get_xdata()) == pytest.approx(trace.iterations[1].params["b3"])
    after = line(plots.predictions(net, x, y, trace=trace, iteration=4).axes[0], "after")
    assert "iteration 7" in after.get_label()
    with pytest.raises(ValueError, match="not recorded"):
        plots.residuals(net, x, y, trace=trace, iteration=2)


def test_crowded_weight_labels_overlap_neither_each_other_nor_circles():
    fig = plots.network_diagram(bl.MLP([2, 3, 1], "tanh", seed=0))
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "edge-label"]
    names = sorted(t.get_text().split()[0].split("\n")[0] for t in labels)
    assert names == sorted([f"W1[{j},{i}]" for i in (1, 2) for j in (1, 2, 3)] + [f"W2[1,{j}]" for j in (1, 2, 3)])
    boxes = [t.get_window_extent() for t in labels]
    circles = [p.get_window_extent() for p in ax.patches if p.get_gid() == "neuron"]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1:] + circles), labels[i].get_text()


def test_figures_and_the_terminal_show_the_same_iteration(capsys):
    _, out, _ = cli(capsys, "demo", "statquest")
    net, x, y, trace = fitted()
    fig, draw, _ = plots.fits.descent_frames(net, x, y, trace, "b3")
    for k in (1, 2, 3):
        shown = next(line for line in out.splitlines() if line.strip().startswith(f"Iteration {k} ("))
        value = shown.split("b3 = ")[1].split(")")[0]
        before = line(plots.predictions(net, x, y, trace=trace, iteration=k).axes[0], "before")
        assert f"iteration {k} (b3 = {value})" in before.get_label()
        draw(k - 1)
        assert fig.axes[1].get_title() == f"iteration {k}: b3 = {value}"


@pytest.mark.parametrize("args,message", [
    (["plot", "statquest", "loss-curve", "--dpi", "5", "-o", "x.png"], "between 20 and 1200"),
    (["plot", "statquest", "loss-curve", "--span", "1", "-o", "x.png"], "not two numbers"),
    (["plot", "statquest", "contour", "--iteration", "40", "-o", "x.png"], "choose --iteration from 1 to 13"),
    (["export-figures", "nope", "out"], "unknown preset 'nope'"),
])
def test_figure_options_are_checked(capsys, args, message):
    assert_clean_error(capsys, args, message)


def test_export_into_a_file_is_a_clean_error(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    assert_clean_error(capsys, ["export-figures", "statquest", str(tmp_path / "file" / "figs")], "cannot")


def test_decision_boundary_axes_take_two_column_names():
    from backproplab import datasets
    from backproplab.optim import Adam
    from backproplab.spec.presets import Preset

    X, labels = datasets.make("xor", n=40, seed=2)
    net = bl.MLP([2, 4, 1], "tanh", seed=0)
    trace = Adam(net.parameters(), lr=0.05).fit(net, X, labels.astype(float), loss="bce", max_steps=5, min_step=0)
    ax = figures.one(Preset("mine", x_label="width, height"), net, trace, "decision-boundary").axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("width", "height")
    assert "after iteration 5" in ax.get_title()
