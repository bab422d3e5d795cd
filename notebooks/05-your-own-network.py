# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Your own network and data
#
# Every built-in example is a spec file: a TOML text that names the network, its starting
# values, the data and the training. This notebook writes a spec of its own and a CSV file of
# measurements into a temporary folder, trains the network the spec describes, and explains
# one weight's gradient. The same spec runs from the command line with
# `backproplab run spec.toml --explain w1`.

# %%
import tempfile
from pathlib import Path

import numpy as np

import backproplab as bl
import backproplab.spec.spec

folder = Path(tempfile.mkdtemp())

# %% [markdown]
# ## The data: a CSV file with named columns

# %%
(folder / "doses.csv").write_text(
    "dose,response\n"
    "0.0,0.1\n"
    "0.25,0.6\n"
    "0.5,1.0\n"
    "0.75,0.7\n"
    "1.0,0.2\n",
    encoding="utf-8",
)

# %% [markdown]
# ## The spec
#
# One hidden node with a softplus, written as formulas. `x = ["dose"]` picks the input column
# and `y = "response"` the target column; the formulas call the input `dose` too.

# %%
spec_text = """
version = 1
name = "bump"
description = "one softplus bump fitted to five measurements"

[network]
kind = "formulas"
inputs = ["dose"]
output = "yhat"

[network.nodes]
z1 = "w1 * dose + b1"
h1 = "softplus(z1)"
z2 = "w2 * dose + b2"
h2 = "softplus(z2)"
yhat = "w3 * h1 + w4 * h2 + b3"

[network.parameters]
w1 = 3.0
b1 = -1.5
w2 = -3.0
b2 = 1.5
w3 = -1.0
w4 = -1.0
b3 = 1.0

[data]
csv = "doses.csv"
x = ["dose"]
y = "response"

[training]
loss = "ssr"
optimize = "all"
min_step = 0.0001
max_steps = 3000

[training.optimizer]
name = "gradient_descent"
lr = 0.05
"""
(folder / "bump.toml").write_text(spec_text, encoding="utf-8")
spec = bl.spec.read(folder / "bump.toml")
net, (x, y) = spec.build()
print(spec.description)
print("x =", x.reshape(-1), " y =", y.reshape(-1))

# %% tags=["remove-cell"]
assert np.allclose(np.asarray(x).reshape(-1), [0.0, 0.25, 0.5, 0.75, 1.0])
assert np.allclose(np.asarray(y).reshape(-1), [0.1, 0.6, 1.0, 0.7, 0.2])

# %% [markdown]
# ## The forward pass before training

# %%
table = bl.forward_table(net, x, y)
table

# %% tags=["remove-cell"]
softplus = lambda z: np.log1p(np.exp(z))
xs, ys = np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1)


def by_hand(p: dict) -> np.ndarray:
    return p["w3"] * softplus(p["w1"] * xs + p["b1"]) + p["w4"] * softplus(p["w2"] * xs + p["b2"]) + p["b3"]


start = {"w1": 3.0, "b1": -1.5, "w2": -3.0, "b2": 1.5, "w3": -1.0, "w4": -1.0, "b3": 1.0}
assert np.isclose(table.value, np.sum((ys - by_hand(start)) ** 2), rtol=1e-12)

# %% [markdown]
# ## Training, as the spec says

# %%
opt, names = spec.optimizer(net)
trace = opt.fit(net, x, y, loss=spec.training["loss"])
trace

# %%
print(f"SSR {trace.iterations[0].loss:.3f} → {trace.final.loss:.4f} in {trace.final.steps} steps "
      f"({trace.final.stopped_by})")

# %% tags=["remove-cell"]
final = {n: float(v) for n, v in trace.final.params.items()}
assert names == ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
assert np.isclose(trace.final.loss, np.sum((ys - by_hand(final)) ** 2), rtol=1e-10)
assert trace.final.loss < 0.25 * trace.iterations[0].loss

# %% [markdown]
# ## One weight explained
#
# dSSR/dw1 at the trained values, by the chain rule with the numbers put in. Near the minimum
# it is close to zero: that is why training stopped.

# %%
loss = bl.losses.ssr(net(x), y)
explanation = bl.explain(loss, wrt=net.parameter("w1"))
explanation

# %% tags=["remove-cell"]
numeric = bl.central_difference(lambda w: bl.losses.ssr(net(x), y), [net.parameter("w1")], 0)
assert np.isclose(float(explanation.gradient), numeric, rtol=1e-5, atol=1e-7)
sigmoid = lambda z: 1 / (1 + np.exp(-z))
hand = np.sum(-2 * (ys - by_hand(final)) * final["w3"] * sigmoid(final["w1"] * xs + final["b1"]) * xs)
assert np.isclose(float(explanation.gradient), hand, rtol=1e-8, atol=1e-12)

# %% [markdown]
# ## A mistake in a spec
#
# A typo gets one line that names the place and says what to do, never a traceback.

# %%
broken = spec_text.replace('h1 = "softplus(z1)"', 'h1 = "softplus(z)"')
try:
    bl.spec.parse(broken)
except bl.spec.SpecError as err:
    message = str(err)
print(message)

# %% tags=["remove-cell"]
assert "\n" not in message and "z" in message and "network.nodes" in message
