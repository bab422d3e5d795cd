"""Modules and parameters: registration, names, freezing, MLP shapes, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import MLP, Linear, Module, Parameter, Tensor, grad_check


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.a = Parameter(2.0)
        self.inner = Linear(2, 1, suffix="x")

    def forward(self, x):
        return self.inner(x) * self.a


def test_parameters_register_by_attribute_and_take_their_names():
    net = Tiny()
    assert [n for n, _ in net.named_parameters()] == ["a", "Wx", "bx"]
    assert net.parameter("a").item() == 2.0
    assert net.parameters(only=["Wx"])[0].shape == (1, 2)  # (out, in), as PyTorch's
    assert len(net.parameters("all")) == 3


def test_parameter_copies_the_callers_array():
    values = np.array([1.0, 2.0])
    p = Parameter(values, "p")
    p.data -= 1.0
    np.testing.assert_array_equal(values, [1.0, 2.0])
    assert p.requires_grad and "Parameter(" in repr(p)


def test_unknown_parameter_name_suggests_the_closest():
    net, _ = bl.presets.statquest()
    with pytest.raises(KeyError, match=r"unknown parameter 'b33'; did you mean 'b3'\?.*choose from: w1, b1"):
        net.parameters(only=["b33"])


def test_freeze_and_unfreeze_by_name():
    net, (x, y) = bl.presets.statquest()
    net.freeze("w1", "b1")
    assert not net.w1.requires_grad and not net.b1.requires_grad and net.b3.requires_grad
    net.unfreeze("w1")
    assert net.w1.requires_grad
    trainable = net.train_only(["b3"])
    assert trainable == [net.b3]
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["b3"]
    bl.losses.ssr(net(x), y).backward()
    assert net.w1.grad is None and net.b3.grad is not None
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())


def test_state_dict_round_trip_and_shape_errors():
    net = MLP([2, 3, 1])
    state = net.state_dict()
    net.parameter("W1").data[:] = 0
    net.load_state_dict(state)
    assert list(state) == ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"]  # PyTorch's keys
    np.testing.assert_array_equal(net.parameter("W1").data, state["layer1.weight"])
    with pytest.raises(ValueError, match="shape"):
        net.load_state_dict({"W1": np.zeros((5, 5))})


def test_module_must_call_super_init():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(1.0)

    with pytest.raises(RuntimeError, match="super"):
        Broken()


@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.sampled_from(sorted(bl.ops.ACTIVATIONS)),
       st.integers(1, 6))
def test_mlp_shapes_names_and_gradients(sizes, act, n):
    net = MLP(sizes, act, seed=3)
    x = np.random.default_rng(0).normal(size=(n, sizes[0]))
    out = net(x)
    assert out.shape == (n, sizes[-1])
    names = [name for name, _ in net.named_parameters()]
    assert names == [f"{k}{i}" for i in range(1, len(sizes)) for k in ("W", "b")]
    for name, p in net.named_parameters():  # non-zero biases keep relu off its kink at exactly 0
        if name.startswith("b"):
            p.data = np.random.default_rng(1).uniform(0.1, 0.5, p.shape)
    params = net.parameters()
    grad_check(lambda *ps: net(x), *params)  # the MLP reads its own parameters; grad_check bumps them


def test_mlp_layer_nodes_are_named_for_explanations():
    net = MLP([2, 3, 1], "tanh")
    out = net(np.ones((4, 2)))
    nodes = bl.topological_order(out)
    names = {t.name for t in nodes} | {p.name for t in nodes for p in t.parents}
    assert {"z1", "a1", "z2", "W1", "b1", "W2", "b2", "x"} <= names


def test_mlp_float32():
    net = MLP([2, 4, 1], dtype=np.float32)
    out = net(Tensor(np.ones((3, 2), dtype=np.float32)))
    assert out.dtype == np.float32


def test_bad_networks_are_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'relu6'; did you mean 'relu'"):
        MLP([2, 2], ["relu6"])
    with pytest.raises(ValueError, match="at least two positive layer sizes"):
        MLP([2])
    with pytest.raises(ValueError, match="2 layers need 2 activations"):
        MLP([2, 3, 1], ["relu"])


def test_sequential_applies_in_order():
    seq = bl.Sequential(Linear(2, 3, suffix="1"), bl.nn.Activation("tanh"), Linear(3, 1, suffix="2"))
    out = seq(Tensor(np.ones((5, 2))))
    assert out.shape == (5, 1)
    assert [n for n, _ in seq.named_parameters()] == ["W1", "b1", "W2", "b2"]
    assert "Sequential(" in repr(seq)


def test_presets_by_name_with_a_hint():
    from backproplab.spec.presets import get_preset

    assert get_preset("moons").name == "moons"
    with pytest.raises(KeyError, match="did you mean 'moons'"):
        get_preset("moon")


class TwoLayers(Module):
    """A network written PyTorch's way: layers as attributes, no names given."""

    def __init__(self):
        super().__init__()
        self.fc1 = Linear(2, 3, rng=np.random.default_rng(1))
        self.fc2 = Linear(3, 1, rng=np.random.default_rng(2))

    def forward(self, x):
        return self.fc2(bl.functional.leaky_relu(self.fc1(x), 0.1))


