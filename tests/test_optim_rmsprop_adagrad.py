"""RMSprop and Adagrad against ``torch.optim`` float64, step by step, and their first steps by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import optim
from backproplab.optim import Adagrad, RMSprop

from .conftest import needs_torch

RATE = st.floats(1e-3, 0.3)
DECAY = st.sampled_from([0.0, 0.0, 1e-3, 0.05, 0.5])


@st.composite
def optimizer_case(draw):
    kind = draw(st.sampled_from(["rmsprop", "adagrad"]))
    if kind == "rmsprop":
        kw = dict(lr=draw(RATE), alpha=draw(st.sampled_from([0.0, 0.3, 0.9, 0.99, 1.0])),
                  eps=draw(st.sampled_from([1e-8, 1e-6, 1e-3])), weight_decay=draw(DECAY),
                  momentum=draw(st.sampled_from([0.0, 0.0, 0.5, 0.9])), centered=draw(st.booleans()))
        if kw["centered"] and kw["alpha"] == 0:
            kw["alpha"] = 0.9  # the mean square less the squared mean is then 0 give or take rounding: ill-posed
    else:
        kw = dict(lr=draw(RATE), lr_decay=draw(st.sampled_from([0.0, 0.0, 0.01, 0.5])), weight_decay=draw(DECAY),
                  initial_accumulator_value=draw(st.sampled_from([0.0, 0.0, 0.1, 2.0])),
                  eps=draw(st.sampled_from([1e-10, 1e-6, 1e-2])))
    shapes = draw(st.lists(st.lists(st.integers(1, 4), max_size=3).map(tuple), min_size=1, max_size=3))
    return kind, kw, shapes, draw(st.integers(0, 2**31))


@needs_torch
@given(optimizer_case())
def test_rmsprop_and_adagrad_follow_torch_for_30_steps(case):
    """Both optimizers get the very same gradients, so the comparison is of the update rules alone; a
    parameter may miss its gradient at a step (PyTorch then leaves it and its state alone)."""
    import torch

    kind, kw, shapes, seed = case
    rng = np.random.default_rng(seed)
    starts = [rng.normal(size=s) for s in shapes]
    ours = [bl.Tensor(s.copy(), requires_grad=True) for s in starts]
    theirs = [torch.tensor(s, requires_grad=True) for s in starts]
    mine = {"rmsprop": RMSprop, "adagrad": Adagrad}[kind](ours, **kw)
    ref = {"rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[kind](theirs, **kw)
    for step in range(30):
        mine.zero_grad()
        ref.zero_grad()
        for k, (p, q) in enumerate(zip(ours, theirs)):
            if (step + k) % 7 == 3:
                continue  # no gradient this step
            g = np.sin(3 * p.data + step) + rng.normal(size=p.shape) * 0.1
            p.grad = g
            q.grad = torch.tensor(g)
        mine.step()
        ref.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_first_steps_by_hand():
    g = np.array([0.5, -2.0])
    p = bl.Tensor([1.0, 1.0], requires_grad=True)
    opt = Adagrad([p], lr=0.1, eps=0.0)
    p.grad = g
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1, 1.0 + 0.1])  # lr·g/√(g²): a step of lr against the sign
    p.grad = g
    opt.step()
    np.testing.assert_allclose(p.data, [0.9 - 0.1 / np.sqrt(2), 1.1 + 0.1 / np.sqrt(2)])
    q = bl.Tensor([1.0, 1.0], requires_grad=True)
    opt = RMSprop([q], lr=0.01, alpha=0.75, eps=0.0)
    q.grad = g
    opt.step()
    np.testing.assert_allclose(q.data, 1.0 - 0.01 * g / np.sqrt(0.25 * g**2))  # s = (1 − alpha)·g²


def test_they_train_a_network_and_stay_out_of_the_spec_file_registry():
    for make in (lambda ps: RMSprop(ps, lr=0.01), lambda ps: Adagrad(ps, lr=0.5)):
        net, (x, y) = bl.presets.statquest()
        first = bl.losses.ssr(net(x), y).item()
        trace = make(net.parameters()).fit(net, x, y, loss="ssr", max_steps=200)
        assert trace.final.loss < first / 2
    assert {RMSprop, Adagrad}.isdisjoint(optim.OPTIMIZERS.values())


@pytest.mark.parametrize("make, message", [
    (lambda p: RMSprop(p, alpha=-0.1), "alpha must be at least 0, got -0.1"),
    (lambda p: RMSprop(p, eps=-1), "eps must be at least 0, got -1; try 1e-8"),
    (lambda p: RMSprop(p, momentum=-1), "momentum must be at least 0"),
    (lambda p: RMSprop(p, weight_decay="some"), "weight_decay must be a number"),
    (lambda p: Adagrad(p, lr_decay=-1), "lr_decay must be at least 0"),
    (lambda p: Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value must be at least 0"),
    (lambda p: Adagrad(p, lr=0), "the learning rate must be a positive number"),
])
def test_bad_settings_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make([bl.Tensor([1.0], requires_grad=True)])
