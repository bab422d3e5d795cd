"""Shared math tests: every primitive op in the table, checked against central differences.

Each op gets inputs from its own domain (log needs positive numbers, relu stays away from its
kink), random shapes with NumPy broadcasting, and a check of its written derivative rule.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, mutually_broadcastable_shapes

from backproplab import Tensor, grad_check, ops
from backproplab.engine.tensor import apply

from .test_ops_table import CASES


def values(shape, lo, hi, avoid_zero=False):
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if avoid_zero:
        elements = elements.filter(lambda v: abs(v) > 0.1)
    return arrays(np.float64, shape, elements=elements)


UNARY_DOMAINS = {
    "neg": (-3, 3, False), "exp": (-3, 3, False), "log": (0.2, 5, False), "softplus": (-6, 6, False),
    "sigmoid": (-6, 6, False), "tanh": (-3, 3, False), "relu": (-3, 3, True), "identity": (-3, 3, False),
}
BINARY_DOMAINS = {  # (lo, hi, avoid zero) for a, then for b
    "add": ((-3, 3, False), (-3, 3, False)),
    "sub": ((-3, 3, False), (-3, 3, False)),
    "mul": ((-3, 3, False), (-3, 3, False)),
    "div": ((-3, 3, False), (0.3, 3, False)),
    "pow": ((0.3, 2.5, False), (-2, 2, False)),
}


@st.composite
def unary_case(draw):
    name = draw(st.sampled_from(sorted(UNARY_DOMAINS)))
    lo, hi, avoid = UNARY_DOMAINS[name]
    x = draw(values(draw(array_shapes(min_dims=0, max_dims=3, max_side=4)), lo, hi, avoid))
    return name, x


@st.composite
def binary_case(draw):
    name = draw(st.sampled_from(sorted(BINARY_DOMAINS)))
    (alo, ahi, aav), (blo, bhi, bav) = BINARY_DOMAINS[name]
    shapes = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    a = draw(values(shapes.input_shapes[0], alo, ahi, aav))
    b = draw(values(shapes.input_shapes[1], blo, bhi, bav))
    return name, a, b


@given(unary_case())
def test_unary_ops_match_central_differences(case):
    name, x = case
    t = Tensor(x, requires_grad=True)
    grad_check(lambda a: apply(ops.OPS[name], a), t)


@given(binary_case())
def test_binary_ops_with_broadcasting_match_central_differences(case):
    name, a, b = case
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    grad_check(lambda p, q: apply(ops.OPS[name], p, q), ta, tb)
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape


@st.composite
def reduction_case(draw):
    name = draw(st.sampled_from(["sum", "mean", "logsumexp"]))
    shape = draw(array_shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(values(shape, -3, 3))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdims = draw(st.booleans())
    return name, x, axis, keepdims


@given(reduction_case())
def test_reductions_match_central_differences(case):
    name, x, axis, keepdims = case
    t = Tensor(x, requires_grad=True)
    grad_check(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), t)
    assert t.grad.shape == x.shape


@st.composite
def matmul_case(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    kind = draw(st.sampled_from(["mm", "vm", "mv", "vv", "batched"]))
    shapes = {"mm": ((n, k), (k, m)), "vm": ((k,), (k, m)), "mv": ((n, k), (k,)), "vv": ((k,), (k,)),
              "batched": ((2, n, k), (k, m))}[kind]
    return draw(values(shapes[0], -2, 2)), draw(values(shapes[1], -2, 2))


@given(matmul_case())
def test_matmul_matches_central_differences(case):
    a, b = case
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    grad_check(lambda p, q: p @ q, ta, tb)
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape


@given(values(array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=4), -2, 2), st.data())
def test_reshape_transpose_and_indexing_match_central_differences(x, data):
    t = Tensor(x, requires_grad=True)
    grad_check(lambda a: a.reshape(-1), t)
    grad_check(lambda a: a.T * np.arange(a.numel()).reshape(a.T.shape), t)
    rows = data.draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, max_size=5))  # repeats add up
    grad_check(lambda a: a[np.array(rows)] * 1.5, t)
    grad_check(lambda a: a[1:, ::-1], t)
    grad_check(lambda a: a[0, 1], t)


@given(st.integers(1, 4), st.integers(0, 3), st.integers(0, 3), st.data())
def test_concat_matches_central_differences(n, wa, wb, data):
    shape = lambda w: (n,) if w == 0 else (n, w)  # 0 means a 1-D column
    a = data.draw(values(shape(wa), -2, 2))
    b = data.draw(values(shape(wb), -2, 2))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = apply(ops.concat, ta, tb)
    assert out.shape == (n, max(wa, 1) + max(wb, 1))
    grad_check(lambda p, q: apply(ops.concat, p, q) * np.arange(1, out.shape[1] + 1), ta, tb)


@st.composite
def loss_case(draw):
    name = draw(st.sampled_from(["ssr", "mse", "bce_with_logits", "softmax_cross_entropy"]))
    n = draw(st.integers(1, 4))
    if name == "softmax_cross_entropy":
        c = draw(st.integers(2, 4))
        z = draw(values((n, c), -4, 4))
        raw = draw(values((n, c), 0.01, 1))
        return name, z, raw / raw.sum(axis=1, keepdims=True)
    z = draw(values((n,), -4, 4))
    y = draw(values((n,), 0, 1)) if name == "bce_with_logits" else draw(values((n,), -3, 3))
    return name, z, y


@given(loss_case())
def test_losses_match_central_differences_in_both_arguments(case):
    name, z, y = case
    tz, ty = Tensor(z, requires_grad=True), Tensor(y, requires_grad=True)
    grad_check(lambda a, b: apply(ops.OPS[name], a, b), tz, ty)


COVERED_HERE = set(UNARY_DOMAINS) | set(BINARY_DOMAINS) | {
    "sum", "mean", "logsumexp", "matmul", "reshape", "transpose", "getitem", "concat", "ssr", "mse", "bce_with_logits",
    "softmax_cross_entropy", "cast",
}
"""The ops the properties in this file check; test_ops_table's CASES check the others."""


