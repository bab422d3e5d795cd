"""explain_torch on a small CNN (conv → relu → max pool, twice, → flatten → linear) and on convolution and
pooling settings, against PyTorch's float64 autograd and central differences of PyTorch's loss."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab.bridge import TorchBridgeError
from tests.test_bridge_bugs import central_entry
from tests.test_bridge_models import torch_entry

from .conftest import needs_torch

pytestmark = needs_torch


def entry(exp, index):
    """The explained entry: a single number, or that entry of the layer-by-layer form's whole gradient."""
    grad = np.asarray(exp.gradient, dtype=float)
    return float(grad) if grad.ndim == 0 else float(grad[index])


def small_cnn():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(4, 8, 3)
            self.fc = nn.Linear(8 * 5 * 5, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    return Net().double()


@pytest.mark.parametrize("wrt", [("conv1.weight", (0, 0, 1, 2)), ("conv2.bias", (3,)), ("conv2.weight", (5, 2, 0, 1))])
def test_a_cnn_entry_is_pytorchs_and_central_differences(wrt):
    import torch
    import torch.nn.functional as F

    model = small_cnn()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    name, index = wrt
    exp = bl.explain_torch(model, F.cross_entropy, x, y, wrt=f"{name}[{','.join(map(str, index))}]")
    want = torch_entry(model, F.cross_entropy(model(x), y), name, index)
    np.testing.assert_allclose(entry(exp, index), want, rtol=1e-9)
    numeric = central_entry(model, lambda: F.cross_entropy(model(x), y), name, index)
    np.testing.assert_allclose(entry(exp, index), numeric, rtol=1e-5, atol=1e-9)


def test_a_grouped_strided_padded_conv_and_avg_pools_match_pytorch():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), nn.Tanh(),
                          nn.AvgPool2d(2, padding=1), nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(),
                          nn.Linear(36, 3)).double()
    x = torch.randn(3, 4, 9, 8, dtype=torch.float64)
    y = torch.randn(3, 3, dtype=torch.float64)
    for name, index in [("0.weight", (4, 1, 2, 0)), ("0.bias", (5,))]:
        exp = bl.explain_torch(model, F.mse_loss, x, y, wrt=f"{name}[{','.join(map(str, index))}]")
        want = torch_entry(model, F.mse_loss(model(x), y), name, index)
        np.testing.assert_allclose(entry(exp, index), want, rtol=1e-9)


def test_functional_conv_and_pools_match_pytorch():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 2, 2, 2, dtype=torch.float64))

        def forward(self, x):
            z = F.conv2d(x, self.w, stride=(1, 2), padding=1, groups=1)
            z = F.avg_pool2d(F.relu(z), 2, count_include_pad=False)
            return F.adaptive_avg_pool2d(z, 1).flatten(1).sum(1)

    torch.manual_seed(3)
    model = Net()
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    y = torch.randn(2, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="w[1,0,1,0]")
    np.testing.assert_allclose(entry(exp, (1, 0, 1, 0)), torch_entry(model, F.mse_loss(model(x), y), "w", (1, 0, 1, 0)),
                               rtol=1e-9)


@pytest.mark.parametrize("layer, setting", [("MaxPool2d(2, ceil_mode=True)", "ceil_mode"),
                                            ("Conv2d(1, 2, 3, padding_mode='reflect')", "padding_mode"),
                                            ("Conv2d(1, 2, 3, padding='same')", "padding")])
def test_an_unsupported_option_is_refused_in_one_line_naming_the_call(layer, setting):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), eval(f"nn.{layer}"), nn.Flatten()).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, lambda out, t: F.mse_loss(out.sum(1), t), x, torch.zeros(2, dtype=torch.float64),
                         wrt="0.weight[0,0,0,0]")
    message = str(info.value)
    assert "\n" not in message and f"{setting}=" in message and "'1'" in message and "not supported" in message


def test_the_supported_list_names_the_conv_calls():
    import torch.nn as nn

    from backproplab.bridge.convert import from_torch

    class Odd(nn.Module):
        def forward(self, x):
            return x.cumsum(0)

    with pytest.raises(TorchBridgeError) as info:
        from_torch(Odd())
    message = str(info.value)
    for name in ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "torch.nn.functional.conv2d",
                 "torch.nn.functional.max_pool2d", "torch.nn.functional.avg_pool2d",
                 "torch.nn.functional.adaptive_avg_pool2d", "torch.flatten"):
        assert name in message, name
