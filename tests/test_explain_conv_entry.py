"""One entry of a convolution's kernel or bias, worked out term by term: its total is the engine's gradient,
PyTorch's float64 gradient and central differences; the terms written out are the largest; those and the
rest counted add up to the total; every format is filled in."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import Tensor
from backproplab.explain.conv_entry import LISTED
from backproplab.explain.document import ExplainError
from tests.test_bridge_conv import small_cnn
from tests.test_bridge_models import torch_entry

from .conftest import needs_torch

pytestmark = needs_torch
UNFILLED = re.compile(r"\{\$\w+\}|\$\{\w+\}|\$(x|K|G|L)\b")  # a template placeholder the explainer left as it is


def reference_terms(delta: np.ndarray, x: np.ndarray, index: tuple[int, ...], stride, padding, dilation,
                    groups: int) -> list[float]:
    """Every term δ[n, o, p, q]·x[n, channel, h, w] of a kernel entry's sum, by plain loops over the positions
    that read inside x (the definition, not the explainer's indexing)."""
    o, c, i, j = index
    channel = (o // (delta.shape[1] // groups)) * (x.shape[1] // groups) + c
    out = []
    for n in range(delta.shape[0]):
        for p in range(delta.shape[2]):
            for q in range(delta.shape[3]):
                h, w = p * stride[0] + i * dilation[0] - padding[0], q * stride[1] + j * dilation[1] - padding[1]
                if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
                    out.append(float(delta[n, o, p, q] * x[n, channel, h, w]))
    return out


def check_terms(exp, every: list[float], total: float) -> None:
    """The listed terms are the largest of ``every`` by size; listed + the rest = the total; counts agree."""
    listed = [t["value"] for t in exp.details["terms"]]
    rest = exp.details["rest"]
    assert exp.details["count"] == len(every) and rest["count"] == len(every) - len(listed)
    assert len(listed) == min(LISTED, len(every))
    biggest = sorted(every, key=abs, reverse=True)[:len(listed)]
    np.testing.assert_allclose(sorted(listed, key=abs), sorted(biggest, key=abs), rtol=1e-9, atol=1e-15)
    smallest_listed = min(abs(v) for v in listed)
    assert all(abs(v) <= smallest_listed * (1 + 1e-12) for v in sorted(every, key=abs)[:rest["count"]])
    assert math.fsum([*listed, rest["sum"]]) == pytest.approx(total, rel=1e-9, abs=1e-15)
    np.testing.assert_allclose(rest["sum"], math.fsum(every) - math.fsum(listed), rtol=1e-7, atol=1e-12)


def check_formats(exp) -> None:
    """Every format renders, with no placeholder left unfilled."""
    for text in (exp.to_text(), exp.to_html(), str(exp.to_dict())):
        assert "$" not in text, text
    for text in (exp.to_markdown(), exp.to_latex()):
        assert not UNFILLED.search(text), UNFILLED.search(text)
    assert exp.to_text().count("smaller term") == (1 if exp.details["rest"]["count"] else 0)


def native(c_in, c_out, kernel, stride, padding, dilation, groups, batch, size, seed):
    """A conv → tanh → flatten → linear net with cross-entropy, and the same computation in PyTorch."""
    import torch

    rng = np.random.default_rng(seed)
    conv = bl.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        rng=rng)
    x = rng.standard_normal((batch, c_in, *size))
    z = conv(Tensor(x, name="x")).named("z")
    flat = c_out * z.shape[2] * z.shape[3]
    head = bl.nn.Linear(flat, 3, rng=rng)
    labels = rng.integers(0, 3, batch)
    loss = F.cross_entropy(head(F.tanh(z).reshape(batch, flat)), labels)
    tk = torch.tensor(conv.weight.data, requires_grad=True)
    tb = torch.tensor(conv.bias.data, requires_grad=True)
    tz = torch.nn.functional.conv2d(torch.tensor(x), tk, tb, stride, padding, dilation, groups)
    tz.retain_grad()
    tloss = torch.nn.functional.cross_entropy(
        torch.nn.functional.linear(torch.tanh(tz).reshape(batch, flat), torch.tensor(head.weight.data),
                                   torch.tensor(head.bias.data)), torch.tensor(labels))
    tloss.backward()
    return conv, x, loss, tk.grad.numpy(), tb.grad.numpy(), tz.grad.numpy()


def central(loss_of, param, index, eps=1e-6) -> float:
    kept = float(param.data[index])
    values = []
    for sign in (1.0, -1.0):
        param.data[index] = kept + sign * eps
        values.append(float(loss_of().data))
    param.data[index] = kept
    return (values[0] - values[1]) / (2 * eps)


def test_a_kernel_entry_is_the_engines_pytorchs_and_central_differences():
    conv, x, loss, tk, _, delta = native(2, 3, 3, (1, 1), (1, 1), (1, 1), 1, 4, (6, 6), 0)
    index = (1, 0, 2, 1)
    exp = bl.explain(loss, conv.weight, index=index)
    assert exp.form == "entry"
    loss.backward()
    np.testing.assert_allclose(exp.gradient, conv.weight.grad[index], rtol=1e-9)
    np.testing.assert_allclose(exp.gradient, tk[index], rtol=1e-9)

    check_terms(exp, reference_terms(delta, x, index, (1, 1), (1, 1), (1, 1), 1), exp.gradient)
    check_formats(exp)
    text = exp.to_text()
    assert "Σ over samples and positions δ[n, c_out, p, q]·x[n, c_in, p·s + i·d, q·s + j·d]" in text  # the op table's
    assert "δ_z[n,2,p,q]" in text and "reads padding" in text


def test_central_differences_agree_with_a_kernel_and_a_bias_entry():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((3, 2, 5, 5)), name="x")
    conv = bl.nn.Conv2d(2, 2, 2, stride=2, padding=1, rng=rng)
    head = bl.nn.Linear(18, 2, rng=rng)
    labels = rng.integers(0, 2, 3)

    def loss_of():
        return F.cross_entropy(head(F.relu(conv(x)).reshape(3, 18)), labels)

    loss = loss_of()
    for param, index in ((conv.weight, (1, 1, 0, 1)), (conv.bias, (0,))):
        exp = bl.explain(loss, param, index=index, max_terms=1)
        assert exp.form == "entry"
        np.testing.assert_allclose(exp.gradient, central(loss_of, param, index), rtol=1e-6, atol=1e-10)


