"""``from_torch(module)``: a PyTorch module as a backproplab network with the same parameters.

torch.fx traces the module's forward into a list of calls (layers, functions, tensor methods);
each call is looked up in ``table`` and run with backproplab's ops. Parameters keep PyTorch's
names (``0.weight``, ``fc1.bias``) and PyTorch's layouts: a Linear layer's weight stays
(out, in) and the layer computes x Wᵀ + b, so ``net["0.weight"]`` has the shape and the
entries a PyTorch user knows, and ``index=(1, 0)`` means the same weight in both.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from backproplab.bridge import constants, in_place, recurrent_layers, table
from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.bridge.tracing import forward_arguments, trace, where_used
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module, Parameter
from backproplab.util.messages import unknown_name_message


class TorchNetwork(Module):
    """A PyTorch module converted by ``from_torch``: the same parameters, under PyTorch's names.

    ``net["0.weight"]`` is a parameter (a backproplab ``Parameter``, in PyTorch's layout);
    calling the network runs the traced forward with backproplab's ops, so every gradient can be
    explained. ``to_torch()`` gives the PyTorch module back with the network's current values.
    """

    # set in __init__ with object.__setattr__: held by the network, not registered as its parts
    _gm: Any  # the torch.fx GraphModule of the traced forward
    _original: Any  # the PyTorch module
    _fixed: dict[str, Any]
    _functions: dict[Any, table.Handler]
    _layers: dict[type, table.Handler]
    _constructors: frozenset  # torch.arange, torch.ones, …: their dtype= is PyTorch's, kept
    _names: dict[int, str]  # PyTorch parameter id -> its name
    _sizes: tuple[tuple, list[str]] | None  # the example's input shapes and the lines that use sizes as numbers
    _labels: dict[str, str]  # fx node name of a recurrent layer's call -> what follows its states' names

    def __init__(self, graph_module: Any, original: Any, dtype: Any, fixed: dict[str, Any] | None = None) -> None:
        super().__init__()
        torch = require_torch()
        object.__setattr__(self, "_gm", graph_module)
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_fixed", dict(fixed or {}))  # optional arguments held at their defaults
        object.__setattr__(self, "_sizes", None)
        object.__setattr__(self, "_functions", table.function_handlers(torch))
        object.__setattr__(self, "_layers", table.module_handlers(torch))
        object.__setattr__(self, "_constructors", frozenset(constants.constructors(torch)))
        object.__setattr__(self, "_labels", _recurrent_labels(graph_module, tuple(recurrent_layers.handlers(torch))))
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
        """Refuse, before anything runs, every call the table does not have, naming each and its line, and
        saying what the table has."""
        unsupported = []
        for node in self._gm.graph.nodes:
            if node.op == "call_module":
                self._check_in_place(node, bool(getattr(self._gm.get_submodule(node.target), "inplace", False)))
            elif node.op == "call_function":
                self._check_in_place(node, node.kwargs.get("inplace") is True)
            elif node.op == "call_method" and node.target in in_place.METHODS:
                refused = in_place.problem(node, where_used(node))
                if refused:
                    raise TorchBridgeError(refused)
            problem = self._unsupported(node)
            if problem:
                unsupported.append(problem)
        if unsupported:
            raise TorchBridgeError(f"{'; '.join(unsupported)} by backproplab; supported layers: "
                                   f"{', '.join(self._layer_names())}; functions: "
                                   f"{', '.join(table.function_names(self._functions))}; tensor methods: "
                                   f"{', '.join('.' + m for m in sorted(table.ALL_METHODS))}")

    def _unsupported(self, node: Any) -> str:
        """'' for a call the table has, else what the call is, where it is used, and 'is not supported'."""
        if node.op == "call_module":
            layer = self._gm.get_submodule(node.target)
            if type(layer) not in self._layers:
                return (f"{type(layer).__name__} (the layer {node.target!r}, used at "
                        f"{where_used(node, self._original)}) is not supported")
        elif node.op == "call_function" and node.target not in self._functions:
            return f"the function {table.function_name(node.target)} (used at {where_used(node)}) is not supported"
        elif node.op == "call_method" and not in_place.handled(node.target):
            return f"the tensor method .{node.target}() (used at {where_used(node)}) is not supported"
        return ""

    def _check_in_place(self, node: Any, in_place: bool) -> None:
        """An in-place call is the same as a plain one only when nothing else reads its input afterwards."""
        first = node.args[0] if node.args else None
        if in_place and first is not None and hasattr(first, "users") and len(first.users) > 1:
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
        # with its inner layers' (out_proj.weight of a MultiheadAttention), which fx does not trace into
        return {name: self._params[self._names[id(p)]] for name, p in layer.named_parameters()}

    # --- running ------------------------------------------------------------------------------------
    def forward(self, *inputs: Any) -> Any:
        torch = require_torch()
        env: dict[Any, Any] = {}
        self._check_inputs(inputs)
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
            if node.op == "call_method" and node.target in in_place.METHODS:
                env[node.args[0]] = env[node]  # the changed tensor, for every later use (see bridge.in_place)
        raise TorchBridgeError("the traced forward has no output")  # pragma: no cover - fx always adds one

    def _check_sizes(self, inputs: tuple) -> None:
        """Inputs of other shapes than the example's, when the forward used the example's sizes as plain numbers
        (an assert, an if, an index): refused, since the graph holds the example's branch."""
        if self._sizes is None:
            return
        shapes, lines = self._sizes
        given = tuple(_shape(a) for a in inputs)
        if given[:len(shapes)] != shapes:
            raise TorchBridgeError(
                f"the network was converted with example inputs of shape {', '.join(map(str, shapes))}, and the "
                f"forward uses their sizes as plain numbers (at {lines[0]}); for inputs of shape "
                f"{', '.join(map(str, given))}, convert it with from_torch(model, example=...) of that shape")

    def _check_inputs(self, inputs: tuple) -> None:
        """More inputs than the graph takes: name the optional arguments held at their defaults."""
        self._check_sizes(inputs)
        taken = sum(node.op == "placeholder" for node in self._gm.graph.nodes)
        if len(inputs) <= taken:
            return
        arguments = [p.name for p in forward_arguments(self._original)]
        extra = arguments[taken:len(inputs)] or [f"input {taken + 1}"]
        fixed = ", ".join(f"{k}={v!r}" for k, v in self._fixed.items())
        raise TorchBridgeError(
            f"the network takes {taken} input(s) but was given {len(inputs)}: it was converted with "
            f"{fixed or 'no optional arguments'} (the forward's defaults); to pass {', '.join(extra)}, convert it "
            f"with from_torch(model, inputs={arguments[:len(inputs)]!r})")

    def _run(self, node: Any, args: tuple, kwargs: dict) -> Any:
        try:
            if node.op == "get_attr":
                return self._attribute(node.target)
            args = tuple(table.to_tensor(a) for a in args)
            if node.op == "call_module":
                layer = self._gm.get_submodule(node.target)
                where = f"the layer {node.target!r} ({type(layer).__name__})"
                label = {"label": self._labels[node.name]} if node.name in self._labels else {}
                out = self._layers[type(layer)](layer, self._layer_params(layer), where, *args, **kwargs, **label)
                if isinstance(out, Tensor) and out.name is None and all(out is not a for a in args):
                    out.named(_layer_output_name(node.target, layer))
                return out
            if node.op == "call_method":
                return table.call_method(in_place.out_of_place(node.target), args[0], args[1:], kwargs)
            settings = kwargs if node.target in self._constructors else _plain_kwargs(kwargs)
            return self._functions[node.target](*args, **settings)
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
    """'fc1' for the layer 'fc1', 'stack_0' for 'stack.0', 'linear0' for the Sequential's item '0'."""
    kind = type(layer).__name__.lower()
    flat = target.replace(".", "_")
    return flat if flat.isidentifier() else f"{kind}{flat}"


def is_array(value: Any) -> bool:
    """A torch tensor, a NumPy array or a backproplab tensor."""
    return table.is_torch_tensor(value) or isinstance(value, (np.ndarray, Tensor))


def is_input(value: Any) -> bool:
    """An array, or a tuple of them (an LSTM's state (h0, c0)): one input of the forward."""
    return is_array(value) or (isinstance(value, tuple) and bool(value) and all(is_input(v) for v in value))


def _input(value: Any, dtype: np.dtype, name: str) -> Any:
    """One input of the forward as a constant tensor; a tuple of arrays (an LSTM's (h0, c0)) stays a tuple."""
    if isinstance(value, tuple) and is_input(value):
        return tuple(_input(v, dtype, f"{name}{k}") for k, v in enumerate(value))
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


def from_torch(module: Any, *, inputs: list[str] | None = None, example: Any = None) -> TorchNetwork:
    """A PyTorch module as a backproplab network with the same parameters, names and layouts.

    The forward is traced with torch.fx, so it must run the same calls whatever the data.
    Parameters are named as ``module.named_parameters()`` names them and keep PyTorch's shapes:
    ``Linear.weight`` stays (out, in) and the layer computes x Wᵀ + b, so ``net["0.weight"]``
    and ``index=(1, 0)`` mean the entry a PyTorch user means. A layer, function or method that
    backproplab does not have is refused with its name and the line of code that uses it.
    ``inputs`` names the forward's arguments the network takes (default: those without a default
    value); the others keep their defaults, so ``forward(self, idx, targets=None)`` converts as the
    call ``model(idx)`` runs, and ``inputs=["idx", "targets"]`` as ``model(idx, targets)``.
    ``example`` is the input of one call (a tensor, or a tuple of the inputs): traced with it, the
    forward's sizes are plain numbers (``math.sqrt(k.size(-1))``, ``assert t <= block_size``), and
    where the forward needs them as numbers the network takes inputs of the example's shapes.
    """
    torch = require_torch()
    dtype = _model_dtype(module)
    values = None if example is None else _example(example, dtype)
    if values is not None and inputs is None and len(values) > 1:
        inputs = [p.name for p in forward_arguments(module)][:len(values)]
    traced = trace(module, inputs, values)
    net = TorchNetwork(traced.graph_module, module, np.float64 if dtype == torch.float64 else np.float32,
                       traced.fixed)
    if traced.numbers:
        object.__setattr__(net, "_sizes", (tuple(_shape(v) for v in values or ()), traced.numbers))
    return net


def _model_dtype(module: Any) -> Any:
    """The torch dtype of the model's parameters (float64 without any), or one line saying why it will not do."""
    torch = require_torch()
    dtypes = {p.dtype for p in module.parameters()} if isinstance(module, torch.nn.Module) else set()
    if len(dtypes) > 1:
        raise TorchBridgeError(f"the model mixes parameter dtypes ({', '.join(sorted(map(str, dtypes)))}); "
                               "use model.double() or model.float() first")
    dtype = dtypes.pop() if dtypes else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise TorchBridgeError(f"the model's parameters are {dtype}; backproplab works in float32 or float64 "
                               "(use model.double() or model.float())")
    return dtype


def _example(example: Any, dtype: Any) -> tuple:
    """The example inputs as torch tensors, floating ones in the model's dtype. An input not given has no value
    while tracing: what depends on it is traced as fx traces it, and the network asks for it when called."""
    items = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    return tuple(_torch_value(item, dtype) for item in items)


def _recurrent_labels(graph_module: Any, kinds: tuple[type, ...]) -> dict[str, str]:
    """What each call of a recurrent layer puts after its states' names, by fx node, when the forward makes more
    than one such call (h3_encoder, h3_decoder); none for one call, whose states are h1, h2, … as tutorials write."""
    calls = [node.name for node in graph_module.graph.nodes
             if node.op == "call_module" and isinstance(graph_module.get_submodule(node.target), kinds)]
    return {name: f"_{name}" for name in calls} if len(calls) > 1 else {}


def _torch_value(item: Any, dtype: Any) -> Any:
    """One example input as PyTorch takes it: a tensor (floating ones in ``dtype``), a tuple of them (an RNN's
    state), or the value itself when it is no array (None, a number of settings)."""
    torch = require_torch()
    if isinstance(item, (tuple, list)) and is_input(tuple(item)):
        return tuple(_torch_value(i, dtype) for i in item)
    if isinstance(item, Tensor):
        item = item.data
    if not torch.is_tensor(item) and not isinstance(item, (np.ndarray, list, tuple)):
        return item
    value = item.detach() if torch.is_tensor(item) else torch.as_tensor(np.asarray(item))
    return value.to(dtype) if value.is_floating_point() else value


def _shape(value: Any) -> Any:
    """An input's shape, or None for an input that has none (a tuple of tensors, a number)."""
    return tuple(value.shape) if hasattr(value, "shape") else None


def parameter_names(net: Module) -> list[str]:
    return [n for n, _ in net.named_parameters()]


def unknown_parameter(net: Module, name: str) -> str:
    """What ``name`` is not; for a tied weight's second name (lm_head.weight is transformer.wte.weight), the name
    PyTorch's named_parameters() gives the one parameter."""
    tied = dict(net._original.named_parameters(remove_duplicate=False)) if isinstance(net, TorchNetwork) else {}
    if isinstance(net, TorchNetwork) and name in tied and id(tied[name]) in net._names:
        first = net._names[id(tied[name])]
        return (f"{name} is the same parameter as {first} (tied weights), which named_parameters() names {first!r}; "
                f"ask for wrt='{first}' (its gradient adds up both uses, as PyTorch's)")
    return unknown_name_message("parameter", name, parameter_names(net))
