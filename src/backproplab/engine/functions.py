"""Top-level functions, as in ``torch``: each runs an op from the table (or a tensor method that does)
and accepts numbers and arrays where PyTorch accepts tensors. ``bl.exp``, ``bl.where``, ``bl.cat`` …
come from here, and so do the tensors made from nothing: ``zeros``, ``ones``, ``full``, ``eye``,
``arange``, ``linspace`` and random ones, each with ``dtype`` and ``requires_grad``.

Random numbers come from NumPy's generator (``manual_seed`` or a ``Generator`` of your own), so a
seed gives the same numbers on every run, but not the numbers PyTorch gives for that seed.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.axes import one_dim
from backproplab.engine.generator import Generator, default_generator
from backproplab.engine.tensor import DEFAULT_DTYPE, Tensor, apply


def tensor(data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None) -> Tensor:
    """Make a tensor, as ``torch.tensor``."""
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself when it is a tensor (of that dtype), else a new tensor, as ``torch.as_tensor``."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor(data.data if isinstance(data, Tensor) else data, dtype=dtype)


# --- tensors made from nothing -------------------------------------------------------------
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
    """Zeros, as ``torch.zeros``: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _make(np.zeros(_size(size)), dtype, requires_grad)


def ones(*size: int | Sequence[int], dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Ones, as ``torch.ones``: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _make(np.ones(_size(size)), dtype, requires_grad)


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Every entry ``fill_value``; an int fill gives int64, as PyTorch, unless ``dtype`` says otherwise."""
    return _make(np.full(_size((size,)), np.asarray(Tensor(fill_value).data)), dtype, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """The n×m identity matrix (n×n without ``m``), as ``torch.eye``."""
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
    count = builtins.max(int(np.ceil((end - start) / step)), 0)  # this module's max is the tensor one
    values = start + step * np.arange(count) if whole else start + step * np.arange(count, dtype=np.float64)
    return _make(values, dtype, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False
             ) -> Tensor:
    """``steps`` numbers evenly spaced from ``start`` to ``end``, both included, as ``torch.linspace``."""
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


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory, as ``torch.from_numpy``: a change to one shows in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}; use bl.tensor(...) instead")
    return Tensor(array)


def empty(*size: int | Sequence[int], dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """A tensor to be filled in, as ``torch.empty``; its entries are 0 here (PyTorch leaves them unset)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def randint(*args: Any, size: Sequence[int] | None = None, generator: Generator | None = None,
            dtype: Any = np.int64, requires_grad: bool = False) -> Tensor:
    """Whole numbers drawn evenly from [low, high), int64, as ``torch.randint``: ``randint(high, size)`` or
    ``randint(low, high, size)``."""
    if size is not None:
        args = (*args, size)
    if len(args) not in (2, 3):
        raise TypeError("randint: give (high, size) or (low, high, size), as randint(0, 10, (3,))")
    low, high, shape = (0, *args) if len(args) == 2 else args
    if high <= low:
        raise ops.ArgumentError(f"randint: high ({high}) must be larger than low ({low})")
    values = (generator or default_generator).rng.integers(low, high, _size((shape,)))
    return _make(values, dtype, requires_grad)


def normal(mean: Any, std: Any = 1.0, size: Sequence[int] | None = None, *, generator: Generator | None = None,
           dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and standard deviation, as ``torch.normal``: numbers with a ``size``,
    or tensors of means and deviations (one sample per entry, broadcast). The result has no gradient."""
    means, stds = (np.asarray(v.data if isinstance(v, Tensor) else v, dtype=float) for v in (mean, std))
    if size is None and means.ndim == stds.ndim == 0 and not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        raise TypeError("normal: give size= with a number mean and std (normal(0.0, 1.0, size=(3,))), or tensors")
    if np.any(stds < 0):
        raise ops.ArgumentError(f"normal: std must be 0 or more, got {stds.min()}")
    shape = _size((size,)) if size is not None else np.broadcast_shapes(means.shape, stds.shape)
    noise = (generator or default_generator).rng.standard_normal(shape)
    if dtype is None:
        dtype = next((v.dtype for v in (mean, std) if isinstance(v, Tensor) and v.dtype.kind == "f"), DEFAULT_DTYPE)
    return _make(means + stds * noise, dtype, requires_grad)


def _like(t: Any, dtype: Any) -> tuple[tuple[int, ...], Any]:
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return data.shape, data.dtype if dtype is None else dtype


def zeros_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros in the shape of ``t``, and its dtype unless ``dtype`` says otherwise."""
    shape, dtype = _like(t, dtype)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad)


def ones_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones in the shape of ``t``, and its dtype unless ``dtype`` says otherwise."""
    shape, dtype = _like(t, dtype)
    return ones(shape, dtype=dtype, requires_grad=requires_grad)


def full_like(t: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` in the shape of ``t``, and its dtype unless ``dtype`` says otherwise."""
    shape, dtype = _like(t, dtype)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad)


