"""Losses: values, shape checks and stability (gradients are in test_ops and test_parity_torch)."""

from __future__ import annotations

import numpy as np
import pytest

from backproplab import Tensor, losses


def test_ssr_is_the_sum_of_squared_residuals():
    yhat = Tensor([-2.6, -1.6, -2.61], requires_grad=True)
    loss = losses.ssr(yhat, [0.0, 1.0, 0.0])
    assert loss.item() == pytest.approx(2.6**2 + 2.6**2 + 2.61**2)
    loss.backward()
    np.testing.assert_allclose(yhat.grad, [-2 * 2.6, -2 * 2.6, -2 * 2.61])
    assert loss.name == "SSR"


def test_column_and_row_targets_never_broadcast_to_a_square():
    yhat = Tensor(np.ones((3, 1)), requires_grad=True)
    assert losses.mse(yhat, [1.0, 2.0, 3.0]).item() == pytest.approx((0 + 1 + 4) / 3)
    with pytest.raises(ValueError, match="one target value per prediction"):
        losses.ssr(yhat, [1.0, 2.0])


@pytest.mark.parametrize("z", [-1000.0, 1000.0])
def test_bce_and_cross_entropy_are_stable_for_huge_logits(z):
    logits = Tensor([z, -z], requires_grad=True)
    loss = losses.bce_with_logits(logits, [1.0, 0.0])
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    big = Tensor([[z, 0.0, -z]], requires_grad=True)
    ce = losses.cross_entropy(big, [0])
    ce.backward()
    assert np.isfinite(ce.item()) and np.all(np.isfinite(big.grad))
    assert ce.item() == pytest.approx(0.0 if z > 0 else 2000.0)


def test_cross_entropy_labels_and_probabilities_agree():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    a = losses.cross_entropy(Tensor(z), [1, 2]).item()
    b = losses.cross_entropy(Tensor(z), np.eye(3)[[1, 2]]).item()
    assert a == pytest.approx(b)


def test_bad_targets_are_clear_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        losses.bce_with_logits(Tensor([0.0]), [2.0])
    with pytest.raises(ValueError, match="whole numbers from 0 to 2"):
        losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, 3])
    with pytest.raises(ValueError, match=r"need class indices of shape \(\) or class probabilities of shape \(3,\)"):
        losses.cross_entropy(Tensor(np.zeros(3)), [0])
    with pytest.raises(ValueError, match="unknown loss 'sse'; did you mean 'ssr'"):
        losses.get_loss("sse")


# --- PyTorch's shapes, reductions and options ----------------------------------------------------
import re  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from backproplab import grad_check  # noqa: E402
from backproplab.engine.ops import losses as loss_ops  # noqa: E402

from .conftest import needs_torch  # noqa: E402

REDUCTION = st.sampled_from(["mean", "sum", "none"])
SHAPE = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def floats(shape, lo, hi):
    return arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False))


@st.composite
def regression_case(draw):
    shape = draw(SHAPE)
    return draw(floats(shape, -5, 5)), draw(floats(shape, -5, 5)), draw(REDUCTION)


def ours_and_torch(ours_fn, torch_fn, *arrays_, grad=(0,), torch_args=None):
    """The loss and its gradients from backproplab and from PyTorch float64, for the same numbers."""
    import torch

    mine = [Tensor(a, requires_grad=k in grad) for k, a in enumerate(arrays_)]
    theirs = [torch.tensor(a, requires_grad=k in grad) if torch_args is None or k not in torch_args
              else torch_args[k] for k, a in enumerate(arrays_)]
    a, b = ours_fn(*mine), torch_fn(*theirs)
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-12)
    a.sum().backward()
    b.sum().backward()
    for k in grad:
        np.testing.assert_allclose(mine[k].grad, theirs[k].grad.numpy(), rtol=1e-10, atol=1e-12)
    return a


SQUARED_AND_L1 = {
    "mse": (losses.mse, "mse_loss"), "l1": (losses.l1_loss, "l1_loss"), "ssr": (losses.ssr, "mse_loss"),
}


@needs_torch
@given(regression_case(), st.sampled_from(["mse", "l1", "ssr"]))
def test_regression_losses_match_torch_in_every_reduction(case, name):
    import torch.nn.functional as F

    yhat, y, reduction = case
    ours, theirs = SQUARED_AND_L1[name]  # SSR with reduction "mean" is the MSE; its default stays the sum
    out = ours_and_torch(lambda a, b: ours(a, b, reduction=reduction),
                         lambda a, b: getattr(F, theirs)(a, b, reduction=reduction), yhat, y, grad=(0, 1))
    if name == "ssr" and reduction == "sum":
        assert out.op.name == "ssr" and out.name == "SSR"


