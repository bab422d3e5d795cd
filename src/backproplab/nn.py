"""Networks: named parameters and modules, after ``torch.nn``.

Parameters carry math names (``w1``, ``b3``, ``W2``) because those are the names an
explanation speaks of. ``Module`` registers parameters and sub-modules assigned as
attributes, as in PyTorch.
"""

from __future__ import annotations

import difflib
import html
import operator
import reprlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from backproplab import limits, ops
from backproplab.tensor import ShapeError, Tensor, apply


class Parameter(Tensor):
    """A named tensor that a network learns; it requires a gradient unless frozen."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, requires_grad: bool = True, dtype: Any = None) -> None:
        # A parameter owns its values: training must never write into the caller's array.
        data = np.array(data.data if isinstance(data, Tensor) else data, copy=True)
        if dtype is None and data.dtype.kind in "biu":  # Parameter(0, "b3"): a parameter is a float
            data = data.astype(np.float64)
        super().__init__(data, requires_grad=requires_grad, name=name, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


EXCERPT = 60  # characters of someone's input echoed in a message, at most
SHOWN_CHOICES = 12  # names listed in a "choose from" hint, at most


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """A short, printable quotation of input for a message: the repr of at most ``limit``
    characters, with control characters escaped, and '…' where it was cut."""
    if isinstance(value, str):
        text = repr(value[:limit])
        return text + "…" if len(value) > limit else text
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 6, limit, limit
    text = short.repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:limit] + "…" if len(text) > limit else text


def plain(text: str, limit: int) -> str:
    """Text without quotes for a list of names: control characters dropped, cut at ``limit``."""
    clean = "".join(ch for ch in text[: limit + 1] if ch.isprintable())
    return clean[:limit] + "…" if len(clean) > limit or len(text) > limit + 1 else clean


def unknown_name_message(kind: str, name: str, choices: Iterable[str], shown: int = SHOWN_CHOICES) -> str:
    """'unknown parameter 'b4'; did you mean 'b3'? choose from: ...' for any misspelt name.

    The suggestion ignores case first (w1 → W1), then looks for a close spelling; the name and
    the choices are shortened so that a huge input never makes a huge message."""
    choices = [str(c) for c in choices]
    name = str(name)
    same_case = [c for c in choices if c.lower() == name.lower()]
    if same_case:
        close = same_case
    elif len(name) <= 4 * EXCERPT:
        lower = {c.lower(): c for c in reversed(choices)}
        close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)]
    else:
        close = []
    hint = f"; did you mean {excerpt(close[0], 30)}?" if close else ""
    listed = ", ".join(plain(c, 30) for c in choices[:shown])
    more = f", … ({len(choices) - shown} more)" if len(choices) > shown else ""
    return f"unknown {kind} {excerpt(name)}{hint} (choose from: {listed}{more})"


_layout = [0]  # counts every parameter or module set on any module, so a name index knows when to rebuild


class Module:
    """Base class for networks: collects parameters and sub-modules set as attributes."""

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_index", (-1, {}))

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
        layers: list[Linear] = []
        for m in self._all_modules():
            if isinstance(m, Linear) and m.auto_named and all(m is not other for other in layers):
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

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

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
    return any(isinstance(m, Linear) and m.auto_named for m in (module, *module._all_modules()))


class Activation(Module):
    """An elementwise activation by name: identity, relu, sigmoid, softplus, tanh, leaky_relu, elu,
    silu or gelu; leaky_relu and elu take PyTorch's settings unless given (negative_slope=0.01, alpha=1)."""

    def __init__(self, name: str, **settings: float) -> None:
        super().__init__()
        if name not in ops.ACTIVATIONS:
            raise ValueError(unknown_name_message("activation", name, ops.ACTIVATIONS))
        self.op = ops.ACTIVATIONS[name]
        defaults = ops.ACTIVATION_SETTINGS.get(name, {})
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise ValueError(f"the activation {name!r} has no setting {unknown[0]!r}"
                             + (f" (it takes {', '.join(defaults)})" if defaults else ""))
        who = name if type(self) is Activation else type(self).__name__
        self.settings = {k: _setting(settings.get(k, v), f"{who}: {k}") for k, v in defaults.items()}

    def forward(self, z: Tensor) -> Tensor:
        return z if self.op is ops.identity else apply(self.op, z, **self.settings)

    def __repr__(self) -> str:
        return f"Activation({self.op.name!r})"


