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
# # From PyTorch habits
#
# backproplab keeps PyTorch's names and habits: tensors with `requires_grad`, `backward()`
# filling `.grad` (and adding to it until you zero it), `no_grad()`, modules with
# `parameters()`, optimizers with `zero_grad()` and `step()`. This notebook writes the usual
# training loop by hand, checks that it takes exactly the steps `fit` takes, and then uses
# `bl.compile` to replay the recorded graph instead of rebuilding it every step.

# %%
import time

import numpy as np

import backproplab as bl

# %% [markdown]
# ## Tensors and gradients

# %%
w = bl.Tensor([1.0, -2.0], requires_grad=True, name="w")
loss = (w * w).sum()
loss.backward()
w.grad      # d(w·w)/dw = 2w

# %% tags=["remove-cell"]
assert np.array_equal(w.grad, [2.0, -4.0])

# %%
(w * w).sum().backward()
w.grad      # gradients add up, as in PyTorch

# %% tags=["remove-cell"]
assert np.array_equal(w.grad, [4.0, -8.0])

# %%
w.zero_grad()
with bl.no_grad():
    w.data -= 0.1 * np.array([2.0, -4.0])
w.data, w.grad

# %% tags=["remove-cell"]
assert np.allclose(w.data, [0.8, -1.6]) and w.grad is None

# %% [markdown]
# ## The training loop, PyTorch style
#
# The dosage network, all seven parameters, plain gradient descent with learning rate 0.1.

# %%
net, (x, y) = bl.presets.statquest()
opt = bl.optim.GradientDescent(net.parameters(), lr=0.1)
x_t, y_t = bl.Tensor(x, name="x"), bl.Tensor(y, name="y")
losses = []
for _ in range(100):
    opt.zero_grad()
    loss = bl.losses.ssr(net(x_t), y_t)
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(f"SSR {losses[0]:.3f} → {losses[-1]:.4f}")
by_loop = {n: p.item() for n, p in net.named_parameters()}

# %% [markdown]
# `fit` runs the same loop (recording a trace as it goes); the results agree to the last bit.

# %%
net2, _ = bl.presets.statquest()
trace = bl.optim.GradientDescent(net2.parameters(), lr=0.1).fit(net2, x, y, loss="ssr", max_steps=100, min_step=0)

# %% tags=["remove-cell"]
assert [it.loss for it in trace.iterations] == losses
assert {n: p.item() for n, p in net2.named_parameters()} == by_loop
assert round(losses[0], 1) == 20.4 and losses[-1] < 0.01 * losses[0]

# %% [markdown]
# ## `bl.compile`: record once, replay
#
# The eager loop builds a new graph of Python objects every step. `bl.compile(step_fn)` records
# the graph once and then replays its forward and backward programs on the same arrays, with
# bit-identical gradients.

# %%
def eager_steps(n: int) -> tuple[float, dict]:
    net, _ = bl.presets.statquest()
    opt = bl.optim.GradientDescent(net.parameters(), lr=0.1)
    start = time.perf_counter()
    for _ in range(n):
        opt.zero_grad()
        bl.losses.ssr(net(x_t), y_t).backward()
        opt.step()
    return time.perf_counter() - start, {k: p.item() for k, p in net.named_parameters()}


def compiled_steps(n: int) -> tuple[float, dict]:
    net, _ = bl.presets.statquest()
    opt = bl.optim.GradientDescent(net.parameters(), lr=0.1)
    step = bl.compile(lambda: bl.losses.ssr(net(x_t), y_t))
    start = time.perf_counter()
    for _ in range(n):
        opt.zero_grad()
        step()            # forward and backward, replayed
        opt.step()
    return time.perf_counter() - start, {k: p.item() for k, p in net.named_parameters()}


n = 2000
eager_time, eager_params = eager_steps(n)
compiled_time, compiled_params = compiled_steps(n)
print(f"{n} steps: eager {eager_time * 1e3:.0f} ms, compiled {compiled_time * 1e3:.0f} ms "
      f"({eager_time / compiled_time:.1f}× faster)")

# %% tags=["remove-cell"]
assert compiled_params == eager_params   # the same numbers, bit for bit

# %% [markdown]
# Timings vary from machine to machine; `python -m benchmarks` compares one training step with
# PyTorch, micrograd and hand-written NumPy, and writes `benchmarks/RESULTS.md`.

# %% [markdown]
# ## The replay is code you can read
#
# `bl.compile` writes the recorded graph out as two plain Python functions that call NumPy
# directly, and `.source` shows them. The backward pass below is the one a person would write
# by hand for the dosage network: one line per gradient, each op's derivative from the op
# table as a comment, and each node named (`n1` is w1, so `g1` is dSSR/dw1). The gradient of
# each single-number parameter is a sum over the three samples, added up in Python floats
# (`s0 + s1 + s2`). The first lines make sure the step never writes into an array that
# something else still holds, such as a `.grad` you kept from an earlier step: that one stays
# yours, and the step writes into a new array.

# %%
net3, _ = bl.presets.statquest()
replay = bl.compile(lambda: bl.losses.ssr(net3(x_t), y_t))
for _ in range(2):   # the first call records the graph; the second runs the code below
    for p in net3.parameters():
        p.grad = None
    replay()
source = replay.source
backward = source[source.index("    def backward"):source.index("    def replay")]
print(backward)
print(f"dSSR/db3 = {net3.b3.grad.item():.2f}, as in the worked example")

# %% tags=["remove-cell"]
assert "d softplus(z)/dz = e^z/(1 + e^z) = σ(z)" in backward   # the op table's own statement
assert backward.count(".tolist()") == 7                          # one sum for each of the 7 parameters
plain, _ = bl.presets.statquest()
bl.losses.ssr(plain(x_t), y_t).backward()
assert all(a.grad.item() == b.grad.item() for a, b in zip(net3.parameters(), plain.parameters()))  # bit for bit
