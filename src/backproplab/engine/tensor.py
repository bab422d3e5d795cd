"""``Tensor``: a NumPy array that remembers how it was computed.

Every result of an op on tensors that need gradients keeps a link to the op and to its
inputs. That recorded graph is what ``backward()`` walks and what the explainer reads.
The graph holds no cycles (a node points only at its inputs), so it is freed as soon as
the last tensor that reaches it is dropped.
"""

from __future__ import annotations

import operator
from typing import Any, NoReturn

import numpy as np

from backproplab.engine import autodiff, grad_mode, inplace, ops
from backproplab.engine.inplace import InPlaceMethods
from backproplab.engine.ops import Op
from backproplab.engine.recording import note_step
from backproplab.engine.tensor_methods import TensorMethods

DEFAULT_DTYPE = np.float64
_FLOAT_DTYPES = (np.float32, np.float64)


class ShapeError(ops.ArgumentError):
    """Shapes that do not fit an op; a RuntimeError as in PyTorch, and a ValueError as in NumPy."""


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Numbers as an array: floats stay float32/float64, whole numbers int64 and truth values bool,
    as ``torch.tensor`` keeps them (labels, indices and masks need them)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if arr.dtype in _FLOAT_DTYPES or arr.dtype.kind in "biu":
        return arr
    if arr.dtype.kind == "f":  # float16, longdouble: computed in the default dtype
        return arr.astype(DEFAULT_DTYPE)
    raise TypeError(
        f"Tensor data must be numbers, got {arr.dtype} ({type(data).__name__}); "
        "pass a number, a list of numbers or a NumPy array"
    )


def _check_grad_dtype(dtype: np.dtype) -> None:
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"only floating point tensors can require gradients, got {dtype}; "
            "make it a float tensor first (dtype=float, or .double())"
        )


REPR_VALUES = 12  # a tensor with more entries shows its shape instead of its values


