"""PyTorch's spellings, factories and return types, checked against torch itself where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor
from backproplab import functional as F

from .conftest import needs_torch


def test_dim_and_keepdim_spell_the_same_as_axis_and_keepdims():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    for name in ("sum", "mean", "logsumexp"):
        a = getattr(x, name)(dim=1, keepdim=True)
        b = getattr(x, name)(axis=1, keepdims=True)
        np.testing.assert_array_equal(a.data, b.data)
        assert a.shape == (2, 1)
    assert bl.logsumexp(x, dim=0).shape == (3,)
    with pytest.raises(TypeError, match="not both"):
        x.sum(axis=0, dim=1)


def test_operator_spellings_record_the_same_ops():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 5.0])
    for spelled, operator in [(a.add(b), a + b), (a.sub(b), a - b), (a.mul(b), a * b), (a.div(b), a / b),
                              (a.pow(2), a ** 2), (a.neg(), -a), (a.matmul(b), a @ b), (bl.add(a, b), a + b),
                              (a.add(b, alpha=2), a + 2 * b), (bl.sub(a, b, alpha=0.5), a - 0.5 * b)]:
        np.testing.assert_array_equal(spelled.data, operator.data)
        assert spelled.op is operator.op


def test_item_tolist_numpy_detach_and_clone():
    a = Tensor([[1.5, -2.0]], requires_grad=True)
    assert a.sum().item() == -0.5 and a.tolist() == [[1.5, -2.0]]
    assert a.numpy() is a.data and a.detach().data is a.data and not a.detach().requires_grad
    c = a.clone()
    assert c.data is not a.data and c.requires_grad
    (c * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [[3.0, 3.0]])
    assert a.dim() == 2 and a.numel() == 2


@needs_torch
def test_max_min_and_arg_along_a_dim_return_what_torch_returns_at_ties():
    import torch

    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    ours, theirs = Tensor(data), torch.tensor(data)
    for dim in (0, 1, -1):
        for which in ("max", "min"):
            got = getattr(ours, which)(dim=dim)
            want = getattr(theirs, which)(dim=dim)
            np.testing.assert_array_equal(got.values.data, want.values.numpy())
            np.testing.assert_array_equal(got.indices.data, want.indices.numpy())
            assert got.indices.dtype == np.int64
            values, indices = getattr(ours, which)(dim, keepdim=True)  # unpacks as torch's named tuple
            assert values.shape == tuple(getattr(theirs, which)(dim, keepdim=True).values.shape)
        for which in ("argmax", "argmin"):
            np.testing.assert_array_equal(getattr(ours, which)(dim).data, getattr(theirs, which)(dim).numpy())
    assert ours.argmax().item() == theirs.argmax().item() and ours.argmin().item() == theirs.argmin().item()
    np.testing.assert_array_equal(bl.max(ours, ours * 0 + 2.5).data, torch.max(theirs, theirs * 0 + 2.5).numpy())


@needs_torch
def test_whole_tensor_max_shares_a_tie_evenly_and_along_a_dim_picks_one_index():
    import torch

    data = np.array([[1.0, 3.0], [3.0, 2.0]])
    for call in (lambda t: t.max(), lambda t: t.max(dim=1).values.sum(), lambda t: t.max(0)[0].sum()):
        ours, theirs = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        call(ours).backward()
        call(theirs).backward()
        np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())
    ours = Tensor(data, requires_grad=True)
    ours.max().backward()
    np.testing.assert_array_equal(ours.grad, [[0.0, 0.5], [0.5, 0.0]])  # d max/dx shared by the two 3s


@needs_torch
@pytest.mark.parametrize("call", [
    lambda m, t: m.squeeze(t(np.ones((1, 3, 1, 2)))).shape,
    lambda m, t: t(np.ones((1, 3, 1, 2))).squeeze(2).shape,
    lambda m, t: t(np.ones((1, 3, 1, 2))).squeeze(1).shape,
    lambda m, t: t(np.ones((3, 2))).unsqueeze(-1).shape,
    lambda m, t: t(np.ones((2, 3, 4))).flatten(1).shape,
    lambda m, t: t(np.ones((2, 3, 4))).view(4, -1).shape,
    lambda m, t: t(np.ones((2, 3, 4))).permute(2, 0, 1).shape,
    lambda m, t: t(np.ones((2, 3, 4))).transpose(0, 2).shape,
    lambda m, t: t(np.ones((3, 1))).expand(2, 3, 4).shape,
    lambda m, t: t(np.ones((3, 1))).expand(-1, 5).shape,
    lambda m, t: [p.shape for p in t(np.ones((7, 2))).split(3)],
    lambda m, t: [p.shape for p in t(np.ones((7, 2))).split([1, 6])],
    lambda m, t: [p.shape for p in t(np.ones((7, 2))).chunk(3)],
    lambda m, t: [p.shape for p in t(np.ones((5, 2))).chunk(4)],
    lambda m, t: m.cat([t(np.ones((2, 3))), t(np.zeros((1, 3)))]).shape,
    lambda m, t: m.stack([t(np.ones((2, 3))), t(np.zeros((2, 3)))], dim=2).shape,
])
def test_shape_ops_give_torchs_shapes(call):
    import torch

    got = call(bl, Tensor)
    want = call(torch, torch.tensor)
    norm = (lambda s: [tuple(x) for x in s]) if isinstance(want, list) else tuple
    assert norm(got) == norm(want)


def test_expanding_a_size_that_is_not_1_is_a_clear_error():
    with pytest.raises(ValueError, match="only dimensions of size 1 can grow"):
        Tensor(np.ones((3, 2))).expand(3, 4)
    with pytest.raises(ValueError, match="must add up to 7"):
        Tensor(np.ones(7)).split([3, 3])
    with pytest.raises(ValueError, match="name every dimension once"):
        Tensor(np.ones((2, 2))).permute(0, 0)
    with pytest.raises(ValueError, match="differ outside dimension 0"):
        bl.cat([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))])


@needs_torch
def test_factories_match_torch_shapes_dtypes_and_values():
    import torch

    pairs = [
        (bl.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64)),
        (bl.ones((2,)), torch.ones(2, dtype=torch.float64)),
        (bl.full((2, 2), 7), torch.full((2, 2), 7)),
        (bl.full((2,), 0.5), torch.full((2,), 0.5, dtype=torch.float64)),
        (bl.eye(3), torch.eye(3, dtype=torch.float64)),
        (bl.eye(2, 3), torch.eye(2, 3, dtype=torch.float64)),
        (bl.arange(5), torch.arange(5)),
        (bl.arange(1, 10, 3), torch.arange(1, 10, 3)),
        (bl.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25, dtype=torch.float64)),
        (bl.linspace(-1, 1, 5), torch.linspace(-1, 1, 5, dtype=torch.float64)),
        (bl.zeros_like(Tensor([1, 2])), torch.zeros_like(torch.tensor([1, 2]))),
        (bl.ones_like(Tensor([1.0, 2.0]), dtype=bl.float32), torch.ones(2, dtype=torch.float32)),
        (bl.full_like(Tensor([[1.0]]), 3.0), torch.full((1, 1), 3.0, dtype=torch.float64)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ours.data.dtype == theirs.numpy().dtype


def test_factories_take_requires_grad_and_dtype():
    w = bl.zeros(2, 2, requires_grad=True)
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 3.0))
    assert bl.ones(3, dtype=bl.float32).dtype == np.float32 and bl.arange(3, dtype=float).dtype == np.float64
    with pytest.raises(TypeError, match="only floating point"):
        bl.arange(3, requires_grad=True)


def test_random_factories_repeat_with_a_seed_and_a_generator():
    bl.manual_seed(0)
    a = bl.randn(3, 2)
    bl.manual_seed(0)
    b = bl.randn(3, 2)
    np.testing.assert_array_equal(a.data, b.data)
    g1, g2 = bl.Generator().manual_seed(5), bl.Generator(5)
    u1, u2 = bl.rand(1000, generator=g1), bl.rand(1000, generator=g2)
    np.testing.assert_array_equal(u1.data, u2.data)
    assert 0 <= u1.data.min() and u1.data.max() < 1 and abs(u1.data.mean() - 0.5) < 0.05
    n = bl.randn_like(bl.zeros(4000), generator=bl.Generator(1))
    assert abs(n.data.std() - 1) < 0.05 and bl.rand_like(n).shape == (4000,)
    assert bl.randn(2, requires_grad=True).requires_grad


@needs_torch
def test_one_hot_matches_torch_and_rejects_bad_labels():
    import torch

    labels = [0, 2, 1, 2]
    np.testing.assert_array_equal(F.one_hot(Tensor(labels)).data, torch.nn.functional.one_hot(torch.tensor(labels)))
    np.testing.assert_array_equal(F.one_hot(Tensor(labels), 5).data,
                                  torch.nn.functional.one_hot(torch.tensor(labels), 5))
    assert F.one_hot(Tensor(labels)).dtype == np.int64
    with pytest.raises(TypeError, match="whole numbers"):
        F.one_hot(Tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="too large for 2 classes"):
        F.one_hot(Tensor(labels), 2)


def test_softplus_with_default_settings_is_the_worked_examples_op():
    x = Tensor([0.5, -1.0], requires_grad=True)
    assert F.softplus(x).op is bl.ops.softplus_op
    assert F.softplus(x, beta=2.0).op is bl.ops.OPS["softplus_beta"]
    assert F.softplus(Tensor([30.0])).item() == 30.0  # above the threshold: z itself, as PyTorch


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="boolean"):
        bl.where(Tensor([1.0, 0.0]), 1.0, 2.0)
    assert bl.where(Tensor([True, False]), 1.0, 2.0).tolist() == [1.0, 2.0]


def test_var_and_std_default_to_pytorchs_correction():
    x = Tensor([1.0, 2.0, 4.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 4], ddof=1))
    assert x.var(correction=0).item() == pytest.approx(np.var([1, 2, 4]))
    assert x.std(unbiased=False).item() == pytest.approx(np.std([1, 2, 4]))


def test_functional_losses_are_the_losses_under_pytorchs_names():
    from backproplab import losses

    assert F.cross_entropy is losses.cross_entropy and F.mse_loss is losses.mse
    assert F.binary_cross_entropy_with_logits is losses.bce_with_logits


def test_a_0d_whole_number_tensor_is_an_index_and_star_import_keeps_the_builtins():
    assert [10, 20, 30][Tensor(2)] == 30 and int(Tensor(2.7)) == 2
    with pytest.raises(TypeError, match="single whole number"):
        [1, 2][Tensor(1.0)]
    namespace: dict = {}
    exec("from backproplab import *", namespace)
    assert "sum" not in namespace and "max" not in namespace and "cat" in namespace
