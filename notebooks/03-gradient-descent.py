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
# # Part 3: gradient descent on b3
#
# The worked example: start at b3 = 0, compute the slope of the SSR with respect to b3 by the
# chain rule, take a step of slope × learning rate (0.1) downhill, and repeat until the steps
# are tiny. The numbers to look for: the first gradient is −15.66 (the article rounds it to
# −15.7), so b3 moves to 1.57; the next gradient is −6.26, so b3 moves to 2.19; the run
# converges to b3 ≈ 2.61.

# %%
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown

import backproplab as bl
import backproplab.plots
from backproplab.explain.article import article_table_markdown, compared_with_article

net, (x, y) = bl.presets.statquest()
softplus = lambda z: np.log1p(np.exp(z))
f = -1.22 * softplus(3.34 * x - 1.43) - 2.30 * softplus(-3.53 * x + 0.57)  # ŷ without b3


def dssr_db3(b3: float) -> float:
    """By hand: SSR = Σ (y − ŷ)², ŷ = f + b3, so dSSR/db3 = Σ −2 (y − ŷ) × 1."""
    return float(np.sum(-2 * (y - (f + b3))))


# %% [markdown]
# ## The chain rule in numbers, at b3 = 0
#
# dSSR/db3 = Σᵢ dSSR/dŷᵢ · dŷᵢ/db3 = Σᵢ −2 (yᵢ − ŷᵢ) · 1. `bl.explain` writes it out from the
# recorded graph, with each local derivative taken from the op table, and works out the step.

# %%
loss = bl.losses.ssr(net(x), y)
explanation = bl.explain(loss, wrt=net.b3, lr=0.1)
explanation

# %%
print(explanation)

# %% tags=["remove-cell"]
assert np.isclose(float(explanation.gradient), dssr_db3(0.0), rtol=1e-12)
assert round(float(explanation.gradient), 2) == -15.66 and round(float(explanation.gradient), 1) == -15.7
assert "-15.66" in explanation.to_text().replace("−", "-")
assert np.isclose(bl.central_difference(lambda b3: bl.losses.ssr(net(x), y), [net.b3], 0), dssr_db3(0.0), rtol=1e-6)

# %% [markdown]
# ## Iteration by iteration
#
# `fit` records every iteration. Iteration 1 is the starting state (b3 = 0): its gradient and
# step size, and the new value b3 − step size.

# %%
opt = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1)
trace = opt.fit(net, x, y, loss="ssr")
trace

# %%
print(f"{'iteration':>9} {'b3':>8} {'dSSR/db3':>9} {'step size':>9} {'new b3':>8}")
for k, it in enumerate(trace.iterations, start=1):
    b3, g, step = it.params["b3"], it.gradients["b3"], it.step_sizes["b3"]
    print(f"{k:>9} {b3:>8.4f} {g:>9.4f} {step:>9.4f} {b3 - step:>8.4f}")

# %% tags=["remove-cell"]
# Every iteration against the hand formula and the rule new b3 = b3 − gradient × 0.1, from b3 = 0.
b3 = 0.0
for it in trace.iterations:
    assert np.isclose(it.params["b3"], b3, rtol=1e-12, atol=1e-15)
    assert np.isclose(it.gradients["b3"], dssr_db3(b3), rtol=1e-12, atol=1e-12)
    b3 = b3 - 0.1 * dssr_db3(b3)
first, second, third = trace.iterations[:3]
assert round(first.gradients["b3"], 2) == -15.66 and round(first.step_sizes["b3"], 2) == -1.57
assert round(second.params["b3"], 2) == 1.57 and round(second.gradients["b3"], 2) == -6.26
assert round(third.params["b3"], 2) == 2.19
best_b3 = float(np.mean(y - f))  # the bottom of the parabola (Part 2)
assert round(trace.final.params["b3"], 2) == 2.61 and abs(trace.final.params["b3"] - best_b3) < 1e-3
assert trace.final.stopped_by == "min_step" and abs(trace.final.params["b3"] - b3) < 1e-12

# %% [markdown]
# ## The pink curve with every step
#
# The steps are big where the curve is steep and shrink as it flattens: the step size is
# proportional to the slope.

# %%
net.load_state_dict({"b3": 0.0})
fig = bl.plots.loss_curve(net, x, y, "b3", trace=trace)
fig

# %% tags=["remove-cell"]
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
path_x, path_y = (np.asarray(v) for v in drawn["descent-path"].get_data())
np.testing.assert_allclose(path_y, [np.sum((y - f - b) ** 2) for b in path_x], rtol=1e-12)  # each dot on the curve

# %% [markdown]
# ## The predictions after the first step
#
# Iteration 1 is the start (b3 = 0, dashed); its step moves b3 to 1.57, and the new predictions
# are drawn green: b3 lifts the whole curve towards the data. `iteration=` counts as the
# terminal's `--iteration` does.

# %%
fig = bl.plots.predictions(net, x, y, trace=trace, iteration=1)
fig

