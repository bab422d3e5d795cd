"""PyTorch, imported only when a bridge function is called, so backproplab never needs it."""

from __future__ import annotations

from typing import Any

from backproplab.util.messages import InputError

INSTALL = 'this needs PyTorch: pip install "backproplab[torch]" (torch==2.13.0)'


class TorchMissingError(ImportError):
    """PyTorch is not installed; the message says how to install it."""


class TorchBridgeError(InputError):
    """A model, loss or input the bridge cannot convert; the message names it and where it is used."""


def require_torch() -> Any:
    """The ``torch`` module, or one clear error that says how to install it."""
    try:
        import torch
        import torch.fx  # noqa: F401 - the converter's tracer
    except ImportError:
        raise TorchMissingError(INSTALL) from None
    return torch