def rand_like(t: Any, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False
              ) -> Tensor:
    """Uniform on [0, 1) in the shape of ``t``, and its dtype unless ``dtype`` says otherwise."""
    shape, dtype = _like(t, dtype)
    return rand(shape, generator=generator, dtype=dtype, requires_grad=requires_grad)


def randn_like(t: Any, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False
               ) -> Tensor:
    """Standard normal in the shape of ``t``, and its dtype unless ``dtype`` says otherwise."""
    shape, dtype = _like(t, dtype)
    return randn(shape, generator=generator, dtype=dtype, requires_grad=requires_grad)


# --- element-wise maths ----------------------------------------------------------------------
def exp(t: Any) -> Tensor:
    """e^t, entry by entry."""
    return apply(ops.exp, t)


def log(t: Any) -> Tensor:
    """The natural logarithm, entry by entry."""
    return apply(ops.log, t)


def softplus(t: Any) -> Tensor:
    """log(1 + e^t), entry by entry."""
    return apply(ops.softplus_op, t)


def sigmoid(t: Any) -> Tensor:
    """1/(1 + e^(−t)), entry by entry."""
    return apply(ops.sigmoid_op, t)


def tanh(t: Any) -> Tensor:
    """The hyperbolic tangent, entry by entry."""
    return apply(ops.tanh, t)


def relu(t: Any) -> Tensor:
    """max(t, 0), entry by entry."""
    return apply(ops.relu, t)


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The larger of the two, entry by entry after broadcasting, as ``torch.maximum``."""
    return apply(ops.OPS["maximum"], input, other)


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The smaller of the two, entry by entry after broadcasting, as ``torch.minimum``."""
    return apply(ops.OPS["minimum"], input, other)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Each entry held within [min, max] (either bound may be None), as ``torch.clamp``."""
    return _t(input).clamp(min, max)


clip = clamp
"""``clamp`` under NumPy's name, as ``torch.clip``."""


# alike on purpose: one short function per op, as torch writes them, so each has its own name, signature and help
def abs(input: Any) -> Tensor:  # noqa: A001
    """|input|, entry by entry."""
    return apply(ops.OPS["abs"], input)


def sqrt(input: Any) -> Tensor:  # noqa: A002
    """The square root, entry by entry."""
    return apply(ops.OPS["sqrt"], input)


def sign(input: Any) -> Tensor:  # noqa: A002
    """−1, 0 or 1, entry by entry; its gradient is 0."""
    return apply(ops.OPS["sign"], input)


def log2(input: Any) -> Tensor:  # noqa: A002
    """The base-2 logarithm, entry by entry."""
    return apply(ops.OPS["log2"], input)


def log10(input: Any) -> Tensor:  # noqa: A002
    """The base-10 logarithm, entry by entry."""
    return apply(ops.OPS["log10"], input)


def sin(input: Any) -> Tensor:  # noqa: A002
    """The sine, entry by entry."""
    return apply(ops.OPS["sin"], input)


