"""conv2d and the 2-D poolings: forward and gradients against PyTorch float64 on random settings, central
differences, float32, the layers' PyTorch defaults, bad input, the explainer and bl.compile on a small CNN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import Tensor, grad_check

from .conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF


def fit(size: int, kernel: int, dilation: int) -> int:
    """The smallest padding that lets a kernel with this dilation fit in ``size`` entries."""
    return max(0, -(-(dilation * (kernel - 1) + 1 - size) // 2))


@st.composite
def convolutions(draw):
    """Input, kernel, bias and settings for one conv2d call, each drawn: groups divide both channel counts."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (fit(h, kh, dilation[0]) + draw(st.integers(0, 1)), fit(w, kw, dilation[1]) + draw(st.integers(0, 1)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in // groups, kh, kw))
    bias = rng.standard_normal(c_out) if draw(st.booleans()) else None
    return x, k, bias, {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def both(ours, theirs, arrays, **kw):
    """Run the same call in backproplab and torch float64; returns (outputs, gradients) for each, with a fixed
    uneven output gradient."""
    mine = [None if a is None else Tensor(a, requires_grad=True) for a in arrays]
    yours = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*mine, **kw), theirs(*yours, **kw)
    w = np.linspace(0.5, 1.5, out.data.size).reshape(out.shape)
    (out * Tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    grads = [(m.grad, y.grad.numpy()) for m, y in zip(mine, yours) if m is not None]
    return (out.data, expected.detach().numpy()), grads


def assert_same(pairs, rtol=1e-9):
    (out, expected), grads = pairs
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=1e-12)
    for ours, theirs in grads:
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-12)


@needs_torch
@settings(max_examples=60, deadline=None)
@given(convolutions())
def test_conv2d_equals_torch_float64(drawn):
    x, k, bias, kw = drawn
    assert_same(both(F.conv2d, TF.conv2d, [x, k, bias], **kw))


@settings(max_examples=15, deadline=None)
@given(convolutions())
def test_conv2d_gradients_equal_central_differences(drawn):
    x, k, bias, kw = drawn
    tensors = [Tensor(a, requires_grad=True) for a in (x, k) + ((bias,) if bias is not None else ())]
    grad_check(lambda *ts: F.conv2d(*ts, **kw) * math.pi, *tensors)


@st.composite
def poolings(draw):
    kind = draw(st.sampled_from(["max", "avg", "adaptive"]))
    n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    kw: dict = {}
    if kind == "adaptive":
        kw["output_size"] = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    else:
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
        padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
        reach = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
        h, w = max(h, reach[0] - 2 * padding[0]), max(w, reach[1] - 2 * padding[1])
        kw = {"kernel_size": kernel, "stride": draw(st.one_of(st.none(), st.integers(1, 3))), "padding": padding}
        if kind == "max":
            kw["dilation"] = dilation
            step = kw["stride"] or kernel
            steps = step if isinstance(step, tuple) else (step, step)
            assume(all(inside_every_window(*sides) for sides in zip((h, w), kernel, steps, padding, dilation)))
        else:
            kw["count_include_pad"] = draw(st.booleans())
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((n, c, h, w))
    return kind, x, kw


