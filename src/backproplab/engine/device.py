"""Devices, as PyTorch names them: everything here runs on the CPU.

Scripts written for PyTorch move tensors and models with ``.to(device)`` and ask
``torch.cuda.is_available()``; both work here, so such a script runs unchanged on the CPU.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

DEVICES = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla")


def is_device(value: Any) -> bool:
    """Whether ``value`` names a device (``"cpu"``, ``"cuda:0"``, a ``torch.device``) rather than a dtype."""
    name = str(value).split(":")[0].lower() if isinstance(value, str) or type(value).__name__ == "device" else ""
    return name in DEVICES


def check_device(device: Any) -> None:
    """Accept the CPU; any other device gets one line saying what to do."""
    if str(device).split(":")[0].lower() != "cpu":
        raise ValueError(f"backproplab runs on the CPU only, got device {str(device)!r}; use .to('cpu') or leave "
                         "out .to(device)")


def split_to_args(args: tuple[Any, ...], dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """``.to(dtype)``, ``.to(device)`` and ``.to(device, dtype)`` alike: returns (dtype, device)."""
    for arg in args:
        if is_device(arg):
            device = arg
        else:
            dtype = arg
    if device is not None:
        check_device(device)
    return dtype, device


cuda = SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)
"""``bl.cuda.is_available()`` is False, so ``"cuda" if torch.cuda.is_available() else "cpu"`` picks the CPU."""


def device(kind: str = "cpu") -> str:
    """A device by name, as ``torch.device("cpu")``: the name itself, which ``.to()`` accepts for the CPU."""
    if not is_device(kind):
        raise ValueError(f"device: unknown device {kind!r}; backproplab runs on the CPU, so use 'cpu'")
    return str(kind)
