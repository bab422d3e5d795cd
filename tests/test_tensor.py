"""The Tensor API: PyTorch habits, accumulation, no_grad, dtypes, deep graphs and extremes."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, grad_check
from backproplab.engine import grad_mode
from backproplab.engine.tensor import apply


def test_scalar_backward_and_python_numbers_on_either_side():
    x = Tensor(3.0, requires_grad=True)
    y = 2 * x + 1 - x / 4 + 3 ** Tensor(1.0) - (1 - x) * x + 2 / x + x ** 2
    y.backward()
    # dy/dx = 2 - 1/4 - (1 - 2x) - 2/x² + 2x at x = 3
    assert x.grad == pytest.approx(2 - 0.25 - (1 - 6) - 2 / 9 + 6, rel=1e-12)
    assert y.item() == pytest.approx(6 + 1 - 0.75 + 3 - (-2 * 3) + 2 / 3 + 9)


def test_gradients_accumulate_on_repeated_backward_and_clear_with_none():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_a_node_used_twice_sums_its_paths():
    x = Tensor(2.0, requires_grad=True)
    h = x * x
    y = h * h + h  # x^4 + x^2
    y.backward()
    assert x.grad == pytest.approx(4 * 8 + 2 * 2)


def test_in_place_data_update_as_in_pytorch():
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    w.data = np.array([5.0, 5.0])
    assert w.shape == (2,)


def test_no_grad_records_nothing_and_restores():
    w = Tensor(1.0, requires_grad=True)
    with bl.no_grad():
        y = w * 2
        assert not bl.is_grad_enabled()
        with bl.enable_grad():
            z = w * 2
    assert bl.is_grad_enabled()
    assert not y.requires_grad and y.op is None and y.parents == ()
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        y.backward()


def test_only_leaves_keep_grad_unless_retained():
    x = Tensor(2.0, requires_grad=True)
    h = (x * 3).named("h")
    kept = (x * 5).retain_grad()
    (h * h + kept).backward()
    assert h.grad is None
    assert kept.grad == 1.0
    assert x.grad == pytest.approx(2 * 6 * 3 + 5)


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="needs a gradient argument"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))


def test_float32_stays_float32_and_default_is_float64():
    assert Tensor([1.0, 2]).dtype == np.float64
    assert Tensor(1.5).dtype == np.float64
    assert Tensor([1, 2]).dtype == np.int64 and Tensor(True).dtype == np.bool_  # as torch.tensor keeps them
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.5 + 1).softplus().sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    assert Tensor([1.0], dtype=np.float32).dtype == np.float32


def test_bad_data_and_integer_gradients_are_clear_errors():
    with pytest.raises(TypeError, match="must be numbers"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="only floating point tensors can require gradients"):
        Tensor([1, 2], dtype=np.int64, requires_grad=True)


def test_basic_api_names():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], name="A")
    assert t.shape == (2, 2) and t.ndim == 2 and len(t) == 2
    assert t.size() == (2, 2) and t.size(0) == 2 and t.numel() == 4
    assert t.T.data.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert t[1].tolist() == [3.0, 4.0]
    assert t.reshape(4).shape == (4,) and t.reshape((1, 4)).shape == (1, 4)
    assert t.sum().item() == 10.0 and t.mean(axis=0).tolist() == [2.0, 3.0]
    assert "name='A'" in repr(t)
    assert t.detach().op is None
    assert bl.tensor([1.0]).shape == (1,)
    assert (t > 2).tolist() == [[False, False], [True, True]]


@pytest.mark.parametrize("fn", [bl.exp, bl.log, bl.softplus, bl.sigmoid, bl.tanh, bl.relu])
def test_functional_forms_equal_the_methods(fn):
    x = Tensor([0.5, 1.5], requires_grad=True)
    np.testing.assert_array_equal(fn(x).data, getattr(x, fn.__name__)().data)
    assert fn([0.5]).shape == (1,)


def test_graph_100000_nodes_deep_backward_and_free():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 1e-6
    y.backward()
    assert x.grad == pytest.approx(1.0)
    assert len(bl.topological_order(y)) == 200_001
    ref = weakref.ref(y.parents[0])
    del y
    gc.collect()
    assert ref() is None, "the graph must be freed once the last tensor is dropped"


@pytest.mark.parametrize("value", [-1000.0, 1000.0])
def test_softplus_sigmoid_and_logsumexp_are_stable_at_the_extremes(value):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, not even inside
        for name in ("softplus", "sigmoid"):
            x = Tensor([value, 0.0], requires_grad=True)
            y = getattr(x, name)().sum()
            y.backward()
            assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
        x = Tensor([value, value - 1.0, 0.0], requires_grad=True)
        y = x.logsumexp()
        y.backward()
        assert np.isfinite(y.item()) and np.all(np.isfinite(x.grad))
        assert x.grad.sum() == pytest.approx(1.0)
    assert Tensor(value).softplus().item() == pytest.approx(max(value, 0.0))
    assert Tensor(value).sigmoid().item() == (1.0 if value > 0 else pytest.approx(0.0, abs=1e-300))


@given(st.floats(-50, 50), st.floats(-50, 50))
def test_softplus_gradient_is_sigmoid(a, b):
    x = Tensor([a, b], requires_grad=True)
    x.softplus().sum().backward()
    np.testing.assert_allclose(x.grad, bl.sigmoid([a, b]).data, rtol=1e-12)


def test_grad_check_catches_a_wrong_derivative():
    wrong = bl.ops.Op("wrong", ("z",), np.sin, (lambda g, out, z: g * np.sin(z),), ("sin $z", "sin $z"), (("x", "x"),))
    x = Tensor([0.3, 1.2], requires_grad=True)
    with pytest.raises(AssertionError, match="central differences give"):
        grad_check(lambda a: apply(wrong, a), x)


def test_central_difference_restores_the_input():
    x = Tensor([1.0, 2.0], requires_grad=True)
    before = x.data
    g = bl.central_difference(lambda a: (a * a).sum(), [x], 0)
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-8)
    assert x.data is before


def test_leaf_flags_follow_pytorch():
    w = Tensor([1.0, 2.0]).requires_grad_()
    y = w * 2
    assert w.is_leaf and not y.is_leaf and w.requires_grad and y.requires_grad
    w.requires_grad_(False)
    assert not (w * 2).requires_grad
    with pytest.raises(TypeError, match="only floating point tensors can require gradients"):
        Tensor([1, 2], dtype=np.int64).requires_grad_()


def test_no_grad_holds_in_its_own_thread_only():
    """As in PyTorch, grad mode is per thread: a no_grad block elsewhere must not stop this thread's recording."""
    import threading

    entered, release = threading.Event(), threading.Event()

    def hold_no_grad() -> None:
        with bl.no_grad():
            entered.set()
            release.wait(5)

    other = threading.Thread(target=hold_no_grad)
    other.start()
    try:
        assert entered.wait(5)
        w = bl.Tensor([1.0, -2.0], requires_grad=True)
        loss = (w * w).sum()
        assert bl.is_grad_enabled() and loss.requires_grad
        loss.backward()
        np.testing.assert_array_equal(w.grad, [2.0, -4.0])
    finally:
        release.set()
        other.join()
    with bl.no_grad():
        assert not bl.is_grad_enabled()
        assert not (bl.Tensor([1.0], requires_grad=True) * 2).requires_grad
    assert bl.is_grad_enabled()


def test_grad_mode_is_restored_after_an_error_and_nests():
    """no_grad counts its open blocks for a fast check: an error inside one must not leave recording off."""
    w = bl.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="inside"):
        with bl.no_grad():
            raise RuntimeError("inside")
    assert bl.is_grad_enabled() and grad_mode._disabled == 0 and (w * 2).requires_grad
    with bl.no_grad():
        with bl.enable_grad():
            assert bl.is_grad_enabled() and (w * 2).requires_grad
        assert not bl.is_grad_enabled() and not (w * 2).requires_grad
    assert grad_mode._disabled == 0 and (w * 2).requires_grad