def inside_every_window(size: int, kernel: int, stride: int, padding: int, dilation: int) -> bool:
    """Whether every window reads an entry of the input, not only padding (PyTorch's gradient for a window
    of padding alone goes to an arbitrary place)."""
    starts = range(0, (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1)
    return all(any(padding <= p * stride + i * dilation < padding + size for i in range(kernel)) for p in starts)


POOLS = {"max": "max_pool2d", "avg": "avg_pool2d", "adaptive": "adaptive_avg_pool2d"}


@needs_torch
@settings(max_examples=80, deadline=None)
@given(poolings())
def test_poolings_equal_torch_float64(drawn):
    kind, x, kw = drawn
    assert_same(both(getattr(F, POOLS[kind]), getattr(TF, POOLS[kind]), [x], **kw))


@settings(max_examples=20, deadline=None)
@given(poolings())
def test_pooling_gradients_equal_central_differences(drawn):
    kind, x, kw = drawn  # random normal entries: no ties, so max pooling is smooth here
    grad_check(lambda t: getattr(F, POOLS[kind])(t, **kw) * math.e, Tensor(x, requires_grad=True))


# Cases after tinygrad's test/test_ops.py (test_simple_conv2d, test_strided_conv2d, test_padded_conv2d,
# test_dilated_conv2d, test_grouped_conv2d, test_fancy_conv2d, test_maxpool2d*, test_avgpool2d*), made smaller.
TINYGRAD_CONVS = {
    "simple_conv2d": ((1, 4, 9, 9), (4, 4, 3, 3), {}),
    "simple_conv2d_m4": ((1, 16, 6, 6), (16, 16, 3, 3), {}),
    "simple_conv2d_1x1": ((1, 4, 9, 9), (4, 4, 1, 1), {}),
    "conv2d": ((4, 3, 5, 7), (4, 3, 3, 3), {}),
    "conv2d_bs_1_cin_1": ((1, 1, 5, 7), (4, 1, 3, 3), {}),
    "large_input_conv2d": ((4, 16, 32, 32), (16, 16, 3, 3), {}),
    "strided_conv2d": ((2, 3, 11, 28), (4, 3, 3, 3), {"stride": 2}),
    "strided_conv2d_tuple": ((2, 3, 11, 28), (4, 3, 3, 3), {"stride": (2, 1)}),
    "padded_conv2d": ((1, 4, 9, 9), (4, 4, 3, 3), {"padding": (1, 2)}),
    "padded_conv2d_1x1": ((1, 4, 9, 9), (4, 4, 1, 1), {"padding": 1}),
    "dilated_conv2d": ((2, 3, 11, 28), (4, 3, 3, 3), {"dilation": 2}),
    "dilated_conv2d_tuple": ((2, 3, 11, 28), (4, 3, 3, 3), {"dilation": (2, 1)}),
    "grouped_conv2d": ((1, 4, 1, 1), (8, 2, 1, 1), {"groups": 2}),
    "fancy_conv2d": ((2, 6, 16, 16), (4, 3, 3, 3), {"groups": 2, "stride": 2, "padding": 1}),
    "depthwise_conv2d": ((2, 4, 7, 7), (4, 1, 3, 3), {"groups": 4, "padding": 1}),
    "nested_padding": ((1, 2, 4, 4), (2, 2, 3, 3), {"padding": 2}),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(TINYGRAD_CONVS))
def test_tinygrad_conv_cases_equal_torch(name):
    x_shape, k_shape, kw = TINYGRAD_CONVS[name]
    rng = np.random.default_rng(len(name))
    x, k, b = rng.uniform(-2, 2, x_shape), rng.uniform(-2, 2, k_shape), rng.uniform(-2, 2, k_shape[0])
    assert_same(both(F.conv2d, TF.conv2d, [x, k, b], **kw))


TINYGRAD_POOLS = [
    *[("max_pool2d", {"kernel_size": k}) for k in [(1, 1), (2, 2), (3, 3), (3, 2), (5, 5), (5, 1)]],
    ("max_pool2d", {"kernel_size": (2, 2), "stride": 3}),
    ("max_pool2d", {"kernel_size": (3, 3), "stride": 2, "padding": 1}),
    ("max_pool2d", {"kernel_size": (2, 2), "dilation": 2}),
    *[("avg_pool2d", {"kernel_size": k}) for k in [(1, 1), (2, 2), (3, 3), (3, 2), (5, 5), (5, 1)]],
    ("avg_pool2d", {"kernel_size": (3, 3), "padding": 1}),
    ("avg_pool2d", {"kernel_size": (3, 3), "padding": 1, "count_include_pad": False}),
    ("adaptive_avg_pool2d", {"output_size": (3, 3)}),
    ("adaptive_avg_pool2d", {"output_size": 1}),
    ("adaptive_avg_pool2d", {"output_size": (5, None)}),
]


@needs_torch
@pytest.mark.parametrize(("name", "kw"), TINYGRAD_POOLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TINYGRAD_POOLS)])
def test_tinygrad_pool_cases_equal_torch(name, kw):
    x = np.random.default_rng(3).uniform(-2, 2, (4, 2, 11, 14))
    assert_same(both(getattr(F, name), getattr(TF, name), [x], **kw))


def test_max_pool_sends_a_tie_to_the_first_largest_entry_as_pytorch():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"])
def test_float32_stays_float32_and_is_close_to_float64(name):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 5))
    call = {"conv2d": lambda t: F.conv2d(t, Tensor(np.linspace(-1, 1, 48).reshape(4, 2, 3, 2)).to(t.dtype),
                                         stride=2, padding=1, groups=2),
            "max_pool2d": lambda t: F.max_pool2d(t, 2, padding=1),
            "avg_pool2d": lambda t: F.avg_pool2d(t, (3, 2), stride=1),
            "adaptive_avg_pool2d": lambda t: F.adaptive_avg_pool2d(t, (4, 3))}[name]
    results = []
    for dtype in (np.float32, np.float64):
        t = Tensor(x.astype(dtype), requires_grad=True)
        y = call(t)
        (y * y).sum().backward()
        assert y.data.dtype == dtype and t.grad.dtype == dtype
        results.append((y.data, t.grad))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)


