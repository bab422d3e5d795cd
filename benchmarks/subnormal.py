"""Why the float32 MLP's Adam step is slower than its SGD step: subnormal numbers once the batch is fitted.

The MLP workload trains on one batch of 64 samples. Adam fits it within a few dozen steps, and
then many softmax probabilities of the wrong classes fall below float32's smallest normal number
(about 1.2e-38). On x86 CPUs, arithmetic on such subnormal numbers is many times slower, and the
backward pass carries them through every layer. XLA flushes subnormal results to zero on CPU, so
JAX's step keeps its speed; NumPy computes them exactly, as PyTorch does by default. This module
measures both sides of that: the step's time before and after, and how many probabilities are
subnormal. ``python -m benchmarks`` adds its rows to the "also measured" table.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import workloads
from benchmarks.engines import backproplab_engine


def _ms_per_step(step, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps * 1e3


def _subnormal_probabilities(net, x: np.ndarray) -> tuple[int, int]:
    """How many of the softmax probabilities of ``net`` on ``x`` are subnormal float32 numbers, of how many."""
    import backproplab as bl
    from backproplab.engine.ops import log_softmax

    with bl.no_grad():
        logits = net(bl.Tensor(x)).numpy()
    p = np.exp(log_softmax(logits))
    return int(((p != 0) & (p < np.finfo(p.dtype).tiny)).sum()), p.size


def _jax_flushes() -> str:
    """Whether JAX's jit gives 0 for half of float32's smallest normal number (flush to zero), if it is installed."""
    try:
        import jax
    except ImportError:
        return "JAX is not installed here"
    half = float(jax.jit(lambda v: v * 0.5)(np.float32(np.finfo(np.float32).tiny)))
    return "JAX's jit gives 0 for half the smallest normal float32 (it flushes)" if half == 0 else \
        f"JAX's jit gives {half:g} for half the smallest normal float32 (it does not flush)"


def rows(quick: bool) -> list[str]:
    """One row: the float32 MLP's compiled Adam step early and late, and the subnormal probabilities late."""
    import backproplab as bl

    w = workloads.mlp("float32")
    net = backproplab_engine._model(w)
    opt = bl.optim.Adam(net.parameters(), lr=backproplab_engine.ADAM_LR)
    x = bl.Tensor(w.x, name="x")

    def loss_value():
        return bl.losses.cross_entropy(net(x), w.y)

    step = bl.compile(backproplab_engine._training_step(opt, loss_value))
    step()  # recorded
    step()  # the program written: every later step replays it
    early = _ms_per_step(step, 3)  # steps 3 to 5: the batch not yet fitted
    before = _subnormal_probabilities(net, w.x)[0]
    later = 40 if quick else 200
    for _ in range(later):
        step()
    late = _ms_per_step(step, 3 if quick else 20)
    subnormal, total = _subnormal_probabilities(net, w.x)
    return [f"| mlp (float32), compiled Adam step: ms per step in steps 3–5 vs after {5 + later} steps; softmax "
            f"probabilities that are subnormal float32 numbers (below {np.finfo(np.float32).tiny:.2g}) after step 5 "
            f"vs after; {_jax_flushes()} | {early:.2f} ms vs {late:.2f} ms; {before} vs {subnormal} of {total} | — |"]