def test_a_bias_entry_sums_its_feature_maps_deltas():
    conv, _, loss, _, tb, delta = native(2, 4, 2, (2, 1), (0, 1), (1, 2), 2, 3, (7, 6), 1)
    exp = bl.explain(loss, conv.bias, index=(3,), max_terms=1)
    assert exp.form == "entry" and exp.details["feature_map"] == 4
    np.testing.assert_allclose(exp.gradient, tb[3], rtol=1e-9)
    check_terms(exp, [float(v) for v in delta[:, 3].reshape(-1)], exp.gradient)
    check_formats(exp)
    assert "dCE/db[4] = Σ_(n, p, q) δ_z[n,4,p,q]" in exp.to_text()


@given(data=st.data(), groups=st.sampled_from([1, 2]), per_in=st.integers(1, 2), per_out=st.integers(1, 2),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), batch=st.integers(1, 3),
       size=st.tuples(st.integers(3, 7), st.integers(3, 7)), seed=st.integers(0, 2**16))
def test_any_kernel_or_bias_entry_is_pytorchs_and_its_terms_are_the_largest(data, groups, per_in, per_out, kernel,
                                                                            stride, padding, dilation, batch, size,
                                                                            seed):
    reach = [size[k] + 2 * padding[k] - dilation[k] * (kernel[k] - 1) for k in (0, 1)]
    assume(min(reach) >= 1)
    c_in, c_out = groups * per_in, groups * per_out
    conv, x, loss, tk, tb, delta = native(c_in, c_out, kernel, stride, padding, dilation, groups, batch, size, seed)
    index = tuple(data.draw(st.integers(0, n - 1)) for n in conv.weight.shape)
    exp = bl.explain(loss, conv.weight, index=index, max_terms=1)
    every = reference_terms(delta, x, index, stride, padding, dilation, groups)
    assume(len(every) > 1)  # a single path is the paths form's
    assert exp.form == "entry"
    np.testing.assert_allclose(exp.gradient, tk[index], rtol=1e-9, atol=1e-15)
    check_terms(exp, every, exp.gradient)
    check_formats(exp)
    o = index[0]
    bias = bl.explain(loss, conv.bias, index=(o,), max_terms=1)
    np.testing.assert_allclose(bias.gradient, tb[o], rtol=1e-9, atol=1e-15)
    check_terms(bias, [float(v) for v in delta[:, o].reshape(-1)], bias.gradient)


