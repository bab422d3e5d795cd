"""backward() keeps a weight's gradient in x·Wᵀ without a copy (it is the transpose of Wᵀ's), and never lets two
.grad arrays, or a .grad and a forward value, share memory."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor


def linear_net(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = Tensor(rng.normal(size=(10, 8)), requires_grad=True, name="W")  # 80 entries: large enough to be kept
    b = Tensor(rng.normal(size=10), requires_grad=True, name="b")
    x = Tensor(rng.normal(size=(5, 8)), name="x")
    return w, b, x


def test_the_weights_gradient_is_the_backward_s_own_array_and_right():
    w, b, x = linear_net()
    ((x @ w.T + b) ** 2).sum().backward()
    g = w.grad.data if isinstance(w.grad, Tensor) else np.asarray(w.grad)
    expected = 2 * (x.data @ w.data.T + b.data).T @ x.data
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    assert g.flags.c_contiguous and not np.shares_memory(g, w.data) and not np.shares_memory(g, x.data)
    assert w._grad.base is not None  # the backward's own array, kept rather than copied
    bl.grad_check(lambda w_: ((x @ w_.T + b) ** 2).sum(), w)


def test_a_second_backward_adds_into_the_kept_gradient():
    w, b, x = linear_net(1)
    loss = lambda: ((x @ w.T + b) ** 2).sum()  # noqa: E731
    loss().backward()
    first = np.array(w.grad.data if isinstance(w.grad, Tensor) else w.grad)
    loss().backward()
    second = w.grad.data if isinstance(w.grad, Tensor) else np.asarray(w.grad)
    np.testing.assert_allclose(second, 2 * first, rtol=1e-12)


@pytest.mark.parametrize("retain", [True, False])
def test_a_retained_transpose_and_its_weight_keep_separate_gradients(retain):
    w, b, x = linear_net(2)
    wt = w.T
    if retain:
        wt.retain_grad()
    ((x @ wt + b) ** 2).sum().backward()
    g = np.asarray(w.grad.data if isinstance(w.grad, Tensor) else w.grad)
    if retain:
        gt = np.asarray(wt.grad.data if isinstance(wt.grad, Tensor) else wt.grad)
        assert not np.shares_memory(g, gt)
        np.testing.assert_allclose(gt.T, g, rtol=1e-12)


def test_a_weight_used_twice_gets_both_uses_and_its_own_array():
    w, b, x = linear_net(3)
    h = x @ w.T + b
    (h.sum() + (h @ w).sum()).backward()  # W through Wᵀ and directly
    g = np.asarray(w.grad.data if isinstance(w.grad, Tensor) else w.grad)
    eps, numeric = 1e-6, np.zeros_like(w.data)
    for idx in np.ndindex(*w.data.shape):
        for sign in (1, -1):
            wd = w.data.copy()
            wd[idx] += sign * eps
            hh = x.data @ wd.T + b.data
            numeric[idx] += sign * (hh.sum() + (hh @ wd).sum()) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)
    assert not np.shares_memory(g, w.data)