def test_ssr_defaults_to_the_sum_and_its_mean_is_the_mse():
    yhat, y = Tensor([1.0, 2.0, 4.0]), [0.0, 0.0, 0.0]
    assert losses.ssr(yhat, y).item() == 21.0
    assert losses.ssr(yhat, y, reduction="mean").item() == pytest.approx(7.0)
    np.testing.assert_array_equal(losses.ssr(yhat, y, reduction="none").data, [1.0, 4.0, 16.0])
    assert losses.mse(yhat, y, reduction="sum").item() == 21.0
    assert losses.mse_loss is losses.mse


@needs_torch
@given(regression_case(), st.floats(0.05, 4))
def test_huber_matches_torch_including_at_the_kink(case, delta):
    import torch.nn.functional as F

    yhat, y, reduction = case
    yhat = yhat.copy()
    yhat.flat[0] = y.flat[0] + delta  # exactly at |ŷ − y| = δ, where PyTorch's value is used
    ours_and_torch(lambda a, b: losses.huber_loss(a, b, reduction=reduction, delta=delta),
                   lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta), yhat, y, grad=(0, 1))


@needs_torch
@given(st.data(), REDUCTION, st.booleans())
def test_binary_cross_entropy_matches_torch(data, reduction, weighted):
    import torch
    import torch.nn.functional as F

    shape = data.draw(SHAPE)
    p = data.draw(floats(shape, 0.001, 0.999))
    y = data.draw(floats(shape, 0, 1))
    w = data.draw(floats(shape[-1:], 0, 3)) if weighted else None
    tw = None if w is None else torch.tensor(w)
    ours_and_torch(lambda a, b: losses.binary_cross_entropy(a, b, w, reduction=reduction),
                   lambda a, b: F.binary_cross_entropy(a, b, tw, reduction=reduction), p, y, grad=(0, 1))
    z = data.draw(floats(shape, -30, 30))
    ours_and_torch(lambda a, b: losses.binary_cross_entropy_with_logits(a, b, w, reduction=reduction),
                   lambda a, b: F.binary_cross_entropy_with_logits(a, b, tw, reduction=reduction), z, y,
                   grad=(0, 1))


@needs_torch
def test_binary_cross_entropy_clamps_the_log_at_minus_100_as_torch():
    import torch.nn.functional as F

    p, y = np.array([0.0, 1.0, 1e-50, 0.5]), np.array([1.0, 0.0, 1.0, 0.0])
    out = ours_and_torch(lambda a, b: losses.binary_cross_entropy(a, b, reduction="none"),
                         lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), p, y, grad=(0,))
    assert out.data[0] == 100.0 and out.data[1] == 100.0


@st.composite
def classification_case(draw):
    """Logits of shape (C,), (N, C) or (N, C, d1[, d2]) and matching class indices or probabilities."""
    c = draw(st.integers(1, 4))
    extra = draw(st.lists(st.integers(1, 3), max_size=2))
    shape = draw(st.sampled_from([(c,), (draw(st.integers(1, 4)), c), (draw(st.integers(1, 3)), c, *extra)]))
    z = draw(floats(shape, -20, 20))
    probs = draw(st.booleans())
    index_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if probs:
        raw = draw(floats(shape, 0.0, 1.0))
        axis = 0 if len(shape) == 1 else 1
        y = raw / np.maximum(raw.sum(axis=axis, keepdims=True), 1e-3)
    else:
        y = draw(arrays(np.int64, index_shape, elements=st.integers(0, c - 1)))
        if draw(st.booleans()) and y.size > 1:
            y.flat[0] = -100  # ignore_index
    weight = draw(floats((c,), 0.1, 3)) if draw(st.booleans()) else None
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
    return z, y, probs, weight, smoothing, draw(REDUCTION)


@needs_torch
@given(classification_case())
def test_cross_entropy_matches_torch_in_every_shape_and_option(case):
    import torch
    import torch.nn.functional as F

    z, y, probs, weight, smoothing, reduction = case
    tw = None if weight is None else torch.tensor(weight)
    ty = torch.tensor(y)
    ours_and_torch(
        lambda a, b: losses.cross_entropy(a, y, weight, reduction=reduction, label_smoothing=smoothing),
        lambda a, b: F.cross_entropy(a, ty, tw, reduction=reduction, label_smoothing=smoothing),
        z, z, grad=(0,))