def cos(input: Any) -> Tensor:  # noqa: A002
    """The cosine, entry by entry."""
    return apply(ops.OPS["cos"], input)


# --- choosing and joining --------------------------------------------------------------------
def where(condition: Any, input: Any = None, other: Any = None) -> Any:  # noqa: A002 - PyTorch's names
    """``input`` where ``condition`` holds, else ``other``; the gradient goes to the one chosen. With the
    condition alone, the indices where it holds, one int64 tensor per dimension, as ``torch.where(condition)``."""
    if input is None and other is None:
        cond = as_tensor(condition)
        return tuple(Tensor(i.astype(np.int64)) for i in np.nonzero(cond.data))
    if input is None or other is None:
        raise TypeError("where: give the condition alone (the indices where it holds), or condition, input and other")
    return as_tensor(input).where(condition, other)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension, as ``torch.cat``."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ops.ArgumentError("cat: give at least one tensor")
    ndim = items[0].ndim
    if ndim == 0:
        raise ops.ArgumentError("cat: 0-d tensors cannot be joined; use stack, or reshape them to (1,)")
    axis = one_dim(dim, ndim, "cat")
    for t in items[1:]:
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != items[0].shape[:axis] + items[0].shape[axis + 1:]:
            raise ops.ArgumentError(f"cat: shapes {items[0].shape} and {t.shape} differ outside dimension {axis}, "
                                    "so they cannot be joined along it")
    out = items[0] if len(items) > 1 else apply(ops.OPS["clone"], items[0])
    for t in items[1:]:
        out = apply(ops.OPS["cat"], out, t, axis=axis)
    return out


concat = concatenate = cat
"""``cat`` under the names of ``torch.concat`` and ``numpy.concatenate``."""


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension, as ``torch.stack``."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ops.ArgumentError("stack: give at least one tensor")
    shape = items[0].shape
    for t in items[1:]:
        if t.shape != shape:
            raise ops.ArgumentError(f"stack: every tensor needs the same shape, got {shape} and {t.shape}")
    one_dim(dim, len(shape) + 1, "stack")
    return cat([t.unsqueeze(dim) for t in items], dim)


def gather(input: Any, dim: int, index: Any) -> Tensor:  # noqa: A002
    """The entries ``index`` names along ``dim``, as ``torch.gather``; the gradient adds up where they came from."""
    return _t(input).gather(dim, index)


