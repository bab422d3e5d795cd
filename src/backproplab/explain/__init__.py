"""The explainer: every gradient worked out by the chain rule, in numbers, from the recorded graph."""

from backproplab.explain.core import Explanation, explain, step_work
from backproplab.explain.forward import ForwardTable, forward_table
from backproplab.explain.node import explain_node
from backproplab.explain.plan import RunExplainer

__all__ = ["Explanation", "ForwardTable", "RunExplainer", "explain", "explain_node", "forward_table", "step_work"]
