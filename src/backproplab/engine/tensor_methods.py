"""The methods a PyTorch user reaches for on a tensor: reductions, shapes, element-wise maths and
PyTorch's spellings (``.add``, ``dim=``, ``keepdim=``). Every one that computes runs an op from
the table; the rest only look at the data.

``Tensor`` inherits them; ``_op`` (run an op with this tensor first), ``_apply`` (run an op on
any inputs) and ``_wrap`` (a new tensor without a graph) are its hooks.
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.axes import norm_axis, one_dim, pick
from backproplab.engine.device import split_to_args
from backproplab.engine.recording import RECORDING as RECORDING  # noqa: F401 - bl.compile reads it here
from backproplab.engine.recording import note_value_dependent
from backproplab.engine.tensor_selection import SelectionMethods

Dims = int | tuple[int, ...] | None


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of whole numbers that also counts its entries."""

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Size({list(self)})"


MaxResult = namedtuple("MaxResult", ["values", "indices"])
"""What ``max(dim)`` and ``min(dim)`` return, as ``torch.return_types.max``: values and their indices."""


def _shape_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``reshape(2, 3)`` and ``reshape((2, 3))`` alike."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _data(x: Any) -> Any:
    """A tensor's array; a Python number stays a number, so it takes the tensor's dtype (int32 & 1 is int32)."""
    if isinstance(x, TensorMethods):
        return x.data
    return x if type(x) in (bool, int, float) else np.asarray(x)


class TensorMethods(SelectionMethods):
    """Methods shared by every tensor; see the module docstring. The hooks (``_op``, ``_wrap``, ``_apply``)
    and the attributes they read are declared once, in ``SelectionMethods``."""

    __slots__ = ()

    # Comparisons give boolean tensors, entry by entry, with no gradient (as in PyTorch).
