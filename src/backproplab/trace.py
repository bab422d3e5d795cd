"""What a training run did, step by step: the record every report, plot and explanation reads.

Values are kept exact (floats, or arrays for matrix parameters); rounding happens only
when something is displayed. Traces are saved as JSON, never pickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.display import trace_html, trace_repr

Value = Any  # a float for a scalar parameter, an ndarray otherwise


def exact(value: Any) -> Value:
    """A float for a single number, an array copy otherwise."""
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else np.array(arr, dtype=np.float64 if arr.dtype.kind != "f" else arr.dtype)


def scalar(value: Any) -> float | None:
    """A single number as a float; None for a tensor with more entries."""
    arr = np.asarray(value)
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def to_json_value(value: Value) -> Any:
    """Plain JSON types; NaN becomes null and infinities "Infinity"/"-Infinity" (strict JSON)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, list):
        return [_number(v) for v in value]
    return float("nan") if value is None else float(value)


def _from_json_value(value: Any) -> Value:
    value = _number(value)
    return np.asarray(value, dtype=np.float64) if isinstance(value, list) else value


@dataclass
class Iteration:
    """One step: the state before the update, and the update itself."""

    step: int
    params: dict[str, Value]  # every parameter, before the update
    predictions: Value
    loss: float
    gradients: dict[str, Value]  # of the optimized parameters
    step_sizes: dict[str, Value]  # old − new, so new = old − step size

    def new_value(self, name: str) -> Value:
        """The parameter's value after this step."""
        return self.params[name] - self.step_sizes[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "iteration": self.step + 1,  # as people count them: iteration 1 is the starting values
            "params": to_json_value(self.params),
            "predictions": to_json_value(self.predictions),
            "loss": to_json_value(self.loss),
            "gradients": to_json_value(self.gradients),
            "step_sizes": to_json_value(self.step_sizes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Iteration:
        return cls(
            step=int(d["step"]),
            params={k: _from_json_value(v) for k, v in d["params"].items()},
            predictions=_from_json_value(d["predictions"]),
            loss=_from_json_value(d["loss"]),
            gradients={k: _from_json_value(v) for k, v in d["gradients"].items()},
            step_sizes={k: _from_json_value(v) for k, v in d["step_sizes"].items()},
        )


@dataclass
class Final:
    """Where the run ended and why."""

    params: dict[str, Value]
    loss: float
    steps: int
    converged: bool
    stopped_by: str  # "min_step", "max_steps" or "diverged"
    predictions: Value = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "params": to_json_value(self.params),
            "loss": to_json_value(self.loss),
            "steps": self.steps,
            "converged": self.converged,
            "stopped_by": self.stopped_by,
        }
        if self.predictions is not None:
            d["predictions"] = to_json_value(self.predictions)
        if self.message:
            d["message"] = self.message
        return d


@dataclass
class Trace:
    """A whole run: settings, one :class:`Iteration` per step, and the :class:`Final` state."""

    loss: str
    learning_rate: float
    optimize: list[str]
    optimizer: str = "gradient_descent"
    iterations: list[Iteration] = field(default_factory=list)
    final: Final | None = None
    inputs: Value = None  # the x the run was fitted on (kept for plots)
    targets: Value = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "loss": self.loss,
            "learning_rate": self.learning_rate,
            "optimize": list(self.optimize),
            "optimizer": self.optimizer,
            "iterations": [it.to_dict() for it in self.iterations],
            "final": self.final.to_dict() if self.final else None,
        }
        if self.inputs is not None:
            d["data"] = {"x": to_json_value(self.inputs), "y": to_json_value(self.targets)}
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        f = d.get("final")
        data = d.get("data") or {}
        return cls(
            loss=d["loss"],
            learning_rate=float(d["learning_rate"]),
            optimize=list(d["optimize"]),
            optimizer=d.get("optimizer", "gradient_descent"),
            iterations=[Iteration.from_dict(it) for it in d["iterations"]],
            final=Final(
                params={k: _from_json_value(v) for k, v in f["params"].items()},
                loss=_from_json_value(f["loss"]),
                steps=int(f["steps"]),
                converged=bool(f["converged"]),
                stopped_by=f["stopped_by"],
                predictions=_from_json_value(f["predictions"]) if "predictions" in f else None,
                message=f.get("message", ""),
            ) if f else None,
            inputs=_from_json_value(data["x"]) if "x" in data else None,
            targets=_from_json_value(data["y"]) if "y" in data else None,
        )

    @classmethod
    def from_json(cls, text: str) -> Trace:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return trace_repr(self)

    def _repr_html_(self) -> str:
        return trace_html(self)

    def values(self, name: str) -> list[Value]:
        """The parameter's value at each iteration, then its final value: the descent path."""
        return [it.params[name] for it in self.iterations] + ([self.final.params[name]] if self.final else [])

    def losses(self) -> list[float]:
        return [it.loss for it in self.iterations] + ([self.final.loss] if self.final else [])
