"""The PyTorch bridge: converted models give PyTorch's numbers, explanations give PyTorch's gradients.

Every oracle here is PyTorch itself (float64 autograd), computed in the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.bridge import TorchBridgeError

from .conftest import needs_torch

pytestmark = needs_torch

ACTIVATIONS = ["ReLU", "Tanh", "Sigmoid", "Softplus", "LeakyReLU", "GELU", "GELU-tanh", "SiLU", "ELU", "Identity",
               "Softmax", "LogSoftmax"]


def activation(name: str):
    import torch.nn as nn

    return {"LeakyReLU": lambda: nn.LeakyReLU(0.2), "GELU-tanh": lambda: nn.GELU(approximate="tanh"),
            "ELU": lambda: nn.ELU(0.7), "Softmax": lambda: nn.Softmax(dim=1),
            "LogSoftmax": lambda: nn.LogSoftmax(dim=-1)}.get(name, lambda: getattr(nn, name)())()


def random_mlp(sizes, acts, dtype, seed):
    import torch

    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(acts):
            layers.append(activation(acts[i]))
    return torch.nn.Sequential(*layers).to(dtype)


def torch_grads(model, loss):
    names = [n for n, _ in model.named_parameters()]
    import torch

    grads = torch.autograd.grad(loss, [p for _, p in model.named_parameters()])
    return {n: g.detach().numpy() for n, g in zip(names, grads)}


@settings(max_examples=12)
@given(depth=st.integers(1, 4), widths=st.lists(st.integers(1, 4), min_size=5, max_size=5),
       acts=st.lists(st.sampled_from(ACTIVATIONS), min_size=4, max_size=4), double=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_mlps_round_trip_with_pytorch_outputs_and_gradients(depth, widths, acts, double, seed):
    import torch

    dtype = torch.float64 if double else torch.float32
    tol = 1e-12 if double else 1e-5
    sizes = widths[: depth + 1]
    model = random_mlp(sizes, acts[: depth - 1], dtype, seed)
    x = torch.randn(5, sizes[0], dtype=dtype, generator=torch.Generator().manual_seed(seed))
    net = bl.from_torch(model)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert net[name].shape == tuple(p.shape) and net[name].dtype == (np.float64 if double else np.float32)
    out_t = model(x)
    out_b = net(bl.Tensor(x.numpy()))
    np.testing.assert_allclose(out_b.data, out_t.detach().numpy(), rtol=tol, atol=tol)
    # every parameter's gradient, through a loss that weighs each output differently
    w = torch.linspace(-1, 2, out_t.numel(), dtype=dtype).reshape(out_t.shape)
    expected = torch_grads(model, (out_t * w).sum())
    (out_b * bl.Tensor(w.numpy())).sum().backward()
    for name, g in expected.items():
        np.testing.assert_allclose(net[name].grad, g, rtol=max(tol, 1e-10), atol=max(tol, 1e-10))
    # back to PyTorch after a step taken in backproplab: the module has the new values
    with bl.no_grad():
        for _, p in net.named_parameters():
            p.data = p.data - 0.1 * p.grad + 0.01  # a step that moves every value
    back = net.to_torch()
    np.testing.assert_allclose(back(x).detach().numpy(), net(bl.Tensor(x.numpy())).data, rtol=tol, atol=tol)
    assert not np.allclose(back[0].weight.detach().numpy(), model[0].weight.detach().numpy())


def test_converted_network_keeps_torch_layout_and_explains_the_same_entry():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    x, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    net = bl.from_torch(model)
    assert net["0.weight"].shape == (3, 2)
    np.testing.assert_array_equal(net["0.weight"].data, model[0].weight.detach().numpy())
    loss = bl.losses.mse(net(bl.Tensor(x.numpy())), bl.Tensor(y.numpy()))
    exp = bl.explain(loss, wrt=net["0.weight"], index=(1, 0))
    torch.nn.functional.mse_loss(model(x), y).backward()
    assert exp.gradient == pytest.approx(model[0].weight.grad[1, 0].item(), rel=1e-12, abs=1e-15)


def small_models():
    import torch

    torch.manual_seed(3)
    return {
        "tanh-mse": (torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double(),
                     torch.nn.functional.mse_loss, "regression"),
        "gelu-ce": (torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU(), torch.nn.Linear(2, 3)).double(),
                    torch.nn.CrossEntropyLoss(), "classes"),
    }


@pytest.mark.parametrize("which", ["tanh-mse", "gelu-ce"])
def test_explain_torch_every_entry_of_every_parameter_equals_torch_grad(which):
    import torch

    model, loss_fn, kind = small_models()[which]
    x = torch.randn(4, 2, dtype=torch.float64)
    y = torch.randn(4, 1, dtype=torch.float64) if kind == "regression" else torch.tensor([0, 2, 1, 2])
    model.zero_grad()
    loss_fn(model(x), y).backward()
    before = {name: p.grad.clone() for name, p in model.named_parameters()}
    checked = 0
    for name, p in model.named_parameters():
        for index in np.ndindex(*p.shape):
            exp = bl.explain_torch(model, loss_fn, x, y, wrt=f"{name}[{','.join(map(str, index))}]")
            assert exp.gradient == pytest.approx(p.grad[index].item(), rel=1e-9, abs=1e-12), (name, index)
            checked += 1
    assert checked == sum(p.numel() for p in model.parameters())
    for name, p in model.named_parameters():  # the model's own .grad is left as it was
        assert torch.equal(p.grad, before[name])


def loss_cases():
    import torch
    import torch.nn.functional as F

    return {
        "mse": (F.mse_loss, "real", None), "mse-sum-module": (torch.nn.MSELoss(reduction="sum"), "real", None),
        "l1": (F.l1_loss, "real", None), "huber": (torch.nn.HuberLoss(delta=0.3), "real", None),
        "bce-logits": (F.binary_cross_entropy_with_logits, "unit", None),
        "bce": (torch.nn.BCELoss(), "unit", torch.nn.Sigmoid()),
        "cross-entropy": (F.cross_entropy, "labels", None),
        "nll": (torch.nn.NLLLoss(), "labels", torch.nn.LogSoftmax(dim=1)),
        "callable": (lambda out, y: ((out - y) ** 2).mean() + out.abs().sum() * 0.1, "real", None),
    }


@pytest.mark.parametrize("case", ["mse", "mse-sum-module", "l1", "huber", "bce-logits", "bce", "cross-entropy", "nll",
                                  "callable"])
def test_explain_torch_supports_the_losses(case):
    import torch

    loss_fn, target, last = loss_cases()[case]
    torch.manual_seed(5)
    classes = 3 if target == "labels" else 2
    layers = [torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, classes)] + ([last] if last else [])
    model = torch.nn.Sequential(*layers).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    y = {"real": torch.randn(6, classes, dtype=torch.float64), "unit": torch.rand(6, classes, dtype=torch.float64),
         "labels": torch.tensor([0, 1, 2, 2, 1, 0])}[target]
    loss_fn(model(x), y).backward()
    exp = bl.explain_torch(model, loss_fn, x, y, wrt="0.weight[2,1]")
    assert exp.gradient == pytest.approx(model[0].weight.grad[2, 1].item(), rel=1e-9, abs=1e-12)
    assert "entries count from 1 here: 0.weight[3,2] is PyTorch's 0.weight[2, 1]" in exp.to_text()


def test_float32_model_is_explained_to_float32_accuracy():
    import torch

    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.SiLU(), torch.nn.Linear(4, 1))
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    exp = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="2.weight[0,3]")
    assert exp.gradient == pytest.approx(model[2].weight.grad[0, 3].item(), rel=1e-5, abs=1e-6)


def residual_model():
    import torch

    class Residual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(3, 3)
            self.fc2 = torch.nn.Linear(3, 2)

        def forward(self, x):
            h = torch.relu(self.fc1(x)) + x
            return self.fc2(h).sum(dim=1, keepdim=True) / 2

    torch.manual_seed(7)
    return Residual().double()


def test_hand_written_module_with_a_residual_connection():
    import torch

    model = residual_model()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    torch.nn.functional.mse_loss(model(x), y).backward()
    net = bl.from_torch(model)
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for name, p in model.named_parameters():
        for index in [(0,) * p.dim(), tuple(n - 1 for n in p.shape)]:
            exp = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt=name, index=index)
            assert exp.gradient == pytest.approx(p.grad[index].item(), rel=1e-9, abs=1e-12)
    same = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt=model.fc2.bias, index=(1,))
    assert same.gradient == pytest.approx(model.fc2.bias.grad[1].item(), rel=1e-9, abs=1e-12)
    whole = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="fc1.weight", form="delta")
    np.testing.assert_allclose(whole.gradient, model.fc1.weight.grad.numpy(), rtol=1e-9, atol=1e-12)


def dosage_model():
    import torch
    import torch.nn.functional as F

    class Dosage(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            start = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}
            for name, value in start.items():
                setattr(self, name, torch.nn.Parameter(torch.tensor(value, dtype=torch.float64)))

        def forward(self, x):
            h1 = F.softplus(self.w1 * x + self.b1)
            h2 = F.softplus(self.w2 * x + self.b2)
            return self.w3 * h1 + self.w4 * h2 + self.b3

    return Dosage()


@pytest.mark.parametrize("name, shown", [("b3", "−15.66"), ("w1", "7.34")])
def test_dosage_network_written_in_pytorch(name, shown):
    import torch

    model = dosage_model()
    x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)

    def ssr(prediction, target):
        return ((target - prediction) ** 2).sum()

    ssr(model(x), y).backward()
    oracle = getattr(model, name).grad.item()
    exp = bl.explain_torch(model, ssr, x, y, wrt=name)
    assert exp.gradient == pytest.approx(oracle, rel=1e-12)
    assert exp.to_text().rstrip().splitlines()[-2].endswith(f"= {shown}") or f"= {shown}\n" in exp.to_text()
    assert round(oracle, 2) == float(shown.replace("−", "-"))


# --- clear errors ---------------------------------------------------------------------------------
def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_conv1d_and_lstm_are_refused_by_name_and_line():
    import torch

    class WithConv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 1, 3)

        def forward(self, x):
            return self.conv(x).sum()

    class WithLSTM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.LSTMCell(2, 2)

        def forward(self, x):
            return self.rnn(x)[0]

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(WithConv())
    text = one_line(info.value)
    assert "Conv1d" in text and "'conv'" in text and "test_torch_bridge.py" in text and "self.conv(x)" in text
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(WithLSTM())
    text = one_line(info.value)
    assert "LSTM" in text and "'rnn'" in text and "self.rnn(x)" in text
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Conv1d(1, 1, 3)))
    assert "Conv1d (the layer '1', used at item 1 of the Sequential) is not supported" in one_line(info.value)


def test_unsupported_function_is_named_with_its_line():
    import torch

    class Sorting(torch.nn.Module):
        def forward(self, x):
            return torch.sort(x).values

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Sorting())
    text = one_line(info.value)
    assert "the function torch.sort (used at line" in text and "torch.sort(x)" in text and "not supported" in text


def test_data_dependent_control_flow_is_a_clear_error():
    import torch

    class Branching(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Branching())
    text = one_line(info.value)
    assert "torch.fx cannot trace Branching.forward" in text and "no if/for on tensor values" in text
    assert "test_torch_bridge.py" in text and "if x.sum() > 0:" in text and "line " in text  # the user's own line


def test_unsupported_loss_points_at_the_users_call():
    import torch
    import torch.nn.functional as F

    model = torch.nn.Sequential(torch.nn.Linear(2, 1)).double()
    x, y = np.ones((3, 2)), np.zeros((3, 1))
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, F.soft_margin_loss, x, y, "0.weight[0,0]")  # the user's line
    text = one_line(info.value)
    assert "torch.nn.functional.soft_margin_loss" in text and "not supported" in text
    assert "test_torch_bridge.py" in text and "the user's line" not in text and "soft_margin_loss, x, y" in text
    assert "explain.py" not in text and "mse_loss" in text and "CrossEntropyLoss" in text
    assert "tensor methods" not in text  # only the losses are listed
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, torch.nn.SoftMarginLoss(), x, y, "0.weight[0,0]")
    text = one_line(info.value)
    assert "SoftMarginLoss" in text and "test_torch_bridge.py" in text and "explain.py" not in text


def test_trace_failures_other_than_control_flow_quote_torch_fx():
    import torch

    class Sized(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(x) * len(x)

    class Unpacking(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(x + torch.zeros(*x.shape))

    for model, reason, line in ((Sized(), "'len' is not supported in symbolic tracing", "len(x)"),
                                (Unpacking(), "Proxy object cannot be iterated", "torch.zeros(*x.shape)")):
        with pytest.raises(TorchBridgeError) as info:
            bl.from_torch(model)
        text = one_line(info.value)
        assert f"torch.fx cannot trace {type(model).__name__}.forward" in text and reason in text
        assert line in text and "test_torch_bridge.py" in text
        assert "no if/for on tensor values" not in text and "control flow" not in text


def test_shape_mismatch_between_model_and_data():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)).double()
    x, y = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="0.weight[0,0]")
    text = one_line(info.value)
    assert "takes 3 input features" in text and "(4, 5)" in text and "'0'" in text
    with pytest.raises(TorchBridgeError) as info:  # PyTorch would broadcast (4, 1) against (4,) to (4, 4)
        bl.explain_torch(model, torch.nn.functional.mse_loss, x[:, :3], y[:, 0], wrt="0.weight[0,0]")
    assert "y has shape (4,) but the model's output has shape (4, 1)" in one_line(info.value)


def test_bad_parameter_names_and_entries():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 1)).double()
    x, y = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    with pytest.raises(TorchBridgeError, match="did you mean '0.weight'"):
        bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="0.weights")
    with pytest.raises(TorchBridgeError, match=r"the entry \[1, 0\] does not fit 0.weight, which has shape \(1, 2\)"):
        bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="0.weight[1,0]")


def test_without_torch_every_call_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "torch.fx", None)
    for call in (lambda: bl.from_torch(object()), lambda: bl.to_torch(bl.MLP([2, 1])),
                 lambda: bl.explain_torch(object(), None, [1.0], [1.0], wrt="w")):
        with pytest.raises(ImportError) as info:
            call()
        assert one_line(info.value) == 'this needs PyTorch: pip install "backproplab[torch]" (torch==2.13.0)'


def test_a_forward_of_tensor_ops_gives_pytorchs_values_and_gradients():
    import torch
    import torch.nn.functional as F

    class Ops(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(6, 4)
            self.scale = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0, 0.25]))

        def forward(self, x):
            h = x.view(x.size(0), -1).flatten(1)            # (n, 2, 3) → (n, 6)
            z = F.leaky_relu(self.fc(h), 0.1) * self.scale
            both = torch.cat([z, torch.maximum(z, z.mean(dim=1, keepdim=True))], dim=1)
            p = torch.softmax(both.permute(1, 0), dim=0).transpose(0, 1)
            q = torch.clamp(p, 0.01, 0.9) + F.elu(z).sum(1, keepdim=True) - torch.logsumexp(z, dim=1, keepdim=True)
            r = torch.where(q > 0.2, q, -q * 2).mT.T.unsqueeze(0).squeeze(0).reshape(q.shape[0], -1)
            return (r ** 2).mean(dim=-1) @ x[:, 0, 1] / 3 + x.sum() * 0.01

    torch.manual_seed(11)
    model = Ops().double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    net = bl.from_torch(model)
    out_t = model(x)
    out_b = net(bl.Tensor(x.numpy()))
    assert out_b.data.item() == pytest.approx(out_t.item(), rel=1e-12)
    expected = torch_grads(model, out_t)
    out_b.backward()
    for name, g in expected.items():
        np.testing.assert_allclose(net[name].grad, g, rtol=1e-10, atol=1e-13)


def test_explanations_through_x_times_w_transposed_name_the_weight():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    x, y = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    text = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="0.bias[1]").to_text()
    assert "dŷ[i,1]/dtanh1[i,2] = 2.weight[1,2]" in text
    delta = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="0.weight", form="delta").to_text()
    assert "dMSE/d0.weight = δ_linear0ᵀ·x = " in delta and "δ_tanh1 = δ_ŷ·2.weight = " in delta  # (Wᵀ)ᵀ is W


def test_tied_weights_are_one_parameter():
    import torch

    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = torch.nn.Linear(3, 3)
            self.dec = torch.nn.Linear(3, 3)
            self.dec.weight = self.enc.weight

        def forward(self, x):
            return self.dec(torch.tanh(self.enc(x))) + self.enc.weight.sum()

    torch.manual_seed(4)
    model = Tied().double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.nn.functional.mse_loss(model(x), y).backward()
    net = bl.from_torch(model)
    assert [n for n, _ in net.named_parameters()] == ["enc.weight", "enc.bias", "dec.bias"]
    exp = bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt="enc.weight[2,0]")
    assert exp.gradient == pytest.approx(model.enc.weight.grad[2, 0].item(), rel=1e-9)


def test_the_docs_section_runs():
    from pathlib import Path

    section = (Path(__file__).parents[1] / "docs" / "from-pytorch.md").read_text(encoding="utf-8")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "from-pytorch.md", "exec"), namespace)  # noqa: S102 - the page's own example
    assert type(namespace["model2"]).__name__ == "Sequential" and namespace["net"]["0.weight"].shape == (3, 2)


def test_the_readme_example_runs(capsys):
    from pathlib import Path

    import torch

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From PyTorch and back", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    model, x, y = namespace["model"], namespace["x"], namespace["y"]
    torch.nn.functional.mse_loss(model(x), y).backward()
    assert namespace["exp"].gradient == pytest.approx(model[0].weight.grad[1, 0].item(), rel=1e-9)
    assert "0.weight" in capsys.readouterr().out


def test_in_place_calls_are_refused_where_they_would_change_the_answer():
    import torch
    import torch.nn.functional as F

    class Overwrites(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            a = F.relu(h, inplace=True)
            return a + h  # h was overwritten by relu in PyTorch

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Overwrites())
    assert "inplace=True" in one_line(info.value) and "a = F.relu(h, inplace=True)" in one_line(info.value)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(inplace=True), torch.nn.Linear(3, 1)).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    assert bl.from_torch(model)(bl.Tensor(x.numpy())).data == pytest.approx(model(x).detach().numpy(), rel=1e-12)


def test_the_docs_page_covers_the_bridge():
    from pathlib import Path

    root = Path(__file__).parents[1]
    page = (root / "docs" / "from-pytorch.md").read_text(encoding="utf-8")
    assert "bl.explain_torch(model" in page and "export-torch" in page and "## Speed" not in page
    assert "from-pytorch.md" in (root / "mkdocs.yml").read_text(encoding="utf-8")
