"""backproplab: an autograd engine that shows its work.

``Tensor`` records a graph as you compute; ``backward()`` fills in gradients by reverse-mode
autodiff; every primitive op carries its local derivative in words, so the explainer can
write out the chain rule with the numbers put in.
"""

from __future__ import annotations

__version__ = "0.1.0"

from backproplab import datasets, losses, nn, ops, optim, presets  # noqa: E402
from backproplab.autodiff import backprop, compile, topological_order  # noqa: E402
from backproplab.explain import Explanation, explain, forward_table  # noqa: E402
from backproplab.gradcheck import central_difference, grad_check  # noqa: E402
from backproplab.nn import MLP, Linear, Module, Parameter, Sequential  # noqa: E402
from backproplab.tensor import (  # noqa: E402
    Tensor,
    enable_grad,
    exp,
    is_grad_enabled,
    log,
    logsumexp,
    matmul,
    no_grad,
    relu,
    sigmoid,
    softplus,
    tanh,
    tensor,
)
from backproplab.trace import Trace  # noqa: E402

__all__ = [
    "MLP", "Explanation", "Linear", "Module", "Parameter", "Sequential", "Tensor", "Trace", "backprop",
    "central_difference", "compile", "datasets", "enable_grad", "exp", "explain", "forward_table", "grad_check",
    "is_grad_enabled", "log", "logsumexp", "losses", "matmul", "nn", "no_grad", "ops", "optim", "presets", "relu",
    "sigmoid", "softplus", "tanh", "tensor", "topological_order",
]
