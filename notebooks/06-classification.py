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
# # Classification: two moons
#
# Two interleaving half circles of points, labelled 0 and 1. A multilayer perceptron
# (2 inputs, two hidden layers of 16 tanh units, 1 output) learns to tell them apart by
# minimising the binary cross-entropy of its output (a logit). This notebook trains it,
# shows the decision boundary at a few points of the training, and explains the gradient of
# one weight layer by layer, with δ = ∂L/∂node.

# %%
import numpy as np

import backproplab as bl
import backproplab.plots

preset = bl.presets.get_preset("moons")
spec = preset.spec(("training.max_steps=300",))
net, (X, y) = preset.build(spec)
print(preset.summary)
net

# %% tags=["remove-cell"]
assert X.shape == (100, 2) and set(np.unique(y)) == {0.0, 1.0}


# %% [markdown]
# The network by hand in NumPy, to measure the accuracy and to check the numbers below:
# z = x Wᵀ + b per layer (each W is (out, in), as in PyTorch), tanh between.

# %%
def logits(params: dict) -> np.ndarray:
    a = np.tanh(X @ params["W1"].T + params["b1"])
    a = np.tanh(a @ params["W2"].T + params["b2"])
    return (a @ params["W3"].T + params["b3"]).reshape(-1)


def bce(params: dict) -> float:
    z = logits(params)
    return float(np.mean(np.logaddexp(0, z) - y.reshape(-1) * z))


def accuracy(params: dict) -> float:
    return float(np.mean((logits(params) > 0) == (y.reshape(-1) > 0.5)))


# %% [markdown]
# ## Training with Adam

# %%
opt, names = spec.optimizer(net)
trace = opt.fit(net, X, y, loss="bce")
trace

# %%
start, final = trace.iterations[0].params, trace.final.params
print(f"accuracy: {accuracy(start):.0%} at the start, {accuracy(final):.0%} after {trace.final.steps} steps")

# %% tags=["remove-cell"]
assert np.isclose(trace.iterations[0].loss, bce(start), rtol=1e-10)
assert np.isclose(trace.final.loss, bce(final), rtol=1e-10)
assert accuracy(final) >= 0.95

# %% [markdown]
# ## The decision boundary as training goes on
#
# The shading is the predicted class; the black line is where the network changes its mind: the
# logit is 0 there, so the probability of class 1 is σ(0) = 0.5.

# %%
figures = []
for k in (1, 20, len(trace.iterations)):
    net.load_state_dict(trace.iterations[k - 1].params)
    fig = bl.plots.decision_boundary(net, X, y)
    fig.axes[0].set_title(f"iteration {k}: accuracy {accuracy(trace.iterations[k - 1].params):.0%}")
    figures.append(fig)
figures[0]

# %%
figures[1]

# %%
figures[2]

# %% tags=["remove-cell"]
# Every point of the black line gives a logit of about 0 (the line is traced on a grid, so not exactly 0).
final_params = trace.iterations[-1].params
boundary = next(c for c in figures[2].axes[0].collections if c.get_gid() == "boundary")
on_line = np.concatenate([path.vertices for path in boundary.get_paths()])
a = np.tanh(on_line @ final_params["W1"].T + final_params["b1"])
a = np.tanh(a @ final_params["W2"].T + final_params["b2"])
z_line = (a @ final_params["W3"].T + final_params["b3"]).reshape(-1)
spread = np.ptp(logits(final_params))
print(f"{len(on_line)} points on the line; the largest |logit| there is {np.abs(z_line).max():.3f} (of a spread of "
      f"{spread:.1f})")
assert len(on_line) > 10 and np.abs(z_line).max() < 0.02 * spread

# %% [markdown]
# ## One weight, layer by layer
#
# W1 is (out, in), as in PyTorch, so the weight W1[2,1] connects input 1 to unit 2 of the first
# hidden layer. Its gradient is δ of that unit for each sample, times the input it multiplies,
# summed: dL/dW1[2,1] = Σᵢ δ_z1[i,2] · x[i,1]. (Python indexes from 0, so that is `index=(1, 0)`.)

# %%
net.load_state_dict(final)
W1 = net.parameter("W1")
loss = bl.losses.bce_with_logits(net(X), y)
explanation = bl.explain(loss, wrt=W1, index=(1, 0))
explanation

# %% [markdown]
# The same δ by hand: backpropagate through the NumPy network above.

# %%
a1 = np.tanh(X @ final["W1"].T + final["b1"])
a2 = np.tanh(a1 @ final["W2"].T + final["b2"])
z3 = (a2 @ final["W3"].T + final["b3"]).reshape(-1)
delta3 = ((1 / (1 + np.exp(-z3))) - y.reshape(-1)) / len(z3)   # dL/dz3: (σ(z) − y)/n
delta2 = (delta3[:, None] @ final["W3"]) * (1 - a2**2)           # back through W3 and tanh
delta1 = (delta2 @ final["W2"]) * (1 - a1**2)                    # back through W2 and tanh
hand = float(np.sum(delta1[:, 1] * X[:, 0]))
print(f"dL/dW1[2,1] = {hand:.6f}")

# %% tags=["remove-cell"]
assert np.isclose(float(np.asarray(explanation.gradient).reshape(-1)[0]), hand, rtol=1e-9, atol=1e-12)
net.zero_grad()
bl.losses.bce_with_logits(net(X), y).backward()
np.testing.assert_allclose(W1.grad, delta1.T @ X, rtol=1e-9, atol=1e-12)

# %% [markdown]
# The whole layer at once, in the δ form: δ of each layer from the one above it.

# %%
bl.explain(bl.losses.bce_with_logits(net(X), y), wrt=W1, form="delta")