@pytest.mark.parametrize("name, index", [("conv1.weight", (0, 0, 1, 2)), ("conv2.weight", (5, 2, 0, 1)),
                                         ("conv2.bias", (3,))])
def test_the_bridges_small_cnn_entries_are_written_term_by_term(name, index):
    import torch
    import torch.nn.functional as TF

    model = small_cnn()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    exp = bl.explain_torch(model, TF.cross_entropy, x, y, wrt=f"{name}[{','.join(map(str, index))}]")
    assert exp.form == "entry"
    want = torch_entry(model, TF.cross_entropy(model(x), y), name, index)
    np.testing.assert_allclose(exp.gradient, want, rtol=1e-9)
    layer = getattr(model, name.split(".")[0])
    seen = {}
    hook = layer.register_forward_hook(lambda m, args, out: seen.update(x=args[0].detach().numpy(), out=out))
    out = model(x)
    hook.remove()
    seen["out"].retain_grad()
    TF.cross_entropy(out, y).backward()
    delta = seen["out"].grad.numpy()
    every = (reference_terms(delta, seen["x"], index, layer.stride, layer.padding, layer.dilation, layer.groups)
             if name.endswith("weight") else [float(v) for v in delta[:, index[0]].reshape(-1)])
    check_terms(exp, every, exp.gradient)
    check_formats(exp)


def test_the_layer_by_layer_form_of_a_kernel_reads_delta_per_feature_map():
    conv, _, loss, tk, _, _ = native(1, 2, 2, (1, 1), (0, 0), (1, 1), 1, 2, (4, 4), 5)
    exp = bl.explain(loss, conv.weight, form="delta")
    np.testing.assert_allclose(exp.gradient, tk, rtol=1e-9)
    assert "δ[n, c_out, p, q]·x[n, c_in, p·s + i·d, q·s + j·d], δ = δ_z per feature map c_out" in exp.to_text()
    check_latex = exp.to_latex()
    assert r"\delta = \delta_{z} \text{ per feature map } c_{out}" in check_latex and not UNFILLED.search(check_latex)


@pytest.mark.parametrize("index, words", [((2, 0, 0, 0), "does not fit K"), ((0, 0), "shape (2, 1, 2, 2)")])
def test_an_index_that_does_not_fit_a_kernel_is_refused_in_one_line(index, words):
    conv, _, loss, *_ = native(1, 2, 2, (1, 1), (0, 0), (1, 1), 1, 2, (4, 4), 5)
    with pytest.raises(ExplainError) as info:
        bl.explain(loss, conv.weight, index=index)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_float32_cnns_entries_add_up_within_float32s_rounding():
    """Thousands of float32 terms may cancel: the check of their sum allows float32's rounding of each."""
    nn = bl.nn
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=np.float32, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, dtype=np.float32, rng=rng), nn.Flatten(),
                        nn.Linear(8 * 11 * 11, 10, dtype=np.float32, rng=rng))
    loss = F.cross_entropy(net(Tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32))),
                           rng.integers(0, 10, 16))
    loss.backward()
    for param, index in ((net[0].weight, (2, 0, 1, 1)), (net[3].weight, (5, 3, 2, 0)), (net[3].bias, (7,))):
        exp = bl.explain(loss, param, index=index)
        assert exp.form == "entry"
        assert exp.gradient == float(param.grad[index])
        total = math.fsum([*(t["value"] for t in exp.details["terms"]), exp.details["rest"]["sum"]])
        assert total == pytest.approx(exp.gradient, rel=1e-4, abs=1e-6)