@needs_torch
@given(classification_case())
def test_nll_loss_matches_torch(case):
    import torch
    import torch.nn.functional as F

    z, y, probs, weight, _, reduction = case
    if probs:
        return
    axis = 0 if z.ndim == 1 else 1
    log_p = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    tw = None if weight is None else torch.tensor(weight)
    ours_and_torch(lambda a: losses.nll_loss(a, y, weight, reduction=reduction),
                   lambda a: F.nll_loss(a, torch.tensor(y), tw, reduction=reduction), log_p)


@given(classification_case())
def test_cross_entropy_matches_central_differences(case):
    z, y, probs, weight, smoothing, reduction = case
    t = Tensor(z, requires_grad=True)
    grad_check(lambda a: losses.cross_entropy(a, y, weight, reduction=reduction, label_smoothing=smoothing), t)
    if probs:  # the probabilities get a gradient too
        ty = Tensor(y, requires_grad=True)
        grad_check(lambda a, b: losses.cross_entropy(a, b, weight, reduction=reduction), t, ty)


@given(regression_case(), st.floats(0.1, 3))
def test_regression_losses_match_central_differences(case, delta):
    yhat, y, reduction = case
    away = np.abs(yhat - y)
    if np.any(away < 1e-3) or np.any(np.abs(away - delta) < 1e-3):
        return  # central differences straddle the kink there
    a, b = Tensor(yhat, requires_grad=True), Tensor(y, requires_grad=True)
    for fn in (losses.ssr, losses.mse, losses.l1_loss, lambda p, q, **kw: losses.huber_loss(p, q, delta=delta, **kw)):
        grad_check(lambda p, q, fn=fn: fn(p, q, reduction=reduction), a, b)


@given(st.data())
def test_binary_cross_entropy_matches_central_differences(data):
    shape = data.draw(SHAPE)
    p = Tensor(data.draw(floats(shape, 0.05, 0.95)), requires_grad=True)
    y = Tensor(data.draw(floats(shape, 0.01, 0.99)), requires_grad=True)
    z = Tensor(data.draw(floats(shape, -5, 5)), requires_grad=True)
    reduction = data.draw(REDUCTION)
    grad_check(lambda a, b: losses.binary_cross_entropy(a, b, reduction=reduction), p, y)
    grad_check(lambda a, b: losses.bce_with_logits(a, b, reduction=reduction), z, y)


def test_cross_entropy_of_huge_logits_is_finite_as_in_torch():
    z = Tensor([[1e308, -1e308, 0.0]], requires_grad=True)
    with np.errstate(all="ignore"):
        loss = losses.cross_entropy(z, [0])
        loss.backward()
    assert loss.item() == 0.0 and np.all(np.isfinite(z.grad))
    with np.errstate(all="ignore"):
        assert losses.cross_entropy(Tensor([[1e308, -1e308, 0.0]]), [2]).item() == pytest.approx(1e308)


def test_unbatched_and_spatial_cross_entropy_agree_with_the_batched_form():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 3, 4))  # (N, C, d1)
    y = rng.integers(0, 3, size=(2, 4))
    flat_z = np.moveaxis(z, 1, -1).reshape(-1, 3)
    expected = losses.cross_entropy(Tensor(flat_z), y.reshape(-1), reduction="none").data
    got = losses.cross_entropy(Tensor(z), y, reduction="none")
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got.data.reshape(-1), expected)
    one = losses.cross_entropy(Tensor(flat_z[0]), y.reshape(-1)[0])
    assert one.shape == () and one.item() == pytest.approx(expected[0])
    assert losses.cross_entropy(Tensor(flat_z[0]), y.reshape(-1)[0], reduction="none").shape == ()


def test_mse_of_nothing_is_nan_and_backward_works():
    yhat = Tensor(np.zeros((0,)), requires_grad=True)
    loss = losses.mse(yhat, np.zeros((0,)))
    assert np.isnan(loss.item())
    loss.backward()
    assert yhat.grad.shape == (0,)
    for fn in (losses.l1_loss, losses.huber_loss, losses.bce_with_logits):
        yhat.grad = None
        fn(yhat, np.zeros((0,))).backward()
        assert yhat.grad.shape == (0,)
    assert losses.ssr(yhat, np.zeros((0,))).item() == 0.0


def test_new_losses_are_explained_through_their_own_derivative():
    import backproplab as bl

    w = bl.Parameter([0.5, -1.0], name="w")
    yhat = (w * Tensor([2.0, 3.0], name="x")).named("ŷ")
    text = bl.explain(losses.l1_loss(yhat, [0.0, 1.0], reduction="sum"), wrt=w).to_text()
    assert "sign(ŷ" in text, text
    text = bl.explain(losses.huber_loss(yhat, [0.0, 1.0], delta=2.0), wrt=w).to_text()
    assert "≤ δ" in text, text


