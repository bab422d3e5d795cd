"""What each supported PyTorch layer, function and tensor method becomes in backproplab.

Every entry runs backproplab's own functions, which run ops from the op table, so an explained
gradient of a converted model reads the same derivative statements as any other. Anything not
listed here is refused by name: a missing entry is an error, never a guess.
"""

from __future__ import annotations

import inspect
import math
import operator
import sys
from collections.abc import Callable
from typing import Any

from backproplab.bridge import attention, constants, conv_layers, dropout, multihead, norm_layers, recurrent_layers
from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine import functions
from backproplab.engine.functions import matmul
from backproplab.engine.tensor import Tensor
from backproplab.nn import functional as F
from backproplab.nn import losses
from backproplab.nn.embedding import embedding

Handler = Callable[..., Any]


def to_tensor(value: Any) -> Any:
    """A torch tensor as a constant backproplab tensor (same values and dtype); anything else as it is."""
    if is_torch_tensor(value):
        return Tensor(value.detach().cpu().numpy().copy())
    return value


def is_torch_tensor(value: Any) -> bool:
    return not isinstance(value, Tensor) and type(value).__module__.startswith("torch") and hasattr(value, "detach")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, where: str = "linear") -> Tensor:
    """x Wᵀ + b with W in PyTorch's (out, in) layout, so W[o, i] is the same entry as in PyTorch."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise TorchBridgeError(f"{where} takes {weight.shape[-1]} input features, but its input has shape "
                               f"{tuple(x.shape)}; check the data's columns against the model's first layer")
    return F.linear(x, weight, bias)


# --- losses, with PyTorch's arguments ----------------------------------------------------------------
def _bound(torch_fn: Any, args: tuple, kwargs: dict, name: str) -> dict[str, Any]:
    try:
        bound = inspect.signature(torch_fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise TorchBridgeError(f"{name}: {exc}") from None
    given = dict(bound.arguments)
    for old in ("size_average", "reduce"):
        if given.get(old) is not None:
            raise TorchBridgeError(f"{name}: {old}= is deprecated in PyTorch; use reduction='mean', 'sum' or 'none'")
    return given


def _refuse(given: dict[str, Any], name: str, *settings: str) -> None:
    for s in settings:
        if given.get(s) is not None:
            raise TorchBridgeError(f"{name}: the {s}= setting is not supported by backproplab; leave it out")


def _squared_error(prediction: Any, target: Any, reduction: str) -> Tensor:
    """PyTorch's mse_loss; summed, it is the worked examples' SSR, and is named so."""
    if reduction == "sum":
        return losses.ssr(prediction, target)
    return losses.mse(prediction, target, reduction=reduction)


def loss_handlers(torch: Any) -> dict[Any, Handler]:
    """torch.nn.functional's losses → backproplab.nn.losses, keyed by the torch function."""
    tf = torch.nn.functional

    def mse(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.mse_loss, args, kwargs, "mse_loss")
        _refuse(g, "mse_loss", "weight")
        return _squared_error(g["input"], g["target"], g.get("reduction", "mean"))

    def l1(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.l1_loss, args, kwargs, "l1_loss")
        _refuse(g, "l1_loss", "weight")
        return losses.l1_loss(g["input"], g["target"], reduction=g.get("reduction", "mean"))

    def huber(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.huber_loss, args, kwargs, "huber_loss")
        _refuse(g, "huber_loss", "weight")
        return losses.huber_loss(g["input"], g["target"], reduction=g.get("reduction", "mean"),
                                 delta=g.get("delta", 1.0))

    def smooth_l1(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.smooth_l1_loss, args, kwargs, "smooth_l1_loss")
        return losses.smooth_l1_loss(g["input"], g["target"], reduction=g.get("reduction", "mean"),
                                     beta=g.get("beta", 1.0))

    def kl_div(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.kl_div, args, kwargs, "kl_div")
        return losses.kl_div(g["input"], g["target"], reduction=g.get("reduction", "mean"),
                             log_target=g.get("log_target", False))

    def bce(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.binary_cross_entropy, args, kwargs, "binary_cross_entropy")
        return losses.binary_cross_entropy(g["input"], g["target"], to_tensor(g.get("weight")),
                                           reduction=g.get("reduction", "mean"))

    def bce_logits(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.binary_cross_entropy_with_logits, args, kwargs, "binary_cross_entropy_with_logits")
        _refuse(g, "binary_cross_entropy_with_logits", "pos_weight")
        return losses.bce_with_logits(g["input"], g["target"], to_tensor(g.get("weight")),
                                      reduction=g.get("reduction", "mean"))

    def cross_entropy(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.cross_entropy, args, kwargs, "cross_entropy")
        return losses.cross_entropy(g["input"], g["target"], to_tensor(g.get("weight")),
                                    ignore_index=g.get("ignore_index", -100), reduction=g.get("reduction", "mean"),
                                    label_smoothing=g.get("label_smoothing", 0.0))

    def nll(*args: Any, **kwargs: Any) -> Tensor:
        g = _bound(tf.nll_loss, args, kwargs, "nll_loss")
        return losses.nll_loss(g["input"], g["target"], to_tensor(g.get("weight")),
                               ignore_index=g.get("ignore_index", -100), reduction=g.get("reduction", "mean"))

    return {tf.mse_loss: mse, tf.l1_loss: l1, tf.huber_loss: huber, tf.smooth_l1_loss: smooth_l1, tf.kl_div: kl_div,
            tf.binary_cross_entropy: bce,
            tf.binary_cross_entropy_with_logits: bce_logits, tf.cross_entropy: cross_entropy, tf.nll_loss: nll}


