"""Parity with PyTorch (float64) on random compositions of ops, where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import losses

from .conftest import needs_torch

pytestmark = needs_torch

def torch_softplus(a):
    import torch

    return torch.nn.functional.softplus(a)


def torch_f():
    import torch

    return torch.nn.functional


def square_t(a):
    """Transpose square matrices only, so every step keeps its shape."""
    return a.T if a.ndim == 2 and a.shape[0] == a.shape[1] else a


# Each step: (name, arity, backproplab function, torch function). Compositions stay in safe domains.
UNARY = {
    "tanh": (lambda a: a.tanh(), lambda a: a.tanh()),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    "softplus": (lambda a: a.softplus(), lambda a: torch_softplus(a)),
    "relu": (lambda a: a.relu(), lambda a: a.relu()),
    "exp_tanh": (lambda a: a.tanh().exp(), lambda a: a.tanh().exp()),
    "log1p_softplus": (lambda a: (a.softplus() + 1).log(), lambda a: (torch_softplus(a) + 1).log()),
    "neg": (lambda a: -a, lambda a: -a),
    "square": (lambda a: a ** 2, lambda a: a ** 2),
    "pow_tensor": (lambda a: (a.sigmoid() + 0.5) ** (a.tanh()), lambda a: (a.sigmoid() + 0.5) ** (a.tanh())),
    # Reductions are broadcast back onto their input, so every step keeps the shape.
    "sum_keep": (lambda a: a - a.sum(axis=-1, keepdims=True) / 3, lambda a: a - a.sum(dim=-1, keepdim=True) / 3),
    "mean_keep": (lambda a: a * a.mean(axis=0, keepdims=True), lambda a: a * a.mean(dim=0, keepdim=True)),
    "lse_keep": (lambda a: a - a.logsumexp(axis=-1, keepdims=True), lambda a: a - a.logsumexp(dim=-1, keepdim=True)),
    "transpose": (lambda a: square_t(a) * 1.5, lambda a: square_t(a) * 1.5),
    # Ops added for PyTorch users, away from their kinks (random normal data almost never hits them).
    "abs_sqrt": (lambda a: (a.abs() + 0.1).sqrt(), lambda a: (a.abs() + 0.1).sqrt()),
    "clamp": (lambda a: a.clamp(-1.0, 1.0), lambda a: a.clamp(-1.0, 1.0)),
    "gelu_silu": (lambda a: bl.functional.gelu(bl.functional.silu(a)), lambda a: torch_f().gelu(torch_f().silu(a))),
    "softmax_dim": (lambda a: a.softmax(dim=-1) * 3, lambda a: a.softmax(dim=-1) * 3),
    "var_keep": (lambda a: a * a.var(dim=-1, keepdim=True), lambda a: a * a.var(dim=-1, keepdim=True)),
    "max_keep": (lambda a: a - a.max(dim=-1, keepdim=True).values, lambda a: a - a.max(dim=-1, keepdim=True).values),
    "sin_cos": (lambda a: a.sin() * a.cos(), lambda a: a.sin() * a.cos()),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "maximum": (lambda a, b: bl.maximum(a, b), lambda a, b: __import__("torch").maximum(a, b)),
    "where": (lambda a, b: bl.where(a > b, a, b * 2), lambda a, b: __import__("torch").where(a > b, a, b * 2)),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b.sigmoid() + 0.5), lambda a, b: a / (b.sigmoid() + 0.5)),
    # b is broadcast to 3×3 first, so a @ (…) keeps a's shape whatever the shapes drawn.
    "matmul": (lambda a, b: a @ (b * np.ones((3, 3))).T.tanh() / 3,
               lambda a, b: a @ (b * __import__("torch").ones(3, 3, dtype=b.dtype)).T.tanh() / 3),
}


@st.composite
def programs(draw):
    steps = []
    for _ in range(draw(st.integers(1, 10))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, 50))))
        else:
            picks = (draw(st.integers(0, 50)), draw(st.integers(0, 50)))
            steps.append(("b", draw(st.sampled_from(sorted(BINARY))), *picks))
    seed = draw(st.integers(0, 2**31 - 1))
    return steps, seed


def run(program, leaves, unary, binary, idx):
    pool = list(leaves)
    for step in program:
        if step[0] == "u":
            pool.append(unary[step[1]][idx](pool[step[2] % len(pool)]))
        else:
            pool.append(binary[step[1]][idx](pool[step[2] % len(pool)], pool[step[3] % len(pool)]))
    total = pool[-1].sum()
    for node in pool[len(leaves):]:
        total = total + node.mean() * 0.1
    return total


@given(programs())
def test_random_graphs_agree_with_torch_float64(case):
    import torch

    program, seed = case
    rng = np.random.default_rng(seed)
    shapes = [(3, 3), (3, 3), (1, 3), (3,)]  # broadcast partners, all square-compatible for matmul
    arrays = [rng.normal(size=s) for s in shapes]
    ours = [bl.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out_ours = run(program, ours, UNARY, BINARY, 0)
    out_theirs = run(program, theirs, UNARY, BINARY, 1)
    out_ours.backward()
    out_theirs.backward()
    np.testing.assert_allclose(out_ours.item(), out_theirs.item(), rtol=1e-9, atol=1e-12)
    for a, b in zip(ours, theirs):
        expected = b.grad.numpy() if b.grad is not None else np.zeros(a.shape)
        got = a.grad if a.grad is not None else np.zeros(a.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["ssr", "mse", "bce", "cross_entropy"])
def test_losses_agree_with_torch_float64(name):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(1)
    if name == "cross_entropy":
        z, y = rng.normal(size=(5, 4)) * 5, rng.integers(0, 4, size=5)
        ref = lambda t: F.cross_entropy(t, torch.tensor(y))
    else:
        z = rng.normal(size=7) * 5
        y = rng.uniform(size=7) if name == "bce" else rng.normal(size=7)
        yt = torch.tensor(y)
        ref = {"ssr": lambda t: ((yt - t) ** 2).sum(), "mse": lambda t: F.mse_loss(t, yt),
               "bce": lambda t: F.binary_cross_entropy_with_logits(t, yt)}[name]
    ours = bl.Tensor(z, requires_grad=True)
    theirs = torch.tensor(z, requires_grad=True)
    a = losses.get_loss(name)(ours, y)
    b = ref(theirs)
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


def train(m, F, optim, X, y, W1, b1, W2, b2, steps=25):
    """A small PyTorch training script, written once: ``m`` is torch or backproplab."""
    params = [m.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    w1, c1, w2, c2 = params
    opt = optim.Adam(params, lr=0.05)
    x, labels = m.tensor(X), m.tensor(y)
    n = x.shape[0]
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        h = F.gelu(x @ w1 + c1, approximate="tanh")
        h = m.cat([F.silu(h[:, :4]), F.leaky_relu(h[:, 4:], 0.1).clamp(-2.0, 2.0)], dim=1)
        logits = h @ w2 + c2
        logp = F.log_softmax(logits, dim=1)
        loss = -logp[m.arange(n), labels].mean() + 0.01 * (w1 ** 2).sum().sqrt()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with m.no_grad():
        h = F.gelu(x @ w1 + c1, approximate="tanh")
        h = m.cat([F.silu(h[:, :4]), F.leaky_relu(h[:, 4:], 0.1).clamp(-2.0, 2.0)], dim=1)
        accuracy = ((h @ w2 + c2).argmax(dim=1) == labels).float().mean().item()
    return losses, accuracy, [p.detach().numpy() for p in params]


def test_a_ported_training_script_gives_torchs_numbers():
    """The same script with torch changed to backproplab: losses, accuracy and weights agree to 1e-9."""
    import torch
    import torch.nn.functional as TF

    from backproplab import functional as F

    X, y = bl.datasets.moons(40, seed=2)
    rng = np.random.default_rng(0)
    init = (rng.normal(size=(2, 8)) * 0.8, np.zeros(8), rng.normal(size=(8, 2)) * 0.5, np.zeros(2))
    ours = train(bl, F, bl.optim, X, y, *init)
    torch.set_default_dtype(torch.float64)
    try:
        theirs = train(torch, TF, torch.optim, X, y, *init)
    finally:
        torch.set_default_dtype(torch.float32)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-9)
    assert ours[1] == theirs[1] and ours[1] > 0.7
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
