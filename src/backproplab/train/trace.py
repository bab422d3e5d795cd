"""What a training run did, step by step: the record every report, plot and explanation reads.

Values are kept exact (floats, or arrays for matrix parameters); rounding happens only
when something is displayed. A run of many steps is stored compactly, one array per
parameter with a row per iteration (see :class:`Iterations`), so memory grows by the
numbers themselves and not by Python objects. Traces are saved as JSON, never pickled,
and written iteration by iteration; :meth:`Trace.from_json` is the one loader and checks
every field (see ``trace_json``).
"""

from __future__ import annotations

import bisect
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from typing import IO, Any, overload

import numpy as np

from backproplab.train.trace_io import TRACE_FORMAT, TraceError, check_iteration, check_trace, parse_json
from backproplab.util.numbers import trace_html, trace_repr


def strict_dumps(value: Any) -> str:
    """One value as JSON, refusing NaN and infinity (a trace says those in words, never as bare NaN)."""
    return json.dumps(value, allow_nan=False)


__all__ = ["Final", "Iteration", "Iterations", "Trace", "TraceError", "exact", "scalar", "to_json_value"]

Value = Any  # a float for a scalar parameter, an ndarray otherwise
CHUNK_BYTES = 1 << 20  # rows are stored in blocks of at most about this size, so growing never copies
FIRST_ROWS = 16  # rows of a column's first block when how many will come is not known; each next block doubles


def exact(value: Any) -> Value:
    """A float for a single number, an array copy otherwise."""
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else np.array(arr, dtype=np.float64 if arr.dtype.kind != "f" else arr.dtype)


def scalar(value: Any) -> float | None:
    """A single number as a float; None for a tensor with more entries."""
    arr = np.asarray(value)
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def single(value: Any) -> float:
    """A value known to be one number (a float, a 0-d array, a scalar parameter's value) as a float."""
    x = scalar(value)
    if x is None:
        raise ValueError(f"expected a single number, got an array of shape {np.shape(value)}")
    return x


def to_json_value(value: Value) -> Any:
    """Plain JSON types; NaN becomes null and infinities "Infinity"/"-Infinity" (strict JSON)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and np.all(np.isfinite(value)):
            return value.tolist()  # the common case: no element needs a second look
        value = value.tolist()
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


@dataclass
class Iteration:
    """One step: the state before the update, and the update itself."""

    step: int  # 0-based; people see iteration step + 1
    params: dict[str, Value]  # every parameter, before the update
    predictions: Value
    loss: float
    gradients: dict[str, Value]  # of the optimized parameters
    step_sizes: dict[str, Value]  # old − new, so new = old − step size
    lr: float | None = None  # the learning rate this step used (a scheduler may change it)

    @property
    def iteration(self) -> int:
        """The 1-based number people see."""
        return self.step + 1

    def new_value(self, name: str) -> Value:
        """The parameter's value after this step."""
        return self.params[name] - self.step_sizes[name]

    def to_dict(self) -> dict[str, Any]:
        d = {
            "iteration": self.step + 1,  # as people count them: iteration 1 is the starting values
            "params": to_json_value(self.params),
            "predictions": to_json_value(self.predictions),
            "loss": to_json_value(self.loss),
            "gradients": to_json_value(self.gradients),
            "step_sizes": to_json_value(self.step_sizes),
        }
        if self.lr is not None:
            d["lr"] = to_json_value(self.lr)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Iteration:
        return cls(**check_iteration(d, "iteration"))