class _ByClass(Activation):
    """An activation named by its class, as PyTorch's ``nn.Tanh()`` is; ``rule`` is the op's name."""

    rule = "identity"

    def __init__(self) -> None:
        super().__init__(self.rule)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(_ByClass):
    """PyTorch's ``nn.Identity``."""


class ReLU(_ByClass):
    """PyTorch's ``nn.ReLU``."""

    rule = "relu"


class Sigmoid(_ByClass):
    """PyTorch's ``nn.Sigmoid``."""

    rule = "sigmoid"


class Softplus(_ByClass):
    """PyTorch's ``nn.Softplus`` with its defaults (beta 1)."""

    rule = "softplus"


class Tanh(_ByClass):
    """PyTorch's ``nn.Tanh``."""

    rule = "tanh"


class LeakyReLU(Activation):
    """PyTorch's ``nn.LeakyReLU``: z where z > 0, else negative_slope·z."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__("leaky_relu", negative_slope=negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.settings['negative_slope']:g})"


class ELU(Activation):
    """PyTorch's ``nn.ELU``: z where z > 0, else alpha·(e^z − 1)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__("elu", alpha=alpha)

    def __repr__(self) -> str:
        return f"ELU(alpha={self.settings['alpha']:g})"


class SiLU(_ByClass):
    """PyTorch's ``nn.SiLU``: z·σ(z)."""

    rule = "silu"


class GELU(Module):
    """PyTorch's ``nn.GELU``: z·Φ(z), or its tanh formula with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {excerpt(approximate)}")
        self.approximate = approximate

    def forward(self, z: Tensor) -> Tensor:
        return apply(ops.OPS["gelu" if self.approximate == "none" else "gelu_tanh"], z)

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else "GELU(approximate='tanh')"


class Linear(Module):
    """z = x W + b, with W of shape (in, out) so that a row of x is one sample.

    Parameters are named ``W{suffix}`` and ``b{suffix}``; the output is named ``z{suffix}``.
    Without a ``suffix``, the network the layer joins numbers its layers 1, 2, … in the order
    they were added (a layer on its own keeps W, b and z).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, suffix: str | None = None,
        rng: np.random.Generator | None = None, dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        in_features, out_features = check_sizes([in_features, out_features], "a Linear layer",
                                                ("in_features", "out_features"))
        rng = rng if rng is not None else np.random.default_rng(0)
        bound = 1.0 / np.sqrt(in_features)
        self.auto_named = suffix is None
        suffix = "" if suffix is None else str(suffix)
        self.suffix = suffix
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)), f"W{suffix}", dtype=dtype)
        self.bias = Parameter(np.zeros(out_features), f"b{suffix}", dtype=dtype) if bias else None

    def rename(self, suffix: str) -> None:
        """Call the layer's parameters W{suffix}, b{suffix} and its output z{suffix}."""
        self.suffix = suffix
        self.weight.name = f"W{suffix}"
        if self.bias is not None:
            self.bias.name = f"b{suffix}"

    def forward(self, x: Tensor) -> Tensor:
        n_in, n_out = self.weight.shape
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if not shape or shape[-1] != n_in:
            raise ShapeError(f"the Linear layer with {self.weight.name} ({n_in}×{n_out}) takes {n_in} value(s) per "
                             f"sample, got input of shape {tuple(shape)}: its last size must be {n_in}")
        z = x @ self.weight
        if self.bias is not None:
            z = z + self.bias
        return z.named(f"z{self.suffix}")

    def __repr__(self) -> str:
        n_in, n_out = self.weight.shape
        return f"Linear({n_in}, {n_out}, bias={self.bias is not None})"


ACTIVATION_MODULES = (Activation, GELU)


