"""``from_torch(module)``: a PyTorch module as a backproplab network with the same parameters.

torch.fx traces the module's forward into a list of calls (layers, functions, tensor methods);
each call is looked up in ``table`` and run with backproplab's ops. Parameters keep PyTorch's
names (``0.weight``, ``fc1.bias``) and PyTorch's layouts: a Linear layer's weight stays
(out, in) and the layer computes x Wᵀ + b, so ``net["0.weight"]`` has the shape and the
entries a PyTorch user knows, and ``index=(1, 0)`` means the same weight in both.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from backproplab.bridge import table
from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module, Parameter
from backproplab.util.messages import unknown_name_message

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)')


def where_used(node: Any, root: Any = None) -> str:
    """'line 12 of model.py (fc2 = …)': the line of the model's code that made this call, if fx recorded it;
    for a layer of a Sequential, which item it is."""
    trace = node.meta.get("stack_trace") or getattr(node, "stack_trace", None) or ""
    found = [f for f in _FILE_LINE.findall(trace) if "/torch/" not in f[0].replace("\\", "/")]
    if found:
        path, line, _func, code = found[-1]
        return f"line {line} of {path.rsplit('/', 1)[-1]} ({code.strip()[:60]})"
    if node.op == "call_module" and root is not None:
        parent_path, _, item = node.target.rpartition(".")
        parent = root.get_submodule(parent_path) if parent_path else root
        if type(parent).__name__ == "Sequential":
            return f"item {item} of the Sequential{' ' + repr(parent_path) if parent_path else ''}"
    return f"the model's forward, at the step fx calls {node.name!r}"


def trace(module: Any) -> Any:
    """The fx graph of ``module``'s forward, with the lines of code that made each call."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise TorchBridgeError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module)
    except Exception as exc:  # fx raises several kinds (TraceError, TypeError, …) for the same reason
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TorchBridgeError(
            f"torch.fx cannot trace {type(module).__name__}.forward ({first[:160]}); the forward must run the same "
            "calls whatever the data (no if/for on tensor values), so backproplab can convert it") from None
    return torch.fx.GraphModule(tracer.root, graph)


class TorchNetwork(Module):
    """A PyTorch module converted by ``from_torch``: the same parameters, under PyTorch's names.

    ``net["0.weight"]`` is a parameter (a backproplab ``Parameter``, in PyTorch's layout);
    calling the network runs the traced forward with backproplab's ops, so every gradient can be
    explained. ``to_torch()`` gives the PyTorch module back with the network's current values.
    """

    def __init__(self, graph_module: Any, original: Any, dtype: Any) -> None:
        super().__init__()
        torch = require_torch()
        object.__setattr__(self, "_gm", graph_module)
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_functions", table.function_handlers(torch))
        object.__setattr__(self, "_layers", table.module_handlers(torch))
        self.dtype = np.dtype(dtype)
        for name, p in original.named_parameters():
            self._params[name] = Parameter(p.detach().cpu().numpy(), name, requires_grad=p.requires_grad)
        # a parameter shared by two layers (tied weights) is one parameter, under its first name
        object.__setattr__(self, "_names", {id(p): name for name, p in original.named_parameters()})
        self._check_supported()

    def __getitem__(self, name: str) -> Parameter:
        return self.parameter(name)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {tuple(p.shape)}" for n, p in self.named_parameters())
        return f"TorchNetwork({type(self._original).__name__}; {shapes})"

    # --- conversion ---------------------------------------------------------------------------------
    def _check_supported(self) -> None:
        """Refuse, before anything runs, every call the table does not have, naming it and its line."""
        for node in self._gm.graph.nodes:
            if node.op == "call_module":
                self._check_in_place(node, bool(getattr(self._gm.get_submodule(node.target), "inplace", False)))
            elif node.op == "call_function":
                self._check_in_place(node, node.kwargs.get("inplace") is True)
            if node.op == "call_module":
                layer = self._gm.get_submodule(node.target)
                if type(layer) not in self._layers:
                    raise TorchBridgeError(
                        f"{type(layer).__name__} (the layer {node.target!r}, used at "
                        f"{where_used(node, self._original)}) is not supported by backproplab; supported layers: "
                        f"{', '.join(self._layer_names())}")
            elif node.op == "call_function" and node.target not in self._functions:
                name = getattr(node.target, "__name__", None) or repr(node.target)
                module = getattr(node.target, "__module__", "") or ""
                raise TorchBridgeError(f"the function {module + '.' if module else ''}{name} (used at "
                                       f"{where_used(node)}) is not supported by backproplab")
            elif node.op == "call_method" and node.target not in table.ALL_METHODS:
                raise TorchBridgeError(f"the tensor method .{node.target}() (used at {where_used(node)}) is not "
                                       "supported by backproplab")

    def _check_in_place(self, node: Any, in_place: bool) -> None:
        """An in-place call is the same as a plain one only when nothing else reads its input afterwards."""
        first = node.args[0] if node.args else None
        if in_place and hasattr(first, "users") and len(first.users) > 1:
            raise TorchBridgeError(f"an in-place call (inplace=True, used at {where_used(node, self._original)}) "
                                   "overwrites a tensor the forward uses again; backproplab computes without "
                                   "overwriting, so use inplace=False there")

    def _layer_names(self) -> list[str]:
        return sorted(t.__name__ for t in self._layers)

    def _attribute(self, target: str) -> Any:
        value = self._gm
        for part in target.split("."):
            value = getattr(value, part)
        if id(value) in self._names:
            return self._params[self._names[id(value)]]
        return table.to_tensor(value)  # a buffer or a constant tensor

    def _layer_params(self, layer: Any) -> dict[str, Parameter]:
        return {name: self._params[self._names[id(p)]] for name, p in layer.named_parameters(recurse=False)}

    # --- running ------------------------------------------------------------------------------------
    def forward(self, *inputs: Any) -> Any:
        torch = require_torch()
        env: dict[Any, Any] = {}
        placeholders = iter(inputs)
        for node in self._gm.graph.nodes:
            if node.op == "placeholder":
                try:
                    value = next(placeholders)
                except StopIteration:
                    if node.args:  # a default value
                        value = node.args[0]
                    else:
                        raise TorchBridgeError(f"the model's forward needs the input {node.target!r}") from None
                env[node] = _input(value, self.dtype, node.target)
                continue
            if node.op == "output":
                return torch.fx.node.map_arg(node.args[0], lambda n: env[n])
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            env[node] = self._run(node, args, kwargs)
        raise TorchBridgeError("the traced forward has no output")  # pragma: no cover - fx always adds one

    def _run(self, node: Any, args: tuple, kwargs: dict) -> Any:
        try:
            if node.op == "get_attr":
                return self._attribute(node.target)
            args = tuple(table.to_tensor(a) for a in args)
            if node.op == "call_module":
                layer = self._gm.get_submodule(node.target)
                where = f"the layer {node.target!r} ({type(layer).__name__})"
                out = self._layers[type(layer)](layer, self._layer_params(layer), where, *args, **kwargs)
                if isinstance(out, Tensor) and out.op is not None and out.name is None:
                    out.named(_layer_output_name(node.target, layer))
                return out
            if node.op == "call_method":
                return table.call_method(node.target, args[0], args[1:], kwargs)
            return self._functions[node.target](*args, **_plain_kwargs(kwargs))
        except TorchBridgeError as exc:
            raise TorchBridgeError(f"{exc} (at {where_used(node, self._original)})") from None
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
            raise TorchBridgeError(f"{what} failed at {where_used(node, self._original)}: "
                                   f"{str(exc).splitlines()[0][:200]}") from None

    def to_torch(self) -> Any:
        """The original PyTorch module (a copy) with this network's current parameter values."""
        torch = require_torch()
        model = copy.deepcopy(self._original)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(np.array(self._params[name].data)))
        return model


