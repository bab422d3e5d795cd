"""Tensors made from nothing: ``zeros``, ``ones``, ``full``, ``eye``, ``arange``, ``linspace`` and
random ones, as in PyTorch. Each takes ``dtype`` and ``requires_grad``.

Random numbers come from NumPy's generator (``manual_seed`` or a ``Generator`` of your own), so a
seed gives the same numbers on every run, but not the numbers PyTorch gives for that seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine.tensor import DEFAULT_DTYPE, Tensor


class Generator:
    """A source of random numbers with its own seed, as ``torch.Generator``."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self._seed = seed

    def manual_seed(self, seed: int) -> Generator:
        self.rng = np.random.default_rng(seed)
        self._seed = seed
        return self

    def initial_seed(self) -> int | None:
        return self._seed


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the generator that ``rand`` and ``randn`` use when none is given."""
    return default_generator.manual_seed(seed)


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], (int, np.integer)):
        size = tuple(size[0])
    return tuple(int(n) for n in size)


def _make(data: np.ndarray, dtype: Any, requires_grad: bool) -> Tensor:
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def zeros(*size: int | Sequence[int], dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_size(size)), dtype, requires_grad)


def ones(*size: int | Sequence[int], dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_size(size)), dtype, requires_grad)


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Every entry ``fill_value``; an int fill gives int64, as PyTorch, unless ``dtype`` says otherwise."""
    return _make(np.full(_size((size,)), np.asarray(Tensor(fill_value).data)), dtype, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m), dtype, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """start, start + step, … below end: int64 when all three are whole numbers, as PyTorch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be 0")
    whole = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if whole else DEFAULT_DTYPE
    count = max(int(np.ceil((end - start) / step)), 0)
    values = start + step * np.arange(count) if whole else start + step * np.arange(count, dtype=np.float64)
    return _make(values, dtype, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False
             ) -> Tensor:
    if np.dtype(dtype) == np.bool_:  # evenly spaced truth values mean nothing; PyTorch refuses them too
        raise NotImplementedError("linspace: dtype=bool is not supported; use a number dtype, then compare (x > 0.5)")
    return _make(np.linspace(start, end, int(steps)), dtype, requires_grad)


def rand(*size: int | Sequence[int], generator: Generator | None = None, dtype: Any = DEFAULT_DTYPE,
         requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    return _make((generator or default_generator).rng.random(_size(size)), dtype, requires_grad)


def randn(*size: int | Sequence[int], generator: Generator | None = None, dtype: Any = DEFAULT_DTYPE,
          requires_grad: bool = False) -> Tensor:
    """Standard normal."""
    return _make((generator or default_generator).rng.standard_normal(_size(size)), dtype, requires_grad)


def _like(t: Any, dtype: Any) -> tuple[tuple[int, ...], Any]:
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return data.shape, data.dtype if dtype is None else dtype


def zeros_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad)


def ones_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return ones(shape, dtype=dtype, requires_grad=requires_grad)


def full_like(t: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad)


def rand_like(t: Any, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False
              ) -> Tensor:
    shape, dtype = _like(t, dtype)
    return rand(shape, generator=generator, dtype=dtype, requires_grad=requires_grad)


def randn_like(t: Any, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False
               ) -> Tensor:
    shape, dtype = _like(t, dtype)
    return randn(shape, generator=generator, dtype=dtype, requires_grad=requires_grad)
