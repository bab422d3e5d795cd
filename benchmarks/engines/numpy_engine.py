"""Hand-written NumPy forward and backward: the floor for any Python + NumPy engine.

Written straight-line for each workload, the way a careful NumPy programmer would: no
graph, no loops over layers, no dicts in the step, parameters held as Python floats where
they are single numbers, and every array of a fixed shape preallocated and filled in place
(``out=``) where that saves an allocation. The maths is the engines' own (stable softplus
and log-sum-exp); the first-step check in ``run.py`` holds every engine to these numbers.
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
    w1, b1, w2, b2, w3, w4, b3 = (float(p[k]) for k in STATQUEST)
    dot, exp, logaddexp = np.dot, np.exp, np.logaddexp

    def grads():
        z1 = w1 * x + b1
        z2 = w2 * x + b2
        h1 = logaddexp(0.0, z1)
        h2 = logaddexp(0.0, z2)
        r = y - (w3 * h1 + w4 * h2 + b3)
        d = r * -2.0  # dSSR/dŷ
        d1 = d * w3 * exp(z1 - h1)  # σ(z) = e^(z − softplus(z))
        d2 = d * w4 * exp(z2 - h2)
        return (float(dot(r, r)), float(dot(d1, x)), float(d1.sum()), float(dot(d2, x)), float(d2.sum()),
                float(dot(d, h1)), float(dot(d, h2)), float(d.sum()))

    def step():
        nonlocal w1, b1, w2, b2, w3, w4, b3
        _, g1, gb1, g2, gb2, g3, g4, gb3 = grads()
        w1 -= lr * g1
        b1 -= lr * gb1
        w2 -= lr * g2
        b2 -= lr * gb2
        w3 -= lr * g3
        w4 -= lr * g4
        b3 -= lr * gb3

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
        scale = dtype.type(-2.0 / z3.size)
    rate = dtype.type(lr)
    matmul, multiply, subtract, maximum, greater = np.matmul, np.multiply, np.subtract, np.maximum, np.greater
    reduce = np.add.reduce

    def grads():
        matmul(x, W1, out=z1)
        np.add(z1, b1, out=z1)
        maximum(z1, 0, out=a1)
        matmul(a1, W2, out=z2)
        np.add(z2, b2, out=z2)
        maximum(z2, 0, out=a2)
        matmul(a2, W3, out=z3)
        np.add(z3, b3, out=z3)
        if cross_entropy:
            m = z3.max(axis=1, keepdims=True)
            np.subtract(z3, m, out=d3)
            np.exp(d3, out=d3)
            s = reduce(d3, axis=1, keepdims=True)
            loss = (reduce(np.log(s[:, 0]) + m[:, 0]) - reduce(z3[picked])) / n
            np.divide(d3, s, out=d3)
            subtract(d3, onehot, out=d3)
            multiply(d3, inv_n, out=d3)
        else:
            np.subtract(z3, y, out=d3)  # ŷ − y
            loss = reduce(d3 * d3, axis=None) / d3.size
            multiply(d3, -scale, out=d3)
        matmul(a2.T, d3, out=gW3)
        reduce(d3, axis=0, out=gb3)
        matmul(d3, W3.T, out=d2)
        greater(z2, 0, out=m2)
        multiply(d2, m2, out=d2)
        matmul(a1.T, d2, out=gW2)
        reduce(d2, axis=0, out=gb2)
        matmul(d2, W2.T, out=d1)
        greater(z1, 0, out=m1)
        multiply(d1, m1, out=d1)
        matmul(x_t, d1, out=gW1)
        reduce(d1, axis=0, out=gb1)
        return loss

    def step():
        grads()
        subtract(W1, multiply(gW1, rate, out=gW1), out=W1)
        subtract(b1, multiply(gb1, rate, out=gb1), out=b1)
        subtract(W2, multiply(gW2, rate, out=gW2), out=W2)
        subtract(b2, multiply(gb2, rate, out=gb2), out=b2)
        subtract(W3, multiply(gW3, rate, out=gW3), out=W3)
        subtract(b3, multiply(gb3, rate, out=gb3), out=b3)

    def first():
        loss = grads()
        return float(loss), {"W1": gW1.copy(), "b1": gb1.copy(), "W2": gW2.copy(), "b2": gb2.copy(),
                             "W3": gW3.copy(), "b3": gb3.copy()}

    return step, first
