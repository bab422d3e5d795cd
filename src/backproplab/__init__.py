"""backproplab: an autograd engine that shows its work.

``Tensor`` records a graph as you compute; ``backward()`` fills in gradients by reverse-mode
autodiff; every primitive op carries its local derivative in words, so the explainer can
write out the chain rule with the numbers put in.
"""

from __future__ import annotations

__version__ = "0.1.0"

from backproplab.util import interrupts  # noqa: E402  (first: Ctrl-C while the command starts is one line)

interrupts.start()  # in the backproplab command only; a program that imports the library keeps its Ctrl-C

import importlib  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from backproplab import nn, optim  # noqa: E402
from backproplab.bridge import explain_torch, from_torch, to_torch  # noqa: E402 - imports torch only when called
from backproplab.engine import functions, ops  # noqa: E402
from backproplab.engine.autodiff import backprop, topological_order  # noqa: E402
from backproplab.engine.device import cuda, device  # noqa: E402
from backproplab.engine.functions import (  # noqa: E402
    Generator,
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
    maximum,
    mean,
    minimum,
    mul,
    neg,
    normal,
    ones,
    ones_like,
    permute,
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
from backproplab.engine.grad_mode import enable_grad, is_grad_enabled, no_grad  # noqa: E402
from backproplab.engine.gradcheck import central_difference, grad_check  # noqa: E402
from backproplab.engine.replay import compile  # noqa: E402
from backproplab.engine.tensor import ShapeError, Tensor  # noqa: E402
from backproplab.engine.tensor_methods import MaxResult, Size  # noqa: E402
from backproplab.engine.tensor_selection import SortResult, TopkResult  # noqa: E402
from backproplab.explain import Explanation, explain, forward_table  # noqa: E402
from backproplab.nn import MLP, Linear, Module, Parameter, Sequential, functional, losses  # noqa: E402  # noqa: E402
from backproplab.spec import datasets, presets  # noqa: E402
from backproplab.train.trace import Trace, TraceError  # noqa: E402

float32, float64, int32, int64 = np.float32, np.float64, np.int32, np.int64
bool_ = np.bool_
# PyTorch's short names for the dtypes (bl.float is float32, as torch.float); left out of __all__ so a star
# import keeps Python's float, int and the rest.
float, double, long, int = np.float32, np.float64, np.int64, np.int32  # noqa: A001

# bl.abs, bl.max, bl.min, bl.pow and bl.sum, as torch's; left out of __all__ so a star import keeps the built-ins.
abs, max, min, pow, sum = functions.abs, functions.max, functions.min, functions.pow, functions.sum  # noqa: A001

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


# Imported when first used: ``bl.plots`` loads matplotlib, ``bl.widgets`` needs the notebook extra (anywidget).
_LAZY = {"plots": "backproplab.plots", "widgets": "backproplab.lesson.widget"}


def __getattr__(name: str) -> Any:
    """``bl.plots`` and ``bl.widgets``, imported on first use, so ``import backproplab`` stays quick."""
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    raise AttributeError(f"module 'backproplab' has no attribute {name!r}")
