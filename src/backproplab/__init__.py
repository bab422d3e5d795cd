"""backproplab: an autograd engine that shows its work.

``Tensor`` records a graph as you compute; ``backward()`` fills in gradients by reverse-mode
autodiff; every primitive op carries its local derivative in words, so the explainer can
write out the chain rule with the numbers put in.

The names below are imported on first use (a module ``__getattr__``, PEP 562): ``import backproplab``
loads neither numpy nor the engine until a name is used, so ``backproplab --help`` and ``--version``
answer at once. ``_NAMES`` says where each name comes from; the same imports under ``TYPE_CHECKING``
let type checkers and editors see every name.
"""

from __future__ import annotations

__version__ = "0.1.0"

from backproplab.util import interrupts  # noqa: E402  (first: Ctrl-C while the command starts is one line)

interrupts.start()  # in the backproplab command only; a program that imports the library keeps its Ctrl-C

import importlib  # noqa: E402
import sys  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from numpy import bool_, float32, float64, int32, int64

    from backproplab import bridge, engine, nn, optim, plots, spec, train, util  # noqa: F401
    from backproplab.bridge import explain_torch, from_torch, to_torch
    from backproplab.engine import functions, ops  # noqa: F401
    from backproplab.engine.autodiff import backprop, topological_order
    from backproplab.engine.device import cuda, device
    from backproplab.engine.functions import (
        Generator,
        abs,  # noqa: F401
        add,
        arange,
        argmax,
        argmin,
        as_tensor,
        cat,
        chunk,
        clamp,
        clip,
        concat,
        cos,
        diag,
        div,
        empty,
        exp,
        eye,
        flatten,
        from_numpy,
        full,
        full_like,
        gather,
        linspace,
        log,
        log2,
        log10,
        log_softmax,
        logsumexp,
        manual_seed,
        masked_fill,
        matmul,
        max,  # noqa: F401
        maximum,
        mean,
        min,  # noqa: F401
        minimum,
        mul,
        neg,
        normal,
        ones,
        ones_like,
        permute,
        pow,  # noqa: F401
        prod,
        rand,
        rand_like,
        randint,
        randn,
        randn_like,
        relu,
        reshape,
        scatter,
        sigmoid,
        sign,
        sin,
        softmax,
        softplus,
        sort,
        split,
        sqrt,
        squeeze,
        stack,
        std,
        sub,
        sum,  # noqa: F401
        tanh,
        tensor,
        topk,
        transpose,
        tril,
        triu,
        unsqueeze,
        var,
        where,
        zeros,
        zeros_like,
    )
    from backproplab.engine.grad_mode import enable_grad, is_grad_enabled, no_grad
    from backproplab.engine.gradcheck import central_difference, grad_check
    from backproplab.engine.replay import compile
    from backproplab.engine.tensor import ShapeError, Tensor
    from backproplab.engine.tensor_methods import MaxResult, Size
    from backproplab.engine.tensor_selection import SortResult, TopkResult
    from backproplab.explain import Explanation, explain, forward_table
    from backproplab.explain.check_answer import check
    from backproplab.lesson import widget as widgets  # noqa: F401
    from backproplab.lesson.export import export
    from backproplab.lesson.handout_files import handout
    from backproplab.lesson.slides import slides
    from backproplab.lesson.tour import lesson_script
    from backproplab.nn import MLP, Linear, Module, Parameter, Sequential, functional, losses
    from backproplab.spec import datasets, presets
    from backproplab.train.trace import Trace, TraceError

    float, double, long, int = float32, float64, int64, int32  # noqa: A001

__all__ = [
    "Explanation", "Generator", "Linear", "MLP", "MaxResult", "Module", "Parameter", "Sequential", "ShapeError",
    "Size", "SortResult", "Tensor", "TopkResult", "Trace", "TraceError", "add", "arange", "argmax", "argmin",
    "as_tensor", "backprop", "bool_", "cat", "central_difference", "chunk", "clamp", "clip", "compile", "concat",
    "cos", "datasets", "diag", "div", "empty", "enable_grad", "exp", "explain", "eye", "flatten", "float32",
    "float64", "forward_table", "from_numpy", "full", "full_like", "functional", "gather", "grad_check", "int32",
    "int64", "is_grad_enabled", "linspace", "log", "log10", "log2", "log_softmax", "logsumexp", "losses",
    "manual_seed", "masked_fill", "matmul", "maximum", "mean", "minimum", "mul", "neg", "nn", "no_grad", "normal",
    "ones", "ones_like", "ops", "optim", "permute", "presets", "prod", "rand", "rand_like", "randint", "randn",
    "randn_like", "relu", "reshape", "scatter", "sigmoid", "sign", "sin", "softmax", "softplus", "sort", "split",
    "sqrt", "squeeze", "stack", "std", "sub", "tanh", "tensor", "topk", "topological_order", "transpose", "tril",
    "triu", "unsqueeze", "var", "where", "zeros", "zeros_like",
]
__all__ += ["cuda", "device", "explain_torch", "from_torch", "to_torch"]
__all__ += ["check"]
__all__ += ["export", "lesson_script"]
__all__ += ["slides"]
__all__ += ["handout"]
# bl.abs, bl.max, bl.min, bl.pow and bl.sum (as torch's) and bl.float, bl.int … are left out of __all__, so that
# a star import keeps Python's built-ins.