def test_every_op_in_the_table_is_covered_by_these_tests():
    covered = COVERED_HERE | {op for case in CASES.values() for op in case.ops}
    assert set(ops.OPS) == covered


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_has_a_case_a_derivative_statement_and_a_case_at_its_kinks(name):
    """Walks the table: an op needs a test case, its forward and each local derivative written in text and
    LaTeX, and, where its statement gives PyTorch's value at a point with no derivative, a case that draws
    that point (``kinks``) or keeps the entries apart for central differences (``separated``, for ties)."""
    op = ops.OPS[name]
    cases = [case for case in CASES.values() if name in case.ops]
    assert name in COVERED_HERE or cases, f"{name} has no case in the shared op tests"
    assert all(form.strip() for form in op.expr), f"{name} does not say how its forward is written"
    assert len(op.partials) == len(op.args), f"{name} needs one derivative statement per argument"
    for arg, (text, latex) in zip(op.args, op.partials):
        assert text.strip() and latex.strip(), f"{name} states no derivative with respect to {arg}"
    if any("PyTorch" in text for text, _ in op.partials):
        assert any(case.kinks or case.separated for case in cases), \
            f"{name} gives PyTorch's value where it has no derivative, but no case tests it there"


@pytest.mark.parametrize("op", list(ops.OPS.values()), ids=list(ops.OPS))
def test_every_op_states_its_local_derivative_in_text_and_latex(op):
    assert len(op.vjps) == len(op.args) == len(op.partials)
    for k in range(len(op.args)):
        text = op.rule(k)
        latex = op.rule(k, kind="latex")
        assert text.startswith(("d ", "d(")) and "=" in text
        assert "$" not in text and "$" not in latex, "a placeholder was left unfilled"
        assert latex.count("{") == latex.count("}")
        depth = 0
        for ch in latex:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0
        assert not re.search(r"[−·σ²ᵀ∂]", latex), "LaTeX must use macros, not Unicode maths"


@pytest.mark.parametrize("op", list(ops.OPS.values()), ids=list(ops.OPS))
def test_the_latex_rule_brackets_what_the_text_rule_brackets(op):
    """d(a + b)/da in words is ∂(a + b)/∂a in LaTeX, never ∂ a + b/∂a; a function needs none: d softplus(z)/dz."""
    bracketed = op.rule(0).startswith("d(")
    latex = op.rule(0, kind="latex")
    assert latex.startswith(r"\frac{\partial \left(") == bracketed, latex


def test_softplus_rule_reads_like_the_worked_example():
    assert ops.softplus_op.rule(0) == "d softplus(z)/dz = e^z/(1 + e^z) = σ(z)"
    assert ops.ssr.render("text", 0, {"y": "y_i", "yhat": "ŷ_i"}) == "−2 × (y_i − ŷ_i)"


@given(unary_case())
def test_vjp_with_unit_gradient_gives_the_local_derivative_per_element(case):
    """What the explainer relies on: vjp(1) of an elementwise op is d out_i / d in_i."""
    name, x = case
    op = ops.OPS[name]
    out = op.forward(x)
    local = op.vjps[0](np.ones_like(out), out, x)
    eps = 1e-6
    numeric = (op.forward(x + eps) - op.forward(x - eps)) / (2 * eps)
    np.testing.assert_allclose(local, numeric, rtol=1e-5, atol=1e-6)
