"""explain_torch on models as PyTorch users write them: the quickstart network, a forward with an optional
``targets``, a random forward, a frozen parameter, and models the bridge cannot convert.

Every oracle is PyTorch's own float64 autograd, computed in the test.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import backproplab as bl
from backproplab.bridge import TorchBridgeError

from .conftest import needs_torch

pytestmark = needs_torch


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def torch_entry(model, loss, name, index):
    import torch

    (grad,) = torch.autograd.grad(loss, [dict(model.named_parameters())[name]])
    return float(grad[index])


def quickstart():
    """PyTorch's quickstart network, as its tutorial writes it."""
    import torch
    from torch import nn

    class NeuralNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                                   nn.Linear(512, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    torch.manual_seed(0)
    return NeuralNetwork().double()


def test_an_entry_of_the_quickstart_networks_first_weight_is_pytorchs():
    import torch
    import torch.nn.functional as F

    model = quickstart()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 28, 28, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    exp = bl.explain_torch(model, F.cross_entropy, x, y, wrt="linear_relu_stack.0.weight[3,5]")
    expected = torch_entry(model, F.cross_entropy(model(x), y), "linear_relu_stack.0.weight", (3, 5))
    assert np.ndim(exp.gradient) == 0
    np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9)
    assert exp.form == "entry" and exp.details["index"] == [3, 5]
    text = str(exp)
    assert "linear_relu_stack.0.weight[4,6]" in text and "PyTorch's linear_relu_stack.0.weight[3, 5]" in text


@pytest.mark.parametrize("n", [68, 69, 90])
def test_an_entry_of_a_square_linear_layer_is_pytorchs(n):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(n)
    model = torch.nn.Linear(n, n).double()
    x, y = torch.randn(4, n, dtype=torch.float64), torch.randn(4, n, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="weight[3,5]")
    expected = torch_entry(model, F.mse_loss(model(x), y), "weight", (3, 5))
    assert np.ndim(exp.gradient) == 0
    np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9)
    assert "weight[4,6]" in str(exp)


def test_an_entry_explained_layer_by_layer_is_compared_as_an_entry():
    import torch
    import torch.nn.functional as F

    torch.manual_seed(3)
    model = torch.nn.Linear(80, 80).double()
    x, y = torch.randn(3, 80, dtype=torch.float64), torch.randn(3, 80, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="weight[7,2]", form="delta")
    (grad,) = torch.autograd.grad(F.mse_loss(model(x), y), [model.weight])
    np.testing.assert_allclose(np.asarray(exp.gradient), grad.numpy(), rtol=1e-9)


def with_targets(loss_in_forward):
    """A forward with an optional ``targets``, as makemore and nanoGPT write it."""
    import torch
    import torch.nn.functional as F

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(5, 6)
            self.head = torch.nn.Linear(6, 3)

        def forward(self, idx, targets=None):
            logits = self.head(torch.tanh(self.hidden(idx)))
            loss = None
            if targets is not None:
                loss = loss_in_forward(logits, targets)
            return logits, loss

    torch.manual_seed(4)
    return Model().double(), F


def test_a_forward_with_optional_targets_explains_the_logits_or_its_own_loss():
    import torch

    model, F = with_targets(lambda logits, t: F.cross_entropy(logits, t, label_smoothing=0.25))
    x = torch.randn(7, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    # the logits, with the loss given
    exp = bl.explain_torch(model, F.cross_entropy, x, y, wrt="head.weight[1,2]")
    np.testing.assert_allclose(exp.gradient, torch_entry(model, F.cross_entropy(model(x)[0], y), "head.weight",
                                                         (1, 2)), rtol=1e-9)
    # the forward's own loss, when no loss is given
    own = bl.explain_torch(model, None, x, y, wrt="hidden.weight[2,4]")
    expected = torch_entry(model, model(x, y)[1], "hidden.weight", (2, 4))
    np.testing.assert_allclose(own.gradient, expected, rtol=1e-9)
    assert not np.isclose(expected, torch_entry(model, F.cross_entropy(model(x)[0], y), "hidden.weight", (2, 4)))


def test_an_optional_argument_left_out_of_the_conversion_is_named():
    import torch

    model, _ = with_targets(lambda logits, t: (logits - t).pow(2).mean())
    x = torch.randn(2, 5, dtype=torch.float64)
    net = bl.from_torch(model)
    out = net(bl.Tensor(x.numpy()))
    np.testing.assert_allclose(out[0].data, model(x)[0].detach().numpy(), rtol=1e-12)
    with pytest.raises(TorchBridgeError) as info:
        net(bl.Tensor(x.numpy()), bl.Tensor(np.zeros((2, 3))))
    text = one_line(info.value)
    assert "targets" in text and "inputs=" in text


class DynamicNet:
    """PyTorch's DynamicNet: each forward draws how many terms it adds."""

    @staticmethod
    def make():
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                for name in "abcde":
                    setattr(self, name, torch.nn.Parameter(torch.randn((), dtype=torch.float64)))

            def forward(self, x):
                y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
                for exp in range(4, random.randint(4, 6)):
                    y = y + self.e * x ** exp
                return y

        return Net()


@pytest.mark.parametrize("seed", range(6))
def test_a_random_forward_is_named_as_random(seed):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    random.seed(seed)
    model = DynamicNet.make()
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)
    try:
        exp = bl.explain_torch(model, F.mse_loss, x, torch.sin(x), wrt="e")
    except TorchBridgeError as exc:
        text = one_line(exc)
        assert "random" in text and "seed" in text and "report" not in text
        assert "line" in text and "random.randint" in text
    else:  # the forwards drew alike every time: the explained number is PyTorch's for that draw
        assert exp.details["torch_gradient"] == pytest.approx(float(exp.gradient), rel=1e-9)


def test_random_forwards_are_caught_on_most_seeds():
    import torch
    import torch.nn.functional as F

    caught = 0
    for seed in range(8):
        torch.manual_seed(seed)
        random.seed(seed)
        x = torch.linspace(-1, 1, 9, dtype=torch.float64)
        try:
            bl.explain_torch(DynamicNet.make(), F.mse_loss, x, torch.sin(x), wrt="e")
        except TorchBridgeError as exc:
            assert "random" in one_line(exc)
            caught += 1
    assert caught >= 4


def test_a_frozen_parameter_is_explained_as_autograd_would_with_the_flag_on():
    import torch
    import torch.nn.functional as F

    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    model[0].weight.requires_grad_(False)
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="0.weight[2,1]")
    assert model[0].weight.requires_grad is False and model[0].weight.grad is None
    thawed = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    thawed.load_state_dict(model.state_dict())
    expected = torch_entry(thawed, F.mse_loss(thawed(x), y), "0.weight", (2, 1))
    np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9)
    assert "requires_grad=False" in str(exp)


def test_every_unsupported_call_is_named_at_once_with_what_is_supported():
    import torch

    class Several(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 1, 3)

        def forward(self, x):
            h = torch.sort(self.conv(x)).values
            return torch.cos(h).view_as(h)

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Several())
    text = one_line(info.value)
    for name in ("Conv1d", "torch.sort", "torch.cos", ".view_as()"):
        assert name in text
    assert "supported layers:" in text and "Linear" in text and "torch.tanh" in text and ".reshape" in text
    assert "test_bridge_models.py" in text