def test_layers_added_without_a_suffix_are_numbered_in_order():
    net = TwoLayers()
    assert [n for n, _ in net.named_parameters()] == ["W1", "b1", "W2", "b2"]
    assert net.fc1.weight.name == "W1" and net.fc2.bias.name == "b2"
    seq = bl.Sequential(Linear(2, 3), bl.nn.Tanh(), Linear(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["W1", "b1", "W2", "b2"]
    assert repr(seq) == "Sequential(Linear(2, 3, bias=True), Tanh(), Linear(3, 1, bias=True))"

    class Nested(Module):
        def __init__(self):
            super().__init__()
            self.body = bl.Sequential(Linear(2, 4), bl.nn.ReLU(), Linear(4, 4))
            self.head = Linear(4, 1)

        def forward(self, x):
            return self.head(self.body(x))

    z = seq(Tensor(np.ones((2, 2)), name="x"))
    assert z.name == "z2" and z.parents[0].parents[0].name == "a1"  # z1 → a1 → z2, as MLP names them
    nested = Nested()
    assert [n for n, _ in nested.named_parameters()] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    out = nested(Tensor(np.ones((2, 2)), name="x"))
    assert out.name == "z3"
    assert [n for n, _ in Linear(2, 3).named_parameters()] == ["W", "b"]  # a lone layer keeps its plain names
    mixed = bl.Sequential(Linear(2, 3, suffix="in"), Linear(3, 3), Linear(3, 1))
    assert [n for n, _ in mixed.named_parameters()] == ["Win", "bin", "W1", "b1", "W2", "b2"]  # given names stay
    with pytest.raises(ValueError, match="two parameters share the name 'W1'"):
        bl.Sequential(Linear(2, 3, suffix="1"), Linear(3, 3), Linear(3, 1)).parameters()


def test_a_network_built_pytorchs_way_trains_and_explains_by_layer():
    net = TwoLayers()
    x = Tensor(np.array([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.8]]), name="x")
    y = Tensor(np.array([[1.0], [0.0], [0.5]]), name="y")
    loss = bl.losses.mse(net(x), y)
    loss.backward()
    w = net.fc1.weight
    for index in np.ndindex(w.shape):  # every entry against a central difference of the loss
        h = 1e-6
        saved = w.data[index]
        w.data[index] = saved + h
        up = float(bl.losses.mse(net(x), y).data)
        w.data[index] = saved - h
        down = float(bl.losses.mse(net(x), y).data)
        w.data[index] = saved
        assert w.grad[index] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)
    text = bl.explain(bl.losses.mse(net(x), y), w, index=(1, 0)).to_text()  # input 1 into unit 2, as in PyTorch
    assert "dMSE/dW1[2,1] = Σ_i dMSE/dz2[i,1] · dz2[i,1]/da₁[i,2] · da₁[i,2]/dz1[i,2] · dz1[i,2]/dW1[2,1]" in text
    assert "a₁[i,2] = leaky_relu(z1[i,2])" in text and "else 0.1 (0.1 at z1[i,2] = 0" in text
    opt = bl.optim.SGD(net.parameters(), lr=0.1)
    before = float(loss.data)
    for _ in range(20):
        opt.zero_grad()
        step = bl.losses.mse(net(x), y)
        step.backward()
        opt.step()
    assert float(bl.losses.mse(net(x), y).data) < before


@pytest.mark.parametrize(("module", "functional"), [
    (lambda: bl.nn.LeakyReLU(0.2), lambda z: bl.functional.leaky_relu(z, 0.2)),
    (lambda: bl.nn.ELU(0.5), lambda z: bl.functional.elu(z, 0.5)),
    (lambda: bl.nn.SiLU(), bl.functional.silu),
    (lambda: bl.nn.GELU(), bl.functional.gelu),
    (lambda: bl.nn.GELU("tanh"), lambda z: bl.functional.gelu(z, approximate="tanh")),
    (lambda: bl.nn.Tanh(), bl.functional.tanh),
    (lambda: bl.nn.ReLU(), bl.functional.relu),
    (lambda: bl.nn.Sigmoid(), bl.functional.sigmoid),
    (lambda: bl.nn.Softplus(), bl.functional.softplus),
])
def test_activation_modules_are_their_functions_with_pytorchs_names(module, functional):
    z = np.array([-2.0, -0.5, 0.3, 1.7])
    a, b = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    out_m, out_f = module()(a), functional(b)
    np.testing.assert_array_equal(out_m.data, out_f.data)
    out_m.sum().backward()
    out_f.sum().backward()
    np.testing.assert_array_equal(a.grad, b.grad)
    h = 1e-6  # and the gradient is the slope: a central difference of the module itself
    numeric = (module()(Tensor(z + h)).data - module()(Tensor(z - h)).data) / (2 * h)
    np.testing.assert_allclose(a.grad, numeric, rtol=1e-6, atol=1e-8)
    name = type(module()).__name__
    assert repr(module()).startswith(f"{name}(")


