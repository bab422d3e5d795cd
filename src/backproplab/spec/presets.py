"""Built-in worked examples. Each is a spec file shipped in the package (``specs/``), so
``backproplab new FILE --from NAME`` hands out exactly what ``backproplab demo NAME`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from backproplab.engine.functions import softplus
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module, Parameter
from backproplab.spec.spec import parse
from backproplab.util.messages import unknown_name_message

# The dosage example: inputs, observations and starting values, exactly as the worked example.
DOSAGE_X = [0.0, 0.5, 1.0]
DOSAGE_Y = [0.0, 1.0, 0.0]
DOSAGE_START = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}


class DosageNet(Module):
    """ŷ = w3·h1 + w4·h2 + b3 with h1 = softplus(w1·x + b1) and h2 = softplus(w2·x + b2).

    The two hidden nodes are kept as separate, named scalars (z1, h1, z2, h2, ŷ) rather than
    a matrix layer, so that an explanation can speak of w3·h1 exactly as the example does.
    """

    # set in __init__ by name; declared here so that ``net.w1`` has a type for a type checker
    w1: Parameter
    b1: Parameter
    w2: Parameter
    b2: Parameter
    w3: Parameter
    w4: Parameter
    b3: Parameter

    def __init__(self, start: dict[str, float] | None = None) -> None:
        super().__init__()
        values = dict(DOSAGE_START)
        values.update(start or {})
        for name in ("w1", "b1", "w2", "b2", "w3", "w4", "b3"):
            setattr(self, name, Parameter(values[name], name))

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, name="x")
        z1 = (self.w1 * x + self.b1).named("z1")
        h1 = softplus(z1).named("h1")
        z2 = (self.w2 * x + self.b2).named("z2")
        h2 = softplus(z2).named("h2")
        return (self.w3 * h1 + self.w4 * h2 + self.b3).named("ŷ")

    def layer_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The same network as two layers (1 → 2 → 1), each W (out, in) as ``Linear`` holds it, for drawing it."""
        v = {n: p.item() for n, p in self.named_parameters()}
        return [(np.array([[v["w1"]], [v["w2"]]]), np.array([v["b1"], v["b2"]])),
                (np.array([[v["w3"], v["w4"]]]), np.array([v["b3"]]))]

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={p.item():g}" for n, p in self.named_parameters())
        return f"DosageNet({values})"


def statquest() -> tuple[DosageNet, tuple[np.ndarray, np.ndarray]]:
    """The dosage network and its three samples: ``net, (x, y) = statquest()``."""
    return DosageNet(), (np.array(DOSAGE_X), np.array(DOSAGE_Y))


@dataclass(frozen=True)
class Preset:
    """A built-in example: its spec file, plus how it is labelled and drawn."""

    name: str
    model: Callable[[], Module] | None = None  # a hand-built network with the spec's exact values
    x_label: str = "x"
    y_label: str = "y"
    contour: tuple[str, str] | None = None  # the two parameters of its contour map

    @property
    def text(self) -> str:
        """The spec file, comments and all."""
        return resources.files("backproplab.spec.specs").joinpath(f"{self.name}.toml").read_text(encoding="utf-8")

    @property
    def summary(self) -> str:
        return _spec(self.name, ()).description

    def spec(self, overrides: tuple[str, ...] = ()) -> Any:
        """The checked spec, with ``key=value`` overrides applied."""
        return _spec(self.name, tuple(overrides))

    def build(self, spec: Any = None) -> tuple[Module, tuple[np.ndarray, np.ndarray]]:
        """A fresh network at the starting values, and the data."""
        spec = spec or self.spec()
        net, data = spec.build()
        return self.adopt(net), data

    def adopt(self, net: Module) -> Module:
        """The hand-built network (``model``) at ``net``'s values, so explanations name its nodes; else ``net``."""
        if self.model is None:
            return net
        start = {n: p.data for n, p in net.named_parameters()}
        model = self.model()
        model.load_state_dict(start)
        return model


@lru_cache(maxsize=64)
def _spec(name: str, overrides: tuple[str, ...]) -> Any:
    return parse(PRESETS[name].text, None, list(overrides))


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("statquest", model=DosageNet, x_label="dosage", y_label="efficacy", contour=("w3", "b3")),
        Preset("classic"),
        Preset("xor", x_label="x₁", y_label="x₂"),
        Preset("moons", x_label="x₁", y_label="x₂"),
        Preset("circles", x_label="x₁", y_label="x₂"),
        Preset("spiral", x_label="x₁", y_label="x₂"),
        Preset("regression"),
    )
}


def get_preset(name: str) -> Preset:
    """A preset by name, with a did-you-mean hint for a misspelling."""
    if name not in PRESETS:
        raise KeyError(unknown_name_message("preset", name, PRESETS))
    return PRESETS[name]