# alike on purpose: one method per comparison, as Python names them
    def __lt__(self, other: Any) -> Any:
        return _compare(np.less, self, other)

    def __le__(self, other: Any) -> Any:
        return _compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Any:
        return _compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Any:
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Any:
        if other is None or isinstance(other, str):
            return NotImplemented
        return _compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Any:
        if other is None or isinstance(other, str):
            return NotImplemented
        return _compare(np.not_equal, self, other)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} values is ambiguous; "
                "use .any() or .all(), or compare one entry"
            )
        return bool(self.data)

    def __invert__(self) -> Any:
        return _logical(np.invert, self)

    def __and__(self, other: Any) -> Any:
        return _logical(np.bitwise_and, self, other)

    def __or__(self, other: Any) -> Any:
        return _logical(np.bitwise_or, self, other)

    def __xor__(self, other: Any) -> Any:
        return _logical(np.bitwise_xor, self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __int__(self) -> int:
        return int(self.data)

    def __index__(self) -> int:
        """A 0-d integer tensor indexes a list or a range, as in PyTorch."""
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(f"only a single whole number can be used as an index, got {self.data.dtype} "
                            f"of shape {self.data.shape}")
        return int(self.data.item())

    def any(self) -> Any:
        return self._wrap(np.asarray(np.any(self.data)))

    def all(self) -> Any:
        return self._wrap(np.asarray(np.all(self.data)))

    # --- reductions -------------------------------------------------------------------------
    def sum(self, axis: Dims = None, keepdims: bool = False, *, dim: Dims = None, keepdim: bool | None = None) -> Any:
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        return self._op(ops.sum_op, axis=norm_axis(axis, self.data.ndim, "sum"), keepdims=keepdims)

    def mean(self, axis: Dims = None, keepdims: bool = False, *, dim: Dims = None, keepdim: bool | None = None) -> Any:
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        return self._op(ops.mean, axis=norm_axis(axis, self.data.ndim, "mean"), keepdims=keepdims)

    def logsumexp(self, axis: Dims = None, keepdims: bool = False, *, dim: Dims = None,
                  keepdim: bool | None = None) -> Any:
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        return self._op(ops.logsumexp_op, axis=norm_axis(axis, self.data.ndim, "logsumexp"), keepdims=keepdims)

    def _extreme(self, which: str, dim: Any, keepdim: bool, axis: Any, keepdims: Any) -> Any:
        if isinstance(dim, TensorMethods) or isinstance(dim, (float, np.ndarray)):  # max(a, b): the larger entries
            return self._op(ops.OPS["maximum" if which == "max" else "minimum"], dim)
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        if dim is None:
            if self.data.size == 0:
                raise RuntimeError(f"{which}(): the tensor is empty, so it has no {which}imum; give dim= instead")
            return self._op(ops.OPS[which])
        dim = one_dim(dim, self.data.ndim, which)
        arg = np.argmax if which == "max" else np.argmin
        indices = arg(self.data, axis=dim, keepdims=keepdim) if self.data.ndim else np.zeros((), np.int64)
        values = self._op(ops.OPS[f"{which}_dim"], axis=dim, keepdims=keepdim)
        return MaxResult(values, self._wrap(np.asarray(indices, dtype=np.int64)))

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: bool | None = None) -> Any:
        """The largest entry; along ``dim``, (values, indices) as in PyTorch; with a tensor, the larger entries."""
        return self._extreme("max", dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: bool | None = None) -> Any:
        """The smallest entry; along ``dim``, (values, indices) as in PyTorch; with a tensor, the smaller entries."""
        return self._extreme("min", dim, keepdim, axis, keepdims)

    def _arg(self, fn: Any, name: str, dim: Any, keepdim: bool) -> Any:
        note_value_dependent(self)
        if dim is None:
            return self._wrap(np.asarray(fn(self.data), dtype=np.int64))
        dim = one_dim(dim, self.data.ndim, name)
        if self.data.ndim == 0:
            return self._wrap(np.zeros((), dtype=np.int64))
        return self._wrap(np.asarray(fn(self.data, axis=dim, keepdims=keepdim), dtype=np.int64))

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Any:
        """Index of the largest entry (the first one at a tie, as PyTorch); no gradient."""
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        return self._arg(np.argmax, "argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Any:
        """Index of the smallest entry (the first one at a tie, as PyTorch); no gradient."""
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        return self._arg(np.argmin, "argmin", dim, keepdim)

    def _spread(self, op: ops.Op, dim: Dims, correction: float, keepdim: bool, unbiased: bool | None) -> Any:
        if unbiased is not None:
            correction = 1 if unbiased else 0
        return self._op(op, axis=norm_axis(dim, self.data.ndim, op.name), correction=correction, keepdims=keepdim)

    def var(self, dim: Dims = None, *, correction: float = 1, keepdim: bool = False, unbiased: bool | None = None,
            axis: Dims = None, keepdims: bool | None = None) -> Any:
        """Variance, dividing by N − correction (1 by default, as PyTorch; NumPy's ddof is 0)."""
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        return self._spread(ops.OPS["var"], dim, correction, keepdim, unbiased)

    def std(self, dim: Dims = None, *, correction: float = 1, keepdim: bool = False, unbiased: bool | None = None,
            axis: Dims = None, keepdims: bool | None = None) -> Any:
        """Standard deviation, dividing by N − correction (1 by default, as PyTorch)."""
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        return self._spread(ops.OPS["std"], dim, correction, keepdim, unbiased)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
             keepdims: bool | None = None) -> Any:
        dim, keepdim = pick(axis, dim, keepdim, keepdims)
        if dim is not None:
            dim = one_dim(dim, self.data.ndim, "prod")
            dim = dim if self.data.ndim else None
        return self._op(ops.OPS["prod"], axis=dim, keepdims=keepdim)

    def softmax(self, dim: int = -1, *, axis: int | None = None) -> Any:
        dim = pick(axis, None if axis is not None else dim)[0]
        return self._op(ops.OPS["softmax"], axis=one_dim(dim, self.data.ndim, "softmax"))

    def log_softmax(self, dim: int = -1, *, axis: int | None = None) -> Any:
        dim = pick(axis, None if axis is not None else dim)[0]
        return self._op(ops.OPS["log_softmax"], axis=one_dim(dim, self.data.ndim, "log_softmax"))

    # --- shapes -----------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Any:
        return self._op(ops.reshape, shape=_shape_args(shape))

    def view(self, *shape: int | Sequence[int]) -> Any:
        """As ``reshape``, but only where the entries' order in memory allows it without a copy, as PyTorch's
        ``view``: after ``permute`` or ``.T`` it raises, so code written here runs the same in PyTorch."""
        out = self.reshape(*shape)  # a shape that does not fit: reshape's own message
        if out.data.size and not np.may_share_memory(out.data, self.data):  # NumPy had to copy
            raise ops.ArgumentError(
                f"view: a tensor of shape {self.data.shape} whose entries are not in order in memory "
                f"(after permute, transpose or .T) cannot be viewed as {out.data.shape}; use .reshape(...) instead"
            )
        return out

    def permute(self, *dims: int | Sequence[int]) -> Any:
        given = _shape_args(dims)
        ndim = self.data.ndim
        if len(given) != ndim:
            raise ops.ArgumentError(f"permute: a tensor with {ndim} dimensions needs {ndim} dims, got {given}")
        order = tuple(one_dim(d, ndim, "permute") for d in given) if ndim else ()
        if sorted(order) != list(range(ndim)):
            raise ops.ArgumentError(f"permute: {order} must name every dimension once")
        return self._op(ops.OPS["permute"], dims=order)

    def transpose(self, dim0: int, dim1: int) -> Any:
        ndim = self.data.ndim
        a, b = one_dim(dim0, ndim, "transpose"), one_dim(dim1, ndim, "transpose")
        if ndim < 2:
            return self._op(ops.OPS["clone"])
        dims = list(range(ndim))
        dims[a], dims[b] = dims[b], dims[a]
        return self._op(ops.OPS["permute"], dims=tuple(dims))

    def t(self) -> Any:
        """The transpose of a matrix (a vector or a number as it is), as PyTorch's ``.t()``."""
        if self.data.ndim > 2:
            raise ops.ArgumentError(f"t() expects a tensor with at most 2 dimensions, got {self.data.ndim}; "
                                    "use .transpose(dim0, dim1) or .permute(...)")
        return self.transpose(0, 1) if self.data.ndim == 2 else self._op(ops.OPS["clone"])

    def squeeze(self, dim: Dims = None) -> Any:
        """Drop dimensions of size 1 (all of them, or those in ``dim`` that have size 1)."""
        shape = self.data.shape
        if dim is None:
            drop = {i for i, n in enumerate(shape) if n == 1}
        else:
            dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
            drop = {one_dim(d, len(shape), "squeeze") for d in dims} & {i for i, n in enumerate(shape) if n == 1}
        return self.reshape(tuple(n for i, n in enumerate(shape) if i not in drop))

    def unsqueeze(self, dim: int) -> Any:
        shape = list(self.data.shape)
        shape.insert(one_dim(dim, len(shape) + 1, "unsqueeze"), 1)
        return self.reshape(tuple(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        shape = self.data.shape
        if not shape:
            return self.reshape((1,))
        a, b = one_dim(start_dim, len(shape), "flatten"), one_dim(end_dim, len(shape), "flatten")
        if a > b:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(shape[:a] + (int(np.prod(shape[a:b + 1], dtype=np.int64)),) + shape[b + 1:])

    def expand(self, *sizes: int | Sequence[int]) -> Any:
        """Repeat along dimensions of size 1 (−1 keeps a size), as PyTorch; the gradient sums the copies."""
        sizes = _shape_args(sizes)
        shape = self.data.shape
        if len(sizes) < len(shape):
            raise ValueError(f"expand: {sizes} has fewer dimensions than the tensor's shape {shape}")
        lead = len(sizes) - len(shape)
        target = tuple(shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
        if any(n < 0 for n in target) or any(s != 1 and s != t for s, t in zip(shape, target[lead:])):
            raise ValueError(f"expand: a tensor of shape {shape} cannot be expanded to {sizes}; "
                             "only dimensions of size 1 can grow")
        return self._op(ops.OPS["expand"], shape=target)

    def expand_as(self, other: Any) -> Any:
        return self.expand(other.shape)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Any, ...]:
        """Pieces along ``dim``: of one size (the last may be smaller), or of the sizes listed."""
        ndim = self.data.ndim
        dim = one_dim(dim, ndim, "split")
        n = self.data.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: the size of a piece must be positive, got {size}")
            sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n or any(s < 0 for s in sizes):
                raise ValueError(f"split: sizes {sizes} must add up to {n}, the size of dimension {dim}")
        pieces, start = [], 0
        for s in sizes:
            index = (slice(None),) * dim + (slice(start, start + s),)
            pieces.append(self._op(ops.getitem, index=index))
            start += s
        return tuple(pieces)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Any, ...]:
        """``chunks`` pieces along ``dim`` (fewer when they do not divide evenly), as PyTorch."""
        if chunks <= 0:
            raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
        n = self.data.shape[one_dim(dim, self.data.ndim, "chunk")]
        return self.split(max(-(-n // chunks), 1), dim)

    # --- element-wise -----------------------------------------------------------------------
# alike on purpose: one method per op, as torch.Tensor has them, each a single op of the table
    def abs(self) -> Any:
        return self._op(ops.OPS["abs"])

    def sqrt(self) -> Any:
        return self._op(ops.OPS["sqrt"])

    def sign(self) -> Any:
        return self._op(ops.OPS["sign"])

    def log2(self) -> Any:
        return self._op(ops.OPS["log2"])

    def log10(self) -> Any:
        return self._op(ops.OPS["log10"])

    def sin(self) -> Any:
        return self._op(ops.OPS["sin"])

    def cos(self) -> Any:
        return self._op(ops.OPS["cos"])

    def clamp(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - PyTorch's names
        """Limit every entry to [min, max]; the gradient passes at the bounds too (PyTorch's value)."""
        if min is None and max is None:
            raise ops.ArgumentError("clamp: give min=, max= or both")
        if isinstance(min, TensorMethods) or isinstance(max, TensorMethods):  # bounds with gradients of their own
            return self._op(ops.OPS["clamp_tensor"], -np.inf if min is None else min, np.inf if max is None else max)
        return self._op(ops.OPS["clamp"], min=None if min is None else float(min),
                        max=None if max is None else float(max))

    clip = clamp

    def where(self, condition: Any, other: Any) -> Any:
        """This tensor where ``condition`` holds, else ``other`` (as ``torch.where(condition, self, other)``)."""
        cond = np.asarray(_data(condition))
        if cond.dtype != np.bool_:
            raise TypeError(f"where: the condition must be a boolean tensor (a comparison), got {cond.dtype}")
        return self._apply(ops.OPS["where"], self._wrap(cond), self, other)

    def maximum(self, other: Any) -> Any:
        return self._op(ops.OPS["maximum"], other)

    def minimum(self, other: Any) -> Any:
        return self._op(ops.OPS["minimum"], other)

    # --- PyTorch's spellings of the operators -----------------------------------------------
    def add(self, other: Any, *, alpha: float = 1) -> Any:
        return self._op(ops.add, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, *, alpha: float = 1) -> Any:
        return self._op(ops.sub, other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> Any:
        return self._op(ops.mul, other)

    def div(self, other: Any) -> Any:
        return self._op(ops.div, other)

    def pow(self, exponent: Any) -> Any:
        return self._op(ops.pow, exponent)

    def matmul(self, other: Any) -> Any:
        return self._op(ops.matmul, other)

    def neg(self) -> Any:
        return self._op(ops.neg)

    negative = neg
    multiply = mul
    subtract = sub
    divide = div

    # --- copies and dtypes ------------------------------------------------------------------
    def clone(self) -> Any:
        """A copy with its own memory that stays in the graph (the gradient flows through)."""
        return self._op(ops.OPS["clone"])

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Any:
        """The same values as ``dtype``; between float dtypes the gradient flows through. A device
        (``"cpu"``, as in ``x.to(device)``) changes nothing: everything here runs on the CPU."""
        dtype, _ = split_to_args(args, dtype, device)
        if dtype is None:
            return self
        dtype = np.dtype(str(dtype).removeprefix("torch.") if str(dtype).startswith("torch.") else dtype)
        if dtype == self.data.dtype:
            return self
        if self.requires_grad and dtype.kind == "f":
            return self._op(ops.OPS["cast"], dtype=dtype)
        return self._wrap(self.data.astype(dtype))

    def cpu(self) -> Any:
        """The tensor itself: everything here is on the CPU already."""
        return self

    def float(self) -> Any:
        """float32, as PyTorch's ``.float()``."""
        return self.to(np.float32)

    def double(self) -> Any:
        return self.to(np.float64)

    def long(self) -> Any:
        return self.to(np.int64)

    def int(self) -> Any:
        return self.to(np.int32)

    def bool(self) -> Any:
        return self.to(np.bool_)

    def dim(self) -> builtins.int:  # ``int`` here is the method above
        return self.data.ndim

    def numel(self) -> builtins.int:
        return self.data.size

    def size(self, dim: builtins.int | None = None) -> Any:
        """The shape as a ``Size``, or the length of dimension ``dim``, as PyTorch's ``x.size(0)``."""
        if dim is None:
            return Size(self.data.shape)
        return self.data.shape[one_dim(dim, self.data.ndim, "size")]


def _compare(fn: Any, a: TensorMethods, other: Any) -> Any:
    note_value_dependent(a, other)
    return a._wrap(fn(a.data, _data(other)))


def _logical(fn: Any, a: TensorMethods, other: Any = None) -> Any:
    if a.data.dtype.kind not in "biu":
        raise TypeError(f"~, &, | and ^ need boolean or integer tensors, got {a.data.dtype}")
    if other is None:
        return a._wrap(fn(a.data))
    return a._wrap(fn(a.data, _data(other)))
