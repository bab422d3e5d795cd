"""Concise reprs, as in PyTorch: one line with the name, values or shape, dtype, requires_grad and
the gradient's status; modules list their parameters, and in Jupyter show them as a table."""

from __future__ import annotations

import re

import numpy as np

import backproplab as bl
from backproplab.engine.gradcheck import central_difference


def test_parameter_repr_says_whether_it_has_a_gradient_and_shows_it():
    net, (x, y) = bl.presets.statquest()
    before = repr(net.w1)
    assert before == "Parameter(3.34, name='w1', requires_grad=True, grad=None)"
    bl.losses.ssr(net(x), y).backward()
    after = repr(net.w1)
    shown = float(re.search(r"grad=(-?[\d.]+)\)$", after).group(1))
    numeric = central_difference(lambda w: bl.losses.ssr(net(x), y), [net.w1], 0)
    assert abs(shown - float(numeric)) < 1e-4
    assert "\n" not in after


def test_a_computed_tensor_names_the_op_that_made_it():
    net, (x, y) = bl.presets.statquest()
    loss = bl.losses.ssr(net(x), y)
    text = repr(loss)
    assert "grad_fn=<ssr>" in text and "name='SSR'" in text and "requires_grad" not in text
    assert float(re.match(r"Tensor\(([\d.]+),", text).group(1)) == round(float(loss.data), 4)


def test_a_large_tensor_shows_its_shape_and_dtype_not_its_values():
    w = bl.Tensor(np.arange(60.0).reshape(3, 20), requires_grad=True, name="W")
    assert repr(w) == "Tensor(shape=(3, 20), name='W', dtype=float64, requires_grad=True, grad=None)"
    (w * w).sum().backward()
    assert repr(w).endswith("grad=<(3, 20) array>)")
    small = bl.Tensor([1.0, 2.0], dtype=np.float32)
    assert repr(small) == "Tensor([1., 2.], dtype=float32)"


def test_module_repr_lists_values_of_numbers_and_shapes_of_matrices():
    spec_net, _ = bl.presets.get_preset("statquest").spec().build()
    assert repr(spec_net) == "FormulaNet(w1=3.34, b1=-1.43, w2=-3.53, b2=0.57, w3=-1.22, w4=-2.3, b3=0)"
    mlp = bl.MLP([2, 16, 1])
    assert bl.nn.Module.__repr__(mlp) == "MLP(W1: (16, 2), b1: (16,), W2: (1, 16), b2=0)"


def test_module_html_has_a_row_per_parameter_with_its_gradient_status():
    net, (x, y) = bl.presets.statquest()
    net.freeze("w1")
    bl.losses.ssr(net(x), y).backward()
    page = net._repr_html_()
    rows = re.findall(r"<tr><td>(.*?)</td>.*?<td>([^<]*)</td></tr>", page)
    assert [name for name, _ in rows] == ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
    grads = dict(rows)
    assert grads["w1"] == "frozen"
    assert abs(float(grads["b3"]) - float(net.b3.grad)) < 1e-3 * abs(float(net.b3.grad))
