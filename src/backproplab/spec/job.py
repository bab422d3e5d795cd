"""A job: a preset or a spec file with its settings applied, built into a network and data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backproplab.nn import Module
from backproplab.spec.presets import Preset
from backproplab.spec.spec import Spec


@dataclass
class Job:
    """A preset or spec file, with the command line's (or the page's) settings applied, ready to train."""

    title: str
    spec: Spec
    net: Module
    x: np.ndarray
    y: np.ndarray
    preset: Preset

    @property
    def loss(self) -> str:
        return self.spec.training["loss"]
