"""PyTorch's Dropout and BatchNorm1d/2d, following ``train()``/``eval()``, and Module's ``.double()``,
``.float()`` and ``.to()``: values, gradients and running statistics checked against PyTorch float64,
gradients also against central differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, nn
from backproplab.engine.gradcheck import grad_check
from backproplab.optim import SGD

torch = pytest.importorskip("torch")

SEED = st.integers(0, 2**31)


def values(x) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(values(a), b.detach().numpy() if hasattr(b, "detach") else b, rtol=tol, atol=tol)


# --- Dropout ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_in_training_zeroes_about_p_and_scales_the_rest(p):
    bl.manual_seed(0)
    x = np.random.default_rng(1).uniform(1.0, 2.0, size=(200, 50))
    out = values(nn.Dropout(p)(Tensor(x)))
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.02  # 10,000 draws: 4 standard deviations at most p(1-p)
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - p), rtol=1e-15)


def test_dropout_in_eval_is_the_identity_and_follows_train_again():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = Tensor(np.random.default_rng(2).normal(size=(8, 4)))
    net.eval()
    np.testing.assert_array_equal(values(net(x)), values(net[0](x)))
    net.train()
    assert (values(net(x)) == 0).any()


@settings(max_examples=15, deadline=None)
@given(SEED, st.floats(0.05, 0.9), st.integers(1, 5), st.integers(1, 6))
def test_dropout_gradient_is_the_mask_over_one_minus_p(seed, p, rows, cols):
    x = np.random.default_rng(seed).normal(size=(rows, cols))
    generator = bl.Generator(seed)
    state = generator.rng.bit_generator.state

    def same_mask(t: Tensor) -> Tensor:  # the same mask at every call: central differences need it fixed
        generator.rng.bit_generator.state = state
        return bl.nn.dropout.dropout(t, p, True, generator)

    t = Tensor(x, requires_grad=True)
    out = same_mask(t)
    out.sum().backward()
    mask = values(out) / np.where(x == 0, 1, x)
    np.testing.assert_allclose(values(t.grad), mask, rtol=1e-12, atol=1e-12)
    assert set(np.unique(np.round(mask * (1 - p), 12))) <= {0.0, 1.0}
    grad_check(same_mask, Tensor(x, requires_grad=True), atol=1e-6, rtol=1e-5)


def test_dropout_edges_match_torch():
    x = np.random.default_rng(3).normal(size=(3, 4))
    np.testing.assert_array_equal(values(nn.Dropout(0.0)(Tensor(x))), x)
    np.testing.assert_array_equal(values(nn.Dropout(1.0)(Tensor(x))), torch.nn.Dropout(1.0)(torch.tensor(x)).numpy())
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises((ValueError, TypeError)) as expected:
            torch.nn.Dropout(bad)
        with pytest.raises(expected.type, match="dropout probability has to be"):
            nn.Dropout(bad)


# --- BatchNorm ---------------------------------------------------------------------------------------

def torch_twin(ours: nn.BatchNorm1d, cls=torch.nn.BatchNorm1d, **kw):
    theirs = cls(ours.num_features, dtype=torch.float64, **kw)
    with torch.no_grad():
        if ours.affine:
            theirs.weight.copy_(torch.tensor(values(ours.weight)))
            theirs.bias.copy_(torch.tensor(values(ours.bias)))
    return theirs


def step_both(ours, theirs, x: np.ndarray, upstream: np.ndarray) -> None:
    """One forward and backward in each engine, comparing the output and every gradient."""
    mine, ref = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, want = ours(mine), theirs(ref)
    close(out, want)
    (out * Tensor(upstream)).sum().backward()
    (want * torch.tensor(upstream)).sum().backward()
    close(mine.grad, ref.grad, 1e-10)
    if ours.affine:
        close(ours.weight.grad, theirs.weight.grad, 1e-10)
        close(ours.bias.grad, theirs.bias.grad, 1e-10)
        ours.weight.grad = ours.bias.grad = None
        theirs.weight.grad = theirs.bias.grad = None


def same_stats(ours, theirs) -> None:
    close(ours.running_mean, theirs.running_mean, 1e-13)
    close(ours.running_var, theirs.running_var, 1e-13)
    assert int(values(ours.num_batches_tracked)) == int(theirs.num_batches_tracked)


@settings(max_examples=15, deadline=None)
@given(SEED, st.integers(2, 7), st.integers(1, 4), st.sampled_from([0.1, 0.5, None]), st.booleans(),
       st.sampled_from([(), (3,)]))
def test_batchnorm1d_over_three_training_steps_then_eval_matches_torch(seed, n, c, momentum, affine, length):
    rng = np.random.default_rng(seed)
    ours = nn.BatchNorm1d(c, momentum=momentum, affine=affine)
    if affine:
        ours.weight.data, ours.bias.data = rng.normal(size=c), rng.normal(size=c)
    theirs = torch_twin(ours, momentum=momentum, affine=affine)
    shape = (n, c, *length)
    for _ in range(3):
        step_both(ours, theirs, rng.normal(2.0, 3.0, size=shape), rng.normal(size=shape))
        same_stats(ours, theirs)
    ours.eval()
    theirs.eval()
    step_both(ours, theirs, rng.normal(size=(1, *shape[1:])), rng.normal(size=(1, *shape[1:])))
    same_stats(ours, theirs)


@settings(max_examples=10, deadline=None)
@given(SEED, st.integers(2, 5), st.integers(1, 3))
def test_batchnorm_gradients_match_central_differences(seed, n, c):
    rng = np.random.default_rng(seed)
    bn = nn.BatchNorm1d(c)
    bn.weight.data, bn.bias.data = rng.normal(size=c), rng.normal(size=c)
    upstream = Tensor(rng.normal(size=(n, c)))
    x = Tensor(rng.normal(size=(n, c)), requires_grad=True)
    grad_check(lambda t: bn(t) * upstream, x, atol=1e-6, rtol=1e-5)
    grad_check(lambda w: (bn(x.detach()) * upstream), bn.weight, atol=1e-6, rtol=1e-5)
    bn.eval()
    grad_check(lambda t: bn(t) * upstream, Tensor(rng.normal(size=(n, c)), requires_grad=True))


def test_batchnorm2d_matches_torch():
    rng = np.random.default_rng(5)
    ours = nn.BatchNorm2d(3)
    theirs = torch_twin(ours, torch.nn.BatchNorm2d)
    for _ in range(2):
        step_both(ours, theirs, rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5)))
        same_stats(ours, theirs)
    ours.eval()
    theirs.eval()
    step_both(ours, theirs, rng.normal(size=(1, 3, 4, 5)), rng.normal(size=(1, 3, 4, 5)))


def test_a_batch_of_one_while_training_raises_as_torch():
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.BatchNorm1d(3, dtype=torch.float64)(torch.tensor(x))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(Tensor(x))
    bn = nn.BatchNorm1d(3).eval()
    np.testing.assert_allclose(values(bn(Tensor(x))), x / np.sqrt(1 + 1e-5))


def test_batchnorm_bad_input_is_a_clear_error():
    with pytest.raises(bl.ShapeError, match=r"normalises 3 channel\(s\), got input of shape \(4, 2\)"):
        nn.BatchNorm1d(3)(Tensor(np.ones((4, 2))))
    with pytest.raises(bl.ShapeError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm1d(0)


def test_state_dict_has_torchs_buffer_names_and_loads_a_torch_state_dict():
    rng = np.random.default_rng(6)
    theirs = torch.nn.BatchNorm1d(4, dtype=torch.float64)
    for _ in range(2):
        theirs(torch.tensor(rng.normal(1.0, 2.0, size=(6, 4))))
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.normal(size=4)))
    ours = nn.BatchNorm1d(4)
    ours.load_state_dict(theirs.state_dict())
    same_stats(ours, theirs)
    ours.eval()
    theirs.eval()
    x = rng.normal(size=(3, 4))
    close(ours(Tensor(x)), theirs(torch.tensor(x)))
    keys = set(ours.state_dict())
    assert {"running_mean", "running_var", "num_batches_tracked"} <= keys
    assert {k for k in theirs.state_dict() if "running" in k or "batches" in k} <= keys


def test_a_network_with_two_batchnorms_numbers_them_and_dots_buffer_names():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.1), nn.Linear(3, 3),
                        nn.BatchNorm1d(3), nn.Linear(3, 1))
    twin = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
    names = [name for name, _ in net.named_parameters()]
    assert "gamma1" in names and "beta2" in names and len(names) == len(set(names)) == 10
    buffers = [name for name, _ in net.named_buffers()]
    assert buffers == [name for name, _ in twin.named_buffers()]
    assert set(buffers) <= set(net.state_dict())


def test_compiled_steps_draw_new_masks_and_track_running_statistics():
    bl.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    x = Tensor(np.random.default_rng(8).normal(size=(6, 3)))
    step = bl.compile(lambda: net(x).sum())
    losses = [float(values(step())) for _ in range(3)]
    assert int(values(net[1].num_batches_tracked)) == 3
    assert len(set(losses)) == 3  # a new dropout mask at every call


# --- .double(), .float(), .to() ------------------------------------------------------------------------

def test_conversions_keep_the_parameter_objects_so_an_optimizer_still_trains_them():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    opt = SGD(net.parameters(), lr=0.1)
    before = net.parameters()
    assert net.float() is net
    assert all(p.dtype == np.float32 for p in net.parameters()) and net.parameters() == before
    assert values(net[1].running_var).dtype == np.float32 and values(net[1].num_batches_tracked).dtype == np.int64
    x = Tensor(np.random.default_rng(7).normal(size=(4, 2)).astype(np.float32))
    net(x).sum().backward()
    opt.step()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.to(np.float64) is net and all(p.dtype == np.float64 for p in net.parameters())
    assert all(values(p.grad).dtype == np.float64 for p in net.parameters())
    assert net.to(torch.float32) is net and net[0].weight.dtype == np.float32
    assert net.double() is net and net[0].weight.dtype == np.float64
    assert all(a is b for a, b in zip(opt.params, net.parameters()))


def test_to_a_device_is_the_cpu_only():
    net = nn.Linear(2, 1)
    weight = values(net.weight)
    assert net.to("cpu") is net and net.to(torch.device("cpu")) is net and net.cpu() is net
    assert net.to("cpu", torch.float64) is net and values(net.weight) is weight
    with pytest.raises(ValueError, match="runs on the CPU only, got device 'cuda'"):
        net.to("cuda")
    with pytest.raises(TypeError, match="float32 or float64 only"):
        net.to(np.int64)
