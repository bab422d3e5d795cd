# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Part 1: the forward pass
#
# The dosage network takes a drug dosage x and predicts its efficacy ŷ. It has one input, two
# hidden nodes with the softplus activation, and one output:
#
# z1 = w1·x + b1, h1 = softplus(z1), z2 = w2·x + b2, h2 = softplus(z2), ŷ = w3·h1 + w4·h2 + b3.
#
# Three samples: dosages x = 0, 0.5, 1 with observed efficacies y = 0, 1, 0. This notebook runs
# the network forward on them, node by node, and measures how far off it is with the sum of
# the squared residuals (SSR). Every number shown is also checked against NumPy by hand.

# %%
import numpy as np

import backproplab as bl
import backproplab.plots

net, (x, y) = bl.presets.statquest()
net

# %% tags=["remove-cell"]
start = {name: p.item() for name, p in net.named_parameters()}
assert start == {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}

# %% [markdown]
# The starting values: w1 = 3.34, b1 = −1.43, w2 = −3.53, b2 = 0.57, w3 = −1.22, w4 = −2.30, b3 = 0.

# %%
x, y

# %% [markdown]
# ## Each node, sample by sample
#
# `bl.forward_table` runs the network and shows every named node for every sample, each column
# headed by its formula (taken from the op table), then the residual y − ŷ, its square, and the SSR.

# %%
table = bl.forward_table(net, x, y)
table

# %% [markdown]
# The same numbers with NumPy alone. softplus(z) = log(1 + eᶻ):

# %%
softplus = lambda z: np.log1p(np.exp(z))
z1 = 3.34 * x - 1.43
h1 = softplus(z1)
z2 = -3.53 * x + 0.57
h2 = softplus(z2)
yhat = -1.22 * h1 - 2.30 * h2 + 0.0
residual = y - yhat
ssr = np.sum(residual**2)
print("ŷ        =", yhat.round(4))
print("residual =", residual.round(4))
print("SSR      =", round(ssr, 4))

# %% tags=["remove-cell"]
columns = {c["name"]: c["values"] for c in table.to_dict()["columns"]}
for name, expected in [("z1_i", z1), ("h1_i", h1), ("z2_i", z2), ("h2_i", h2), ("ŷ_i", yhat),
                       ("residual", residual), ("squared", residual**2)]:
    np.testing.assert_allclose(columns[name], expected, rtol=1e-12)
assert np.isclose(table.value, ssr, rtol=1e-12)
np.testing.assert_allclose(net(x).data, yhat, rtol=1e-12)
assert np.allclose(yhat.round(2), [-2.60, -1.61, -2.61])
assert round(ssr, 1) == 20.4

# %% [markdown]
# The predictions are all negative (−2.60, −1.61, −2.61 after rounding), while the observed
# efficacies are 0, 1, 0: every residual is about 2.6 and the SSR is 20.4.

# %% [markdown]
# ## The residuals in a picture
#
# The data (dots), the network's prediction curve over every dosage from 0 to 1, and each
# residual as a dashed vertical line from the observation to the prediction. The SSR adds up
# the squares of these lines' lengths.

# %%
fig = bl.plots.residuals(net, x, y, x_label="dosage", y_label="efficacy")
fig

# %% tags=["remove-cell"]
ax = fig.axes[0]
drawn = {}
for line in ax.lines:
    drawn.setdefault(line.get_gid(), []).append(line)
xs, ys = (np.asarray(v) for v in drawn["predictions"][0].get_data())
by_hand = -1.22 * softplus(3.34 * xs - 1.43) - 2.30 * softplus(-3.53 * xs + 0.57)
np.testing.assert_allclose(ys, by_hand, rtol=1e-12)
assert len(drawn["residual"]) == 3
for line, xi, yi, fi in zip(drawn["residual"], x, y, yhat):
    lx, ly = (np.asarray(v, dtype=float) for v in line.get_data())
    assert np.allclose(lx, [xi, xi]) and np.allclose(sorted(ly), sorted([yi, fi]), rtol=1e-12)
assert "20.42" in ax.get_title()

# %% [markdown]
# ## Your turn: ŷ for one dose
#
# Work out ŷ for the second dose (x = 0.5) by hand from the starting values: z1 = w1·x + b1,
# h1 = softplus(z1), z2 = w2·x + b2, h2 = softplus(z2), ŷ = w3·h1 + w4·h2 + b3. Put your number in
# place of `None` and run the cell: `bl.check` says whether it is right, right from numbers you
# rounded on the way, or which step went wrong. The answer is in the table above: row 2 of the ŷ_i
# column.

# %%
my_yhat2 = None  # your ŷ for the second dose: a number, as you would write it (2.5, -0.7)
start_net, _ = bl.presets.statquest()
first_step = bl.optim.GradientDescent(start_net.parameters(only=["b3"]), lr=0.1, max_steps=1).fit(
    start_net, x, y, loss="ssr")
bl.check(first_step, iteration=1, yhat2=my_yhat2)

# %% tags=["remove-cell"]
assert bl.check(first_step, iteration=1, yhat2=None)["yhat2"].status == "missing"
assert bl.check(first_step, iteration=1, yhat2=round(float(yhat[1]), 2))["yhat2"].status == "right"
assert bl.check(first_step, iteration=1, yhat2=-3.0)["yhat2"].status == "wrong"
