"""``explain_torch``: one gradient of a PyTorch model, worked out by the chain rule and checked
against PyTorch's own autograd before it is shown."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.bridge.convert import TorchNetwork, from_torch, unknown_parameter
from backproplab.engine.tensor import Tensor
from backproplab.explain import Explanation, explain
from backproplab.explain.document import Block

TOLERANCE = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-5}
_WRT = re.compile(r"\s*([^\[\]\s]+)\s*(?:\[\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*,?\s*\])?\s*")


def parse_wrt(wrt: str) -> tuple[str, tuple[int, ...] | None]:
    """'0.weight[1,0]' → ('0.weight', (1, 0)); entries count from 0, as in PyTorch."""
    match = _WRT.fullmatch(wrt) if isinstance(wrt, str) else None
    if not match:
        raise TorchBridgeError(f"wrt should name a parameter, optionally with an entry, such as '0.weight[1,0]'; "
                               f"got {str(wrt)[:60]!r}")
    index = tuple(int(i) for i in match.group(2).split(",")) if match.group(2) else None
    return match.group(1), index


def loss_network(loss_fn: Any) -> TorchNetwork:
    """The loss (a torch loss module, a torch.nn.functional loss, or a callable of supported ops), converted."""
    torch = require_torch()
    if not callable(loss_fn):
        raise TorchBridgeError(f"loss_fn should be a loss such as torch.nn.functional.mse_loss or "
                               f"torch.nn.MSELoss(), got {type(loss_fn).__name__}")

    class Loss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if isinstance(loss_fn, torch.nn.Module):
                self.loss = loss_fn
            else:
                self.fn = loss_fn

        def forward(self, input: Any, target: Any) -> Any:  # noqa: A002 - PyTorch's names
            return self.loss(input, target) if hasattr(self, "loss") else self.fn(input, target)

    return from_torch(Loss())


def _torch_value(value: Any, dtype: Any, torch: Any) -> Any:
    """Data as a torch tensor; float data in the model's dtype, whole numbers (class labels) as int64."""
    t = value.detach() if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
    return t.to(dtype) if t.is_floating_point() else t


def torch_gradient(model: Any, loss_fn: Any, x: Any, y: Any, name: str) -> tuple[float, np.ndarray]:
    """PyTorch's own loss and gradient of ``name``, without touching the model's ``.grad``."""
    torch = require_torch()
    params = dict(model.named_parameters())
    with torch.enable_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = model(x)
            loss = loss_fn(out, y)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise TorchBridgeError(f"PyTorch cannot run the model and loss on this data (x of shape "
                                   f"{tuple(x.shape)}, y of shape {tuple(y.shape)}): "
                                   f"{str(exc).strip().splitlines()[0][:200]}") from None
    if any("target size" in str(w.message) for w in caught):
        raise TorchBridgeError(f"y has shape {tuple(y.shape)} but the model's output has shape {tuple(out.shape)}; "
                               f"PyTorch would broadcast one against the other, so reshape y to {tuple(out.shape)}")
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss, [params[name]], allow_unused=True)
    value = np.zeros(tuple(params[name].shape)) if grad is None else grad.detach().cpu().numpy()
    return float(loss.detach()), value


def _target(model: Any, net: TorchNetwork, wrt: Any, index: tuple[int, ...] | None
            ) -> tuple[str, str, tuple[int, ...] | None]:
    """What ``wrt`` (and ``index``) name: the text for messages, the parameter's name, and the entry
    (counted from 0, negative entries made positive), checked against the parameter's shape."""
    if not isinstance(wrt, str):  # the parameter itself, such as model[0].weight
        names = [n for n, p in model.named_parameters() if p is wrt]
        if not names:
            raise TorchBridgeError("wrt should be a parameter of the model or its name, such as '0.weight[1,0]'")
        wrt = names[0]
    name, parsed = parse_wrt(wrt)
    index = parsed if parsed is not None else (tuple(index) if index is not None else None)
    if name not in dict(net.named_parameters()):
        raise TorchBridgeError(unknown_parameter(net, name))
    if index is not None:
        param = net[name]
        if len(index) != param.ndim or any(not -n <= i < n for i, n in zip(index, param.shape)):
            raise TorchBridgeError(f"the entry {list(index)} does not fit {name}, which has shape {tuple(param.shape)} "
                                   "(entries count from 0, as in PyTorch)")
        index = tuple(i % n for i, n in zip(index, param.shape))
    return wrt, name, index


