"""``explain_torch``: one gradient of a PyTorch model, worked out by the chain rule and checked
against PyTorch's own autograd before it is shown."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from backproplab.bridge import table
from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.bridge.checks import mismatch, random_forward
from backproplab.bridge.convert import TorchNetwork, from_torch, unknown_parameter
from backproplab.bridge.tracing import calling_line, forward_arguments
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

    _check_loss(loss_fn, torch)
    torch_module: Any = torch.nn.Module  # torch is imported when called: a base class a type checker cannot see

    class Loss(torch_module):
        def __init__(self) -> None:
            super().__init__()
            if isinstance(loss_fn, torch.nn.Module):
                self.loss = loss_fn
            else:
                self.fn = loss_fn

        def forward(self, input: Any, target: Any) -> Any:  # noqa: A002 - PyTorch's names
            return self.loss(input, target) if hasattr(self, "loss") else self.fn(input, target)

    return from_torch(Loss())


def _check_loss(loss_fn: Any, torch: Any) -> None:
    """Refuse one of PyTorch's own losses that backproplab does not have, at the user's call of explain_torch
    (the loss is PyTorch's, so no line of the user's code is inside it), naming the losses it has."""
    if isinstance(loss_fn, torch.nn.Module):
        kind = type(loss_fn)
        known = table.module_handlers(torch)
        if not kind.__module__.startswith("torch.") or kind in known:
            return
        what = f"the loss {kind.__name__}"
    else:
        known = table.function_handlers(torch)
        if not (getattr(loss_fn, "__module__", "") or "").startswith("torch") or loss_fn in known:
            return
        what = f"the loss function {table.function_name(loss_fn)}"
    functions = ", ".join(sorted(table.function_name(f) for f in table.loss_handlers(torch)))
    modules = ", ".join(sorted(t.__name__ for t in table.module_handlers(torch) if t.__name__.endswith("Loss")))
    raise TorchBridgeError(f"{what} (loss_fn{calling_line()}) is not supported by backproplab; supported losses: "
                           f"{functions}; or the modules {modules}")


def _torch_value(value: Any, dtype: Any, torch: Any) -> Any:
    """Data as a torch tensor; float data in the model's dtype, whole numbers (class labels) as int64."""
    t = value.detach() if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
    return t.to(dtype) if t.is_floating_point() else t


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor) or table.is_torch_tensor(value)


def model_output(out: Any) -> Any:
    """The one tensor a model returns, also from a tuple such as (logits, None)."""
    if isinstance(out, (tuple, list)):
        tensors = [o for o in out if _is_tensor(o)]
        if len(tensors) == 1 and all(o is None or _is_tensor(o) for o in out):
            return tensors[0]
    if not _is_tensor(out):
        raise TorchBridgeError("the model should return one tensor (or one tensor beside Nones, such as "
                               "(logits, None)); explain_torch cannot explain a tuple of tensors or a dict")
    return out


def model_loss(out: Any) -> Any:
    """The loss a model's forward returns: the one single number among its outputs."""
    items = out if isinstance(out, (tuple, list)) else (out,)
    numbers = [o for o in items if _is_tensor(o) and int(np.prod(tuple(o.shape))) == 1]
    if len(numbers) != 1:
        raise TorchBridgeError("with loss_fn=None the model's forward, called as model(x, y), should return the "
                               "loss: one single number (alone or in a tuple such as (logits, loss))")
    return numbers[0]


def _call(model: Any, name: str, args: tuple, frozen: bool) -> tuple[Any, Any]:
    """``model(*args)`` and the tensor that stands for parameter ``name`` in it: the parameter itself, or
    for a frozen one a copy that requires a gradient, put in its place without changing the model."""
    torch = require_torch()
    param = dict(model.named_parameters())[name]
    if not frozen:
        return model(*args), param
    thawed = param.detach().requires_grad_(True)
    return torch.func.functional_call(model, {name: thawed}, args), thawed


def torch_gradient(model: Any, loss_fn: Any, x: Any, y: Any, name: str) -> tuple[float, np.ndarray]:
    """PyTorch's own loss and gradient of ``name``, without touching the model's ``.grad``; with
    ``loss_fn=None`` the loss is the one ``model(x, y)`` returns. A frozen parameter (requires_grad=False)
    gets the gradient autograd would give it with requires_grad=True; the model is left as it is."""
    torch = require_torch()
    frozen = not dict(model.named_parameters())[name].requires_grad
    with torch.enable_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if loss_fn is None:
                out, param = _call(model, name, (x, y), frozen)
                out = loss = model_loss(out)
            else:
                out, param = _call(model, name, (x,), frozen)
                out = model_output(out)
                loss = loss_fn(out, y)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise TorchBridgeError(f"PyTorch cannot run the model and loss on this data (x of shape "
                                   f"{tuple(x.shape)}, y of shape {tuple(y.shape)}): "
                                   f"{str(exc).strip().splitlines()[0][:200]}") from None
    if any("target size" in str(w.message) for w in caught):
        raise TorchBridgeError(f"y has shape {tuple(y.shape)} but the model's output has shape {tuple(out.shape)}; "
                               f"PyTorch would broadcast one against the other, so reshape y to {tuple(out.shape)}")
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss, [param], allow_unused=True)
    value = np.zeros(tuple(param.shape)) if grad is None else grad.detach().cpu().numpy()
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


