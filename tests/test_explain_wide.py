"""Choosing the form for wide layers: a few samples through a 512×512 layer have far too many paths
to write out, and finding that out entry by entry must not be what takes the time."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
import backproplab.nn.functional as F
from backproplab.explain import paths


def quickstart_loss(batch: int, sizes: tuple[int, ...] = (784, 512, 512, 10)) -> tuple[bl.nn.Sequential, bl.Tensor]:
    """PyTorch's quickstart network (ReLU between Linear layers, cross-entropy) on random images."""
    rng = np.random.default_rng(1)
    layers: list[bl.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [bl.nn.Linear(n_in, n_out, rng=rng), bl.nn.ReLU()]
    net = bl.nn.Sequential(*layers[:-1])
    loss = F.cross_entropy(net(bl.Tensor(rng.random((batch, sizes[0])), name="x")), rng.integers(0, sizes[-1], batch))
    return net, loss


@pytest.mark.parametrize("batch", [1, 4, 64])
def test_a_small_batch_through_wide_layers_is_explained_without_entry_level_links(batch, monkeypatch):
    net, loss = quickstart_loss(batch)
    loss.backward()
    k = int(np.argmax(np.abs(net[0].bias.grad)))  # an entry whose gradient is not 0
    expected = float(net[0].bias.grad[k])

    def refuse(node, k):
        raise AssertionError(f"entry-level links of a {node.op.name} of shape {node.shape} were worked out")

    monkeypatch.setattr(paths, "_jacobian_links", refuse)
    e = bl.explain(loss, net[0].bias, index=k)
    assert e.form == "entry"
    assert expected != 0 and np.isclose(e.gradient, expected)
    assert f"db1[{k + 1}] = Σ_i δ_z1[i,{k + 1}]" in e.to_text()


def test_a_narrow_network_on_a_small_batch_still_shows_every_path():
    net, loss = quickstart_loss(4, (784, 10))
    loss.backward()
    e = bl.explain(loss, net[0].weight, index=(2, 5))  # (out, in): input 6 into unit 3
    assert e.form == "paths"
    assert np.isclose(e.gradient, net[0].weight.grad[2, 5])


def test_a_chain_rule_of_many_terms_keeps_the_largest_and_says_how_many_more():
    rng = np.random.default_rng(2)
    lin1, lin2, lin3 = bl.nn.Linear(2, 2, rng=rng), bl.nn.Linear(2, 30, rng=rng), bl.nn.Linear(30, 1, rng=rng)
    x = rng.normal(size=(2, 2))
    x[:, 0] = np.abs(x[:, 0]) + 1.0
    lin1.weight.data[0, 0] = 1.0  # z1[i,1] > 0: every path through it counts
    lin1.bias.data[:] = 0.0
    net = bl.nn.Sequential(lin1, bl.nn.ReLU(), lin2, bl.nn.Tanh(), lin3)
    loss = F.mse_loss(net(bl.Tensor(x, name="x")), bl.Tensor(np.zeros((2, 1)), name="y"))
    e = bl.explain(loss, lin1.weight, index=(0, 0))
    assert e.form == "paths"
    # each unit u of the second layer is one term Σ_i dMSE/dz3 · dz3/da2 · da2/dz2 · dz2/da1 · da1/dz1 · dz1/dW1
    z1 = x @ lin1.weight.data.T + lin1.bias.data  # each W is (out, in)
    a2 = np.tanh(np.maximum(z1, 0) @ lin2.weight.data.T + lin2.bias.data)
    z3 = a2 @ lin3.weight.data.T + lin3.bias.data
    per_unit = (2 * z3 / 2 * lin3.weight.data[0] * (1 - a2 ** 2) * lin2.weight.data[:, 0] * x[:, :1]).sum(axis=0)
    assert np.isclose(per_unit.sum(), e.gradient)
    largest = set(np.argsort(-np.abs(per_unit), kind="stable")[:10].tolist())
    chain = e.details["chain_rule"]
    assert [u for u in range(30) if f"da2[i,{u + 1}]/" in chain] == sorted(largest)
    assert chain.endswith(" + … (20 smaller terms)") and len(chain) < 1500
    latex = e.to_latex()
    assert r"\dots \text{ (20 smaller terms)}" in latex
    assert e.to_text().count("Σ_i") == 10
