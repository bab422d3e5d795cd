"""``Dropout``: while training, zero each entry with probability p and scale the rest by 1/(1 − p).

The mask is drawn from the package's generator (``bl.manual_seed``) and applied with the table's
``mul``, so the gradient, mask/(1 − p), and its explanation are the ``mul`` op's. In ``eval()`` mode
the layer passes its input through unchanged, as PyTorch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.functions import Generator, default_generator
from backproplab.engine.recording import RECORDING
from backproplab.engine.tensor import Tensor
from backproplab.nn.module import Module


def check_probability(p: Any) -> float:
    """A dropout probability in [0, 1], or a ValueError (a TypeError for what is no number, as PyTorch)."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"dropout probability has to be a number between 0 and 1, got {p!r}")
    value = float(p)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}; try 0.5")
    return value


def dropout(input: Any, p: float = 0.5, training: bool = True,  # noqa: A002 - PyTorch's names
            generator: Generator | None = None) -> Tensor:
    """``input`` times a mask of 0s (probability p) and 1/(1 − p)s while ``training``, else ``input``."""
    p = check_probability(p)
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not training or p == 0.0:
        return x
    keep = (generator or default_generator).rng.random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything, as PyTorch
    RECORDING.value_dependent = True  # a new mask every call: bl.compile records the graph anew
    return x * Tensor(keep.astype(x.dtype) * np.asarray(scale, dtype=x.dtype))


class Dropout(Module):
    """Zero each entry with probability ``p`` while training (scaling the rest by 1/(1 − p)); nothing in eval."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability(p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
