"""Hand-written NumPy forward and backward: the floor for any Python + NumPy engine.

Written the way a careful NumPy programmer would: the same maths as the engines (stable
softplus, sigmoid and log-sum-exp), in-place parameter updates, no graph.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def make(w):
    p = {k: v.copy() for k, v in w.params.items()}
    x, y, lr = w.x, w.y, w.lr
    if w.name == "statquest":
        return _statquest(p, x, y, lr)
    return _mlp(p, x, y, lr, w.loss, len(w.sizes) - 1)


def _statquest(p, x, y, lr):
    names = ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
    v = {k: float(p[k]) for k in names}

    def grads():
        z1 = v["w1"] * x + v["b1"]
        z2 = v["w2"] * x + v["b2"]
        h1 = np.logaddexp(0.0, z1)
        h2 = np.logaddexp(0.0, z2)
        r = y - (v["w3"] * h1 + v["w4"] * h2 + v["b3"])
        loss = np.sum(r * r)
        d = -2.0 * r
        d1 = d * v["w3"] * _sigmoid(z1)
        d2 = d * v["w4"] * _sigmoid(z2)
        return loss, {"w1": np.sum(d1 * x), "b1": np.sum(d1), "w2": np.sum(d2 * x), "b2": np.sum(d2),
                      "w3": np.sum(d * h1), "w4": np.sum(d * h2), "b3": np.sum(d)}

    def step():
        _, g = grads()
        for k in names:
            v[k] -= lr * g[k]

    def first():
        loss, g = grads()
        return float(loss), {k: np.asarray(val, dtype=float) for k, val in g.items()}

    return step, first


def _mlp(p, x, y, lr, loss_name, layers):
    n = x.shape[0]
    if loss_name == "cross_entropy":
        onehot = np.zeros((n, p[f"W{layers}"].shape[1]), dtype=x.dtype)
        onehot[np.arange(n), y] = 1

    def grads():
        acts, pre = [x], []
        a = x
        for i in range(1, layers + 1):
            z = a @ p[f"W{i}"] + p[f"b{i}"]
            pre.append(z)
            a = np.maximum(z, 0) if i < layers else z
            acts.append(a)
        out = acts[-1]
        if loss_name == "mse":
            r = y - out
            loss = np.mean(r * r)
            d = -2.0 * r / r.size
        else:
            m = out.max(axis=1, keepdims=True)
            e = np.exp(out - m)
            s = e.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(s[:, 0]) + m[:, 0] - out[np.arange(n), y])
            d = (e / s - onehot) / n
        g = {}
        for i in range(layers, 0, -1):
            g[f"W{i}"] = acts[i - 1].T @ d
            g[f"b{i}"] = d.sum(axis=0)
            if i > 1:
                d = (d @ p[f"W{i}"].T) * (pre[i - 2] > 0)
        return loss, g

    def step():
        _, g = grads()
        for k, val in g.items():
            val *= lr  # in place: the gradient is a fresh array, and a new temporary would cost page faults
            p[k] -= val

    def first():
        loss, g = grads()
        return float(loss), g

    return step, first
