"""A set of public PyTorch models, each copied from its source with a small configuration in float64, and the
data to explain one entry of each with ``bl.explain_torch``: ``MODELS`` lists them (name, source, what each
uses, and a builder returning (model, loss_fn or None, x, y, wrt))."""

from __future__ import annotations

from . import d2l, makemore, mingpt, nanogpt, pytorch_examples, pytorch_tutorials
from .zoo import Case, ZooModel

MODELS: list[ZooModel] = [*pytorch_tutorials.MODELS, *pytorch_examples.MODELS, *makemore.MODELS,
                          *nanogpt.MODELS, *mingpt.MODELS, *d2l.MODELS]

__all__ = ["MODELS", "Case", "ZooModel"]
