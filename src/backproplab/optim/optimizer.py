"""The base of every optimizer: the parameter groups, and one ``step()`` for all rules.

A family (``gradient_descent``, ``sgd``, ``adam``) says only how far each parameter moves
(``delta``); ``step()`` moves them. It dispatches, as ``torch.optim``'s ``sgd()`` does between
its single-tensor and multi-tensor paths, between two siblings: :func:`_step_scalars` for
parameters that are single float64 numbers under a rule of gradient × learning rate (the
worked examples), and :meth:`Optimizer._step_each` for everything else. The loop that runs an
optimizer is ``train.loop``.

As in ``torch.optim``, the parameters are in ``param_groups``: dicts of ``'params'`` and the
settings (``'lr'``, ``'momentum'``, …) that apply to them; a constructor takes tensors (one group)
or a list of such dicts, whose missing settings come from the constructor's arguments.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backproplab.engine.recording import note_step
from backproplab.engine.tensor import Tensor
from backproplab.nn import Module
from backproplab.train import loop
from backproplab.train.trace import Trace

IN_PLACE_FROM = 256  # parameters with more entries than this are updated in place
Scalar = tuple[Tensor, np.ndarray, np.ndarray]  # a parameter, its own 0-d float64 array, its step size's array
Group = dict[str, Any]  # 'params' and the settings that apply to them, as in torch.optim


def check_learning_rate(lr: Any, allow_zero: bool = False) -> float:
    """A positive, finite number (or zero, where a schedule may reach it), or a ValueError that says so."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"the learning rate must be a number, got {lr!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}; try 0.1")
    return value


