"""What a lesson page asks for (a preset or a posted spec, with the page's settings), checked
against the server's limits, and turned into a network, data and an optimizer.

A request never names a file: a posted spec may give its data inline, as a generated data set,
or as CSV text sent with it. Every mistake is a :class:`LessonError` whose message is the
command line's own one-line message where the CLI has one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.spec.job import Job as BaseJob
from backproplab.spec.job import JobSettings, SettingsError, build_job
from backproplab.spec.presets import PRESETS, Preset
from backproplab.spec.spec import Spec, SpecError, load_toml
from backproplab.util.limits import describe
from backproplab.util.messages import InputError, unknown_name_message


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; the page shows a clear message when one is hit."""

    max_steps: int = 5000
    max_parameters: int = 20_000
    max_layer_size: int = 256
    max_layers: int = 8
    max_samples: int = 2000
    max_body_bytes: int = 1_000_000
    wall_seconds: float = 20.0  # training
    request_seconds: float = 30.0  # a request's whole work: training and the document
    max_trace_bytes: int = 256 * 1024**2  # what one run may record
    max_cache_bytes: int = 512 * 1024**2  # what the server keeps of recent runs

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


LIMITS = Limits()


class LessonError(InputError):
    """A mistake in what the page asked for, in one line; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Settings:
    """The page's settings: a preset or a spec text, and what to change in it."""

    preset: str | None = "statquest"
    spec_text: str | None = None
    csv_text: str | None = None
    lr: float | None = None
    optimizer: str | None = None
    optimize: list[str] | str | None = None
    start: dict[str, float] = field(default_factory=dict)
    min_step: float | None = None
    max_steps: int | None = None

    def key(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    def job_settings(self) -> JobSettings:
        """The settings as the spec applies them (the command line's are the same kind); no data file."""
        optimize = self.optimize if self.optimize in (None, "all") else tuple(self.optimize)
        return JobSettings(lr=self.lr, optimize=optimize, max_steps=self.max_steps, min_step=self.min_step,
                           optimizer=self.optimizer, start=tuple(self.start.items()), data_dirs=(), flag="")


def _number(d: dict[str, Any], key: str, kind: type, ok: Any, rule: str) -> Any:
    """A number the page sent, as the command line's option would take it: a whole number is
    whole (1.5 steps is refused, not cut to 1), and every number finite."""
    value = d.get(key)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            value = None
        else:
            value = kind(value)
    except (TypeError, ValueError, OverflowError):  # int(inf) overflows; int("1.5") is no whole number
        value = None
    if value is None or not math.isfinite(value) or not ok(value):
        raise LessonError(f"{key.replace('_', '-')} must be {rule}, got {d.get(key)!r}")
    return value


def _optimize(optimize: Any) -> list[str] | str | None:
    """The page's choice of parameters to train: 'all', or a list of names."""
    if optimize is not None and not (optimize == "all" or isinstance(optimize, list)
                                     and all(isinstance(o, str) for o in optimize)):
        raise LessonError(f"optimize should be 'all' or a list of parameter names, got {optimize!r:.40}")
    if optimize == []:
        raise LessonError("choose at least one parameter to optimize")
    return optimize


def _start(start: Any) -> dict[str, Any]:
    """Starting values the page typed in: a finite number for each parameter name."""
    if not isinstance(start, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for k, v in start.items()):
        raise LessonError("starting values should be numbers, one per parameter name")
    return start


def settings_from_dict(d: Any) -> Settings:
    """The settings a page posted (JSON), checked for type; the spec checks the rest."""
    if not isinstance(d, dict):
        raise LessonError("the request should be a JSON object of settings")
    known = ("preset", "spec_text", "csv_text", "lr", "optimizer", "optimize", "start", "min_step", "max_steps")
    for key in d:
        if key not in known:
            raise LessonError(unknown_name_message("setting", key, known))
    for key in ("preset", "spec_text", "csv_text", "optimizer"):
        if d.get(key) is not None and not isinstance(d[key], str):
            raise LessonError(f"{key} should be text, got {d[key]!r:.40}")
    optimize = _optimize(d.get("optimize"))
    start = _start(d.get("start") or {})
    preset = d.get("preset")
    if not d.get("spec_text") and preset is None:
        preset = "statquest"
    return Settings(
        preset=None if d.get("spec_text") else preset,
        spec_text=d.get("spec_text") or None,
        csv_text=d.get("csv_text") or None,
        lr=_number(d, "lr", float, lambda v: v > 0, "a positive number"),
        optimizer=d.get("optimizer") or None,
        optimize=optimize,
        start={k: float(v) for k, v in start.items()},
        min_step=_number(d, "min_step", float, lambda v: v >= 0, "zero or a positive number"),
        max_steps=_number(d, "max_steps", int, lambda v: v >= 1, "a whole number, 1 or more"),
    )


@dataclass
class Job(BaseJob):
    """The command line's job, built from the page's settings, with the spec as the page sent it."""

    raw: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # what the page worked out once
    # for this run (its explanation structure, its loss curves): kept with the run, and let go with it


def _csv_columns(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """The uploaded CSV text as inline data (the columns the spec names); no file is read."""
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise SpecError("uploaded CSV", "needs a header row of column names and at least one data row")
    header = [h.strip() for h in rows[0]]
    out: dict[str, Any] = {}
    for key in ("x", "y"):
        names = data.get(key)
        single = isinstance(names, str)
        names = [names] if single else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise SpecError("spec", f"data.{key}: should name CSV columns, got {data.get(key)!r}")
        columns = []
        for name in names:
            if name not in header:
                raise SpecError("spec", f"data.{key}: " + unknown_name_message("column", name, header))
            columns.append(_csv_column(rows, header, name))
        out[key] = columns[0] if single else [list(r) for r in zip(*columns)]
    return out


def _csv_column(rows: list[list[str]], header: list[str], name: str) -> list[float]:
    """One column of the uploaded CSV (rows after the header) as finite numbers."""
    j = header.index(name)
    values = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise SpecError(f"uploaded CSV:{n}", f"row has {len(row)} fields but the header has {len(header)}")
        try:
            value = float(row[j].strip())
        except ValueError:
            raise SpecError(f"uploaded CSV:{n}", f"column {name!r} has {row[j].strip()!r}, which is not "
                            "a number") from None
        if not math.isfinite(value):
            raise SpecError(f"uploaded CSV:{n}", f"column {name!r} has {row[j].strip()}; NaN and infinity "
                            "are not data")
        values.append(value)
    return values


def _check_sizes(raw: dict[str, Any], limits: Limits) -> None:
    """Refuse a network or data set too large for one request, before anything is allocated."""
    network, data = raw.get("network"), raw.get("data")
    net: dict[str, Any] = network if isinstance(network, dict) else {}
    layers: list[Any] = net["layers"] if isinstance(net.get("layers"), list) else []
    sizes = [net.get("inputs")] + [layer.get("size") for layer in layers if isinstance(layer, dict)]
    _check_layers(len(layers), sizes, limits)
    data = data if isinstance(data, dict) else {}
    n = data.get("n")
    if isinstance(n, int) and n > limits.max_samples:
        raise LessonError(f"data.n: {n} samples is more than this page allows ({limits.max_samples})", 413)
    for key in ("x", "y"):
        if isinstance(data.get(key), list) and len(data[key]) > limits.max_samples:
            raise LessonError(f"data.{key}: {len(data[key])} samples is more than this page allows "
                              f"({limits.max_samples})", 413)


def _check_layers(count: int, sizes: list[Any], limits: Limits) -> None:
    """An MLP's layers (the inputs, then each layer's size) against the page's limits."""
    if count > limits.max_layers:
        raise LessonError(f"network.layers: {count} layers is more than this page allows "
                          f"({limits.max_layers}); use the command line for larger networks", 413)
    for i, size in enumerate(sizes):
        if isinstance(size, int) and size > limits.max_layer_size:
            where = "network.inputs" if i == 0 else f"network.layers[{i - 1}].size"
            raise LessonError(f"{where}: {size} is more than this page allows ({limits.max_layer_size} units "
                              "per layer); use the command line for larger networks", 413)
    ints = [s for s in sizes if isinstance(s, int) and s > 0]
    params = sum(a * b + b for a, b in zip(ints, ints[1:]))
    if params > limits.max_parameters:
        raise LessonError(f"the network has {params} parameters, more than this page allows "
                          f"({limits.max_parameters}); use the command line for larger networks", 413)


def _check_trace(spec: Spec, net: Any, y: np.ndarray, limits: Limits) -> None:
    """Refuse a run whose record (every parameter, and the gradient and step of each optimized
    one, and the predictions, at every step) would take more than this page keeps for one run."""
    sizes = {n: p.data.size for n, p in net.named_parameters()}
    optimized = spec.trainable(net)[0]
    row = (sum(sizes.values()) + 2 * sum(sizes.get(n, 0) for n in optimized) + np.size(y) + 3) * 8
    steps = spec.training["max_steps"] + 1
    if row * steps > limits.max_trace_bytes:
        raise LessonError(f"{spec.training['max_steps']:,} steps of this network would record about "
                          f"{describe(row * steps)}, more than this page keeps for one run "
                          f"({describe(limits.max_trace_bytes)}); lower max-steps or use 'backproplab run'", 413)


def _posted_raw(settings: Settings, limits: Limits) -> dict[str, Any]:
    """A posted spec as a table, its CSV text put in as inline data, refused if too large for the page."""
    raw = load_toml(settings.spec_text or "")
    data = raw.get("data")
    if isinstance(data, dict) and "csv" in data:
        if settings.csv_text is None:
            raise SpecError("spec", "data.csv: a spec sent from the page cannot read a file on the server; "
                            "paste or upload the CSV text next to the spec, or give x and y inline")
        raw["data"] = _csv_columns(settings.csv_text, data)
    _check_sizes(raw, limits)
    return raw


def load_job(settings: Settings, limits: Limits = LIMITS) -> Job:
    """The job the settings describe: a preset, or a posted spec whose data is inline or uploaded."""
    if settings.spec_text is not None:
        raw = _posted_raw(settings, limits)
        preset = Preset(str(raw.get("name", "spec")))
    else:
        name = settings.preset or "statquest"
        if name not in PRESETS:
            raise LessonError(unknown_name_message("preset", name, PRESETS))
        preset = PRESETS[name]
        raw = load_toml(preset.text)
    try:
        job = build_job(raw, settings.job_settings(), preset=preset)
    except SettingsError as exc:
        raise LessonError(str(exc)) from None
    spec, net, x, y = job.spec, job.net, job.x, job.y
    if spec.training["max_steps"] > limits.max_steps:
        raise LessonError(f"max-steps {spec.training['max_steps']} is more than this page allows "
                          f"({limits.max_steps}); use 'backproplab run' for longer runs", 413)
    if sum(p.data.size for _, p in net.named_parameters()) > limits.max_parameters:
        raise LessonError(f"the network has more parameters than this page allows ({limits.max_parameters})", 413)
    if len(x) > limits.max_samples:
        raise LessonError(f"{len(x)} samples is more than this page allows ({limits.max_samples})", 413)
    _check_trace(spec, net, y, limits)
    return Job(job.title, spec, net, x, y, job.preset, spec.raw)


# --- writing a spec back ------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def to_toml(raw: dict[str, Any], prefix: str = "") -> str:
    """A spec's settings as TOML text that ``backproplab run`` reads back to the same settings."""
    plain = [(k, v) for k, v in raw.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in raw.items() if isinstance(v, dict)]
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        out += f"\n[{name}]\n" + to_toml(v, name)
    return out