# --- functions ---------------------------------------------------------------------------------------
def _softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return F.softplus(x, beta=beta, threshold=threshold)


def _getattr(obj: Any, name: str) -> Any:
    """A tensor's attributes a forward reads; ``.device`` is the CPU, where backproplab computes."""
    if isinstance(obj, Tensor) and name in ("shape", "ndim", "T", "mT", "dtype"):
        return obj.transpose(-2, -1) if name == "mT" else getattr(obj, name)
    if isinstance(obj, Tensor) and name in ("device", "is_cuda"):
        return "cpu" if name == "device" else False
    raise TorchBridgeError(f"the attribute .{name} is not supported by backproplab")


def function_handlers(torch: Any) -> dict[Any, Handler]:
    """Functions a forward may call (torch.*, torch.nn.functional.*, operators) → backproplab."""
    tf = torch.nn.functional
    table: dict[Any, Handler] = {
        operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
        operator.truediv: operator.truediv, operator.pow: operator.pow, operator.neg: operator.neg,
        operator.pos: operator.pos, operator.matmul: operator.matmul, operator.getitem: operator.getitem,
        operator.gt: operator.gt, operator.ge: operator.ge, operator.lt: operator.lt, operator.le: operator.le,
        operator.eq: operator.eq, operator.ne: operator.ne, operator.floordiv: operator.floordiv,
        operator.mod: operator.mod, operator.invert: operator.invert, operator.and_: operator.and_,
        operator.or_: operator.or_, getattr: _getattr,
        torch.add: functions.add, torch.sub: functions.sub, torch.subtract: functions.sub,
        torch.mul: functions.mul, torch.multiply: functions.mul, torch.div: functions.div,
        torch.true_divide: functions.div, torch.neg: functions.neg, torch.pow: functions.pow,
        torch.matmul: matmul, torch.mm: matmul, torch.bmm: matmul,
        torch.exp: lambda x: x.exp(), torch.log: lambda x: x.log(), torch.abs: functions.abs,
        torch.sqrt: functions.sqrt, torch.maximum: functions.maximum, torch.minimum: functions.minimum,
        torch.clamp: functions.clamp, torch.clip: functions.clamp, torch.where: functions.where,
        torch.sum: functions.sum, torch.mean: functions.mean, torch.logsumexp: lambda x, dim, keepdim=False:
        x.logsumexp(dim=dim, keepdim=keepdim), torch.cat: functions.cat, torch.concat: functions.cat,
        torch.stack: functions.stack, torch.reshape: functions.reshape, torch.flatten: functions.flatten,
        torch.permute: functions.permute, torch.transpose: functions.transpose, torch.squeeze: functions.squeeze,
        torch.unsqueeze: functions.unsqueeze, torch.t: lambda x: x.T,
        torch.relu: F.relu, tf.relu: F.relu, torch.tanh: F.tanh, tf.tanh: F.tanh, torch.sigmoid: F.sigmoid,
        tf.sigmoid: F.sigmoid, tf.softplus: _softplus, tf.leaky_relu: F.leaky_relu, tf.gelu: F.gelu,
        tf.silu: F.silu, tf.elu: F.elu, tf.logsigmoid: F.logsigmoid,
        torch.softmax: functions.softmax, tf.softmax: functions.softmax,
        torch.log_softmax: functions.log_softmax, tf.log_softmax: functions.log_softmax,
        tf.linear: linear, tf.embedding: embedding, tf.layer_norm: norm_layers.layer_norm_function,
        torch.split: functions.split, torch.chunk: functions.chunk, torch.masked_fill: functions.masked_fill,
        torch.tril: functions.tril, torch.triu: functions.triu,
        tf.scaled_dot_product_attention: attention.scaled_dot_product_attention,
    }
    table.update(constants.constructors(torch))
    table.update(SIZE_MATH)
    table.update(conv_layers.functions(torch))
    table.update(dropout.functions(torch))
    table.update(loss_handlers(torch))
    return table


