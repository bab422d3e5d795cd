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
# # Part 4: backpropagation for every parameter
#
# Part 3 trained only b3. Backpropagation gives the gradient of the SSR with respect to every
# weight and bias in one backward pass, by the chain rule. This notebook works out all seven at
# the starting values (dSSR/dw1 = 7.34 is the one the article follows), checks each against
# the chain rule by hand and against central differences, then trains all seven together.

# %%
import numpy as np

import backproplab as bl
import backproplab.plots

net, (x, y) = bl.presets.statquest()
sigmoid = lambda z: 1 / (1 + np.exp(-z))
softplus = lambda z: np.log1p(np.exp(z))

# %% [markdown]
# ## One backward pass, seven gradients

# %%
loss = bl.losses.ssr(net(x), y)
loss.backward()
grads = {name: p.grad.item() for name, p in net.named_parameters()}
for name, g in grads.items():
    print(f"dSSR/d{name} = {g:8.4f}")

# %% [markdown]
# ## The chain rule by hand
#
# With dSSR/dŷᵢ = −2(yᵢ − ŷᵢ) and d softplus(z)/dz = σ(z), each gradient is a product of local
# derivatives along the path from the SSR to the parameter, summed over the samples. For w1:
# dSSR/dw1 = Σᵢ −2(yᵢ − ŷᵢ) · w3 · σ(z1ᵢ) · xᵢ.

# %%
w1, b1, w2, b2, w3, w4, b3 = 3.34, -1.43, -3.53, 0.57, -1.22, -2.30, 0.0
z1, z2 = w1 * x + b1, w2 * x + b2
h1, h2 = softplus(z1), softplus(z2)
dyhat = -2 * (y - (w3 * h1 + w4 * h2 + b3))
by_hand = {
    "w1": np.sum(dyhat * w3 * sigmoid(z1) * x),
    "b1": np.sum(dyhat * w3 * sigmoid(z1)),
    "w2": np.sum(dyhat * w4 * sigmoid(z2) * x),
    "b2": np.sum(dyhat * w4 * sigmoid(z2)),
    "w3": np.sum(dyhat * h1),
    "w4": np.sum(dyhat * h2),
    "b3": np.sum(dyhat),
}

# %% tags=["remove-cell"]
for name in by_hand:
    assert np.isclose(grads[name], by_hand[name], rtol=1e-12), name
    numeric = bl.central_difference(lambda p: bl.losses.ssr(net(x), y), [net.parameter(name)], 0)
    assert np.isclose(grads[name], numeric, rtol=1e-6, atol=1e-8), name
assert round(grads["w1"], 2) == 7.34 and round(grads["b3"], 2) == -15.66

# %% [markdown]
# The explainer writes the w1 derivation out, sample by sample, with the numbers put in:

# %%
explanation = bl.explain(bl.losses.ssr(net(x), y), wrt=net.w1, lr=0.1)
explanation

# %% tags=["remove-cell"]
assert np.isclose(float(explanation.gradient), by_hand["w1"], rtol=1e-12)
assert "7.34" in explanation.to_text()

# %% [markdown]
# ## Training all seven
#
# Gradient descent now moves every parameter by its own gradient × 0.1 at each step.

# %%
opt = bl.optim.GradientDescent(net.parameters(), lr=0.1)
trace = opt.fit(net, x, y, loss="ssr", max_steps=2000)
trace

# %%
losses = trace.losses()
print(f"SSR: {losses[0]:.2f} at the start, {trace.final.loss:.2g} after {trace.final.steps} steps")

# %% tags=["remove-cell"]
first = trace.iterations[0]
for name in by_hand:
    assert np.isclose(first.gradients[name], by_hand[name], rtol=1e-12)
    assert np.isclose(first.step_sizes[name], 0.1 * by_hand[name], rtol=1e-12)
assert losses[-1] < 0.01 * losses[0]
final = trace.final.params
fitted = final["w3"] * softplus(final["w1"] * x + final["b1"]) + final["w4"] * softplus(final["w2"] * x + final["b2"]) \
    + final["b3"]
assert np.isclose(trace.final.loss, np.sum((y - fitted) ** 2), rtol=1e-10)

# %% [markdown]
# ## Your turn: dSSR/dw1 at iteration 2
#
# After the first step every parameter has moved (new value = old value − gradient × 0.1). Work out
# dSSR/dw1 at iteration 2 by hand with the new values, put it in place of `None` and run the cell:
# `bl.check` says whether it is right, or which factor of the chain (w3, σ(z1ᵢ), xᵢ) or which step
# went wrong. The answer is revealed by `backproplab explain statquest --param w1 --iteration 2
# --optimize all`.

# %%
my_gradient = None  # your dSSR/dw1 at iteration 2
bl.check(trace, iteration=2, grad_w1=my_gradient)

# %% tags=["remove-cell"]
assert bl.check(trace, iteration=2, grad_w1=None)["grad.w1"].status == "missing"
second = trace.iterations[1].params
z1_2 = second["w1"] * x + second["b1"]
yhat_2 = second["w3"] * softplus(z1_2) + second["w4"] * softplus(second["w2"] * x + second["b2"]) + second["b3"]
dw1 = np.sum(-2 * (y - yhat_2) * second["w3"] * sigmoid(z1_2) * x)
assert bl.check(trace, iteration=2, grad_w1=round(dw1, 2))["grad.w1"].status == "right"
without_x = np.sum(-2 * (y - yhat_2) * second["w3"] * sigmoid(z1_2))
assert bl.check(trace, iteration=2, grad_w1=without_x)["grad.w1"].mistakes == ["factor_left_out:dz1_i/dw1"]

# %% [markdown]
# ## The loss per iteration

# %%
bl.plots.loss_history(trace, log=True)

# %% [markdown]
# ## A contour map over two parameters
#
# The SSR over w3 and b3 (the others held), with the path the run took.

# %%
fig = bl.plots.loss_contour(net, x, y, ["w3", "b3"], trace=trace)
fig

# %% [markdown]
# ## The final fit
#
# After training, the network's curve passes close to all three observations.

# %%
fig = bl.plots.final_fit(net, x, y, trace)
fig

# %% tags=["remove-cell"]
assert np.allclose(net(x).data, y, atol=0.05)
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
xs, ys = (np.asarray(v) for v in drawn["final"].get_data())
expected = final["w3"] * softplus(final["w1"] * xs + final["b1"]) \
    + final["w4"] * softplus(final["w2"] * xs + final["b2"]) + final["b3"]
np.testing.assert_allclose(ys, expected, rtol=1e-10)
