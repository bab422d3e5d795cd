"""Spec files: a whole worked example (network, starting values, data, training) in TOML.

A spec is read with tomllib, checked field by field, and turned into a network, data and
an optimizer. Nothing in it is executed: formulas go through ``formula``'s parser. Every
mistake is a :class:`SpecError` with one line that names the file, the line (where tomllib
gives one) or the field path (``network.layers[1].activation``), and how to fix it.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backproplab import datasets, ops
from backproplab.formula import FormulaError, FormulaNet
from backproplab.losses import LOSSES
from backproplab.nn import MLP, Module, unknown_name_message
from backproplab.optim import OPTIMIZERS, Optimizer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPEC_VERSION = 1
TOP_LEVEL = ("version", "name", "description", "network", "data", "training")


class SpecError(ValueError):
    """A mistake in a spec file, said in one line: where, what, and how to fix it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class Spec:
    """A checked spec: everything needed to build and train the example."""

    name: str
    description: str
    network: dict[str, Any]
    data: dict[str, Any]
    training: dict[str, Any]
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def build(self) -> tuple[Module, tuple[np.ndarray, np.ndarray]]:
        """A fresh network at its starting values, and the data (x, y)."""
        return build_network(self.network, self.where), load_data(self.data, self.path, self.where)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else f"spec {self.name}"

    def optimizer(self, net: Module) -> tuple[Optimizer, list[str]]:
        """The optimizer over the parameters to train, and their names."""
        names = [n for n, _ in net.named_parameters()]
        chosen = self.training["optimize"]
        chosen = names if chosen == "all" else chosen
        for name in chosen:
            if name not in names:
                raise SpecError(self.where, "training.optimize: " + unknown_name_message("parameter", name, names))
        opt_spec = dict(self.training["optimizer"])
        kind = opt_spec.pop("name")
        opt = OPTIMIZERS[kind](net.parameters(only=chosen), **opt_spec)
        opt.min_step = self.training["min_step"]
        opt.max_steps = self.training["max_steps"]
        return opt, list(chosen)


