"""PyTorch CPU with autograd, the way its tutorials write a training step."""

from __future__ import annotations

import numpy as np


def make(w, threads: int | None = None):
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    dtype = getattr(torch, w.dtype)
    p = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in w.params.items()}
    x = torch.tensor(w.x, dtype=dtype)
    y = torch.tensor(w.y) if w.loss == "cross_entropy" else torch.tensor(w.y, dtype=dtype)
    layers = len(w.sizes) - 1
    lr = w.lr

    def loss_value():
        if w.name == "statquest":
            h1 = F.softplus(p["w1"] * x + p["b1"])
            h2 = F.softplus(p["w2"] * x + p["b2"])
            return ((y - (p["w3"] * h1 + p["w4"] * h2 + p["b3"])) ** 2).sum()
        a = x
        for i in range(1, layers + 1):
            a = a @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers:
                a = torch.relu(a)
        return F.mse_loss(a, y) if w.loss == "mse" else F.cross_entropy(a, y)

    def step():
        for t in p.values():
            t.grad = None
        loss_value().backward()
        with torch.no_grad():
            for t in p.values():
                t -= lr * t.grad

    def first():
        fresh = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in w.params.items()}
        p_saved = dict(p)
        p.update(fresh)
        loss = loss_value()
        loss.backward()
        p.update(p_saved)
        return float(loss.detach()), {k: np.asarray(t.grad.numpy(), dtype=float) for k, t in fresh.items()}

    return step, first
