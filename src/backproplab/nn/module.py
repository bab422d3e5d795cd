"""``Module``: the base class of networks, after ``torch.nn.Module``.

Parameters carry math names (``w1``, ``b3``, ``W2``) because those are the names an
explanation speaks of. ``Module`` registers parameters and sub-modules assigned as
attributes, as in PyTorch, and buffers (values a layer keeps that are not trained, such as a
batch norm's running mean) under PyTorch's dotted names.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from backproplab.engine.device import split_to_args
from backproplab.engine.grad_mode import no_grad
from backproplab.engine.tensor import Tensor
from backproplab.nn.parameter import Parameter
from backproplab.util.messages import SHOWN_CHOICES, unknown_name_message

_layout = [0]  # counts every parameter or module set on any module, so a name index knows when to rebuild


class Module:
    """Base class for networks: collects parameters and sub-modules set as attributes."""

    auto_named = False  # a layer made without a suffix, numbered by the network that holds it
    numbered_as = "layer"  # layers are numbered 1, 2, … among those of the same kind (Linear, batch norm)
    # set in __init__ with object.__setattr__ (past the registration in __setattr__)
    _params: dict[str, Parameter]
    _modules: dict[str, Module]
    _buffers: dict[str, Any]  # a buffer's value, None for one set to None (as PyTorch)
    _index: tuple[int, dict[str, Parameter]]
    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_index", (-1, {}))
        object.__setattr__(self, "training", True)

    def __setattr__(self, key: str, value: Any) -> None:
        if "_params" not in self.__dict__:
            raise RuntimeError(f"call super().__init__() in {type(self).__name__}.__init__ before setting attributes")
        if isinstance(value, Parameter):
            if value.name is None:
                value.name = key
            self._params[key] = value
            _layout[0] += 1
        elif isinstance(value, Module):
            self._modules[key] = value
            object.__setattr__(self, key, value)
            if _has_auto_named_linear(value):  # only a new auto-named layer changes the numbering
                self._number_layers()
            _layout[0] += 1
            return
        elif key in self._buffers:
            value = self._buffers[key] = _as_buffer(value)
        object.__setattr__(self, key, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` as ``self.<name>``: not trained, but in ``state_dict()`` and converted by ``.to()``,
        as PyTorch's ``register_buffer``."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a buffer's name must be an attribute name, got {name!r}")
        if name in self._params or name in self._modules:
            raise KeyError(f"{type(self).__name__} already has a parameter or module called {name!r}")
        self._buffers[name] = None
        setattr(self, name, value)

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) for every buffer in this module and those inside it, with PyTorch's names
        (``"running_mean"``, ``"1.running_var"``, ``"bn.num_batches_tracked"``)."""
        for path, m in self.named_modules():
            for key, value in m._buffers.items():
                if value is not None:  # a buffer set to None is left out, as PyTorch
                    yield (f"{path}.{key}" if path else key), value

    def buffers(self) -> Iterator[Tensor]:
        """Every buffer in this module and those inside it."""
        for _, value in self.named_buffers():
            yield value

    def _number_layers(self) -> None:
        """Number the Linear layers made without a ``suffix`` in the order they were added (W1, b1, z1,
        W2, …), as ``MLP`` names its layers, so that a network built PyTorch's way (``self.fc1 =
        Linear(...)``, ``Sequential(Linear, Tanh, Linear)``) has one name per parameter. A lone layer
        keeps W, b and z. Batch-norm layers are numbered among themselves (gamma1, gamma2, …)."""
        kinds: dict[str, list[Module]] = {}
        for m in self._all_modules():
            layers = kinds.setdefault(m.numbered_as, [])
            if m.auto_named and all(m is not other for other in layers):
                layers.append(m)
        for layers in kinds.values():
            if len(layers) > 1:
                for k, layer in enumerate(layers, start=1):
                    layer.rename(str(k))

    def rename(self, suffix: str) -> None:
        """Put ``suffix`` on this layer's names (a layer made without a suffix defines it)."""
        raise NotImplementedError(f"{type(self).__name__} has no numbered names")

    def _all_modules(self) -> Iterator[Module]:
        for m in self._modules.values():
            yield m
            yield from m._all_modules()

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.forward(*args, **kwargs)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; names are the parameters' own math names, unique per network."""
        seen: dict[str, Parameter] = {}
        for p in self._all_parameters():
            name = p.name
            if name is None:  # registering names a parameter; this one's name was taken away since
                raise ValueError("a parameter of this network has no name; give it one (p.name = 'w1')")
            if name in seen and seen[name] is not p:
                raise ValueError(f"two parameters share the name {name!r}; give each a unique name")
            if name not in seen:
                seen[name] = p
                yield name, p

    def _all_parameters(self) -> Iterator[Parameter]:
        yield from self._params.values()
        for m in self._modules.values():
            yield from m._all_parameters()

    def parameters(self, only: Sequence[str] | str | None = None) -> list[Parameter]:
        """All parameters, or just those named in ``only`` (``"all"`` means all)."""
        named = dict(self.named_parameters())
        if only is None or only == "all" or (not isinstance(only, str) and list(only) == ["all"]):
            return list(named.values())
        names = [only] if isinstance(only, str) else list(only)
        for n in names:
            if n not in named:
                raise KeyError(unknown_name_message("parameter", n, named))
        return [named[n] for n in names]

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``, with a did-you-mean hint if there is none.

        Looked up in a name index (one dict), so a network of thousands of parameters is not
        walked once per name; the index is rebuilt when a module changed or a name no longer matches."""
        version, named = self.__dict__.get("_index", (-1, {}))
        found = named.get(name) if version == _layout[0] else None
        if found is None or found.name != name:
            named = dict(self.named_parameters())
            object.__setattr__(self, "_index", (_layout[0], named))
            if name not in named:
                raise KeyError(unknown_name_message("parameter", name, named))
            found = named[name]
        return found

    def freeze(self, *names: str) -> None:
        """Stop training the named parameters (all of them if no name is given)."""
        for p in self.parameters(list(names) if names else None):
            p.requires_grad = False

    def unfreeze(self, *names: str) -> None:
        """Train the named parameters again (all of them if no name is given)."""
        for p in self.parameters(list(names) if names else None):
            p.requires_grad = True

    def train_only(self, names: Sequence[str] | str) -> list[Parameter]:
        """Freeze everything except ``names``; returns the parameters left trainable."""
        chosen = self.parameters(names)
        self.freeze()
        for p in chosen:
            p.requires_grad = True
        return chosen

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients, as PyTorch: to None, or to zeros with ``set_to_none=False``."""
        for p in self.parameters():
            p.grad = None if set_to_none or p._grad is None else np.zeros_like(p._grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Train every parameter (or none with ``False``), as ``torch.nn.Module.requires_grad_``; returns the module."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every module inside it, as PyTorch; returns the module.

        ``Dropout`` and ``BatchNorm1d`` behave differently while training, and a network of one's own
        may read ``self.training`` in its ``forward``."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be a boolean, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """``train(False)``, as PyTorch; returns the module."""
        return self.train(False)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(attribute name, module) for the modules set directly on this one, each once."""
        seen: set[int] = set()  # ids: every module is alive while this runs
        for name, m in self._modules.items():
            if id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The modules set directly on this one, each once."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``, "" by default) and every module inside it, each once, with dotted
        paths such as ``"0"`` or ``"encoder.fc1"``, as PyTorch."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            inner = [(f"{name}.{key}" if name else key, child) for key, child in m._modules.items()]
            stack.extend(reversed(inner))

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, each once."""
        for _, m in self.named_modules():
            yield m

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child module (depth first), then on this one, as PyTorch; returns the module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters' and buffers' values under PyTorch's dotted names (``"0.weight"``), so the
        state loads into the same module written in PyTorch; ``load_state_dict`` takes these or the names."""
        state = {path: p.data.copy() for path, p in self._parameter_paths().items()}
        state.update((name, b.data.copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set parameters and buffers from ``state``: keyed by the parameters' names, or by PyTorch's dotted
        names (``"fc1.weight"``, ``"bn.running_mean"``), so a torch module's ``state_dict()`` loads too."""
        buffers: dict[str, Tensor] = dict(self.named_buffers())
        known: dict[str, Tensor] = {**self._parameter_paths(), **buffers, **dict(self.named_parameters())}
        for name, value in state.items():
            target = known[name] if name in known else self.parameter(name)  # the latter: a did-you-mean error
            arr = np.asarray(_values(value), dtype=target.data.dtype)
            if arr.shape != target.shape:
                what = "buffer" if name in buffers else "parameter"
                raise ValueError(f"{what} {name!r} has shape {target.shape}, got a value of shape {arr.shape}")
            target.data = arr.copy()

    def _parameter_paths(self) -> dict[str, Parameter]:
        """Every parameter by PyTorch's dotted name (``"0.weight"``, ``"fc1.bias"``)."""
        return {(f"{path}.{key}" if path else key): p
                for path, m in self.named_modules() for key, p in m._params.items()}

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Convert every parameter and floating-point buffer to ``dtype`` in place, as PyTorch's
        ``module.to(torch.float64)``; returns the module. A device (``"cpu"``) is accepted and changes
        nothing, since everything here runs on the CPU."""
        dtype, device = split_to_args(args, dtype, device)
        return self if dtype is None else self._convert(_float_dtype(dtype))

    def double(self) -> Module:
        """Every parameter and floating-point buffer as float64, in place, as PyTorch; returns the module."""
        return self._convert(np.dtype(np.float64))

    def float(self) -> Module:
        """Every parameter and floating-point buffer as float32, in place, as PyTorch; returns the module."""
        return self._convert(np.dtype(np.float32))

    def cpu(self) -> Module:
        """The module itself: everything here is on the CPU already."""
        return self

    def _convert(self, dtype: np.dtype) -> Module:
        """Give each parameter (and its gradient) and each floating-point buffer new values of ``dtype``; the
        Parameter objects stay the same, so an optimizer made before still trains them."""
        with no_grad():
            for p in set(self._all_parameters()):
                if p.data.dtype != dtype:
                    p.data = p.data.astype(dtype)
                if p.grad is not None:
                    p.grad = p.grad.astype(dtype) if isinstance(p.grad, np.ndarray) else p.grad.to(dtype)
            for b in self.buffers():
                if b.data.dtype.kind == "f" and b.data.dtype != dtype:
                    b.data = b.data.astype(dtype)
        return self

    def __repr__(self) -> str:
        """The class and its parameters: the value of a single number, the shape of the rest."""
        parts = [f"{n}={p.item():.4g}" if p.data.size == 1 else f"{n}: {p.shape}" for n, p in self.named_parameters()]
        more = f", … {len(parts) - SHOWN_CHOICES} more" if len(parts) > SHOWN_CHOICES else ""
        return f"{type(self).__name__}({', '.join(parts[:SHOWN_CHOICES])}{more})"

    def _repr_html_(self) -> str:
        """In Jupyter: one row per parameter, with its shape, dtype, whether it trains, and its gradient."""
        rows = []
        for name, p in self.named_parameters():
            value = f"{p.item():.4g}" if p.data.size == 1 else f"{p.data.size} values"
            if p._grad is None:
                grad = "none yet" if p.requires_grad else "frozen"
            else:
                g = np.asarray(p._grad)
                grad = f"{g.item():.4g}" if g.size == 1 else f"norm {np.linalg.norm(g):.4g}"
            cells = (name, str(p.shape), str(p.dtype), value, "yes" if p.requires_grad else "no", grad)
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("parameter", "shape", "dtype", "value", "requires_grad", "grad"))
        return (f"<div><b>{html.escape(repr(self))}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>")


def _as_buffer(value: Any) -> Tensor | None:
    """A buffer's value as a tensor that takes no gradient (None stays None, as PyTorch allows)."""
    if value is None or isinstance(value, Tensor) and not value.requires_grad:
        return value
    return Tensor(np.array(value.data if isinstance(value, Tensor) else value, copy=True))


def _values(value: Any) -> Any:
    """A state value's numbers: a backproplab tensor's array, a torch tensor's NumPy copy, or the value itself."""
    if isinstance(value, Tensor):
        return value.data
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _float_dtype(dtype: Any) -> np.dtype:
    """A float dtype from NumPy's or PyTorch's spelling (``np.float32``, ``"float64"``, ``torch.float64``)."""
    text = str(dtype).removeprefix("torch.")
    try:
        found = np.dtype(text if text in ("float32", "float64", "float16") else dtype)
    except TypeError:
        found = None
    if found not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"a module converts to float32 or float64 only, got {dtype!r}; try .double() or "
                        ".to(np.float32)")
    return found


def _has_auto_named_linear(module: Module) -> bool:
    """Whether ``module`` is, or holds, a Linear layer made without a ``suffix``."""
    return any(m.auto_named for m in (module, *module._all_modules()))
