"""micrograd (Karpathy's scalar engine), with a softplus added in its own style for statquest."""

from __future__ import annotations

import math

import numpy as np


def _softplus(v):
    from micrograd.engine import Value

    out = Value(math.log1p(math.exp(-abs(v.data))) + max(v.data, 0.0), (v,), "softplus")

    def _backward():
        v.grad += out.grad / (1.0 + math.exp(-v.data))

    out._backward = _backward
    return out


def make(w):
    from micrograd.engine import Value

    p = {k: np.vectorize(Value, otypes=[object])(v) if np.ndim(v) else Value(float(v)) for k, v in w.params.items()}
    layers = len(w.sizes) - 1
    lr = w.lr

    def loss_value():
        if w.name == "statquest":
            total = Value(0.0)
            for xi, yi in zip(w.x, w.y):
                h1 = _softplus(p["w1"] * float(xi) + p["b1"])
                h2 = _softplus(p["w2"] * float(xi) + p["b2"])
                r = float(yi) - (p["w3"] * h1 + p["w4"] * h2 + p["b3"])
                total = total + r * r
            return total
        if w.loss != "mse":
            raise ValueError("the micrograd engine here covers the statquest and moons workloads")
        total = Value(0.0)
        for xi, yi in zip(w.x, w.y):
            a = [Value(float(v)) for v in xi]
            for i in range(1, layers + 1):
                W, b = p[f"W{i}"], p[f"b{i}"]
                z = [sum((a[j] * W[j, k] for j in range(len(a))), b[k]) for k in range(W.shape[1])]
                a = [v.relu() for v in z] if i < layers else z
            r = float(yi[0]) - a[0]
            total = total + r * r
        return total * (1.0 / len(w.x))

    def values():
        for v in p.values():
            yield from (v.flat if isinstance(v, np.ndarray) else [v])

    def step():
        for v in values():
            v.grad = 0.0
        loss_value().backward()
        for v in values():
            v.data -= lr * v.grad

    def first():
        loss = loss_value()
        for v in values():
            v.grad = 0.0
        loss.backward()
        grads = {k: (np.vectorize(lambda t: t.grad)(v) if isinstance(v, np.ndarray) else np.asarray(v.grad))
                 for k, v in p.items()}
        return float(loss.data), grads

    return step, first
