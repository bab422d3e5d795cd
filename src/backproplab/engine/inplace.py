"""In-place ops (``x -= lr * x.grad``, ``w.grad.zero_()``, ``out += identity``), with PyTorch's rules.

Each one writes its result into the tensor's own array, so every holder of that array (a
``detach()``, a compiled replay) sees the change, bumps the tensor's ``_version`` and returns it.

- A leaf that requires a gradient may change in place only where no graph is recorded
  (``with bl.no_grad():``), as in PyTorch: otherwise its gradient would describe values it no
  longer holds.
- Where nothing is recorded the values are simply overwritten.
- A tensor inside a recorded graph (``out`` in ``out += identity``) becomes the op's result
  node; its earlier self lives on as a copy with its own memory, which the op (and the
  gradient) reads, so the chain rule runs through both.

The result is cast to the tensor's dtype where PyTorch casts (float64 into float32, int64 into
int32) and refused where PyTorch refuses (a float into an int tensor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from backproplab.engine import grad_mode, ops
from backproplab.engine.generator import Generator, default_generator

_Casting = Literal["same_kind", "unsafe"]
changes = 0  # in-place ops so far in this process: the clock recorded ops are stamped with (``Tensor._tick``)

_TORCH_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half", "int64": "Long", "int32": "Int",
                "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _torch_name(dtype: np.dtype) -> str:
    return _TORCH_NAMES.get(dtype.name, dtype.name)


def _label(t: Any) -> str:
    return f"{t.name!r} (shape {tuple(t.data.shape)})" if t.name else f"a tensor of shape {tuple(t.data.shape)}"


def _bump(t: Any) -> None:
    """Count one more in-place op, on ``t``: its version goes up, and it is marked changed now (in the counter it
    shares with its ``detach()``-ed copies, if it has one)."""
    global changes
    changes += 1
    cell = getattr(t, "_cell", None)
    if cell is not None:
        cell[0], cell[1] = cell[0] + 1, changes
    else:
        t._bumps = t._version + 1
        t._changed_at = changes


def changed_at(t: Any) -> int:
    """When ``t``'s memory was last changed in place (the count of in-place ops then); 0 if never."""
    cell = getattr(t, "_cell", None)
    return cell[1] if cell is not None else getattr(t, "_changed_at", 0)


def share_counter(t: Any, detached: Any) -> None:
    """Give ``detached`` (a ``detach()`` of ``t``) ``t``'s version and change time, as one list both hold:
    PyTorch's tensor and its detached copy share one memory and one version counter, so a change through
    either counts for both."""
    cell = getattr(t, "_cell", None)
    if cell is None:
        cell = t._cell = [t._version, changed_at(t)]
    detached._cell = cell


def _needs_grad(value: Any) -> bool:
    return bool(getattr(value, "requires_grad", False))


def _write(target: np.ndarray, values: np.ndarray, what: str, casting: _Casting) -> None:
    """Copy ``values`` into ``target``, or say why PyTorch would not (shape, dtype, read-only memory).

    Arithmetic casts ``same_kind`` (a float result into an int tensor is refused); ``fill_``, ``copy_``
    and ``x[i] = v`` cast as PyTorch's ``copy_`` does, whatever the kinds (0.7 into an int tensor is 0).
    """
    if values.shape != target.shape:
        raise RuntimeError(
            f"{what}: the result has shape {tuple(values.shape)} but the tensor has shape {tuple(target.shape)}; "
            "an in-place op cannot change a tensor's shape (use an out-of-place op: x = x + y)"
        )
    if values.dtype != target.dtype and not np.can_cast(values.dtype, target.dtype, casting):
        raise RuntimeError(
            f"{what}: result type {_torch_name(values.dtype)} can't be cast to the desired output type "
            f"{_torch_name(target.dtype)}; convert first (x = x.double()) or use an out-of-place op"
        )
    if not target.flags.writeable:
        raise RuntimeError(f"{what}: this tensor's memory is read-only; work on a copy (x = x.clone())")
    np.copyto(target, values, casting="unsafe")


