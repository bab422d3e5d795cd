"""Networks, after ``torch.nn``: modules, layers, activations, losses and ``functional``.

Parameters carry math names (``w1``, ``b3``, ``W2``) because those are the names an
explanation speaks of.
"""

from backproplab.nn import functional, losses
from backproplab.nn.activation import (
    ACTIVATION_MODULES,
    ELU,
    GELU,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)
from backproplab.nn.containers import MLP, ModuleList, Sequential
from backproplab.nn.linear import Linear, check_sizes
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter

__all__ = ["ACTIVATION_MODULES", "ELU", "GELU", "MLP", "Activation", "Identity", "LeakyReLU", "Linear", "Module",
           "ModuleList", "Parameter", "ReLU", "Sequential", "SiLU", "Sigmoid", "Softplus", "Tanh", "check_sizes",
           "functional", "losses"]
