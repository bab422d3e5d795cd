"""Smooth L1 and KL-divergence losses, layer normalization, and the bridge's normalization layers: each
against PyTorch in float64 and against central differences, and explained through the bridge."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import backproplab as bl
from backproplab import Tensor, grad_check
from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.ops import losses as loss_ops
from backproplab.engine.tensor import apply
from backproplab.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

finite = st.floats(-3, 3, allow_nan=False, width=64)
SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def _pair(data, shape, low=-3.0, high=3.0):
    values = st.floats(low, high, allow_nan=False, width=64)
    return data.draw(arrays(np.float64, shape, elements=values)), data.draw(arrays(np.float64, shape, elements=values))


def _compare(ours, theirs, a, b, grad_target=True):
    """Forward values and the gradients for both arguments, ours against PyTorch's (float64, rtol 1e-9)."""
    pa, pb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=grad_target)
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=grad_target)
    out, ref = ours(pa, pb), theirs(ta, tb)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(pa.grad, ta.grad.numpy(), rtol=1e-9, atol=1e-12)
    if grad_target:
        np.testing.assert_allclose(pb.grad, tb.grad.numpy(), rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=SHAPES, beta=st.sampled_from([0.0, 0.3, 1.0, 2.5]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_smooth_l1_loss_matches_pytorch(data, shape, beta, reduction):
    a, b = _pair(data, shape)
    _compare(lambda p, t: F.smooth_l1_loss(p, t, reduction=reduction, beta=beta),
             lambda p, t: TF.smooth_l1_loss(p, t, reduction=reduction, beta=beta), a, b)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=SHAPES, log_target=st.booleans(),
       reduction=st.sampled_from(["batchmean", "mean", "sum", "none"]))
@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
def test_kl_div_matches_pytorch(data, shape, log_target, reduction):
    x, t = _pair(data, shape, -3.0, 0.0)
    if not log_target:
        t = np.exp(t)  # probabilities in (0, 1]
    _compare(lambda p, q: F.kl_div(p, q, reduction=reduction, log_target=log_target),
             lambda p, q: TF.kl_div(p, q, reduction=reduction, log_target=log_target), x, t)


def test_kl_div_counts_a_zero_target_as_nothing():
    x, t = np.array([[-1.0, -2.0, -0.5]]), np.array([[0.0, 0.4, 0.6]])
    _compare(lambda p, q: F.kl_div(p, q, reduction="sum"), lambda p, q: TF.kl_div(p, q, reduction="sum"), x, t,
             grad_target=False)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4),
       normalized=st.integers(1, 3), affine=st.booleans())