class InPlaceMethods:
    """PyTorch's in-place ops for ``Tensor``: the operators ``+= -= *= /=``, the ``…_`` methods and ``x[i] = v``."""

    __slots__ = ()
    data: np.ndarray
    requires_grad: bool
    name: str | None
    op: ops.Op | None
    parents: tuple[Any, ...]
    attrs: dict[str, Any] | None
    _tick: int

    def _wrap(self, data: np.ndarray) -> Any:  # pragma: no cover - Tensor defines it
        raise NotImplementedError

    @property
    def _version(self) -> int:
        """How many in-place ops changed this tensor (or a ``detach()`` of it), as PyTorch's ``_version``."""
        cell = getattr(self, "_cell", None)
        return cell[0] if cell is not None else getattr(self, "_bumps", 0)

    # --- what every in-place op does ---------------------------------------------------------
    def _in_place(self, what: str, compute: Callable[[Any], Any], *others: Any, casting: _Casting = "same_kind") -> Any:
        """Write ``compute(self)`` into this tensor's array; record it when a graph is being recorded.

        ``others`` are the op's other operands: one that requires a gradient makes the op recorded.
        """
        recording = grad_mode.is_grad_enabled() and (self.requires_grad or any(_needs_grad(o) for o in others))
        if not recording:
            _write(self.data, np.asarray(compute(self).data), what, casting)
            _bump(self)
            return self
        if self.requires_grad and self.op is None:
            raise RuntimeError(
                f"{what} on {_label(self)}: a leaf tensor that requires grad is used in an in-place operation; "
                "do it inside `with bl.no_grad():` (updates of parameters), or use an out-of-place op (x = x - y)"
            )
        before = self._earlier_self()
        result = compute(before)
        _write(self.data, result.data, what, casting)
        # these slots are Tensor's: a mixin's empty __slots__ cannot name them (hence the ignores)
        self.op, self.parents, self.attrs = result.op, result.parents, result.attrs  # type: ignore[misc]
        self.requires_grad = result.requires_grad  # type: ignore[misc]
        _bump(self)
        self._tick = changes  # type: ignore[misc]  # recorded now, from its earlier self
        return self

    def _earlier_self(self) -> Any:
        """A copy of this tensor (values, op, inputs) for the graph to read once this tensor has changed.

        Inputs whose array this tensor's array is a view of (a reshape, a slice) change with it, so
        their counts go up too: ``backward()`` then refuses what used their old values.
        """
        before = self._wrap(self.data.copy())
        before.op, before.parents, before.attrs = self.op, self.parents, self.attrs
        before._tick = getattr(self, "_tick", 0)
        before.requires_grad = self.requires_grad
        before.name = self.name
        for parent in self.parents:
            if np.may_share_memory(parent.data, self.data):
                _bump(parent)
        return before

    def _replace(self, what: str, values: Any) -> Any:
        """Overwrite every entry with ``values`` (a number, an array or a tensor, broadcast to the shape).

        Recorded as ``where(False, self, values)``: the earlier values get a zero gradient, and a
        tensor ``values`` the gradient, as PyTorch's ``fill_`` and ``copy_`` give them.
        """
        mask = self._wrap(np.zeros(self.data.shape, dtype=np.bool_))
        if not (_needs_grad(values) or grad_mode.is_grad_enabled() and self.requires_grad):
            return self._in_place(what, lambda t: self._wrap(_spread(what, values, self.data.shape)), casting="unsafe")
        return self._in_place(what, lambda t: t._apply(ops.OPS["where"], mask, t, values), values, casting="unsafe")

    # --- the operators ---------------------------------------------------------------------------
    def __iadd__(self, other: Any) -> Any:
        return self._in_place("+=", lambda t: t._apply(ops.add, t, other), other)

    def __isub__(self, other: Any) -> Any:
        return self._in_place("-=", lambda t: t._apply(ops.sub, t, other), other)

    def __imul__(self, other: Any) -> Any:
        return self._in_place("*=", lambda t: t._apply(ops.mul, t, other), other)

    def __itruediv__(self, other: Any) -> Any:
        return self._in_place("/=", lambda t: t._apply(ops.div, t, other), other)

    # --- PyTorch's methods ---------------------------------------------------------------------
    def add_(self, other: Any, *, alpha: float = 1) -> Any:
        other = other if alpha == 1 else other * alpha
        return self._in_place("add_", lambda t: t._apply(ops.add, t, other), other)

    def sub_(self, other: Any, *, alpha: float = 1) -> Any:
        other = other if alpha == 1 else other * alpha
        return self._in_place("sub_", lambda t: t._apply(ops.sub, t, other), other)

    def mul_(self, other: Any) -> Any:
        return self._in_place("mul_", lambda t: t._apply(ops.mul, t, other), other)

    def div_(self, other: Any) -> Any:
        return self._in_place("div_", lambda t: t._apply(ops.div, t, other), other)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - PyTorch's names
        return self._in_place("clamp_", lambda t: t.clamp(min, max), min, max)

    clip_ = clamp_

    def zero_(self) -> Any:
        return self._replace("zero_", 0)

    def fill_(self, value: Any) -> Any:
        if np.ndim(_values(value)) != 0:
            raise RuntimeError(f"fill_ takes a single number, got shape {np.shape(_values(value))}; use copy_")
        return self._replace("fill_", value)

    def copy_(self, src: Any) -> Any:
        """The values of ``src``, broadcast to this shape and cast to this dtype; the gradient flows to ``src``."""
        return self._replace("copy_", src)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None) -> Any:
        """Fill with normal draws from the package's generator (``bl.manual_seed``) or ``generator``."""
        rng = (generator or default_generator).rng
        return self._replace("normal_", rng.standard_normal(self.data.shape) * float(std) + float(mean))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Generator | None = None) -> Any:
        """Fill with uniform draws on [a, b) from the package's generator (``bl.manual_seed``) or ``generator``."""
        rng = (generator or default_generator).rng
        return self._replace("uniform_", float(a) + (float(b) - float(a)) * rng.random(self.data.shape))

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``: in place; a recorded graph gets the earlier entries a zero gradient.

        A value that requires a gradient cannot be placed inside a recorded graph here; build the
        tensor out of place instead (``bl.where``, ``bl.cat``).
        """
        if _needs_grad(value) and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "x[index] = value: the value requires grad, and placing it into part of a tensor is not "
                "recorded here; build the tensor out of place instead (bl.where(mask, value, x) or bl.cat)"
            )
        key = _plain_index(index)
        if not (grad_mode.is_grad_enabled() and self.requires_grad):
            if not self.data.flags.writeable:
                raise RuntimeError("x[index] = value: this tensor's memory is read-only; work on a copy (x.clone())")
            self.data[key] = _values(value)
            _bump(self)
            return
        mask = np.zeros(self.data.shape, dtype=np.bool_)
        mask[key] = True
        full = self.data.copy()
        full[key] = _values(value)
        where, picked, fill = ops.OPS["where"], self._wrap(mask), self._wrap(full)
        self._in_place("x[index] = value", lambda t: t._apply(where, picked, fill, t), casting="unsafe")


def _spread(what: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` broadcast to ``shape``, or an error naming both shapes."""
    try:
        return np.broadcast_to(_values(values), shape)
    except ValueError:
        raise RuntimeError(f"{what}: values of shape {np.shape(_values(values))} do not broadcast to the tensor's "
                           f"shape {shape}") from None


def _values(value: Any) -> Any:
    return value.data if hasattr(value, "requires_grad") else value


def _plain_index(index: Any) -> Any:
    """An index with its tensors as arrays, as NumPy takes it."""
    if isinstance(index, tuple):
        return tuple(_values(i) for i in index)
    return _values(index)
