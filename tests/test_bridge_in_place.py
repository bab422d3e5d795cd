"""explain_torch on forwards that change tensors in place (``att.masked_fill_``, ``x.relu_()``, ``h.mul_``), run
as their out-of-place forms, and the in-place calls refused in one line (on an input, a parameter, a view).

Every oracle is PyTorch's own float64 autograd, computed in the test, and central differences of PyTorch's loss.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backproplab as bl
from backproplab.bridge import TorchBridgeError

from .conftest import needs_torch
from .test_bridge_bugs import central_entry as central  # PyTorch's own loss, by central differences

pytestmark = needs_torch
torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class MaskedHead(nn.Module):
    """One causal attention head written with in-place calls, as older attention code writes it."""

    def __init__(self, n_embd=6, size=4, block=5):
        super().__init__()
        self.key, self.query, self.value = (nn.Linear(n_embd, size, bias=False) for _ in range(3))
        self.register_buffer("tril", torch.tril(torch.ones(block, block)))
        self.proj = nn.Linear(size, n_embd)

    def forward(self, x):
        T = x.size(1)
        k, q, v = self.key(x), self.query(x), self.value(x)
        att = q @ k.transpose(-2, -1)
        att.mul_(1.0 / math.sqrt(k.size(-1)))
        att.masked_fill_(self.tril[:T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        h = self.proj(att @ v)
        h.add_(x)  # the residual, in place: later uses of h see the sum
        return h.relu_()  # the result is the changed tensor itself


def _model_and_data():
    torch.manual_seed(4)
    model = MaskedHead().double()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    y = torch.randn(2, 5, 6, dtype=torch.float64)
    return model, x, y


@pytest.mark.parametrize(("name", "index"), [("query.weight", (1, 2)), ("key.weight", (3, 0)),
                                             ("value.weight", (2, 5)), ("proj.bias", (4,))])
def test_a_forward_that_changes_tensors_in_place_gives_pytorchs_gradient(name, index):
    model, x, y = _model_and_data()
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt=f"{name}[{','.join(map(str, index))}]")
    (expected,) = torch.autograd.grad(F.mse_loss(model(x), y), [dict(model.named_parameters())[name]])
    assert expected[index] != 0
    gradient = np.asarray(exp.gradient)
    value = float(gradient) if gradient.ndim == 0 else float(gradient[index])
    np.testing.assert_allclose(value, float(expected[index]), rtol=1e-9)
    np.testing.assert_allclose(value, central(model, lambda: F.mse_loss(model(x), y), name, index), rtol=1e-6)


def test_the_converted_network_computes_what_pytorch_computes():
    model, x, _ = _model_and_data()
    net = bl.from_torch(model, example=x)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(net(bl.Tensor(x.numpy())).numpy(), expected, rtol=1e-12, atol=1e-15)


class ChangesItsInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        x.mul_(2.0)
        return self.lin(x)


class ChangesAView(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        h = self.lin(x)
        flat = h.view(-1)
        h.relu_()  # flat sees the change in PyTorch: both share one memory
        return flat


class ChangesAParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        self.scale.clamp_(0.0, 1.0)
        return x * self.scale


@pytest.mark.parametrize(("model", "words"), [
    (ChangesItsInput(), ".mul_() (used at"),
    (ChangesAView(), "shares its memory with a view"),
    (ChangesAParameter(), "a parameter or buffer of the model"),
])
def test_in_place_calls_that_would_change_shared_memory_are_refused_in_one_line(model, words):
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as caught:
        bl.explain_torch(model.double(), lambda out, y: (out * y).sum(), x, torch.ones(1, dtype=torch.float64),
                         wrt="lin.weight[0,0]" if hasattr(model, "lin") else "scale[0]")
    text = str(caught.value)
    assert words in text and "\n" not in text and "Traceback" not in text
