"""``explain_torch``: one gradient of a PyTorch model, worked out by the chain rule and checked
against PyTorch's own autograd before it is shown."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from backproplab.bridge import dropout, table
from backproplab.bridge._torch import TorchBridgeError, require_torch
from backproplab.bridge.checks import mismatch, random_forward
from backproplab.bridge.convert import TorchNetwork, from_torch, is_input, unknown_parameter
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
    """Data as a torch tensor; float data in the model's dtype, whole numbers (class labels) as int64; a tuple of
    them (an LSTM's state) as a tuple."""
    if isinstance(value, tuple):
        return tuple(_torch_value(v, dtype, torch) for v in value)
    if value is None:
        return None
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
        if first_of_several(out):
            return out[0]
    if not _is_tensor(out):
        raise TorchBridgeError("the model should return one tensor (or one tensor beside Nones, such as "
                               "(logits, None)); explain_torch cannot explain a tuple of tensors or a dict")
    return out


def first_of_several(out: Any) -> bool:
    """A recurrent model's (output, hidden): a tensor first, then its state (tensors or tuples of them); the first
    is the prediction, as ``output, hidden = model(x, hidden)`` reads it."""
    def state(o: Any) -> bool:
        return o is None or _is_tensor(o) or (isinstance(o, tuple) and all(_is_tensor(i) for i in o))

    return (isinstance(out, (tuple, list)) and len(out) > 1 and _is_tensor(out[0])
            and all(state(o) for o in out[1:]) and sum(o is not None for o in out[1:]) > 0)


def model_loss(out: Any, why: str = "") -> Any:
    """The loss a model's forward returns: the one single number among its outputs; ``why`` is said when
    there is none (which call it was)."""
    items = out if isinstance(out, (tuple, list)) else (out,)
    numbers = [o for o in items if _is_tensor(o) and int(np.prod(tuple(o.shape))) == 1]
    if len(numbers) != 1:
        raise TorchBridgeError(why or "with loss_fn=None the model's forward should return the loss: one single "
                               "number (alone or in a tuple such as (logits, loss))")
    return numbers[0]


def _no_loss(model: Any, given: int) -> str:
    """One line: the forward, called with the arguments given, returned no loss; the arguments it was
    not given (such as targets=None) are named, with the call that passes them."""
    arguments = forward_arguments(model)
    names = [p.name for p in arguments]
    left = [p for p in arguments[given:] if p.default is not p.empty]
    call = f"{type(model).__name__}.forward({', '.join(names[:given])})"
    if left:
        defaults = ", ".join(f"{p.name}={p.default!r}" for p in left)
        return (f"with loss_fn=None the loss is what {call} returns, but with {defaults} (its default) it returns "
                f"no single number; pass {left[0].name} too: explain_torch(model, None, "
                f"({', '.join(names[:given + 1])}), wrt=...), or give a loss_fn to explain the output")
    return (f"with loss_fn=None the loss is what {call} returns, but it returns no single number (alone or in a "
            "tuple such as (logits, loss)); give a loss_fn such as torch.nn.functional.mse_loss")


def _call(model: Any, name: str, args: tuple, frozen: bool) -> tuple[Any, Any]:
    """``model(*args)`` and the tensor that stands for parameter ``name`` in it: the parameter itself, or
    for a frozen one a copy that requires a gradient, put in its place without changing the model."""
    torch = require_torch()
    param = dict(model.named_parameters())[name]
    if not frozen:
        return model(*args), param
    thawed = param.detach().requires_grad_(True)
    return torch.func.functional_call(model, {name: thawed}, args), thawed


def torch_gradient(model: Any, loss_fn: Any, args: tuple, y: Any, name: str) -> tuple[float, np.ndarray]:
    """PyTorch's own loss and gradient of ``name``, without touching the model's ``.grad``; with
    ``loss_fn=None`` the loss is the one ``model(*args)`` returns, else ``loss_fn(model(*args), y)``.
    A frozen parameter (requires_grad=False) gets the gradient autograd would give it with
    requires_grad=True; the model is left as it is."""
    torch = require_torch()
    frozen = not dict(model.named_parameters())[name].requires_grad
    with torch.enable_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, param = _call(model, name, args, frozen)
            if loss_fn is None:
                out = loss = model_loss(out, _no_loss(model, len(args)))
            else:
                out = model_output(out)
                loss = loss_fn(out, y)
        except (RuntimeError, ValueError, IndexError) as exc:
            shapes = ", ".join(str(tuple(getattr(a, "shape", ()))) for a in (*args, *([] if y is None else [y])))
            raise TorchBridgeError(f"PyTorch cannot run the model and loss on this data (of shapes {shapes}): "
                                   f"{str(exc).strip().splitlines()[0][:200]}") from None
    if y is not None and any("target size" in str(w.message) for w in caught):
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


def _loss(model: Any, net: TorchNetwork, loss_net: TorchNetwork | None, args: tuple, y: Any) -> tuple[Tensor, int]:
    """The loss as backproplab computes it, with the network's output named ŷ; without ``loss_net``, the
    loss the network returns when called with ``args``. Also how many outputs there were, when the first of a
    recurrent model's (output, hidden) was taken (else 1)."""
    names = _names(model, len(args), loss_net is None)
    inputs = [_constant(a, n) for a, n in zip(args, names)]
    outputs = 1
    if loss_net is None:
        loss = model_loss(net(*inputs), _no_loss(model, len(args)))
    else:
        raw = net(*inputs)
        outputs = len(raw) if first_of_several(raw) else 1
        out = model_output(raw)
        if out.op is not None:
            out.named("ŷ")
        loss = loss_net(out, Tensor(y.detach().cpu().numpy(), name="y"))
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TorchBridgeError("the loss should be a single number; use reduction='mean' or 'sum'")
    return loss, outputs


def _constant(value: Any, name: str) -> Any:
    """A torch input as a constant backproplab tensor named ``name``; a tuple (h0, c0) as h00, h01."""
    if isinstance(value, tuple):
        return tuple(_constant(v, f"{name}{k}") for k, v in enumerate(value))
    return None if value is None else Tensor(value.detach().cpu().numpy(), name=name)


def _inputs(model: Any, count: int, own_loss: bool) -> list[str] | None:
    """The forward's arguments the converted network takes: the first ``count``; None (those without a
    default) for one input and a loss_fn, as ``model(x)`` is called."""
    if count == 1 and not own_loss:
        return None
    names = [p.name for p in forward_arguments(model)]
    if len(names) < count:
        raise TorchBridgeError(f"{type(model).__name__}.forward takes {len(names)} argument(s) but {count} were "
                               "given; pass the model's inputs as x, or as a tuple such as (idx, targets)")
    return names[:count]


def _arguments(loss_fn: Any, x: Any, y: Any) -> tuple[tuple, Any]:
    """What the model is called with, and the target: ``x`` is one input or a tuple of them (such as
    (idx, targets)); with loss_fn=None a ``y`` given is the forward's next argument."""
    several = isinstance(x, tuple) and any(is_input(a) for a in x) and all(a is None or is_input(a) for a in x)
    inputs = tuple(x) if several else (x,)  # None: an optional argument left out (attn_mask=None)
    if loss_fn is None:
        return inputs + (() if y is None else (y,)), None
    if y is None:
        raise TorchBridgeError("explain_torch needs y, the target the loss compares the model's output with; "
                               "or loss_fn=None to explain the loss the model's forward returns")
    return inputs, y


def _names(model: Any, count: int, own_loss: bool) -> list[str]:
    """The inputs' names in the explanation: x, and y for the targets of a forward's own loss; further
    inputs by the forward's own argument names."""
    if count == 1 or (own_loss and count == 2):
        return ["x", "y"][:count]
    return ["x", *[p.name for p in forward_arguments(model)][1:count]]


def _outputs_note(exp: Explanation, outputs: int) -> None:
    """Which output was explained, when the model returns its state beside its prediction."""
    if outputs > 1:
        exp.blocks.insert(1, Block("note", [f"the model returns {outputs} outputs (the prediction, then its state); "
                                            "the loss is of the first, as output, hidden = model(x, hidden) reads it"]))


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


def explain_torch(model: Any, loss_fn: Any, x: Any, y: Any = None, wrt: Any = None, *,
                  index: tuple[int, ...] | None = None, digits: int = 2, form: str = "auto",
                  lr: float | None = None) -> Explanation:
    """d loss / d parameter of a PyTorch model, worked out by the chain rule with the numbers put in.

    ``wrt`` names a parameter as ``model.named_parameters()`` does, optionally with one entry
    counted from 0 as in PyTorch: ``"0.weight[1,0]"`` (or ``wrt="0.weight", index=(1, 0)``, or
    ``wrt=model[0].weight, index=(1, 0)``). The loss is ``loss_fn(model(x), y)``; ``x`` may be a
    tuple of the forward's inputs. With ``loss_fn=None`` it is the loss the model's own forward
    returns, called with the arguments given: ``explain_torch(model, None, (idx, targets), wrt=...)``
    (or ``x, y`` for ``model(x, y)``) for ``forward(self, idx, targets=None)``; arguments not given
    keep their defaults, as in PyTorch. A frozen parameter (requires_grad=False) is explained as
    autograd would with requires_grad=True; the model itself is left as it is.
    The explanation writes entries counting from 1, as all of backproplab's explanations do.
    Before it is returned, the explained value is checked against PyTorch's own gradient (to
    1e-9 in float64, 1e-5 in float32): a number that is not PyTorch's is never explained.
    """
    torch = require_torch()
    if wrt is None:
        raise TorchBridgeError("say which parameter to explain: wrt='0.weight[1,0]' (a name as "
                               "model.named_parameters() gives it, optionally with an entry counted from 0)")
    args, y = _arguments(loss_fn, x, y)
    net = from_torch(model, inputs=_inputs(model, len(args), loss_fn is None), example=args)
    loss_net = None if loss_fn is None else loss_network(loss_fn)
    wrt, name, index = _target(model, net, wrt, index)
    frozen = not net[name].requires_grad
    net[name].requires_grad = True
    torch_dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    args = tuple(_torch_value(a, torch_dtype, torch) for a in args)
    ty = None if y is None else _torch_value(y, torch_dtype, torch)
    drop = dropout.layer_of(net)
    if drop is not None:
        drop.name_layers(model)
    loss, outputs = _loss(model, net, loss_net, args, ty)
    with dropout.same_masks(model, drop):  # PyTorch drops the entries the converted network dropped
        torch_loss, torch_grad = torch_gradient(model, loss_fn, args, ty, name)
        tol = TOLERANCE[np.dtype(net.dtype)]
        if not _close(float(loss.data), torch_loss, tol):
            raise TorchBridgeError(random_forward(model, args) or mismatch("loss", float(loss.data), torch_loss))
        exp = explain(loss, net[name], index=index, form=form, digits=digits, lr=lr)
        explained = tuple(exp.details["index"]) if np.ndim(exp.gradient) == 0 and exp.details.get("index") else None
        expected = torch_grad[explained] if explained is not None else torch_grad
        if not np.all(_close(np.asarray(exp.gradient, dtype=float), np.asarray(expected, dtype=float), tol)):
            raise TorchBridgeError(random_forward(model, args) or
                                   mismatch(f"gradient of {name}", exp.gradient, expected, explained))
    exp.details["torch_gradient"] = float(expected) if np.ndim(expected) == 0 else np.asarray(expected).tolist()
    _notes(exp, name, explained, frozen)
    _outputs_note(exp, outputs)
    _dropout_note(exp, drop)
    return exp


def _dropout_note(exp: Explanation, drop: dropout.DropoutLayer | None) -> None:
    """Dropout in training mode: which masks the loss was computed with, said once, and kept in the details."""
    masks = list(drop.masks.values()) if drop is not None else []
    if not masks:
        return
    exp.details["dropout_masks"] = {m.scaled.name: m.scaled.data.tolist() for m in masks}
    exp.blocks.insert(1, Block("note", [
        "Dropout is in training mode: each mask was drawn once from torch's generator (torch.manual_seed gives the "
        "same one) and is a constant here, the same PyTorch's check used; " + "; ".join(m.summary() for m in masks)]))


def _close(a: Any, b: Any, tol: float) -> Any:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))
