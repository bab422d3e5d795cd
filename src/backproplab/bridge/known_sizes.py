"""Tracing a forward with example inputs, so that a size can decide a truth value or an index.

torch.fx alone traces without data: ``t = idx.size(1)`` is a step of the graph, not a number, so
``assert t <= block_size`` or ``mask[:T, :T]`` on a plain tensor cannot run. Here every step also
computes its value for the example inputs. A value that comes from sizes alone (``x.size()``,
``x.shape[1] // n_head``), never from a tensor's entries, may then be a truth value (an assert, an
``if`` on sizes) or an index (a slice, ``range(T)``), with the example's value; the converted network
is then for inputs of the example's shapes. Everything else stays a step of the graph, as fx traces it:
sizes in calls (``view(B, T, C)``, ``math.sqrt(k.size(-1))``) work for any shape, and ``int()``,
``float()``, ``len()``, a loop over a tensor and a branch on a tensor's entries are refused as fx refuses
them (the size itself is a number to PyTorch: ``int()`` is not needed). This module imports torch: it
is imported only when a model is converted.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx

UNKNOWN = object()
"""The value of a step PyTorch could not compute on the example (inputs that do not fit the model): the step and
those after it are traced as fx traces them, and the converted network says what does not fit."""
SIZE_METHODS = frozenset({"size", "dim", "numel", "nelement", "ndimension"})
"""Tensor methods whose result depends on the tensor's shape only."""
SIZE_ATTRIBUTES = frozenset({"shape", "ndim", "device", "dtype", "is_cuda"})
"""Tensor attributes that depend on its shape and kind only."""


class KnownProxy(torch.fx.Proxy):
    """A step of the traced forward that also holds its value for the example inputs."""

    def __getattr__(self, name: str) -> Any:
        return KnownAttribute(self, name)

    def _known(self) -> Any:
        return self.node.meta.get("value")

    def _sizes_only(self) -> bool:
        return bool(self.node.meta.get("sizes_only"))

    def __bool__(self) -> bool:
        """A truth value of sizes (``assert t <= block_size``): the example's; of a tensor's entries: refused."""
        if not self._sizes_only():
            return self.tracer.to_bool(self)
        self.tracer.note_number()  # type: ignore[attr-defined]
        return bool(self._known())

    def __index__(self) -> int:
        """A size as an index (``mask[:T]``, ``range(T)``): the example's; a tensor's entry: refused."""
        if not self._sizes_only():
            raise TypeError("slice indices must be integers, not 'Proxy'")
        self.tracer.note_number()  # type: ignore[attr-defined]
        return int(self._known())

    def __format__(self, spec: str) -> str:
        """A size in a message (f"length {t}"): the example's number; anything else as fx writes it."""
        return format(self._known(), spec) if self._sizes_only() else format(repr(self), spec)

    def __len__(self) -> int:
        """``len(sentence)``: the example's first size (a tensor's length is its shape's, whatever its entries)."""
        value = self._known()
        if value is None or value is UNKNOWN:
            return super().__len__()
        self.tracer.note_number()  # type: ignore[attr-defined]
        return len(value)

    def __int__(self) -> int:
        raise TypeError("int() argument must be a string, a bytes-like object or a real number, not 'Proxy'")

    def __float__(self) -> float:
        raise TypeError("float() argument must be a string or a real number, not 'Proxy'")

    def __iter__(self) -> Iterator[Any]:
        """The pieces of a tuple (``q, k, v = x.split(n, dim=2)``, ``B, T, C = x.size()``) as steps of the graph;
        a loop over a tensor is refused, as fx refuses it."""
        value = self._known()
        if not isinstance(value, (tuple, list)):
            return self.tracer.iter(self)
        return iter([self[i] for i in range(len(value))])  # type: ignore[index]  # fx defines [] on proxies


class KnownAttribute(torch.fx.proxy.Attribute, KnownProxy):
    """``x.shape`` or ``x.split``: a step only when used, as in fx, and with its value known."""


