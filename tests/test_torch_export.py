"""Networks handed over to PyTorch: the same outputs and gradients, files that load without pickled code."""

from __future__ import annotations

import importlib.util
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.bridge import TorchBridgeError, save, torch_source
from backproplab.spec.formula import FormulaNet
from backproplab.spec.presets import PRESETS, get_preset

from .conftest import needs_torch

pytestmark = needs_torch


def outputs_and_grads(net, model, x):
    """(backproplab output, torch output, backproplab grads, torch grads) of Σ output·weights."""
    import torch

    out_b = net(bl.Tensor(x))
    out_t = model(torch.from_numpy(np.array(x)))
    w = np.linspace(-1.0, 2.0, out_b.numel()).reshape(out_b.shape)
    net.zero_grad()
    (out_b * bl.Tensor(w)).sum().backward()
    (out_t * torch.from_numpy(w)).sum().backward()
    return out_b.data, out_t.detach().numpy(), net, model


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_exports_with_the_same_outputs_and_gradients(name):
    net, (x, _y) = get_preset(name).build()
    model = bl.to_torch(net)
    out_b, out_t, net, model = outputs_and_grads(net, model, x)
    np.testing.assert_allclose(out_t, out_b, rtol=1e-12, atol=1e-12)
    torch_grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    if isinstance(net, bl.MLP):  # layer{l}.weight is W{l} as it is: both are (out, in)
        for i, lin in enumerate(net.linears, start=1):
            np.testing.assert_allclose(torch_grads[f"layer{i}.weight"], lin.weight.grad, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(torch_grads[f"layer{i}.bias"], lin.bias.grad, rtol=1e-10, atol=1e-12)
    else:
        for n, p in net.named_parameters():
            np.testing.assert_allclose(torch_grads[n], p.grad, rtol=1e-10, atol=1e-12)


@settings(max_examples=10)
@given(depth=st.integers(1, 4), widths=st.lists(st.integers(1, 5), min_size=5, max_size=5),
       act=st.sampled_from(sorted(bl.ops.ACTIVATIONS)), double=st.booleans(),
       seed=st.integers(0, 1000))
def test_random_mlps_export_and_convert_back(depth, widths, act, double, seed):
    import torch

    sizes = widths[: depth + 1]
    net = bl.MLP(sizes, act, seed=seed, dtype=np.float64 if double else np.float32)
    x = np.random.default_rng(seed).normal(size=(4, sizes[0])).astype(np.float64 if double else np.float32)
    model = bl.to_torch(net)
    tol = 1e-12 if double else 1e-5
    expected = net(bl.Tensor(x)).data
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), expected, rtol=tol, atol=tol)
    if act != "softplus":  # the exported softplus is torch.logaddexp, which from_torch does not read
        again = bl.from_torch(model)
        np.testing.assert_allclose(again(bl.Tensor(x)).data, expected, rtol=tol, atol=tol)


def test_saved_files_load_with_weights_only_and_give_the_same_numbers(tmp_path):
    import torch

    net, (x, _y) = get_preset("statquest").build()
    net.b3.data = np.array(2.61)
    pt, py = save(net, tmp_path / "dosage.pt")
    assert py == tmp_path / "dosage.py"
    state = torch.load(pt, weights_only=True)
    assert sorted(state) == sorted(n for n, _ in net.named_parameters())
    assert state["b3"].item() == 2.61
    with zipfile.ZipFile(pt) as archive:  # tensors and their names only: no pickled class or function
        pickled = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
    assert b"Network" not in pickled and b"backproplab" not in pickled
    spec = importlib.util.spec_from_file_location("dosage_export", py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Network()
    model.load_state_dict(state)
    got = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, net(bl.Tensor(x)).data, rtol=1e-12, atol=1e-12)
    assert "z1 = (self.w1 * x) + self.b1" in py.read_text()


def test_formula_source_is_built_from_the_tree_and_safe_names():
    import torch

    nodes = {"lambda": "α * x1 - x2 / 2", "h": "tanh(lambda) ^ 2 + exp(-x1)", "yhat": "relu(h) * β + sigmoid(x2)"}
    net = FormulaNet({"α": 0.5, "β": -1.5}, nodes, "yhat", ["x1", "x2"])
    source, _ = torch_source(net)
    assert "tanh(lambda)" not in source  # the keyword is renamed, the formula rewritten from its tree
    x = np.array([[0.1, 0.2], [1.5, -2.0], [-3.0, 0.7]])
    model = bl.to_torch(net)
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), net(bl.Tensor(x)).data, rtol=1e-12)
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model(torch.zeros(3, dtype=torch.float64))


