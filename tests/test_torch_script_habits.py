"""What PyTorch scripts write around the maths: devices, ``.t()``, ``backward(retain_graph=)``,
``torch.where(condition)``, ``state_dict`` keys, and arrays updated through ``.data``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import central_difference

torch = pytest.importorskip("torch")

FLOATS = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=0, max_dims=2, max_side=4), elements=FLOATS))
def test_t_transposes_a_matrix_and_keeps_a_vector_with_pytorch_s_gradient(x):
    w = np.arange(x.size, dtype=np.float64).reshape(x.T.shape) + 1.0
    ours = bl.tensor(x, requires_grad=True)
    (ours.t() * bl.tensor(w)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    (theirs.t() * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours.t().numpy(), theirs.t().detach().numpy())
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=0)
    numeric = central_difference(lambda a: a.t() * bl.tensor(w), [bl.tensor(x)], 0)
    np.testing.assert_allclose(ours.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_t_of_three_dimensions_says_what_to_use():
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with at most 2 dimensions.*transpose"):
        bl.zeros(2, 3, 4).t()
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3, 4).t()


def test_devices_are_the_cpu_and_cuda_is_not_available():
    x = bl.ones(2, requires_grad=True)
    device = bl.device("cuda" if bl.cuda.is_available() else "cpu")
    assert device == "cpu" and bl.cuda.device_count() == 0
    assert x.to(device) is x and x.cpu() is x and x.to(torch.device("cpu")) is x
    assert x.to("cpu", bl.float32).dtype == np.float32 and x.to(dtype=torch.float32).dtype == np.float32
    model = bl.nn.Sequential(bl.nn.Linear(2, 1))
    assert model.to(device) is model
    for bad in ("cuda", "cuda:0", "mps"):
        with pytest.raises(ValueError, match="runs on the CPU only"):
            x.to(bad)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        bl.device("gpu")


def test_backward_takes_retain_graph_and_refuses_create_graph_in_one_line():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    u = (t * t).sum()
    u.backward(retain_graph=True)
    u.backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(NotImplementedError, match="create_graph=True.*central_difference"):
        y.backward(create_graph=True)


@settings(max_examples=40, deadline=None)
@given(arrays(np.bool_, array_shapes(min_dims=1, max_dims=3, max_side=4)))
def test_where_with_the_condition_alone_gives_pytorch_s_indices(mask):
    ours = bl.where(bl.tensor(mask))
    theirs = torch.where(torch.tensor(mask))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_where_with_two_of_three_arguments_is_one_clear_error():
    with pytest.raises(TypeError, match="condition alone"):
        bl.where(bl.tensor([True]), bl.tensor([1.0]))


def test_functional_dropout_is_there_and_is_the_identity_when_not_training():
    x = bl.randn(5, 3)
    np.testing.assert_array_equal(F.dropout(x, 0.3, training=False).numpy(), x.numpy())
    bl.manual_seed(0)
    kept = F.dropout(bl.ones(1000), 0.25).numpy()
    assert set(np.unique(kept)) <= {0.0, 1 / 0.75} and 0.15 < np.mean(kept == 0) < 0.35


def test_state_dict_has_pytorch_s_keys_and_loads_into_the_same_torch_module():
    bl.manual_seed(1)
    ours = bl.nn.Sequential(bl.nn.Linear(3, 4), bl.nn.ReLU(), bl.nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})  # strict: every key matches
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(ours(bl.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-15)
    ours.load_state_dict({k: bl.tensor(v) * 0 for k, v in state.items()})  # backproplab tensors load too
    assert all(not p.data.any() for p in ours.parameters())


def test_updating_data_from_a_gradient_keeps_data_an_array():
    w = bl.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.data = w.data - 0.1 * w.grad  # an array on the left of a tensor that needs no gradient: an array
    assert type(w.data) is np.ndarray
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    w.data -= 0.1 * w.grad
    assert type(w.data) is np.ndarray
    joined = np.ones(2) + w  # one that needs a gradient: recorded, as w + array is
    assert isinstance(joined, bl.Tensor) and joined.requires_grad


def test_a_linear_layer_s_weight_gradient_is_in_its_own_row_order_and_equals_pytorch_s():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5))
    ours = bl.nn.Linear(5, 3)
    theirs = torch.nn.Linear(5, 3).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours(bl.tensor(x)).pow(2).sum().backward()
    theirs(torch.from_numpy(x)).pow(2).sum().backward()
    grad = ours.weight.grad.numpy()
    assert grad.flags.c_contiguous  # the update that follows runs over memory in order
    np.testing.assert_allclose(grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
