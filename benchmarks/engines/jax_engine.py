"""JAX on the CPU: the whole training step (forward, loss, gradient, update) under ``jax.jit``.

The step is one jitted function from the parameters to the updated parameters, as JAX's
tutorials write it (with ``adam=True``: from the parameters and Adam's moments to the updated ones, Adam
written as ``torch.optim.Adam`` computes it). Each step waits for its result (``block_until_ready``), so
a step timed is a step done; dispatch is synchronous on the CPU (``jax_cpu_enable_async_dispatch`` off), which is
JAX's faster setting for steps this small (no hand-off to a worker thread; the same or less
time than asynchronous dispatch with one step in flight, in our measurements).
``compile_ms`` measures the first call: tracing plus XLA's compilation.
"""

from __future__ import annotations

import time

import numpy as np

ADAM_LR = 0.01  # the Adam rows' learning rate, in every engine


def _setup(w):
    import jax

    if w.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    import jax.numpy as jnp

    dtype = jnp.dtype(w.dtype)
    params = {k: jnp.asarray(v, dtype=dtype) for k, v in w.params.items()}
    x = jnp.asarray(w.x, dtype=dtype)
    y = jnp.asarray(w.y) if w.loss == "cross_entropy" else jnp.asarray(w.y, dtype=dtype)
    layers = len(w.sizes) - 1

    def loss_value(p, x, y):
        if w.name == "statquest":
            h1 = jax.nn.softplus(p["w1"] * x + p["b1"])
            h2 = jax.nn.softplus(p["w2"] * x + p["b2"])
            return jnp.sum((y - (p["w3"] * h1 + p["w4"] * h2 + p["b3"])) ** 2)
        a = x
        for i in range(1, layers + 1):
            a = a @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers:
                a = jax.nn.relu(a)
        if w.loss == "mse":
            return jnp.mean((a - y) ** 2)
        logp = jax.nn.log_softmax(a, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    lr = w.lr

    @jax.jit
    def train_step(p, x, y):
        grads = jax.grad(loss_value)(p, x, y)
        return jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grads)

    return jax, params, x, y, loss_value, train_step


def _adam(jax, loss_value, lr: float = ADAM_LR, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
    """Adam as ``torch.optim.Adam`` computes it, jitted with the gradient: the state is (p, m, v, t)."""
    import jax.numpy as jnp

    beta1, beta2 = betas
    tree_map = jax.tree_util.tree_map

    @jax.jit
    def train_step(state, x, y):
        p, m, v, t = state
        grads = jax.grad(loss_value)(p, x, y)
        t = t + 1
        m = tree_map(lambda m, g: m + (1 - beta1) * (g - m), m, grads)
        v = tree_map(lambda v, g: v * beta2 + (1 - beta2) * (g * g), v, grads)
        step_size = lr / (1 - beta1 ** t)
        root = jnp.sqrt(1 - beta2 ** t)
        p = tree_map(lambda p, m, v: p - step_size * (m / (jnp.sqrt(v) / root + eps)), p, m, v)
        return p, m, v, t

    return train_step


def make(w, adam: bool = False):
    jax, params, x, y, loss_value, train_step = _setup(w)
    if adam:
        adam_step = _adam(jax, loss_value)
        zeros = jax.tree_util.tree_map(lambda a: a * 0, params)
        state = {"p": (params, zeros, zeros, jax.numpy.asarray(0, dtype=x.dtype))}

        def step():
            state["p"] = jax.block_until_ready(adam_step(state["p"], x, y))
    else:
        state = {"p": params}

        def step():
            state["p"] = jax.block_until_ready(train_step(state["p"], x, y))

    def first():
        loss, grads = jax.value_and_grad(loss_value)(params, x, y)
        return float(loss), {k: np.asarray(g, dtype=float) for k, g in grads.items()}

    return step, first


def compile_ms(w) -> float:
    """Milliseconds of the first call of the jitted step (trace + compile + one run)."""
    jax, params, x, y, _, train_step = _setup(w)
    t = time.perf_counter()
    jax.block_until_ready(train_step(params, x, y))
    return (time.perf_counter() - t) * 1e3
