"""``Embedding``: the table's ``embedding`` op, ``F.embedding``, ``bl.nn.Embedding`` and the bridge's
``torch.nn.Embedding``, each against PyTorch float64 and central differences. A row's gradient is the
sum of the gradients at every position whose index names it, and the working says which positions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import grad_check

from .conftest import needs_torch


@st.composite
def tables_and_indices(draw):
    rows = draw(st.integers(1, 6))
    width = draw(st.integers(1, 4))
    table = draw(arrays(np.float64, (rows, width), elements=st.floats(-3, 3)))
    shape = draw(array_shapes(min_dims=0, max_dims=3, max_side=4))
    index = draw(arrays(np.int64, shape, elements=st.integers(0, rows - 1)))
    upstream = draw(arrays(np.float64, shape + (width,), elements=st.floats(-2, 2)))
    return table, index, upstream


@needs_torch
@settings(max_examples=60, deadline=None)
@given(tables_and_indices())
def test_forward_and_gradient_equal_torch_float64(case):
    import torch

    table, index, upstream = case
    w = bl.Tensor(table, requires_grad=True)
    out = F.embedding(bl.tensor(index), w)
    (out * bl.Tensor(upstream)).sum().backward()
    tw = torch.tensor(table, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.tensor(index), tw)
    (tout * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(tables_and_indices())
def test_gradient_equals_central_differences(case):
    table, index, upstream = case
    grad_check(lambda w: F.embedding(index, w) * bl.Tensor(upstream), bl.Tensor(table, requires_grad=True))


def test_a_rows_gradient_adds_up_the_positions_that_use_it():
    w = bl.Tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    index = np.array([[1, 3, 1], [1, 0, 3]])
    g = np.arange(12.0).reshape(2, 3, 2)
    (F.embedding(index, w) * bl.Tensor(g)).sum().backward()
    expected = np.zeros((4, 2))
    for p in np.ndindex(index.shape):  # written out: each position adds its gradient into its row
        expected[index[p]] += g[p]
    np.testing.assert_array_equal(w.grad, expected)
    assert not w.grad[2].any()  # a row no position uses


@needs_torch
def test_the_module_is_torchs_with_the_same_table():
    import torch

    layer = bl.nn.Embedding(7, 3)
    theirs = torch.nn.Embedding(7, 3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(layer.weight.data))
    index = np.array([[6, 0, 2, 2]])
    np.testing.assert_array_equal(layer(index).data, theirs(torch.tensor(index)).detach().numpy())
    assert layer(index).shape == (1, 4, 3) and repr(layer) == "Embedding(7, 3)"
    assert [p.name for p in layer.parameters()] == ["E"]


@pytest.mark.parametrize(("index", "words"), [(np.array([0.5]), "whole numbers"), (np.array([4]), "out of range"),
                                              (np.array([-1]), "out of range")])
def test_bad_indices_are_named(index, words):
    with pytest.raises((TypeError, IndexError)) as info:
        F.embedding(index, bl.Tensor(np.zeros((4, 2))))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_settings_it_does_not_have_are_refused():
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(np.array([0]), bl.Tensor(np.zeros((4, 2))), padding_idx=0)
    with pytest.raises(ValueError, match="matrix"):
        F.embedding(np.array([0]), bl.Tensor(np.zeros(4)))


def bigram():
    """makemore's shape of model: token embeddings, a layer, logits, and the loss when targets are given."""
    import torch

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = torch.nn.Embedding(6, 3)
            self.lm_head = torch.nn.Linear(3, 6)

        def forward(self, idx, targets=None):
            logits = self.lm_head(torch.tanh(self.wte(idx)))
            loss = None
            if targets is not None:
                loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
            return logits, loss

    torch.manual_seed(11)
    return Model().double()


@needs_torch
@pytest.mark.parametrize(("row", "places"), [(1, "x[1,1], x[1,3], x[2,2]"), (5, None)])
def test_the_bridge_explains_a_row_of_an_embedding_and_names_its_positions(row, places):
    import torch

    model = bigram()
    idx = torch.tensor([[1, 2, 1], [0, 1, 4]])
    targets = torch.tensor([[2, 1, 0], [1, 5, 3]])
    exp = bl.explain_torch(model, None, (idx, targets), wrt=f"wte.weight[{row},2]")
    (grad,) = torch.autograd.grad(model(idx, targets)[1], [model.wte.weight])
    np.testing.assert_allclose(exp.gradient, float(grad[row, 2]), rtol=1e-9, atol=1e-15)
    text = exp.to_text()
    if places:
        assert places in text and "where the index is 1" in text
    else:
        assert exp.gradient == 0 and "no index is 5" in text
    whole = bl.explain_torch(model, None, (idx, targets), wrt="wte.weight")
    np.testing.assert_allclose(whole.gradient, grad.numpy(), rtol=1e-9, atol=1e-15)
    assert "summed over every position whose index is r" in whole.to_text()
