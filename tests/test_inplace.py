"""In-place ops, the version counter and ``.grad`` as a tensor, each against PyTorch (float64) and, for
gradients, central differences: the autograd tutorial's ``a -= lr * a.grad; a.grad = None`` loop included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import backproplab as bl
from backproplab import Tensor

from .conftest import needs_torch

torch = pytest.importorskip("torch")

FINITE = st.floats(-10, 10, allow_nan=False, width=64)
NONZERO = st.floats(0.5, 10, width=64) | st.floats(-10, -0.5, width=64)

# name: (backproplab's in-place call, PyTorch's), each given the tensor and the other operand
IN_PLACE = {
    "+=": (lambda t, o: t.__iadd__(o), lambda t, o: t.__iadd__(o)),
    "-=": (lambda t, o: t.__isub__(o), lambda t, o: t.__isub__(o)),
    "*=": (lambda t, o: t.__imul__(o), lambda t, o: t.__imul__(o)),
    "/=": (lambda t, o: t.__itruediv__(o), lambda t, o: t.__itruediv__(o)),
    "add_": (lambda t, o: t.add_(o), lambda t, o: t.add_(o)),
    "add_alpha": (lambda t, o: t.add_(o, alpha=-0.5), lambda t, o: t.add_(o, alpha=-0.5)),
    "sub_": (lambda t, o: t.sub_(o), lambda t, o: t.sub_(o)),
    "sub_alpha": (lambda t, o: t.sub_(o, alpha=2.0), lambda t, o: t.sub_(o, alpha=2.0)),
    "mul_": (lambda t, o: t.mul_(o), lambda t, o: t.mul_(o)),
    "div_": (lambda t, o: t.div_(o), lambda t, o: t.div_(o)),
    "copy_": (lambda t, o: t.copy_(o), lambda t, o: t.copy_(o)),
    "zero_": (lambda t, o: t.zero_(), lambda t, o: t.zero_()),
    "fill_": (lambda t, o: t.fill_(2.5), lambda t, o: t.fill_(2.5)),
    "clamp_": (lambda t, o: t.clamp_(-1.0, 2.0), lambda t, o: t.clamp_(-1.0, 2.0)),
    "clamp_min": (lambda t, o: t.clamp_(min=0.5), lambda t, o: t.clamp_(min=0.5)),
    "clamp_tensor": (lambda t, o: t.clamp_(max=o), lambda t, o: t.clamp_(max=o)),
}


def torch_of(x, requires_grad=False):
    return torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=requires_grad)


@needs_torch
@pytest.mark.parametrize("name", sorted(IN_PLACE))
@given(values=arrays(np.float64, (2, 3), elements=FINITE), other=arrays(np.float64, (3,), elements=NONZERO))
def test_each_in_place_op_writes_into_the_same_array_as_torch(name, values, other):
    ours, theirs = IN_PLACE[name]
    t = Tensor(values.copy())
    array, shared = t.data, t.detach()
    got = ours(t, Tensor(other))
    want = theirs(torch_of(values), torch_of(other))
    assert got is t and t.data is array and t._version == 1
    np.testing.assert_allclose(t.data, want.numpy(), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(shared.data, t.data)  # detach() shares the memory, as in PyTorch


@needs_torch
def test_the_tutorials_loop_follows_torch_for_50_steps():
    """PyTorch's autograd tutorial: a cubic fitted to sin(x) with tensors, updated in place under no_grad."""
    x = np.linspace(-np.pi, np.pi, 200)
    y = np.sin(x)
    start = [-0.3, 0.2, 0.1, -0.05]
    ours = [Tensor(v, requires_grad=True) for v in start]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start]
    lr = 1e-6
    for _ in range(50):
        for params, xs, ys, no_grad in ((ours, Tensor(x), Tensor(y), bl.no_grad),
                                        (theirs, torch_of(x), torch_of(y), torch.no_grad)):
            a, b, c, d = params
            loss = (a + b * xs + c * xs ** 2 + d * xs ** 3 - ys).pow(2).sum()
            loss.backward()
            with no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None
    for a, b in zip(ours, theirs):
        assert a.grad is None and a.is_leaf and a.requires_grad
        assert abs(a.item() - b.item()) <= 1e-12
    assert ours[0]._version == 50


