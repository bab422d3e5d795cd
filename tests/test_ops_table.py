"""One list of op cases drives every check of the ops added for PyTorch users (the minitorch
"math test over every op"): forward and gradient against torch float64 on random broadcast shapes
with the edge values 0, negatives, ±inf, NaN and the points with no derivative; central differences
where the op is smooth; and the explainer's chain through the op, whose terms add up to the engine's
gradient."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, mutually_broadcastable_shapes

import backproplab as bl
from backproplab import Tensor, grad_check
from backproplab import functional as F

from .conftest import HAS_TORCH, needs_torch

# Every case runs its own property, so each gets a share of the usual 40 examples; together they are many.
EXAMPLES_PER_CASE = 10

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF


@dataclass(frozen=True)
class Case:
    """How to call one op in backproplab and in torch, and where its inputs come from."""

    ours: Callable
    theirs: Callable
    arity: int = 1
    domain: tuple[float, float] = (-3.0, 3.0)
    kinks: tuple[float, ...] = ()  # points with no derivative: PyTorch's value there is compared, not differences
    dim: bool = False  # the op takes a dimension: one is drawn for each example
    min_dims: int = 0
    broadcast: bool = True  # several inputs of broadcastable shapes (else one shape for all)
    edges: bool = True  # mix 0, −1, ±inf and NaN into the torch comparison
    separated: bool = False  # central differences need the entries apart (ties and zero spread have no derivative)
    nan: bool = True  # NaN among the edge values (not for elu and relu: see docs/pytorch.md)
    ops: tuple[str, ...] = field(default=())  # table entries this case exercises


def cyclic_index(shape: tuple[int, ...], d: int, keep: int | None = None) -> np.ndarray:
    """An index for gather and scatter: each place along ``d`` names the next one, round the end (no repeats);
    the first ``keep`` places along ``d`` only, when given."""
    n = shape[d]
    index = (np.indices(shape)[d] + 1) % n
    return index[(slice(None),) * (d % len(shape)) + (slice(0, keep),)]


def mixed_index(shape: tuple[int, ...], d: int) -> np.ndarray:
    """An index for gather that names some entries twice and others not at all."""
    return (np.indices(shape).sum(axis=0) * 2 + 1) % shape[d]


def rows_index(n: int) -> np.ndarray:
    """Indices for an embedding of n rows, at positions of shape (2, 3): the first and last rows each used
    twice or more, some rows not at all."""
    return np.array([[0, n - 1, 0], [n // 2, 0, n - 1]])


def first(d: int, k: int) -> tuple[slice, ...]:
    return (slice(None),) * d + (slice(0, k),) if d >= 0 else (Ellipsis, slice(0, k)) + (slice(None),) * (-d - 1)


def image(a):
    """A tensor as one (1, 1, H, W) image: its last axis the width, the others the height."""
    return a.reshape(1, 1, -1, a.shape[-1])


def full_conv(conv, x, k):
    """Full cross-correlation: the kernel (the second tensor, as large as the image) at every overlap."""
    x, k = image(x), image(k)
    return conv(x, k, padding=(k.shape[2] - 1, k.shape[3] - 1), stride=1, dilation=1)


CASES: dict[str, Case] = {
    "abs": Case(lambda a: a.abs(), lambda a: a.abs(), kinks=(0.0,), ops=("abs",)),
    "sqrt": Case(lambda a: a.sqrt(), lambda a: a.sqrt(), domain=(0.05, 4.0), ops=("sqrt",)),
    "sign": Case(lambda a: a.sign(), lambda a: a.sign(), kinks=(0.0,), ops=("sign",)),
    "log2": Case(lambda a: a.log2(), lambda a: a.log2(), domain=(0.05, 4.0), ops=("log2",)),
    "log10": Case(lambda a: bl.log10(a), lambda a: torch.log10(a), domain=(0.05, 4.0), ops=("log10",)),
    "sin": Case(lambda a: a.sin(), lambda a: a.sin(), ops=("sin",)),
    "cos": Case(lambda a: bl.cos(a), lambda a: torch.cos(a), ops=("cos",)),
    "clamp": Case(lambda a: a.clamp(-0.5, 1.0), lambda a: a.clamp(-0.5, 1.0), kinks=(-0.5, 1.0), ops=("clamp",)),
    "clamp_min": Case(lambda a: bl.clip(a, min=0.25), lambda a: torch.clip(a, min=0.25), kinks=(0.25,),
                      ops=("clamp",)),
    "clamp_tensor": Case(lambda a, b: a.clamp(min=b, max=b + 1), lambda a, b: a.clamp(min=b, max=b + 1),
                         arity=2, kinks=(0.5,), separated=True, ops=("clamp_tensor",)),
    "clamp_tensor_max": Case(lambda a, b: a.clamp(max=b), lambda a, b: a.clamp(max=b), arity=2, kinks=(0.5,),
                             separated=True, ops=("clamp_tensor",)),
    "where_method": Case(lambda a, b: a.where(a < b, b * 3), lambda a, b: a.where(a < b, b * 3), arity=2,
                         kinks=(0.5,), separated=True, ops=("where",)),
    "maximum": Case(lambda a, b: bl.maximum(a, b), lambda a, b: torch.maximum(a, b), arity=2, kinks=(0.5,),
                    separated=True, ops=("maximum",)),
    "minimum": Case(lambda a, b: a.minimum(b), lambda a, b: a.minimum(b), arity=2, kinks=(0.5,), separated=True,
                    ops=("minimum",)),
    "where": Case(lambda a, b: bl.where(a > b, a * 2, b), lambda a, b: torch.where(a > b, a * 2, b), arity=2,
                  kinks=(0.5,), separated=True, ops=("where",)),
    "pow": Case(lambda a, b: a ** b, lambda a, b: a ** b, arity=2, domain=(0.2, 2.5), kinks=(0.0, -2.0, 2.0),
                ops=("pow",)),
    "relu": Case(lambda a: a.relu(), lambda a: a.relu(), kinks=(0.0,), nan=False, ops=("relu",)),
    "leaky_relu": Case(lambda a: F.leaky_relu(a, 0.1), lambda a: TF.leaky_relu(a, 0.1), kinks=(0.0,),
                       ops=("leaky_relu",)),
    "elu": Case(lambda a: F.elu(a, 1.5), lambda a: TF.elu(a, 1.5), kinks=(0.0,), nan=False, ops=("elu",)),
    "silu": Case(lambda a: F.silu(a), lambda a: TF.silu(a), ops=("silu",)),
    "gelu": Case(lambda a: F.gelu(a), lambda a: TF.gelu(a), ops=("gelu",)),
    "gelu_tanh": Case(lambda a: F.gelu(a, approximate="tanh"), lambda a: TF.gelu(a, approximate="tanh"),
                      ops=("gelu_tanh",)),
    "logsigmoid": Case(lambda a: F.logsigmoid(a), lambda a: TF.logsigmoid(a), domain=(-30, 30), ops=("logsigmoid",)),
    "softplus_beta": Case(lambda a: F.softplus(a, beta=2.0, threshold=5.0), lambda a: TF.softplus(a, 2.0, 5.0),
                          kinks=(2.5,), ops=("softplus_beta",)),  # it turns linear where beta·x > threshold
    "softmax": Case(lambda a, d: F.softmax(a, dim=d), lambda a, d: TF.softmax(a, dim=d), dim=True,
                    domain=(-30, 30), ops=("softmax",)),
    "log_softmax": Case(lambda a, d: a.log_softmax(d), lambda a, d: a.log_softmax(d), dim=True, domain=(-30, 30),
                        ops=("log_softmax",)),
    "max": Case(lambda a: a.max(), lambda a: a.max(), min_dims=1, kinks=(1.0,), separated=True, ops=("max",)),
    "min": Case(lambda a: bl.min(a), lambda a: torch.min(a), min_dims=1, kinks=(1.0,), separated=True, ops=("min",)),
    "max_dim": Case(lambda a, d: a.max(d).values, lambda a, d: a.max(d).values, dim=True, kinks=(1.0,),
                    separated=True, ops=("max_dim",)),
    "min_dim": Case(lambda a, d: a.min(dim=d, keepdim=True)[0], lambda a, d: a.min(dim=d, keepdim=True)[0], dim=True,
                    kinks=(1.0,), separated=True, ops=("min_dim",)),
    "var": Case(lambda a, d: a.var(d), lambda a, d: a.var(d), dim=True, min_dims=1, ops=("var",)),
    "var0": Case(lambda a: a.var(correction=0), lambda a: a.var(correction=0), min_dims=1, ops=("var",)),
    "std": Case(lambda a, d: a.std(dim=d, keepdim=True), lambda a, d: a.std(dim=d, keepdim=True), dim=True,
                min_dims=1, separated=True, ops=("std",)),
    "std_tied": Case(lambda a: a.unsqueeze(-1).expand(*a.shape, 3).std(dim=-1),  # every row tied: 0 spread
                     lambda a: a.unsqueeze(-1).expand(*a.shape, 3).std(dim=-1), separated=True, ops=("std",)),
    "prod": Case(lambda a, d: a.prod(d), lambda a, d: a.prod(d), dim=True, kinks=(0.0,), ops=("prod",)),
    "prod_all": Case(lambda a: bl.prod(a), lambda a: torch.prod(a), kinks=(0.0,), ops=("prod",)),
    "transpose": Case(lambda a, d: a.transpose(0, d) * 1.5, lambda a, d: a.transpose(0, d) * 1.5, dim=True,
                      min_dims=1, ops=("permute",)),
    "permute": Case(lambda a: a.permute(*reversed(range(a.ndim))), lambda a: a.permute(*reversed(range(a.ndim))),
                    min_dims=1, ops=("permute",)),
    "squeeze_unsqueeze": Case(lambda a, d: a.unsqueeze(d).squeeze(), lambda a, d: a.unsqueeze(d).squeeze(),
                              dim=True, ops=("reshape",)),
    "flatten_view": Case(lambda a: a.flatten().view(-1, 1), lambda a: a.flatten().view(-1, 1), ops=("reshape",)),
    "expand": Case(lambda a: a.unsqueeze(0).expand(3, *a.shape), lambda a: a.unsqueeze(0).expand(3, *a.shape),
                   ops=("expand",)),
    "cat": Case(lambda a, b: bl.cat([a, b * 2, a], dim=0), lambda a, b: torch.cat([a, b * 2, a], dim=0), arity=2,
                broadcast=False, min_dims=1, ops=("cat",)),
    "stack": Case(lambda a, b, d: bl.stack([a, b], d), lambda a, b, d: torch.stack([a, b], d), arity=2, dim=True,
                  broadcast=False, ops=("cat",)),
    "split": Case(lambda a: bl.cat(a.split(2, 0)[::-1], 0), lambda a: torch.cat(a.split(2, 0)[::-1], 0),
                  min_dims=1, ops=("getitem",)),
    "chunk": Case(lambda a, d: a.chunk(2, d)[0], lambda a, d: a.chunk(2, d)[0], dim=True, min_dims=1,
                  ops=("getitem",)),
    "clone": Case(lambda a: a.clone(), lambda a: a.clone(), ops=("clone",)),
    "spellings": Case(lambda a, b: a.add(b).mul(b).sub(a, alpha=2).div(b.exp()).neg().pow(2),
                      lambda a, b: a.add(b).mul(b).sub(a, alpha=2).div(b.exp()).neg().pow(2), arity=2,
                      domain=(-1.5, 1.5), ops=("add", "mul", "sub", "div", "neg", "pow", "exp")),
    "gather": Case(lambda a, d: a.gather(d, bl.tensor(mixed_index(a.shape, d))),
                   lambda a, d: a.gather(d, torch.tensor(mixed_index(a.shape, d))), dim=True, min_dims=1,
                   ops=("gather",)),
    "gather_fn": Case(lambda a, d: bl.gather(a, d, cyclic_index(a.shape, d)),
                      lambda a, d: torch.gather(a, d, torch.tensor(cyclic_index(a.shape, d))), dim=True, min_dims=1,
                      ops=("gather",)),
    "scatter": Case(lambda a, b, d: a.scatter(d, bl.tensor(cyclic_index(a.shape, d, max(a.shape[d] - 1, 1))),
                                              b[first(d, max(a.shape[d] - 1, 1))]),
                    lambda a, b, d: a.scatter(d, torch.tensor(cyclic_index(a.shape, d, max(a.shape[d] - 1, 1))),
                                              b[first(d, max(a.shape[d] - 1, 1))]),
                    arity=2, broadcast=False, dim=True, min_dims=1, ops=("scatter", "getitem")),
    "scatter_value": Case(lambda a, d: bl.scatter(a, d, cyclic_index(a.shape, d, 1), 2.5),
                          lambda a, d: torch.scatter(a, d, torch.tensor(cyclic_index(a.shape, d, 1)), 2.5),
                          dim=True, min_dims=1, ops=("scatter",)),
    "embedding": Case(lambda a: F.embedding(bl.tensor(rows_index(a.shape[0])), a.reshape(a.shape[0], -1)),
                      lambda a: TF.embedding(torch.tensor(rows_index(a.shape[0])), a.reshape(a.shape[0], -1)),
                      min_dims=1, ops=("embedding", "reshape")),
    "masked_fill": Case(lambda a, b: a.masked_fill(b > 0.5, -2.0) * b, lambda a, b: a.masked_fill(b > 0.5, -2.0) * b,
                        arity=2, kinks=(0.5,), ops=("masked_fill",)),
    "tril": Case(lambda a: a.tril(), lambda a: a.tril(), min_dims=2, ops=("tril",)),
    "tril_fn": Case(lambda a: bl.tril(a, -1), lambda a: torch.tril(a, -1), min_dims=2, ops=("tril",)),
    "triu": Case(lambda a: a.triu(1), lambda a: a.triu(1), min_dims=2, ops=("triu",)),
    "triu_fn": Case(lambda a: bl.triu(a, -1), lambda a: torch.triu(a, -1), min_dims=2, ops=("triu",)),
    "diag_vector": Case(lambda a: a.reshape(-1).diag(1), lambda a: a.reshape(-1).diag(1), ops=("diag", "reshape")),
    "diag_matrix": Case(lambda a: bl.diag(a.reshape(a.shape[0], -1), -1),
                        lambda a: torch.diag(a.reshape(a.shape[0], -1), -1), min_dims=1, ops=("diag", "reshape")),
    "pad": Case(lambda a: F.pad(a, (2, -1), value=0.5), lambda a: TF.pad(a, (2, -1), value=0.5), min_dims=1,
                ops=("pad",)),
    "pad_two_dims": Case(lambda a: F.pad(a, (1, 0, -1, 2)), lambda a: TF.pad(a, (1, 0, -1, 2)), min_dims=2,
                         ops=("pad",)),
    "pad_replicate": Case(lambda a: F.pad(a, (1, 2), mode="replicate"), lambda a: TF.pad(a, (1, 2), mode="replicate"),
                          min_dims=2, ops=("getitem",)),
    "contiguous": Case(lambda a: a.transpose(0, -1).contiguous().view(-1),
                       lambda a: a.transpose(0, -1).contiguous().view(-1), min_dims=1, ops=("contiguous", "permute")),
    "conv2d": Case(lambda a, b: full_conv(F.conv2d, a, b), lambda a, b: full_conv(TF.conv2d, a, b), arity=2,
                   broadcast=False, min_dims=1, ops=("conv2d", "reshape")),
    "max_pool2d": Case(lambda a: F.max_pool2d(image(a), (2, 2), stride=1, padding=1),
                       lambda a: TF.max_pool2d(image(a), (2, 2), stride=1, padding=1), min_dims=1, separated=True,
                       nan=False, ops=("max_pool2d", "reshape")),
    "avg_pool2d": Case(lambda a: F.avg_pool2d(image(a), (2, 2), stride=1, padding=1, count_include_pad=False),
                       lambda a: TF.avg_pool2d(image(a), (2, 2), stride=1, padding=1, count_include_pad=False),
                       min_dims=1, ops=("avg_pool2d", "reshape")),
    "adaptive_avg_pool2d": Case(lambda a: F.adaptive_avg_pool2d(image(a), (2, 3)),
                                lambda a: TF.adaptive_avg_pool2d(image(a), (2, 3)), min_dims=1,
                                ops=("adaptive_avg_pool2d", "reshape")),
    "sort": Case(lambda a, d: a.sort(d, descending=True).values, lambda a, d: a.sort(d, descending=True).values,
                 dim=True, separated=True, ops=("gather",)),
    "sort_fn": Case(lambda a, d: bl.sort(a, d)[0], lambda a, d: torch.sort(a, d)[0], dim=True, separated=True,
                    ops=("gather",)),
    "topk": Case(lambda a, d: a.topk(min(2, a.shape[d]), d).values, lambda a, d: a.topk(min(2, a.shape[d]), d).values,
                 dim=True, min_dims=1, separated=True, ops=("gather",)),
    "topk_smallest": Case(lambda a: bl.topk(a, 1, largest=False).values, lambda a: torch.topk(a, 1, largest=False)[0],
                          min_dims=1, separated=True, ops=("gather",)),
}


def _dim_for(shape_ndim: int, stack: bool) -> st.SearchStrategy[int]:
    span = max(shape_ndim + (1 if stack else 0), 1)
    return st.integers(-span, span - 1)


@st.composite
def draws(draw, name: str, edges: bool):
    """Inputs for one case: shapes (broadcast against each other), values, and a dimension."""
    case = CASES[name]
    if case.arity > 1 and case.broadcast:
        shapes = draw(mutually_broadcastable_shapes(num_shapes=case.arity, min_dims=case.min_dims, max_dims=3,
                                                    max_side=3)).input_shapes
    else:
        shape = draw(array_shapes(min_dims=case.min_dims, max_dims=3, min_side=1, max_side=3))
        shapes = [shape] * case.arity
    lo, hi = case.domain
    smooth = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if edges and case.edges:
        special = [0.0, -0.0, -1.0, 1.0, np.inf, -np.inf, *([np.nan] if case.nan else []), *case.kinks]
        elements = st.one_of(smooth, st.sampled_from(special))
    elif case.kinks:
        elements = smooth.filter(lambda v: all(abs(v - k) > 0.05 for k in case.kinks))
    else:
        elements = smooth
    values = [draw(arrays(np.float64, s, elements=elements)) for s in shapes]
    extra = ()
    if case.dim:
        ndim = len(shapes[0]) if not case.broadcast else max(len(s) for s in shapes)
        extra = (draw(_dim_for(ndim, name in ("stack", "squeeze_unsqueeze"))),)
    return values, extra


def weights_for(shape: tuple[int, ...]) -> np.ndarray:
    """A fixed, uneven output gradient so every entry of the result counts differently."""
    return np.linspace(0.5, 1.5, int(np.prod(shape, dtype=np.int64))).reshape(shape)


@needs_torch
@pytest.mark.filterwarnings("ignore:.*degrees of freedom")  # var/std of one entry: NaN, as ours
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradient_equal_torch_float64_with_edge_values(name):
    case = CASES[name]

    @settings(max_examples=EXAMPLES_PER_CASE)
    @given(draws(name, edges=True))
    def check(drawn):
        values, extra = drawn
        ours = [Tensor(v, requires_grad=True) for v in values]
        theirs = [torch.tensor(v, requires_grad=True) for v in values]
        with np.errstate(all="ignore"):
            out = case.ours(*ours, *extra)
            expected = case.theirs(*theirs, *extra)
            np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)
            assert out.shape == tuple(expected.shape)
            w = weights_for(out.shape)
            (out * w).sum().backward()
        (expected * torch.tensor(w)).sum().backward()
        for a, b in zip(ours, theirs):
            want = b.grad.numpy() if b.grad is not None else np.zeros(a.shape)
            np.testing.assert_allclose(a.grad, want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)

    check()


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_equals_central_differences_where_smooth(name):
    case = CASES[name]

    @settings(max_examples=EXAMPLES_PER_CASE)
    @given(draws(name, edges=False))
    def check(drawn):
        values, extra = drawn
        if case.separated:  # a tie has no derivative: PyTorch's value there is checked against torch instead
            bounds = [values[1] + 1] if name == "clamp_tensor" else []  # its max=b + 1 is a kink too
            flat = np.sort(np.concatenate([v.reshape(-1) for v in [*values, *bounds]]))
            assume(flat.size < 2 or np.min(np.diff(flat)) > 1e-3)
        tensors = [Tensor(v, requires_grad=True) for v in values]
        grad_check(lambda *ts: case.ours(*ts, *extra) * weights_for(case.ours(*ts, *extra).shape), *tensors)

    check()


PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]")


def entries(shape):
    return [tuple(int(i) for i in idx) for idx in np.ndindex(*shape)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_explainer_writes_a_chain_through_the_op_that_adds_up_to_the_engine(name):
    case = CASES[name]
    rng = np.random.default_rng(7)
    lo, hi = case.domain
    shape = (2, 3)
    values = [rng.uniform(lo, hi, shape) for _ in range(case.arity)]
    if name in ("pow", "spellings"):
        values = [rng.uniform(0.5, 2.0, shape) for _ in range(case.arity)]
    params = [Tensor(v, requires_grad=True, name=f"p{k + 1}") for k, v in enumerate(values)]
    extra = (1,) if case.dim else ()
    out = case.ours(*params, *extra).named("y")
    loss = (out * Tensor(weights_for(out.shape), name="w")).sum()
    loss.backward()
    for p in params:
        for index in entries(p.shape):
            e = bl.explain(loss, p, index=index, form="paths", max_terms=10_000)
            terms = [t["value"] for t in e.details["terms"]]
            assert math.fsum(terms) == pytest.approx(float(p.grad[index]), rel=1e-12, abs=1e-15)
            assert not PLACEHOLDER.search(e.to_text() + e.to_latex()), "a placeholder was left unfilled"
        delta = bl.explain(loss, p, form="delta")
        np.testing.assert_allclose(delta.gradient, p.grad, rtol=1e-12)
        assert not PLACEHOLDER.search(delta.to_text() + delta.to_latex())
    unnamed = (case.ours(*params, *extra) * weights_for(out.shape)).sum()  # the op's result written inline
    e = bl.explain(unnamed, params[0], index=(0, 0), form="paths", max_terms=10_000)
    assert not PLACEHOLDER.search(e.to_text() + e.to_latex())


def test_the_explanation_states_the_ops_own_derivative():
    p = Tensor([[0.3, -1.2, 0.5]], requires_grad=True, name="p")
    loss = (F.leaky_relu(p, 0.1).named("y") * Tensor([[1.0, 2.0, 3.0]], name="w")).sum()
    text = bl.explain(loss, p, index=(0, 1)).to_text()
    assert "dy[1,2]/dp[1,2] = 1 if p[1,2] > 0 else 0.1 (0.1 at p[1,2] = 0, PyTorch's value)" in text  # its own index
    assert "= 2 × 0.1" in text


def test_every_new_op_in_the_table_has_a_case():
    covered = {op for case in CASES.values() for op in case.ops}
    new = {"abs", "sqrt", "maximum", "minimum", "clamp", "where", "sign", "log2", "log10", "sin", "cos",
           "leaky_relu", "elu", "silu", "gelu", "gelu_tanh", "logsigmoid", "softplus_beta", "softmax", "log_softmax",
           "max", "min", "max_dim", "min_dim", "var", "std", "prod", "permute", "cat", "expand", "clone",
           "clamp_tensor", "gather", "scatter", "embedding", "masked_fill", "tril", "triu", "diag", "pad", "contiguous"}
    assert new <= covered and new <= set(bl.ops.OPS)


def test_casts_between_float_dtypes_pass_the_gradient_back_in_the_input_dtype():
    x = Tensor([0.5, -1.25], requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.op is bl.ops.OPS["cast"]
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [1.0, -2.5])
    assert x.double() is x and x.long().dtype == np.int64 and not x.long().requires_grad
    assert (x > 0).float().tolist() == [1.0, 0.0]


def test_new_ops_replay_bit_identically_when_compiled():
    rng = np.random.default_rng(3)
    w = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    x = Tensor(rng.normal(size=(5, 3)))

    def step():
        h = F.gelu(x @ w).clamp(-1.0, 2.0) + bl.maximum(x @ w, 0.1).sqrt()
        h = bl.cat([h, F.leaky_relu(h, 0.2)], dim=1).permute(1, 0)
        return F.log_softmax(h, dim=0).max(dim=1).values.sum() + h.var(dim=0).prod() + h.std()

    fast = bl.compile(step)
    for k in range(3):
        w.grad = None
        loss = fast()
        replayed = w.grad.numpy().copy()
        w.grad = None
        plain = step()
        plain.backward()
        assert loss.item() == plain.item()
        np.testing.assert_array_equal(replayed, w.grad)
        w.data = w.data - 0.1 * (k + 1)
    assert fast.records == 1