def test_layer_norm_matches_pytorch(data, shape, normalized, affine):
    normalized = min(normalized, len(shape))
    last = shape[len(shape) - normalized:]
    x = data.draw(arrays(np.float64, shape, elements=finite))
    w, b = (data.draw(arrays(np.float64, last, elements=finite)) for _ in range(2))
    px, pw, pb = (Tensor(v, requires_grad=True) for v in (x, w, b))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    out = F.layer_norm(px, last, pw if affine else None, pb if affine else None, eps=1e-3)
    ref = TF.layer_norm(tx, last, tw if affine else None, tb if affine else None, eps=1e-3)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = np.random.default_rng(0).normal(size=shape)
    (out * Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    if affine:
        np.testing.assert_allclose(pw.grad, tw.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pb.grad, tb.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_layer_norm_module_has_pytorchs_layout_and_gradients():
    torch.manual_seed(3)
    theirs = torch.nn.LayerNorm((2, 3), eps=1e-4).double()
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = bl.nn.LayerNorm((2, 3), eps=1e-4)
    ours.weight.data, ours.bias.data = theirs.weight.detach().numpy().copy(), theirs.bias.detach().numpy().copy()
    x = np.random.default_rng(1).normal(size=(4, 2, 3))
    (ours(Tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    assert ours.weight.shape == tuple(theirs.weight.shape) == (2, 3)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert bl.nn.LayerNorm(4, elementwise_affine=False).weight is None


@pytest.mark.parametrize("name, attrs", [("smooth_l1", {"beta": 0.7}), ("smooth_l1", {"beta": 0.0}),
                                         ("kl_div", {}), ("kl_div_log_target", {})])
def test_new_loss_ops_match_central_differences(name, attrs):
    rng = np.random.default_rng(4)
    x = Tensor(rng.uniform(-2, 0, size=(3, 4)), requires_grad=True)
    t = Tensor(rng.uniform(0.1, 0.9, size=(3, 4)), requires_grad=True)
    if name == "smooth_l1":
        t = Tensor(x.data + rng.choice([-1.5, -0.3, 0.2, 1.1], size=(3, 4)), requires_grad=True)  # off the kinks
    worst = grad_check(lambda a, b: apply(loss_ops.LOSS_OPS[name], a, b, **attrs), x, t)
    assert set(worst) == {0, 1}


def test_layer_norm_matches_central_differences():
    rng = np.random.default_rng(5)
    x, w, b = (Tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 4), (4,), (4,)])
    g = Tensor(rng.normal(size=(3, 4)))
    worst = grad_check(lambda a, c, d: F.layer_norm(a, 4, c, d) * g, x, w, b)
    assert set(worst) == {0, 1, 2}


def test_loss_modules_have_pytorchs_names_and_defaults():
    a, b = np.array([[0.2, -1.5]]), np.array([[0.1, 0.9]])
    assert float(bl.nn.SmoothL1Loss()(a, b).data) == pytest.approx(TF.smooth_l1_loss(*map(torch.tensor, (a, b))).item())
    kl = bl.nn.KLDivLoss(reduction="batchmean", log_target=True)
    assert (kl.reduction, kl.log_target) == ("batchmean", True)
    ref = torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(*map(torch.tensor, (a, b)))
    assert float(kl(a, b).data) == pytest.approx(ref.item(), rel=1e-12)
    assert bl.nn.KLDivLoss().reduction == torch.nn.KLDivLoss().reduction
    assert bl.nn.SmoothL1Loss().beta == torch.nn.SmoothL1Loss().beta


class Images(torch.nn.Module):
    """Linear, then its 4 outputs as a 2 × 2 image with 1 channel for BatchNorm2d, then flattened again."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.bn = torch.nn.BatchNorm2d(1)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.bn(self.fc(x).view(-1, 1, 2, 2)).flatten(1)))


def _model(norm: str):
    torch.manual_seed(11)
    if norm == "bn2":
        model = Images().double()
    else:
        layer = torch.nn.LayerNorm(4) if norm == "layer" else torch.nn.BatchNorm1d(4)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), layer, torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


def _explains(model, loss_fn, x, y, entry="0.weight[2,1]"):
    model.zero_grad()
    loss_fn(model(x), y).backward()
    exp = bl.explain_torch(model, loss_fn, x, y, wrt=entry)
    name, index = entry[:-1].split("[")
    expected = model.get_parameter(name).grad[tuple(int(i) for i in index.split(","))].item()
    assert exp.gradient == pytest.approx(expected, rel=1e-9, abs=1e-12)


LOSSES = {
    "smooth_l1": TF.smooth_l1_loss,
    "smooth_l1_module": torch.nn.SmoothL1Loss(beta=0.4, reduction="sum"),
    "kl_batchmean": lambda out, y: TF.kl_div(TF.log_softmax(out, 1), y, reduction="batchmean"),
    "kl_module_log_target": torch.nn.KLDivLoss(reduction="sum", log_target=True),
    "kl_none": lambda out, y: TF.kl_div(out.sigmoid().log(), y, reduction="none").sum(),
    "kl_module_mean": torch.nn.KLDivLoss(),
}


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
@pytest.mark.parametrize("loss", list(LOSSES))
def test_bridge_explains_a_weight_entry_with_the_new_losses(loss):
    model = _model("layer")
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.softmax(torch.randn(5, 2, dtype=torch.float64), 1)
    _explains(model, LOSSES[loss], x, y)


@pytest.mark.parametrize("norm", ["layer", "bn1", "bn2"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_bridge_explains_weights_through_normalization_layers(norm, mode):
    model = _model(norm)
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    model.train()
    model(x)  # move the running statistics away from 0 and 1
    getattr(model, mode)()
    first, norm_weight = ("fc.weight[2,1]", "bn.weight[0]") if norm == "bn2" else ("0.weight[2,1]", "1.weight[1]")
    _explains(model, TF.mse_loss, x, y, first)
    _explains(model, TF.mse_loss, x, y, norm_weight)


def test_bridge_explains_functional_layer_norm_in_a_forward():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 4)
            self.gain = torch.nn.Parameter(torch.linspace(0.5, 2.0, 4))

        def forward(self, x):
            return TF.layer_norm(self.fc(x), (4,), self.gain, None, 1e-3).sum(dim=1, keepdim=True)

    torch.manual_seed(2)
    model = Net().double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    _explains(model, TF.mse_loss, x, y, "fc.weight[1,2]")
    _explains(model, TF.mse_loss, x, y, "gain[3]")


def test_bridge_lists_the_new_calls_as_supported():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.PReLU())
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(model.double())
    message = str(info.value)
    for name in ("BatchNorm1d", "BatchNorm2d", "LayerNorm", "SmoothL1Loss", "KLDivLoss",
                 "torch.nn.functional.layer_norm", "torch.nn.functional.smooth_l1_loss", "torch.nn.functional.kl_div"):
        assert name in message, name


@pytest.mark.parametrize("call, message", [
    (lambda: F.smooth_l1_loss(Tensor([1.0]), [0.0], beta=-1.0), "beta must be 0 or more, got -1.0"),
    (lambda: F.kl_div(Tensor([-1.0]), [0.5], reduction="avg"), "reduction must be 'batchmean', 'mean', 'sum' or"),
    (lambda: F.kl_div(Tensor([-1.0]), [-0.5]), "the target must hold probabilities"),
    (lambda: bl.nn.KLDivLoss(reduction="batch"), "reduction must be 'batchmean'"),
    (lambda: bl.nn.SmoothL1Loss(beta="x"), "beta must be a number"),
    (lambda: F.layer_norm(Tensor(np.zeros((2, 3))), (4,)), r"last dimensions must be \(4,\)"),
    (lambda: bl.nn.LayerNorm(0), "normalized_shape must be a whole number"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_bridge_refuses_batch_norm_training_on_one_sample_in_one_line():
    model = _model("bn1")
    x, y = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
    with pytest.raises(TorchBridgeError, match="more than 1 value per channel") as info:
        bl.explain_torch(model, TF.mse_loss, x, y, wrt="0.weight[0,0]")
    assert "\n" not in str(info.value)


def test_the_new_losses_are_explained_through_their_own_derivative():
    w = bl.Parameter([0.5, -1.0], name="w")
    yhat = (w * Tensor([2.0, 3.0], name="x")).named("ŷ")
    loss = F.smooth_l1_loss(yhat, [0.0, 1.0], beta=2.0)
    text = bl.explain(loss, wrt=w).to_text()
    assert "≤ β" in text, text
    loss = F.kl_div(yhat, [0.3, 0.7], reduction="batchmean")
    loss.backward()
    exp = bl.explain(loss, wrt=w, index=(1,))
    assert exp.gradient == pytest.approx(float(w.grad[1]), rel=1e-12)