# Each name -> the module it is imported from.
_NAMES: dict[str, str] = {
    **dict.fromkeys([
        "Generator", "abs", "add", "arange", "argmax", "argmin", "as_tensor", "cat", "chunk", "clamp", "clip",
        "concat", "cos", "diag", "div", "empty", "exp", "eye", "flatten", "from_numpy", "full", "full_like", "gather",
        "linspace", "log", "log2", "log10", "log_softmax", "logsumexp", "manual_seed", "masked_fill", "matmul", "max",
        "maximum", "mean", "min", "minimum", "mul", "neg", "normal", "ones", "ones_like", "permute", "pow", "prod",
        "rand", "rand_like", "randint", "randn", "randn_like", "relu", "reshape", "scatter", "sigmoid", "sign", "sin",
        "softmax", "softplus", "sort", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum", "tanh", "tensor",
        "topk", "transpose", "tril", "triu", "unsqueeze", "var", "where", "zeros", "zeros_like",
    ], "backproplab.engine.functions"),
    **dict.fromkeys(["explain_torch", "from_torch", "to_torch"], "backproplab.bridge"),  # torch only when called
    **dict.fromkeys(["backprop", "topological_order"], "backproplab.engine.autodiff"),
    **dict.fromkeys(["cuda", "device"], "backproplab.engine.device"),
    **dict.fromkeys(["enable_grad", "is_grad_enabled", "no_grad"], "backproplab.engine.grad_mode"),
    **dict.fromkeys(["central_difference", "grad_check"], "backproplab.engine.gradcheck"),
    "compile": "backproplab.engine.replay",
    **dict.fromkeys(["ShapeError", "Tensor"], "backproplab.engine.tensor"),
    **dict.fromkeys(["MaxResult", "Size"], "backproplab.engine.tensor_methods"),
    **dict.fromkeys(["SortResult", "TopkResult"], "backproplab.engine.tensor_selection"),
    **dict.fromkeys(["Explanation", "explain", "forward_table"], "backproplab.explain"),
    "check": "backproplab.explain.check_answer",
    "export": "backproplab.lesson.export",
    "handout": "backproplab.lesson.handout_files",
    "lesson_script": "backproplab.lesson.tour",
    "slides": "backproplab.lesson.slides",
    **dict.fromkeys(["MLP", "Linear", "Module", "Parameter", "Sequential"], "backproplab.nn"),
    **dict.fromkeys(["Trace", "TraceError"], "backproplab.train.trace"),
    **dict.fromkeys(["bool_", "float32", "float64", "int32", "int64"], "numpy"),
}
# Modules reached as names: bl.nn, bl.optim, bl.spec.read … (bl.plots loads matplotlib, bl.widgets needs anywidget).
_MODULES: dict[str, str] = {
    "bridge": "backproplab.bridge", "datasets": "backproplab.spec.datasets", "engine": "backproplab.engine",
    "functional": "backproplab.nn.functional", "functions": "backproplab.engine.functions",
    "losses": "backproplab.nn.losses", "nn": "backproplab.nn", "ops": "backproplab.engine.ops",
    "optim": "backproplab.optim", "plots": "backproplab.plots", "presets": "backproplab.spec.presets",
    "spec": "backproplab.spec", "train": "backproplab.train", "widgets": "backproplab.lesson.widget",
}
# PyTorch's short names for the dtypes: bl.float is float32, as torch.float.
_DTYPES: dict[str, str] = {"float": "float32", "double": "float64", "long": "int64", "int": "int32"}


def __getattr__(name: str) -> Any:
    """A name of the package, imported the first time it is used and kept from then on."""
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _DTYPES:
        value = getattr(importlib.import_module("numpy"), _DTYPES[name])
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'backproplab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES, *_MODULES, *_DTYPES})


class _Package(ModuleType):
    """The package's module. Python sets each subpackage on its parent once it is first imported, and
    ``backproplab.explain`` (imported on first use, after this file) would then replace ``bl.explain``,
    the function: this keeps the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "explain" and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
