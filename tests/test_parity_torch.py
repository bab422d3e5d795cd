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
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
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
