"""The explainer: every gradient worked out by the chain rule, in numbers, from the recorded graph."""

from backproplab.explain.article import compared_with_article
from backproplab.explain.core import Explanation, explain
from backproplab.explain.forward import ForwardTable, forward_table
from backproplab.explain.node import explain_node
from backproplab.explain.plan import RunExplainer
from backproplab.explain.steps import step_work

__all__ = ["Explanation", "ForwardTable", "RunExplainer", "compared_with_article", "explain", "explain_node",
           "forward_table", "step_work"]