def check_setting(value: Any, name: str, low: float = 0.0, high: float = math.inf, hint: str = "") -> float:
    """A number in [low, high), or a ValueError naming the setting."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (low <= number < high):
        span = f"at least {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise ValueError(f"{name} must be {span}, got {value!r}{hint}")
    return number


def move_lines(node: str, large: bool, alone: int, read: bool = True, same_dtype: bool = False) -> list[str]:
    """p ← p − s, as ``step()`` moves a parameter by its step size ``s``, as lines of a compiled step.

    A large array moves in place, as in ``step()``; a small one too where nothing but the parameter
    holds it (``alone`` is ``getrefcount``'s count then): ``step()`` makes a new array, which only an
    array kept elsewhere needs. The numbers are the same either way. ``read``: whether to read ``d = p.data``
    first (False where the lines before have); ``same_dtype``: ``s`` is known to have ``p``'s dtype (a buffer
    of the recorded dtype, which the replay checks).
    """
    first = [f"d = {node}.data"] if read else []
    check = "d.flags.writeable" + ("" if same_dtype else " and d.dtype == s.dtype")
    if large:
        return [*first, f"if {check}:", "    subtract(d, s, d)  # in place", "else:", f"    {node}.data = d - s"]
    return [*first, f"if getrefcount(d) <= {alone} and {check}:",
            "    subtract(d, s, d)  # in place: nothing else holds the array",
            "else:  # kept elsewhere, or read-only: a new array, as step() makes", f"    {node}.data = subtract(d, s)"]


def move_number_lines(node: str, alone: int) -> list[str]:
    """p ← p − s for one float64 number (``d = p.data``, ``s`` a Python float), as lines of a compiled step: in
    place where nothing but the parameter holds ``d``, else a new array, as ``step()`` makes."""
    return [f"if getrefcount(d) <= {alone} and d.flags.writeable:",
            "    d[()] = d.item() - s  # in place: nothing else holds the array",
            "else:  # kept elsewhere, or read-only: a new array, as step() makes",
            f"    {node}.data = array(d.item() - s)"]


def switch_check_lines(opt: Any, group: Group, names: Any, keys: tuple[str, ...], what: str) -> None:
    """The check, run first in a compiled update, that none of the group's settings ``keys`` (the terms the update
    writes out or leaves out) was switched on or off since the step was written; else ``step()`` itself runs."""
    me, grp = names.name(opt), names.name(group)
    changed = " or ".join(f"{'not ' if group[key] else ''}{grp}['{key}']" for key in keys)
    names.first(f"settings {grp}", [f"if {changed}:", f"    # {what} switched on or off since this step was written: "
                                    "step() itself", f"    {me}.step()", "    return"])


def _step_scalars(scalars: list[Scalar], lr: float) -> list[np.ndarray]:
    """Move single float64 numbers by gradient × lr, each in its own array; returns their step sizes.

    Python's float arithmetic is the same IEEE arithmetic as NumPy's, without its overhead, so
    the numbers are bit for bit those of the array path. Stops at the first parameter that has
    no gradient or whose array was replaced: the list returned is then shorter than ``scalars``.
    """
    steps = []
    for p, data, out in scalars:
        grad = p._grad
        if grad is None or p.data is not data:
            break
        delta = float(grad) * lr
        data[()] = data.item() - delta  # item(): a float64's own value, a little faster than float()
        out[()] = delta
        steps.append(out)
    return steps


class Optimizer(ABC):
    """Holds the parameters to train; subclasses say how far each one moves per step."""

    name = "optimizer"
    scalar_rule = False  # True where delta() is exactly gradient × lr (then single numbers take _step_scalars)

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float, **defaults: Any) -> None:
        if isinstance(params, Tensor):
            raise TypeError("the optimizer takes an iterable of tensors or of dicts (parameter groups), got a "
                            "Tensor; pass [tensor] or model.parameters()")
        self.defaults: dict[str, Any] = {"lr": lr, **defaults}
        self.param_groups: list[Group] = []
        self.params: list[Tensor] = []  # every group's parameters, in order
        self._group_of: list[Group] = []  # the group of each entry of params
        self._rates: dict[np.dtype, tuple[float, np.ndarray]] = {}
        self._scalars: list[np.ndarray | None] = []  # single numbers stepped in place
        self._scalar_steps: list[Any] = []  # their step sizes, as 0-d arrays
        self._all_scalars: list[Scalar] | None = None  # set once every parameter is such a number
        self.min_step = 1e-4
        self.max_steps = 1000
        items: list[Any] = list(params)
        if not items:
            raise ValueError("the optimizer got no parameters to train")
        for group in items if isinstance(items[0], dict) else [{"params": items}]:
            self.add_param_group(group)

    def add_param_group(self, param_group: Group) -> None:
        """Train more parameters, with settings of their own (the constructor's for those not given), as
        ``torch.optim``'s ``add_param_group``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict with 'params', got {type(param_group).__name__}")
        if "params" not in param_group:
            raise KeyError("a parameter group needs 'params': the tensors it trains, such as "
                           "{'params': model.parameters(), 'lr': 0.01}")
        given = param_group["params"]
        params = loop.distinct([given] if isinstance(given, Tensor) else given)  # each once, as torch.optim warns
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"the optimizer takes tensors, got {type(p).__name__}")
        known = {id(p) for p in self.params}
        if any(id(p) in known for p in params):
            raise ValueError("some parameters appear in more than one parameter group; put each in one group")
        if not params and not self.params:
            raise ValueError("the optimizer got no parameters to train")
        group = {**self.defaults, **param_group, "params": params}
        group["lr"] = check_learning_rate(group["lr"])
        self.check_group(group)
        self.param_groups.append(group)
        self.params.extend(params)
        self._group_of.extend([group] * len(params))
        self._scalars.extend([None] * len(params))
        self._scalar_steps.extend([None] * len(params))
        self._all_scalars = None
        self.add_state(len(params))

    def check_group(self, group: Group) -> None:
        """Check a new group's settings (and make them numbers), with a ValueError naming a bad one."""
        return None

    def add_state(self, count: int) -> None:
        """Make room for what the rule keeps about ``count`` more parameters (velocities, moments, …)."""
        return None

    @property
    def lr(self) -> float:
        """The first parameter group's learning rate, as ``param_groups[0]['lr']``; a scheduler
        (``backproplab.optim.lr_scheduler``) may change every group's between steps."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        # a schedule such as cosine annealing may reach 0
        self.param_groups[0]["lr"] = check_learning_rate(value, allow_zero=True)

    def zero_grad(self) -> None:
        """Clear the gradients before the next backward(), as in PyTorch."""
        note_step("zero_grad", self)  # bl.compile writes a recorded step's zero_grad into its replay
        for p in self.params:
            p._grad = p._grad_view = None  # what setting .grad to None does, without a call per parameter

    def step(self) -> list[np.ndarray]:
        """Move every parameter with a gradient, in place; returns each step size (old − new).

        Once every parameter is a single float64 number (known from a first step), the whole
        step is :func:`_step_scalars`, with nothing to look up per parameter.
        """
        note_step("step", self)  # bl.compile writes a recorded step's update into its replay (update_lines)
        every = self._all_scalars
        if every is not None and len(every) == len(self.params):
            steps = _step_scalars(every, self.param_groups[0]["lr"])
            if len(steps) == len(every):
                return steps
            self._all_scalars = None  # a gradient is missing or an array was replaced: the general path
            return steps + self._step_each(len(steps))
        steps = self._step_each(0)
        known = self._scalars
        params = self.params
        one_group = len(self.param_groups) == 1  # several: each number at its own group's rate, in _step_each
        if self.scalar_rule and one_group and params[0].data is known[0] and all(
                p.data is known[i] for i, p in enumerate(params)):
            self._all_scalars = [(p, p.data, out) for p, out in zip(self.params, self._scalar_steps)]
        return steps

    def _step_each(self, start: int) -> list[np.ndarray]:
        """Move parameters ``start`` onwards one by one; returns their step sizes.

        Single float64 numbers are gathered and moved by :func:`_step_scalars` (each parameter's
        step depends on its own gradient only, so the order does not change a bit).
        """
        steps = []
        scalars: list[Scalar] = []
        where: list[int] = []  # their indices, for their groups' rates
        known, outs = self._scalars, self._scalar_steps
        for i in range(start, len(self.params)):
            p = self.params[i]
            grad = p._grad
            if grad is None:
                steps.append(np.zeros_like(p.data))
                continue
            data = p.data
            if data is known[i] or self._scalar(i, data):
                out = outs[i]  # filled in by _step_scalars below
                scalars.append((p, data, out))
                where.append(i)
                steps.append(out)
                continue
            delta = self.delta(i, grad)
            if data.size > IN_PLACE_FROM and data.flags.writeable and data.dtype == delta.dtype:
                data -= delta  # large: update in place, no new memory
            else:
                p.data = data - delta  # small: a new array is cheaper than NumPy's in-place machinery
            steps.append(delta)
        if not scalars:
            return steps
        if len(self.param_groups) == 1:
            _step_scalars(scalars, self.param_groups[0]["lr"])
        else:
            for k, i in enumerate(where):
                _step_scalars(scalars[k:k + 1], self._group_of[i]["lr"])
        return steps

    def move(self, i: int) -> None:
        """Move parameter ``i`` alone, as ``step()`` moves it: the update a compiled step calls for a rule
        it does not write out."""
        p = self.params[i]
        if p._grad is None:
            return
        data = p.data
        if data is self._scalars[i] or self._scalar(i, data):
            _step_scalars([(p, data, self._scalar_steps[i])], self._group_of[i]["lr"])
            return
        delta = self.delta(i, p._grad)
        if data.size > IN_PLACE_FROM and data.flags.writeable and data.dtype == delta.dtype:
            data -= delta
        else:
            p.data = data - delta

    def update_lines(self, i: int, node: str, names: Any) -> list[str]:
        """Parameter ``i``'s update as lines of Python, for a compiled training step (``engine.fused``).

        ``node`` is the code's name for the parameter; ``names.name(obj)`` gives a name for any object
        the lines use. The lines must move the parameter exactly as ``step()`` does, bit for bit. By
        default they call :meth:`move`; a rule may write its arithmetic out instead.
        """
        return [f"{names.name(self)}.move({i})  # {self.name}"]

    def writes_out(self, i: int) -> bool:
        """Whether parameter ``i``'s update may be written out as array arithmetic (``update_lines``): a
        writeable float array of at least one axis (a single number moves by ``move``, as ``step()`` treats it)."""
        data = self.params[i].data
        return data.ndim > 0 and data.dtype.kind == "f" and data.flags.writeable

    def _scalar(self, i: int, data: np.ndarray) -> bool:
        """Whether parameter ``i`` is one float64 number updated by the scalar rule, in its own writeable array."""
        if len(self._scalars) != len(self.params):
            self._scalars = [None] * len(self.params)
            self._scalar_steps = [None] * len(self.params)
        if not (self.scalar_rule and data.shape == () and data.dtype == np.float64 and data.flags.writeable):
            return False
        self._scalars[i] = data
        self._scalar_steps[i] = np.empty((), np.float64)
        return True

    def rate(self, dtype: np.dtype, lr: float) -> np.ndarray:
        """The learning rate ``lr`` as a 0-d array of the parameters' dtype (cheaper than a Python float)."""
        cached = self._rates.get(dtype)
        if cached is None or cached[0] != lr:
            cached = self._rates[dtype] = (lr, np.asarray(lr, dtype=dtype))
        return cached[1]

    @abstractmethod
    def delta(self, i: int, grad: np.ndarray) -> np.ndarray:
        """How far parameter ``i`` moves down, given its gradient."""

    def fit(self, model: Module | Callable[[Tensor], Tensor], x: Any, y: Any,
            loss: str | Callable[[Any, Any], Tensor] = "ssr", **options: Any) -> Trace:
        """Train ``model`` on (x, y) with this optimizer and return the :class:`Trace` of every step.

        This is :func:`backproplab.train.loop.fit`, which also takes ``max_steps``, ``min_step``,
        ``callback``, ``scheduler`` and ``keep_every``."""
        return loop.fit(self, model, x, y, loss, **options)
