"""Optimizers' ``param_groups``, as ``torch.optim``'s: settings per group, each group stepped at its own
rate, ``add_param_group``, schedules that follow every group, and bad groups refused with PyTorch's
exception types; trajectories checked against PyTorch float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.optim import SGD, Adagrad, Adam, AdamW, GradientDescent, RMSprop, lr_scheduler

torch = pytest.importorskip("torch")


def values(x) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, bl.Tensor) else x)


def start(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(2,)), np.array(rng.normal())]


def run_both(make_ours, make_theirs, arrays, steps=5, sched=None):
    """Train the same four tensors in two groups with both engines on sum(p²·c); returns both final values."""
    ours = [bl.Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = make_ours([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.003}])
    ref = make_theirs([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.003}])
    schedules = (sched(opt, lr_scheduler), sched(ref, torch.optim.lr_scheduler)) if sched else None
    coefficient = [np.arange(1, a.size + 1, dtype=float).reshape(a.shape) for a in arrays]
    for _ in range(steps):
        opt.zero_grad()
        ref.zero_grad()
        sum((p * p * bl.Tensor(c)).sum() for p, c in zip(ours, coefficient)).backward()
        sum((p * p * torch.tensor(c)).sum() for p, c in zip(theirs, coefficient)).backward()
        opt.step()
        ref.step()
        if schedules:
            schedules[0].step()
            schedules[1].step()
            assert schedules[0].get_last_lr() == pytest.approx(schedules[1].get_last_lr(), rel=1e-15)
    return [values(p) for p in ours], [p.detach().numpy() for p in theirs], opt, ref


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31))
def test_sgd_with_momentum_and_adam_over_two_groups_match_torch(seed):
    arrays = start(seed)
    for ours_cls, theirs_cls, kw in ((SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                     (Adam, torch.optim.Adam, {"lr": 0.1, "betas": (0.8, 0.99)}),
                                     (AdamW, torch.optim.AdamW, {"lr": 0.05}),
                                     (RMSprop, torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5}),
                                     (Adagrad, torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01})):
        mine, ref, opt, torch_opt = run_both(lambda g: ours_cls(g, **kw), lambda g: theirs_cls(g, **kw), arrays)
        for a, b in zip(mine, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in torch_opt.param_groups] == [kw["lr"], 0.003]


def test_each_group_keeps_its_own_settings_as_torch():
    a, b = bl.Tensor([1.0], requires_grad=True), bl.Tensor([2.0], requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1e-3, "momentum": 0.5}], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                           {"params": [torch.zeros(1, requires_grad=True)], "lr": 1e-3, "momentum": 0.5}],
                          lr=0.1, momentum=0.9)
    for group, theirs in zip(opt.param_groups, ref.param_groups):
        for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov"):
            assert group[key] == theirs[key], key
    assert opt.param_groups[0]["params"] == [a] and opt.param_groups[1]["params"] == [b]
    assert opt.params == [a, b]


def test_a_group_rate_set_by_hand_is_the_next_steps_rate():
    for cls in (GradientDescent, SGD):
        scalar, vector = bl.Tensor(1.0, requires_grad=True), bl.Tensor([1.0, 1.0], requires_grad=True)
        opt = cls([scalar, vector], lr=0.1)
        for lr in (0.1, 0.5, 0.25):
            opt.param_groups[0]["lr"] = lr
            before = [values(scalar).copy(), values(vector).copy()]
            scalar.grad, vector.grad = np.array(2.0), np.array([2.0, 4.0])
            opt.step()
            np.testing.assert_allclose(before[0] - values(scalar), 2.0 * lr, rtol=1e-15)
            np.testing.assert_allclose(before[1] - values(vector), [2.0 * lr, 4.0 * lr], rtol=1e-15)
            assert opt.lr == lr


def test_optimizer_lr_reads_and_sets_the_first_group():
    a, b = bl.Tensor(1.0, requires_grad=True), bl.Tensor(1.0, requires_grad=True)
    opt = GradientDescent([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.5]
    a.grad, b.grad = np.array(1.0), np.array(1.0)
    steps = opt.step()
    assert [float(values(s)) for s in steps] == [0.2, 0.5]
    assert float(values(a)) == 1.0 - 0.2 and float(values(b)) == 1.0 - 0.5


def test_add_param_group_trains_the_new_tensors_at_their_rate():
    a, b = bl.Tensor([1.0, 2.0], requires_grad=True), bl.Tensor([3.0], requires_grad=True)
    ta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    opt, ref = Adam([a], lr=0.1), torch.optim.Adam([ta], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.01, "betas": (0.5, 0.9)})
    ref.add_param_group({"params": tb, "lr": 0.01, "betas": (0.5, 0.9)})
    for _ in range(4):
        for p, t in ((a, ta), (b, tb)):
            p.grad, t.grad = None, None
        ((a * a).sum() + (b * b * b).sum()).backward()
        ((ta * ta).sum() + (tb * tb * tb).sum()).backward()
        opt.step()
        ref.step()
    np.testing.assert_allclose(values(a), ta.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(values(b), tb.detach().numpy(), rtol=1e-13)
    assert opt.param_groups[1]["eps"] == ref.param_groups[1]["eps"]


@pytest.mark.parametrize("name, kw", [("StepLR", {"step_size": 2, "gamma": 0.5}), ("ExponentialLR", {"gamma": 0.9}),
                                      ("CosineAnnealingLR", {"T_max": 3, "eta_min": 1e-4})])
def test_schedules_follow_every_group_as_torch(name, kw):
    arrays = start(3)
    mine, ref, opt, torch_opt = run_both(
        lambda g: SGD(g, lr=0.1, momentum=0.9), lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9), arrays,
        steps=7, sched=lambda o, module: getattr(module, name)(o, **kw))
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in torch_opt.param_groups], rel=1e-15)


def test_a_schedule_has_one_base_rate_per_group():
    a, b = bl.Tensor(1.0, requires_grad=True), bl.Tensor(1.0, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.4}], lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    assert sched.base_lrs == [0.1, 0.4] and sched.get_last_lr() == [0.1, 0.4]
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.2] == [g["lr"] for g in opt.param_groups]


def test_bad_groups_are_refused_as_torch_refuses_them():
    a, b = bl.Tensor([1.0], requires_grad=True), bl.Tensor([2.0], requires_grad=True)
    ta = torch.zeros(1, requires_grad=True)
    cases = [
        (lambda: SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1),
         lambda: torch.optim.SGD([{"params": [ta]}, {"params": [ta]}], lr=0.1), "more than one parameter group"),
        (lambda: SGD([{"params": [a]}, {"lr": 0.1}], lr=0.1),
         lambda: torch.optim.SGD([{"params": [ta]}, {"lr": 0.1}], lr=0.1), "needs 'params'"),
        (lambda: SGD([{"params": [a]}, [b]], lr=0.1),
         lambda: torch.optim.SGD([{"params": [ta]}, [ta]], lr=0.1), "must be a dict"),
        (lambda: SGD([], lr=0.1), lambda: torch.optim.SGD([], lr=0.1), "no parameters"),
    ]
    for ours, theirs, words in cases:
        with pytest.raises(Exception) as expected:
            theirs()
        with pytest.raises(expected.type, match=words):
            ours()


def test_bad_settings_in_a_group_name_the_setting():
    a, b = bl.Tensor([1.0], requires_grad=True), bl.Tensor([2.0], requires_grad=True)
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD([{"params": [a]}, {"params": [b], "momentum": 1.5}], lr=0.1)
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        SGD([{"params": [a]}, {"params": [b], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        Adam([{"params": [a], "betas": (1.2, 0.9)}])
    with pytest.raises(TypeError, match="pass \\[tensor\\]"):
        SGD(a, lr=0.1)