class _Column:
    """One value per row (a number, or an array of a fixed shape), in blocks that are never copied.

    Blocks are sized by what is needed: the rows ``expected`` (as a run knows from its steps), else
    a small first block and each next one twice as large, up to about CHUNK_BYTES. So thousands of
    columns of a short run take only their numbers, not a megabyte each."""

    def __init__(self, sample: Value, expected: int | None = None) -> None:
        arr = np.asarray(sample)
        self.shape = arr.shape
        self.dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        self.most_rows = max(1, CHUNK_BYTES // max(1, self.dtype.itemsize * max(1, arr.size)))
        self.expected = expected
        self.chunks: list[np.ndarray] = []
        self.starts: list[int] = []  # the row each block starts at
        self.capacity = 0
        self.n = 0

    def _next_rows(self) -> int:
        """The rows of the next block: what is still expected, else twice the last block."""
        if self.expected is not None and self.n < self.expected:
            return min(self.most_rows, self.expected - self.n)
        last = len(self.chunks[-1]) if self.chunks else FIRST_ROWS // 2
        return min(self.most_rows, max(FIRST_ROWS, 2 * last))

    def nbytes(self) -> int:
        """Bytes the column's blocks hold (used or not)."""
        return sum(chunk.nbytes for chunk in self.chunks)

    def fits(self, value: Value) -> bool:
        if value is None or isinstance(value, (str, bool, dict)):
            return False
        return np.shape(value) == self.shape

    def append(self, value: Value) -> None:
        if self.n == self.capacity:
            rows = self._next_rows()
            self.chunks.append(np.empty((rows, *self.shape), dtype=self.dtype))
            self.starts.append(self.n)
            self.capacity += rows
        self.chunks[-1][self.n - self.starts[-1]] = value
        self.n += 1

    def get(self, i: int) -> Value:
        k = bisect.bisect_right(self.starts, i) - 1
        row = self.chunks[k][i - self.starts[k]]
        if not self.shape:
            return float(row)
        view = row.view()
        view.flags.writeable = False  # the record of the run: read it, copy it to change it
        return view

    def all(self) -> np.ndarray:
        """Every row as one new array."""
        if not self.chunks:
            return np.empty((0, *self.shape), dtype=self.dtype)
        return np.concatenate(self.chunks)[: self.n]


class Iterations(Sequence):
    """The iterations of a run as a sequence of :class:`Iteration`, stored column by column.

    Each item is made on demand from the stored rows, so ``trace.iterations[k].params["b3"]``
    works as on a list while a long run costs only its numbers. Iterations that do not share
    one layout (other names or shapes) are kept as objects instead.
    """

    def __init__(self, items: Sequence[Iteration] = (), expected: int | None = None) -> None:
        self._expected = len(items) if expected is None and isinstance(items, Sized) and len(items) else expected
        self._objects: list[Iteration] | None = None
        self._names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
        self._cols: dict[str, _Column] = {}
        self._n = 0
        self._last: tuple[int, Iteration] | None = None  # the item made last: asked again, it is not rebuilt
        for it in items:
            self.append(it)

    def __len__(self) -> int:
        return len(self._objects) if self._objects is not None else self._n

    @overload
    def __getitem__(self, k: int) -> Iteration: ...

    @overload
    def __getitem__(self, k: slice) -> list[Iteration]: ...

    def __getitem__(self, k: int | slice) -> Iteration | list[Iteration]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self)
        i = int(k) + n if k < 0 else int(k)
        if not 0 <= i < n:
            raise IndexError(f"iteration index {k} out of range for a trace of {n} iteration(s)")
        if self._objects is not None:
            return self._objects[i]
        if self._last is None or self._last[0] != i:  # `iterations[-1].gradients[name]` for every name costs one row
            self._last = (i, self._make(i))
        return self._last[1]

    def _make(self, i: int) -> Iteration:
        """Iteration ``i`` from the stored rows."""
        pn, gn, sn = self._names or ((), (), ())
        c = self._cols
        lr = c["lr"].get(i)
        return Iteration(
            step=int(c["step"].get(i)), params={n: c["p:" + n].get(i) for n in pn},
            predictions=c["predictions"].get(i), loss=c["loss"].get(i),
            gradients={n: c["g:" + n].get(i) for n in gn}, step_sizes={n: c["s:" + n].get(i) for n in sn},
            lr=None if math.isnan(lr) else lr,
        )

    def __iter__(self) -> Iterator[Iteration]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"<{len(self)} iteration(s)>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Iterations, list)):
            return len(self) == len(other) and all(
                json.dumps(a.to_dict()) == json.dumps(b.to_dict()) for a, b in zip(self, other))
        return NotImplemented

    def record(self, step: int, params: dict[str, Value], predictions: Value, loss: float,
               gradients: dict[str, Value], step_sizes: dict[str, Value], lr: float | None = None) -> None:
        """Store one iteration's numbers (copied into the columns; no Iteration object is made)."""
        names = (tuple(params), tuple(gradients), tuple(step_sizes))
        row = {"step": step, "loss": loss, "lr": math.nan if lr is None else lr, "predictions": predictions}
        row.update({"p:" + n: v for n, v in params.items()})
        row.update({"g:" + n: v for n, v in gradients.items()})
        row.update({"s:" + n: v for n, v in step_sizes.items()})
        if self._objects is None and self._n == 0:
            try:
                self._cols = {key: _Column(v, self._expected) for key, v in row.items()}
                self._names = names
            except (TypeError, ValueError):
                self._objects = []
        if self._objects is None and (names != self._names or not all(
                c.fits(row[key]) for key, c in self._cols.items())):
            self._objects = list(self)  # another layout: keep objects from here on
        if self._objects is not None:
            self._objects.append(Iteration(step, dict(params), predictions, loss, dict(gradients),
                                           dict(step_sizes), lr))
            return
        for key, c in self._cols.items():
            c.append(row[key])
        self._n += 1

    def expect(self, rows: int) -> None:
        """Say how many iterations will be recorded at most, before the first: each column is then one
        block of exactly that size (up to about CHUNK_BYTES a block), so the memory estimate is what is taken."""
        if self._n == 0 and self._objects is None:
            self._expected = max(1, int(rows))

    def nbytes(self) -> int:
        """Bytes the stored rows take (the blocks, used or not); 0 for iterations kept as objects."""
        return sum(c.nbytes() for c in self._cols.values()) if self._objects is None else 0

    def append(self, it: Iteration) -> None:
        self.record(it.step, it.params, it.predictions, it.loss, it.gradients, it.step_sizes, it.lr)

    def column(self, kind: str, name: str = "") -> list[Value]:
        """Every iteration's value of one field (``"loss"``, or ``"params"`` and a name) as a list."""
        if self._objects is not None:
            if kind in ("params", "gradients", "step_sizes"):
                return [getattr(it, kind)[name] for it in self._objects]
            return [getattr(it, kind) for it in self._objects]
        key = {"params": "p:", "gradients": "g:", "step_sizes": "s:"}.get(kind, "") + (name or kind)
        if self._n == 0:
            return []
        if key not in self._cols:
            raise KeyError(name or kind)
        c = self._cols[key]
        return c.all().tolist() if not c.shape else [c.get(i) for i in range(self._n)]