class Tensor(InPlaceMethods, TensorMethods):
    """An n-dimensional array with reverse-mode autodiff, shaped after ``torch.Tensor``.

    ``data`` is the NumPy array (float64 unless you pass float32 data or a ``dtype``).
    ``grad`` is filled by ``backward()`` for tensors created with ``requires_grad=True``
    and accumulates across calls, as in PyTorch; set it to ``None`` to clear it. It is a tensor
    that shares memory with the array the engine adds into (``_grad``), so ``w.grad.zero_()`` works.
    ``_version`` counts the in-place ops on this tensor; a recorded op is stamped with the count of
    in-place ops so far (``_tick``), so ``backward()`` can refuse an input changed after the op used it.
    ``name`` labels the node in explanations and drawings (``h1``, ``ŷ``).
    """

    __slots__ = ("data", "_grad", "_grad_view", "requires_grad", "name", "op", "parents", "attrs", "_retain",
                 "_tick", "_bumps", "_changed_at", "_cell", "__weakref__")
    __array_priority__ = 1000  # ndarray + Tensor -> Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None) -> None:
        self.data = _as_array(data, dtype)
        if requires_grad:
            _check_grad_dtype(self.data.dtype)
        self._grad: np.ndarray | None = None
        self._grad_view: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.op: Op | None = None
        self.parents: tuple[Tensor, ...] = ()
        self.attrs: dict[str, Any] | None = None
        self._retain = False
        self._tick = 0

    # --- basic facts ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def grad(self) -> Tensor | None:
        """d(root)/d(self) after ``backward()``: a tensor with no graph that shares memory with the stored
        gradient (``w.grad.zero_()`` zeroes it), the same object on every read; None before ``backward()``."""
        g = self._grad
        if g is None:
            return None
        view = getattr(self, "_grad_view", None)
        if view is None or view.data is not g:
            view = self._grad_view = Tensor(g)
        return view

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = self._grad_view = None
            return
        data = value.data if isinstance(value, Tensor) else np.asarray(value)
        if data.shape != self.data.shape:
            raise RuntimeError(
                f"assigned grad has shape {data.shape}, but the tensor has shape {self.data.shape}; "
                "a gradient has the shape of its tensor"
            )
        self._grad = data
        self._grad_view = value if isinstance(value, Tensor) else None

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The values for NumPy (``np.allclose(w.grad, …)``), with no graph, as ``t.numpy()`` gives them."""
        if dtype is None and not copy:
            return self.data
        return np.array(self.data, dtype=dtype, copy=True) if copy else np.asarray(self.data, dtype=dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy meeting a tensor. ``array + t`` (any operator) and ``np.exp(t)`` stay tensor ops, recorded
        as ``t + array`` and ``t.exp()`` are, where ``t`` needs a gradient. An array on the left of a tensor
        that needs none gives an array, so ``w.data = w.data - lr * w.grad`` keeps ``.data`` an array; an
        update of an array in place (``w.data -= lr * w.grad``) and every other NumPy function work on the
        values and give arrays."""
        if method == "__call__" and not kwargs:
            if len(inputs) == 2 and ufunc in _OPERATORS and not _array_then_constant(inputs):
                forward, reflected = _OPERATORS[ufunc]
                a, b = inputs
                return getattr(a, forward)(b) if isinstance(a, Tensor) else getattr(b, reflected)(a)
            if len(inputs) == 1 and ufunc.__name__ in _UNARY:
                return getattr(inputs[0], _UNARY[ufunc.__name__])()
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.data if isinstance(o, Tensor) else o for o in kwargs["out"])
        return getattr(ufunc, method)(*arrays, **kwargs)

    @property
    def is_leaf(self) -> bool:
        """A tensor made by the user rather than by an op (parameters, inputs)."""
        return self.op is None

    def _op(self, op: Op, *others: Any, **attrs: Any) -> Tensor:
        return apply(op, self, *others, **attrs)

    def _wrap(self, data: np.ndarray) -> Tensor:
        return Tensor(data)

    def _apply(self, op: Op, *args: Any, **attrs: Any) -> Tensor:
        return apply(op, *args, **attrs)

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same values (the same memory, as in PyTorch), cut off from the graph. Both share one version
        counter, as in PyTorch: after an in-place change through either, ``backward()`` refuses a gradient
        that would read the changed values."""
        out = Tensor(self.data, name=self.name)
        inplace.share_counter(self, out)
        return out

    def named(self, name: str) -> Tensor:
        """Give this node a name for explanations and drawings; returns the tensor itself."""
        self.name = name
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this intermediate tensor after ``backward()``, as in PyTorch."""
        self._retain = True
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag:
            _check_grad_dtype(self.data.dtype)
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self._grad = self._grad_view = None

    def __len__(self) -> int:
        return len(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        """One line, as in PyTorch: the values (or, past a few, the shape), then what autodiff knows."""
        extra = ""
        if self.data.size <= REPR_VALUES:
            body = np.array2string(self.data, precision=4, separator=", ", suppress_small=True)
        else:
            body = f"shape={self.data.shape}"
        if self.name:
            extra += f", name={self.name!r}"
        if self.data.dtype != DEFAULT_DTYPE or self.data.size > REPR_VALUES:
            extra += f", dtype={self.data.dtype}"
        if self.op is not None:
            extra += f", grad_fn=<{self.op.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        if self._grad is not None:
            grad = np.asarray(self._grad)
            shown = np.array2string(grad, precision=4, separator=", ", suppress_small=True)
            extra += f", grad={shown}" if grad.size <= REPR_VALUES else f", grad=<{grad.shape} array>"
        elif self.requires_grad and self.op is None:
            extra += ", grad=None"
        return f"Tensor({body}{extra})"

    # --- autodiff -------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf that requires it with d(self)/d(leaf).

        Gradients add to what is already in ``.grad`` (call ``zero_grad`` between steps),
        and the graph is always kept, so calling ``backward()`` twice doubles them, as in PyTorch
        with ``retain_graph=True`` (the argument is accepted for PyTorch's scripts and changes nothing).
        """
        if create_graph:
            raise NotImplementedError(
                "backward(create_graph=True): gradients of gradients are not recorded here; compute the "
                "second derivative with bl.central_difference, or in PyTorch"
            )
        note_step("backward", self if gradient is None else None)  # bl.compile replays a step that calls this
        autodiff.backward(self, gradient)

    # --- arithmetic -----------------------------------------------------------------------
# alike on purpose: Python's operator methods, one per operator and side, each a single op of the table
    def __add__(self, other: Any) -> Tensor:
        return apply(ops.add, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return apply(ops.add, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return apply(ops.sub, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return apply(ops.sub, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return apply(ops.mul, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return apply(ops.mul, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return apply(ops.div, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply(ops.div, other, self)

    def __pow__(self, other: Any) -> Tensor:
        return apply(ops.pow, self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return apply(ops.pow, other, self)

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's and PyTorch's name
        return apply(ops.transpose, self)

    def __neg__(self) -> Tensor:
        return apply(ops.neg, self)

    def __pos__(self) -> Tensor:
        return self

    def __matmul__(self, other: Any) -> Tensor:
        return apply(ops.matmul, self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply(ops.matmul, other, self)

    def __getitem__(self, index: Any) -> Tensor:
        picked = _integers_first(index, self.data.ndim)
        if picked is not None:  # PyTorch's order: the whole-number picks first, then the tensor index
            return apply(ops.getitem, apply(ops.getitem, self, index=picked[0]), index=_index(picked[1]))
        return apply(ops.getitem, self, index=_index(index))

    # Comparisons (in TensorMethods) are element-wise; tensors stay usable as dict keys and in
    # sets, by identity, as in PyTorch.
    __hash__ = object.__hash__

    # --- elementwise functions ------------------------------------------------------------
    def exp(self) -> Tensor:
        return apply(ops.exp, self)

    def log(self) -> Tensor:
        return apply(ops.log, self)

    def softplus(self) -> Tensor:
        return apply(ops.softplus_op, self)

    def sigmoid(self) -> Tensor:
        return apply(ops.sigmoid_op, self)

    def tanh(self) -> Tensor:
        return apply(ops.tanh, self)

    def relu(self) -> Tensor:
        return apply(ops.relu, self)

    def norm(self, p: float = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The p-norm (Euclidean by default) of all entries, or along ``dim``, as ``torch.norm``: ``w.grad.norm()``."""
        if p == 2:
            return (self * self).sum(dim=dim, keepdim=keepdim).sqrt()
        return (self.abs() ** p).sum(dim=dim, keepdim=keepdim) ** (1.0 / p)


# NumPy's ufuncs that are Python operators: the tensor's method when it stands first, and when it stands second
_OPERATORS = {
    np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"), np.multiply: ("__mul__", "__rmul__"),
    np.true_divide: ("__truediv__", "__rtruediv__"), np.power: ("__pow__", "__rpow__"),
    np.matmul: ("__matmul__", "__rmatmul__"), np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"), np.equal: ("__eq__", "__eq__"),
    np.not_equal: ("__ne__", "__ne__"),
}
# NumPy's functions of one tensor that are tensor methods: np.exp(t) is t.exp(), with its gradient
_UNARY = {"exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
          "absolute": "abs", "negative": "__neg__", "sign": "sign", "log2": "log2", "log10": "log10"}


def _array_then_constant(inputs: tuple[Any, ...]) -> bool:
    """An array, then a tensor that needs no gradient: arithmetic on ``.data``, not a graph."""
    a, b = inputs
    return type(a) is np.ndarray and isinstance(b, Tensor) and not b.requires_grad


def _is_whole_number(entry: Any) -> bool:
    """A single whole number in an index (a 0-d integer tensor counts, as in PyTorch)."""
    if isinstance(entry, (bool, np.bool_)):
        return False
    if isinstance(entry, (int, np.integer)):
        return True
    data = entry.data if isinstance(entry, Tensor) else entry
    return isinstance(data, np.ndarray) and data.ndim == 0 and data.dtype.kind in "iu"


def _is_array_index(entry: Any) -> bool:
    data = entry.data if isinstance(entry, Tensor) else entry
    return isinstance(data, list) or (isinstance(data, np.ndarray) and data.ndim > 0 and data.dtype.kind in "iu")


def _integers_first(index: Any, ndim: int) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """Where PyTorch and NumPy place a tensor index's dimensions differently, the index split in two.

    PyTorch applies whole numbers first, so in ``x[0, :, t]`` the tensor ``t`` stands next to the slice
    and its dimension stays in place; NumPy counts the 0 as an index array too and moves ``t``'s
    dimension to the front. Returns (the whole numbers with every other entry ``:``, the rest), or None
    where both agree.
    """
    if not isinstance(index, tuple) or any(e is None for e in index) or not _placed_differently(index):
        return None
    entries: list[Any] = []
    for e in index:  # Ellipsis written out, so the two halves line up dimension by dimension
        entries.extend([slice(None)] * (ndim - len(index) + 1) if e is Ellipsis else [e])
    first = tuple(int(e) if _is_whole_number(e) else slice(None) for e in entries)
    return first, tuple(e for e in entries if not _is_whole_number(e))


def _placed_differently(index: tuple[Any, ...]) -> bool:
    """Whether NumPy and PyTorch put the dimensions of this index's tensors in different places.

    NumPy keeps them in place only when every whole number and tensor stand together; PyTorch, which
    takes the whole numbers out first, when the tensors stand together with only whole numbers between them.
    """
    whole = [_is_whole_number(e) for e in index]
    arrays = [_is_array_index(e) for e in index]
    if not any(whole) or not any(arrays):
        return False
    picks = [k for k, (w, a) in enumerate(zip(whole, arrays)) if w or a]
    tensors = [k for k, a in enumerate(arrays) if a]
    numpy_together = picks == list(range(picks[0], picks[-1] + 1))
    torch_together = all(whole[k] or arrays[k] for k in range(tensors[0], tensors[-1] + 1))
    return torch_together and not numpy_together


def _slice_bound(bound: Any) -> Any:
    return operator.index(bound) if isinstance(bound, Tensor) else bound


def _index(index: Any) -> Any:
    """Tensors inside an index become their arrays; they must hold whole numbers or truth values."""
    if isinstance(index, slice) and any(isinstance(b, Tensor) for b in (index.start, index.stop, index.step)):
        return slice(_slice_bound(index.start), _slice_bound(index.stop), _slice_bound(index.step))
    if isinstance(index, Tensor):
        if index.data.dtype.kind not in "biu":
            raise IndexError(
                f"tensors used as indices must hold whole numbers (int64) or truth values (bool), "
                f"got {index.data.dtype}; use .long() or a comparison"
            )
        return index.data
    if isinstance(index, tuple) and any(isinstance(i, (Tensor, slice)) for i in index):
        return tuple(_index(i) for i in index)
    return index


def _constant(value: Any, like: np.dtype | None) -> Tensor:
    """A number or array as a constant input, promoted as PyTorch promotes Python numbers: a number takes
    the other operand's float dtype (x * 2.5 stays float32), a Python int an integer tensor's dtype
    (int32 + 1 stays int32), and a float with an integer tensor gives the default float dtype."""
    t = Tensor.__new__(Tensor)
    if like is not None and like.kind == "f" and not isinstance(value, np.ndarray):
        t.data = _as_array(value, like)
    elif like is not None and like.kind in "iu" and type(value) in (int, bool):
        t.data = np.array(value).astype(like)  # int32 + 1 stays int32, wrapping as PyTorch does (uint8 − 1)
    else:
        t.data = _as_array(value)
    t._grad = None
    t.requires_grad = False
    t.name = None
    t.op = None
    t.parents = ()
    t.attrs = None
    t._retain = False
    return t


def _inputs(args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Every argument as a tensor: numbers and arrays become constants, promoted as PyTorch promotes them."""
    if len(args) == 2:
        a, b = args
        if isinstance(a, Tensor):
            return a, _constant(b, a.data.dtype)
        b_is_tensor = isinstance(b, Tensor)  # if neither is a tensor, each number keeps its own type
        return _constant(a, b.data.dtype if b_is_tensor else None), b if b_is_tensor else _constant(b, None)
    like = next((a.data.dtype for a in args if isinstance(a, Tensor)), None) if len(args) > 1 else None
    return tuple(a if isinstance(a, Tensor) else _constant(a, like) for a in args)


def _refuse(op: Op, inputs: tuple[Tensor, ...], attrs: dict[str, Any], exc: ValueError) -> NoReturn:
    """Raise for values NumPy refused: ``exc`` itself, or an error that names the op (and the shapes)."""
    message = ops.shape_message(op, [t.data for t in inputs], attrs)
    if message is None and isinstance(exc, RuntimeError):
        raise exc
    if message is None:  # NumPy refused the values (an int to a negative int power): PyTorch's RuntimeError
        raise ops.ArgumentError(f"{op.name}: {exc}") from exc
    raise ShapeError(message) from exc


def apply(op: Op, *args: Any, **attrs: Any) -> Tensor:
    """Run ``op`` forward on tensors (or numbers) and record it if a gradient is needed."""
    recording = not grad_mode._disabled or grad_mode._mode.enabled  # is_grad_enabled() inlined: runs for every op
    if len(args) == 2:  # the common cases first, without generators: this runs for every op of every step
        a, b = args
        inputs = args if isinstance(a, Tensor) and isinstance(b, Tensor) else _inputs(args)
        needs_grad = recording and (inputs[0].requires_grad or inputs[1].requires_grad)
    elif len(args) == 1 and isinstance(args[0], Tensor):
        inputs = args
        needs_grad = recording and args[0].requires_grad
    else:
        inputs = _inputs(args)
        needs_grad = recording and any(t.requires_grad for t in inputs)
    try:
        if len(inputs) == 2:
            out = op.forward(inputs[0].data, inputs[1].data, **attrs) if attrs else op.forward(
                inputs[0].data, inputs[1].data)
        else:
            out = op.forward(*[t.data for t in inputs], **attrs)
    except ValueError as exc:
        _refuse(op, inputs, attrs, exc)
    result = Tensor.__new__(Tensor)
    result.data = out if isinstance(out, np.ndarray) else np.asarray(out)
    result._grad = None
    result.name = None
    result._retain = False
    if needs_grad:
        result.requires_grad = True
        result.op = op
        result.parents = inputs
        result.attrs = attrs or None
        result._tick = inplace.changes  # backward() checks the inputs only if an in-place op ran since
    else:
        result.requires_grad = False
        result.op = None
        result.parents = ()
        result.attrs = None
    return result
