"""Reading a saved trace: every field checked, so the page, notebooks and plots can trust it.

A file that is not a trace, or one whose fields have the wrong type, shape or length, gives
one :class:`TraceError` that names the field (``iterations[3].params.b3``) and what was expected.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from backproplab.util.messages import InputError

TRACE_FORMAT = 2  # 2: each iteration says only "iteration" (from 1); 1 (no "format"): "step" (from 0) too
STOPS = ("min_step", "max_steps", "diverged", "interrupted")
SHOWN = 60  # characters of a bad value echoed in a message


class TraceError(InputError):
    """A saved trace that cannot be read: the message names the field."""


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _fail(where: str, expected: str, value: Any) -> TraceError:
    return TraceError(f"not a valid trace: {where} must be {expected}, got {_show(value)}")


def parse_json(text: str | bytes) -> Any:
    """JSON text as Python values; a TraceError for anything that is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"not a valid trace: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TraceError("not a valid trace: the JSON is nested too deeply") from None
    except (TypeError, UnicodeDecodeError) as exc:
        raise TraceError(f"not a valid trace: {exc}") from None
    except ValueError:  # a whole number of more digits than Python converts (4,300)
        raise TraceError("not a valid trace: it holds a whole number thousands of digits long, which no saved "
                         "trace has; load a file written by --save or Trace.to_json") from None


def _field(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict):
        raise _fail(where or "the trace", "a JSON object", d)
    if key not in d:
        raise TraceError(f"not a valid trace: {where + '.' if where else ''}{key} is missing")
    return d[key]


