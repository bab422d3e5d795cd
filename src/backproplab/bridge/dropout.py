"""PyTorch's Dropout in ``train()`` mode, with one mask that both sides of the check use.

A gradient through dropout depends on which entries were dropped, so it can be checked against
PyTorch only when PyTorch drops the very same entries. The converted network draws each layer's
mask once per input shape, from torch's current generator (``torch.manual_seed`` makes it
reproducible), keeps it, and multiplies by it as a named constant, mask/(1 − p); ``same_masks``
then makes the PyTorch model use those masks too. Layers and functions whose random draw cannot be
shared this way (Dropout2d, AlphaDropout, ``F.dropout(training=True)``) are refused in one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.engine.tensor import Tensor
from backproplab.nn.dropout import check_probability

REFUSED_LAYERS = ("Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
"""Dropout layers that drop whole channels or add noise while training: eval mode only."""
SHOWN = 24  # a mask of at most this many entries is written out in the explanation's note


@dataclass
class Mask:
    """One drawn mask: the layer's name, its p, and the constant mask/(1 − p) the input is multiplied by."""

    layer: str
    p: float
    scaled: Tensor

    @property
    def dropped(self) -> int:
        return int(np.count_nonzero(self.scaled.data == 0))

    def summary(self) -> str:
        """'drop_mask (Dropout(p=0.5)): 3 of 8 entries dropped, the others scaled by 1/(1 − p) = 2'; with the
        mask's values when it is small enough to read."""
        total = self.scaled.data.size
        kept = "" if self.dropped == total else f", the others scaled by 1/(1 − p) = {1 / (1 - self.p):.4g}"
        values = f" = {_values(self.scaled.data)}" if total <= SHOWN else ""
        return f"{self.scaled.name}{values} (Dropout(p={self.p:g})): {self.dropped} of {total} entries dropped{kept}"


def _values(data: np.ndarray) -> str:
    """'[[0, 2], [2, 0]]': a mask's values as short numbers."""
    if data.ndim == 0:
        return f"{float(data):.4g}"
    return "[" + ", ".join(_values(row) for row in data) + "]"


class DropoutLayer:
    """nn.Dropout for one converted network: its input as it is in eval mode (or with p = 0), else times the
    layer's mask, drawn on the first call with each input shape and kept for later calls."""

    def __init__(self) -> None:
        self.masks: dict[tuple[int, tuple[int, ...]], Mask] = {}
        self.names: dict[int, str] = {}  # id of a PyTorch layer -> its name in the model, to name its mask

    def __call__(self, module: Any, params: dict[str, Any], where: str, x: Any) -> Any:
        if not module.training or module.p == 0:
            return x
        x = x if isinstance(x, Tensor) else Tensor(x)
        key = (id(module), tuple(x.shape))
        if key not in self.masks:
            self.masks[key] = self._draw(module, x)
        return x * self.masks[key].scaled

    def _draw(self, module: Any, x: Tensor) -> Mask:
        torch = require_torch()
        p = check_probability(module.p)
        keep = torch.rand(tuple(x.shape), dtype=torch.float64).numpy() >= p
        scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything, as PyTorch
        layer = self.names.get(id(module), "dropout")
        name = f"{layer.replace('.', '_')}_mask" if layer.replace(".", "_").isidentifier() else f"dropout{layer}_mask"
        return Mask(layer, p, Tensor(keep.astype(x.dtype) * np.asarray(scale, dtype=x.dtype), name=name))

    def name_layers(self, model: Any) -> None:
        """Name each mask after its layer in ``model`` (``drop_mask`` for the layer ``drop``)."""
        self.names = {id(m): path for path, m in model.named_modules() if path}


def _refused_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Any:
    if not module.training or module.p == 0:
        return x
    raise TorchBridgeError(f"{where} drops whole channels or adds noise at random while training, which backproplab "
                           "cannot share with PyTorch's check; use nn.Dropout, or call model.eval() first")


def _dropout_function(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    if not training or check_probability(p) == 0:
        return input
    raise TorchBridgeError("torch.nn.functional.dropout with training=True draws a new mask at every call, which "
                           "backproplab cannot share with PyTorch's check; use the layer nn.Dropout (its mask is "
                           "shown in the explanation), or training=False, or call model.eval() first")


def handlers(torch: Any) -> dict[type, Any]:
    """The dropout layers by type, with a new ``DropoutLayer`` (and so new masks) for each converted network."""
    nn = torch.nn
    refused = {getattr(nn, name): _refused_layer for name in REFUSED_LAYERS if hasattr(nn, name)}
    return refused | {nn.Dropout: DropoutLayer()}


def functions(torch: Any) -> dict[Any, Any]:
    """F.dropout and torch.dropout: the input as it is when not training, else refused."""
    return {torch.nn.functional.dropout: _dropout_function,
            torch.dropout: lambda input, p, train: _dropout_function(input, p, train)}  # noqa: A006


def layer_of(net: Any) -> DropoutLayer | None:
    """The converted network's nn.Dropout handler, which holds its masks."""
    layer = getattr(net, "_layers", {}).get(require_torch().nn.Dropout)
    return layer if isinstance(layer, DropoutLayer) else None


@contextmanager
def same_masks(model: Any, layer: DropoutLayer | None) -> Iterator[None]:
    """Inside the block, each nn.Dropout of ``model`` in training mode puts out input·mask/(1 − p) with the mask
    the converted network drew for it, so PyTorch's gradient is the one of the same masked loss."""
    torch = require_torch()
    masks = layer.masks if layer is not None else {}

    def hook(module: Any, inputs: tuple, output: Any) -> Any:
        key = (id(module), tuple(inputs[0].shape))
        if key not in masks:
            raise TorchBridgeError(f"the Dropout layer {layer.names.get(id(module), '') if layer else ''!r} got input "
                                   f"of shape {key[1]} in PyTorch but not in the converted network, so it has no "
                                   "shared mask; call model.eval() to explain without dropout")
        return inputs[0] * torch.from_numpy(masks[key].scaled.data).to(inputs[0].dtype)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if type(m) is torch.nn.Dropout and m.training and m.p > 0]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
