"""Batch and layer normalization, as ``torch.nn.BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm``.

While training, each channel is normalised with the batch's mean and (biased) variance, and the
running mean and (unbiased) running variance move towards them by ``momentum``; in ``eval()`` mode the
running statistics are used. The forward is built from the table's ops (mean, var, sqrt, …) so the
gradients and their explanations are theirs. The parameters are named ``gamma`` and ``beta`` (numbered
gamma1, gamma2, … in a network with several); the buffers keep PyTorch's names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.grad_mode import no_grad
from backproplab.engine.recording import RECORDING
from backproplab.engine.tensor import ShapeError, Tensor
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter
from backproplab.util.messages import excerpt


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input shapes they take."""

    dims: tuple[int, ...] = ()  # the numbers of dimensions an input may have
    numbered_as = "batch norm"
    running_mean: Tensor  # the running statistics, kept as buffers with track_running_stats
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, suffix: str | None = None, dtype: Any = np.float64) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features must be a whole number, 1 or more, got {excerpt(num_features)}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {excerpt(eps)}; try 1e-5")
        if momentum is not None and not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1] (or None for a plain average), got "
                             f"{excerpt(momentum)}; try 0.1")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.auto_named = suffix is None
        self.suffix = "" if suffix is None else str(suffix)
        self.weight = Parameter(np.ones(num_features), f"gamma{self.suffix}", dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_features), f"beta{self.suffix}", dtype=dtype) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def rename(self, suffix: str) -> None:
        """Call the layer's parameters gamma{suffix} and beta{suffix}."""
        self.suffix = suffix
        if self.weight is not None and self.bias is not None:
            self.weight.name, self.bias.name = f"gamma{suffix}", f"beta{suffix}"

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        self._check_input(x)
        axes = (0, *range(2, x.ndim))  # every dimension but the channels'
        shape = (-1,) + (1,) * (x.ndim - 2)  # a channel's numbers broadcast against the input
        if self.training or not self.track_running_stats:
            count = x.data.size // self.num_features
            if self.training and count <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                                 f"{tuple(x.shape)}; train on batches of 2 or more, or call eval() first")
            mean = x.mean(dim=axes, keepdim=True)
            var = x.var(dim=axes, correction=0, keepdim=True)
            if self.training and self.track_running_stats:
                RECORDING.value_dependent = True  # the statistics move at each call: bl.compile records anew
                self._track(mean.data.reshape(-1), var.data.reshape(-1) * (count / max(count - 1, 1)))
        else:
            mean = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        out = (x - mean) / (var + self.eps).sqrt()
        if self.weight is not None and self.bias is not None:
            weight, bias = (self.weight, self.bias) if x.ndim == 2 else (self.weight.reshape(shape),
                                                                         self.bias.reshape(shape))
            out = out * weight + bias
        return out

    def _track(self, mean: np.ndarray, var: np.ndarray) -> None:
        """Move the running statistics towards this batch's, as PyTorch (a plain average when momentum is None)."""
        with no_grad():
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
            m = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
            dtype = self.running_mean.data.dtype
            self.running_mean.data = ((1 - m) * self.running_mean.data + m * mean).astype(dtype)
            self.running_var.data = ((1 - m) * self.running_var.data + m * var).astype(dtype)

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.ndim not in self.dims:
            wanted = " or ".join(f"{d}D" for d in self.dims)
            raise ShapeError(f"{name} expected {wanted} input (got {x.ndim}D input of shape {tuple(x.shape)})")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}({self.num_features}) normalises {self.num_features} channel(s), got input of "
                             f"shape {tuple(x.shape)}: its size 1 must be {self.num_features}")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps:g}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats})")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (batch, channels) or (batch, channels, length) inputs, as ``torch.nn.BatchNorm1d``."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (batch, channels, height, width) inputs, as ``torch.nn.BatchNorm2d``."""

    dims = (4,)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last dimensions (``normalized_shape``) of each sample, as ``F.layer_norm``: the mean
    and the biased variance of those entries, then ``weight`` and ``bias`` entry by entry."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        int(n) for n in normalized_shape)
    if not shape or tuple(x.shape[x.ndim - len(shape):]) != shape or x.ndim < len(shape):
        raise ShapeError(f"layer_norm normalises the last dimensions of shape {shape}, got input of shape "
                         f"{tuple(x.shape)}; its last dimensions must be {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, correction=0, keepdim=True)
    out = (x - mean) / (var + float(eps)).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


class LayerNorm(Module):
    """Layer normalization, as ``torch.nn.LayerNorm``: each sample normalised over its last dimensions
    (``normalized_shape``), then scaled by ``weight`` and shifted by ``bias`` of that shape."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
            raise ValueError(f"normalized_shape must be a whole number or a tuple of them, 1 or more, got "
                             f"{excerpt(normalized_shape)}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {excerpt(eps)}; try 1e-5")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        self.weight = Parameter(np.ones(self.normalized_shape), "gamma", dtype=dtype) if elementwise_affine else None
        self.bias = (Parameter(np.zeros(self.normalized_shape), "beta", dtype=dtype)
                     if elementwise_affine and bias else None)

    def forward(self, x: Any) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def __repr__(self) -> str:
        return (f"LayerNorm({self.normalized_shape}, eps={self.eps:g}, "
                f"elementwise_affine={self.elementwise_affine})")