def _loss(net: TorchNetwork, loss_net: TorchNetwork, x: Any, y: Any) -> Tensor:
    """The loss as backproplab computes it, with the network's output named ŷ."""
    bx = Tensor(x.detach().cpu().numpy(), name="x")
    by = Tensor(y.detach().cpu().numpy(), name="y")
    out = net(bx)
    if not isinstance(out, Tensor):
        raise TorchBridgeError("the model should return one tensor; explain_torch cannot explain a tuple or dict")
    if out.op is not None:
        out.named("ŷ")
    loss = loss_net(out, by)
    if not isinstance(loss, Tensor) or loss.size != 1:
        raise TorchBridgeError("the loss should be a single number; use reduction='mean' or 'sum'")
    return loss


def explain_torch(model: Any, loss_fn: Any, x: Any, y: Any, wrt: Any, *, index: tuple[int, ...] | None = None,
                  digits: int = 2, form: str = "auto", lr: float | None = None) -> Explanation:
    """d loss / d parameter of a PyTorch model, worked out by the chain rule with the numbers put in.

    ``wrt`` names a parameter as ``model.named_parameters()`` does, optionally with one entry
    counted from 0 as in PyTorch: ``"0.weight[1,0]"`` (or ``wrt="0.weight", index=(1, 0)``, or
    ``wrt=model[0].weight, index=(1, 0)``).
    The explanation writes entries counting from 1, as all of backproplab's explanations do.
    Before it is returned, the explained value is checked against PyTorch's own gradient (to
    1e-9 in float64, 1e-5 in float32): a number that is not PyTorch's is never explained.
    """
    torch = require_torch()
    net = from_torch(model)
    loss_net = loss_network(loss_fn)
    wrt, name, index = _target(model, net, wrt, index)
    torch_dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    tx, ty = _torch_value(x, torch_dtype, torch), _torch_value(y, torch_dtype, torch)
    loss = _loss(net, loss_net, tx, ty)
    torch_loss, torch_grad = torch_gradient(model, loss_fn, tx, ty, name)
    tol = TOLERANCE[np.dtype(net.dtype)]
    if not _close(float(loss.data), torch_loss, tol):
        raise TorchBridgeError(f"backproplab's loss {float(loss.data)!r} differs from PyTorch's {torch_loss!r}; "
                               "please report this model as a bug")
    exp = explain(loss, wrt=net[name], index=index, digits=digits, form=form, lr=lr)
    expected = torch_grad[index] if index is not None else torch_grad
    if not np.all(_close(np.asarray(exp.gradient, dtype=float), np.asarray(expected, dtype=float), tol)):
        raise TorchBridgeError(f"the explained gradient of {wrt} ({exp.gradient}) differs from PyTorch's "
                               f"({expected}); please report this model as a bug")
    exp.details["torch_gradient"] = float(expected) if np.ndim(expected) == 0 else np.asarray(expected).tolist()
    if index is not None:
        shown = ",".join(str(i + 1) for i in index)
        exp.blocks.insert(1, Block("note", [f"entries count from 1 here: {name}[{shown}] is PyTorch's "
                                            f"{name}[{', '.join(map(str, index))}]"]))
    exp.blocks.append(Block("note", ["checked: PyTorch's own autograd gives the same gradient"]))
    return exp


def _close(a: Any, b: Any, tol: float) -> Any:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))