SIZE_MATH = {fn: fn for fn in vars(math).values() if callable(fn) and not isinstance(fn, type)}
"""Python's math functions (math.sqrt(k.size(-1))): fx records them as steps when given a size, as PyTorch computes
them, on plain numbers."""


def function_name(fn: Any) -> str:
    """'torch.sort', 'torch.nn.functional.relu': a function as a PyTorch user writes it."""
    name = getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", "") or ""
    module = {"torch._C._nn": "torch.nn.functional", "torch.functional": "torch"}.get(module, module)
    return f"{module}.{name}" if module else name


def function_names(handlers: dict[Any, Handler]) -> list[str]:
    """The functions a forward may call by name (Python's operators and getattr are not listed)."""
    functional = sys.modules.get("torch.nn.functional")
    names = set()
    for fn in handlers:
        name = getattr(fn, "__name__", "")
        if (getattr(fn, "__module__", "") or "").startswith("torch") and name:
            names.add(function_name(fn))
            if getattr(functional, name, None) is fn:  # torch.conv2d is also torch.nn.functional.conv2d
                names.add(f"torch.nn.functional.{name}")
    return sorted(names)


METHODS = frozenset({
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log", "abs", "sqrt", "clamp", "clip", "maximum",
    "minimum", "sum", "mean", "logsumexp", "reshape", "view", "flatten", "permute", "transpose", "squeeze",
    "unsqueeze", "expand", "expand_as", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "softplus",
    "split", "chunk", "masked_fill", "tril", "triu", "eq", "ne", "lt", "le", "gt", "ge", "contiguous",
})
"""Tensor methods a forward may call; each is backproplab's method of the same name and arguments."""
ALL_METHODS = METHODS | {"size", "dim", "numel", "clone", "detach", "t"}
"""Those and the methods ``call_method`` handles itself."""


def call_method(name: str, obj: Any, args: tuple, kwargs: dict) -> Any:
    """``obj.name(*args, **kwargs)`` on a backproplab tensor, for the methods PyTorch shares with it."""
    if name in ("size", "dim", "numel") and isinstance(obj, Tensor):
        if name != "size":
            return obj.ndim if name == "dim" else obj.numel()
        return tuple(obj.shape) if not args and "dim" not in kwargs else obj.shape[kwargs.get("dim", *args)]
    if name in ("clone", "detach") and isinstance(obj, Tensor):
        return getattr(obj, name)()
    if name == "t" and isinstance(obj, Tensor):
        return obj.T
    if name == "view" and isinstance(obj, Tensor):  # PyTorch's memory layout decided whether a view was possible
        return obj.reshape(*args, **kwargs)  # and PyTorch's forward checks it; the entries are the same
    if name not in METHODS or not isinstance(obj, Tensor):
        raise KeyError(name)
    return getattr(obj, name)(*args, **kwargs)