def test_a_leaf_that_requires_grad_refuses_an_in_place_op_outside_no_grad():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    for op in (lambda: w.__isub__(1.0), lambda: w.zero_(), lambda: w.normal_(), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match=r"'w' \(shape \(2,\)\): a leaf tensor that requires grad .*bl.no_grad"):
            op()
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    assert w._version == 0
    with bl.no_grad():
        w -= 1.0
        w[1] = 7.0
    np.testing.assert_array_equal(w.data, [0.0, 7.0])
    assert w.is_leaf and w.requires_grad and w._version == 2


def test_backward_refuses_an_input_changed_after_it_was_used():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x.exp().named("h")
    loss = (h * h).sum()
    h.mul_(2.0)  # h is read by h * h: its gradient would use the new values
    with pytest.raises(RuntimeError, match=r"'h' \(shape \(2,\)\), an input of mul, was modified by an in-place "
                                           r"operation after it was used; use an out-of-place op \(x = x \+ 1\) "
                                           r"or \.clone\(\)"):
        loss.backward()
    c = Tensor([3.0, 4.0])
    loss = (x * c).sum()
    c += 1.0  # a constant counts too: the gradient of x is c
    with pytest.raises(RuntimeError, match=r"a tensor of shape \(2,\), an input of mul, was modified"):
        loss.backward()


def test_a_view_changed_in_place_counts_as_a_change_of_what_it_views():
    x = Tensor(np.arange(6.0), requires_grad=True)
    h = x * 2.0
    v = h.reshape(2, 3)  # the same memory as h
    loss = (h * h).sum()
    v += 1.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def residual(w, x):
    """A residual block, as ResNet's: out = x·w; out += x; then scaled in place and squashed."""
    out = x @ w
    out += x
    out *= 0.5
    return out.tanh()


@needs_torch
@given(w=arrays(np.float64, (3, 3), elements=st.floats(-2, 2)), x=arrays(np.float64, (4, 3), elements=FINITE))
def test_a_residual_add_in_place_gets_gradients_as_central_differences_and_torch(w, x):
    tw, tx = Tensor(w, requires_grad=True), Tensor(x, requires_grad=True)
    bl.grad_check(residual, tw, tx, atol=1e-5, rtol=1e-4)
    tw.grad = tx.grad = None
    out = residual(tw, tx)
    assert out.op is not None and not out.is_leaf
    out.sum().backward()
    qw, qx = torch_of(w, True), torch_of(x, True)
    residual(qw, qx).sum().backward()
    np.testing.assert_allclose(tw.grad, qw.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
def test_a_tensor_with_no_gradient_joins_the_graph_when_what_it_adds_has_one():
    w, q = Tensor([1.0, -2.0], requires_grad=True), torch_of([1.0, -2.0], True)
    results = []
    for v in (w, q):
        total = (v * 0.0).detach() + 1.0  # no gradient: a result made outside any graph
        total += v * v
        total *= v
        assert total.requires_grad and not total.is_leaf
        total.sum().backward()
        results.append(v.grad.numpy().copy())
    np.testing.assert_allclose(*results, rtol=1e-15)


@needs_torch
@pytest.mark.parametrize("name", ["zero_", "fill_", "copy_", "clamp_", "setitem"])
def test_a_recorded_tensor_overwritten_in_place_passes_gradients_as_torch(name):
    values, other = np.array([[0.5, -1.5, 2.5], [1.0, 3.0, -0.2]]), np.array([0.3, -0.7, 1.1])
    results = []
    for make in (lambda v, g: Tensor(v, requires_grad=g), torch_of):
        w, o = make(values, True), make(other, True)
        h = w * 3.0
        {"zero_": lambda: h.zero_(), "fill_": lambda: h.fill_(2.0), "copy_": lambda: h.copy_(o * 2.0),
         "clamp_": lambda: h.clamp_(-1.0, 4.0), "setitem": lambda: h.__setitem__((0, slice(1, 3)), 9.0)}[name]()
        (h * h + o).sum().backward()
        results.append((h.detach().numpy(), w.grad.numpy(), o.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)


@needs_torch
def test_int_and_float32_tensors_cast_as_torch():
    i = Tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type Double can't be cast to the desired output type Long"):
        i += 0.5
    with pytest.raises(RuntimeError, match="result type .* can't be cast"):
        torch.tensor([1, 2, 3]).__iadd__(0.5)
    i += 2
    i *= Tensor(np.array([2, 2, 2], dtype=np.int32))
    np.testing.assert_array_equal(i.data, [6, 8, 10])
    assert i.dtype == np.int64
    cases = [(lambda t: t.fill_(2.7), np.int64), (lambda t: t.copy_(Tensor([0.9, -1.9, 2.5])), np.int64),
             (lambda t: t.__iadd__(Tensor([0.1, 0.2, 0.3])), np.float32), (lambda t: t.__setitem__(1, 7.9), np.int64)]
    for op, dtype in cases:
        ours, theirs = Tensor(np.array([1, 2, 3], dtype=dtype)), torch.tensor(np.array([1, 2, 3], dtype=dtype))
        op(ours)
        op_torch = {0: lambda t: t.fill_(2.7), 1: lambda t: t.copy_(torch.tensor([0.9, -1.9, 2.5])),
                    2: lambda t: t.__iadd__(torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)),
                    3: lambda t: t.__setitem__(1, 7.9)}[cases.index((op, dtype))]
        op_torch(theirs)
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_an_in_place_op_cannot_change_the_shape():
    t = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"result has shape \(2, 3\) but the tensor has shape \(3,\)"):
        t += Tensor(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="fill_ takes a single number"):
        t.fill_([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"copy_: values of shape \(2,\) do not broadcast to the tensor's shape"):
        t.copy_(Tensor([1.0, 2.0]))
    np.testing.assert_array_equal(t.data, [1.0, 2.0, 3.0])
    assert t._version == 0


def test_backward_refuses_a_result_changed_under_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # its gradient reads y itself
    with bl.no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match=r"the result of exp, was modified by an in-place operation"):
        y.backward(np.ones(2))