def _loss(net: TorchNetwork, loss_net: TorchNetwork | None, x: Any, y: Any) -> Tensor:
    """The loss as backproplab computes it, with the network's output named ŷ; without ``loss_net``, the
    loss the network returns when called with both x and y."""
    bx = Tensor(x.detach().cpu().numpy(), name="x")
    by = Tensor(y.detach().cpu().numpy(), name="y")
    if loss_net is None:
        loss = model_loss(net(bx, by))
    else:
        out = model_output(net(bx))
        if out.op is not None:
            out.named("ŷ")
        loss = loss_net(out, by)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TorchBridgeError("the loss should be a single number; use reduction='mean' or 'sum'")
    return loss


def _own_loss_inputs(model: Any) -> list[str]:
    """The forward's first two arguments, which take x and y when the forward computes the loss itself."""
    names = [p.name for p in forward_arguments(model)]
    if len(names) < 2:
        raise TorchBridgeError(f"loss_fn=None explains the loss {type(model).__name__}.forward returns when called as "
                               f"model(x, y), but it takes {len(names)} argument(s); pass a loss_fn such as "
                               "torch.nn.functional.mse_loss")
    return names[:2]


def _notes(exp: Explanation, name: str, index: tuple[int, ...] | None, frozen: bool) -> None:
    """Entries counted from 1, a frozen parameter, and the check against PyTorch, said in the explanation."""
    if frozen:
        exp.blocks.insert(1, Block("note", [f"{name} has requires_grad=False in the model, so training leaves it as "
                                            "it is; this is the gradient PyTorch's autograd gives it with "
                                            "requires_grad=True"]))
    if index is not None and np.ndim(exp.gradient) == 0:
        shown = ",".join(str(i + 1) for i in index)
        exp.blocks.insert(1, Block("note", [f"entries count from 1 here: {name}[{shown}] is PyTorch's "
                                            f"{name}[{', '.join(map(str, index))}]"]))
    exp.blocks.append(Block("note", ["checked: PyTorch's own autograd gives the same gradient"]))


def explain_torch(model: Any, loss_fn: Any, x: Any, y: Any, wrt: Any, *, index: tuple[int, ...] | None = None,
                  digits: int = 2, form: str = "auto", lr: float | None = None) -> Explanation:
    """d loss / d parameter of a PyTorch model, worked out by the chain rule with the numbers put in.

    ``wrt`` names a parameter as ``model.named_parameters()`` does, optionally with one entry
    counted from 0 as in PyTorch: ``"0.weight[1,0]"`` (or ``wrt="0.weight", index=(1, 0)``, or
    ``wrt=model[0].weight, index=(1, 0)``). The loss is ``loss_fn(model(x), y)``; with
    ``loss_fn=None`` it is the loss the model's own forward returns from ``model(x, y)`` (as in
    ``forward(self, idx, targets=None)``). A frozen parameter (requires_grad=False) is explained as
    autograd would with requires_grad=True; the model itself is left as it is.
    The explanation writes entries counting from 1, as all of backproplab's explanations do.
    Before it is returned, the explained value is checked against PyTorch's own gradient (to
    1e-9 in float64, 1e-5 in float32): a number that is not PyTorch's is never explained.
    """
    torch = require_torch()
    net = from_torch(model, inputs=_own_loss_inputs(model) if loss_fn is None else None)
    loss_net = None if loss_fn is None else loss_network(loss_fn)
    wrt, name, index = _target(model, net, wrt, index)
    frozen = not net[name].requires_grad
    net[name].requires_grad = True
    torch_dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    tx, ty = _torch_value(x, torch_dtype, torch), _torch_value(y, torch_dtype, torch)
    loss = _loss(net, loss_net, tx, ty)
    torch_loss, torch_grad = torch_gradient(model, loss_fn, tx, ty, name)
    tol = TOLERANCE[np.dtype(net.dtype)]
    args = (tx, ty) if loss_fn is None else (tx,)
    if not _close(float(loss.data), torch_loss, tol):
        raise TorchBridgeError(random_forward(model, args) or mismatch("loss", float(loss.data), torch_loss))
    exp = explain(loss, net[name], index=index, form=form, digits=digits, lr=lr)
    expected = torch_grad[index] if index is not None and np.ndim(exp.gradient) == 0 else torch_grad
    if not np.all(_close(np.asarray(exp.gradient, dtype=float), np.asarray(expected, dtype=float), tol)):
        raise TorchBridgeError(random_forward(model, args) or
                               mismatch(f"gradient of {name}", exp.gradient, expected, index))
    exp.details["torch_gradient"] = float(expected) if np.ndim(expected) == 0 else np.asarray(expected).tolist()
    _notes(exp, name, index, frozen)
    return exp


def _close(a: Any, b: Any, tol: float) -> Any:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))
