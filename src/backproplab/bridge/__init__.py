"""The PyTorch bridge: explain the gradients of a PyTorch model, and hand networks over to PyTorch.

Nothing in backproplab imports this package, and it imports PyTorch only when one of its
functions is called; without PyTorch each call says how to install it.
"""

from __future__ import annotations

from backproplab.bridge._torch import TorchBridgeError, TorchMissingError
from backproplab.bridge.convert import TorchNetwork, from_torch
from backproplab.bridge.explain import explain_torch
from backproplab.bridge.export import save, to_torch, torch_source

__all__ = ["TorchBridgeError", "TorchMissingError", "TorchNetwork", "explain_torch", "from_torch", "save", "to_torch",
           "torch_source"]
