"""The words every surface shares about a run: the loss's symbol, the optimizer's name and the
sentence on where the run stopped. The terminal, the worked run and the lesson page all read them
here, so they never word the same thing two ways."""

from __future__ import annotations

from typing import Any

LOSS_SYMBOLS = {"ssr": "SSR", "mse": "MSE", "bce": "BCE", "cross_entropy": "CE"}
METHODS = {"gradient_descent": "Gradient descent", "sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def loss_symbol(loss: str) -> str:
    """The loss as formulas write it: ``SSR`` for ``ssr``; an unknown loss by its own name."""
    return LOSS_SYMBOLS.get(loss, loss)


def method_name(rule: str) -> str:
    """The optimizer as a heading names it: 'Gradient descent', 'Adam', 'AdamW', …"""
    return METHODS.get(rule, rule.replace("_", " ").capitalize())


def option_name(rule: str) -> str:
    """The optimizer as a list of choices names it, in the sentence's own case: 'gradient descent', but
    'SGD' and 'AdamW' as they are written."""
    name = method_name(rule)
    return name.lower() if " " in name else name


def stopped_sentence(final: Any) -> str:
    """Where the run stopped, in one sentence (``final``: the trace's :class:`Final`); a diverged run's
    sentence ends with the optimizer's own message, which says where it blew up."""
    if final.stopped_by == "min_step":
        return f"Converged after {final.steps} step(s): every |step size| fell below the minimum step."
    if final.stopped_by == "max_steps":
        return f"Stopped after {final.steps} step(s): the maximum number of steps was reached."
    if final.stopped_by == "interrupted":
        return f"Stopped after {final.steps} step(s): interrupted by the user."
    return f"Stopped after {final.steps} step(s): the run diverged. {final.message}".rstrip()
