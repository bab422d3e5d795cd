"""Hand-written NumPy forward and backward: the floor for any Python + NumPy engine.

Written straight-line for each workload, the way a careful NumPy programmer would: no
graph, no loops over layers, no dicts in the step, NumPy's functions called directly, every
array of a fixed shape preallocated and filled in place (``out`` passed by position, which
NumPy parses faster than the keyword, except to ``maximum``, which deprecates it),
single-number parameters as 0-d arrays of the data's dtype (which NumPy takes faster than
Python floats) and short sums added up in Python floats. The maths is the engines' own
(stable softplus and log-sum-exp), with constant factors taken out of sums where that saves
work; the first-step check in ``run.py`` holds every engine to these numbers.
"""

from __future__ import annotations

import numpy as np

STATQUEST = ("w1", "b1", "w2", "b2", "w3", "w4", "b3")


def make(w):
    p = {k: v.copy() for k, v in w.params.items()}
    if w.name == "statquest":
        return _statquest(p, w.x, w.y, w.lr)
    if len(w.sizes) != 4:
        raise ValueError("the hand-written MLP is written out for exactly three layers")
    return _mlp3(p, w.x, w.y, w.lr, w.loss)


def _statquest(p, x, y, lr):
    """The dosage network: every call a NumPy ufunc into a buffer, single numbers as 0-d arrays of x's dtype.

    NumPy takes a 0-d array of the operands' dtype faster than a Python float, and sums of
    three numbers are faster in Python floats than through NumPy. The factors 2 of
    d(y − ŷ)²/dŷ and w3, w4 of dŷ/dh multiply the sums instead of every sample.
    """
    w1, b1, w2, b2, w3, w4, b3 = (np.array(p[k], x.dtype) for k in STATQUEST)
    zero = np.zeros((), x.dtype)
    z1, z2, h1, h2, t, u, r, q1, q2 = (np.empty_like(x) for _ in range(9))
    multiply, add, subtract, logaddexp, exp = np.multiply, np.add, np.subtract, np.logaddexp, np.exp

    def grads():
        logaddexp(zero, add(multiply(w1, x, z1), b1, z1), h1)  # softplus, stable
        logaddexp(zero, add(multiply(w2, x, z2), b2, z2), h2)
        add(multiply(w3, h1, t), multiply(w4, h2, u), t)
        subtract(add(t, b3, t), y, r)  # ŷ − y; dSSR/dŷ = 2(ŷ − y)
        r0, r1, r2 = r.tolist()
        loss = r0 * r0 + r1 * r1 + r2 * r2
        gb3 = 2.0 * (r0 + r1 + r2)
        s0, s1, s2 = multiply(r, h1, t).tolist()
        g3 = 2.0 * (s0 + s1 + s2)
        s0, s1, s2 = multiply(r, h2, u).tolist()
        g4 = 2.0 * (s0 + s1 + s2)
        multiply(r, exp(subtract(z1, h1, q1), q1), q1)  # (ŷ − y)·σ(z1); σ(z) = e^(z − softplus(z))
        c = 2.0 * w3.item()
        s0, s1, s2 = q1.tolist()
        gb1 = c * (s0 + s1 + s2)
        s0, s1, s2 = multiply(q1, x, q1).tolist()
        g1 = c * (s0 + s1 + s2)
        multiply(r, exp(subtract(z2, h2, q2), q2), q2)
        c = 2.0 * w4.item()
        s0, s1, s2 = q2.tolist()
        gb2 = c * (s0 + s1 + s2)
        s0, s1, s2 = multiply(q2, x, q2).tolist()
        g2 = c * (s0 + s1 + s2)
        return loss, g1, gb1, g2, gb2, g3, g4, gb3

    def step():
        _, g1, gb1, g2, gb2, g3, g4, gb3 = grads()
        w1[()] = w1.item() - lr * g1
        b1[()] = b1.item() - lr * gb1
        w2[()] = w2.item() - lr * g2
        b2[()] = b2.item() - lr * gb2
        w3[()] = w3.item() - lr * g3
        w4[()] = w4.item() - lr * g4
        b3[()] = b3.item() - lr * gb3

    def first():
        loss, *g = grads()
        return loss, {k: np.asarray(v) for k, v in zip(STATQUEST, g)}

    return step, first