@pytest.mark.parametrize("op", list(loss_ops.LOSS_OPS.values()), ids=list(loss_ops.LOSS_OPS))
def test_every_loss_op_states_its_local_derivative_in_text_and_latex(op):
    assert op.elementwise and len(op.vjps) == len(op.args) == len(op.partials)
    for k in range(len(op.args)):
        text, latex = op.rule(k), op.rule(k, kind="latex")
        assert text.startswith(("d ", "d(")) and "=" in text
        assert "$" not in text and "$" not in latex, "a placeholder was left unfilled"
        assert latex.count("{") == latex.count("}")
        assert not re.search(r"[−·σ²ᵀ∂δ≤]", latex), "LaTeX must use macros, not Unicode maths"


@pytest.mark.parametrize("call, message", [
    (lambda: losses.mse(Tensor([1.0]), [1.0], reduction="avg"),
     "mse: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, 1], reduction=None), "reduction must be"),
    (lambda: losses.huber_loss(Tensor([1.0]), [1.0], delta=-1), "delta must be a positive number, got -1.0"),
    (lambda: losses.huber_loss(Tensor([1.0]), [1.0], delta="x"), "delta must be a number"),
    (lambda: losses.binary_cross_entropy(Tensor([1.5]), [1.0]), "must be probabilities between 0 and 1"),
    (lambda: losses.binary_cross_entropy(Tensor([0.5]), [2.0]), "targets must lie between 0 and 1"),
    (lambda: losses.l1_loss(Tensor([1.0, 2.0]), [1.0]), "one target value per prediction"),
    (lambda: losses.cross_entropy(Tensor(np.zeros((2, 3, 4))), np.zeros((2, 3))),
     r"need class indices of shape \(2, 4\) or class probabilities of shape \(2, 3, 4\)"),
    (lambda: losses.cross_entropy(Tensor(5.0), 0), "needs a class axis"),
    (lambda: losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, 1], weight=[1.0, 2.0]),
     r"weight needs one number per class, shape \(3,\)"),
    (lambda: losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, 1], label_smoothing=1.5),
     "label_smoothing must be between 0 and 1"),
    (lambda: losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, -1], reduction="sum"),
     "labels must be whole numbers from 0 to 2"),
    (lambda: losses.nll_loss(Tensor(np.zeros((2, 3))), np.zeros((2, 3))), r"need class indices of shape \(2,\);"),
    (lambda: losses.bce_with_logits(Tensor([0.0, 1.0]), [0.0, 1.0], weight=[1.0, 2.0, 3.0]), "does not broadcast"),
])
def test_bad_loss_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


EXPLAINED = {
    "l1": lambda z: losses.l1_loss(z, np.full(z.shape, 0.3)),
    "huber": lambda z: losses.huber_loss(z, np.full(z.shape, 0.3), delta=0.5, reduction="sum"),
    "bce": lambda z: losses.binary_cross_entropy(z.sigmoid(), np.full(z.shape, 0.25), [1.0, 2.0, 0.5]),
    "bce_logits_none": lambda z: losses.bce_with_logits(z, np.full(z.shape, 0.25), reduction="none").sum(),
    "mse_none": lambda z: losses.mse(z, np.ones(z.shape), reduction="none").sum(),
    "nll": lambda z: losses.nll_loss(z, [0, 2, 1, 1], reduction="sum"),
    "ce_options": lambda z: losses.cross_entropy(z, [0, 2, -100, 1], [1.0, 2.0, 3.0], label_smoothing=0.2),
    "ce_probabilities": lambda z: losses.cross_entropy(z, np.full(z.shape, 1 / 3), reduction="sum"),
}


@pytest.mark.parametrize("name", list(EXPLAINED))
def test_explanations_through_the_new_losses_add_up_to_the_engines_gradient(name):
    import backproplab as bl

    rng = np.random.default_rng(7)
    W = bl.Parameter(rng.normal(size=(2, 3)), name="W")
    loss = EXPLAINED[name](Tensor(rng.normal(size=(4, 2)), name="x") @ W)
    loss.backward()
    for index in [(0, 0), (1, 2)]:
        e = bl.explain(loss, W, index=index, form="paths", max_terms=10_000)
        assert e.gradient == pytest.approx(float(W.grad[index]), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(bl.explain(loss, W, form="delta").gradient, W.grad, rtol=1e-12, atol=1e-15)
