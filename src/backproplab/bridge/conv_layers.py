"""PyTorch's convolution and pooling layers and functions, run with backproplab's conv ops.

Options the ops do not have (string padding, padding modes other than zeros, ceil_mode, return_indices,
divisor_override) are refused before anything runs, naming the call, so nothing is computed differently.
"""

from __future__ import annotations

from typing import Any

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.tensor import Tensor
from backproplab.nn import conv


def _refuse(where: str, setting: str, value: Any, fix: str) -> None:
    raise TorchBridgeError(f"{where}: {setting}={value!r} is not supported by backproplab; {fix}")


def _check_padding(where: str, padding: Any) -> None:
    if isinstance(padding, str):
        _refuse(where, "padding", padding, "give the padding as a whole number or a pair of them")


def _check_pool(where: str, ceil_mode: Any, return_indices: Any = False, divisor_override: Any = None) -> None:
    if ceil_mode:
        _refuse(where, "ceil_mode", ceil_mode, "leave it False")
    if return_indices:
        _refuse(where, "return_indices", return_indices, "leave it False")
    if divisor_override is not None:
        _refuse(where, "divisor_override", divisor_override, "leave it None")


def conv2d_function(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
                    dilation: Any = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv2d."""
    _check_padding("torch.nn.functional.conv2d", padding)
    return conv.conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d_function(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                        dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """torch.nn.functional.max_pool2d."""
    _check_pool("torch.nn.functional.max_pool2d", ceil_mode, return_indices)
    return conv.max_pool2d(input, kernel_size, stride, padding, dilation)


def avg_pool2d_function(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                        ceil_mode: bool = False, count_include_pad: bool = True,
                        divisor_override: Any = None) -> Tensor:
    """torch.nn.functional.avg_pool2d."""
    _check_pool("torch.nn.functional.avg_pool2d", ceil_mode, divisor_override=divisor_override)
    return conv.avg_pool2d(input, kernel_size, stride, padding, count_include_pad=count_include_pad)


def conv2d_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    """Conv2d with the converted network's weight (PyTorch's (out, in/groups, kH, kW) layout) and bias."""
    if module.padding_mode != "zeros":
        _refuse(where, "padding_mode", module.padding_mode, "use padding_mode='zeros'")
    _check_padding(where, module.padding)
    return conv.conv2d(x, params["weight"], params.get("bias"), module.stride, module.padding, module.dilation,
                       module.groups)


def max_pool2d_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    _check_pool(where, module.ceil_mode, module.return_indices)
    return conv.max_pool2d(x, module.kernel_size, module.stride, module.padding, module.dilation)


def avg_pool2d_layer(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    _check_pool(where, module.ceil_mode, divisor_override=module.divisor_override)
    return conv.avg_pool2d(x, module.kernel_size, module.stride, module.padding,
                           count_include_pad=module.count_include_pad)


def functions(torch: Any) -> dict[Any, Any]:
    """The convolution and pooling functions by torch function."""
    tf = torch.nn.functional
    return {tf.conv2d: conv2d_function, tf.max_pool2d: max_pool2d_function,
            tf.avg_pool2d: avg_pool2d_function, tf.adaptive_avg_pool2d: conv.adaptive_avg_pool2d}


def handlers(torch: Any) -> dict[type, Any]:
    """The convolution and pooling layers by type."""
    nn = torch.nn
    return {nn.Conv2d: conv2d_layer, nn.MaxPool2d: max_pool2d_layer, nn.AvgPool2d: avg_pool2d_layer,
            nn.AdaptiveAvgPool2d: lambda module, params, where, x: conv.adaptive_avg_pool2d(x, module.output_size)}