# %% tags=["remove-cell"]
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
xs, before = (np.asarray(v) for v in drawn["before"].get_data())
after = np.asarray(drawn["after"].get_ydata())
ssp = -1.22 * softplus(3.34 * xs - 1.43) - 2.30 * softplus(-3.53 * xs + 0.57)
b3_new = 0.0 - 0.1 * dssr_db3(0.0)  # the article's first step: 0 → 1.57
assert round(b3_new, 2) == 1.57
np.testing.assert_allclose(before, ssp, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(after, ssp + b3_new, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## One green curve per iteration
#
# The start is dashed; each later iteration is a green curve, older ones fainter. The curve
# moves up by the step size each time, and the moves shrink.

# %%
fig = bl.plots.fit_series(net, x, y, trace)
fig

# %% tags=["remove-cell"]
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
for k in (2, 3):
    xs, ys = (np.asarray(v) for v in drawn[f"iteration-{k}"].get_data())
    b3_k = trace.iterations[k - 1].params["b3"]
    np.testing.assert_allclose(ys, -1.22 * softplus(3.34 * xs - 1.43) - 2.30 * softplus(-3.53 * xs + 0.57) + b3_k,
                               rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## The final fit

# %%
fig = bl.plots.final_fit(net, x, y, trace)
fig

# %% tags=["remove-cell"]
drawn = {line.get_gid(): line for line in fig.axes[0].lines}
xs, ys = (np.asarray(v) for v in drawn["final"].get_data())
final_b3 = trace.final.params["b3"]
np.testing.assert_allclose(ys, -1.22 * softplus(3.34 * xs - 1.43) - 2.30 * softplus(-3.53 * xs + 0.57) + final_b3,
                           rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## The animation
#
# Each frame is one iteration: the point on the pink curve and the prediction curve it gives.

# %%
folder = Path(tempfile.mkdtemp())
gif = folder / "descent.gif"
frames = bl.plots.animate_descent(net, x, y, trace, "b3", str(gif))
Image(filename=str(gif))

# %% tags=["remove-cell"]
assert gif.stat().st_size > 0 and gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")

# %% [markdown]
# ## Your turn: ŷ at iteration 2
#
# After the first step b3 is 1.57. Work out ŷ for the second dose at iteration 2 by hand, put it in
# place of `None` and run the cell: `bl.check` says whether it is right, right from rounded numbers
# (as the article's −0.03 is), or which mistake gives it. The answer is revealed in the table below,
# in the row "ŷ_2 at iteration 2".

# %%
my_yhat2 = None  # your ŷ_2 at iteration 2: a number, as you would write it (2.5, -0.7)
bl.check(trace, iteration=2, yhat2=my_yhat2)

# %% tags=["remove-cell"]
assert bl.check(trace, iteration=2, yhat2=None)["yhat2"].status == "missing"
assert bl.check(trace, iteration=2, yhat2=-0.044)["yhat2"].status == "right"
assert bl.check(trace, iteration=2, yhat2=-0.03)["yhat2"].status == "rounded"
assert bl.check(trace, iteration=2, yhat2=-1.61)["yhat2"].mistakes == ["old_value"]

# %% [markdown]
# ## Compared with the article
#
# The article prints rounded numbers, and at iteration 2 it works on with them: its predictions
# there (−1.03, −0.03, −1.04) are its rounded ŷ minus its rounded step, so they differ from the
# exact ones above (−1.04, −0.044, −1.05), and its own terms add up to −6.20 where it prints
# −6.26. The table lists each number the article prints, the exact value from the run above, and
# why they differ (`backproplab demo statquest --compare` prints it too).

# %%
Markdown(article_table_markdown())

# %% tags=["remove-cell"]
rows = {row["what"]: row for row in compared_with_article()}
assert rows["dSSR/db3 at iteration 1"]["exact"] == first.gradients["b3"]
assert rows["dSSR/db3 at iteration 2"]["exact"] == second.gradients["b3"]
assert rows["b3 where the gradient is ≈ 0"]["exact"] == trace.final.params["b3"]
article_yhat = [float(rows[f"ŷ_{i} at iteration 2"]["article"].replace("−", "-")) for i in (1, 2, 3)]
assert round(sum(-2 * (y - article_yhat)), 2) == -6.20  # the article's own terms

# %% [markdown]
# ## Step through it yourself
#
# In JupyterLab, Notebook 7 or VS Code the next cell shows the interactive lesson (the page of
# `backproplab serve`): press ▶ to step through the iterations above, or change the learning rate
# or the starting value of b3, and Python works the run out again. Python can read what the page
# shows: `lesson.iteration` is the iteration on screen and `lesson.trace_so_far()` the run up to it.

# %%
lesson = bl.widgets.Lesson()
lesson

# %% tags=["remove-cell"]
shown = [it.params["b3"] for it in lesson.trace.iterations]
assert shown == [it.params["b3"] for it in trace.iterations]  # the same run as above, number for number
assert lesson.iteration == 1 and len(lesson.trace_so_far().iterations) == 1