class UserLinesTracer(torch.fx.Tracer):
    """fx's tracer, recording the lines of the forward behind each step (as messages quote them).

    fx's own recording (``record_stack_traces``) symbolises the stack with its compiler's machinery, which
    takes about a second to import on a first call; Python's own stack gives the same lines: from the first
    ``forward`` on, without PyTorch's files."""

    def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
        node = super().create_node(*args, **kwargs)
        if not node.stack_trace:
            frames = traceback.extract_stack()
            first = next((i for i, f in enumerate(frames) if f.name == "forward"), len(frames))
            kept = [f for f in frames[first:] if "/torch/" not in f.filename.replace("\\", "/")]
            node.stack_trace = "".join(traceback.StackSummary.from_list(kept).format()).strip()
        return node


class ExampleTracer(UserLinesTracer):
    """fx's tracer, computing every step's value for the example inputs as it goes."""

    proxy_buffer_attributes = True  # self.bias[:, :, :T, :T] stays a step of the graph, for any T

    def __init__(self, values: dict[str, Any], where: Callable[[], str]) -> None:
        super().__init__()
        self.values = values  # the forward's arguments by name: the example inputs and the fixed defaults
        self.where = where  # the line of the user's code being run, as messages quote it
        self.numbers: list[str] = []  # where a size became a Python number
        self.computing = False  # True while a step runs on the example's values: no step is recorded then

    def proxy(self, node: torch.fx.Node) -> KnownProxy:
        return KnownProxy(node, self)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        """A module's parameter: a step of the graph, except inside a layer that runs on the example."""
        return attr_val if self.computing else super().getattr(attr, attr_val, parameter_proxy_cache)

    def call_module(self, m: Any, forward: Any, args: tuple, kwargs: dict) -> Any:
        """A layer: a step of the graph, except inside a layer that runs on the example."""
        return forward(*args, **kwargs) if self.computing else super().call_module(m, forward, args, kwargs)

    def note_number(self) -> None:
        """Remember the line of the user's code where a size became a plain number."""
        line = self.where()
        if line and line not in self.numbers:
            self.numbers.append(line)

    def create_node(self, kind: str, target: Any, args: tuple, kwargs: dict, name: str | None = None,
                    type_expr: Any = None) -> torch.fx.Node:
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        if kind != "output":
            node.meta["value"] = self._value(node)
            node.meta["sizes_only"] = _sizes_only(node)
        return node

    def _value(self, node: torch.fx.Node) -> Any:
        """What the step gives for the example inputs (run without recording PyTorch's gradients)."""
        if node.op == "placeholder":
            default = node.args[0] if node.args else None
            return self.values.get(str(node.target), default)
        if any(n.meta.get("value") is UNKNOWN for n in node.all_input_nodes):
            return UNKNOWN
        args = torch.fx.node.map_arg(node.args, lambda n: n.meta["value"])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: n.meta["value"])
        self.computing = True
        try:
            with torch.no_grad():
                return self._run(node, args, kwargs)
        except Exception:  # noqa: BLE001 - the converted network says what does not fit, as without an example
            return UNKNOWN
        finally:
            self.computing = False

    def _run(self, node: torch.fx.Node, args: Any, kwargs: Any) -> Any:
        if node.op == "get_attr":
            value = self.root
            for part in str(node.target).split("."):
                value = getattr(value, part)
            return value
        if node.op == "call_method":
            return getattr(args[0], str(node.target))(*args[1:], **kwargs)
        if node.op == "call_module":
            return self.root.get_submodule(str(node.target))(*args, **kwargs)
        return node.target(*args, **kwargs)  # type: ignore[operator]


def _sizes_only(node: torch.fx.Node) -> bool:
    """True when the step's value is not a tensor and comes from sizes alone, never from a tensor's entries."""
    if isinstance(node.meta["value"], torch.Tensor) or node.meta["value"] is UNKNOWN or node.op in (
            "placeholder", "get_attr"):
        return False
    if node.op == "call_method" and node.target in SIZE_METHODS:
        return True
    if node.target is getattr and len(node.args) > 1 and node.args[1] in SIZE_ATTRIBUTES:
        return True
    return all(n.meta.get("sizes_only", False) for n in node.all_input_nodes)

