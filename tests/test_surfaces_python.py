"""What a learner sees from Python and the terminal: one meaning of "iteration", loss curves for any
parameter, a classifier's output named for what it is, one number format, and figures whose
labels, markers and lines can be seen."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from matplotlib.text import Text

import backproplab as bl
from backproplab import plots
from backproplab.explain.dot import to_dot
from backproplab.explain.forward import output_columns
from backproplab.plots import figures
from backproplab.plots.labels import crossed, segments
from backproplab.spec.presets import PRESETS, get_preset
from backproplab.train.trace import Trace, TraceError
from backproplab.util.numbers import number
from tests.conftest import assert_clean_error, cli
from tests.figure_helpers import fitted

H = 1e-6


def ssr_at(**values: float) -> float:
    """The dosage network's SSR with some parameters changed, built afresh (no code under test but the net)."""
    net, (x, y) = bl.presets.statquest()
    net.load_state_dict(values)
    with bl.no_grad():
        yhat = np.asarray(net(bl.Tensor(x)).data, dtype=float).reshape(-1)
    return float(np.sum((np.asarray(y, dtype=float) - yhat) ** 2))


def slope(name: str, at: float, **held: float) -> float:
    """dSSR/d(name) by central differences."""
    return (ssr_at(**held, **{name: at + H}) - ssr_at(**held, **{name: at - H})) / (2 * H)


def start(name: str) -> float:
    net, _ = bl.presets.statquest()
    return float(net.parameter(name).data)


def line(ax, gid):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert found, f"no line with gid {gid}"
    return found[0]


def dosage_curve(net, xs, b3: float) -> np.ndarray:
    with bl.no_grad():
        net.load_state_dict({"b3": b3})
        return np.asarray(net(bl.Tensor(xs)).data, dtype=float).reshape(-1)


# --- one meaning of "iteration" -------------------------------------------------------------------