# --- layers ------------------------------------------------------------------------------------------
def module_handlers(torch: Any) -> dict[type, Handler]:
    """Layers by type → a function (module, params, where, *inputs) giving the layer's output.

    ``params`` maps the layer's own parameter names (``weight``, ``bias``) to the converted
    network's parameters, so that a layer computes with the very tensors the network owns.
    """
    nn = torch.nn

    def simple(fn: Handler) -> Handler:
        return lambda module, params, where, x: fn(x)

    layers = norm_layers.handlers(torch) | conv_layers.handlers(torch) | recurrent_layers.handlers(torch)
    return layers | dropout.handlers(torch) | multihead.handlers(torch) | {
        nn.Linear: lambda module, params, where, x: linear(x, params["weight"], params.get("bias"), where),
        nn.ReLU: simple(F.relu), nn.Tanh: simple(F.tanh), nn.Sigmoid: simple(F.sigmoid),
        nn.Softplus: lambda module, params, where, x: _softplus(x, module.beta, module.threshold),
        nn.LeakyReLU: lambda module, params, where, x: F.leaky_relu(x, module.negative_slope),
        nn.GELU: lambda module, params, where, x: F.gelu(x, approximate=module.approximate),
        nn.SiLU: simple(F.silu), nn.ELU: lambda module, params, where, x: F.elu(x, module.alpha),
        nn.LogSigmoid: simple(F.logsigmoid),
        nn.Softmax: lambda module, params, where, x: functions.softmax(x, _dim(module, x)),
        nn.LogSoftmax: lambda module, params, where, x: functions.log_softmax(x, _dim(module, x)),
        nn.Identity: lambda module, params, where, x, *rest: x,
        nn.Flatten: lambda module, params, where, x: functions.flatten(x, module.start_dim, module.end_dim),
        nn.Embedding: _embedding_module,
        nn.MSELoss: lambda m, p, w, a, b: _squared_error(a, b, m.reduction),
        nn.L1Loss: lambda m, p, w, a, b: losses.l1_loss(a, b, reduction=m.reduction),
        nn.HuberLoss: lambda m, p, w, a, b: losses.huber_loss(a, b, reduction=m.reduction, delta=m.delta),
        nn.SmoothL1Loss: lambda m, p, w, a, b: losses.smooth_l1_loss(a, b, reduction=m.reduction, beta=m.beta),
        nn.KLDivLoss: lambda m, p, w, a, b: losses.kl_div(a, b, reduction=m.reduction, log_target=m.log_target),
        nn.BCELoss: lambda m, p, w, a, b: losses.binary_cross_entropy(a, b, to_tensor(m.weight),
                                                                      reduction=m.reduction),
        nn.BCEWithLogitsLoss: _bce_logits_module,
        nn.CrossEntropyLoss: lambda m, p, w, a, b: losses.cross_entropy(
            a, b, to_tensor(m.weight), ignore_index=m.ignore_index, reduction=m.reduction,
            label_smoothing=m.label_smoothing),
        nn.NLLLoss: lambda m, p, w, a, b: losses.nll_loss(a, b, to_tensor(m.weight), ignore_index=m.ignore_index,
                                                          reduction=m.reduction),
    }


def _embedding_module(module: Any, params: dict[str, Any], where: str, x: Any) -> Tensor:
    if module.padding_idx is not None or module.max_norm is not None:
        raise TorchBridgeError(f"{where}: Embedding(padding_idx=..., max_norm=...) is not supported by backproplab")
    return embedding(x, params["weight"])


def _bce_logits_module(m: Any, p: Any, where: str, a: Any, b: Any) -> Tensor:
    if m.pos_weight is not None:
        raise TorchBridgeError(f"{where}: BCEWithLogitsLoss(pos_weight=...) is not supported by backproplab")
    return losses.bce_with_logits(a, b, to_tensor(m.weight), reduction=m.reduction)


def _dim(module: Any, x: Tensor) -> int:
    """Softmax(dim=None) picks a dimension as PyTorch's legacy rule does: 0 for 0-, 1- and 3-d input, else 1."""
    if module.dim is not None:
        return module.dim
    return 0 if x.ndim in (0, 1, 3) else 1
