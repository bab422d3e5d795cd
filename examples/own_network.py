"""Your own network in a few lines: a 2-3-1 tanh MLP on XOR, trained, explained and drawn.

Run it with:  python examples/own_network.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import backproplab as bl
from backproplab import plots

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
out.mkdir(parents=True, exist_ok=True)

x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = np.array([0.0, 1.0, 1.0, 0.0])
net = bl.MLP([2, 3, 1], "tanh", seed=1)

# One gradient, worked out by the chain rule with the numbers put in:
loss = bl.losses.mse(net(bl.Tensor(x, name="x")), y)
print(bl.explain(loss, wrt=net.parameter("W1"), index=(1, 0), lr=0.5))  # W1 is (out, in): input 1 into unit 2

# Train with the same rule, and keep every step:
trace = bl.optim.GradientDescent(net.parameters(), lr=0.5, max_steps=2000).fit(net, x, y, loss="mse")
print(f"stopped by {trace.final.stopped_by} after {trace.final.steps} steps; MSE {trace.final.loss:.4f}")

plots.loss_history(trace, log=True).savefig(out / "loss-history.png")
plots.network_diagram(net).savefig(out / "network.png")
plots.decision_boundary(net, x, y.astype(int), threshold=0.5).savefig(out / "decision-boundary.png")
(out / "explanation.md").write_text(bl.explain(loss, wrt=net.parameter("b2")).to_markdown(), encoding="utf-8")
print(f"wrote the figures and explanation.md to {out}/")
