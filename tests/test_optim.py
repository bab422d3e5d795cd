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



def test_single_number_parameters_step_right_when_one_is_replaced_or_has_no_gradient():
    """Single float64 numbers take one fast loop; a replaced array or a missing gradient must still be handled."""
    values = [0.5, -1.25, 3.0]
    ps = [bl.Parameter(np.array(v), f"p{k}") for k, v in enumerate(values)]
    opt = GradientDescent(ps, lr=0.1)
    grads = [np.array(2.0), np.array(-4.0), np.array(0.5)]
    for step in range(6):
        for p, g in zip(ps, grads):
            p.grad = g.copy()
        if step == 3:
            ps[1].data = np.array(10.0)  # a new array: the loop must move it, not the one it knew
            values[1] = 10.0
        if step == 4:
            ps[2].grad = None  # no gradient: this one stays where it is
        steps = opt.step()
        for k, (p, g) in enumerate(zip(ps, grads)):
            moved = not (step == 4 and k == 2)
            expected = values[k] - float(g) * 0.1 if moved else values[k]
            assert float(p.data) == expected
            assert float(steps[k]) == (float(g) * 0.1 if moved else 0.0)
            values[k] = expected
    assert ps[1].data.shape == () and ps[1].data.dtype == np.float64


def test_single_numbers_and_arrays_in_one_optimizer_each_move_by_their_own_gradient():
    """Single numbers are moved after the arrays of the same step; each still moves by its own gradient × lr."""
    ps = [bl.Parameter(np.array(0.5), "a"), bl.Parameter(np.arange(300.0).reshape(20, 15) / 7, "m"),
          bl.Parameter(np.array([1.0, -2.0]), "v"), bl.Parameter(np.array(-3.0), "b")]  # m: updated in place
    opt = GradientDescent(ps, lr=0.01)
    rng = np.random.default_rng(0)
    for _ in range(3):
        before = [p.data.copy() for p in ps]
        grads = [np.asarray(rng.normal(size=p.data.shape)) for p in ps]
        for p, g in zip(ps, grads):
            p.grad = g
        steps = opt.step()
        assert len(steps) == len(ps)
        for p, g, old, size in zip(ps, grads, before, steps):
            np.testing.assert_array_equal(size, g * 0.01)
            np.testing.assert_array_equal(p.data, old - g * 0.01)

# --- weight decay, Nesterov, AdamW and learning-rate schedules, against PyTorch float64 ----------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from backproplab.optim import AdamW, lr_scheduler  # noqa: E402

RATE = st.floats(1e-3, 0.3)
DECAY = st.sampled_from([0.0, 0.0, 1e-3, 0.05, 0.5])


@st.composite
def optimizer_case(draw):
    kind = draw(st.sampled_from(["sgd", "adam", "adamw"]))
    lr = draw(RATE)
    if kind == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
        nesterov = momentum > 0 and draw(st.booleans())
        dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.0, 0.3]))
        kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=draw(DECAY), nesterov=nesterov)
    else:
        kw = dict(lr=lr, betas=(draw(st.floats(0.0, 0.99)), draw(st.floats(0.5, 0.9999))),
                  eps=draw(st.sampled_from([1e-8, 1e-6, 1e-3])), weight_decay=draw(DECAY))
    schedule = draw(st.sampled_from([None, ("StepLR", dict(step_size=draw(st.integers(1, 10)), gamma=0.5)),
                                     ("ExponentialLR", dict(gamma=draw(st.floats(0.8, 1.0)))),
                                     ("CosineAnnealingLR", dict(T_max=draw(st.integers(1, 30)),
                                                                eta_min=draw(st.sampled_from([0.0, 1e-3]))))]))
    return kind, kw, schedule, draw(st.integers(0, 2**31))


@needs_torch
@given(optimizer_case())
def test_optimizers_and_schedules_follow_torch_for_50_steps(case):
    """A manual loop (zero_grad, backward, step, schedule step) in each engine from the same start.

    Both optimizers get the very same gradients (backproplab's), so the comparison is of the
    update rules alone: with a high rate and small betas Adam is chaotic, and the last-bit
    differences between two engines' tanh and matmul would otherwise grow with every step.
    """
    import torch

    kind, kw, schedule, seed = case
    rng = np.random.default_rng(seed)
    x, y, w0, b0 = rng.normal(size=(6, 3)), rng.normal(size=(6, 2)), rng.normal(size=(3, 2)), rng.normal(size=2)
    ours = [bl.Tensor(w0, requires_grad=True), bl.Tensor(b0, requires_grad=True)]
    theirs = [torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    mine = {"sgd": SGD, "adam": Adam, "adamw": AdamW}[kind](ours, **kw)
    ref = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](theirs, **kw)
    if schedule is not None:
        my_sched = getattr(lr_scheduler, schedule[0])(mine, **schedule[1])
        ref_sched = getattr(torch.optim.lr_scheduler, schedule[0])(ref, **schedule[1])
    for _ in range(50):
        mine.zero_grad()
        ref.zero_grad()
        bl.losses.mse(bl.tanh(bl.Tensor(x) @ ours[0] + ours[1]), y).backward()
        for p, q in zip(ours, theirs):
            q.grad = torch.tensor(p.grad.numpy())
        mine.step()
        ref.step()
        if schedule is not None:
            my_sched.step()
            ref_sched.step()
            assert my_sched.get_last_lr() == ref_sched.get_last_lr() and my_sched.last_epoch == ref_sched.last_epoch
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@given(st.sampled_from(["StepLR", "ExponentialLR", "CosineAnnealingLR"]), st.floats(1e-3, 2.0),
       st.integers(1, 12), st.floats(0.05, 1.0), st.sampled_from([0.0, 1e-4, 0.01]))
