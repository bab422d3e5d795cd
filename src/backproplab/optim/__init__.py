"""Optimizers, after ``torch.optim``: each one an update rule. The one training loop is ``train.loop``."""

from backproplab.optim import lr_scheduler
from backproplab.optim.optimizer import OPTIMIZERS, SGD, Adam, AdamW, GradientDescent, Optimizer, check_learning_rate

__all__ = ["OPTIMIZERS", "SGD", "Adam", "AdamW", "GradientDescent", "Optimizer", "check_learning_rate", "lr_scheduler"]
