"""PyTorch's ``torch.nn`` habits: loss modules, Flatten and Unflatten, Softmax modules, and Module's
train()/eval(), children(), modules(), apply() and friends, each checked against PyTorch float64 and,
for gradients, against central differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, nn
from backproplab.engine.gradcheck import grad_check
from backproplab.optim import SGD

from .conftest import needs_torch

torch = pytest.importorskip("torch")

REDUCTION = st.sampled_from(["mean", "sum", "none"])
SEED = st.integers(0, 2**31)


def both_ways(ours_call, theirs_call, x: np.ndarray):
    """The value and the input gradient of a loss or layer in each engine, under the same random upstream
    gradient G (so a reduction="none" result is checked entry by entry, not only through its sum); also
    checks our gradient against central differences."""
    mine = Tensor(x, requires_grad=True)
    out = ours_call(mine)
    upstream = np.random.default_rng(1).normal(size=out.shape)
    (out * Tensor(upstream)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    ref = theirs_call(theirs)
    (ref * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    grad_check(lambda t: ours_call(t) * Tensor(upstream), Tensor(x, requires_grad=True), atol=1e-6, rtol=1e-5)
    return out


def torch_tensor(value):
    return None if value is None else torch.tensor(value)


# --- 1. loss modules -----------------------------------------------------------------------------------
@st.composite
def regression_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    rng = np.random.default_rng(draw(SEED))
    return shape, rng.normal(size=shape), rng.normal(size=shape), draw(REDUCTION)


@needs_torch
@given(regression_case(), st.sampled_from(["MSELoss", "L1Loss", "HuberLoss"]), st.sampled_from([0.5, 1.0, 2.0]))
def test_regression_loss_modules_follow_torch(case, name, delta):
    shape, x, y, reduction = case
    kw = {"reduction": reduction} | ({"delta": delta} if name == "HuberLoss" else {})
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    out = both_ways(lambda t: ours(t, y), lambda t: theirs(t, torch.tensor(y)), x)
    assert out.shape == (shape if reduction == "none" else ())


@st.composite
def binary_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(SEED))
    weight = draw(st.sampled_from([None, "full", "last"]))
    if weight == "full":
        weight = rng.uniform(0.1, 2.0, size=shape)
    elif weight == "last":
        weight = rng.uniform(0.1, 2.0, size=shape[-1:])  # broadcast, as PyTorch's weight may be
    return rng.uniform(0.05, 0.95, size=shape), rng.normal(size=shape), rng.uniform(0, 1, size=shape), weight, \
        draw(REDUCTION)


@needs_torch
@given(binary_case())
def test_bce_loss_modules_follow_torch(case):
    probabilities, logits, y, weight, reduction = case
    ours = nn.BCELoss(weight=weight, reduction=reduction)
    theirs = torch.nn.BCELoss(weight=torch_tensor(weight), reduction=reduction)
    both_ways(lambda t: ours(t, y), lambda t: theirs(t, torch.tensor(y)), probabilities)
    ours = nn.BCEWithLogitsLoss(weight=weight, reduction=reduction)
    theirs = torch.nn.BCEWithLogitsLoss(weight=torch_tensor(weight), reduction=reduction)
    both_ways(lambda t: ours(t, y), lambda t: theirs(t, torch.tensor(y)), logits)


@st.composite
def classification_case(draw):
    """Logits (N, C, *extra), class indices (some of them ignore_index) or class probabilities, and settings."""
    n, classes = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(draw(SEED))
    logits = rng.normal(size=(n, classes, *extra))
    labels = rng.integers(0, classes, size=(n, *extra))
    ignore_index = draw(st.sampled_from([-100, 0, 1]))
    labels.reshape(-1)[0] = (ignore_index + 1) % classes  # at least one position counts
    weight = rng.uniform(0.2, 2.0, size=classes) if draw(st.booleans()) else None
    return logits, labels, weight, ignore_index, draw(REDUCTION)


@needs_torch
@given(classification_case(), st.sampled_from([0.0, 0.1, 0.6]), st.booleans())
def test_cross_entropy_loss_module_follows_torch(case, label_smoothing, probabilities):
    logits, labels, weight, ignore_index, reduction = case
    if probabilities:
        rng = np.random.default_rng(2)
        target = rng.dirichlet(np.ones(logits.shape[1]), size=labels.shape)  # (N, *extra, C)
        target = np.moveaxis(target, -1, 1)
        ignore_index = -100  # PyTorch takes ignore_index only with class indices
    else:
        target = labels
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    ours = nn.CrossEntropyLoss(weight, **kw)
    theirs = torch.nn.CrossEntropyLoss(torch_tensor(weight), **kw)
    both_ways(lambda t: ours(t, target), lambda t: theirs(t, torch.tensor(target)), logits)


@needs_torch
@given(classification_case())
def test_nll_loss_module_follows_torch(case):
    logits, labels, weight, ignore_index, reduction = case
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ours = nn.NLLLoss(weight, ignore_index=ignore_index, reduction=reduction)
    theirs = torch.nn.NLLLoss(torch_tensor(weight), ignore_index=ignore_index, reduction=reduction)
    both_ways(lambda t: ours(t, labels), lambda t: theirs(t, torch.tensor(labels)), log_probs)


def test_a_loss_module_gives_its_function_s_tensor_and_trains_a_network():
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(8, 3)), rng.integers(0, 2, size=8)
    assert nn.CrossEntropyLoss()(Tensor(x[:, :2]), labels).item() == bl.losses.cross_entropy(x[:, :2], labels).item()
    total = nn.MSELoss(reduction="sum")(Tensor(x), 0 * x)
    assert total.name == "MSE" and total.item() == pytest.approx(np.sum(x**2), rel=1e-14)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    loss_fn, opt = nn.CrossEntropyLoss(), SGD(net.parameters(), lr=0.5)
    first = loss_fn(net(Tensor(x)), labels).item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(net(Tensor(x)), labels).backward()
        opt.step()
    assert loss_fn(net(Tensor(x)), labels).item() < first / 2
    trace = SGD(net.parameters(), lr=0.1).fit(net, x, labels, loss=nn.CrossEntropyLoss(), max_steps=5)
    assert len(trace.iterations) == 5


@pytest.mark.parametrize("make, message", [
    (lambda: nn.MSELoss(reduction="avg"), "MSELoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: nn.HuberLoss(delta=0), "delta must be a positive number"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), "label_smoothing must be between 0 and 1"),
])
def test_bad_loss_module_settings_are_errors_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_loss_module_reprs_show_settings_other_than_the_defaults():
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"
    assert repr(nn.HuberLoss(delta=2)) == "HuberLoss(delta=2)"


# --- 2. Flatten, Unflatten, Softmax and LogSoftmax ---------------------------------------------------
@st.composite
def flatten_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    nd = len(shape)
    a = draw(st.integers(-nd, nd - 1))
    b = draw(st.integers(a % nd, nd - 1)) - draw(st.sampled_from([0, nd]))  # the same end, counted either way
    return np.random.default_rng(draw(SEED)).normal(size=shape), a, b


@needs_torch
@given(flatten_case())
def test_flatten_follows_torch(case):
    x, start, end = case
    both_ways(nn.Flatten(start, end), torch.nn.Flatten(start, end), x)
    if x.ndim >= 2:
        both_ways(nn.Flatten(), torch.nn.Flatten(), x)


@st.composite
def unflatten_case(draw):
    shape = list(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shape[dim] = int(np.prod(sizes))
    if draw(st.booleans()):
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    return np.random.default_rng(draw(SEED)).normal(size=shape), dim, tuple(sizes)


@needs_torch
@given(unflatten_case())
def test_unflatten_follows_torch(case):
    x, dim, sizes = case
    out = both_ways(nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes), x)
    assert out.ndim == x.ndim + len(sizes) - 1


def test_unflatten_rejects_sizes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"dimension 1 of shape \(2, 6\) cannot be split into \(4, -1\)"):
        nn.Unflatten(1, (4, -1))(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="one -1"):
        nn.Unflatten(1, (-1, -1))


@needs_torch
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data(), SEED)
def test_softmax_modules_follow_torch(shape, data, seed):
    x = np.random.default_rng(seed).normal(size=shape) * 3
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    both_ways(nn.Softmax(dim), torch.nn.Softmax(dim), x)
    both_ways(nn.LogSoftmax(dim=dim), torch.nn.LogSoftmax(dim=dim), x)


@needs_torch
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 2), (2, 2, 3, 2)])
def test_softmax_without_dim_picks_torch_s_dimension_and_warns(shape):
    x = np.arange(float(np.prod(shape))).reshape(shape) / 7
    with pytest.warns(UserWarning, match="without dim"):
        ours = nn.Softmax()(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


# --- 3. Module: train()/eval(), children, modules, apply, requires_grad_, zero_grad ----------------------
class Block(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        self.shared = inner
        self.again = inner  # the same module twice: listed once, as PyTorch does

    def forward(self, x):
        return self.again(self.shared(self.body(x)))


class TorchBlock(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
        self.shared = inner
        self.again = inner


def pair():
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), Block(nn.Linear(4, 4)), nn.Flatten(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), TorchBlock(torch.nn.Linear(4, 4)),
                                 torch.nn.Flatten(), torch.nn.Linear(4, 2)).double()
    return ours, theirs


def shape_of(m) -> str:
    return type(m).__name__.removeprefix("Torch")


@needs_torch
def test_children_and_modules_list_what_torch_lists_in_its_order():
    ours, theirs = pair()
    assert [(n, shape_of(m)) for n, m in ours.named_modules()] == [(n, shape_of(m)) for n, m in theirs.named_modules()]
    assert [(n, shape_of(m)) for n, m in ours.named_children()] == [(n, shape_of(m))
                                                                   for n, m in theirs.named_children()]
    assert [shape_of(m) for m in ours.modules()] == [shape_of(m) for m in theirs.modules()]
    assert [shape_of(m) for m in ours.children()] == [shape_of(m) for m in theirs.children()]
    assert list(ours[2].named_modules(prefix="block"))[1][0] == "block.body"
    seen, seen_torch = [], []
    assert ours.apply(lambda m: seen.append(shape_of(m))) is ours
    theirs.apply(lambda m: seen_torch.append(shape_of(m)))
    assert seen == seen_torch
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 16 + 20 + 20 + 10


@needs_torch
def test_train_and_eval_set_training_everywhere_and_return_the_module():
    ours, theirs = pair()
    assert all(m.training for m in ours.modules())
    assert ours.eval() is ours and ours[2].train() is ours[2]
    theirs.eval()
    theirs[2].train()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    assert ours[2].again.training and not ours[0].training
    assert all(m.training for m in ours.train().modules())
    with pytest.raises(ValueError, match="boolean"):
        ours.train("no")


def test_requires_grad_and_zero_grad_as_torch():
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    net(Tensor(np.ones((4, 2)))).sum().backward()
    assert all((p.grad != 0).any() for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_a_network_can_read_training_in_its_forward():
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(1, 1)

        def forward(self, x):
            return self.fc(x) + (1.0 if self.training else 0.0)

    net = nn.Sequential(Noisy())
    x = Tensor([[1.0]])
    assert net(x).item() - net.eval()(x).item() == 1.0
