"""Optimizers: the worked example's numbers, stopping rules, and PyTorch's SGD and Adam."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab.optim import SGD, Adam, GradientDescent

from .conftest import needs_torch


def fit_b3(lr=0.1, **kw):
    net, (x, y) = bl.presets.statquest()
    return GradientDescent(net.parameters(only=["b3"]), lr=lr, **kw).fit(net, x, y, loss="ssr")


def test_worked_example_first_iteration():
    first = fit_b3().iterations[0]
    np.testing.assert_allclose(first.predictions, [-2.60, -1.61, -2.61], atol=0.005)
    assert round(first.gradients["b3"], 1) == -15.7
    assert first.gradients["b3"] == pytest.approx(-15.6551, abs=1e-4)
    assert round(first.step_sizes["b3"], 2) == -1.57
    assert round(first.new_value("b3"), 2) == 1.57


def test_worked_example_second_iteration_and_convergence():
    trace = fit_b3()
    second = trace.iterations[1]
    assert second.params["b3"] == pytest.approx(1.5655, abs=1e-4)
    assert round(second.gradients["b3"], 2) == -6.26
    assert round(second.new_value("b3"), 2) == 2.19
    assert trace.final.converged and trace.final.stopped_by == "min_step"
    assert round(trace.final.params["b3"], 2) == 2.61
    assert abs(trace.iterations[-1].gradients["b3"]) < 1e-3
    assert abs(trace.iterations[-1].step_sizes["b3"]) < 1e-4
    assert all(abs(it.step_sizes["b3"]) >= 1e-4 for it in trace.iterations[:-1])


def test_gradient_descent_rule_is_step_equals_gradient_times_rate():
    trace = fit_b3(lr=0.05)
    for it in trace.iterations:
        assert it.step_sizes["b3"] == it.gradients["b3"] * 0.05
    for a, b in zip(trace.iterations, trace.iterations[1:]):
        assert b.params["b3"] == a.params["b3"] - a.step_sizes["b3"]


def test_trace_records_every_parameter_and_only_optimized_gradients():
    it = fit_b3().iterations[0]
    assert list(it.params) == ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
    assert list(it.gradients) == ["b3"] and list(it.step_sizes) == ["b3"]
    assert it.params["w4"] == -2.30


def test_max_steps_stops_and_says_so():
    trace = fit_b3(max_steps=3)
    assert len(trace.iterations) == 3
    assert trace.final.stopped_by == "max_steps" and not trace.final.converged and trace.final.steps == 3


def test_optimizing_all_parameters_beats_the_b3_only_optimum():
    b3_only = fit_b3().final.loss
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(), lr=0.1, max_steps=3000).fit(net, x, y, loss="ssr")
    assert trace.final.loss < b3_only / 10
    assert trace.losses()[-1] < trace.losses()[0]


def test_fit_restores_requires_grad_of_other_parameters():
    net, (x, y) = bl.presets.statquest()
    GradientDescent(net.parameters(only=["b3"])).fit(net, x, y)
    assert all(p.requires_grad for p in net.parameters())


def test_divergence_stops_the_run_and_keeps_the_trace():
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(), lr=10.0).fit(net, x, y)
    assert trace.final.stopped_by == "diverged"
    assert "smaller learning rate" in trace.final.message
    assert len(trace.iterations) >= 1
    assert trace.to_json()  # still writable as strict JSON


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), "abc"])
def test_bad_learning_rates_are_clear_errors(lr):
    net, _ = bl.presets.statquest()
    with pytest.raises(ValueError, match="learning rate"):
        GradientDescent(net.parameters(), lr=lr)


def test_bad_fit_settings():
    net, (x, y) = bl.presets.statquest()
    opt = GradientDescent(net.parameters())
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        opt.fit(net, x, y, max_steps=0)
    with pytest.raises(ValueError, match="no parameters"):
        GradientDescent([])


def test_pytorch_style_loop_with_zero_grad_and_step():
    net, (x, y) = bl.presets.statquest()
    opt = SGD(net.parameters(only=["b3"]), lr=0.1)
    for _ in range(50):
        opt.zero_grad()
        bl.losses.ssr(net(x), y).backward()
        opt.step()
    assert net.b3.item() == pytest.approx(2.609, abs=1e-3)


@needs_torch
@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_sgd_and_adam_match_torch(kind):
    import torch

    rng = np.random.default_rng(0)
    w0, x, y = rng.normal(size=(3, 2)), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    ours = bl.Parameter(w0, "w")
    theirs = torch.tensor(w0, requires_grad=True)
    make = {
        "sgd": (lambda p: SGD([p], lr=0.1), lambda p: torch.optim.SGD([p], lr=0.1)),
        "momentum": (lambda p: SGD([p], lr=0.1, momentum=0.9), lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9)),
        "adam": (lambda p: Adam([p], lr=0.05), lambda p: torch.optim.Adam([p], lr=0.05)),
    }[kind]
    a, b = make[0](ours), make[1](theirs)
    for _ in range(20):
        a.zero_grad()
        bl.losses.mse(bl.Tensor(x) @ ours, y).backward()
        a.step()
        b.zero_grad()
        torch.nn.functional.mse_loss(torch.tensor(x) @ theirs, torch.tensor(y)).backward()
        b.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_fit_works_for_an_mlp_with_adam():
    net = bl.MLP([2, 8, 1], "tanh", seed=1)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    trace = Adam(net.parameters(), lr=0.05).fit(net, x, y, loss="mse", max_steps=500, min_step=0)
    assert trace.final.loss < 0.05
    assert trace.optimizer == "adam" and trace.final.stopped_by == "max_steps"


def test_step_sizes_belong_to_their_parameters_whatever_the_order_given():
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent([net.b3, net.w1], lr=0.1, max_steps=3).fit(net, x, y)
    assert trace.optimize == ["w1", "b3"]  # the model's order
    for it in trace.iterations:
        for name in ("w1", "b3"):
            assert it.step_sizes[name] == it.gradients[name] * 0.1