# --- reading ------------------------------------------------------------------------------------
def read(path: str | Path, overrides: list[str] | None = None) -> Spec:
    """Read and check a spec file; ``overrides`` are ``key=value`` settings (``--set``)."""
    path = Path(path)
    if not path.exists():
        raise SpecError(str(path), "no such file; create one with 'backproplab new FILE.toml --from statquest'")
    if path.is_dir():
        raise SpecError(str(path), "this is a folder; give the path of a .toml spec file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(str(path), "this is not a text file; a spec is a TOML text file") from None
    except OSError as exc:
        raise SpecError(str(path), f"cannot read it: {exc.strerror}") from None
    return parse(text, path, overrides)


def parse(text: str, path: Path | None = None, overrides: list[str] | None = None) -> Spec:
    """Check a spec given as TOML text."""
    where = str(path) if path else "spec"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = f"{where}:{m.group(1)}" if m else where
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise SpecError(line, f"not valid TOML: {message}; check the quotes, brackets and '=' signs there") from None
    for item in overrides or []:
        apply_override(raw, item, where)
    return check(raw, path)


def apply_override(raw: dict[str, Any], item: str, where: str) -> None:
    """``optimizer.lr=0.05``: a dotted path (under [training] unless it starts at the top) and a value."""
    if "=" not in item:
        raise SpecError("--set", f"{item!r} needs the form key=value, such as optimizer.lr=0.05")
    key, _, text = item.partition("=")
    keys = [k.strip() for k in key.strip().split(".") if k.strip()]
    if not keys:
        raise SpecError("--set", f"{item!r} has no key before '='")
    if keys[0] not in TOP_LEVEL:
        keys = ["training", *keys]
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word such as all or adam
    node = raw
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise SpecError("--set", f"{'.'.join(keys[:-1])} is not a table, so {'.'.join(keys)} cannot be set")
        node = child
    node[keys[-1]] = value


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
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            want = " or ".join(_type_name(k()) if k is not dict else "a table" for k in kinds)
            raise self.fail(full, f"should be {want}, got {value!r}" + (f"; {hint}" if hint else ""))
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(full, f"must be a finite number, got {value}")
        return value

    def choice(self, table: dict[str, Any], key: str, path: str, choices: Any, default: Any = ...) -> str:
        value = self.get(table, key, path, str, default)
        if value not in choices:
            kind = key.replace("_", " ")
            raise self.fail(f"{path}.{key}", unknown_name_message(kind, value, choices))
        return value

    def unknown_keys(self, table: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                close = unknown_name_message("field", key, allowed)
                raise self.fail(f"{path}.{key}" if path else key, close)


def check(raw: dict[str, Any], path: Path | None = None) -> Spec:
    """Check every field of a parsed spec and fill in defaults."""
    c = Checker(str(path) if path else "spec")
    c.unknown_keys(raw, "", TOP_LEVEL)
    version = c.get(raw, "version", "", int, hint=f"add 'version = {SPEC_VERSION}' at the top")
    if version > SPEC_VERSION:
        raise c.fail("version", f"is {version}, but this backproplab reads spec versions up to {SPEC_VERSION}; "
                     "upgrade with 'pip install -U backproplab'")
    if version < 1:
        raise c.fail("version", f"must be 1 or more, got {version}")
    name = c.get(raw, "name", "", str, default=path.stem if path else "spec")
    description = c.get(raw, "description", "", str, default="")
    network = check_network(c, c.get(raw, "network", "", dict, hint="add a [network] table"))
    data = check_data(c, c.get(raw, "data", "", dict, hint="add a [data] table"))
    training = check_training(c, c.get(raw, "training", "", dict, default={}))
    spec = Spec(name, description, network, data, training, path, raw)
    net, (x, y) = spec.build()
    check_shapes(c, spec, net, x, y)
    spec.optimizer(net)
    return spec


def check_network(c: Checker, net: dict[str, Any]) -> dict[str, Any]:
    kind = c.choice(net, "kind", "network", ("mlp", "formulas"))
    if kind == "mlp":
        c.unknown_keys(net, "network", ("kind", "inputs", "layers", "seed", "parameters"))
        inputs = c.get(net, "inputs", "network", int, hint="the number of inputs per sample, such as 2")
        if inputs < 1:
            raise c.fail("network.inputs", f"must be 1 or more, got {inputs}")
        layers = c.get(net, "layers", "network", list, hint="a list such as [{size = 8, activation = 'tanh'}]")
        if not layers:
            raise c.fail("network.layers", "is empty; give at least the output layer")
        checked = []
        for i, layer in enumerate(layers):
            p = f"network.layers[{i}]"
            if not isinstance(layer, dict):
                raise c.fail(p, f"should be a table such as {{size = 8, activation = 'tanh'}}, got {layer!r}")
            c.unknown_keys(layer, p, ("size", "activation"))
            size = c.get(layer, "size", p, int)
            if size < 1:
                raise c.fail(f"{p}.size", f"must be 1 or more, got {size}")
            act = c.choice(layer, "activation", p, ops.ACTIVATIONS, default="identity")
            checked.append({"size": size, "activation": act})
        seed = c.get(net, "seed", "network", int, default=0)
        params = c.get(net, "parameters", "network", dict, default={})
        return {"kind": "mlp", "inputs": inputs, "layers": checked, "seed": seed, "parameters": params}
    c.unknown_keys(net, "network", ("kind", "inputs", "output", "nodes", "parameters"))
    inputs = c.get(net, "inputs", "network", list, hint='the input names, such as ["x"]')
    if not inputs or not all(isinstance(i, str) for i in inputs):
        raise c.fail("network.inputs", f"should be a non-empty list of names, got {inputs!r}")
    nodes = c.get(net, "nodes", "network", dict, hint='a table of formulas, such as h1 = "softplus(w1 * x + b1)"')
    for key, formula in nodes.items():
        if not isinstance(formula, str):
            raise c.fail(f"network.nodes.{key}", f"should be a formula in quotes, got {formula!r}")
    output = c.get(net, "output", "network", (str, list))
    outputs = [output] if isinstance(output, str) else output
    if not outputs or not all(isinstance(o, str) for o in outputs):
        raise c.fail("network.output", f"should be a node name or a list of node names, got {output!r}")
    params = c.get(net, "parameters", "network", dict, hint="the starting value of every parameter")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise c.fail(f"network.parameters.{key}", f"should be a finite number, got {value!r}")
    return {"kind": "formulas", "inputs": inputs, "nodes": nodes, "output": outputs,
            "parameters": {k: float(v) for k, v in params.items()}}


def check_data(c: Checker, data: dict[str, Any]) -> dict[str, Any]:
    if "dataset" in data:
        c.unknown_keys(data, "data", ("dataset", "n", "seed", "noise"))
        name = c.choice(data, "dataset", "data", datasets.DATASETS)
        n = c.get(data, "n", "data", int, default=100)
        if n < 2:
            raise c.fail("data.n", f"must be 2 or more, got {n}")
        noise = c.get(data, "noise", "data", float, default=None)
        if noise is not None and noise < 0:
            raise c.fail("data.noise", f"must be zero or more, got {noise}")
        return {"dataset": name, "n": n, "seed": c.get(data, "seed", "data", int, default=0), "noise": noise}
    if "csv" in data:
        c.unknown_keys(data, "data", ("csv", "x", "y"))
        return {"csv": c.get(data, "csv", "data", str), "x": c.get(data, "x", "data", (str, list)),
                "y": c.get(data, "y", "data", (str, list))}
    c.unknown_keys(data, "data", ("x", "y"))
    hint = "give x and y as lists of numbers, a csv file, or a generated dataset"
    return {"x": c.get(data, "x", "data", list, hint=hint), "y": c.get(data, "y", "data", list, hint=hint)}


def check_training(c: Checker, t: dict[str, Any]) -> dict[str, Any]:
    c.unknown_keys(t, "training", ("loss", "optimize", "optimizer", "min_step", "max_steps"))
    loss = c.choice(t, "loss", "training", LOSSES, default="ssr")
    optimize = c.get(t, "optimize", "training", (str, list), default="all")
    if isinstance(optimize, str):
        optimize = "all" if optimize == "all" else [s.strip() for s in optimize.split(",") if s.strip()]
    if optimize != "all" and (not optimize or not all(isinstance(o, str) for o in optimize)):
        raise c.fail("training.optimize", f"should be 'all' or a list of parameter names, got {optimize!r}")
    opt = c.get(t, "optimizer", "training", dict, default={})
    kind = c.choice(opt, "name", "training.optimizer", OPTIMIZERS, default="gradient_descent")
    allowed = {"gradient_descent": ("name", "lr"), "sgd": ("name", "lr", "momentum"),
               "adam": ("name", "lr", "betas", "eps")}[kind]
    c.unknown_keys(opt, "training.optimizer", allowed)
    checked: dict[str, Any] = {"name": kind, "lr": c.get(opt, "lr", "training.optimizer", float, default=0.1)}
    if checked["lr"] <= 0:
        raise c.fail("training.optimizer.lr", f"must be a positive number, got {checked['lr']}; try 0.1")
    if "momentum" in opt:
        checked["momentum"] = c.get(opt, "momentum", "training.optimizer", float)
        if not 0 <= checked["momentum"] < 1:
            raise c.fail("training.optimizer.momentum", f"must be in [0, 1), got {checked['momentum']}")
    if "betas" in opt:
        betas = c.get(opt, "betas", "training.optimizer", list)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise c.fail("training.optimizer.betas", f"should be two numbers in [0, 1), got {betas!r}")
        checked["betas"] = tuple(float(b) for b in betas)
    if "eps" in opt:
        checked["eps"] = c.get(opt, "eps", "training.optimizer", float)
    min_step = c.get(t, "min_step", "training", float, default=1e-4)
    if min_step < 0:
        raise c.fail("training.min_step", f"must be zero or more, got {min_step}")
    max_steps = c.get(t, "max_steps", "training", int, default=1000)
    if max_steps <= 0:
        raise c.fail("training.max_steps", f"must be 1 or more, got {max_steps}")
    return {"loss": loss, "optimize": optimize, "optimizer": checked, "min_step": min_step, "max_steps": max_steps}


# --- building -----------------------------------------------------------------------------------
def build_network(network: dict[str, Any], where: str) -> Module:
    if network["kind"] == "mlp":
        sizes = [network["inputs"]] + [layer["size"] for layer in network["layers"]]
        net = MLP(sizes, [layer["activation"] for layer in network["layers"]], seed=network["seed"])
        for name, value in network["parameters"].items():
            p_path = f"network.parameters.{name}"
            names = [n for n, _ in net.named_parameters()]
            if name not in names:
                raise SpecError(where, f"{p_path}: " + unknown_name_message("parameter", name, names))
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise SpecError(where, f"{p_path}: should be numbers, got {value!r}") from None
            if arr.shape != net.parameter(name).shape:
                raise SpecError(where, f"{p_path}: has shape {arr.shape}, but {name} has shape "
                                f"{net.parameter(name).shape} for these layer sizes")
            if not np.all(np.isfinite(arr)):
                raise SpecError(where, f"{p_path}: contains NaN or infinity")
            net.parameter(name).data = arr.copy()
        return net
    try:
        return FormulaNet(network["parameters"], network["nodes"], network["output"], network["inputs"])
    except FormulaError as exc:
        raise SpecError(where, f"network.nodes: {exc}") from None


def _numbers(value: Any, path: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(where, f"{path}: should hold only numbers (all rows the same length), got {value!r:.60}") \
            from None
    if arr.size == 0:
        raise SpecError(where, f"{path}: is empty; give at least one sample")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise SpecError(where, f"{path}: has NaN or infinity at sample {int(bad[0][0]) + 1}; remove or fix it")
    return arr


def load_data(data: dict[str, Any], path: Path | None, where: str) -> tuple[np.ndarray, np.ndarray]:
    if "dataset" in data:
        extra = {"noise": data["noise"]} if data["noise"] is not None else {}
        x, y = datasets.make(data["dataset"], n=data["n"], seed=data["seed"], **extra)
        return x, y.astype(np.float64)
    if "csv" in data:
        return read_csv(data, path, where)
    return _numbers(data["x"], "data.x", where), _numbers(data["y"], "data.y", where)


def read_csv(data: dict[str, Any], path: Path | None, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Columns by name from a CSV file with a header row, relative to the spec file."""
    file = (path.parent if path else Path.cwd()) / data["csv"]
    if not file.exists():
        raise SpecError(where, f"data.csv: no such file {file}; paths are relative to the spec file")
    try:
        with file.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(str(file), f"cannot be read as CSV: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise SpecError(str(file), "is empty; it needs a header row of column names and at least one data row")
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise SpecError(str(file), "has a header but no data rows")
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise SpecError(f"{file}:{n}", f"row has {len(row)} fields but the header has {len(header)}")
    columns = []
    for key in ("x", "y"):
        names = [data[key]] if isinstance(data[key], str) else data[key]
        if not names or not all(isinstance(name, str) for name in names):
            raise SpecError(where, f"data.{key}: should name CSV columns, got {data[key]!r}")
        picked = []
        for name in names:
            if name not in header:
                raise SpecError(where, f"data.{key}: " + unknown_name_message("column", name, header))
            j = header.index(name)
            values = []
            for n, row in enumerate(rows[1:], start=2):
                cell = row[j].strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise SpecError(f"{file}:{n}", f"column {name!r} has {cell!r}, which is not a number") from None
                if not math.isfinite(value):
                    raise SpecError(f"{file}:{n}", f"column {name!r} has {cell}; NaN and infinity are not data")
                values.append(value)
            picked.append(values)
        arr = np.array(picked).T
        columns.append(arr[:, 0] if isinstance(data[key], str) else arr)
    return columns[0], columns[1]


def check_shapes(c: Checker, spec: Spec, net: Module, x: np.ndarray, y: np.ndarray) -> None:
    """Data shapes against the network: samples, inputs per sample, outputs per sample."""
    n = x.shape[0] if x.ndim else 0
    if y.shape[0] != n:
        raise c.fail("data.y", f"has {y.shape[0]} samples but data.x has {n}; give one target per sample")
    network = spec.network
    n_in = network["inputs"] if network["kind"] == "mlp" else len(network["inputs"])
    n_out = network["layers"][-1]["size"] if network["kind"] == "mlp" else len(network["output"])
    got_in = 1 if x.ndim == 1 else x.shape[1]
    if got_in != n_in or x.ndim > 2:
        raise c.fail("data.x", f"has {got_in} value(s) per sample but the network takes {n_in}; "
                     "match the network's inputs or the data's columns")
    if spec.training["loss"] == "cross_entropy":
        if y.ndim != 1 or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= n_out:
            raise c.fail("data.y", f"cross_entropy needs class labels 0 to {n_out - 1}, one per sample")
        return
    got_out = 1 if y.ndim == 1 else y.shape[1]
    if got_out != n_out:
        raise c.fail("data.y", f"has {got_out} value(s) per sample but the network gives {n_out}")
    if spec.training["loss"] == "bce" and (np.any(y < 0) or np.any(y > 1)):
        raise c.fail("data.y", "bce needs targets between 0 and 1 (labels 0 or 1)")
