"""The explainer: every gradient worked out by the chain rule, in numbers, from the recorded graph."""

from backproplab.explain.core import Explanation, explain, step_work

__all__ = ["Explanation", "explain", "step_work"]