def test_modules_have_pytorchs_names_defaults_shapes_and_init_bounds():
    conv = bl.nn.Conv2d(6, 8, 3, groups=2)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.8 * bound  # drawn over the whole range, not a narrower one
    assert bl.nn.Conv2d(2, 4, (2, 3), bias=False).bias is None
    x = Tensor(np.random.default_rng(0).standard_normal((2, 6, 7, 7)))
    assert conv(x).shape == (2, 8, 5, 5)
    assert bl.nn.MaxPool2d(2)(x).shape == (2, 6, 3, 3)
    assert bl.nn.AvgPool2d(3, stride=2, padding=1)(x).shape == (2, 6, 4, 4)
    assert bl.nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 6, 2, 3)
    assert conv(x[0]).shape == (8, 5, 5)  # one image, (C, H, W), as PyTorch takes it
    assert len(list(conv.parameters())) == 2


@needs_torch
def test_conv2d_module_computes_what_torch_computes_with_its_weights():
    ours = bl.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    theirs = torch.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), groups=2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = np.random.default_rng(1).standard_normal((2, 4, 6, 5))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-9)


@pytest.mark.parametrize(("call", "words"), [
    (lambda: F.conv2d(Tensor(np.ones((1, 1, 2, 2))), Tensor(np.ones((1, 1, 3, 3)))), "kernel spans 3×3"),
    (lambda: F.conv2d(Tensor(np.ones((1, 3, 4, 4))), Tensor(np.ones((2, 1, 3, 3))), groups=2), "divisible by groups"),
    (lambda: bl.nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: F.conv2d(Tensor(np.ones((1, 4, 4, 4))), Tensor(np.ones((2, 1, 3, 3)))), "takes 1 input channels"),
    (lambda: F.conv2d(Tensor(np.ones((4, 4))), Tensor(np.ones((2, 1, 3, 3)))), "(batch, channels, height, width)"),
    (lambda: F.conv2d(Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((1, 1, 3, 3))), stride=0), "stride must be 1"),
    (lambda: F.max_pool2d(Tensor(np.ones((1, 1, 2, 2))), 3), "kernel spans 3×3"),
    (lambda: F.max_pool2d(Tensor(np.ones((1, 1, 4, 4))), 2, padding=2), "at most half the kernel"),
    (lambda: F.avg_pool2d(Tensor(np.ones((1, 1, 4, 4))), 2, ceil_mode=True), "ceil_mode"),
    (lambda: F.adaptive_avg_pool2d(Tensor(np.ones((1, 1, 4, 4))), 0), "output_size must be 1"),
])
def test_bad_input_is_refused_in_one_line_naming_the_problem(call, words):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert words in message and "\n" not in message


def test_the_explainer_writes_out_a_kernel_entry_and_its_terms_add_up():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 2, 4, 4)), name="x")
    k = Tensor(rng.standard_normal((2, 1, 2, 2)), requires_grad=True, name="K")
    loss = (F.conv2d(x, k, stride=1, padding=1, groups=2).named("y") ** 2).sum()
    loss.backward()
    e = bl.explain(loss, k, index=(1, 0, 1, 0), form="paths", max_terms=10_000)
    terms = [t["value"] for t in e.details["terms"]]
    assert math.fsum(terms) == pytest.approx(float(k.grad[1, 0, 1, 0]), rel=1e-12)
    delta = bl.explain(loss, k, form="delta")
    np.testing.assert_allclose(delta.gradient, k.grad, rtol=1e-12)
    assert "Σ over samples and positions δ[n, c_out, p, q]·x[n, c_in, p·s + i·d, q·s + j·d]" in delta.to_text()


def small_cnn(dtype):
    rng = np.random.default_rng(4)
    net = bl.nn.Sequential(bl.nn.Conv2d(2, 3, 3, padding=1, dtype=dtype), bl.nn.ReLU(), bl.nn.MaxPool2d(2),
                           bl.nn.Flatten(), bl.nn.Linear(3 * 3 * 3, 4, dtype=dtype))
    x = Tensor(rng.standard_normal((5, 2, 6, 6)).astype(dtype))
    labels = rng.integers(0, 4, 5)
    return net, (lambda: F.cross_entropy(net(x), labels))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_compiled_cnn_step_replays_bit_identically(dtype):
    runs = []
    for compiled in (False, True):
        net, fn = small_cnn(dtype)
        opt = bl.optim.SGD(net.parameters(), lr=0.1)
        run = bl.compile(fn) if compiled else None
        history = []
        for _ in range(3):
            opt.zero_grad()
            if run is None:
                loss = fn()
                loss.backward()
            else:
                loss = run()
            history.append([float(loss.item())] + [np.array(p.grad.data) for p in net.parameters()])
            opt.step()
        runs.append(history)
    for plain, replayed in zip(*runs):
        assert plain[0] == replayed[0]
        for a, b in zip(plain[1:], replayed[1:]):
            np.testing.assert_array_equal(a, b)
