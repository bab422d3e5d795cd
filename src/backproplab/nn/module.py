"""``Module``: the base class of networks, after ``torch.nn.Module``.

Parameters carry math names (``w1``, ``b3``, ``W2``) because those are the names an
explanation speaks of. ``Module`` registers parameters and sub-modules assigned as
attributes, as in PyTorch.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.nn.parameter import Parameter
from backproplab.util.messages import SHOWN_CHOICES, unknown_name_message

_layout = [0]  # counts every parameter or module set on any module, so a name index knows when to rebuild


class Module:
    """Base class for networks: collects parameters and sub-modules set as attributes."""

    auto_named = False  # a Linear layer made without a suffix, numbered by the network that holds it

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
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
        object.__setattr__(self, key, value)

    def _number_layers(self) -> None:
        """Number the Linear layers made without a ``suffix`` in the order they were added (W1, b1, z1,
        W2, …), as ``MLP`` names its layers, so that a network built PyTorch's way (``self.fc1 =
        Linear(...)``, ``Sequential(Linear, Tanh, Linear)``) has one name per parameter. A lone layer
        keeps W, b and z."""
        layers: list[Module] = []
        for m in self._all_modules():
            if m.auto_named and all(m is not other for other in layers):
                layers.append(m)
        if len(layers) > 1:
            for k, layer in enumerate(layers, start=1):
                layer.rename(str(k))

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
            if p.name in seen and seen[p.name] is not p:
                raise ValueError(f"two parameters share the name {p.name!r}; give each a unique name")
            if p.name not in seen:
                seen[p.name] = p
                yield p.name, p

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
            p.grad = None if set_to_none or p.grad is None else np.zeros_like(p.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Train every parameter (or none with ``False``), as ``torch.nn.Module.requires_grad_``; returns the module."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every module inside it, as PyTorch; returns the module.

        No layer here behaves differently while training (there is no dropout or batch norm), but a
        network of one's own may read ``self.training`` in its ``forward``."""
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
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            p = self.parameter(name)
            arr = np.asarray(value, dtype=p.data.dtype)
            if arr.shape != p.shape:
                raise ValueError(f"parameter {name!r} has shape {p.shape}, got a value of shape {arr.shape}")
            p.data = arr.copy()

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
            if p.grad is None:
                grad = "none yet" if p.requires_grad else "frozen"
            else:
                g = np.asarray(p.grad)
                grad = f"{g.item():.4g}" if g.size == 1 else f"norm {np.linalg.norm(g):.4g}"
            cells = (name, str(p.shape), str(p.dtype), value, "yes" if p.requires_grad else "no", grad)
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("parameter", "shape", "dtype", "value", "requires_grad", "grad"))
        return (f"<div><b>{html.escape(repr(self))}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>")


def _has_auto_named_linear(module: Module) -> bool:
    """Whether ``module`` is, or holds, a Linear layer made without a ``suffix``."""
    return any(m.auto_named for m in (module, *module._all_modules()))
