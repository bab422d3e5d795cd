"""Checking a spec field by field: a ``Checker`` that knows the path of what it checks, and
the settings of each optimizer, each within its range."""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

from backproplab.optim import OPTIMIZERS
from backproplab.spec.data import SpecError
from backproplab.spec.formula import check_name
from backproplab.util.messages import excerpt, plain, unknown_name_message

MAX_COUNT = 10**9  # sizes, samples and steps; more is a typo (the memory estimate catches less)
MAX_TEXT = 500  # characters in a spec's name or description


def field_key(key: str) -> str:
    """A key as it reads in a field path: short and printable ('""' for an empty one)."""
    return plain(key, 30) if key else '""'


def reserved_name(name: str) -> str:
    """'' unless the explanations could not tell ``name`` from one of their own symbols: they write sample i
    of any value with _i (x_i and y_i for the data, ŷ_i for the prediction, h1_i for a node)."""
    if name.endswith("_i"):
        return (f"the name {excerpt(name)} ends in _i, which the explanations keep for sample i of a value "
                f"(x_i, y_i, ŷ_i, h1_i); choose a name that does not end in _i, such as {excerpt(name[:-2] + 'i')}")
    return ""


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


class Checker:
    """Field-by-field checks that know the path of what they check."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(self.where, f"{path}: {message}")

    def get(self, table: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = ...,
            hint: str = "") -> Any:
        full = f"{path}.{key}" if path else key
        if key not in table:
            if default is ...:
                raise self.fail(full, "is missing" + (f"; {hint}" if hint else ""))
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value) if abs(value) < 2**1000 else math.inf
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            want = " or ".join(_type_name(k()) if k is not dict else "a table" for k in kinds)
            raise self.fail(full, f"should be {want}, got {excerpt(value)}" + (f"; {hint}" if hint else ""))
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(full, f"must be a finite number, got {excerpt(table[key])}")
        return value

    def count(self, table: dict[str, Any], key: str, path: str, low: int, default: Any = ..., hint: str = "",
              high: int = MAX_COUNT) -> int:
        """A whole number from ``low`` to ``high``."""
        value = self.get(table, key, path, int, default, hint)
        if value is not None and not low <= value <= high:
            rule = f"{low} or more" if value < low else f"at most {high:,}"
            raise self.fail(f"{path}.{key}" if path else key, f"must be {rule}, got {excerpt(value)}")
        return value

    def choice(self, table: dict[str, Any], key: str, path: str, choices: Any, default: Any = ...) -> str:
        value = self.get(table, key, path, str, default)
        if value not in choices:
            kind = key.replace("_", " ")
            raise self.fail(f"{path}.{key}", unknown_name_message(kind, value, choices))
        return value

    def unknown_keys(self, table: dict[str, Any], path: str, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                close = unknown_name_message("field", key, allowed)
                raise self.fail(f"{path}.{field_key(key)}" if path else field_key(key), close)

    def name(self, name: Any, path: str) -> str:
        """A name for a parameter, node or input: letters, digits, _ and a few Greek letters."""
        problem = check_name(name) or reserved_name(name)
        if problem:
            raise self.fail(path, problem)
        return name

    def text(self, raw: dict[str, Any], key: str, default: str) -> str:
        value = self.get(raw, key, "", str, default=default)
        if len(value) > MAX_TEXT or any(not ch.isprintable() for ch in value):
            raise self.fail(key, f"should be one line of at most {MAX_TEXT} printable characters, got "
                            f"{excerpt(value)}")
        return value


def optimizer_settings(kind: str) -> dict[str, Any]:
    """The settings an optimizer takes besides its parameters, with their defaults (read from its
    constructor, so that a new setting needs no second list here)."""
    skip = {"self", "params", "min_step", "max_steps"}
    found = inspect.signature(OPTIMIZERS[kind].__init__).parameters
    return {"name": kind, **{p: found[p].default for p in found if p not in skip}}


SETTING_RULES = {  # setting: (holds, what it must be)
    "lr": (lambda v: v > 0, "a positive number; try 0.1"),
    "eps": (lambda v: v > 0, "a positive number, such as 1e-8"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1), such as 0.9"),
    "weight_decay": (lambda v: v >= 0, "zero or more"),
    "dampening": (lambda v: 0 <= v <= 1, "in [0, 1]"),
}


def check_optimizer(c: Checker, opt: dict[str, Any]) -> dict[str, Any]:
    """Every setting of the chosen optimizer, each within its range; an unknown one with a did-you-mean."""
    path = "training.optimizer"
    kind = c.choice(opt, "name", path, OPTIMIZERS, default="gradient_descent")
    allowed = optimizer_settings(kind)
    for key in opt:
        if key not in allowed:
            others = [k for k in OPTIMIZERS if key in optimizer_settings(k)]
            hint = f"; {key} belongs to {' and '.join(others)}, not {kind}" if others else ""
            raise c.fail(f"{path}.{field_key(key)}", unknown_name_message(f"{kind} setting", key, list(allowed))
                         + hint)
    checked: dict[str, Any] = {"name": kind, "lr": c.get(opt, "lr", path, float, default=0.1)}
    for key in opt:
        if key == "name":
            continue
        if key == "betas":
            betas = c.get(opt, "betas", path, list)
            if len(betas) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
                                          for b in betas):
                raise c.fail(f"{path}.betas", f"should be two numbers in [0, 1), such as [0.9, 0.999], got "
                             f"{excerpt(betas)}")
            checked["betas"] = tuple(float(b) for b in betas)
            continue
        if isinstance(allowed[key], bool):  # a switch such as nesterov
            checked[key] = c.get(opt, key, path, bool)
            continue
        value = c.get(opt, key, path, float)
        holds, rule = SETTING_RULES.get(key, (lambda v: True, ""))
        if not holds(value):
            raise c.fail(f"{path}.{key}", f"must be {rule}, got {excerpt(opt[key])}")
        checked[key] = value
    return checked
