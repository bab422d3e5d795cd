"""The training loop: unused and repeated parameters, schedulers, thinning, divergence messages."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

import backproplab as bl
from backproplab.optim import GradientDescent
from backproplab.train.divergence import GROWTH_LIMIT
from backproplab.train.trace import Trace

from .conftest import cli


def _line_fit(params, w, steps=5):
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    return GradientDescent(params, lr=0.01, max_steps=steps).fit(lambda t: w * t, x, y, loss="mse")


def test_unused_parameter_warns_once_and_stays_put_with_gradient_zero():
    w = bl.Tensor(0.5, requires_grad=True, name="w")
    u = bl.Tensor(7.0, requires_grad=True, name="u")
    with pytest.warns(UserWarning, match="parameter u is not used by the loss") as caught:
        trace = _line_fit([w, u], w)
    assert sum("not used" in str(c.message) for c in caught) == 1
    assert float(u.data) == 7.0 and trace.final.params["u"] == 7.0
    assert all(it.gradients["u"] == 0 and it.step_sizes["u"] == 0 for it in trace.iterations)
    assert trace.final.params["w"] != 0.5  # w itself was trained


def test_no_used_parameter_at_all_is_a_clear_value_error():
    w = bl.Tensor(0.5, requires_grad=True, name="w")
    u = bl.Tensor(7.0, requires_grad=True, name="u")
    with pytest.raises(ValueError, match=r"does not use any optimized parameter \(u\)"):
        _line_fit([u], w)
    assert u.requires_grad and w.requires_grad  # restored after the failed run


def test_duplicate_parameters_warn_as_torch_and_step_once():
    w = bl.Tensor(0.5, requires_grad=True, name="w")
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = GradientDescent([w, w], lr=0.01, max_steps=3)
    assert len(opt.params) == 1
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    trace = opt.fit(lambda t: w * t, x, y, loss="mse")
    for a, b in zip(trace.iterations, trace.iterations[1:]):
        assert b.params["w"] == a.params["w"] - a.step_sizes["w"]  # moved exactly the recorded step
    last = trace.iterations[-1]
    assert trace.final.params["w"] == last.params["w"] - last.step_sizes["w"]


def test_duplicate_names_in_a_spec_step_once(capsys):
    code, out, _ = cli(capsys, "demo", "statquest", "--optimize", "b3,b3", "--json", "--max-steps", "2")
    assert code == 0
    data = json.loads(out)
    first, second = data["iterations"]
    assert second["params"]["b3"] == pytest.approx(first["params"]["b3"] - first["step_sizes"]["b3"])
    assert round(second["params"]["b3"], 2) == 1.57


class Halve:
    """A schedule written against the loop's contract only: something with step()."""

    def __init__(self, opt):
        self.opt, self.calls = opt, 0

    def step(self):
        self.calls += 1
        self.opt.lr = self.opt.lr / 2


def test_scheduler_is_stepped_after_each_step_and_each_iteration_records_its_rate():
    net, (x, y) = bl.presets.statquest()
    opt = GradientDescent(net.parameters(only=["b3"]), lr=0.1, max_steps=4, min_step=0)
    sched = Halve(opt)
    trace = opt.fit(net, x, y, scheduler=sched)
    assert sched.calls == 4
    assert [it.lr for it in trace.iterations] == [0.1, 0.05, 0.025, 0.0125]
    for it in trace.iterations:
        assert it.step_sizes["b3"] == pytest.approx(it.gradients["b3"] * it.lr, rel=1e-12)
    assert [d["lr"] for d in json.loads(trace.to_json())["iterations"]] == [0.1, 0.05, 0.025, 0.0125]


def test_keep_every_records_every_kth_step_and_the_last():
    net, (x, y) = bl.presets.statquest()
    full = GradientDescent(net.parameters(), lr=0.01, max_steps=23, min_step=0).fit(net, x, y)
    net, (x, y) = bl.presets.statquest()
    thin = GradientDescent(net.parameters(), lr=0.01, max_steps=23, min_step=0).fit(net, x, y, keep_every=5)
    assert [it.step for it in thin.iterations] == [0, 5, 10, 15, 20, 22]
    for it in thin.iterations:
        assert it.params == full.iterations[it.step].params and it.loss == full.iterations[it.step].loss
    assert thin.final.steps == 23 and thin.final.params == full.final.params
    back = Trace.from_json(thin.to_json())
    assert back.keep_every == 5 and [it.step for it in back.iterations] == [0, 5, 10, 15, 20, 22]
    with pytest.raises(ValueError, match="keep_every"):
        GradientDescent(net.parameters(), max_steps=2).fit(net, x, y, keep_every=0)


def _traced_bytes(steps: int) -> int:
    net, (x, y) = bl.presets.statquest()
    opt = GradientDescent(net.parameters(), lr=0.001, max_steps=steps, min_step=0)
    tracemalloc.start()
    trace = opt.fit(net, x, y)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(trace.iterations) == steps
    return size


def test_the_trace_costs_about_its_numbers_per_step():
    per_step = (_traced_bytes(3000) - _traced_bytes(1000)) / 2000
    # 7 parameters, 1 gradient, 1 step size, 3 predictions, loss, rate and step: 15 numbers, 120 bytes
    assert per_step < 400, per_step


def test_a_callback_sees_every_step_even_when_thinned():
    net, (x, y) = bl.presets.statquest()
    seen = []
    GradientDescent(net.parameters(only=["b3"]), lr=0.1, max_steps=9, min_step=0).fit(
        net, x, y, keep_every=4, callback=lambda it: seen.append(it.step))
    assert seen == list(range(9))


@pytest.mark.parametrize(("formula", "cause"), [
    ("w1 * x / 0", "division by zero in node yhat (w1 * x / 0)"),
    ("log(x - 5) * w1", "log of a number that is not positive in node yhat (log(x - 5) * w1)"),
    ("exp(w1 * x * 1000)", "exp overflowed (its input is too large) in node yhat (exp(w1 * x * 1000))"),
])
def test_non_finite_at_the_start_names_op_and_node_and_does_not_blame_the_rate(capsys, tmp_path, formula, cause):
    spec = tmp_path / "net.toml"
    spec.write_text(f'''version = 1
name = "bad"
[network]
kind = "formulas"
inputs = ["x"]
output = "yhat"
[network.nodes]
yhat = "{formula}"
[network.parameters]
w1 = 1.0
[data]
x = [1.0, 2.0, 3.0]
y = [1.0, 2.0, 3.0]
[training]
loss = "ssr"
optimize = ["w1"]
[training.optimizer]
name = "gradient_descent"
lr = 0.1
''')
    before = spec.read_bytes()
    code, _, err = cli(capsys, "run", str(spec))
    assert code == 1
    assert cause in err and "iteration 1:" in err
    assert "smaller learning rate" not in err
    assert "no step had been taken yet" in err
    assert spec.read_bytes() == before


def test_a_growing_loss_names_the_parameter_whose_step_grew_most():
    w = bl.Tensor(1.0, requires_grad=True, name="w")
    v = bl.Tensor(1.0, requires_grad=True, name="v")
    x, y = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    # w's gradient is 10× v's, so with too large a rate w's steps grow fastest
    trace = GradientDescent([w, v], lr=0.1, max_steps=200).fit(lambda t: 3.0 * w * t + 0.3 * v, x, y, loss="mse")
    assert trace.final.stopped_by == "diverged"
    msg = trace.final.message
    assert f"the loss grew for {GROWTH_LIMIT} steps in a row" in msg
    assert "the step of w grew most" in msg and "try a smaller learning rate" in msg
