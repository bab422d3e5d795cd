"""In-place tensor methods in a forward (``att.masked_fill_(mask, -inf)``, ``x.relu_()``), run as their
out-of-place forms.

backproplab computes without overwriting, so the out-of-place result takes the changed tensor's place for every
later use in the forward, as the changed tensor itself does in PyTorch. That is the same only when nothing else
shares the changed tensor's memory: a call that changes the forward's input, a parameter, or a view (or a tensor
a view was taken of) is refused before anything runs, in one line.
"""

from __future__ import annotations

from typing import Any

from backproplab.bridge import table

METHODS = frozenset(name + "_" for name in (
    "masked_fill", "add", "sub", "mul", "div", "pow", "neg", "exp", "abs", "sqrt", "clamp", "relu", "tanh",
    "sigmoid", "tril", "triu",
))
"""The in-place methods run as the method of the same name without the underscore."""

_VIEW_METHODS = frozenset({
    "view", "view_as", "reshape", "transpose", "permute", "t", "expand", "expand_as", "flatten", "squeeze",
    "unsqueeze", "split", "chunk", "contiguous", "narrow", "select", "unbind", "unfold", "diagonal",
})
_VIEW_FUNCTIONS = frozenset({"getitem", "transpose", "reshape", "flatten", "squeeze", "unsqueeze", "split", "chunk",
                             "permute", "narrow", "select", "unbind", "t", "diagonal", "movedim", "swapaxes"})


def out_of_place(name: str) -> str:
    """The method an in-place call runs as (``masked_fill_`` → ``masked_fill``); other names unchanged."""
    return name[:-1] if name in METHODS else name


def _is_view(node: Any) -> bool:
    """Whether the fx node may give a view of another tensor (an index, a reshape, a transpose, …)."""
    if node.op == "call_method":
        return node.target in _VIEW_METHODS
    return node.op == "call_function" and getattr(node.target, "__name__", "") in _VIEW_FUNCTIONS


def problem(node: Any, where: str) -> str:
    """'' when the in-place call ``node`` may run as its out-of-place form; else why not, in words."""
    changed = node.args[0] if node.args else None
    call, plain = f".{node.target}() (used at {where})", out_of_place(node.target)
    kind = getattr(changed, "op", None)
    if kind in ("placeholder", "get_attr"):
        what = "an input of the forward" if kind == "placeholder" else "a parameter or buffer of the model"
        return f"the in-place call {call} changes {what}; compute a new tensor instead (x = x.{plain}(…))"
    if changed is not None and hasattr(changed, "users") and (
            _is_view(changed) or any(_is_view(user) for user in changed.users if user is not node)):
        return (f"the in-place call {call} changes a tensor that shares its memory with a view; backproplab "
                f"computes without overwriting, so use the out-of-place .{plain}() there")
    return ""


def handled(name: str) -> bool:
    """Whether ``call_method`` runs the method: one the table has, or an in-place one run out of place."""
    return name in table.ALL_METHODS or name in METHODS
