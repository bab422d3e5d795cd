"""A whole training step compiled: the optimizer's update written into the replay, after the backward pass.

A function given to ``bl.compile`` may run the step itself, as a PyTorch training step does::

    @bl.compile
    def step():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

While it is recorded, ``backward()``, ``zero_grad()`` and ``step()`` tell the recording so
(``recording.note_step``). A step of the form *zero_grad, backward of the returned loss, step*
(the zero_grad optional, before or after) is then replayed as one generated function: the
gradients cleared, the forward pass, the backward pass, and each parameter's update, written out
by the optimizer itself (its ``update_lines``: "optimizers are update rules"), reading the same
``.grad`` the plain ``opt.step()`` reads, so every step gives the same bits. Any other pattern is
run as written, recorded anew at every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from sys import getrefcount
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from backproplab.engine.tape import Tape


@dataclass
class StepPlan:
    """What a recorded step function did: the optimizer it stepped (None: backward only) and when it cleared."""

    optimizer: Any = None
    clear_before: bool = False
    clear_after: bool = False


def plan_of(events: list[tuple[str, Any]], root: Any) -> StepPlan | bool | None:
    """The step a recorded function ran: None when it ran no backward (``bl.compile`` runs it), a
    :class:`StepPlan` for backward of the returned loss with at most one optimizer's step after it, or
    False for any other pattern (the function is then run as written at every call)."""
    if not events:
        return None
    kinds = [what for what, _ in events]
    if kinds.count("backward") != 1 or kinds.count("step") > 1:
        return False
    b = kinds.index("backward")
    if events[b][1] is not root:
        return False
    if "step" not in kinds:
        return StepPlan() if len(events) == 1 else False
    s = kinds.index("step")
    opt = events[s][1]
    if s < b or any(what != "zero_grad" or who is not opt for k, (what, who) in enumerate(events) if k not in (b, s)):
        return False
    if any(b < k < s for k, (what, _) in enumerate(events) if what == "zero_grad") or not hasattr(opt, "update_lines"):
        return False
    return StepPlan(opt, clear_before=kinds[0] == "zero_grad", clear_after=kinds[-1] == "zero_grad")


@dataclass
class UpdateWriter:
    """Names the objects the update lines use (the optimizer, its groups, arrays) as closure variables."""

    objects: list[Any] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)  # lines run once at the top of the update, before any parameter
    setup: list[str] = field(default_factory=list)  # lines run once, when the code is made (naming what objs hold)
    recorded: list[Any] = field(default_factory=list)  # per parameter: unchanged()'s name for its recorded array,
    # and that array (None: the parameter is not an input of the tape)
    _names: dict[int, str] = field(default_factory=dict)
    _first: set[str] = field(default_factory=set)

    def held_alone(self) -> int:
        """What ``getrefcount(d)`` gives in the update for ``d = node.data`` when nothing but the node holds it."""
        return held_alone()

    def first(self, key: str, lines: list[str]) -> None:
        """Run ``lines`` once at the top of the update (a check of a group's settings, a rate it shares):
        written once per ``key``, however many parameters ask for them."""
        if key not in self._first:
            self._first.add(key)
            self.preamble += lines

    def name(self, obj: Any) -> str:
        """The generated code's name for ``obj`` (``u0``, ``u1``, …), one per object."""
        key = id(obj)
        if key not in self._names:
            self.objects.append(obj)
            self._names[key] = f"u{len(self.objects) - 1}"
        return self._names[key]


def update_lines(plan: StepPlan, tape: Tape, writer: UpdateWriter) -> tuple[list[str], list[str]]:
    """The lines that clear the gradients, and those that update each trained parameter of the tape
    by the optimizer's own rule (its ``update_lines``)."""
    opt = plan.optimizer
    if opt is None:
        return [], []
    slot = {id(n): i for i, n in tape.inputs}
    clear: list[str] = []
    if all(id(p) in slot for p in opt.params):
        for part in _chunks([f"n{slot[id(p)]}" for p in opt.params], 3):
            clear.append(" = ".join([f"{n}._grad = {n}._grad_view" for n in part] + ["None"]))
    else:
        clear.append(f"{writer.name(opt)}.zero_grad()")
    lines = []
    if hasattr(opt, "flat_update"):  # every parameter at once, where the rule and the parameters allow
        nodes = [f"n{slot[id(p)]}" if id(p) in slot else None for p in opt.params]
        recorded = {id(node): (f"i{k}", data) for k, (node, data, *_) in enumerate(tape._state)}
        writer.recorded = [recorded.get(id(p)) for p in opt.params]
        lines += opt.flat_update(nodes, writer, _views_of(tape, opt.params, slot))
    for k, p in enumerate(opt.params):
        i = slot.get(id(p))
        if i is None or not p.requires_grad:
            continue  # no gradient reaches it: opt.step() leaves it as it is
        lines += opt.update_lines(k, f"n{i}", writer)
    return clear, [*writer.preamble, *lines]


@cache
def held_alone() -> int:
    """``getrefcount`` of an array held by one attribute and one local variable (3 on CPython 3.11): measured,
    not assumed, as ``codegen.unheld`` is."""

    class Holder:
        __slots__ = ("data",)
        data: np.ndarray

    holder = Holder()
    holder.data = np.empty(1)

    def probe() -> int:
        d = holder.data
        return getrefcount(d)

    return probe()


def _views_of(tape: Tape, params: list[Any], slot: dict[int, int]) -> int:
    """How many of the tape's nodes are a parameter transposed: their ``.data``, set at every step, is a view of
    the parameter's array. (Any other node that holds such a view makes the flat update step aside.)"""
    ids = {id(p) for p in params}
    return sum(1 for n in tape.nodes if id(n) not in slot and n.op is not None and n.op.name == "transpose"
               and id(n.parents[0]) in ids)


def _chunks(names: list[str], size: int) -> list[list[str]]:
    return [names[k:k + size] for k in range(0, len(names), size)]
