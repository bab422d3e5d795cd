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
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from backproplab.nn.containers import MLP, ModuleList, Sequential
from backproplab.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from backproplab.nn.dropout import Dropout
from backproplab.nn.embedding import Embedding
from backproplab.nn.flatten import Flatten, Unflatten
from backproplab.nn.linear import Linear, check_sizes
from backproplab.nn.loss_modules import (
    LOSS_MODULES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from backproplab.nn.module import Module
from backproplab.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from backproplab.nn.parameter import Parameter
from backproplab.nn.recurrent import GRU, LSTM, RNN

__all__ = ["ACTIVATION_MODULES", "ELU", "GELU", "GRU", "LOSS_MODULES", "LSTM", "MLP", "RNN", "Activation",
           "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "HuberLoss", "Identity", "KLDivLoss", "L1Loss",
           "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleList",
           "NLLLoss", "Parameter", "ReLU", "Sequential", "SiLU", "SmoothL1Loss", "Sigmoid", "Softmax", "Softplus",
           "Tanh", "Unflatten", "check_sizes", "functional", "losses"]
