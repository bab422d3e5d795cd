"""Cases after tinygrad's test/backend/test_ops.py and test/backend/test_nn.py for the shape, selection,
normalisation, attention and loss ops: each case keeps the upstream shapes and arguments (made smaller where
they were large) and is checked here against PyTorch float64, forward and the gradient of a weighted sum, and
against central differences where the op is smooth at the drawn values."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import pytest

import backproplab as bl
import backproplab.nn.functional as F
from backproplab import Tensor, grad_check
from backproplab.bridge.attention import scaled_dot_product_attention

from .conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF

OURS = SimpleNamespace(F=F, cat=bl.cat, stack=bl.stack, lift=Tensor, sdpa=scaled_dot_product_attention)
THEIRS = SimpleNamespace(F=TF, cat=torch.cat, stack=torch.stack, lift=torch.tensor,
                         sdpa=TF.scaled_dot_product_attention) if HAS_TORCH else None

FIXED = np.random.default_rng(7)  # indices and labels shared by both libraries
GATHER = FIXED.integers(0, 3, (3, 4, 5))
CLASSES, CLASSES_3D, CLASSES_12 = FIXED.integers(0, 10, 32), FIXED.integers(0, 10, (4, 3, 3, 3)), [0, 1, 2, 3] * 3
WORDS, BATCHED = FIXED.integers(0, 28, (4, 10)), FIXED.integers(0, 10, (3, 12))
CLASS_WEIGHT = FIXED.normal(0, 1, 10)


class Case(NamedTuple):
    upstream: str  # the tinygrad test the shapes and arguments come from
    shapes: list[tuple[int, ...]]  # one drawn input per shape, uniform in [-2, 2) as upstream
    call: Any  # (library namespace, *inputs) -> output or tuple of outputs
    smooth: bool = True  # central differences apply at the drawn values


def _ops_cases() -> list[Case]:
    cases = [Case("test_split", [s], lambda m, x, n=n, kw=kw: x.split(n, **kw)) for s, n, kw in [
        ((10,), 5, {}), ((10,), [1, 4, 5], {}), ((10,), 3, {}), ((3, 4), 1, {}), ((3, 4), 1, {"dim": 1}),
        ((4, 4), [2, 2], {}), ((4, 4), [2, 2], {"dim": 1}), ((10000,), 2500, {})]]
    cases += [Case("test_chunk", [s], lambda m, x, n=n, d=d: x.chunk(n, d)) for s, n, d in [
        ((8, 13), 6, 1), ((8, 13), 6, 0), ((8, 13), 3, -1), ((8, 3, 39), 3, -2)]]
    for name in ("tril", "triu"):
        cases += [Case(f"test_{name}", [s], lambda m, x, name=name, k=k: getattr(x, name)(k)) for s, k in [
            ((3, 3), 0), ((3, 3), 1), ((3, 3), 2), ((3, 3), -1), ((3, 3), -2), ((4, 5), 4), ((4, 5), 5), ((4, 5), 6),
            ((4, 5), -4), ((4, 5), -5), ((4, 5), -6), ((5, 3, 3), 0), ((5, 0, 3), 0), ((5, 3, 3), 1)]]
    for name in ("softmax", "log_softmax"):
        cases += [Case(f"test_{name}", [s], lambda m, x, name=name, d=d: getattr(x, name)(d))
                  for s, d in [((45, 65), 1), ((45,), 0), ((), 0), ((), -1)]]
        cases += [Case(f"test_{name}_other_axis", [(10, 10, 10)], lambda m, x, name=name, d=d: getattr(x, name)(d))
                  for d in (0, 1, 2)]
    cases += [Case("test_logsumexp", [s], lambda m, x, d=d, k=k: x.logsumexp(d, k)) for s, d, k in [
        ((45, 65), 0, False), ((45, 65), 0, True), ((45, 65), 1, False), ((45, 65), 1, True), ((6, 6, 6), 2, False),
        ((6, 6, 6, 6), 2, False), ((6, 6, 6, 6), 3, False), ((45,), 0, False)]]
    cases += [Case("test_pad", [s], lambda m, x, p=p, v=v: m.F.pad(x, p, value=v), smooth=v is None or math.isfinite(v))
              for s, p, v in [((3, 3, 3, 3), (1, 2, 3, 4), None), ((3, 3, 3, 3), (-1, 2, -3, 4), None),
                              ((3, 3, 3, 3), (1, 2, 3, 4), 5), ((3, 3, 3, 3), (-1, 2, -3, 4), 5),
                              ((3, 3, 3, 3), (1, 2, 3, 4), math.inf), ((3, 3, 3, 3), (-1, 2, -3, 4), -math.inf),
                              ((3, 3), (1, 2, 3, 4), None), ((3, 3), (-1, 2, -3, 4), None), ((3, 3), (1, 2, 3, 4), 5),
                              ((3, 3), (0, 0, 3, 4), 1), ((3, 3), (0, 0, 0, 0), 1)]]
    for mode, rows in [("reflect", [((1, 1, 5, 5), (0, 2, 3, 2)), ((5, 5, 5), (0, 2)),
                                    ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)), ((1, 1, 5, 5), (4, 4, 0, 4))]),
                       ("replicate", [((1, 1, 5, 5), (0, 2, 3, 2)), ((5, 5, 5), (0, 2)),
                                      ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)), ((1, 1, 5, 5), (3, 11, 0, 30))]),
                       ("circular", [((1, 1, 5, 5), (0, 2, 3, 2)), ((5, 5, 5), (0, 2)),
                                     ((1, 1, 5, 5, 5), (1, 2, 3, 5, 1, 2))])]:
        cases += [Case(f"test_pad_{mode}_mode", [s], lambda m, x, p=p, mode=mode: m.F.pad(x, p, mode=mode))
                  for s, p in rows]
    cases += [Case("test_pad_reshape", [s], lambda m, x, p=p, r=r: m.F.pad(x, p).reshape(r)) for s, p, r in [
        ((1, 2), (0, 1, 1, 0), (3, 2)), ((1, 2), (0, 2, 1, 1), (4, 3)),
        ((1, 1, 1, 2), (0, 4, 2, 2, 1, 2, 0, 2), (4, 3, 6, 5))]]
    cases += [Case("test_expand", [s], lambda m, x, to=to: x.expand(to)) for s, to in [
        ((4, 3, 1, 6), (4, 3, 2, 6)), ((1, 1, 1, 1), (4, 3, 2, 6)), ((4, 3, 1, 6), (6, 1, 4, 3, 2, 6)),
        ((4, 3, 1, 6), (0, 1, 4, 3, 2, 6)), ((4, 3, 1, 6), (4, 3, 0, 6)), ((), (4, 3, 2, 6)), ((), ())]]
    cases += [Case("test_cat", [(4, 5, 3)] * 3, lambda m, x, y, z, d=d: m.cat((x, y, z), d)) for d in range(-2, 3)]
    cases += [Case("test_cat", [a, b, c], lambda m, x, y, z, d=d: m.cat((x, y, z), d)) for a, b, c, d in [
        ((4, 0, 3), (4, 0, 3), (4, 0, 3), 0), ((4, 0, 3), (4, 1, 3), (4, 2, 3), 1),
        ((4, 0, 3), (4, 0, 3), (4, 0, 3), 1)]]
    cases += [Case("test_stack", [(5, 6, 3)] * 3, lambda m, x, y, z, d=d: m.stack((x, y, z), d)) for d in range(-1, 3)]
    cases += [Case("test_gather", [s], lambda m, x, d=d: x.gather(d, m.lift(GATHER))) for s, d in [
        ((4, 5, 6), 0), ((4, 5, 6), 1), ((4, 5, 6), 2), ((3, 4, 5), 0), ((4, 5, 6), -1), ((4, 5, 6), -2),
        ((4, 5, 6), -3)]]
    cases += [Case("test_gather", [(5,)], lambda m, x: x.gather(0, m.lift(np.array([2, 1, 0, 1, 2]))))]
    cases += [Case("test_masked_fill", [(32, 10)], lambda m, x, c=c: x.masked_fill(c(x.detach()), -math.inf), False)
              for c in (lambda v: v > 0.1, lambda v: v < 0.1)]
    return cases


def _attention_and_loss_cases() -> list[Case]:
    qkv = [(2, 2, 16, 8)] * 3  # upstream (32, 8, 16, 64), made smaller
    cases = [Case("test_scaled_dot_product_attention", qkv, lambda m, q, k, v: m.sdpa(q, k, v)),
             Case("test_scaled_dot_product_attention", qkv + [(2, 2, 16, 16)],
                  lambda m, q, k, v, mask: m.sdpa(q, k, v, attn_mask=mask)),
             Case("test_scaled_dot_product_attention_mismatch_ls", [(2, 2, 4, 8), (2, 2, 16, 8), (2, 2, 16, 8)],
                  lambda m, q, k, v: m.sdpa(q, k, v)),
             Case("test_scaled_dot_product_attention_causal", qkv, lambda m, q, k, v: m.sdpa(q, k, v, is_causal=True))]
    bce = [lambda m, x, y, r: m.F.binary_cross_entropy(x.sigmoid(), y.clip(0, 1), reduction=r),
           lambda m, x, y, r: m.F.binary_cross_entropy_with_logits(x, y.clip(0, 1), reduction=r)]
    cases += [Case("test_binary_crossentropy_reductions", [(32, 10)] * 2, lambda m, x, y, f=f, r=r: f(m, x, y, r))
              for f in bce for r in ("mean", "sum", "none")]
    cases += [Case("test_cross_entropy_class_probabilities", [s, s], lambda m, x, y: m.F.cross_entropy(x, y))
              for s in [(32,), (32, 10), (32, 4, 4, 4)]]
    cases += [Case("test_cross_entropy_reductions", [(32, 10)] * 2, lambda m, x, y, r=r: m.F.cross_entropy(
        x, y, reduction=r)) for r in ("mean", "sum", "none")]
    for s in (0.0, 0.3, 0.7, 1.0):
        cases += [Case("test_cross_entropy_smoothing", [(32, 10)] * 2,
                       lambda m, x, y, s=s: m.F.cross_entropy(x, y, label_smoothing=s)),
                  Case("test_cross_entropy_smoothing", [(32, 10)],
                       lambda m, x, s=s: m.F.cross_entropy(x, m.lift(CLASSES), label_smoothing=s))]
    cases += [Case("test_sparse_categorical_crossentropy", [(12, 10)], lambda m, x, kw=kw: m.F.cross_entropy(
        x, m.lift(CLASSES[:12]), **kw)) for kw in [{}, {"ignore_index": int(CLASSES[0]), "label_smoothing": 0.3}]]
    cases += [Case("test_sparse_categorical_crossentropy", [(3, 12, 10)], lambda m, x: m.F.cross_entropy(
        x.permute(0, 2, 1), m.lift(BATCHED)))]
    cases += [Case("test_sparse_categorical_crossentropy_ignore_index", [(12, 10)], lambda m, x, i=i: m.F.cross_entropy(
        x, m.lift(np.array(CLASSES_12)), ignore_index=i)) for i in (-1, 0, 3)]
    for r in ("mean", "sum", "none"):
        cases += [Case("test_nll_loss_reductions", [(32, 10)], lambda m, x, r=r: m.F.nll_loss(
                      m.F.log_softmax(x, dim=1), m.lift(CLASSES), reduction=r)),
                  Case("test_nll_loss_weight", [(32, 10)], lambda m, x, r=r: m.F.nll_loss(
                      m.F.log_softmax(x, dim=1), m.lift(CLASSES), m.lift(CLASS_WEIGHT), reduction=r)),
                  Case("test_nll_loss_3d_weight", [(4, 10, 3, 3, 3)], lambda m, x, r=r: m.F.nll_loss(
                      m.F.log_softmax(x, dim=1), m.lift(CLASSES_3D), m.lift(CLASS_WEIGHT), reduction=r))]
    cases += [Case("test_nll_loss_3d", [(4, 10, 3, 3, 3)], lambda m, x: m.F.nll_loss(m.F.log_softmax(x, dim=1),
                                                                                     m.lift(CLASSES_3D))),
              Case("test_nll_loss_ignore_index", [(3, 3)], lambda m, x: m.F.nll_loss(
                  m.F.log_softmax(x, dim=1), m.lift(np.array([0, 1, 2])), ignore_index=1))]
    # from test_nn.py: N, C, H, W = 20, 5, 10, 10 upstream, made smaller
    cases += [Case("test_layernorm", [(4, 5, 6, 6), (6, 6), (6, 6)],
                   lambda m, x, w, b: m.F.layer_norm(x, [6, 6], w, b)),
              Case("test_layernorm_2d", [(4, 5, 6, 6), (5,), (5,)],
                   lambda m, x, w, b: m.F.layer_norm(x.permute(0, 2, 3, 1), [5], w, b).permute(0, 3, 1, 2)),
              Case("test_embedding", [(28, 20)], lambda m, w: m.F.embedding(m.lift(WORDS), w)),
              Case("test_embedding", [(28, 20)], lambda m, w: m.F.embedding(m.lift(WORDS[:, :0]), w))]
    return cases


CASES = _ops_cases() + _attention_and_loss_cases()
IDS = [f"{c.upstream}-{i}" for i, c in enumerate(CASES)]


def draw(case: Case, index: int) -> list[np.ndarray]:
    rng = np.random.default_rng(index)
    return [rng.uniform(-2, 2, s) for s in case.shapes]


def pieces(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def weighted_total(out: Any, lift: Any) -> Any:
    """Σ w·out over every piece with fixed uneven weights, so that each output entry counts differently."""
    total = 0
    for piece in pieces(out):
        total = total + (piece * lift(np.linspace(0.5, 1.5, math.prod(piece.shape)).reshape(tuple(piece.shape)))).sum()
    return total


@needs_torch
@pytest.mark.parametrize("index", range(len(CASES)), ids=IDS)
def test_case_equals_torch_float64(index):
    case = CASES[index]
    arrays = draw(case, index)
    mine = [Tensor(a, requires_grad=True) for a in arrays]
    yours = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = case.call(OURS, *mine), case.call(THEIRS, *yours)
    assert len(pieces(out)) == len(pieces(expected))
    for ours, theirs in zip(pieces(out), pieces(expected)):
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)
    weighted_total(out, Tensor).backward()
    weighted_total(expected, torch.tensor).backward()
    for m, y in zip(mine, yours):
        theirs = y.grad.numpy() if y.grad is not None else np.zeros(y.shape)
        np.testing.assert_allclose(np.zeros(m.shape) if m.grad is None else m.grad, theirs, rtol=1e-9, atol=1e-12)


SMOOTH = [i for i, c in enumerate(CASES) if c.smooth and sum(math.prod(s) for s in c.shapes) <= 3000]


@pytest.mark.parametrize("index", SMOOTH, ids=[IDS[i] for i in SMOOTH])
def test_case_gradient_equals_central_differences(index):
    case = CASES[index]
    tensors = [Tensor(a, requires_grad=True) for a in draw(case, index)]
    grad_check(lambda *ts: weighted_total(case.call(OURS, *ts), Tensor), *tensors)


# (upstream test, call on a library namespace, words our one-line refusal holds); PyTorch refuses these too
BOTH_REFUSE = [
    ("test_pad", lambda m: m.F.pad(m.lift(np.ones((3, 3))), (2, 0, 2)), "(before, after) pairs"),
    ("test_pad", lambda m: m.F.pad(m.lift(np.ones((3, 3))), (0, 0, 0, 0, 1, 0, 3, 0)), "at most one per dimension"),
    ("test_pad", lambda m: m.F.pad(m.lift(np.ones((3, 3, 3))), (3, 0), mode="typo"), "mode must be"),
    ("test_pad_reflect_mode", lambda m: m.F.pad(m.lift(np.ones((1, 1, 5, 5))), (3, 5, 0, 0), mode="reflect"),
     "from 0 to 4"),
    ("test_pad_circular_mode", lambda m: m.F.pad(m.lift(np.ones((1, 1, 5, 5))), (3, 6, 0, 0), mode="circular"),
     "from 0 to 5"),
    ("test_expand", lambda m: m.lift(np.ones((4, 3, 1, 6))).expand(4, 1, 1, 6), "only dimensions of size 1"),
    ("test_expand", lambda m: m.lift(np.ones((4, 3, 1, 6))).expand(4, 6, 1, 6), "only dimensions of size 1"),
    ("test_expand", lambda m: m.lift(np.ones((4, 3, 1, 6))).expand(3, 1, 6), "fewer dimensions"),
    ("test_expand", lambda m: m.lift(np.ones((4, 3, 2, 6))).expand(4, 3, 0, 6), "only dimensions of size 1"),
    ("test_cat", lambda m: m.cat([m.lift(3.14), m.lift(3.14)]), "0-d tensors"),
    ("test_stack", lambda m: m.stack([m.lift(np.ones((4, 5, 3)))], dim=77), "dimension 77"),
    ("test_gather", lambda m: m.lift(np.ones((4, 5, 6))).gather(0, m.lift(np.array([1]))), "index has 1 dimensions"),
    ("test_gather", lambda m: m.lift(np.ones((2, 1, 1))).gather(0, m.lift(GATHER)), "larger than the tensor"),
    ("test_scaled_dot_product_attention_gqa_errors", lambda m: m.sdpa(m.lift(np.ones((2, 7, 16, 8))),
                                                                      *[m.lift(np.ones((2, 2, 16, 8)))] * 2),
     "cannot be broadcast"),
    ("test_cross_entropy_class_indices", lambda m: m.F.cross_entropy(m.lift(np.ones((32, 10))),
                                                                     m.lift(np.full((32, 1), 0.5))), "whole numbers"),
    ("test_cross_entropy_reductions", lambda m: m.F.cross_entropy(m.lift(np.ones((32, 10))), m.lift(np.ones((32, 10))),
                                                                  reduction="typo"), "reduction must be"),
    ("test_nll_loss_reductions", lambda m: m.F.nll_loss(m.lift(np.ones((32, 10))), m.lift(CLASSES), reduction="typo"),
     "reduction must be"),
]

# cases PyTorch computes and backproplab refuses, each in one line naming what it does not take
OURS_REFUSE = [
    *[(f"test_pad_{mode}_mode", lambda m, mode=mode, s=s, p=p: m.F.pad(m.lift(np.ones(s)), p, mode=mode),
       "takes widths from 0") for mode in ("reflect", "replicate")
      for s, p in [((3, 3, 3, 3), (-1, 2, 2, -1)), ((1, 1, 5, 5), (3, -3, 0, -3)), ((1, 1, 5, 5), (3, -5, 1, -5)),
                   ((1, 1, 5, 5), (0, 0, 0, -5))]],
    ("test_pad_circular_mode", lambda m: m.F.pad(m.lift(np.ones((1, 1, 5, 5))), (1, -2, 2, -1), mode="circular"),
     "takes widths from 0"),
    ("test_scaled_dot_product_attention_gqa", lambda m: m.sdpa(m.lift(np.ones((2, 8, 16, 8))),
                                                               *[m.lift(np.ones((2, 2, 16, 8)))] * 2, enable_gqa=True),
     "enable_gqa=True"),
    ("test_scaled_dot_product_attention_causal", lambda m: m.sdpa(*[m.lift(np.ones((2, 2, 16, 8)))] * 3,
                                                                  attn_mask=m.lift(np.zeros((2, 2, 16, 16))),
                                                                  is_causal=True), "not both"),
    ("test_binary_crossentropy_logits_pos_weights", lambda m: m.F.binary_cross_entropy_with_logits(
        m.lift(np.zeros((32, 10))), m.lift(np.ones((32, 10))), pos_weight=m.lift(np.linspace(0.25, 7, 10))),
     "pos_weight"),
]


def one_line_refusal(call: Any) -> str:
    with pytest.raises((ValueError, TypeError, IndexError)) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


@needs_torch
@pytest.mark.parametrize(("upstream", "call", "words"), BOTH_REFUSE, ids=[c[0] for c in BOTH_REFUSE])
def test_what_torch_refuses_is_refused_in_one_line(upstream, call, words):
    assert words in one_line_refusal(lambda: call(OURS))
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
        call(THEIRS)


@needs_torch
@pytest.mark.parametrize(("upstream", "call", "words"), OURS_REFUSE, ids=[c[0] for c in OURS_REFUSE])
def test_what_backproplab_does_not_take_is_refused_in_one_line(upstream, call, words):
    assert words in one_line_refusal(lambda: call(OURS))
    assert call(THEIRS) is not None


@needs_torch
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("size", [4, 8, 16, 32])
def test_batchnorm2d_cases_equal_torch_float64(size, track, training):
    """test_nn.py's test_batchnorm2d, _training, _no_running_stats and _training_no_running_stats."""
    rng = np.random.default_rng(size)
    weight, bias, mean, var = rng.standard_normal(size), rng.standard_normal(size), rng.standard_normal(size), \
        np.abs(rng.standard_normal(size))
    ours, theirs = bl.nn.BatchNorm2d(size, track_running_stats=track), \
        torch.nn.BatchNorm2d(size, track_running_stats=track).double()
    ours.weight.data, ours.bias.data = weight.copy(), bias.copy()
    with torch.no_grad():
        theirs.weight[:], theirs.bias[:] = torch.tensor(weight), torch.tensor(bias)
        if track:
            ours.running_mean.data, ours.running_var.data = mean.copy(), var.copy()
            theirs.running_mean[:], theirs.running_var[:] = torch.tensor(mean), torch.tensor(var)
    ours.train(training)
    theirs.train(training)
    x = rng.standard_normal((2, size, 3, 3))
    mine, yours = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(yours)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    weighted_total(out, Tensor).backward()
    weighted_total(expected, torch.tensor).backward()
    for a, b in [(mine.grad, yours.grad), (ours.weight.grad, theirs.weight.grad), (ours.bias.grad, theirs.bias.grad)]:
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12)
    if track:
        np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-9)
        np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-9)
    if size == 4:
        grad_check(lambda t, w, b: weighted_total(ours(t), Tensor), mine, ours.weight, ours.bias)


@needs_torch
def test_forward_only_cases_equal_torch():
    """test_tril / test_triu on booleans, test_one_hot, test_stack's 0-d tensors and test_embedding_shape."""
    flags = np.array([[True] * 3] * 3)
    for name in ("tril", "triu"):
        np.testing.assert_array_equal(getattr(Tensor(flags), name)().data, getattr(torch.tensor(flags), name)().numpy())
    for data, n in [([1, 2, 4], 6), ([[[1, 2, 3], [0, 3, 5]], [[1, 2, 3], [0, 3, 5]]], 8)]:
        np.testing.assert_array_equal(F.one_hot(Tensor(np.array(data)), n).data,
                                      TF.one_hot(torch.tensor(data), n).numpy())
    np.testing.assert_array_equal(bl.stack([Tensor(3.14), Tensor(3.14)]).data, [3.14, 3.14])
    layer = bl.nn.Embedding(10, 16)
    for rank in range(5):
        assert layer(Tensor(np.array([3]).reshape((1,) * rank))).shape == (1,) * rank + (16,)
