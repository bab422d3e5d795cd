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
# # Part 2: the loss against one parameter
#
# Keep every weight and bias of the dosage network fixed except the last bias, b3, and ask:
# how does the SSR change as b3 changes? The answer is a curve (drawn pink), and the best b3
# is its lowest point. This notebook draws the curve, finds its true minimum, and shows why
# trying many values of b3 (a grid search) is a wasteful way to find it.

# %%
import numpy as np

import backproplab as bl
import backproplab.plots

net, (x, y) = bl.presets.statquest()
softplus = lambda z: np.log1p(np.exp(z))

# %% [markdown]
# ## SSR as b3 varies
#
# `bl.plots.loss_at` evaluates the loss with one parameter set to a value (and puts it back after).

# %%
for b3 in (0.0, 1.0, 2.0, 3.0):
    print(f"b3 = {b3:.1f}: SSR = {bl.plots.loss_at(net, x, y, 'ssr', b3=b3):.2f}")

# %% [markdown]
# ŷ = w3·h1 + w4·h2 + b3, so b3 shifts every prediction by the same amount. With the rest of the
# network written f(x) = w3·h1 + w4·h2, the SSR is Σ (y − f − b3)², a parabola in b3, and its
# lowest point is where the mean residual is zero: b3 = mean(y − f). That closed form is the
# independent check for everything below.

# %%
f = -1.22 * softplus(3.34 * x - 1.43) - 2.30 * softplus(-3.53 * x + 0.57)
best_b3 = float(np.mean(y - f))
best_ssr = float(np.sum((y - f - best_b3) ** 2))
print(f"true minimum: b3 = {best_b3:.4f}, SSR = {best_ssr:.4f}")

# %% tags=["remove-cell"]
assert round(best_b3, 2) == 2.61
for b3 in (0.0, 1.0, 2.0, 3.0):
    assert np.isclose(bl.plots.loss_at(net, x, y, "ssr", b3=b3), np.sum((y - f - b3) ** 2), rtol=1e-12)

# %% [markdown]
# ## The pink curve
#
# The star marks the lowest point; the dashed line is the tangent at b3 = 0, whose slope is the
# gradient dSSR/db3 that Part 3 uses.

# %%
fig = bl.plots.loss_curve(net, x, y, "b3", span=(-1.0, 5.0))
fig

# %% tags=["remove-cell"]
ax = fig.axes[0]
drawn = {line.get_gid(): line for line in ax.lines}
curve_x, curve_y = (np.asarray(v) for v in drawn["loss-curve"].get_data())
np.testing.assert_allclose(curve_y, [np.sum((y - f - b) ** 2) for b in curve_x], rtol=1e-12)  # pink = SSR(b3)
star_x, star_y = (float(np.asarray(v)[0]) for v in drawn["minimum"].get_data())
assert abs(star_x - best_b3) < 1e-4, (star_x, best_b3)  # the true minimum, not the lowest grid point
assert abs(star_y - best_ssr) < 1e-8

# %% [markdown]
# Without a range, the figure chooses one that contains the minimum; `steps=False` and
# `tangent=False` leave the curve alone, as Part 2 draws it.

# %%
fig = bl.plots.loss_curve(net, x, y, "b3", steps=False, tangent=False)
fig

# %% tags=["remove-cell"]
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
star_x = float(np.asarray(drawn["minimum"].get_data()[0])[0])
curve_x = np.asarray(drawn["loss-curve"].get_data()[0])
assert abs(star_x - best_b3) < 1e-4 and curve_x.min() < best_b3 < curve_x.max()
assert "tangent" not in drawn

# %% [markdown]
# ## Why a grid search is wasteful
#
# To find the minimum by trying values, we need a range that contains it (we only know that
# because we drew the curve) and a fine grid: 601 values from −1 to 5 pin b3 down to ±0.005,
# at the cost of 601 forward passes. Halving the error doubles the work, and with two
# parameters the grid is 601 × 601 = 361,201 forward passes.

# %%
grid = np.linspace(-1.0, 5.0, 601)
losses = np.array([bl.plots.loss_at(net, x, y, "ssr", b3=b) for b in grid])
grid_best = grid[np.argmin(losses)]
print(f"grid search: b3 ≈ {grid_best:.3f} after {grid.size} evaluations (error {abs(grid_best - best_b3):.4f})")

# %% tags=["remove-cell"]
assert abs(grid_best - best_b3) <= (grid[1] - grid[0]) / 2 + 1e-12

# %% [markdown]
# Gradient descent (Part 3) uses the slope instead. Each step costs one forward and one
# backward pass, takes big steps where the curve is steep and small ones near the bottom,
# and needs no range to search.

# %%
opt = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1)
trace = opt.fit(net, x, y, loss="ssr")
steps = len(trace.iterations)
print(f"gradient descent: b3 = {trace.final.params['b3']:.4f} after {steps} steps")

# %% tags=["remove-cell"]
assert abs(trace.final.params["b3"] - best_b3) < 1e-3
assert steps < grid.size / 10

# %% [markdown]
# ## Your turn: the slope at b3 = 0
#
# The slope of the pink curve at b3 = 0 is dSSR/db3 = Σᵢ −2 (yᵢ − ŷᵢ) × 1, with the ŷ of Part 1.
# Work it out by hand, put it in place of `None` and run the cell: `bl.check` marks it right, right
# from rounded numbers, or names the likely mistake (the residual's sign, the −2 …). The answer is
# revealed in Part 3, where `bl.explain` works it out (also `backproplab explain statquest --param b3`).

# %%
my_gradient = None  # your dSSR/db3 at b3 = 0: a number, as you would write it (2.5, -0.7)
bl.check(trace, iteration=1, grad=my_gradient)

# %% tags=["remove-cell"]
assert bl.check(trace, iteration=1, grad=None)["grad.b3"].status == "missing"
assert bl.check(trace, iteration=1, grad=-15.66)["grad.b3"].status == "right"
assert set(bl.check(trace, iteration=1, grad=15.66)["grad.b3"].mistakes) == {"residual_sign", "plus_two"}
