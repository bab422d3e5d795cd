"""Convolution and pooling layers, as ``torch.nn``'s: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` and
``AdaptiveAvgPool2d``, with the functions of ``torch.nn.functional`` they run.

Inputs are (batch, channels, height, width), or (channels, height, width) for one image, as in PyTorch.
The functions check every setting here, so a mistake is one line naming it; the table's ops
(``conv2d``, ``max_pool2d`` …) then compute. A bias is added with the table's ``add``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.ops.conv import out_size
from backproplab.engine.tensor import ShapeError, Tensor, apply
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "MaxPool2d", "adaptive_avg_pool2d", "avg_pool2d", "conv2d",
           "max_pool2d"]

IntPair = int | tuple[int, int]


def pair(value: Any, what: str, name: str, least: int) -> tuple[int, int]:
    """A setting as (rows, columns): one whole number for both, or two."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    try:
        if len(values) != 2 or any(isinstance(v, bool) for v in values):
            raise TypeError
        rows, cols = (operator.index(v) for v in values)
    except TypeError:
        raise ValueError(f"{what}: {name} must be a whole number or a pair of them, got {value!r}") from None
    if rows < least or cols < least:
        raise ValueError(f"{what}: {name} must be {least} or more, got {value!r}")
    return rows, cols


def _image(input: Any, what: str) -> tuple[Tensor, bool]:  # noqa: A002 - PyTorch's names
    """The input as (N, C, H, W), and whether it came as one image (C, H, W)."""
    x = input if isinstance(input, Tensor) else Tensor(np.asarray(input, dtype=np.float64))
    if x.ndim not in (3, 4):
        raise ShapeError(f"{what}: the input must be (batch, channels, height, width) or (channels, height, width), "
                         f"got shape {x.shape}")
    return (x.unsqueeze(0), True) if x.ndim == 3 else (x, False)


def _fits(what: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
          padding: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Refuse a kernel that does not fit in the (padded) input: PyTorch's check, in one line."""
    sizes = [out_size(n, k, s, p, d) for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation)]
    if min(sizes) < 1:
        reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        padded = tuple(n + 2 * p for n, p in zip(shape[2:], padding))
        raise ShapeError(f"{what}: the kernel spans {reach[0]}×{reach[1]} (with dilation) but the padded input is "
                         f"only {padded[0]}×{padded[1]}; use a smaller kernel or more padding")


def _out(y: Tensor, single: bool) -> Tensor:
    return y.squeeze(0) if single else y


def conv2d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,  # noqa: A002
           padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """Cross-correlation of ``input`` (N, C_in, H, W) with ``weight`` (C_out, C_in/groups, kH, kW), as
    ``torch.nn.functional.conv2d``; padding is zeros."""
    x, single = _image(input, "conv2d")
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.ndim != 4:
        raise ShapeError(f"conv2d: the weight must be (out_channels, in_channels/groups, kH, kW), got shape {w.shape}")
    settings = {"stride": pair(stride, "conv2d", "stride", 1), "padding": pair(padding, "conv2d", "padding", 0),
                "dilation": pair(dilation, "conv2d", "dilation", 1)}
    groups = pair(groups, "conv2d", "groups", 1)[0]
    c_in, c_out = x.shape[1], w.shape[0]
    if c_in % groups or c_out % groups:
        raise ValueError(f"conv2d: in_channels ({c_in}) and out_channels ({c_out}) must both be divisible by "
                         f"groups ({groups})")
    if w.shape[1] * groups != c_in:
        raise ShapeError(f"conv2d: the weight {w.shape} takes {w.shape[1] * groups} input channels (with groups="
                         f"{groups}), but the input {x.shape} has {c_in}")
    _fits("conv2d", x.shape, (w.shape[2], w.shape[3]), settings["stride"], settings["padding"], settings["dilation"])
    y = apply(ops.OPS["conv2d"], x, w, groups=groups, **settings)
    if bias is not None:
        y = y + (bias if isinstance(bias, Tensor) else Tensor(bias)).reshape(1, c_out, 1, 1)
    return _out(y, single)


