"""``Linear`` holds W as PyTorch does, (out, in), and computes x·Wᵀ + b: a state_dict copies over as it
is, ``weight[:, i]`` is input i's weights, and a native network explains as the same network bridged
from PyTorch does."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import plots
from backproplab.lesson.network import mlp_network
from backproplab.lesson.settings import Settings, load_job
from backproplab.nn import Linear

torch = pytest.importorskip("torch")

SIZES = st.integers(1, 5)
VALUES = st.floats(-3, 3, allow_nan=False)


def _torch_linear(n_in: int, n_out: int, seed: int) -> object:
    torch.manual_seed(seed)
    return torch.nn.Linear(n_in, n_out, dtype=torch.float64)


@settings(max_examples=30, deadline=None)
@given(n_in=SIZES, n_out=SIZES, batch=SIZES, seed=st.integers(0, 1000), data=st.data())
def test_a_linear_loaded_from_torchs_state_dict_is_torchs_linear(n_in, n_out, batch, seed, data):
    theirs = _torch_linear(n_in, n_out, seed)
    state = theirs.state_dict()
    ours = Linear(n_in, n_out)
    assert ours.weight.shape == tuple(state["weight"].shape) == (n_out, n_in)
    ours.load_state_dict({"W": state["weight"].numpy(), "b": state["bias"].numpy()})
    np.testing.assert_array_equal(ours.weight.data, state["weight"].numpy())
    x = np.array(data.draw(st.lists(VALUES, min_size=batch * n_in, max_size=batch * n_in))).reshape(batch, n_in)
    upstream = np.array(data.draw(st.lists(VALUES, min_size=batch * n_out, max_size=batch * n_out)))
    upstream = upstream.reshape(batch, n_out)
    out = ours(bl.Tensor(x, name="x"))
    (out * bl.Tensor(upstream)).sum().backward()
    tx = torch.tensor(x)
    t_out = theirs(tx)
    (t_out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_column_of_the_weight_is_one_inputs_weights():
    lin = Linear(3, 3, rng=np.random.default_rng(5))
    x = np.array([[0.2, -0.7, 1.1]])
    nudge = np.array([[1e-3, 0.0, 0.0]])  # only input 0 moves: every output moves by its weight from input 0
    moved = (lin(bl.Tensor(x + nudge)).data - lin(bl.Tensor(x)).data)[0]
    np.testing.assert_allclose(moved, 1e-3 * lin.weight.data[:, 0], rtol=1e-9)
    assert not np.allclose(lin.weight.data[:, 0], lin.weight.data[0])  # a row would be another thing


@settings(max_examples=20, deadline=None)
@given(n_in=SIZES, n_out=SIZES, batch=SIZES, seed=st.integers(0, 1000))
def test_gradients_of_x_w_transposed_plus_b_agree_with_central_differences(n_in, n_out, batch, seed):
    rng = np.random.default_rng(seed)
    lin = Linear(n_in, n_out, rng=rng)
    lin.bias.data = rng.normal(size=n_out)
    x = bl.Tensor(rng.normal(size=(batch, n_in)), requires_grad=True)
    target = rng.normal(size=(batch, n_out))

    def loss(*_):
        return ((lin(x) - bl.Tensor(target)) ** 2).sum()

    loss().backward()
    for k, p in enumerate([lin.weight, lin.bias, x]):
        numeric = bl.central_difference(loss, [lin.weight, lin.bias, x], k)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-8)


def test_starting_values_are_the_same_numbers_per_connection():
    """Drawn as (in, out), then stored (out, in): connection i → j has the value the seed gives it either way."""
    rng = np.random.default_rng(0)
    bound = 1.0 / np.sqrt(2)
    drawn = rng.uniform(-bound, bound, (2, 3))  # [input, output]
    lin = Linear(2, 3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(lin.weight.data, drawn.T)
    assert lin.weight.data.flags["C_CONTIGUOUS"] and np.all(lin.bias.data == 0)


def test_the_shape_message_names_outputs_by_inputs():
    net = bl.Sequential(Linear(2, 3), bl.nn.Tanh(), Linear(3, 1))
    with pytest.raises(bl.ShapeError, match=r"the Linear layer with W1 \(3×2: 3 outputs × 2 inputs\) takes 2 value"):
        net(bl.Tensor(np.ones((4, 5))))
    with pytest.raises(bl.ShapeError, match=r"the Linear layer with W2 \(1×3: 1 outputs × 3 inputs\) takes 3 value"):
        net[2](bl.Tensor(np.ones((4, 2))))


def _same_networks(sizes: list[int], seed: int) -> tuple[object, object, dict[str, str]]:
    """A PyTorch Sequential bridged, the same native Sequential, and the bridged names → the native ones."""
    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1]).double()
    native = bl.Sequential(*[Linear(m.in_features, m.out_features) if isinstance(m, torch.nn.Linear) else bl.nn.Tanh()
                             for m in model])
    state = model.state_dict()
    native.load_state_dict({f"{'W' if k.endswith('weight') else 'b'}{int(k.split('.')[0]) // 2 + 1}": v.numpy()
                            for k, v in state.items()})
    names = {}
    for i in range(len(model)):
        layer = i // 2 + 1
        if i % 2 == 0:
            names.update({f"{i}.weight": f"W{layer}", f"{i}.bias": f"b{layer}", f"linear{i}": f"z{layer}"})
        else:
            names[f"tanh{i}"] = f"a{layer}"
    return bl.from_torch(model), native, names


def _renamed(text: str, names: dict[str, str]) -> str:
    """The text with the bridged names put back; rules and padding left out (their widths follow the names)."""
    for old in sorted(names, key=len, reverse=True):
        text = text.replace(old, names[old])
    return re.sub(r"[─ ]+", " ", text)


@pytest.mark.parametrize("sizes, index, form", [
    ([2, 3, 1], (1, 0), "paths"), ([4, 16, 16, 1], (5, 2), "entry"), ([2, 3, 1], None, "delta"),
])
def test_a_native_mlp_explains_as_the_same_mlp_bridged_from_pytorch(sizes, index, form):
    bridged, native, names = _same_networks(sizes, seed=3)
    x = np.random.default_rng(1).normal(size=(8, sizes[0]))
    y = np.random.default_rng(2).normal(size=(8, 1))
    texts = []
    for net, wrt in ((bridged, bridged["0.weight"]), (native, native[0].weight)):
        loss = bl.losses.mse(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y"))
        exp = bl.explain(loss, wrt, index=index)
        assert exp.form == form
        texts.append(exp.to_text())
    assert _renamed(texts[0], names) == _renamed(texts[1], {})
    if index is not None:  # W1[j, i]: output j, input i, as PyTorch counts them
        j, i = index
        assert f"dMSE/dW1[{j + 1},{i + 1}]" in texts[1]
        if form == "entry":
            assert f"multiplies input {i + 1} (x[i,{i + 1}]) into unit {j + 1} of z1" in texts[1]


def test_the_network_drawings_join_each_input_to_each_unit_by_its_own_weight():
    net = bl.MLP([2, 3, 1], "tanh", seed=4)
    w1, w2 = net.parameter("W1").data, net.parameter("W2").data
    edges = {(e.source, e.target): (e.weight, e.value) for e in plots.network.network_layout(net).edges}
    for i in range(2):
        for j in range(3):
            assert edges[(f"x{i + 1}", f"a1[{j + 1}]")] == (f"W1[{j + 1},{i + 1}]", w1[j, i])
        assert (f"a1[{i + 1}]", "ŷ") in edges
    for j in range(3):
        assert edges[(f"a1[{j + 1}]", "ŷ")] == (f"W2[1,{j + 1}]", w2[0, j])
    page = mlp_network(load_job(Settings(preset="xor")))
    to_unit = [e for e in page["edges"] if e["from"] == "x2" and e["to"] == "a1_3"]
    assert to_unit == [{"param": "W1", "index": [2, 1], "from": "x2", "to": "a1_3"}]


def test_a_spec_gives_a_weight_row_by_unit_and_says_so_when_it_does_not_fit():
    from backproplab.spec.presets import PRESETS
    from backproplab.spec.spec import SpecError, parse

    text = PRESETS["xor"].text.replace("[data]", "[network.parameters]\nW2 = [[1.0, 2.0, 3.0, 4.0]]\n\n[data]", 1)
    net, _ = parse(text).build()
    np.testing.assert_array_equal(net.parameter("W2").data, [[1.0, 2.0, 3.0, 4.0]])  # unit 1 from a1[1..4]
    edges = {(e.source, e.target): e.value for e in plots.network.network_layout(net).edges}
    assert [edges[(f"a1[{i}]", "ŷ")] for i in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 4.0]
    wrong = text.replace("W2 = [[1.0, 2.0, 3.0, 4.0]]", "W2 = [[1.0], [2.0], [3.0], [4.0]]")
    with pytest.raises(SpecError, match=r"has shape \(4, 1\), but W2 has shape \(1, 4\) \(1 outputs × 4 inputs: a "
                                        r"row per unit, as in PyTorch\)"):
        parse(wrong).build()
