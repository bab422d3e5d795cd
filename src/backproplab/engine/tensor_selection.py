"""Tensor methods that pick, place and order entries, as PyTorch's: ``sort``, ``topk``, ``gather``, ``scatter``,
``masked_fill``, ``tril``, ``triu``, ``diag``; and the small conveniences beginners' scripts call: ``eq`` … ``ge``,
``type``, ``view_as``, ``contiguous``.

Every one that computes runs an op from the table (``ops/selection``), so gradients and explanations
come from the same place as for every other op. ``TensorMethods`` inherits this class; ``_op``,
``_apply`` and ``_wrap`` are the tensor's hooks.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.axes import one_dim
from backproplab.engine.recording import note_value_dependent

SortResult = namedtuple("SortResult", ["values", "indices"])
"""What ``sort`` returns, as ``torch.return_types.sort``: the values in order and where each came from."""

TopkResult = namedtuple("TopkResult", ["values", "indices"])
"""What ``topk`` returns, as ``torch.return_types.topk``: the k values and where each came from."""

TYPE_NAMES = {np.dtype(np.float64): "torch.DoubleTensor", np.dtype(np.float32): "torch.FloatTensor",
              np.dtype(np.int64): "torch.LongTensor", np.dtype(np.int32): "torch.IntTensor",
              np.dtype(np.bool_): "torch.BoolTensor"}
"""PyTorch's names for the dtypes, as ``x.type()`` gives them and ``x.type("torch.FloatTensor")`` takes them."""