def _plain_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """PyTorch's settings that change nothing here: in-place (checked before: its input is read by nothing
    else, so the values are the same), the warning's stack level, and dtype=None."""
    if kwargs.get("dtype") is not None:
        raise TorchBridgeError("dtype= inside the forward is not supported; convert the model with .double() "
                               "or .float() instead")
    return {k: v for k, v in kwargs.items() if k not in ("inplace", "_stacklevel", "dtype")}


def _layer_output_name(target: str, layer: Any) -> str:
    kind = type(layer).__name__.lower()
    return target if target.isidentifier() else f"{kind}{target.replace('.', '_')}"


def _input(value: Any, dtype: np.dtype, name: str) -> Any:
    if table.is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, list, tuple, float, int)):
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            arr = arr.astype(dtype, copy=False)
        return Tensor(arr, name="x" if name in ("x", "input", "inputs") else name)
    return value


def from_torch(module: Any) -> TorchNetwork:
    """A PyTorch module as a backproplab network with the same parameters, names and layouts.

    The forward is traced with torch.fx, so it must run the same calls whatever the data.
    Parameters are named as ``module.named_parameters()`` names them and keep PyTorch's shapes:
    ``Linear.weight`` stays (out, in) and the layer computes x Wᵀ + b, so ``net["0.weight"]``
    and ``index=(1, 0)`` mean the entry a PyTorch user means. A layer, function or method that
    backproplab does not have is refused with its name and the line of code that uses it.
    """
    torch = require_torch()
    gm = trace(module)
    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) > 1:
        raise TorchBridgeError(f"the model mixes parameter dtypes ({', '.join(sorted(map(str, dtypes)))}); "
                               "use model.double() or model.float() first")
    dtype = dtypes.pop() if dtypes else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise TorchBridgeError(f"the model's parameters are {dtype}; backproplab works in float32 or float64 "
                               "(use model.double() or model.float())")
    return TorchNetwork(gm, module, np.float64 if dtype == torch.float64 else np.float32)


def parameter_names(net: Module) -> list[str]:
    return [n for n, _ in net.named_parameters()]


def unknown_parameter(net: Module, name: str) -> str:
    return unknown_name_message("parameter", name, parameter_names(net))
