"""The tensor functions beginners' scripts take from PyTorch: from_numpy, the dtype names, .type, eq … ge,
view_as, contiguous, sort, topk, gather, scatter, masked_fill, tril, triu, diag, F.pad, empty, randint and
normal. Each is compared with PyTorch float64 (values, indices and gradients) and, where it has a gradient,
with central differences; bad input gets PyTorch's exception type and one message naming the problem.

The ops' shared checks (every op against torch with edge values, central differences, the explainer's
chain) are the cases in test_ops_table; these are the parts those cannot reach."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import Tensor, grad_check

from .conftest import needs_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@st.composite
def distinct_values(draw, min_dims=1):
    """A float64 array whose entries all differ (ties have no derivative and no one right index)."""
    shape = draw(array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    n = int(np.prod(shape))
    values = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n, unique=True))
    return np.array(values, dtype=np.float64).reshape(shape) / 100


# --- sort and topk -----------------------------------------------------------------------------
@needs_torch
@settings(max_examples=40)
@given(distinct_values(), st.data())
def test_sort_and_topk_give_torchs_values_indices_and_gradients(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    descending = data.draw(st.booleans())
    k = data.draw(st.integers(0, x.shape[dim]))
    largest = data.draw(st.booleans())
    for ours, theirs in [
        (lambda t: t.sort(dim, descending), lambda t: t.sort(dim, descending)),
        (lambda t: bl.topk(t, k, dim, largest), lambda t: torch.topk(t, k, dim, largest)),
    ]:
        a, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (values, indices), expected = ours(a), theirs(t)
        np.testing.assert_array_equal(values.data, expected.values.detach().numpy())
        np.testing.assert_array_equal(indices.data, expected.indices.numpy())
        assert indices.dtype == np.int64 and not indices.requires_grad
        w = np.linspace(0.5, 1.5, values.data.size).reshape(values.shape)
        (values * w).sum().backward()
        (expected.values * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12)
        grad_check(lambda p: (ours(p).values * w).sum(), Tensor(x, requires_grad=True))


@needs_torch
def test_sort_keeps_ties_in_order_puts_nan_last_and_returns_named_fields():
    x = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf], [0.0, -0.0, 3.0, 0.0, np.nan]])
    for descending in (False, True):
        ours = bl.sort(x, descending=descending)
        theirs = torch.sort(torch.tensor(x), descending=descending, stable=True)
        np.testing.assert_array_equal(ours.values.data, theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())
    assert isinstance(ours, bl.SortResult) and ours.indices is ours[1]
    scalar = bl.tensor(3.0).sort()
    assert scalar.values.item() == 3.0 and scalar.indices.item() == 0


def test_topk_refuses_a_k_larger_than_the_dimension():
    with pytest.raises(RuntimeError, match=r"topk: k = 5 is out of range: dimension -1 has 4 entries"):
        bl.zeros(3, 4).topk(5)
    with pytest.raises(IndexError, match="Dimension out of range"):
        bl.zeros(3, 4).sort(dim=2)


# --- gather and scatter ------------------------------------------------------------------------
@st.composite
def gather_case(draw):
    x = draw(arrays(np.float64, array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                    elements=st.floats(-3, 3, allow_nan=False)))
    dim = draw(st.integers(0, x.ndim - 1))
    shape = tuple(draw(st.integers(1, 5)) if d == dim else draw(st.integers(1, n)) for d, n in enumerate(x.shape))
    index = draw(arrays(np.int64, shape, elements=st.integers(0, x.shape[dim] - 1)))
    return x, dim, index


@needs_torch
@settings(max_examples=60)
@given(gather_case())
def test_gather_matches_torch_and_central_differences_with_repeated_and_smaller_indices(case):
    x, dim, index = case
    a, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = a.gather(dim, bl.tensor(index)), t.gather(dim, torch.tensor(index))
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    w = np.linspace(-1.0, 2.0, out.data.size).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    grad_check(lambda p: (p.gather(dim, index) * w).sum(), Tensor(x, requires_grad=True))


@needs_torch
@settings(max_examples=60)
@given(gather_case(), st.booleans())
def test_scatter_matches_torch_for_both_inputs(case, number):
    x, dim, index = case
    if index.shape[dim] > x.shape[dim]:
        index = index[(slice(None),) * dim + (slice(0, x.shape[dim]),)]
    # distinct places, so that no entry is written twice (PyTorch leaves the winner unspecified)
    places = np.indices(index.shape)[dim]
    index = (places + index[(slice(None),) * dim + (slice(0, 1),)]) % x.shape[dim]
    src = np.arange(1.0, index.size + 1).reshape(index.shape)
    a, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s, ts = Tensor(src, requires_grad=True), torch.tensor(src, requires_grad=True)
    out = a.scatter(dim, index, 7.5 if number else s)
    expected = t.scatter(dim, torch.tensor(index), 7.5 if number else ts)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    w = np.linspace(-1.0, 2.0, out.data.size).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(a.grad, t.grad.numpy())
    if not number:
        np.testing.assert_array_equal(s.grad, ts.grad.numpy())
        grad_check(lambda p, q: (p.scatter(dim, index, q) * w).sum(), Tensor(x, requires_grad=True),
                   Tensor(src, requires_grad=True))


def test_scatter_from_a_larger_src_sends_gradient_only_to_the_entries_it_read():
    a = Tensor(np.zeros((2, 3)), requires_grad=True)
    src = Tensor(np.arange(8.0).reshape(2, 4), requires_grad=True)
    out = a.scatter(1, [[2], [0]], src)
    np.testing.assert_array_equal(out.data, [[0, 0, 0], [4, 0, 0]])
    (out * np.arange(1.0, 7.0).reshape(2, 3)).sum().backward()
    np.testing.assert_array_equal(src.grad, [[3, 0, 0, 0], [4, 0, 0, 0]])
    np.testing.assert_array_equal(a.grad, [[1, 2, 0], [0, 5, 6]])


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: x.gather(1, bl.tensor([[0.0]])), RuntimeError, r"gather: the index must hold whole numbers \(int64\), "
                                                              r"got float64; use \.long\(\)"),
    (lambda x: x.gather(1, bl.tensor([[4]])), RuntimeError, "gather: index 4 is out of range for dimension 1 of "
                                                            "size 4; indices must be from 0 to 3"),
    (lambda x: x.gather(1, bl.tensor([[-1]])), RuntimeError, "gather: index -1 is out of range"),
    (lambda x: x.gather(1, bl.tensor([0, 1])), RuntimeError, "gather: the index has 1 dimensions but the tensor "
                                                             "has 2"),
    (lambda x: x.gather(1, bl.zeros((4, 1), dtype=bl.long)), RuntimeError, r"index of shape \(4, 1\) is larger "
                                                                            r"than the tensor of shape \(3, 4\) in "
                                                                            "dimension 0"),
    (lambda x: x.gather(2, bl.tensor([[0]])), IndexError, "gather: Dimension out of range"),
    (lambda x: x.scatter(1, bl.tensor([[9]]), 1.0), RuntimeError, "scatter: index 9 is out of range"),
    (lambda x: x.scatter(1, bl.tensor([[0, 1]]), bl.ones(1, 1)), RuntimeError, r"scatter: src of shape \(1, 1\) has "
                                                                               "fewer entries than the index"),
    (lambda x: x.scatter(1, bl.tensor([[0]])), RuntimeError, "scatter: give src"),
    (lambda x: x.scatter(1, bl.tensor([[0]]), "a"), TypeError, "scatter: src must be a tensor or a number"),
    (lambda x: x.masked_fill(bl.ones(3, 4), 0.0), RuntimeError, "masked_fill: the mask must be a boolean tensor"),
    (lambda x: x.masked_fill(x > 0, bl.ones(2)), RuntimeError, "masked_fill: value must be a number or a 0-d"),
    (lambda x: x.masked_fill(bl.ones(3, 2) > 0, 0.0), RuntimeError, r"masked_fill: shapes \(3, 4\) and \(3, 2\) "
                                                                     "cannot be broadcast"),
    (lambda x: x[0].tril(), RuntimeError, "tril: the tensor must have at least 2 dimensions"),
    (lambda x: bl.triu(x[0]), RuntimeError, "triu: the tensor must have at least 2 dimensions"),
    (lambda x: x.tril(0.5), TypeError, "tril: diagonal must be a whole number"),
    (lambda x: x.reshape(1, 3, 4).diag(), RuntimeError, "diag: the tensor must have 1 dimension"),
    (lambda x: F.pad(x, (1,)), RuntimeError, r"pad: \(1,\) must hold \(before, after\) pairs"),
    (lambda x: F.pad(x, (1, 1, 1, 1, 1, 1)), RuntimeError, "at most one per dimension of the tensor"),
    (lambda x: F.pad(x, (-3, -2)), RuntimeError, "pad: cropping 3 and 2 entries from dimension 1 of size 4"),
    (lambda x: F.pad(x, (1, 1), mode="mirror"), ValueError, "pad: mode must be 'constant', 'reflect'"),
    (lambda x: F.pad(x, (4, 0), mode="reflect"), RuntimeError, "pad: mode 'reflect' takes widths from 0 to 3"),
    (lambda x: F.pad(x.reshape(12), (1, 0), mode="replicate"), RuntimeError, "pad: mode 'replicate' pads the last"),
])
def test_bad_input_gets_pytorchs_exception_type_and_one_clear_message(call, error, message):
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(error, match=message):
        call(x)


@needs_torch
def test_torch_raises_the_same_exception_types_for_that_input():
    x = torch.zeros(3, 4)
    for call, error in [(lambda: x.gather(1, torch.tensor([[0.0]])), RuntimeError),
                        (lambda: x.gather(1, torch.tensor([[4]])), RuntimeError),
                        (lambda: x.gather(2, torch.tensor([[0]])), IndexError),
                        (lambda: x.masked_fill(torch.ones(3, 4, dtype=torch.long), 0.0), RuntimeError),
                        (lambda: x[0].tril(), RuntimeError),
                        (lambda: torch.diag(x.reshape(1, 3, 4)), RuntimeError),
                        (lambda: x.topk(5), RuntimeError),
                        (lambda: TF.pad(x, (-3, -2)), RuntimeError)]:
        with pytest.raises(error):
            call()


# --- masked_fill, the triangles, diag and pad --------------------------------------------------
@needs_torch
@settings(max_examples=40)
@given(arrays(np.float64, array_shapes(min_dims=2, max_dims=3, max_side=4), elements=st.floats(-3, 3)),
       st.integers(-3, 3), st.data())
def test_masked_fill_tril_triu_diag_and_pad_match_torch_and_central_differences(x, k, data):
    mask = data.draw(arrays(np.bool_, x.shape[-1:]))  # broadcast over the rows, as PyTorch allows
    widths = tuple(data.draw(st.lists(st.integers(-1, 2), min_size=2, max_size=2 * x.ndim).filter(
        lambda w: len(w) % 2 == 0)))
    widths = tuple(w if x.shape[x.ndim - 1 - i // 2] > 2 else abs(w) for i, w in enumerate(widths))
    matrix = x.reshape(x.shape[0], -1)
    cases = [
        (lambda t: t.masked_fill(bl.tensor(mask), -7.0), lambda t: t.masked_fill(torch.tensor(mask), -7.0), x),
        (lambda t: t.tril(k), lambda t: t.tril(k), x),
        (lambda t: bl.triu(t, k), lambda t: torch.triu(t, k), x),
        (lambda t: t.diag(k), lambda t: t.diag(k), matrix),
        (lambda t: bl.diag(t.reshape(-1), k), lambda t: torch.diag(t.reshape(-1), k), matrix),
        (lambda t: F.pad(t, widths, value=0.25), lambda t: TF.pad(t, widths, value=0.25), x),
    ]
    for ours, theirs, value in cases:
        a, t = Tensor(value, requires_grad=True), torch.tensor(value, requires_grad=True)
        out, expected = ours(a), theirs(t)
        np.testing.assert_array_equal(out.data, expected.detach().numpy())
        w = np.linspace(-1.0, 2.0, out.data.size).reshape(out.shape)
        (out * w).sum().backward()
        (expected * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(a.grad, t.grad.numpy())
        grad_check(lambda p: (ours(p) * w).sum(), Tensor(value, requires_grad=True))


@needs_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_that_repeat_entries_add_up_their_gradients_as_torch(mode):
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    a, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.pad(a, (2, 1, 1, 2), mode=mode), TF.pad(t, (2, 1, 1, 2), mode=mode)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    w = np.linspace(-1.0, 2.0, out.data.size).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12)


# --- dtypes, memory and the comparison names ---------------------------------------------------
def test_from_numpy_shares_memory_both_ways_and_refuses_a_list():
    array = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    t = bl.from_numpy(array)
    array[0] = 10.0
    t.numpy()[1] = 20.0
    assert t.dtype == np.float32 and t.tolist() == [10.0, 20.0, 3.0] and array[1] == 20.0
    assert bl.from_numpy(np.arange(3)).dtype == np.int64
    with pytest.raises(TypeError, match="from_numpy: expected a NumPy array, got list"):
        bl.from_numpy([1.0])


@needs_torch
def test_dtype_names_and_type_are_torchs():
    assert (bl.float, bl.double, bl.long, bl.int) == (np.float32, np.float64, np.int64, np.int32)
    x = bl.tensor([1.5, -2.0], requires_grad=True)
    t = torch.tensor([1.5, -2.0], dtype=torch.float64)
    assert x.type() == t.type() == "torch.DoubleTensor"
    pairs = [(bl.float, torch.float), (bl.long, torch.long), (bl.int, torch.int), (bl.double, torch.double)]
    for ours, theirs in pairs:
        converted = x.type(ours)
        assert converted.type() == t.type(theirs).type()
        assert converted.tolist() == t.type(theirs).tolist()
    assert x.type(bl.double) is x
    assert x.type("torch.FloatTensor").dtype == np.float32
    y = x.type(bl.float)
    (y * y).sum().backward()  # between float dtypes the gradient flows through
    np.testing.assert_array_equal(x.grad, [3.0, -4.0])
    assert bl.tensor([1, 2], dtype=bl.long).dtype == np.int64


def test_a_star_import_keeps_pythons_own_float_int_abs_and_sum():
    code = ("from backproplab import *\nimport builtins\n"
            "assert (float, int, abs, sum) == (builtins.float, builtins.int, builtins.abs, builtins.sum)\n"
            "assert sort and topk and gather and from_numpy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_torch
def test_comparison_methods_are_the_operators():
    x, other = np.array([[1.0, 2.0], [3.0, np.nan]]), np.array([2.0, np.nan])
    a, t = bl.tensor(x), torch.tensor(x)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        ours, theirs = getattr(a, name)(bl.tensor(other)), getattr(t, name)(torch.tensor(other))
        assert ours.dtype == np.bool_
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        np.testing.assert_array_equal(getattr(a, name)(2.0).data, getattr(t, name)(2.0).numpy())


def test_view_as_and_contiguous_copy_only_where_needed():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.contiguous() is x
    assert x.view_as(bl.zeros(3, 2)).shape == (3, 2)
    with pytest.raises(RuntimeError, match="view"):
        x.T.view(-1)
    flat = x.T.contiguous().view(-1)  # contiguous makes view work, as in PyTorch
    assert flat.tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    (flat * np.arange(1.0, 7.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
    grad_check(lambda p: (p.T.contiguous() * np.arange(6.0).reshape(3, 2)).sum(), Tensor(x.data, requires_grad=True))


# --- made from nothing: empty, randint, normal -------------------------------------------------
def test_empty_randint_and_normal_use_the_packages_generator():
    assert bl.empty(2, 3).shape == (2, 3) and bl.empty((4,), dtype=bl.float).dtype == np.float32
    bl.manual_seed(5)
    first = (bl.randint(3, 9, (2000,)), bl.normal(2.0, 0.5, (2000,)))
    bl.manual_seed(5)
    again = (bl.randint(3, 9, size=(2000,)), bl.normal(2.0, 0.5, size=(2000,)))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.data, b.data)
    ints, normal = first
    assert ints.dtype == np.int64 and set(np.unique(ints.data)) == set(range(3, 9))
    assert bl.randint(4, (3, 2)).data.max() < 4 and bl.randint(4, (3, 2)).shape == (3, 2)
    assert abs(normal.data.mean() - 2.0) < 0.1 and abs(normal.data.std() - 0.5) < 0.05
    own = bl.Generator(11)
    np.testing.assert_array_equal(bl.randint(0, 100, (5,), generator=own).data,
                                  bl.randint(0, 100, (5,), generator=bl.Generator(11)).data)


def test_normal_with_tensors_draws_one_sample_per_entry():
    means = bl.tensor([0.0, 100.0, -100.0])
    out = bl.normal(means, bl.tensor([0.0, 1.0, 0.0]))
    assert out.shape == (3,) and out.data[0] == 0.0 and out.data[2] == -100.0 and abs(out.data[1] - 100) < 10
    assert bl.normal(bl.zeros(2, 1), 1.0).shape == (2, 1)
    assert bl.normal(0.0, bl.ones(4, dtype=bl.float)).dtype == np.float32
    with pytest.raises(TypeError, match="normal: give size="):
        bl.normal(0.0, 1.0)
    with pytest.raises(RuntimeError, match="normal: std must be 0 or more"):
        bl.normal(0.0, -1.0, (2,))
    with pytest.raises(RuntimeError, match=r"randint: high \(2\) must be larger than low \(2\)"):
        bl.randint(2, 2, (3,))
    with pytest.raises(TypeError, match="randint: give"):
        bl.randint(3)


# --- compile and explain -----------------------------------------------------------------------
def test_a_compiled_step_with_gather_replays_and_reads_the_current_labels():
    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    x = Tensor(rng.normal(size=(5, 3)))
    labels = bl.tensor(rng.integers(0, 4, size=(5, 1)))

    def step():
        logits = (x @ w).log_softmax(dim=1)
        return -logits.gather(1, labels).mean() + F.pad(logits, (1, 0), value=0.5).tril().sum()

    fast = bl.compile(step)
    for k in range(3):
        labels.data = rng.integers(0, 4, size=(5, 1))
        w.grad = None
        loss = fast()
        replayed = np.array(w.grad, copy=True)
        w.grad = None
        plain = step()
        plain.backward()
        assert loss.item() == plain.item()
        np.testing.assert_array_equal(replayed, w.grad)
        w.data = w.data - 0.1 * (k + 1)
    assert fast.records == 1


def test_a_compiled_step_that_sorts_records_again_each_call():
    w = Tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    fast = bl.compile(lambda: (w.sort().values * bl.tensor([1.0, 10.0, 100.0])).sum())
    for _ in range(3):
        w.grad = None
        fast()
        expected = np.array([1.0, 10.0, 100.0])[np.argsort(np.argsort(w.data))]
        np.testing.assert_array_equal(w.grad, expected)
        w.data = -w.data
    assert fast.records == 3


def test_the_explainer_writes_the_chain_through_a_gather():
    p = Tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="p")
    loss = (p.gather(1, bl.tensor([[2, 2, 0]])).named("y") * Tensor([[1.0, 2.0, 3.0]], name="w")).sum()
    loss.backward()
    e = bl.explain(loss, p, index=(0, 2))
    text = e.to_text()
    assert "dL/dp[1,3] = dL/dy[1,1] · dy[1,1]/dp[1,3] + dL/dy[1,2] · dy[1,2]/dp[1,3]" in text  # picked twice
    assert "dL/dp[1,3] = 1 × 1 + 2 × 1" in text and float(np.asarray(p.grad)[0, 2]) == 3.0
    assert bl.ops.OPS["gather"].rule(0) == ("d a[index] along axis axis/da = 1 at each entry the index picks "
                                           "(added up when picked twice), 0 elsewhere")