def test_schedules_set_the_same_rates_as_torch(name, lr, period, gamma, eta_min):
    import torch

    kw = {"StepLR": dict(step_size=period, gamma=gamma), "ExponentialLR": dict(gamma=gamma),
          "CosineAnnealingLR": dict(T_max=period, eta_min=min(eta_min, lr))}[name]
    opt = GradientDescent([bl.Tensor([1.0], requires_grad=True)], lr=lr)
    ref = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    ours, theirs = getattr(lr_scheduler, name)(opt, **kw), getattr(torch.optim.lr_scheduler, name)(ref, **kw)
    assert ours.get_last_lr() == theirs.get_last_lr() == [lr] and ours.last_epoch == 0
    for _ in range(4 * period + 3):
        ref.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr() == [opt.lr] and ours.last_epoch == theirs.last_epoch


def test_step_and_cosine_schedules_by_hand():
    opt = SGD([bl.Tensor([1.0], requires_grad=True)], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    rates = [opt.lr]
    for _ in range(5):
        sched.step()
        rates.append(opt.lr)
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    opt.lr = 2.0
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    for _ in range(4):
        sched.step()
    assert opt.lr == 0.0 and sched.get_last_lr() == [0.0]  # the bottom of the cosine: lr 0 is allowed there
    sched.step()
    assert opt.lr == pytest.approx(2.0 * (1 - np.cos(np.pi / 4)) / 2)


def test_setting_lr_is_checked_and_used_by_the_next_step():
    w = bl.Tensor([1.0, 2.0], requires_grad=True)
    opt = GradientDescent([w], lr=0.1)
    w.grad = np.array([1.0, 1.0])
    opt.step()
    opt.lr = 0.25
    w.grad = np.array([1.0, 1.0])
    steps = opt.step()
    np.testing.assert_array_equal(steps[0], [0.25, 0.25])
    np.testing.assert_array_equal(w.data, [1.0 - 0.1 - 0.25, 2.0 - 0.1 - 0.25])
    for bad in (-0.1, float("nan"), "fast"):
        with pytest.raises(ValueError, match="learning rate must be"):
            opt.lr = bad
    assert opt.lr == 0.25


def test_weight_decay_and_nesterov_by_hand():
    w = bl.Tensor([2.0], requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True)
    for _ in range(2):
        w.grad = np.array([1.0])
        opt.step()
    # step 1: g = 1 + 0.1·2 = 1.2, v = 1.2, move 0.1·(1.2 + 0.5·1.2) = 0.18 → 1.82
    # step 2: g = 1 + 0.182 = 1.182, v = 0.6 + 1.182 = 1.782, move 0.1·(1.182 + 0.891) = 0.2073
    assert w.data[0] == pytest.approx(2.0 - 0.18 - 0.2073)
    p = bl.Tensor([3.0], requires_grad=True)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([0.0])
    opt.step()
    assert p.data[0] == pytest.approx(3.0 * (1 - 0.1 * 0.5))  # a zero gradient: only the decay moves it
    assert bl.optim.OPTIMIZERS["adamw"] is AdamW and AdamW.name == "adamw"


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov momentum needs a momentum above 0 and dampening 0"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening 0"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be at least 0, got -1"),
    (lambda p: SGD(p, lr=0.1, momentum=1.5), r"momentum must be in \[0, 1\), got 1.5"),
    (lambda p: Adam(p, eps=-1), "eps must be at least 0, got -1; try 1e-8"),
    (lambda p: Adam(p, betas=0.9), "betas must be two numbers"),
    (lambda p: AdamW(p, weight_decay="a lot"), "weight_decay must be a number"),
    (lambda p: lr_scheduler.StepLR(SGD(p), step_size=0), "step_size must be a positive whole number, got 0"),
    (lambda p: lr_scheduler.StepLR(SGD(p), step_size=1.5), "step_size must be a positive whole number"),
    (lambda p: lr_scheduler.ExponentialLR(SGD(p), gamma=-0.5), "gamma must be a positive number"),
    (lambda p: lr_scheduler.CosineAnnealingLR(SGD(p), T_max=0), "T_max must be a positive whole number"),
    (lambda p: lr_scheduler.CosineAnnealingLR(SGD(p), T_max=5, eta_min=-1), "eta_min must be zero or a positive"),
])
def test_bad_optimizer_and_schedule_settings_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make([bl.Tensor([1.0], requires_grad=True)])
    with pytest.raises(TypeError, match="needs an optimizer"):
        lr_scheduler.StepLR([1.0], step_size=1)
