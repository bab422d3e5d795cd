"""Networks made of layers: ``ModuleList``, ``Sequential`` and the ``MLP`` that presets build."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.nn.activation import ACTIVATION_MODULES, Activation
from backproplab.nn.linear import Linear, check_sizes
from backproplab.nn.module import Module
from backproplab.util.messages import excerpt


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
        """(W, b) per layer, for drawing the network; W is (out, in), as ``Linear`` holds it."""
        return [(lin.weight.data, None if lin.bias is None else lin.bias.data) for lin in self.linears]

    def __repr__(self) -> str:
        acts = ", ".join(a.op.name for a in self.activations)
        return f"MLP({self.sizes}, activations=[{acts}])"
