"""Runs side by side on one loss curve: each run's drawn steps are that run's own, in its own colour."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import plots
from backproplab.optim import GradientDescent
from backproplab.plots.curves import run_colour, run_labels
from backproplab.util.messages import InputError
from tests.figure_helpers import fitted, no_warnings  # noqa: F401 - no_warnings applies to every test here


def run(lr: float = 0.1, b3: float = 0.0, max_steps: int = 1000):
    """The dosage run on b3 at ``lr`` from ``b3``; the network is put back at its start."""
    net, (x, y) = bl.presets.statquest()
    net.load_state_dict({"b3": b3})
    trace = GradientDescent(net.parameters(only=["b3"]), lr=lr, max_steps=max_steps).fit(net, x, y)
    net.load_state_dict(trace.iterations[0].params)
    return net, x, y, trace


def lines(fig) -> dict:
    return {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}


def test_each_compared_run_is_drawn_as_the_same_run_alone():
    net, x, y, first = run(0.1)
    others = [run(0.34, max_steps=40)[3], run(0.1, b3=5.0)[3]]
    drawn = lines(plots.loss_curve(net, x, y, "b3", trace=first, compare=others))
    for k, trace in enumerate([first, *others]):
        alone = run(trace.learning_rate, trace.iterations[0].params["b3"], max_steps=40 if k == 1 else 1000)[3]
        series = drawn["descent-path" if k == 0 else f"descent-path-{k}"]
        np.testing.assert_array_equal(series.get_xdata(), alone.values("b3"))
        np.testing.assert_array_equal(series.get_ydata(), alone.losses())
        assert series.get_color() == run_colour(k)
    assert "tangent" not in drawn  # one tangent would belong to one run only
    assert len({run_colour(k) for k in range(3)} | {plots.PINK}) == 4  # no run is drawn in the curve's pink


def test_runs_are_named_by_what_sets_them_apart():
    traces = [run(0.1)[3], run(0.34, max_steps=40)[3]]
    assert run_labels(traces, "b3") == ["lr = 0.1", "lr = 0.34"]
    traces.append(run(0.1, b3=5.0)[3])
    assert run_labels(traces, "b3") == ["lr = 0.1, from b3 = 0.00", "lr = 0.34, from b3 = 0.00",
                                        "lr = 0.1, from b3 = 5.00"]
    net, x, y, first = run(0.1)
    legend = [t.get_text() for t in plots.loss_curve(net, x, y, "b3", trace=first,
                                                      compare=[("steep", traces[1])]).axes[0].get_legend().get_texts()]
    assert any(t.startswith("lr = 0.1: steps") for t in legend) and any(t.startswith("steep: steps") for t in legend)
    assert any("diverged" in t for t in legend)  # lr = 0.34 overshoots further each step, and the figure says so


def test_a_run_that_holds_the_others_elsewhere_is_drawn_off_the_slice():
    net, x, y, first = run(0.1)
    other_net, _, _, _ = run(0.1)
    other_net.load_state_dict({"w3": 0.5})
    other = GradientDescent(other_net.parameters(only=["b3"]), lr=0.1).fit(other_net, x, y)
    drawn = lines(plots.loss_curve(net, x, y, "b3", trace=first, compare=[other]))
    assert "off this slice" in drawn["path-loss-1"].get_label()
    np.testing.assert_array_equal(drawn["path-loss-1"].get_ydata(), other.losses())


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.01, 0.3), min_size=1, max_size=3, unique=True))
def test_any_learning_rates_compare_with_their_own_numbers(rates):
    net, x, y, first = run(0.1, max_steps=60)
    others = [run(r, max_steps=60)[3] for r in rates]
    drawn = lines(plots.loss_curve(net, x, y, "b3", trace=first, compare=others))
    for k, trace in enumerate(others, start=1):
        np.testing.assert_array_equal(drawn[f"descent-path-{k}"].get_xdata(), trace.values("b3"))


def test_compare_mistakes_are_one_line():
    net, x, y, first = run(0.1)
    with pytest.raises(InputError, match="at most 4 runs"):
        plots.loss_curve(net, x, y, "b3", trace=first, compare=[first] * 4)
    with pytest.raises(InputError, match="pass trace="):
        plots.loss_curve(net, x, y, "b3", compare=[first])
    with pytest.raises(InputError, match="a Trace with iterations"):
        plots.loss_curve(net, x, y, "b3", trace=first, compare=["lr=0.3"])
    w3net, _, _, w3run = fitted(("w3",))
    with pytest.raises(InputError, match="does not train b3"):
        plots.loss_curve(net, x, y, "b3", trace=first, compare=[w3run])


def test_the_command_line_draws_the_runs_it_is_given(tmp_path, capsys):
    from backproplab.cli.plots import compared_runs
    from backproplab.cli.program import build_parser, main

    args = build_parser().parse_args(["plot", "statquest", "loss-curve", "--compare", "lr=0.1", "lr=0.3 start.b3=5",
                                      "-o", str(tmp_path / "c.png")])
    (first, _, a), (second, _, b) = compared_runs(args)
    assert (first, second) == ("lr=0.1", "lr=0.3 start.b3=5")
    alone = run(0.3, b3=5.0)[3]
    np.testing.assert_array_equal(b.values("b3"), alone.values("b3"))
    np.testing.assert_array_equal(a.values("b3"), run(0.1)[3].values("b3"))
    out = str(tmp_path / "c.png")
    assert main(["plot", "statquest", "loss-curve", "--compare", "lr=0.1", "lr=0.34", "-o", out]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000 and "2 runs" in capsys.readouterr().err
    assert main(["plot", "statquest", "predictions", "--compare", "lr=0.1", "-o", str(tmp_path / "p.png")]) == 2
    assert "use it with loss-curve" in capsys.readouterr().err
    assert main(["plot", "statquest", "loss-curve", "--compare", "rate=0.1", "-o", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "rate" in err and "lr" in err and len(err.strip().splitlines()) == 1


def test_a_handout_compares_runs_with_each_runs_own_numbers():
    from backproplab.lesson.document import run as lesson_run
    from backproplab.lesson.handout import HandoutError, Table, build
    from backproplab.lesson.handout_compare import with_compare
    from backproplab.lesson.runs import parse_run, run_settings
    from backproplab.lesson.settings import Settings
    from backproplab.util.numbers import number

    settings = Settings(preset="statquest")
    h = with_compare(build(settings, "1-2", ["b3"]), settings, ["lr=0.1", "lr=0.34"], 2)
    part = next(s for s in h.sections if s.title == "Runs side by side")
    assert [s.title for s in h.sections].index("Runs side by side") == 2  # after Part 1 and Part 2
    table = next(i for i in part.items if isinstance(i, Table))
    assert [c.text for c in table.header[1:]] == ["lr=0.1", "lr=0.34"]
    for column, text in enumerate(["lr=0.1", "lr=0.34"], start=1):
        _, alone = lesson_run(run_settings(settings, parse_run(text)))
        shown = {row[0].text: row[column].text for row in table.rows}
        for k in (1, 2):
            it = alone.iterations[k - 1]
            assert shown[f"gradient at iteration {k}"] == number(it.gradients["b3"], 2)
            assert shown[f"new value at iteration {k}"] == number(it.new_value("b3"), 2)
    assert not part.on_worksheet  # the table gives the answers away
    with pytest.raises(HandoutError, match="2 to 4 runs"):
        with_compare(h, settings, ["lr=0.1"], 2)