def _order(data: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Where each entry of the sorted tensor comes from: a stable sort, NaN counted as the largest, as PyTorch.

    Descending order sorts the reversed tensor and reverses the result, so ties keep their order there too."""
    if not descending:
        return np.argsort(data, axis=dim, kind="stable")
    backwards = np.argsort(np.flip(data, dim), axis=dim, kind="stable")
    return data.shape[dim] - 1 - np.flip(backwards, dim)


class SelectionMethods:
    """Methods shared by every tensor; see the module docstring. The base of ``TensorMethods``, so the hooks
    ``Tensor`` defines are declared here for both."""

    __slots__ = ()
    data: np.ndarray
    requires_grad: bool

    def _op(self, op: ops.Op, *others: Any, **attrs: Any) -> Any:  # pragma: no cover - Tensor defines it
        raise NotImplementedError

    def _wrap(self, data: np.ndarray) -> Any:  # pragma: no cover - Tensor defines it
        raise NotImplementedError

    def _apply(self, op: ops.Op, *args: Any, **attrs: Any) -> Any:  # pragma: no cover - Tensor defines it
        raise NotImplementedError

    if TYPE_CHECKING:  # defined by TensorMethods, which inherits these
        def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Any: ...
        def view(self, *shape: int | Sequence[int]) -> Any: ...
        def reshape(self, *shape: int | Sequence[int]) -> Any: ...

    # --- PyTorch's names for the comparisons --------------------------------------------------
# alike on purpose: one method per comparison, as torch.Tensor has them, each the operator itself
    def eq(self, other: Any) -> Any:
        return self == other

    def ne(self, other: Any) -> Any:
        return self != other

    def lt(self, other: Any) -> Any:
        return self < other

    def le(self, other: Any) -> Any:
        return self <= other

    def gt(self, other: Any) -> Any:
        return self > other

    def ge(self, other: Any) -> Any:
        return self >= other

    # --- dtypes and memory --------------------------------------------------------------------
    def type(self, dtype: Any = None) -> Any:
        """PyTorch's name of the dtype (``"torch.DoubleTensor"``) without an argument; with one, the tensor as
        that dtype (``bl.float``, ``np.float32``, ``"float32"`` or ``"torch.FloatTensor"``), as ``to``."""
        if dtype is None:
            return TYPE_NAMES.get(self.data.dtype, f"torch.{self.data.dtype.name}")
        names = {name: dt for dt, name in TYPE_NAMES.items()}
        return self.to(names.get(dtype, dtype))

    def view_as(self, other: Any) -> Any:
        """This tensor viewed in ``other``'s shape, as ``view(other.shape)``."""
        return self.view(other.shape)

    def contiguous(self) -> Any:
        """The tensor itself when its entries are in order in memory, else a copy that is (``view`` works on it)."""
        if self.data.flags.c_contiguous:
            return self
        return self._op(ops.OPS["contiguous"])

    # --- ordering -----------------------------------------------------------------------------
    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> SortResult:
        """(values, indices) along ``dim``, as ``torch.sort``: ties keep their order, NaN sorts as the largest.

        The values are a ``gather`` of the indices, so the gradient flows back to where each came from."""
        note_value_dependent(self)
        if self.data.ndim == 0:
            return SortResult(self._op(ops.OPS["clone"]), self._wrap(np.zeros((), dtype=np.int64)))
        dim = one_dim(dim, self.data.ndim, "sort")
        order = _order(self.data, dim, descending)
        return SortResult(self._op(ops.OPS["gather"], order, axis=dim), self._wrap(order))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:  # noqa: A002
        """The ``k`` largest (or smallest) entries along ``dim`` and their indices, as ``torch.topk``; always
        in order (largest first, or smallest first), which ``sorted=False`` permits."""
        n = self.data.shape[one_dim(dim, self.data.ndim, "topk")] if self.data.ndim else 1
        if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise ops.ArgumentError(f"topk: k = {k!r} is out of range: dimension {dim} has {n} entries, "
                                    f"so k must be a whole number from 0 to {n}")
        if self.data.ndim == 0:
            return TopkResult(*self.sort())
        dim = one_dim(dim, self.data.ndim, "topk")
        note_value_dependent(self)
        order = _order(self.data, dim, descending=largest)[(slice(None),) * dim + (slice(0, int(k)),)]
        return TopkResult(self._op(ops.OPS["gather"], order, axis=dim), self._wrap(order))

    # --- picking and placing --------------------------------------------------------------------
    def gather(self, dim: int, index: Any) -> Any:
        """``out[i][j] = self[index[i][j]][j]`` for ``dim=0`` (and so on), as ``torch.gather``; the gradient adds
        up at the entries picked."""
        if self.data.ndim == 0:
            return self.reshape(1).gather(0, _reshaped(index, (1,))).reshape(())
        dim = one_dim(dim, self.data.ndim, "gather")
        index = _checked_index("gather", index, self.data.shape, dim)
        return self._apply(ops.OPS["gather"], self, index, axis=dim)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Any:
        """A copy with ``src``'s entries (or the number ``value``) written at ``index`` along ``dim``, as
        ``torch.scatter`` (not in place). The written entries' gradient goes to ``src``, the others' to ``self``."""
        if (src is None) == (value is None):
            raise ops.ArgumentError("scatter: give src (a tensor or a number) or value=, one of them")
        src = value if src is None else src
        if self.data.ndim == 0:
            src = src.reshape(1) if isinstance(src, SelectionMethods) else src
            return self.reshape(1).scatter(0, _reshaped(index, (1,)), src).reshape(())
        dim = one_dim(dim, self.data.ndim, "scatter")
        index = _checked_index("scatter", index, self.data.shape, dim)
        if isinstance(src, SelectionMethods) or isinstance(src, (np.ndarray, list)):
            src_shape = np.shape(src.data if isinstance(src, SelectionMethods) else src)
            index_shape = np.shape(index.data if isinstance(index, SelectionMethods) else index)
            if len(src_shape) != len(index_shape) or any(i > s for i, s in zip(index_shape, src_shape)):
                raise ops.ArgumentError(f"scatter: src of shape {src_shape} has fewer entries than the index of "
                                        f"shape {index_shape} in some dimension (or not as many dimensions); "
                                        "give src at least the index's shape, or a number")
        elif not isinstance(src, (int, float, np.number)):
            raise TypeError(f"scatter: src must be a tensor or a number, got {type(src).__name__}")
        return self._apply(ops.OPS["scatter"], self, index, src, axis=dim)

    def masked_fill(self, mask: Any, value: Any) -> Any:
        """``value`` where ``mask`` is True, else this tensor's entry, as ``torch.masked_fill`` (not in place);
        filled entries get no gradient."""
        mask_data = mask.data if isinstance(mask, SelectionMethods) else np.asarray(mask)
        if mask_data.dtype != np.bool_:
            raise ops.ArgumentError(f"masked_fill: the mask must be a boolean tensor (a comparison such as x > 0), "
                                    f"got {mask_data.dtype}; use .bool() or compare")
        if isinstance(value, SelectionMethods):
            if value.data.ndim != 0:
                raise ops.ArgumentError(f"masked_fill: value must be a number or a 0-d tensor, "
                                        f"got a tensor of shape {value.data.shape}")
            value = value.data.item()
        return self._apply(ops.OPS["masked_fill"], self, mask if isinstance(mask, SelectionMethods) else mask_data,
                           value=value)

    def tril(self, diagonal: int = 0) -> Any:
        """The lower triangle (on and below ``diagonal``) of the last two dimensions; the rest 0, as ``torch.tril``."""
        return self._op(ops.OPS["tril"], diagonal=_triangle_check("tril", self.data.ndim, diagonal))

    def triu(self, diagonal: int = 0) -> Any:
        """The upper triangle (on and above ``diagonal``) of the last two dimensions; the rest 0, as ``torch.triu``."""
        return self._op(ops.OPS["triu"], diagonal=_triangle_check("triu", self.data.ndim, diagonal))

    def diag(self, diagonal: int = 0) -> Any:
        """A vector placed on a diagonal of a square matrix, or a matrix's diagonal as a vector, as ``torch.diag``."""
        if self.data.ndim not in (1, 2):
            raise ops.ArgumentError(f"diag: the tensor must have 1 dimension (a vector to place on a diagonal) or 2 "
                                    f"(a matrix whose diagonal to take), got {self.data.ndim}")
        return self._op(ops.OPS["diag"], diagonal=_whole("diag", diagonal))


def _whole(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name}: diagonal must be a whole number, got {value!r}")
    return int(value)


def _triangle_check(name: str, ndim: int, diagonal: Any) -> int:
    if ndim < 2:
        raise ops.ArgumentError(f"{name}: the tensor must have at least 2 dimensions (a matrix, or a batch of them), "
                                f"got {ndim}")
    return _whole(name, diagonal)


def _reshaped(index: Any, shape: tuple[int, ...]) -> Any:
    return index.reshape(shape) if isinstance(index, SelectionMethods) else np.reshape(index, shape)


def _checked_index(name: str, index: Any, shape: tuple[int, ...], dim: int) -> Any:
    """The index as gather and scatter take it (the tensor itself, so a compiled step reads its current values),
    after PyTorch's checks: whole numbers, one dimension per dimension of the tensor, each within its size."""
    data = index.data if isinstance(index, SelectionMethods) else np.asarray(index)
    if data.dtype.kind not in "iu":
        raise ops.ArgumentError(f"{name}: the index must hold whole numbers (int64), got {data.dtype}; "
                                "use .long() to convert it")
    if data.ndim != len(shape):
        raise ops.ArgumentError(f"{name}: the index has {data.ndim} dimensions but the tensor has {len(shape)}; "
                                "give it one per dimension (unsqueeze it, or reshape it)")
    for d, (i, n) in enumerate(zip(data.shape, shape)):
        if d != dim and i > n:
            raise ops.ArgumentError(f"{name}: the index of shape {data.shape} is larger than the tensor of shape "
                                    f"{shape} in dimension {d}; only dimension {dim} may differ")
    if data.size and (data.min() < 0 or data.max() >= shape[dim]):
        bad = data.min() if data.min() < 0 else data.max()
        raise ops.ArgumentError(f"{name}: index {bad} is out of range for dimension {dim} of size {shape[dim]}; "
                                f"indices must be from 0 to {shape[dim] - 1}")
    return index if isinstance(index, SelectionMethods) else data.astype(np.int64, copy=False)
