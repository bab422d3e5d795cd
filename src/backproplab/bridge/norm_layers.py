"""PyTorch's normalization layers (BatchNorm1d/2d, LayerNorm) run with the converted network's parameters.

A batch norm layer in ``train()`` mode normalises with the batch's mean and biased variance, as PyTorch
does; in ``eval()`` mode with the layer's running statistics, which are constants here. The running
statistics are not moved: the converted network computes gradients, it does not train the PyTorch layer.
"""

from __future__ import annotations

from typing import Any

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.tensor import Tensor
from backproplab.nn.normalization import layer_norm

BATCH_NORM_DIMS = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,)}


def _constant(value: Any) -> Tensor:
    return Tensor(value.detach().cpu().numpy().copy())


def batch_norm_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    """BatchNorm1d/2d: batch statistics while training (or without running statistics), else the running ones."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    dims = BATCH_NORM_DIMS[type(module).__name__]
    if x.ndim not in dims or x.shape[1] != module.num_features:
        wanted = " or ".join(f"{d}-d" for d in dims)
        raise TorchBridgeError(f"{where} takes {wanted} input with {module.num_features} channel(s) in dimension 1, "
                               f"got shape {tuple(x.shape)}")
    shape = (-1,) + (1,) * (x.ndim - 2)
    if module.training or module.running_mean is None:
        axes = (0, *range(2, x.ndim))
        if x.data.size // module.num_features <= 1:
            raise TorchBridgeError(f"{where} in training mode needs more than 1 value per channel, got input of "
                                   f"shape {tuple(x.shape)}; use a batch of 2 or more, or call model.eval()")
        mean = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, correction=0, keepdim=True)
    else:
        mean = _constant(module.running_mean).reshape(shape)
        var = _constant(module.running_var).reshape(shape)
    out = (x - mean) / (var + float(module.eps)).sqrt()
    if params.get("weight") is not None:
        out = out * params["weight"].reshape(shape)
    if params.get("bias") is not None:
        out = out + params["bias"].reshape(shape)
    return out


def layer_norm_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    """LayerNorm: each sample normalised over its last dimensions, with the layer's weight and bias."""
    return layer_norm(x, module.normalized_shape, params.get("weight"), params.get("bias"), module.eps)


def layer_norm_function(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,  # noqa: A002
                        eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.layer_norm."""
    return layer_norm(input, normalized_shape, weight, bias, eps)


def handlers(torch: Any) -> dict[type, Any]:
    """The normalization layers by type."""
    nn = torch.nn
    return {nn.BatchNorm1d: batch_norm_layer, nn.BatchNorm2d: batch_norm_layer, nn.LayerNorm: layer_norm_layer}