def scatter(input: Any, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``src`` (a tensor or a number) written at ``index`` along ``dim``, as
    ``torch.scatter``."""
    return _t(input).scatter(dim, index, src, value=value)


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:  # noqa: A002
    """``value`` where ``mask`` is True, else ``input``, as ``torch.masked_fill``."""
    return _t(input).masked_fill(mask, value)


def sort(input: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:  # noqa: A002
    """(values, indices) sorted along ``dim``, as ``torch.sort``; ties keep their order."""
    return _t(input).sort(dim, descending, stable=stable)


def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """(values, indices) of the ``k`` largest (or smallest) entries along ``dim``, as ``torch.topk``."""
    return _t(input).topk(k, dim, largest, sorted)


def tril(input: Any, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of a matrix (or of each in a batch), the rest 0, as ``torch.tril``."""
    return _t(input).tril(diagonal)


def triu(input: Any, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of a matrix (or of each in a batch), the rest 0, as ``torch.triu``."""
    return _t(input).triu(diagonal)


def diag(input: Any, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A vector placed on a diagonal of a square matrix, or a matrix's diagonal, as ``torch.diag``."""
    return _t(input).diag(diagonal)


# --- arithmetic, reductions and re-arranging ----------------------------------------------
def add(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """input + alpha·other, as ``torch.add``."""
    return _t(input).add(other, alpha=alpha)


def sub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """input − alpha·other, as ``torch.sub``."""
    return _t(input).sub(other, alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:  # noqa: A002
    """input × other, entry by entry after broadcasting."""
    return apply(ops.mul, input, other)


def div(input: Any, other: Any) -> Tensor:  # noqa: A002
    """input / other, entry by entry after broadcasting."""
    return apply(ops.div, input, other)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001, A002
    """input to the power ``exponent``, entry by entry."""
    return apply(ops.pow, input, exponent)


def neg(input: Any) -> Tensor:  # noqa: A002
    """−input."""
    return apply(ops.neg, input)


def logsumexp(t: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, *,
              dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None) -> Tensor:
    """log Σ e^t over ``dim`` (or every entry), computed without overflow."""
    t = t if isinstance(t, Tensor) else Tensor(t)
    return t.logsumexp(axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)


def matmul(a: Any, b: Any) -> Tensor:
    """The matrix product a @ b, as ``torch.matmul``."""
    return apply(ops.matmul, a, b)


def sum(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    """The sum of every entry, or over ``dim``, as ``torch.sum``."""
    return _t(input).sum(dim=dim, keepdim=keepdim)


def mean(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The mean of every entry, or over ``dim``, as ``torch.mean``."""
    return _t(input).mean(dim=dim, keepdim=keepdim)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """The largest entry; with ``dim``, a ``MaxResult`` (values, indices), as ``torch.max``."""
    return _t(input).max(dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """The smallest entry; with ``dim``, a ``MaxResult`` (values, indices), as ``torch.min``."""
    return _t(input).min(dim, keepdim)


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The index of the largest entry (in the flattened tensor when ``dim`` is None), as ``torch.argmax``."""
    return _t(input).argmax(dim, keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The index of the smallest entry (in the flattened tensor when ``dim`` is None), as ``torch.argmin``."""
    return _t(input).argmin(dim, keepdim)


def var(input: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The variance, divided by N − ``correction`` (N − 1 unless told otherwise), as ``torch.var``."""
    return _t(input).var(dim, correction=correction, keepdim=keepdim)


def std(input: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The standard deviation, divided by N − ``correction`` (N − 1 unless told otherwise), as ``torch.std``."""
    return _t(input).std(dim, correction=correction, keepdim=keepdim)


def prod(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """The product of every entry, or over ``dim``, as ``torch.prod``."""
    return _t(input).prod(dim, keepdim)


def softmax(input: Any, dim: int) -> Tensor:  # noqa: A002
    """e^x / Σ e^x along ``dim``, as ``torch.softmax``."""
    return _t(input).softmax(dim)


def log_softmax(input: Any, dim: int) -> Tensor:  # noqa: A002
    """x − logsumexp(x) along ``dim``, as ``torch.log_softmax``."""
    return _t(input).log_softmax(dim)


def reshape(input: Any, shape: Sequence[int]) -> Tensor:  # noqa: A002
    """The same entries in a new shape, as ``torch.reshape``."""
    return _t(input).reshape(shape)


def permute(input: Any, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """The dimensions in a new order, as ``torch.permute``."""
    return _t(input).permute(dims)


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """Dimensions ``dim0`` and ``dim1`` swapped, as ``torch.transpose``."""
    return _t(input).transpose(dim0, dim1)


def squeeze(input: Any, dim: Any = None) -> Tensor:  # noqa: A002
    """Dimensions of size 1 removed (only ``dim``, when given), as ``torch.squeeze``."""
    return _t(input).squeeze(dim)


def unsqueeze(input: Any, dim: int) -> Tensor:  # noqa: A002
    """A new dimension of size 1 at ``dim``, as ``torch.unsqueeze``."""
    return _t(input).unsqueeze(dim)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Dimensions ``start_dim`` to ``end_dim`` merged into one, as ``torch.flatten``."""
    return _t(input).flatten(start_dim, end_dim)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``, each of ``split_size_or_sections`` entries or of the sizes listed, as ``torch.split``."""
    return _t(tensor).split(split_size_or_sections, dim)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """``chunks`` pieces of (nearly) equal size along ``dim``, as ``torch.chunk``."""
    return _t(input).chunk(chunks, dim)