def test_a_bad_gelu_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        bl.nn.GELU("fast")



def test_a_layers_mistakes_are_named_in_its_own_words():
    net = bl.Sequential(Linear(2, 3), bl.nn.Tanh(), Linear(3, 1))
    with pytest.raises(bl.ShapeError, match=r"the Linear layer with W1 \(3×2: 3 outputs × 2 inputs\) takes 2 "
                       r"value\(s\) per sample, got "
                       r"input of shape \(4, 3\): its last size must be 2"):
        net(Tensor(np.ones((4, 3))))
    with pytest.raises(bl.ShapeError, match="its last size must be 2"):
        net(np.ones(3))
    with pytest.raises(ValueError, match="in_features must be 1 or more, got 0"):
        Linear(0, 2)
    with pytest.raises(ValueError, match="out_features should be a whole number, got 2.5"):
        Linear(2, 2.5)
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be a number, got 'a'"):
        bl.nn.LeakyReLU("a")
    with pytest.raises(ValueError, match="ELU: alpha must be a number, got None"):
        bl.nn.ELU(None)
    assert net(np.ones((4, 2))).shape == (4, 1)  # a NumPy array of the right width is taken as it is


def test_an_activation_by_name_takes_only_its_own_settings():
    leaky = bl.nn.Activation("leaky_relu", negative_slope=0.3)
    z = Tensor(np.array([-2.0, 1.0]))
    np.testing.assert_array_equal(leaky(z).data, [-0.6, 1.0])
    np.testing.assert_array_equal(bl.nn.Activation("leaky_relu")(z).data, [-0.02, 1.0])  # PyTorch's 0.01
    with pytest.raises(ValueError, match="the activation 'tanh' has no setting 'negative_slope'"):
        bl.nn.Activation("tanh", negative_slope=0.3)
    with pytest.raises(ValueError, match=r"the activation 'elu' has no setting 'slope' \(it takes alpha\)"):
        bl.nn.Activation("elu", slope=0.3)
    with pytest.raises(ValueError, match="leaky_relu: negative_slope must be a number, got 'steep'"):
        bl.nn.Activation("leaky_relu", negative_slope="steep")



def test_a_module_list_registers_its_layers_as_pytorchs_does():
    class Deep(Module):
        def __init__(self):
            super().__init__()
            self.layers = bl.nn.ModuleList([Linear(2, 4), Linear(4, 4)])
            self.layers.append(Linear(4, 1))
            self.plain = [Linear(1, 1)]  # a plain list is not registered, as in PyTorch

        def forward(self, x):
            for layer in self.layers[:-1]:
                x = layer(x).tanh()
            return self.layers[-1](x)

    net = Deep()
    assert [n for n, _ in net.named_parameters()] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert len(net.layers) == 3 and isinstance(net.layers[2], Linear) and list(net.layers)[0] is net.layers[0]
    x, y = Tensor(np.array([[0.5, -1.0], [1.0, 2.0]]), name="x"), Tensor(np.array([[1.0], [0.0]]), name="y")
    loss = bl.losses.mse(net(x), y)
    loss.backward()
    w = net.layers[0].weight
    h, entry = 1e-6, (2, 1)  # the gradient reaches the first layer through the list: a central difference agrees
    w.data[entry] += h
    up = float(bl.losses.mse(net(x), y).data)
    w.data[entry] -= 2 * h
    down = float(bl.losses.mse(net(x), y).data)
    w.data[entry] += h
    assert w.grad[entry] == pytest.approx((up - down) / (2 * h), rel=1e-6)
    with pytest.raises(TypeError, match="a ModuleList holds modules .*, got int"):
        bl.nn.ModuleList([3])
    with pytest.raises(NotImplementedError, match="call its modules one by one"):
        net.layers(x)
    seq = bl.Sequential(Linear(2, 3), bl.nn.Tanh())
    assert len(seq) == 2 and repr(seq[1]) == "Tanh()" and [type(m).__name__ for m in seq] == ["Linear", "Tanh"]
