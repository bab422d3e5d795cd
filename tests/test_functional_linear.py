"""``F.linear``, the one x Wᵀ + b that nn.Linear, the recurrent cells, and the bridge's Linear and
MultiheadAttention compute with: its values and gradients against NumPy, central differences and PyTorch
float64, float32 kept, and a wrong size said in one line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor
from backproplab.engine.tensor import ShapeError
from backproplab.nn import functional as F

from .conftest import needs_torch
from .test_torch_differences import central_grad

SHAPES = st.tuples(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 4), st.integers(1, 4), st.booleans(),
                   st.integers(0, 2**31 - 1))


def _arrays(lead, n_in, n_out, with_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, n_in))
    w = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out) if with_bias else None
    r = rng.standard_normal((*lead, n_out))  # the loss is Σ r ⊙ z, so every entry of z counts
    return x, w, b, r


def _loss(x, w, b, r):
    return float(np.sum(r * (x @ w.T + (0.0 if b is None else b))))


@settings(max_examples=40, deadline=None)
@given(SHAPES)
def test_values_and_gradients_against_numpy_and_central_differences(case):
    lead, n_in, n_out, with_bias, seed = case
    x, w, b, r = _arrays(lead, n_in, n_out, with_bias, seed)
    tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    tb = None if b is None else Tensor(b, requires_grad=True)
    z = F.linear(tx, tw, tb)
    np.testing.assert_allclose(z.data, x @ w.T + (0.0 if b is None else b), rtol=1e-13, atol=1e-13)
    (z * Tensor(r)).sum().backward()
    np.testing.assert_allclose(tx.grad, central_grad(lambda v: _loss(v, w, b, r), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tw.grad, central_grad(lambda v: _loss(x, v, b, r), w), rtol=1e-6, atol=1e-8)
    if b is not None:
        np.testing.assert_allclose(tb.grad, central_grad(lambda v: _loss(x, w, v, r), b), rtol=1e-6, atol=1e-8)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(SHAPES)
def test_values_and_gradients_are_pytorchs(case):
    import torch
    lead, n_in, n_out, with_bias, seed = case
    x, w, b, r = _arrays(lead, n_in, n_out, with_bias, seed)
    ours = [Tensor(a, requires_grad=True) for a in (x, w)] + ([] if b is None else [Tensor(b, requires_grad=True)])
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w)] + (
        [] if b is None else [torch.tensor(b, dtype=torch.float64, requires_grad=True)])
    z = F.linear(*ours)
    zt = torch.nn.functional.linear(*theirs)
    np.testing.assert_allclose(z.data, zt.detach().numpy(), rtol=1e-13, atol=1e-13)
    (z * Tensor(r)).sum().backward()
    (zt * torch.tensor(r)).sum().backward()
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_nn_linear_is_f_linear_of_its_parameters_bit_for_bit():
    layer = bl.nn.Linear(3, 2, rng=np.random.default_rng(1))
    x = Tensor(np.random.default_rng(2).standard_normal((4, 3)))
    z = layer(x)
    assert z.name == "z" and np.array_equal(z.data, F.linear(x, layer.weight, layer.bias).data)


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    z = F.linear(Tensor(rng.standard_normal((2, 3)).astype(np.float32)),
                 Tensor(rng.standard_normal((4, 3)).astype(np.float32)),
                 Tensor(rng.standard_normal(4).astype(np.float32)))
    assert z.dtype == np.float32 and z.shape == (2, 4)


def test_a_wrong_input_size_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\) @ \(5, 4\): inner sizes 3 and 5 differ"):
        F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5))))
