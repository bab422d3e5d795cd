"""Where backproplab once answered differently from PyTorch: each case against PyTorch float64, and
gradients against central differences too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor
from backproplab import functional as F

from .conftest import needs_torch


def _torch():
    import torch as t

    return t


@pytest.fixture(autouse=True)
def _torch_float64():
    """PyTorch's default float dtype set to backproplab's, float64, for each test, then put back."""
    try:
        torch = _torch()
    except ImportError:
        yield
        return
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def central_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, entry by entry."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


# --- A. whole numbers and tensors in one index ---------------------------------------------------------------
INDEXES = {
    "int_slice_tensor": ((2, 3, 4), lambda T: (0, slice(None), T([0, 2]))),
    "tensor_slice_int": ((2, 3, 4), lambda T: (T([1, 0]), slice(None), 1)),
    "int_slice_tensor_slice": ((2, 3, 4, 5), lambda T: (1, slice(None), T([0, 3, 3]), slice(None))),
    "int_slice_slice_tensor": ((2, 3, 4, 5), lambda T: (0, slice(None), slice(None), T([4, 1]))),
    "int_slice_tensor_int": ((2, 3, 4, 5), lambda T: (0, slice(None), T([0, 1]), 2)),
    "ellipsis_int_slice_tensor": ((2, 3, 4, 5), lambda T: (Ellipsis, 1, slice(None), T([0, 2]))),
    "int_slice_list": ((2, 3, 4), lambda T: (1, slice(None), [3, 0])),
    "zero_d_tensor_slice_tensor": ((2, 3, 4), lambda T: (T(1), slice(None), T([0, 1]))),
    "two_tensors_apart": ((2, 3, 4), lambda T: (T([0, 1]), slice(None), T([1, 2]))),
    "int_tensor_together": ((2, 3, 4), lambda T: (0, T([2, 0]), slice(None))),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(INDEXES))
def test_an_index_mixing_whole_numbers_and_tensors_picks_what_pytorch_picks(name):
    torch = _torch()
    shape, make = INDEXES[name]
    data = np.random.default_rng(0).standard_normal(shape)
    ours = Tensor(data)[make(lambda v: bl.tensor(v))]
    theirs = torch.tensor(data)[make(lambda v: torch.tensor(v))]
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@needs_torch
@pytest.mark.parametrize("name", sorted(INDEXES))
def test_the_gradient_of_such_an_index_matches_pytorch_and_central_differences(name):
    torch = _torch()
    shape, make = INDEXES[name]
    rng = np.random.default_rng(1)
    data = rng.standard_normal(shape)
    weights = rng.standard_normal(tuple(torch.zeros(shape)[make(lambda v: torch.tensor(v))].shape))
    x = Tensor(data, requires_grad=True)
    (x[make(lambda v: bl.tensor(v))] ** 2 * Tensor(weights)).sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    (xt[make(lambda v: torch.tensor(v))] ** 2 * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    numeric = central_grad(lambda a: float((Tensor(a)[make(lambda v: bl.tensor(v))] ** 2 * Tensor(weights))
                                           .sum().item()), data)
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-6, atol=1e-7)


@st.composite
def mixed_indexes(draw):
    """A shape and an index of whole numbers, slices and index tensors (all of length 2), in any order."""
    shape = tuple(draw(st.lists(st.integers(2, 4), min_size=2, max_size=4)))
    kinds = draw(st.lists(st.sampled_from(["int", "slice", "tensor"]), min_size=1, max_size=len(shape))
                 .filter(lambda ks: "int" in ks and "tensor" in ks))  # the mixes where the two orders can differ
    entries = []
    for size, kind in zip(shape, kinds):
        if kind == "int":
            entries.append(("int", draw(st.integers(-size, size - 1))))
        elif kind == "slice":
            entries.append(("slice", draw(st.integers(0, size - 1))))
        else:
            entries.append(("tensor", draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2))))
    return shape, entries


def _build(entries, make_tensor):
    return tuple(v if k == "int" else slice(v, None) if k == "slice" else make_tensor(v) for k, v in entries)


@needs_torch
@given(mixed_indexes())
@example(((2, 3, 4), [("int", 0), ("slice", 0), ("tensor", [0, 1])]))
@settings(max_examples=40, deadline=None)
def test_any_mix_of_whole_numbers_slices_and_tensors_indexes_as_pytorch_does(case):
    torch = _torch()
    shape, entries = case
    data = np.arange(float(np.prod(shape))).reshape(shape)
    x = Tensor(data, requires_grad=True)
    ours = x[_build(entries, bl.tensor)]
    xt = torch.tensor(data, requires_grad=True)
    theirs = xt[_build(entries, torch.tensor)]
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    weights = np.arange(1.0, 1.0 + ours.data.size).reshape(ours.shape)
    (ours * Tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


# --- B. Python numbers keep an integer tensor's dtype --------------------------------------------------------
BINARY = {
    "add": lambda x: x + 3, "radd": lambda x: 3 + x, "sub": lambda x: x - 1, "rsub": lambda x: 5 - x,
    "mul": lambda x: x * 2, "rmul": lambda x: 2 * x, "pow": lambda x: x ** 2, "rpow": lambda x: 2 ** x,
    "xor": lambda x: x ^ 1, "and": lambda x: x & 3, "or": lambda x: x | 4, "rand": lambda x: 3 & x,
    "add_float": lambda x: x + 1.5, "mul_float": lambda x: x * 0.5, "div": lambda x: x / 2,
    "add_bool": lambda x: x + True,
}
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8"]


@needs_torch
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_a_python_number_promotes_an_integer_tensor_as_pytorch_does(op, dtype):
    torch = _torch()
    values = [1, 2, 7]
    ours = BINARY[op](bl.tensor(np.array(values, dtype=dtype)))
    theirs = BINARY[op](torch.tensor(values, dtype=getattr(torch, dtype)))
    torch_dtype = str(theirs.dtype).removeprefix("torch.")
    assert str(ours.dtype) == torch_dtype
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@needs_torch
@pytest.mark.parametrize("op", ["add", "mul", "pow", "xor", "and", "or", "add_float"])
def test_a_python_number_with_a_bool_tensor_gives_pytorch_s_dtype(op):
    torch = _torch()
    ours = BINARY[op](bl.tensor([True, False]))
    theirs = BINARY[op](torch.tensor([True, False]))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@needs_torch
@given(st.lists(st.integers(0, 255), min_size=1, max_size=5), st.integers(-300, 300))
@settings(max_examples=30, deadline=None)
def test_uint8_arithmetic_with_any_python_int_wraps_as_pytorch_does(values, number):
    torch = _torch()
    ours = bl.tensor(np.array(values, dtype=np.uint8)) + number
    theirs = torch.tensor(values, dtype=torch.uint8) + number
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours.data, theirs.numpy())


# --- C. linspace of truth values ----------------------------------------------------------------------------
@needs_torch
def test_linspace_refuses_bool_as_pytorch_does():
    torch = _torch()
    with pytest.raises(NotImplementedError):
        torch.linspace(0, 1, 3, dtype=torch.bool)
    with pytest.raises(NotImplementedError, match="dtype=bool"):
        bl.linspace(0, 1, 3, dtype=bool)
    np.testing.assert_array_equal(bl.linspace(0, 1, 3, dtype=bl.int64).data,
                                  torch.linspace(0, 1, 3, dtype=torch.int64).numpy())


# --- D. one-element integer tensors as slice bounds -----------------------------------------------------------
@needs_torch
@given(st.integers(0, 6), st.integers(0, 6), st.integers(1, 3))
@settings(max_examples=25, deadline=None)
def test_one_element_integer_tensors_are_slice_bounds(start, stop, step):
    torch = _torch()
    data = np.arange(6.0)
    ours = Tensor(data)[bl.tensor([start]):bl.tensor(stop):bl.tensor([[step]])]
    theirs = torch.tensor(data)[torch.tensor([start]):torch.tensor(stop):torch.tensor([[step]])]
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    x = Tensor(data, requires_grad=True)
    x[bl.tensor([start]):bl.tensor([stop])].sum().backward()
    expected = np.zeros(6)
    expected[start:stop] = 1.0
    np.testing.assert_array_equal(x.grad, expected)


@needs_torch
@pytest.mark.parametrize("bound", [[1.0], [1, 2]])
def test_a_slice_bound_that_is_not_one_whole_number_is_a_type_error_as_in_pytorch(bound):
    torch = _torch()
    with pytest.raises(TypeError):
        torch.arange(5.0)[: torch.tensor(bound)]
    with pytest.raises(TypeError, match="single whole number"):
        bl.arange(5.0)[: bl.tensor(bound)]


# --- E. softmax, log_softmax and logsumexp over an empty dimension ---------------------------------------------
EMPTY = {
    "softmax": (lambda t, d: t.softmax(d), lambda t, d: t.softmax(d)),
    "log_softmax": (lambda t, d: t.log_softmax(d), lambda t, d: t.log_softmax(d)),
    "logsumexp": (lambda t, d: t.logsumexp(dim=d), lambda t, d: t.logsumexp(d)),
    "logsumexp_keepdim": (lambda t, d: t.logsumexp(dim=d, keepdim=True), lambda t, d: t.logsumexp(d, keepdim=True)),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(EMPTY))
@pytest.mark.parametrize("shape,dim", [((2, 0), 1), ((0,), 0), ((0, 3), 0), ((2, 0, 3), 1)])
def test_an_empty_dimension_gives_pytorch_s_answer(name, shape, dim):
    torch = _torch()
    ours_fn, theirs_fn = EMPTY[name]
    x = bl.zeros(*shape, requires_grad=True)
    ours = ours_fn(x, dim)
    xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    theirs = theirs_fn(xt, dim)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


# --- F. an infinite upstream gradient through relu and clamp ---------------------------------------------------
CUTS = {
    "relu": (lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt()),
    "F.relu": (lambda x: F.relu(x).sqrt(), lambda x: x.relu().sqrt()),
    "clamp_min": (lambda x: x.clamp(min=0).sqrt(), lambda x: x.clamp(min=0).sqrt()),
    "clamp_max": (lambda x: (-x.clamp(max=0)).sqrt(), lambda x: (-x.clamp(max=0)).sqrt()),
    "clamp_tensor": (lambda x: x.clamp(min=bl.zeros(3)).sqrt(), lambda x: x.clamp(min=_torch().zeros(3)).sqrt()),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(CUTS))
def test_an_infinite_upstream_gradient_is_cut_to_zero_where_the_op_passes_nothing(name):
    torch = _torch()
    ours_fn, theirs_fn = CUTS[name]
    data = np.array([-1.0, 0.0, 2.0]) if name != "clamp_max" else np.array([1.0, 0.0, -2.0])
    x = Tensor(data, requires_grad=True)
    ours_fn(x).sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    theirs_fn(xt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-15, atol=0)
    assert not np.isnan(x.grad).any()


@needs_torch
@given(st.lists(st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_relu_and_clamp_gradients_match_pytorch_and_central_differences(values):
    torch = _torch()
    data = np.array(values)
    for ours_fn, theirs_fn in ((lambda x: (x.relu() * x).sum(), lambda x: (x.relu() * x).sum()),
                               (lambda x: (x.clamp(-1.0, 0.5) ** 3).sum(), lambda x: (x.clamp(-1.0, 0.5) ** 3).sum())):
        x = Tensor(data, requires_grad=True)
        ours_fn(x).backward()
        xt = torch.tensor(data, requires_grad=True)
        theirs_fn(xt).backward()
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=0)
        kinks = np.isclose(data, -1.0, atol=1e-5) | np.isclose(data, 0.5, atol=1e-5)
        numeric = central_grad(lambda a: ours_fn(Tensor(a)).item(), data)
        np.testing.assert_allclose(x.grad[~kinks], numeric[~kinks], rtol=1e-5, atol=1e-6)


def test_the_replayed_relu_cuts_an_infinite_gradient_as_the_plain_path_does():
    x = Tensor(np.array([-1.0, 0.0, 4.0]), requires_grad=True)
    step = bl.compile(lambda: x.relu().sqrt().sum())
    step()
    replayed = x.grad.numpy().copy()
    x.grad = None
    step()
    again = x.grad.numpy().copy()
    x.grad = None
    x.relu().sqrt().sum().backward()
    np.testing.assert_array_equal(replayed, x.grad)
    np.testing.assert_array_equal(again, x.grad)
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.25])


# --- G. every target ignored ---------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignored", [[-100, -100, -100], [2, 2, 2]])
def test_every_target_ignored_gives_a_nan_loss_and_a_zero_gradient(loss, weighted, ignored):
    torch = _torch()
    data = np.random.default_rng(2).standard_normal((3, 4))
    ignore_index = ignored[0]
    weight = np.array([1.0, 2.0, 0.5, 1.5]) if weighted else None
    x = Tensor(data, requires_grad=True)
    ours = getattr(F, loss)(x, bl.tensor(ignored), None if weight is None else Tensor(weight),
                            ignore_index=ignore_index)
    ours.backward()
    xt = torch.tensor(data, requires_grad=True)
    theirs = getattr(torch.nn.functional, loss)(xt, torch.tensor(ignored),
                                                None if weight is None else torch.tensor(weight),
                                                ignore_index=ignore_index)
    theirs.backward()
    assert np.isnan(ours.item()) and np.isnan(theirs.item())
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


@needs_torch
def test_some_targets_ignored_still_match_pytorch():
    torch = _torch()
    data = np.random.default_rng(3).standard_normal((4, 3))
    labels = [0, -100, 2, -100]
    x = Tensor(data, requires_grad=True)
    F.cross_entropy(x, bl.tensor(labels)).backward()
    xt = torch.tensor(data, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(labels)).backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


# --- H. NaN inputs to elu and l1_loss ------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.0])
def test_elu_passes_the_gradient_on_at_nan_as_pytorch_does(alpha):
    """PyTorch's rule entry by entry; its vectorized loop (16 float64 entries or more) gives NaN instead."""
    torch = _torch()
    data = np.array([np.nan, 1.5, -0.7, 0.0])
    x = Tensor(data, requires_grad=True)
    F.elu(x, alpha=alpha).sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    torch.nn.functional.elu(xt, alpha=alpha).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-15)
    finite = np.array([1.5, -0.7])
    numeric = central_grad(lambda a: F.elu(Tensor(a), alpha=alpha).sum().item(), finite)
    np.testing.assert_allclose(x.grad[1:3], numeric, rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("fn", ["relu", "F.relu", "clamp_min", "clamp_both"])
def test_relu_passes_the_gradient_on_at_nan_and_clamp_does_not_as_in_pytorch(fn):
    torch = _torch()
    calls = {"relu": lambda x: x.relu(), "F.relu": lambda x: x.relu(), "clamp_min": lambda x: x.clamp(min=0.0),
             "clamp_both": lambda x: x.clamp(-1.0, 1.0)}
    data = np.array([np.nan, -1.5, 0.0, 0.5])
    x = Tensor(data, requires_grad=True)
    (F.relu(x) if fn == "F.relu" else calls[fn](x)).sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    calls[fn](xt).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    x.grad = None
    step = bl.compile(lambda: (F.relu(x) if fn == "F.relu" else calls[fn](x)).sum())
    step()
    step()  # the replay, through the compiled code
    np.testing.assert_array_equal(x.grad, 2 * xt.grad.numpy())


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_gives_a_zero_gradient_at_nan_as_pytorch_does(reduction):
    torch = _torch()
    pred, target = np.array([np.nan, 1.0, -1.0, 2.0]), np.array([0.0, np.nan, 0.5, 2.0])
    p, t = Tensor(pred, requires_grad=True), Tensor(target, requires_grad=True)
    out = F.l1_loss(p, t, reduction=reduction)
    (out.sum() if reduction == "none" else out).backward()
    pt, tt = torch.tensor(pred, requires_grad=True), torch.tensor(target, requires_grad=True)
    theirs = torch.nn.functional.l1_loss(pt, tt, reduction=reduction)
    (theirs.sum() if reduction == "none" else theirs).backward()
    np.testing.assert_array_equal(p.grad, pt.grad.numpy())
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


# --- I. the exception PyTorch raises ---------------------------------------------------------------------------
ERRORS = {
    "permute_count": (lambda m: m.zeros(2, 3).permute(0), RuntimeError),
    "permute_twice": (lambda m: m.zeros(2, 3).permute(0, 0), RuntimeError),
    "clip_none": (lambda m: m.zeros(2).clip(None, None), RuntimeError),
    "clamp_none": (lambda m: m.clamp(m.zeros(2)), RuntimeError),
    "cat_0d": (lambda m: m.cat([m.tensor(1.0), m.tensor(2.0)]), RuntimeError),
    "cat_shapes": (lambda m: m.cat([m.zeros(2, 3), m.zeros(3, 3)], 1), RuntimeError),
    "int_negative_power": (lambda m: m.tensor(2) ** -1, RuntimeError),
    "label_too_big": (lambda m: _functional(m).cross_entropy(m.zeros(2, 3), m.tensor([0, 5])), IndexError),
    "label_negative": (lambda m: _functional(m).nll_loss(m.zeros(2, 3), m.tensor([0, -5])), IndexError),
}


def _functional(module):
    return module.nn.functional if module.__name__ == "torch" else F


@needs_torch
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_are_the_class_pytorch_raises_and_still_value_errors(name):
    torch = _torch()
    make, kind = ERRORS[name]
    with pytest.raises(kind):
        make(torch)
    with pytest.raises(kind) as info:
        make(bl)
    assert isinstance(info.value, ValueError)  # what backproplab raised before: old callers still catch it
    assert "\n" not in str(info.value) and str(info.value)


# --- J. view of a tensor whose entries are out of order ---------------------------------------------------------
VIEWS = {
    "T": (lambda t: t.T, (6,)),
    "permute": (lambda t: t.reshape(1, 2, 3).permute(2, 1, 0), (6,)),
    "transpose_3d": (lambda t: t.reshape(1, 2, 3).transpose(1, 2), (1, 6)),
    "step_slice": (lambda t: t[:, ::2], (4,)),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_of_a_tensor_out_of_order_raises_as_in_pytorch_and_names_reshape(name):
    torch = _torch()
    make, shape = VIEWS[name]
    data = np.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError):
        make(torch.tensor(data)).view(shape)
    with pytest.raises(RuntimeError, match=r"reshape\(\.\.\.\)") as info:
        make(Tensor(data)).view(shape)
    assert isinstance(info.value, ValueError)
    np.testing.assert_array_equal(make(Tensor(data)).reshape(shape).data, make(torch.tensor(data)).reshape(shape))


@needs_torch
@pytest.mark.parametrize("make,shape", [(lambda t: t, (3, 2)), (lambda t: t, (-1,)), (lambda t: t.T, (3, 2)),
                                        (lambda t: t[1:], (3,)), (lambda t: t.T[:, :1], (3,)),
                                        (lambda t: t.reshape(2, 3, 1).permute(1, 0, 2), (3, 2)),
                                        (lambda t: t.reshape(6)[::2], (1, 3))])
def test_view_where_pytorch_allows_it_gives_pytorch_s_values_and_gradient(make, shape):
    torch = _torch()
    data = np.arange(6.0).reshape(2, 3)
    x = Tensor(data, requires_grad=True)
    out = make(x).view(shape)
    xt = torch.tensor(data, requires_grad=True)
    theirs = make(xt).view(shape)
    np.testing.assert_array_equal(out.data, theirs.detach().numpy())
    weights = np.arange(1.0, 1.0 + out.data.size).reshape(out.shape)
    (out * Tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


def test_view_with_a_shape_that_does_not_fit_names_the_shapes():
    with pytest.raises(ValueError, match=r"reshape: .*\(3, 2\).*\(7,\)"):
        Tensor(np.zeros((2, 3))).T.view(7)


@needs_torch
@given(st.floats(-1e3, 1e3, allow_nan=False), st.integers(2, 6), st.sampled_from(["std", "var"]))
@example(1.42891825, 3, "std")  # a mean that rounds: equal values once deviated by its last bit
def test_equal_values_have_no_spread_and_the_gradient_of_pytorch(value, n, name):
    """Equal values deviate from their mean by exactly 0, so std's gradient is PyTorch's 0, not 0/0 of
    rounding noise (which gave 0.20 and 0.61)."""
    import torch

    a = Tensor(np.full((n, 2), value), requires_grad=True)
    getattr(a, name)(dim=0).sum().backward()
    t = torch.tensor(np.full((n, 2), value), dtype=torch.float64, requires_grad=True)
    getattr(t, name)(dim=0).sum().backward()
    np.testing.assert_array_equal(getattr(a, name)(dim=0).data, 0.0)
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)