def test_predictions_at_iteration_1_show_the_articles_first_step():
    net, x, y, trace = fitted()
    fig = plots.predictions(net, x, y, trace=trace, iteration=1)
    ax = fig.axes[0]
    grid = line(ax, "after").get_xdata()
    first = 0.0 - 0.1 * slope("b3", 0.0)  # the article's first step: b3 from 0 to 1.57
    assert number(first) == "1.57"
    probe, _ = bl.presets.statquest()
    np.testing.assert_allclose(line(ax, "before").get_ydata(), dosage_curve(probe, grid, 0.0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(line(ax, "after").get_ydata(), dosage_curve(probe, grid, first), rtol=1e-6, atol=1e-7)


def test_the_old_zero_based_step_warns_and_says_what_to_write():
    net, x, y, trace = fitted()
    with pytest.warns(DeprecationWarning, match=r"write iteration=2"):
        old = plots.predictions(net, x, y, trace=trace, step=1)
    new = plots.predictions(net, x, y, trace=trace, iteration=2)
    np.testing.assert_array_equal(line(old.axes[0], "after").get_ydata(), line(new.axes[0], "after").get_ydata())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.predictions(net, x, y, trace=trace, iteration=1)  # the new spelling is quiet
    with pytest.raises(ValueError, match="iteration must be between 1 and"):
        plots.predictions(net, x, y, trace=trace, iteration=0)


def test_the_terminal_and_python_draw_the_same_iteration():
    net, x, y, trace = fitted()
    preset = PRESETS["statquest"]
    by_cli = figures.one(preset, net, trace, "predictions", iteration=1)
    by_python = plots.predictions(net, x, y, trace=trace, iteration=1)
    np.testing.assert_array_equal(line(by_cli.axes[0], "after").get_ydata(),
                                  line(by_python.axes[0], "after").get_ydata())


# --- a loss curve for any parameter ----------------------------------------------------------------

def test_loss_curve_of_an_untrained_parameter_has_its_slice_and_tangent(capsys, tmp_path):
    out = tmp_path / "w1.png"
    code, _, err = cli(capsys, "plot", "statquest", "loss-curve", "--param", "w1", "--no-steps", "-o", str(out))
    assert code == 0 and out.stat().st_size > 0, err
    assert "note" not in err  # no steps were asked for: nothing to explain
    code, _, err = cli(capsys, "plot", "statquest", "loss-curve", "--param", "w1", "-o", str(out))
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert code == 0 and len(notes) == 1 and "w1 is not trained in this run" in notes[0], err

    net, x, y, trace = fitted()
    fig = figures.one(PRESETS["statquest"], net, trace, "loss-curve", param="w1")
    ax = fig.axes[0]
    gids = {ln.get_gid() for ln in ax.get_lines()}
    assert "descent-path" not in gids and "path-loss" not in gids
    assert any("no steps: w1 is not trained" in t.get_text() for t in ax.get_legend().get_texts())
    (x0, x1), (y0, y1) = line(ax, "tangent").get_data()
    w1 = start("w1")
    expected = slope("w1", w1)
    assert number(expected) == "7.34"  # Part 4's dSSR/dw1 at the start
    assert (y1 - y0) / (x1 - x0) == pytest.approx(expected, rel=1e-6)
    assert f"slope = gradient = {number(expected)}" in line(ax, "tangent").get_label()
    xs, ys = line(ax, "loss-curve").get_data()
    for k in (0, len(xs) // 2, len(xs) - 1):
        assert ys[k] == pytest.approx(ssr_at(w1=xs[k]), rel=1e-12)


def test_loss_curve_still_refuses_an_unknown_parameter(capsys, tmp_path):
    assert_clean_error(capsys, ["plot", "statquest", "loss-curve", "--param", "w9", "-o", str(tmp_path / "a.png")],
                       "w9")


# --- a classifier's output is a logit ---------------------------------------------------------------

def test_output_columns_name_a_logit_and_give_its_probability():
    z = np.array([-4.98, 0.0, 3.2])
    logit, prob = output_columns("bce", z, "z3")
    assert logit.text == "z3_i (logit)" and prob.text == "p̂_i = σ(z3_i)"
    np.testing.assert_allclose(prob.values[:, 0], 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_array_equal(logit.values[:, 0], z)
    (regression,) = output_columns("ssr", z)
    assert regression.text == "ŷ_i" and regression.kind == "prediction"
    many = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    logits, probs = output_columns("cross_entropy", many)
    assert logits.text == "z_i (logits)" and "softmax" in probs.text
    np.testing.assert_allclose(probs.values, np.exp(many) / np.exp(many).sum(axis=1, keepdims=True), rtol=1e-12)
    with np.errstate(all="raise"):  # a huge logit is a probability of 0 or 1, with no overflow
        np.testing.assert_array_equal(output_columns("bce", [-1000.0, 1000.0])[1].values[:, 0], [0.0, 1.0])


def _table_rows(out: str, header: str) -> tuple[list[str], list[list[str]]]:
    lines = out.splitlines()
    at = next(i for i, ln in enumerate(lines) if header in ln)
    heads = [h.strip() for h in lines[at].strip("┃│ ").split("┃")]
    rows = []
    for ln in lines[at + 2:]:
        if not ln.startswith("│"):
            break
        rows.append([c.strip() for c in ln.strip("│ ").split("│")])
    return heads, rows


@pytest.mark.parametrize("name", ["xor", "moons"])
def test_demo_table_of_a_classifier_shows_the_logit_and_its_probability(capsys, name):
    code, out, _ = cli(capsys, "demo", name, "--max-steps", "1", "--json")
    saved = Trace.from_json(out)
    code, out, _ = cli(capsys, "demo", name, "--max-steps", "1")
    assert code == 0 and "ŷ_i" not in out
    heads, rows = _table_rows(out, "(logit)")
    z_name = heads[3].split("_i")[0]
    assert heads[3] == f"{z_name}_i (logit)" and heads[4] == f"p̂_i = σ({z_name}_i)"
    z = np.asarray(saved.iterations[0].predictions, dtype=float).reshape(-1)
    for row in rows:
        if row[0].isdigit():
            i = int(row[0]) - 1
            assert row[3] == number(z[i]) and row[4] == number(1 / (1 + np.exp(-z[i])))
    code, out, _ = cli(capsys, "forward", name, "--format", "json")
    columns = {c["name"]: c for c in json.loads(out)["columns"]}
    assert f"{z_name}_i (logit)" in columns and columns["p̂_i"]["formula"] == f"σ({z_name}_i)"
    np.testing.assert_allclose(columns["p̂_i"]["values"], 1 / (1 + np.exp(-np.asarray(
        columns[f"{z_name}_i (logit)"]["values"]))), rtol=1e-12)


def test_a_regression_table_still_calls_its_output_y_hat(capsys):
    code, out, _ = cli(capsys, "demo", "statquest", "--max-steps", "1")
    heads, rows = _table_rows(out, "ŷ_i")
    assert heads == ["sample", "x_i", "y_i", "ŷ_i"] and number(ssr_at()) in out


# --- one number format, one meaning of iteration in files and commands ----------------------------

def test_divergence_message_uses_the_terminals_numbers_and_ends_its_sentence(capsys):
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=1.0, max_steps=60).fit(net, x, y)
    message = trace.final.message
    assert trace.final.stopped_by == "diverged" and message.endswith(".") and "e+" not in message
    grew = re.search(r"from (\S+) to (\S+)\); the step of b3 grew most \((\S+) to (\S+)\)", message)
    assert grew, message
    for shown in grew.groups():  # each number exactly as the terminal writes it
        assert shown == number(float(shown.replace("−", "-"))), shown
    code, out, err = cli(capsys, "demo", "statquest", "--lr", "1", "--max-steps", "60")
    assert code == 1 and f"the run diverged. {message}" in out
    assert f"the run diverged: {message} The steps up to there were kept" in err


def test_trace_json_names_each_iteration_once_and_old_files_still_load():
    _, _, _, trace = fitted()
    saved = json.loads(trace.to_json())
    assert saved["format"] == 2
    assert all("step" not in it for it in saved["iterations"])
    assert [it["iteration"] for it in saved["iterations"]] == list(range(1, len(trace.iterations) + 1))
    back = Trace.from_json(json.dumps(saved))
    assert [it.step for it in back.iterations] == [it.step for it in trace.iterations]
    old_both = {k: v for k, v in saved.items() if k != "format"}  # format 1: "step" from 0 and "iteration"
    old_both["iterations"] = [{"step": it["iteration"] - 1, **it} for it in saved["iterations"]]
    old_step = {**old_both, "iterations": [{k: v for k, v in it.items() if k != "iteration"}
                                           for it in old_both["iterations"]]}
    for old in (old_both, old_step):
        loaded = Trace.from_json(json.dumps(old))
        assert loaded.to_dict() == back.to_dict()
    thinned = {**saved, "iterations": saved["iterations"][::3]}
    assert [it.iteration for it in Trace.from_json(json.dumps(thinned)).iterations] == [1, 4, 7, 10]
    with pytest.raises(TraceError, match="iterations\\[0\\].step must be iteration − 1 = 0"):
        Trace.from_json(json.dumps({**saved, "iterations": [{**saved["iterations"][0], "step": 3}]}))


def test_graph_writes_numbers_as_the_terminal_does_left_to_right_by_default(capsys, tmp_path):
    net, loss = _dosage_loss()
    dot = to_dot(loss)
    w1 = number(slope("w1", start("w1")))
    assert re.search(rf'label="\{{w1 \| value {number(start("w1"))} \| grad {w1}\}}"', dot), dot[:400]
    w3 = number(slope("w3", start("w3")))
    assert w3.startswith("−") and f"grad {w3}" in dot and "grad -" not in dot and "value -" not in dot
    assert "value [0, 0.5, 1]" in dot  # data as it is
    assert "rankdir=LR;" in dot
    out = tmp_path / "g.dot"
    code, _, err = cli(capsys, "graph", "statquest", "-o", str(out), "--rankdir", "TB", "--digits", "3")
    text = out.read_text(encoding="utf-8")
    assert code == 0 and "rankdir=TB;" in text and f"grad {number(slope('w1', start('w1')), 3)}" in text
    assert_clean_error(capsys, ["graph", "statquest", "-o", str(out), "--rankdir", "XY"], "--rankdir")
    with pytest.raises(ValueError, match="rankdir must be LR"):
        to_dot(loss, rankdir="RL")


def _dosage_loss():
    net, (x, y) = bl.presets.statquest()
    return net, bl.losses.ssr(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y"))


def test_forward_accepts_the_state_after_the_last_step(capsys, tmp_path):
    _, _, _, trace = fitted()
    end = len(trace.iterations) + 1
    code, out, err = cli(capsys, "forward", "statquest", "--iteration", str(end), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["iteration"] == end and data["value"] == pytest.approx(trace.final.loss, rel=1e-12)
    assert data["value"] == pytest.approx(ssr_at(b3=trace.final.params["b3"]), rel=1e-9)
    code, out, _ = cli(capsys, "forward", "statquest", "--iteration", str(end))
    assert f"iteration {end} (after the last step)" in out and number(trace.final.loss) in out
    graph = tmp_path / "end.dot"
    code, _, _ = cli(capsys, "graph", "statquest", "--iteration", str(end), "-o", str(graph))
    assert code == 0 and f"{{b3 | value {number(trace.final.params['b3'])} |" in graph.read_text(encoding="utf-8")
    assert_clean_error(capsys, ["forward", "statquest", "--iteration", str(end + 1)],
                       f"choose --iteration from 1 to {end}")
    err = assert_clean_error(capsys, ["explain", "statquest", "--param", "b3", "--iteration", str(end)],
                             f"choose --iteration from 1 to {end - 1}")  # no step is taken from the end
    assert "after the last step" not in err


# --- figures ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("names,lr,steps", [(("b3",), 0.1, 1000), (("w3", "b3"), 0.05, 50), (("b3",), 0.2, 1000)])
def test_step_labels_never_cross_the_descent_path(names, lr, steps):
    net, x, y, trace = fitted(names, lr=lr, max_steps=steps)
    for param in names:
        fig = plots.loss_curve(net, x, y, param, trace=trace)
        ax = fig.axes[0]
        fig.canvas.draw()
        path = next(ln for ln in ax.get_lines() if ln.get_gid() in ("descent-path", "path-loss"))
        pieces = segments(ax, path)
        labels = [t for t in ax.texts if t.get_gid() == "step-label"]
        assert labels, "no step is labelled"
        for label in labels:
            box = Text.get_window_extent(label).padded(2)  # the text alone (not its leader line), a little room
            assert not crossed(box, pieces), f"{label.get_text()!r} crosses the path"


def test_crossed_finds_a_segment_through_a_box_and_not_one_beside_it():
    from matplotlib.transforms import Bbox

    box = Bbox.from_extents(0, 0, 10, 10)
    through = np.array([[[-5.0, 5.0], [15.0, 5.0]]])
    beside = np.array([[[-5.0, 12.0], [15.0, 20.0]]])
    corner = np.array([[[-1.0, 9.0], [1.0, 10.5]]])  # clips the corner: y = 9.75 at x = 0
    inside = np.array([[[2.0, 2.0], [3.0, 3.0]]])
    assert crossed(box, through) and crossed(box, corner) and crossed(box, inside)
    near_corner = np.array([[[-1.0, 9.0], [1.0, 11.5]]])  # passes the corner outside: y = 10.25 at x = 0
    assert not crossed(box, beside) and not crossed(box, near_corner) and not crossed(box, np.zeros((0, 2, 2)))


def _frame_legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_animation_frames_show_the_lessons_numbers_and_only_lines_that_are_drawn():
    net, x, y, trace = fitted()
    fig, draw, count = plots.fits.descent_frames(net, x, y, trace, "b3")
    left, right = fig.axes
    said = next(t for t in fig.texts if t.get_gid() == "step-numbers")
    probe, _ = bl.presets.statquest()
    b3 = 0.0
    for n in range(count):
        draw(n)
        drawn = {ln.get_label() for ln in right.get_lines() if ln.get_visible()}
        for text in _frame_legend(right):
            assert text in drawn, f"frame {n}: the legend lists {text!r}, which is not drawn"
        if n < count - 1:
            g = slope("b3", b3)
            new = b3 - 0.1 * g
            for shown in (number(g), number(0.1 * g), number(new)):
                assert shown in said.get_text(), (n, shown, said.get_text())
            green = line(right, "predictions")
            assert green.get_visible() and green.get_color() == plots.GREEN
            np.testing.assert_allclose(green.get_ydata(), dosage_curve(probe, green.get_xdata(), new), rtol=1e-6,
                                       atol=1e-6)
            b3 = new
        else:
            assert not line(right, "predictions").get_visible()
            assert "converged" in said.get_text() and number(trace.final.params["b3"]) in said.get_text()
    draw(0)
    assert said.get_text().startswith(f"dSSR/db3 = {number(slope('b3', 0.0))}")


def test_animation_of_several_moving_parameters_still_draws_every_frame():
    net, x, y, trace = fitted(("w3", "b3"), lr=0.05, max_steps=8)
    fig, draw, count = plots.fits.descent_frames(net, x, y, trace, "w3")
    said = next(t for t in fig.texts if t.get_gid() == "step-numbers")
    for n in range(count):
        draw(n)
        assert said.get_text()
    draw(0)
    assert f"dSSR/dw3 = {number(slope('w3', start('w3')))}" in said.get_text()


def test_contour_start_and_end_are_drawn_above_every_other_marker():
    net, x, y, trace = fitted(("w3", "w4", "b3"), lr=0.1, max_steps=60)
    fig = plots.loss_contour(net, x, y, ("w3", "w4"), trace=trace, points=20)
    ax = fig.axes[0]
    marks = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid() in ("start", "end")}
    assert set(marks) == {"start", "end"}
    others = [a for a in [*ax.get_lines(), *ax.collections] if a.get_gid() not in ("start", "end")]
    assert max(a.get_zorder() for a in others) < min(m.get_zorder() for m in marks.values())
    first = trace.iterations[0].params
    assert marks["start"].get_xdata()[0] == first["w3"] and marks["start"].get_ydata()[0] == first["w4"]
    assert marks["end"].get_xdata()[0] == trace.final.params["w3"]
    assert marks["start"].get_markerfacecolor() == "none"  # an end that lands on it still shows inside


def test_decision_boundary_draws_the_line_where_the_logit_is_zero():
    preset = get_preset("moons")
    spec = preset.spec(("training.max_steps=60",))
    net, (X, y) = preset.build(spec)
    opt, _ = spec.optimizer(net)
    trace = opt.fit(net, X, y, loss="bce")
    net.load_state_dict(trace.final.params)
    fig = plots.decision_boundary(net, X, y)
    ax = fig.axes[0]
    boundary = next(c for c in ax.collections if c.get_gid() == "boundary")
    on_line = np.concatenate([p.vertices for p in boundary.get_paths()])
    with bl.no_grad():
        z = np.asarray(net(bl.Tensor(on_line)).data, dtype=float).reshape(-1)
        z_data = np.asarray(net(bl.Tensor(X)).data, dtype=float).reshape(-1)
    assert len(on_line) > 10 and np.abs(z).max() < 0.02 * np.ptp(z_data)
    assert any("decision boundary (logit 0, p̂ = 0.5)" == t.get_text() for t in ax.get_legend().get_texts())
    one_class = bl.MLP([2, 1])
    one_class.load_state_dict({k: np.zeros_like(v.data) + (5.0 if k.startswith("b") else 0.0)
                               for k, v in one_class.named_parameters()})
    quiet = plots.decision_boundary(one_class, X, y).axes[0]
    assert not [c for c in quiet.collections if c.get_gid() == "boundary"]  # one class everywhere: no line


def test_the_run_narrative_of_a_one_input_classifier_names_its_logit_and_probability(capsys, tmp_path):
    """`demo --explain` of a classifier with one input per sample: its samples table heads the output
    as the logit it is, beside σ of it, as every other samples table does (not ŷ_i next to y_i)."""
    text = (PRESETS["xor"].text.replace("inputs = 2", "inputs = 1")
            .replace("x = [[0, 0], [0, 1], [1, 0], [1, 1]]", "x = [[-1.0], [-0.5], [0.5], [1.0]]")
            .replace('name = "xor"', 'name = "threshold"'))
    spec = tmp_path / "threshold.toml"
    spec.write_text(text, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(spec), "--max-steps", "2", "--explain", "W2")
    assert code == 0, err
    head = next(line for line in out.splitlines() if "x_i" in line and "y_i" in line)
    assert "z2_i (logit)" in head and "p̂_i = σ(z2_i)" in head and "ŷ_i" not in head
    net, (x, y) = bl.spec.read(str(spec)).build()
    logits = net(bl.tensor(x.reshape(-1, 1))).data.reshape(-1)
    first = out.splitlines()[out.splitlines().index(head) + 2].split()  # under the rule line
    assert first[-1] == number(1 / (1 + np.exp(-logits[0])), 2) and first[-2] == number(logits[0], 2)