def _pool_settings(what: str, kernel_size: IntPair, stride: IntPair | None, padding: IntPair,
                   ceil_mode: bool) -> dict[str, tuple[int, int]]:
    if ceil_mode:
        raise ValueError(f"{what}: ceil_mode=True is not supported by backproplab; leave it False")
    kernel = pair(kernel_size, what, "kernel_size", 1)
    pad = pair(padding, what, "padding", 0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{what}: padding {pad} must be at most half the kernel {kernel}, as in PyTorch")
    step = kernel if stride is None or stride == () else pair(stride, what, "stride", 1)
    return {"kernel_size": kernel, "stride": step, "padding": pad}


def max_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,  # noqa: A002
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """The largest entry of each window, as ``torch.nn.functional.max_pool2d`` (stride defaults to the kernel)."""
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported by backproplab; leave it False")
    x, single = _image(input, "max_pool2d")
    settings = _pool_settings("max_pool2d", kernel_size, stride, padding, ceil_mode)
    settings["dilation"] = pair(dilation, "max_pool2d", "dilation", 1)
    _fits("max_pool2d", x.shape, settings["kernel_size"], settings["stride"], settings["padding"], settings["dilation"])
    return _out(apply(ops.OPS["max_pool2d"], x, **settings), single)


def avg_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None
               ) -> Tensor:
    """The mean of each window, as ``torch.nn.functional.avg_pool2d`` (stride defaults to the kernel)."""
    if divisor_override is not None:
        raise ValueError("avg_pool2d: divisor_override is not supported by backproplab; leave it None")
    x, single = _image(input, "avg_pool2d")
    settings = _pool_settings("avg_pool2d", kernel_size, stride, padding, ceil_mode)
    _fits("avg_pool2d", x.shape, settings["kernel_size"], settings["stride"], settings["padding"], (1, 1))
    return _out(apply(ops.OPS["avg_pool2d"], x, count_include_pad=bool(count_include_pad), **settings), single)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Means over ``output_size`` windows spread evenly over the image, as ``torch.nn.functional``'s
    (None in ``output_size`` keeps that side's size)."""
    x, single = _image(input, "adaptive_avg_pool2d")
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    sizes = tuple(n if s is None else s for s, n in zip(sizes, x.shape[2:]))
    out = pair(sizes, "adaptive_avg_pool2d", "output_size", 1)
    return _out(apply(ops.OPS["adaptive_avg_pool2d"], x, output_size=out), single)


class Conv2d(Module):
    """A 2-D convolution layer, as ``torch.nn.Conv2d``: weight (out, in/groups, kH, kW) and bias (out,), both
    drawn uniformly within ±1/√(in/groups·kH·kW), PyTorch's default (kaiming-uniform with a = √5).

    The parameters are named ``K{suffix}`` (the kernel) and ``b{suffix}``; without a ``suffix``, the network the
    layer joins numbers it among its layers (``Linear`` ones too), as it numbers ``Linear`` layers."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", suffix: str | None = None, rng: np.random.Generator | None = None,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode {padding_mode!r} is not supported by backproplab; use 'zeros'")
        c_in, c_out = pair((in_channels, out_channels), "Conv2d", "in_channels and out_channels", 1)
        groups = pair(groups, "Conv2d", "groups", 1)[0]
        if c_in % groups or c_out % groups:
            raise ValueError(f"Conv2d: in_channels ({c_in}) and out_channels ({c_out}) must both be divisible by "
                             f"groups ({groups})")
        kh, kw = pair(kernel_size, "Conv2d", "kernel_size", 1)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        rng = rng if rng is not None else np.random.default_rng(0)
        self.auto_named = suffix is None
        suffix = "" if suffix is None else str(suffix)
        bound = 1.0 / np.sqrt(c_in // groups * kh * kw)
        self.weight = Parameter(rng.uniform(-bound, bound, (c_out, c_in // groups, kh, kw)), f"K{suffix}",
                                dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, c_out), f"b{suffix}", dtype=dtype) if bias else None

    def rename(self, suffix: str) -> None:
        """Call the layer's parameters K{suffix} and b{suffix}."""
        self.weight.name = f"K{suffix}"
        if self.bias is not None:
            self.bias.name = f"b{suffix}"

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's names
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def __repr__(self) -> str:
        c_out, c_in, kh, kw = self.weight.shape
        return (f"Conv2d({c_in * self.groups}, {c_out}, kernel_size=({kh}, {kw}), stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"bias={self.bias is not None})")


class MaxPool2d(Module):
    """The largest entry of each window, as ``torch.nn.MaxPool2d``."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def __repr__(self) -> str:
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AvgPool2d(Module):
    """The mean of each window, as ``torch.nn.AvgPool2d``."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def __repr__(self) -> str:
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AdaptiveAvgPool2d(Module):
    """Means over ``output_size`` windows spread evenly over the image, as ``torch.nn.AdaptiveAvgPool2d``."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return adaptive_avg_pool2d(input, self.output_size)

    def __repr__(self) -> str:
        return f"AdaptiveAvgPool2d(output_size={self.output_size})"