def test_normal_and_uniform_draw_from_the_packages_generator():
    bl.manual_seed(7)
    t = bl.zeros(3, 4)
    array = t.data
    assert t.normal_(2.0, 0.5) is t and t.data is array
    np.testing.assert_array_equal(t.data, np.random.default_rng(7).standard_normal((3, 4)) * 0.5 + 2.0)
    gen = bl.Generator(3)
    t.uniform_(-1.0, 1.0, generator=gen)
    np.testing.assert_array_equal(t.data, -1.0 + 2.0 * np.random.default_rng(3).random((3, 4)))
    f = bl.zeros(1000, dtype=np.float32).uniform_(2.0, 3.0)
    assert f.dtype == np.float32 and 2.0 <= f.data.min() and f.data.max() <= 3.0
    assert t._version == 2


def test_a_compiled_replay_sees_parameters_changed_in_place():
    x = Tensor(np.linspace(-1, 1, 5))
    plain_w, w = Tensor([0.5], requires_grad=True), Tensor([0.5], requires_grad=True)
    run = bl.compile(lambda: ((x * w).tanh() - x).pow(2).sum())
    for _ in range(6):
        loss = run()
        plain = ((x * plain_w).tanh() - x).pow(2).sum()
        plain.backward()
        assert loss.item() == plain.item()
        with bl.no_grad():
            w -= 0.3 * w.grad
            plain_w -= 0.3 * plain_w.grad
        w.grad = plain_w.grad = None
    np.testing.assert_array_equal(w.data, plain_w.data)