@dataclass
class Final:
    """Where the run ended and why."""

    params: dict[str, Value]
    loss: float
    steps: int
    converged: bool
    stopped_by: str  # "min_step", "max_steps", "diverged" or "interrupted"
    predictions: Value = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "params": to_json_value(self.params),
            "loss": to_json_value(self.loss),
            "steps": self.steps,
            "converged": self.converged,
            "stopped_by": self.stopped_by,
        }
        if self.predictions is not None:
            d["predictions"] = to_json_value(self.predictions)
        if self.message:
            d["message"] = self.message
        return d


@dataclass
class Trace:
    """A whole run: settings, one :class:`Iteration` per recorded step, and the :class:`Final` state.

    With ``keep_every`` k > 1 only every k-th iteration (and the last) was recorded; each
    recorded iteration's ``step`` says which one it is.
    """

    loss: str
    learning_rate: float
    optimize: list[str]
    optimizer: str = "gradient_descent"
    iterations: Iterations = field(default_factory=Iterations)
    final: Final | None = None
    inputs: Value = None  # the x the run was fitted on (kept for plots)
    targets: Value = None
    keep_every: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.iterations, Iterations):
            self.iterations = Iterations(self.iterations)

    def _head(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "loss": self.loss,
            "learning_rate": self.learning_rate,
            "optimize": list(self.optimize),
            "optimizer": self.optimizer,
            "format": TRACE_FORMAT,
        }
        if self.keep_every != 1:
            d["keep_every"] = self.keep_every
        return d

    def _tail(self) -> dict[str, Any]:
        d: dict[str, Any] = {"final": self.final.to_dict() if self.final else None}
        if self.inputs is not None:
            d["data"] = {"x": to_json_value(self.inputs), "y": to_json_value(self.targets)}
        return d

    def to_dict(self) -> dict[str, Any]:
        return {**self._head(), "iterations": [it.to_dict() for it in self.iterations], **self._tail()}

    def write_json(self, out: IO[str], indent: int | None = None,
                   dumps: Callable[[Any], str] | None = None) -> None:
        """Write the trace as JSON, one iteration at a time (a long run never becomes one string).

        Without ``indent`` the text is exactly ``json.dumps(trace.to_dict())``; with it, each
        field and each iteration is on a line of its own. ``dumps`` writes one value; it must give
        what ``json.dumps(value, allow_nan=False)`` gives (a faster encoder can be passed in).
        """
        dumps = dumps or strict_dumps
        nl, pad = ("\n", " " * indent) if indent is not None else ("", "")
        sep = "," + nl if indent is not None else ", "

        def fields(d: dict[str, Any]) -> str:
            return sep.join(f"{pad}{json.dumps(k)}: {dumps(v)}" for k, v in d.items())

        out.write("{" + nl + fields(self._head()) + sep + f'{pad}"iterations": [' + nl)
        for i, it in enumerate(self.iterations):
            if i:
                out.write(sep)
            out.write(pad * 2 + dumps(it.to_dict()))
        out.write(nl + pad + "]" + sep + fields(self._tail()) + nl + "}")

    def to_json(self, indent: int | None = None) -> str:
        buf = io.StringIO()
        self.write_json(buf, indent)
        return buf.getvalue()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        """A trace from its JSON form, every field checked; a :class:`TraceError` names the first bad one."""
        d = check_trace(d)
        final = d.pop("final")
        return cls(iterations=Iterations([Iteration(**it) for it in d.pop("iterations")]),
                   final=Final(**final) if final is not None else None, **d)

    @classmethod
    def from_json(cls, text: str | bytes) -> Trace:
        """The one loader for saved traces: a :class:`TraceError` (a ValueError) names any bad field."""
        return cls.from_dict(parse_json(text))

    def __repr__(self) -> str:
        return trace_repr(self)

    def _repr_html_(self) -> str:
        return trace_html(self)

    def values(self, name: str) -> list[Value]:
        """The parameter's value at each iteration, then its final value: the descent path."""
        return self.iterations.column("params", name) + ([self.final.params[name]] if self.final else [])

    def losses(self) -> list[float]:
        return self.iterations.column("loss") + ([self.final.loss] if self.final else [])