class ModuleList(Module):
    """PyTorch's ``nn.ModuleList``: modules in a list whose parameters are the network's (a plain list's
    are not found); its own ``forward`` is the network's to write."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.items: list[Module] = []
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"a {type(self).__name__} holds modules (Linear, Tanh, …), got {type(module).__name__}")
        setattr(self, str(len(self.items)), module)
        self.items.append(module)
        return self

    def __getitem__(self, i: int) -> Module:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.items)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError("a ModuleList has no forward(): call its modules one by one in your "
                                  "network's forward()")

    def __repr__(self) -> str:
        return f"ModuleList({', '.join(repr(m) for m in self.items)})"


class Sequential(ModuleList):
    """Modules applied one after another."""

    def __init__(self, *layers: Module) -> None:
        super().__init__(layers)

    @property
    def layers(self) -> list[Module]:
        return self.items

    def forward(self, x: Any) -> Tensor:
        suffix = None
        for layer in self.layers:
            out = layer(x)
            if isinstance(layer, Linear):
                suffix = layer.suffix
            elif isinstance(layer, ACTIVATION_MODULES) and out is not x and out.name is None and suffix is not None:
                out.named(f"a{suffix}")  # z1 → a1 → z2, as MLP names its layers
            x = out
        return x

    def __repr__(self) -> str:
        inner = ", ".join(repr(m) for m in self.layers)
        return f"Sequential({inner})"


def check_sizes(sizes: Sequence[int], what: str = "an MLP", names: Sequence[str] = ()) -> list[int]:
    """Layer sizes as whole numbers, 1 or more, whose parameters fit in the memory limit; ``names``
    are what the caller calls them (in_features, out_features), for the message."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"{what} needs at least two positive layer sizes (inputs and outputs), got {excerpt(sizes)}")
    checked = []
    for i, size in enumerate(sizes):
        try:
            if isinstance(size, bool):
                raise TypeError
            size = operator.index(size)
        except TypeError:
            raise ValueError(f"{_size_name(names, i)} should be a whole number, got {excerpt(size)}") from None
        if size < 1:
            raise ValueError(f"{_size_name(names, i)} must be 1 or more, got {size}")
        checked.append(size)
    need = limits.mlp_parameter_count(checked) * limits.FLOAT
    if need > limits.memory_limit():
        raise ValueError(f"{what} with sizes {excerpt(checked)} has {limits.mlp_parameter_count(checked):,} "
                         f"parameters, which need {limits.describe(need)}, "
                         + limits.limit_note("'with backproplab.limits.allowing(nbytes):'"))
    return checked


def _size_name(names: Sequence[str], i: int) -> str:
    return names[i] if i < len(names) else f"sizes[{i}]"


def _setting(value: Any, what: str) -> float:
    """A layer's number setting (negative_slope, alpha) as a float, or a ValueError naming it."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {excerpt(value)}") from None


class MLP(Module):
    """A multilayer perceptron: sizes [in, hidden..., out] with an activation per layer.

    ``activations`` is one name for every hidden layer, or one name per layer (the output
    layer included). The output layer is linear ("identity") unless said otherwise, because
    the losses take logits. Layer l has parameters W{l}, b{l}, pre-activation z{l} and
    activation a{l}.
    """

    def __init__(
        self, sizes: Sequence[int], activations: str | Sequence[str] = "relu", seed: int = 0, dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        sizes = check_sizes(sizes)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed should be a whole number, 0 or more, got {excerpt(seed)}")
        n_layers = len(sizes) - 1
        if isinstance(activations, str):
            acts = [activations] * (n_layers - 1) + ["identity"]
        else:
            acts = list(activations)
            if len(acts) != n_layers:
                raise ValueError(f"{n_layers} layers need {n_layers} activations, got {len(acts)}")
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.linears = [
            Linear(sizes[i], sizes[i + 1], suffix=str(i + 1), rng=rng, dtype=dtype) for i in range(n_layers)
        ]
        self.activations = [Activation(a) for a in acts]
        for i, lin in enumerate(self.linears):
            setattr(self, f"layer{i + 1}", lin)

    def forward(self, x: Any) -> Tensor:
        a = x if isinstance(x, Tensor) else Tensor(x, name="x")
        for i, (lin, act) in enumerate(zip(self.linears, self.activations), start=1):
            z = lin(a)
            a = act(z)
            if a is not z:
                a.named(f"a{i}")
        return a

    def layer_weights(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(W, b) per layer, for drawing the network."""
        return [(lin.weight.data, None if lin.bias is None else lin.bias.data) for lin in self.linears]

    def __repr__(self) -> str:
        acts = ", ".join(a.op.name for a in self.activations)
        return f"MLP({self.sizes}, activations=[{acts}])"