def _number(v: Any, where: str) -> float:
    """A number; null is NaN and "Infinity"/"-Infinity" are infinities, as the writer puts them."""
    if v is None:
        return math.nan
    if isinstance(v, str) and v in ("Infinity", "-Infinity", "NaN"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(where, "a number", v)
    try:
        return float(v)
    except OverflowError:
        raise _fail(where, "a number within float range", v) from None


def _value(v: Any, where: str) -> Any:
    """A number (as a float) or a rectangular list of numbers (as a float64 array)."""
    if not isinstance(v, list):
        return _number(v, where)
    flat: list[Any] = []
    shape: list[int] = []
    level: Any = v  # a list, then its first entry, down to a number (or None for an empty list)
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    stack: list[tuple[Any, int, str]] = [(v, 0, where)]
    while stack:
        item, depth, at = stack.pop()
        if depth < len(shape):
            if not isinstance(item, list) or len(item) != shape[depth]:
                raise _fail(at, f"a list of {shape[depth]} entries (every row the same length)", item)
            stack.extend((x, depth + 1, f"{at}[{k}]") for k, x in reversed(list(enumerate(item))))
        else:
            flat.append(_number(item, at))
    return np.array(flat, dtype=np.float64).reshape(shape)


def _named(d: Any, where: str, names: list[str] | None = None) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _fail(where, "a JSON object of values by name", d)
    if names is not None and sorted(d) != sorted(names):
        raise TraceError(f"not a valid trace: {where} must have exactly the optimized parameters "
                         f"({', '.join(names)}), got {', '.join(map(str, d)) or 'none'}")
    return {k: _value(v, f"{where}.{k}") for k, v in d.items()}


def _int(v: Any, where: str, least: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise _fail(where, f"a whole number of at least {least}", v)
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise _fail(where, "a string", v)
    return v


def _step(d: dict[str, Any], where: str) -> int:
    """The 0-based step of an iteration: from its "iteration" (counted from 1), or a format-1 file's "step"."""
    if "iteration" not in d:
        return _int(_field(d, "step", where), where + ".step")
    step = _int(d["iteration"], where + ".iteration", 1) - 1
    if "step" in d and d["step"] != step:
        raise _fail(where + ".step", f"iteration − 1 = {step}", d["step"])
    return step


def check_iteration(d: Any, where: str, optimize: list[str] | None = None) -> dict[str, Any]:
    """One iteration's fields, checked, as keyword arguments for ``Iteration``."""
    params = _named(_field(d, "params", where), where + ".params")
    for name in optimize or ():
        if name not in params:
            raise TraceError(f"not a valid trace: {where}.params has no value for the optimized parameter {name}")
    out = {
        "step": _step(d, where),
        "params": params,
        "predictions": _value(_field(d, "predictions", where), where + ".predictions"),
        "loss": _number(_field(d, "loss", where), where + ".loss"),
        "gradients": _named(_field(d, "gradients", where), where + ".gradients", optimize),
        "step_sizes": _named(_field(d, "step_sizes", where), where + ".step_sizes", optimize),
        "lr": _number(d["lr"], where + ".lr") if d.get("lr") is not None else None,
    }
    for kind in ("gradients", "step_sizes"):
        for name, v in out[kind].items():
            if np.shape(v) != np.shape(params[name]):
                raise TraceError(f"not a valid trace: {where}.{kind}.{name} has shape {np.shape(v)} but the "
                                 f"parameter has shape {np.shape(params[name])}")
    return out


def _same_shapes(first: dict[str, Any], other: dict[str, Any], where: str) -> None:
    if list(first) != list(other):
        raise TraceError(f"not a valid trace: {where} names {', '.join(other)}, but the first iteration names "
                         f"{', '.join(first)}")
    for name, v in other.items():
        if np.shape(v) != np.shape(first[name]):
            raise TraceError(f"not a valid trace: {where}.{name} has shape {np.shape(v)}, but "
                             f"{np.shape(first[name])} in the first iteration")


def check_final(f: Any, where: str = "final") -> dict[str, Any]:
    stopped_by = _str(_field(f, "stopped_by", where), where + ".stopped_by")
    if stopped_by not in STOPS:
        raise _fail(where + ".stopped_by", "one of " + ", ".join(STOPS), stopped_by)
    converged = _field(f, "converged", where)
    if not isinstance(converged, bool):
        raise _fail(where + ".converged", "true or false", converged)
    return {
        "params": _named(_field(f, "params", where), where + ".params"),
        "loss": _number(_field(f, "loss", where), where + ".loss"),
        "steps": _int(_field(f, "steps", where), where + ".steps"),
        "converged": converged,
        "stopped_by": stopped_by,
        "predictions": _value(f["predictions"], where + ".predictions") if f.get("predictions") is not None else None,
        "message": _str(f.get("message", ""), where + ".message"),
    }


def check_trace(d: Any) -> dict[str, Any]:
    """A whole trace's fields, checked, as keyword arguments for ``Trace`` (iterations and final as dicts)."""
    if not isinstance(d, dict):
        raise _fail("the top level", "a JSON object (a trace saved with --save or Trace.to_json)", d)
    version = _int(d.get("format", 1), "format", 1)
    if version > TRACE_FORMAT:
        raise TraceError(f"not a valid trace: format {version} is newer than this backproplab reads "
                         f"({TRACE_FORMAT}); upgrade backproplab to read it")
    optimize = _field(d, "optimize", "")
    if not isinstance(optimize, list) or not all(isinstance(n, str) for n in optimize):
        raise _fail("optimize", "a list of parameter names", optimize)
    rate = _number(_field(d, "learning_rate", ""), "learning_rate")
    if not (math.isfinite(rate) and rate > 0):
        raise _fail("learning_rate", "a positive number", _field(d, "learning_rate", ""))
    iterations = _check_iterations(_field(d, "iterations", ""), optimize)
    final = _field(d, "final", "")
    final = _check_final_after(check_final(final), iterations) if final is not None else None
    inputs, targets = _check_data(d.get("data") or {})
    keep = _int(d.get("keep_every", 1), "keep_every", 1)
    optimizer = _str(d.get("optimizer", "gradient_descent"), "optimizer")
    return {"loss": _str(_field(d, "loss", ""), "loss"), "learning_rate": rate, "optimize": list(optimize),
            "optimizer": optimizer, "iterations": iterations, "final": final, "inputs": inputs,
            "targets": targets, "keep_every": keep}


def _check_iterations(items: Any, optimize: list[str]) -> list[dict[str, Any]]:
    """Every iteration checked, each with the first one's names and shapes and a later step than the one before."""
    if not isinstance(items, list):
        raise _fail("iterations", "a list", items)
    iterations = [check_iteration(it, f"iterations[{k}]", optimize) for k, it in enumerate(items)]
    for k, it in enumerate(iterations[1:], 1):
        first = iterations[0]
        for kind in ("params", "gradients", "step_sizes"):
            _same_shapes(first[kind], it[kind], f"iterations[{k}].{kind}")
        if np.shape(it["predictions"]) != np.shape(first["predictions"]):
            raise TraceError(f"not a valid trace: iterations[{k}].predictions has shape "
                             f"{np.shape(it['predictions'])}, but {np.shape(first['predictions'])} before")
        if it["step"] <= iterations[k - 1]["step"]:
            raise _fail(f"iterations[{k}].iteration", f"more than the iteration before "
                        f"({iterations[k - 1]['step'] + 1})", it["step"] + 1)
    return iterations


def _check_final_after(final: dict[str, Any], iterations: list[dict[str, Any]]) -> dict[str, Any]:
    """The final state, checked against the iterations before it: as many steps at least, the same parameters."""
    if final["steps"] < len(iterations):
        raise _fail("final.steps", f"at least the number of iterations ({len(iterations)})", final["steps"])
    if iterations:
        _same_shapes(iterations[0]["params"], final["params"], "final.params")
    return final


def _check_data(data: Any) -> tuple[Any, Any]:
    """The x and y the run was fitted on (either may be absent), with as many samples each."""
    if not isinstance(data, dict):
        raise _fail("data", "a JSON object with x and y", data)
    inputs = _value(data["x"], "data.x") if "x" in data else None
    targets = _value(data["y"], "data.y") if "y" in data else None
    if inputs is not None and targets is not None and np.shape(inputs)[:1] != np.shape(targets)[:1]:
        raise TraceError(f"not a valid trace: data.x has {np.shape(inputs)[:1]} samples but data.y has "
                         f"{np.shape(targets)[:1]}")
    return inputs, targets