def _mlp3(p, x, y, lr, loss_name):
    """Three layers, ReLU between them, MSE or softmax cross-entropy; every buffer allocated once."""
    W1, b1, W2, b2, W3, b3 = (p[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    n, dtype = x.shape[0], x.dtype
    z1, z2, z3 = (np.empty((n, W.shape[1]), dtype) for W in (W1, W2, W3))
    a1, a2, d1, d2, d3 = np.empty_like(z1), np.empty_like(z2), np.empty_like(z1), np.empty_like(z2), np.empty_like(z3)
    gW1, gW2, gW3 = np.empty_like(W1), np.empty_like(W2), np.empty_like(W3)
    gb1, gb2, gb3 = np.empty_like(b1), np.empty_like(b2), np.empty_like(b3)
    m1, m2 = np.empty(z1.shape, bool), np.empty(z2.shape, bool)
    x_t = np.ascontiguousarray(x.T)
    cross_entropy = loss_name == "cross_entropy"
    if cross_entropy:
        onehot = np.zeros(z3.shape, dtype)
        onehot[np.arange(n), y] = 1
        picked = (np.arange(n), y)
        inv_n = dtype.type(1.0 / n)
    else:
        two_over_n, sq = np.asarray(2.0 / z3.size, dtype), np.empty_like(z3)
    rate, zero = np.asarray(lr, dtype), np.zeros((), dtype)  # 0-d arrays: NumPy takes them faster than Python numbers
    matmul, multiply, subtract, add = np.matmul, np.multiply, np.subtract, np.add
    maximum, greater, reduce = np.maximum, np.greater, np.add.reduce

    def grads():
        matmul(x, W1, z1)
        add(z1, b1, z1)
        maximum(z1, zero, out=a1)  # maximum deprecates a positional out
        matmul(a1, W2, z2)
        add(z2, b2, z2)
        maximum(z2, zero, out=a2)
        matmul(a2, W3, z3)
        add(z3, b3, z3)
        if cross_entropy:
            m = z3.max(axis=1, keepdims=True)
            np.subtract(z3, m, d3)
            np.exp(d3, d3)
            s = reduce(d3, axis=1, keepdims=True)
            loss = (reduce(np.log(s[:, 0]) + m[:, 0]) - reduce(z3[picked])) / n
            np.divide(d3, s, d3)
            subtract(d3, onehot, d3)
            multiply(d3, inv_n, d3)
        else:
            subtract(z3, y, d3)  # ŷ − y
            loss = reduce(multiply(d3, d3, sq), axis=None) / d3.size
            multiply(d3, two_over_n, d3)
        matmul(a2.T, d3, gW3)
        reduce(d3, axis=0, out=gb3)
        matmul(d3, W3.T, d2)
        greater(z2, zero, m2)
        multiply(d2, m2, d2)
        matmul(a1.T, d2, gW2)
        reduce(d2, axis=0, out=gb2)
        matmul(d2, W2.T, d1)
        greater(z1, zero, m1)
        multiply(d1, m1, d1)
        matmul(x_t, d1, gW1)
        reduce(d1, axis=0, out=gb1)
        return loss

    def step():
        grads()
        subtract(W1, multiply(gW1, rate, gW1), W1)
        subtract(b1, multiply(gb1, rate, gb1), b1)
        subtract(W2, multiply(gW2, rate, gW2), W2)
        subtract(b2, multiply(gb2, rate, gb2), b2)
        subtract(W3, multiply(gW3, rate, gW3), W3)
        subtract(b3, multiply(gb3, rate, gb3), b3)

    def first():
        loss = grads()
        return float(loss), {"W1": gW1.copy(), "b1": gb1.copy(), "W2": gW2.copy(), "b2": gb2.copy(),
                             "W3": gW3.copy(), "b3": gb3.copy()}

    return step, first
