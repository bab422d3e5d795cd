"""Toy datasets, generated in code from a seed: nothing is downloaded.

The classification sets return ``(X, y)`` with X of shape (n, 2) and integer labels y of
shape (n,), in the style of TensorFlow Playground's data sets; ``sine`` is a 1-D regression set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backproplab.util.messages import InputError, unknown_name_message


def moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles."""
    rng = np.random.default_rng(seed)
    n_out, n_in = n // 2, n - n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)])
    X = np.vstack([outer, inner]) + rng.normal(scale=noise, size=(n, 2))
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return X, y


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one."""
    rng = np.random.default_rng(seed)
    n_out, n_in = n // 2, n - n // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack([np.column_stack([np.cos(t_out), np.sin(t_out)]),
                   factor * np.column_stack([np.cos(t_in), np.sin(t_in)])])
    X += rng.normal(scale=noise, size=X.shape)
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return X, y


def xor(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four clusters; the label is whether x and y have different signs."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    X += np.sign(X) * 0.1 + rng.normal(scale=noise, size=(n, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    return X, y


def spiral(n: int = 100, noise: float = 0.05, turns: float = 1.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals."""
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2, n - n // 2
    parts, labels = [], []
    for label, count, offset in ((0, n0, 0.0), (1, n1, np.pi)):
        r = np.linspace(0.05, 1.0, count)
        t = r * turns * 2 * np.pi + offset
        parts.append(np.column_stack([r * np.cos(t), r * np.sin(t)]))
        labels.append(np.full(count, label, dtype=np.int64))
    X = np.vstack(parts) + rng.normal(scale=noise, size=(n, 2))
    return X, np.concatenate(labels)


def sine(n: int = 40, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A regression set: y = sin(x) + noise for x in [−3, 3]; X has shape (n, 1)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-3, 3, n)
    return x.reshape(-1, 1), np.sin(x) + rng.normal(scale=noise, size=n)


DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": moons, "circles": circles, "xor": xor, "spiral": spiral, "sine": sine}


def make(name: str, n: int = 100, seed: int = 0, **kwargs: float) -> tuple[np.ndarray, np.ndarray]:
    """A dataset by name."""
    if name not in DATASETS:
        raise InputError(unknown_name_message("dataset", name, DATASETS))
    if n < 2:
        raise InputError(f"a dataset needs at least 2 points, got n={n}")
    return DATASETS[name](n=n, seed=seed, **kwargs)
