"""Where a PyTorch user expects PyTorch's answer: axes that do not exist, comparisons, pow at its
edges, 0-d reductions, integer and boolean tensors, and shape errors that name the op and shapes."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor, losses

from .conftest import needs_torch


# --- 1. an axis that does not exist is an IndexError, never a silent wrap-around ---------------------
def grow(d):
    """The same out-of-range axis for an op whose result has one dimension more (unsqueeze, stack)."""
    return d + 1 if d >= 0 else d - 1


AXIS_CALLS = {
    "sum": lambda t, d: t.sum(d), "mean": lambda t, d: t.mean(axis=d), "logsumexp": lambda t, d: t.logsumexp(d),
    "sum_tuple": lambda t, d: t.sum((0, d)), "sum_dim": lambda t, d: t.sum(dim=d, keepdim=True),
    "var": lambda t, d: t.var(d), "std": lambda t, d: t.std(d), "prod": lambda t, d: t.prod(d),
    "max": lambda t, d: t.max(d), "min": lambda t, d: t.min(dim=d), "argmax": lambda t, d: t.argmax(d),
    "argmin": lambda t, d: t.argmin(d), "softmax": lambda t, d: t.softmax(d),
    "log_softmax": lambda t, d: t.log_softmax(d), "squeeze": lambda t, d: t.squeeze(d),
    "unsqueeze": lambda t, d: t.unsqueeze(grow(d)), "flatten": lambda t, d: t.flatten(d),
    "transpose": lambda t, d: t.transpose(0, d), "split": lambda t, d: t.split(1, d),
    "chunk": lambda t, d: t.chunk(2, d), "cat": lambda t, d: bl.cat([t, t], d),
    "stack": lambda t, d: bl.stack([t, t], grow(d)), "softmax_f": lambda t, d: bl.functional.softmax(t, dim=d),
    "logsumexp_f": lambda t, d: bl.logsumexp(t, d),
}


@pytest.mark.parametrize("name", sorted(AXIS_CALLS))
@pytest.mark.parametrize("shape,axis", [((2, 3), 2), ((2, 3), -3), ((1, 2, 1, 2), 5), ((3,), 3)])
def test_an_axis_out_of_range_is_an_index_error_naming_it(name, shape, axis):
    t = Tensor(np.arange(float(np.prod(shape))).reshape(shape))
    with pytest.raises(IndexError, match="Dimension out of range") as info:
        AXIS_CALLS[name](t, axis)
    message = str(info.value)
    named, ndim = (grow(axis), len(shape) + 1) if name in ("unsqueeze", "stack") else (axis, len(shape))
    assert f"dimension {named} does not exist in a tensor with {ndim} dimension" in message


def test_the_examples_from_the_report_no_longer_wrap():
    with pytest.raises(IndexError, match="dimension 2 does not exist in a tensor with 2 dimensions"):
        Tensor(np.arange(6.0).reshape(2, 3)).mean(axis=2)
    with pytest.raises(IndexError, match="dimension 5"):
        Tensor(np.ones((2, 2, 2, 2))).sum(5)
    with pytest.raises(IndexError, match="dimension 3"):
        Tensor([1.0, 2.0]).sum(axis=3)
    with pytest.raises(IndexError, match="more than once"):
        Tensor(np.ones((2, 2))).sum((0, -2))


# --- 2. comparisons are element-wise boolean tensors without gradients ------------------------------
def test_all_six_comparisons_are_elementwise_boolean_tensors():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([3.0, 2.0, 1.0])
    cases = {"==": (a == b, [False, True, False]), "!=": (a != b, [True, False, True]),
             "<": (a < b, [True, False, False]), "<=": (a <= b, [True, True, False]),
             ">": (a > 2, [False, False, True]), ">=": (a >= 2.0, [False, True, True])}
    for op, (got, expected) in cases.items():
        assert isinstance(got, Tensor), op
        assert got.dtype == np.bool_ and not got.requires_grad and got.op is None, op
        assert got.tolist() == expected, op
    assert (a == a.detach()).tolist() == [True, True, True]
    assert (a != 1.0).tolist() == [False, True, True]
    assert (2.0 < a).tolist() == [False, False, True]  # a number on the left too
    assert (a == None) is False and (a != None) is True  # noqa: E711 - as PyTorch


def test_tensors_stay_usable_as_dict_keys_and_in_sets():
    a, b = Tensor([1.0]), Tensor([1.0])
    seen = {a: "a", b: "b"}
    assert seen[a] == "a" and seen[b] == "b" and len({a, b, a}) == 2
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]) == Tensor([1.0, 2.0]))
    assert bool(Tensor(2.0) > 1) and not bool(Tensor([0.0]))


def test_masks_combine_with_and_or_not():
    x = Tensor([-2.0, -0.5, 0.5, 2.0])
    inside = (x > -1) & (x < 1)
    assert inside.tolist() == [False, True, True, False]
    assert (~inside).tolist() == [True, False, False, True]
    assert ((x < -1) | (x > 1)).tolist() == [True, False, False, True]
    with pytest.raises(TypeError, match="boolean"):
        _ = ~x


def test_accuracy_via_argmax_and_equality():
    logits = Tensor([[2.0, 1.0, 0.1], [0.3, 0.2, 2.5], [0.0, 3.0, 1.0]])
    labels = Tensor([0, 2, 2])
    correct = logits.argmax(dim=1) == labels
    assert correct.tolist() == [True, True, False]
    assert correct.float().mean().item() == pytest.approx(2 / 3)


# --- 3. pow at its edges, as PyTorch ----------------------------------------------------------------
def pow_grads(a, b):
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = ta ** tb
    out.backward()
    return out.item(), float(ta.grad), float(tb.grad)


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_pow_follows_pytorch_at_its_edges():
    assert pow_grads(0.0, 0.0) == (1.0, 0.0, 0.0)  # d(x⁰)/dx = 0 at x = 0: x⁰ is the constant 1
    value, _, dy = pow_grads(-2.0, 2.0)
    assert value == 4.0 and np.isnan(dy)  # d((−2)^y)/dy: ln(−2) does not exist
    value, dx, dy = pow_grads(0.0, -1.0)
    assert value == np.inf and dx == -np.inf and dy == -np.inf
    _, dx, dy = pow_grads(0.0, 2.0)
    assert dx == 0.0 and dy == 0.0
    assert "0 where b = 0" in bl.ops.pow.rule(0) and "NaN where a < 0" in bl.ops.pow.rule(1)


@needs_torch
@pytest.mark.parametrize("a", [0.0, -2.0, 2.0, -0.0, np.inf, np.nan])
@pytest.mark.parametrize("b", [0.0, 2.0, -1.0, 0.5, -2.0, 3.0])
def test_pow_gradients_equal_torch_everywhere_on_the_edges(a, b):
    import torch

    ta, tb = torch.tensor(a, requires_grad=True, dtype=torch.float64), torch.tensor(b, requires_grad=True,
                                                                                  dtype=torch.float64)
    (ta ** tb).backward()
    with np.errstate(all="ignore"):
        got = pow_grads(a, b)
    expected = ((ta ** tb).item(), ta.grad.item(), tb.grad.item())
    np.testing.assert_allclose(got, expected, rtol=1e-15)


# --- 4. reductions of a 0-d tensor -----------------------------------------------------------------
@pytest.mark.parametrize("call", [lambda t: t.sum(0), lambda t: t.sum(-1), lambda t: t.logsumexp(0),
                                  lambda t: t.mean(0), lambda t: t.mean(-1, keepdims=True), lambda t: t.sum((0,)),
                                  lambda t: t.max(0).values, lambda t: t.prod(0), lambda t: t.softmax(0) * t])
def test_0d_reductions_over_axis_0_and_minus_1_work_forward_and_backward(call):
    t = Tensor(1.5, requires_grad=True)
    out = call(t)
    assert out.shape == () and np.isfinite(out.item())
    out.backward()
    assert t.grad.shape == ()
    assert bl.grad_check(call, Tensor(1.5, requires_grad=True))


@pytest.mark.parametrize("call", [lambda t: t.sum((1,)), lambda t: t.mean(1), lambda t: t.sum(-2)])
def test_0d_reductions_over_other_axes_are_clear_index_errors(call):
    with pytest.raises(IndexError, match="Dimension out of range.*0 dimensions"):
        call(Tensor(1.5))


# --- 5. integer and boolean tensors ----------------------------------------------------------------
def test_python_ints_make_int64_tensors_and_bools_bool_tensors():
    assert Tensor([0, 2]).dtype == np.int64 and bl.tensor(3).dtype == np.int64
    assert Tensor([True, False]).dtype == np.bool_
    assert Tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert Tensor([1, 2.5]).dtype == np.float64
    assert (Tensor([1, 2]) * 2.5).tolist() == [2.5, 5.0]  # an int tensor times a float is a float
    assert (Tensor([1, 2]) * 3).dtype == np.int64 and (Tensor([1, 2]) / 2).tolist() == [0.5, 1.0]
    assert (Tensor(np.ones(2, dtype=np.float32)) * 3).dtype == np.float32


def test_integer_and_boolean_tensors_never_require_gradients():
    for data in ([1, 2], [True, False]):
        with pytest.raises(TypeError, match="only floating point tensors can require gradients"):
            Tensor(data, requires_grad=True)
        with pytest.raises(TypeError, match="only floating point tensors"):
            Tensor(data).requires_grad_()
    p = bl.Parameter(0, "b3")  # a parameter is made of floats
    assert p.dtype == np.float64 and p.requires_grad


@needs_torch
def test_indexing_with_int_and_bool_tensors_matches_torch():
    import torch

    data = np.arange(12.0).reshape(4, 3) - 5
    picks = [lambda t, i: t[i([0, 2, 0])], lambda t, i: t[i([[1], [3]])], lambda t, i: t[t > 0],
             lambda t, i: t[i([True, False, True, True])], lambda t, i: t[i([0, 3]), i([2, 1])],
             lambda t, i: t[:, i([2, 2])]]
    for pick in picks:
        ours = Tensor(data, requires_grad=True)
        theirs = torch.tensor(data, requires_grad=True)
        a = pick(ours, Tensor)
        b = pick(theirs, torch.tensor)
        weights = np.arange(1.0, b.numel() + 1).reshape(tuple(b.shape))
        (a * weights).sum().backward()
        (b * torch.tensor(weights)).sum().backward()
        np.testing.assert_array_equal(a.data, b.detach().numpy())
        np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


def test_a_float_tensor_as_an_index_is_a_clear_error():
    with pytest.raises(IndexError, match="whole numbers"):
        Tensor([1.0, 2.0])[Tensor([0.0])]


def test_losses_accept_integer_label_tensors():
    logits = Tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], requires_grad=True)
    a = losses.cross_entropy(logits, Tensor([0, 2]))
    b = losses.cross_entropy(logits, np.array([0.0, 2.0]))
    assert a.item() == b.item()
    z = Tensor([0.3, -1.2], requires_grad=True)
    assert losses.bce_with_logits(z, Tensor([1, 0])).item() == losses.bce_with_logits(z, [1.0, 0.0]).item()
    assert losses.mse(z, Tensor([1, 0])).item() == losses.mse(z, [1.0, 0.0]).item()


def test_generated_data_sets_keep_whole_number_labels():
    _x, y = bl.datasets.moons(20, seed=0)
    assert Tensor(y).dtype == np.int64


# --- 7. shape errors name the op and both shapes ---------------------------------------------------
@pytest.mark.parametrize("call,message", [
    (lambda: Tensor(np.ones((3, 2))) @ Tensor(np.ones((3, 1))), "matmul: (3, 2) @ (3, 1): inner sizes 2 and 3 differ"),
    (lambda: Tensor(np.ones(3)) @ Tensor(np.ones(4)), "matmul: (3,) @ (4,): inner sizes 3 and 4 differ"),
    (lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5))), "matmul: (2, 3, 4) @ (3, 4, 5): the batch"),
    (lambda: Tensor(2.0) @ Tensor(np.ones(2)), "matmul: () @ (2,): both operands need at least one dimension"),
    (lambda: Tensor(np.ones((3, 2))).reshape(4),
     "reshape: a tensor of shape (3, 2) (6 entries) cannot be reshaped to (4,)"),
    (lambda: Tensor(np.ones((3, 2))) + Tensor(np.ones(3)), "add: shapes (3, 2) and (3,) cannot be broadcast together"),
    (lambda: Tensor(np.ones((3, 2))) * np.ones((4, 2)), "mul: shapes (3, 2) and (4, 2) cannot be broadcast"),
    (lambda: bl.where(Tensor([True, False]), Tensor(np.ones(3)), 0.0), "where: shapes (2,) and (3,) and ()"),
])
def test_shape_errors_name_the_op_and_the_shapes(call, message):
    with pytest.raises(bl.ShapeError) as info:
        call()
    assert message in str(info.value)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
