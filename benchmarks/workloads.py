"""The benchmark workloads, defined once for every engine: same data, same starting values.

One step = forward + loss + backward + a plain gradient-descent update of every parameter,
on the full batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backproplab.spec.datasets import moons
from backproplab.spec.presets import DOSAGE_START, DOSAGE_X, DOSAGE_Y


@dataclass
class Workload:
    """Inputs, targets and starting parameters, as NumPy arrays of the workload's dtype."""

    name: str
    dtype: str
    x: np.ndarray
    y: np.ndarray  # targets (statquest, moons) or integer labels (mlp)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)  # MLP layer sizes; empty for statquest
    loss: str = "ssr"
    lr: float = 0.1


def _mlp_params(sizes: list[int], dtype: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        bound = 1.0 / np.sqrt(n_in)
        params[f"W{i}"] = rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
        params[f"b{i}"] = rng.uniform(-bound, bound, n_out).astype(dtype)
    return params


def statquest() -> Workload:
    return Workload("statquest", "float64", np.array(DOSAGE_X), np.array(DOSAGE_Y),
                    {k: np.array(v) for k, v in DOSAGE_START.items()}, loss="ssr", lr=0.1)


def moons_workload() -> Workload:
    x, labels = moons(100, noise=0.1, seed=0)
    return Workload("moons", "float64", x, labels.astype(np.float64).reshape(-1, 1),
                    _mlp_params([2, 16, 16, 1], "float64", 1), [2, 16, 16, 1], loss="mse", lr=0.1)


def mlp(dtype: str) -> Workload:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 784)).astype(dtype)
    labels = rng.integers(0, 10, size=64)
    return Workload("mlp", dtype, x, labels, _mlp_params([784, 128, 64, 10], dtype, 3), [784, 128, 64, 10],
                    loss="cross_entropy", lr=0.01)


WORKLOADS = {
    ("statquest", "float64"): statquest,
    ("moons", "float64"): moons_workload,
    ("mlp", "float32"): lambda: mlp("float32"),
    ("mlp", "float64"): lambda: mlp("float64"),
}


def get(name: str, dtype: str) -> Workload:
    return WORKLOADS[(name, dtype)]()