# --- .grad is a tensor ----------------------------------------------------------------------------------------
@needs_torch
def test_grad_is_a_tensor_sharing_the_stored_gradient():
    w = Tensor([3.0, -4.0], requires_grad=True)
    q = torch_of([3.0, -4.0], True)
    assert w.grad is None and q.grad is None
    (w * w).sum().backward()
    (q * q).sum().backward()
    g = w.grad
    assert isinstance(g, Tensor) and g is w.grad and not g.requires_grad and g.op is None
    assert g.norm().item() == pytest.approx(q.grad.norm().item(), rel=1e-15) == 10.0
    assert g[0].item() == q.grad[0].item() == 6.0
    assert float(g[1]) == -8.0 and g.shape == (2,) and np.allclose(g, [6.0, -8.0])
    (w * w).sum().backward()  # accumulates into the same memory the tensor shows
    np.testing.assert_array_equal(g.data, [12.0, -16.0])
    w.grad.zero_()
    q.grad.zero_()
    np.testing.assert_array_equal(w.grad.numpy(), q.grad.numpy())
    (w * 2.0).sum().backward()  # adds into the zeroed gradient
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])
    assert "grad=[2., 2.]" in repr(w)


def test_grad_can_be_set_to_a_tensor_an_array_or_none():
    w = Tensor([1.0, 2.0], requires_grad=True)
    given_grad = Tensor([0.5, 0.25])
    w.grad = given_grad
    assert w.grad is given_grad
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(given_grad.data, [3.5, 3.25])  # added into the tensor given
    w.grad = np.array([1.0, 1.0])
    assert isinstance(w.grad, Tensor) and w.grad.tolist() == [1.0, 1.0]
    w.grad = None
    assert w.grad is None
    with pytest.raises(RuntimeError, match=r"assigned grad has shape \(3,\), but the tensor has shape \(2,\)"):
        w.grad = np.zeros(3)


def test_numpy_reads_a_tensor_and_updates_arrays_with_it():
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    array = w.data
    w.data -= 0.5 * w.grad  # NumPy's own in-place update of the array: it stays an array
    assert w.data is array and type(w.data) is np.ndarray
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    assert np.asarray(w.grad).dtype == np.float64 and np.array(w.grad, dtype=np.float32).dtype == np.float32
    assert isinstance(np.ones(2) + w, Tensor) and (np.ones(2) + w).op is not None  # recorded as w + array is
    assert isinstance(np.exp(w), Tensor) and np.exp(w).op is not None
    assert np.isfinite(w.grad).all()


def _changed_through_detach(lib, tensor):
    """exp's result changed in place through its detach() before backward: exp's VJP would read the new values."""
    a = tensor([1.0, 2.0], requires_grad=True)
    x = a.exp()
    d = x.detach()
    d.add_(1.0)
    versions = (x._version, d._version)
    x.sum().backward()
    return versions, a.grad


def _original_changed_under_a_detach(lib, tensor):
    """A constant used through its detach() in mul, then changed in place: mul's VJP for w reads it."""
    w = tensor([2.0, 3.0], requires_grad=True)
    x = tensor([1.0, 1.0])
    y = (x.detach() * w).sum()
    x.mul_(5.0)
    y.backward()
    return (x._version,), w.grad


def _detach_changed_after_backward(lib, tensor):
    """The change comes after backward(): nothing read the old values later, so it is allowed."""
    a = tensor([1.0, 2.0], requires_grad=True)
    x = a.exp()
    x.sum().backward()
    d = x.detach()
    d.mul_(0.0)
    return (x._version, d._version), a.grad


@needs_torch
@pytest.mark.parametrize("scenario", [_changed_through_detach, _original_changed_under_a_detach,
                                      _detach_changed_after_backward])
def test_a_detached_tensor_shares_its_version_counter_as_in_pytorch(scenario):
    """detach() shares memory and one version counter (PyTorch's rule): both libraries refuse the same backward
    passes, count the same versions, and give the same gradients where they do not refuse."""
    outcomes = []
    for lib, tensor in ((bl, lambda v, **k: bl.tensor(v, **k)),
                        (torch, lambda v, **k: torch.tensor(v, dtype=torch.float64, **k))):
        try:
            versions, grad = scenario(lib, tensor)
            outcomes.append(("ok", versions, np.asarray(grad.numpy())))
        except RuntimeError as exc:
            assert "modified by an inplace operation" in str(exc).replace("in-place", "inplace")
            outcomes.append(("refused", None, None))
    (ours, *mine), (theirs, *torchs) = outcomes
    assert ours == theirs
    if ours == "ok":
        assert mine[0] == torchs[0]
        np.testing.assert_array_equal(mine[1], torchs[1])
