"""Random numbers: NumPy's generator behind PyTorch's names (``Generator``, ``manual_seed``).

A seed gives the same numbers on every run, but not the numbers PyTorch gives for that seed.
Kept apart from the functions that use it so that tensor methods (``normal_``) can use it too.
"""

from __future__ import annotations

import numpy as np


class Generator:
    """A source of random numbers with its own seed, as ``torch.Generator``."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self._seed = seed

    def manual_seed(self, seed: int) -> Generator:
        """Start this generator again from ``seed``."""
        self.rng = np.random.default_rng(seed)
        self._seed = seed
        return self

    def initial_seed(self) -> int | None:
        """The seed this generator was made or last seeded with (None: from the system)."""
        return self._seed


default_generator = Generator()
