"""Optimizers, after ``torch.optim``: each one an update rule. The one training loop is ``train.loop``."""

from backproplab.optim import lr_scheduler
from backproplab.optim.adagrad import Adagrad
from backproplab.optim.adam import Adam, AdamW
from backproplab.optim.gradient_descent import GradientDescent
from backproplab.optim.optimizer import Optimizer, check_learning_rate
from backproplab.optim.rmsprop import RMSprop
from backproplab.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gradient_descent": GradientDescent, "sgd": SGD, "adam": Adam, "adamw": AdamW,
}
"""Optimizers by the names the CLI and spec files use (each one explained on the lesson page); ``RMSprop``
and ``Adagrad`` are for loops of one's own."""

__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "GradientDescent", "Optimizer", "RMSprop",
           "check_learning_rate", "lr_scheduler"]
