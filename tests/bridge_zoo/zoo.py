"""What one model of the set is: where it comes from, what it uses, and how to build it with its data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

Case = tuple[Any, Any, Any, Any, str]
"""(model, loss_fn or None, x, y, wrt): the arguments of ``bl.explain_torch`` for one entry."""


@dataclass(frozen=True)
class ZooModel:
    """A public model, copied with a small configuration in float64."""

    name: str
    source: str  # the public file it is copied from
    uses: str  # its layers and calls, as a reader would list them
    build: Callable[..., Case]  # build(seed=0, batch=2) -> Case
    random: bool = False  # its forward draws random numbers (random.randint, dropout while training)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def floats(seed: int, *shape: int) -> torch.Tensor:
    """Normal data in float64, the same for a seed."""
    return torch.randn(*shape, generator=generator(seed), dtype=torch.float64)


def tokens(seed: int, high: int, *shape: int) -> torch.Tensor:
    """Whole numbers in [0, high), such as class labels or token ids, the same for a seed."""
    return torch.randint(0, high, shape, generator=generator(seed))