def test_deep_and_long_formulas_export():
    import torch

    deep = "x"
    for i in range(95):  # 95 levels of parentheses, near the parser's limit of 100
        deep = f"({deep} * 0.5 + {i % 3})"
    long = " + ".join(f"{i} * w" for i in range(3000))
    net = FormulaNet({"w": 0.001}, {"d": deep, "yhat": long + " + d"}, "yhat", ["x"])
    x = np.array([0.3, -0.2])
    got = bl.to_torch(net)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, net(bl.Tensor(x)).data, rtol=1e-12)


def test_a_network_made_by_from_torch_says_how_to_save_it(tmp_path):
    import torch

    net = bl.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 1)).double())
    assert isinstance(bl.to_torch(net), torch.nn.Sequential)  # to_torch gives the module back
    for call in (lambda: save(net, tmp_path / "n.pt"), lambda: torch_source(net)):
        with pytest.raises(TorchBridgeError) as info:
            call()
        text = str(info.value)
        assert "\n" not in text and "from_torch" in text and "to_torch(net)" in text and "state_dict" in text
        assert "not for TorchNetwork" not in text and "works for" not in text
    assert not (tmp_path / "n.pt").exists() and not (tmp_path / "n.py").exists()


def test_networks_that_cannot_be_exported_say_so():
    class Custom(bl.Module):
        def forward(self, x):
            return x

    with pytest.raises(TorchBridgeError, match="to_torch works for MLPs, Sequentials of Linear layers and "
                       "activations, formula networks"):
        bl.to_torch(Custom())
    with pytest.raises(TorchBridgeError, match="a Custom layer cannot be exported to PyTorch; a Sequential exports "
                       "with Linear layers and activations only"):
        bl.to_torch(bl.Sequential(bl.Linear(2, 2), Custom()))
    with pytest.raises(TorchBridgeError, match="a network without a Linear layer has nothing to export"):
        bl.to_torch(bl.Sequential(bl.nn.Tanh()))
    net = FormulaNet({"training": 1.0}, {"yhat": "training * x"}, "yhat", ["x"])
    with pytest.raises(TorchBridgeError, match="'training' has the name of a PyTorch module's attribute"):
        bl.to_torch(net)


def test_every_formula_function_and_activation_has_a_pytorch_form():
    from backproplab import ops
    from backproplab.bridge.export import TORCH_FUNCTIONS
    from backproplab.spec import formula

    assert set(formula.FUNCTIONS) <= set(TORCH_FUNCTIONS)
    assert set(ops.ACTIVATIONS) - {"identity"} <= set(TORCH_FUNCTIONS)


ACTIVATION_MODULES = {
    "tanh": lambda: bl.nn.Tanh(), "relu": lambda: bl.nn.ReLU(), "sigmoid": lambda: bl.nn.Sigmoid(),
    "softplus": lambda: bl.nn.Softplus(), "identity": lambda: bl.nn.Identity(),
    "leaky_relu": lambda: bl.nn.LeakyReLU(0.2), "elu": lambda: bl.nn.ELU(0.7), "silu": lambda: bl.nn.SiLU(),
    "gelu": lambda: bl.nn.GELU(), "gelu_tanh": lambda: bl.nn.GELU("tanh"),
}


@settings(max_examples=15, deadline=None)
@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       acts=st.lists(st.sampled_from(sorted(ACTIVATION_MODULES)), min_size=3, max_size=3), seed=st.integers(0, 1000))
def test_a_sequential_built_pytorchs_way_exports_with_the_same_numbers(widths, acts, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(bl.Linear(widths[i], widths[i + 1], rng=rng))
        if i < len(widths) - 2:
            layers.append(ACTIVATION_MODULES[acts[i]]())
    net = bl.Sequential(*layers)
    x = rng.normal(size=(4, widths[0]))
    model = bl.to_torch(net)
    out_b, out_t, net, model = outputs_and_grads(net, model, x)
    np.testing.assert_allclose(out_t, out_b, rtol=1e-12, atol=1e-12)
    torch_grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    linears = [m for m in net.layers if isinstance(m, bl.Linear)]
    for i, lin in enumerate(linears, start=1):  # layer{i} is W{i}, b{i}; both layouts are (out, in)
        assert lin.weight.name == (f"W{i}" if len(linears) > 1 else "W")
        np.testing.assert_allclose(torch_grads[f"layer{i}.weight"], lin.weight.grad, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(torch_grads[f"layer{i}.bias"], lin.bias.grad, rtol=1e-10, atol=1e-12)


def test_a_saved_sequential_loads_with_weights_only(tmp_path):
    import torch

    net = bl.Sequential(bl.Linear(2, 3), bl.nn.LeakyReLU(0.1), bl.Linear(3, 1))
    pt, py = save(net, tmp_path / "net.pt")
    assert "leaky_relu(a, negative_slope=0.1)" in py.read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("exported_sequential", py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Network()
    model.load_state_dict(torch.load(pt, weights_only=True))
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), net(bl.Tensor(x)).data, rtol=1e-12)
