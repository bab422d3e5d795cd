"""backproplab: the plain path (a new graph every step) or the compiled replay."""

from __future__ import annotations

import numpy as np

import backproplab as bl
from backproplab import losses
from backproplab.spec.presets import DosageNet

ADAM_LR = 0.01  # the Adam rows' learning rate (benchmarks.engines.jax_engine's too)


def _model(w):
    if w.name == "statquest":
        net = DosageNet({k: float(v) for k, v in w.params.items()})
        net.load_state_dict(w.params)
        return net
    acts = ["relu"] * (len(w.sizes) - 2) + ["identity"]
    net = bl.MLP(w.sizes, acts, dtype=np.dtype(w.dtype))
    net.load_state_dict({k: _layout(k, v) for k, v in w.params.items()})
    return net


def _layout(name: str, value: np.ndarray) -> np.ndarray:
    """A workload's W is (in, out), as the hand-written NumPy engine uses it; ``Linear`` holds (out, in)."""
    return np.ascontiguousarray(value.T) if name.startswith("W") and value.ndim == 2 else value


def make(w, compiled: bool = False, whole_step: bool = False, adam: bool = False):
    net = _model(w)
    params = net.parameters()
    x = bl.Tensor(w.x, name="x")
    y = w.y if w.loss == "cross_entropy" else bl.Tensor(w.y, name="y")
    loss_fn = losses.get_loss(w.loss)
    lr = w.lr

    def loss_value():
        return loss_fn(net(x), y)

    run = bl.compile(loss_value) if compiled else None
    if whole_step:  # as a PyTorch script writes it: torch.optim.SGD's or Adam's counterpart, the update compiled in
        opt = bl.optim.Adam(params, lr=ADAM_LR) if adam else bl.optim.SGD(params, lr=lr)
        return bl.compile(_training_step(opt, loss_value)), _first(w, y, loss_fn)
    opt = bl.optim.GradientDescent(params, lr=lr)

    def step():
        opt.zero_grad()
        if run is not None:
            run()
        else:
            loss_value().backward()
        opt.step()

    return step, _first(w, y, loss_fn)


def _training_step(opt, loss_value):
    """The training step as PyTorch writes it, for ``bl.compile`` to record whole: update included."""

    def step():
        opt.zero_grad()
        loss = loss_value()
        loss.backward()
        opt.step()
        return loss

    return step


def _first(w, y, loss_fn):
    def first():
        fresh = _model(w)
        loss = loss_fn(fresh(bl.Tensor(w.x, name="x")), y)
        loss.backward()
        return float(loss.data), {n: _layout(n, p.grad) for n, p in fresh.named_parameters()}

    return first
