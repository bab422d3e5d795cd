"""The op table's matrix product through ``np.dot`` and a bias's gradient summed as 1ᵀ·G.

Both are spellings chosen for speed. These tests hold them to what they replace: ``@`` bit for bit
on contiguous matrices, ``add.reduce`` to the rounding of a sum, and the compiled replay to the
plain path bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.engine.autodiff import row_ones, sums_rows_by_dot, unbroadcast
from backproplab.engine.ops import matmul
from backproplab.engine.ops.table import transposed
from tests.test_codegen import plain_and_compiled_grads
from tests.test_compile import assert_same_arrays

sizes = st.integers(1, 40)
layouts = st.sampled_from(["C", "F"])
dtypes = st.sampled_from([np.float64, np.float32])


@settings(max_examples=60, deadline=None)
@given(m=sizes, k=sizes, n=sizes, order_a=layouts, order_b=layouts, dtype=dtypes, seed=st.integers(0, 2**16))
def test_two_matrices_multiply_as_at_does_bit_for_bit(m, k, n, order_a, order_b, dtype, seed):
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.normal(size=(m, k)), dtype, order=order_a)
    b = np.asarray(rng.normal(size=(k, n)), dtype, order=order_b)
    g = rng.normal(size=(m, n)).astype(dtype)
    out = matmul.forward(a, b)
    assert np.array_equal(out, a @ b) and out.dtype == (a @ b).dtype
    grad_a, grad_b = (vjp(g, out, a, b) for vjp in matmul.vjps)
    assert np.array_equal(grad_a, g @ b.T)
    assert np.array_equal(grad_b, (g.T @ a).T if transposed(b) else a.T @ g)  # dW in W's own order for x·Wᵀ


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), (3, 4)), ((4, 3), (3,)), ((2, 4, 3), (3, 5)),
                                    ((2, 4, 3), (2, 3, 5)), ((4, 3), (2, 3, 5))])
def test_vectors_and_stacks_keep_the_meaning_of_at(shapes):
    """``np.dot`` means something else beyond two matrices: there the op is ``np.matmul`` itself."""
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=s) for s in shapes)
    assert np.array_equal(matmul.forward(a, b), np.matmul(a, b))


def test_a_product_that_does_not_fit_names_the_sizes():
    x, w = Tensor(np.ones((2, 3)), name="x"), Tensor(np.ones((4, 5)), name="W")
    with pytest.raises(ValueError, match="inner sizes 3 and 4 differ"):
        bl.matmul(x, w)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 300), width=st.integers(1, 20), dtype=dtypes, seed=st.integers(0, 2**16))
def test_a_bias_gradient_is_the_sum_of_its_rows(rows, width, dtype, seed):
    g = np.random.default_rng(seed).normal(size=(rows, width)).astype(dtype)
    total = unbroadcast(g, (width,))
    assert sums_rows_by_dot(g, (width,)) and total.shape == (width,) and total.dtype == g.dtype
    exact = np.array([math.fsum(g[:, j].astype(float)) for j in range(width)])
    scale = np.abs(g).astype(float).sum(axis=0)
    assert np.all(np.abs(total - exact) <= 4 * rows * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny)


def test_rows_of_whole_numbers_and_deeper_stacks_are_summed_by_add_reduce():
    ints = np.arange(12).reshape(4, 3)
    assert not sums_rows_by_dot(ints, (3,))
    assert np.array_equal(unbroadcast(ints, (3,)), ints.sum(axis=0))
    stack = np.random.default_rng(2).normal(size=(2, 4, 3))
    assert not sums_rows_by_dot(stack, (4, 3))
    assert np.array_equal(unbroadcast(stack, (4, 3)), np.add.reduce(stack, axis=0))


def test_the_vector_of_ones_is_made_once_and_cannot_be_written():
    ones = row_ones(7, np.dtype(np.float32))
    assert ones is row_ones(7, np.dtype(np.float32)) and ones.dtype == np.float32
    assert np.array_equal(ones, np.ones(7))
    with pytest.raises(ValueError):
        ones[0] = 2.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_step_sums_bias_rows_as_the_plain_path_does(dtype):
    """A batch of 100 rows through two biased layers: the replay writes 1ᵀ·G and keeps the plain path's bits."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 6)).astype(dtype)
    labels = rng.integers(0, 3, 100)
    results, run = plain_and_compiled_grads([6, 16, 3], ["relu", "identity"], x, labels, dtype, steps=3)
    for plain, replayed in zip(*results):
        assert_same_arrays(plain, replayed)
    assert "100 ones as" in run.source and "# summed over the 100 rows as 1ᵀ·G" in run.source
    assert "= dot(c" in run.source


def test_the_replayed_loss_of_a_linear_layer_equals_the_plain_one():
    """Forward through ``dot`` in both paths: the loss the replay returns is the plain path's, bit for bit."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 1))
    losses_seen = []
    for compiled in (False, True):
        layer = bl.nn.Linear(4, 1, rng=np.random.default_rng(0))
        xt, yt = Tensor(x), Tensor(y)

        def fn():
            return losses.mse(layer(xt), yt)

        run = bl.compile(fn) if compiled else fn
        losses_seen.append([float(run().data) for _ in range(2)])
    assert losses_seen[0] == losses_seen[1]
