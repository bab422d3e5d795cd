"""Spec files: a whole worked example (network, starting values, data, training) in TOML.

A spec is read with tomllib, checked field by field, and turned into a network, data and
an optimizer. Nothing in it is executed: formulas go through ``formula``'s parser. Every
mistake is a :class:`SpecError` with one line that names the file, the line (where tomllib
gives one) or the field path (``network.layers[1].activation``), and how to fix it.

A spec may come from someone else, so it is checked before anything is built: names follow
a safe pattern, the memory the run would need is estimated first (``limits``), and data
files are read only from the spec's own folder (``spec_data``).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.nn import MLP, Module
from backproplab.nn.losses import LOSSES
from backproplab.optim import OPTIMIZERS, Optimizer
from backproplab.spec import datasets
from backproplab.spec.checker import Checker, check_optimizer, field_key, optimizer_settings
from backproplab.spec.data import (
    MAX_SPEC_BYTES,
    SpecError,
    checked_data_dirs,
    load_data,
    load_numbers,
    read_regular_file,
)
from backproplab.spec.formula import FormulaError, FormulaNet
from backproplab.util import limits
from backproplab.util.messages import excerpt, unknown_name_message

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPEC_VERSION = 1
TOP_LEVEL = ("version", "name", "description", "network", "data", "training")
MAX_SEED = 2**63 - 1
__all__ = ["Spec", "SpecError", "check", "check_built", "load_toml", "parse", "read"]


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
    data_dirs: tuple[Path, ...] | None = None  # folders data files may come from (None: the spec's own)
    memory_limit: int | None = None  # bytes (None: the default limit)
    warnings: list[str] = field(default_factory=list)  # one line each, for the person running it

    def build(self) -> tuple[Module, tuple[np.ndarray, np.ndarray]]:
        """A fresh network at its starting values, and the data (x, y)."""
        with limits.allowing(self.memory_limit):
            net = build_network(self.network, self.where)
            base = self.path.parent if self.path else None
            return net, load_data(self.data, base, self.where, self.data_dirs)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else f"spec {self.name}"

    def trainable(self, net: Module) -> tuple[list[str], list[str]]:
        """The parameters to train, and those asked for that no formula on the way to the output uses."""
        names = [n for n, _ in net.named_parameters()]
        chosen = self.training["optimize"]
        chosen = names if chosen == "all" else chosen
        for name in chosen:
            if name not in names:
                raise SpecError(self.where, "training.optimize: " + unknown_name_message("parameter", name, names))
        unused = set(net.unused_parameters()) if isinstance(net, FormulaNet) else set()
        used = [n for n in chosen if n not in unused]
        if not used:
            outputs = ", ".join(self.network.get("output", []))
            raise SpecError(self.where, f"training.optimize: no formula on the way to the output ({outputs}) uses "
                            f"{few(chosen)}, so training would change nothing; optimize a parameter the output "
                            "depends on")
        return used, [n for n in chosen if n in unused]

    def optimizer(self, net: Module) -> tuple[Optimizer, list[str]]:
        """The optimizer over the parameters to train, and their names.

        A parameter no formula uses is left out (its gradient is always 0), as PyTorch leaves it
        unchanged; ``warnings`` says so."""
        chosen, _ = self.trainable(net)
        opt_spec = dict(self.training["optimizer"])
        kind = opt_spec.pop("name")
        opt = OPTIMIZERS[kind](net.parameters(only=chosen), **opt_spec)
        opt.min_step = self.training["min_step"]
        opt.max_steps = self.training["max_steps"]
        return opt, list(chosen)


def few(names: list[str], shown: int = 8) -> str:
    """'a, b, c' for a few names; the first few and a count for many."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# --- reading ------------------------------------------------------------------------------------
def read(path: str | Path, overrides: list[str] | None = None, *, data_dirs: Sequence[str | Path] | None = None,
         memory_limit: int | None = None) -> Spec:
    """Read and check a spec file; ``overrides`` are ``key=value`` settings (``--set``).

    ``data_dirs`` are folders data files may come from besides the spec's own; ``memory_limit``
    (bytes) replaces the default limit on what the run may need."""
    extra = checked_data_dirs(data_dirs)
    path = Path(path)
    text = read_text(path)
    dirs = None if extra is None else (path.parent, *extra)
    return parse(text, path, overrides, data_dirs=dirs, memory_limit=memory_limit)


def read_text(path: str | Path) -> str:
    """A spec file's text, read as every command reads it: a regular text file of a spec's size."""
    path = Path(path)
    try:
        if not path.exists():
            raise SpecError(str(path), "no such file; create one with 'backproplab new FILE.toml --from statquest'")
        if path.is_dir():
            raise SpecError(str(path), "this is a folder; give the path of a .toml spec file")
    except OSError as exc:  # a name too long for the system, for one
        raise SpecError(excerpt(str(path)), f"cannot read this file: {exc.strerror}") from None
    try:
        return read_regular_file(path, str(path), MAX_SPEC_BYTES, "spec file (.toml)").decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(str(path), "this is not a text file; a spec is a TOML text file") from None


def parse(text: str, path: Path | None = None, overrides: list[str] | None = None, *,
          data_dirs: Sequence[str | Path] | None = None, memory_limit: int | None = None) -> Spec:
    """Check a spec given as TOML text.

    ``data_dirs`` are the only folders a data file may come from: None allows the spec's own
    folder (the working folder for text without a path); ``()`` allows no file at all, for a
    spec that arrives from a web page."""
    raw = load_toml(text, path)
    for item in overrides or []:
        apply_override(raw, item, str(path) if path else "spec")
    dirs = checked_data_dirs(data_dirs)
    return check(raw, path, data_dirs=dirs, memory_limit=memory_limit)


def load_toml(text: str, path: Path | None = None) -> dict[str, Any]:
    """The TOML text as a table, not yet checked; a mistake in it names the line."""
    where = str(path) if path else "spec"
    text = text[1:] if text.startswith("\ufeff") else text  # a byte-order mark from some editors
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = f"{where}:{m.group(1)}" if m else where
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise SpecError(line, f"not valid TOML: {message}; check the quotes, brackets and '=' signs there") from None
    except RecursionError:
        raise SpecError(where, "cannot be read: its lists or tables nest too deeply; a spec needs a few "
                        "levels at most") from None
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise SpecError(where, "cannot be read: it holds a number of thousands of digits; write numbers such as "
                        "0.1 or 1e-3") from None


def apply_override(raw: dict[str, Any], item: str, where: str) -> None:
    """``optimizer.lr=0.05``: a dotted path (under [training] unless it starts at the top) and a value."""
    if "=" not in item:
        raise SpecError("--set", f"{excerpt(item)} needs the form key=value, such as optimizer.lr=0.05")
    key, _, text = item.partition("=")
    keys = [k.strip() for k in key.strip().split(".") if k.strip()]
    if not keys:
        raise SpecError("--set", f"{excerpt(item)} has no key before '='")
    if keys[0] not in TOP_LEVEL:
        keys = ["training", *keys]
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except (ValueError, RecursionError):  # TOMLDecodeError, or a number of thousands of digits
        value = text.strip()  # a bare word such as all or adam
    node = raw
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise SpecError("--set", f"{excerpt('.'.join(keys[:-1]))} is not a table, so "
                            f"{excerpt('.'.join(keys))} cannot be set")
        node = child
    node[keys[-1]] = value


def check(raw: dict[str, Any], path: Path | None = None, *, data_dirs: tuple[Path, ...] | None = None,
          memory_limit: int | None = None) -> Spec:
    """Check every field of a parsed spec and fill in defaults; nothing large is built before
    the memory it needs is estimated."""
    return check_built(raw, path, data_dirs=data_dirs, memory_limit=memory_limit)[0]


def check_built(raw: dict[str, Any], path: Path | None = None, *, data_dirs: tuple[Path, ...] | None = None,
                memory_limit: int | None = None) -> tuple[Spec, Module, tuple[np.ndarray, np.ndarray]]:
    """``check``, and the network and data it built on the way (so a caller need not build them again)."""
    c = Checker(str(path) if path else "spec")
    c.unknown_keys(raw, "", TOP_LEVEL)
    version = c.get(raw, "version", "", int, hint=f"add 'version = {SPEC_VERSION}' at the top")
    if version > SPEC_VERSION:
        raise c.fail("version", f"is {excerpt(version)}, but this backproplab reads spec versions up to "
                     f"{SPEC_VERSION}; upgrade with 'pip install -U backproplab'")
    if version < 1:
        raise c.fail("version", f"must be 1 or more, got {excerpt(version)}")
    name = c.text(raw, "name", path.stem if path else "spec")
    description = c.text(raw, "description", "")
    network = check_network(c, c.get(raw, "network", "", dict, hint="add a [network] table"))
    data = check_data(c, c.get(raw, "data", "", dict, hint="add a [data] table"))
    training = check_training(c, c.get(raw, "training", "", dict, default={}))
    spec = Spec(name, description, network, data, training, path, raw, data_dirs, memory_limit)
    with limits.allowing(memory_limit):
        too_much = limits.spec_too_large(network, data, training, samples=None)
        if too_much:
            raise c.fail(*too_much)
        net, (x, y) = spec.build()
        too_much = limits.spec_too_large(network, data, training, samples=len(x))
        if too_much:
            raise c.fail(*too_much)
    check_shapes(c, spec, net, x, y)
    check_trainable(spec, net)
    return spec, net, (x, y)


def check_trainable(spec: Spec, net: Module) -> None:
    """The parameters to train, against the built network; ``spec.warnings`` names any no formula uses."""
    spec.optimizer(net)
    unused = spec.trainable(net)[1]
    spec.warnings = [f"{spec.where}: no formula on the way to the output uses {few(unused)}, so its gradient is "
                     "always 0; it is left out of training and keeps its starting value"] if unused else []


def check_network(c: Checker, net: dict[str, Any]) -> dict[str, Any]:
    kind = c.choice(net, "kind", "network", ("mlp", "formulas"))
    return check_mlp(c, net) if kind == "mlp" else check_formulas(c, net)


def check_mlp(c: Checker, net: dict[str, Any]) -> dict[str, Any]:
    """[network] with kind = "mlp": the inputs, the layers and any starting values given."""
    c.unknown_keys(net, "network", ("kind", "inputs", "layers", "seed", "parameters"))
    inputs = c.count(net, "inputs", "network", 1, hint="the number of inputs per sample, such as 2")
    layers = c.get(net, "layers", "network", list, hint="a list such as [{size = 8, activation = 'tanh'}]")
    if not layers:
        raise c.fail("network.layers", "is empty; give at least the output layer")
    checked = []
    for i, layer in enumerate(layers):
        p = f"network.layers[{i}]"
        if not isinstance(layer, dict):
            raise c.fail(p, f"should be a table such as {{size = 8, activation = 'tanh'}}, got {excerpt(layer)}")
        c.unknown_keys(layer, p, ("size", "activation"))
        size = c.count(layer, "size", p, 1)
        act = c.choice(layer, "activation", p, ops.ACTIVATIONS, default="identity")
        checked.append({"size": size, "activation": act})
    seed = c.count(net, "seed", "network", 0, default=0, high=MAX_SEED)
    params = c.get(net, "parameters", "network", dict, default={})
    return {"kind": "mlp", "inputs": inputs, "layers": checked, "seed": seed, "parameters": params}


def check_formulas(c: Checker, net: dict[str, Any]) -> dict[str, Any]:
    """[network] with kind = "formulas": named inputs, parameters, the formula of each node, the output."""
    c.unknown_keys(net, "network", ("kind", "inputs", "output", "nodes", "parameters"))
    inputs = c.get(net, "inputs", "network", list, hint='the input names, such as ["x"]')
    if not inputs:
        raise c.fail("network.inputs", 'is empty; give the input names, such as ["x"]')
    for i, name in enumerate(inputs):
        c.name(name, f"network.inputs[{i}]")
        if name in inputs[:i]:
            raise c.fail(f"network.inputs[{i}]", f"{name!r} appears twice; give each input its own name")
    params = c.get(net, "parameters", "network", dict, hint="the starting value of every parameter")
    for key, value in params.items():
        c.name(key, f"network.parameters.{field_key(key)}")
        if key in inputs:
            raise c.fail(f"network.parameters.{key}", f"{key!r} is also an input's name; rename one of them")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < math.inf:
            raise c.fail(f"network.parameters.{key}", f"should be a finite number, got {excerpt(value)}")
    nodes, outputs = check_nodes(c, net, inputs, params)
    return {"kind": "formulas", "inputs": inputs, "nodes": nodes, "output": outputs,
            "parameters": {k: float(v) for k, v in params.items()}}


def check_nodes(c: Checker, net: dict[str, Any], inputs: list[str],
                params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The formulas of [network.nodes], each under a name of its own, and the output node(s)."""
    nodes = c.get(net, "nodes", "network", dict, hint='a table of formulas, such as h1 = "softplus(w1 * x + b1)"')
    if not nodes:
        raise c.fail("network.nodes", 'is empty; give at least one formula, such as yhat = "w1 * x + b1"')
    for key, formula in nodes.items():
        c.name(key, f"network.nodes.{field_key(key)}")
        if key in inputs or key in params:
            what = "an input" if key in inputs else "a parameter"
            raise c.fail(f"network.nodes.{key}", f"{key!r} is already the name of {what}, which this node would "
                         "hide; give the node another name")
        if not isinstance(formula, str):
            raise c.fail(f"network.nodes.{key}", f"should be a formula in quotes, got {excerpt(formula)}")
    output = c.get(net, "output", "network", (str, list))
    outputs = [output] if isinstance(output, str) else output
    if not outputs or not all(isinstance(o, str) for o in outputs):
        raise c.fail("network.output", f"should be a node name or a list of node names, got {excerpt(output)}")
    for out in outputs:
        if out not in nodes:
            raise c.fail("network.output", unknown_name_message("node", out, nodes))
    return nodes, outputs


def check_data(c: Checker, data: dict[str, Any]) -> dict[str, Any]:
    if "dataset" in data:
        c.unknown_keys(data, "data", ("dataset", "n", "seed", "noise"))
        name = c.choice(data, "dataset", "data", datasets.DATASETS)
        n = c.count(data, "n", "data", 2, default=100)
        noise = c.get(data, "noise", "data", float, default=None)
        if noise is not None and noise < 0:
            raise c.fail("data.noise", f"must be zero or more, got {noise}")
        seed = c.count(data, "seed", "data", 0, default=0, high=MAX_SEED)
        return {"dataset": name, "n": n, "seed": seed, "noise": noise}
    if "csv" in data:
        c.unknown_keys(data, "data", ("csv", "x", "y"))
        return {"csv": c.get(data, "csv", "data", str), "x": c.get(data, "x", "data", (str, list)),
                "y": c.get(data, "y", "data", (str, list))}
    c.unknown_keys(data, "data", ("x", "y"))
    hint = "give x and y as lists of numbers, a csv file, or a generated dataset"
    return {"x": c.get(data, "x", "data", list, hint=hint), "y": c.get(data, "y", "data", list, hint=hint)}


def check_training(c: Checker, t: dict[str, Any]) -> dict[str, Any]:
    settings = {s for k in OPTIMIZERS for s in optimizer_settings(k)} - {"name"}
    for key in t:
        if key in settings:
            raise c.fail(f"training.{key}", f"{key} is an optimizer setting; did you mean 'optimizer.{key}'? "
                         f"(in a file: under [training.optimizer])")
    c.unknown_keys(t, "training", ("loss", "optimize", "optimizer", "min_step", "max_steps"))
    loss = c.choice(t, "loss", "training", LOSSES, default="ssr")
    optimize = c.get(t, "optimize", "training", (str, list), default="all")
    if isinstance(optimize, str):
        optimize = "all" if optimize == "all" else [s.strip() for s in optimize.split(",") if s.strip()]
    if optimize != "all" and (not optimize or not all(isinstance(o, str) for o in optimize)):
        raise c.fail("training.optimize", f"should be 'all' or a list of parameter names, got {excerpt(optimize)}")
    if optimize != "all":
        for i, name in enumerate(optimize):
            if name in optimize[:i]:
                raise c.fail("training.optimize", f"{excerpt(name)} appears twice; name each parameter once")
    checked = check_optimizer(c, c.get(t, "optimizer", "training", dict, default={}))
    min_step = c.get(t, "min_step", "training", float, default=1e-4)
    if min_step < 0:
        raise c.fail("training.min_step", f"must be zero or more, got {min_step}")
    max_steps = c.count(t, "max_steps", "training", 1, default=1000)
    return {"loss": loss, "optimize": optimize, "optimizer": checked, "min_step": min_step, "max_steps": max_steps}


# --- building -----------------------------------------------------------------------------------
def build_network(network: dict[str, Any], where: str) -> Module:
    if network["kind"] == "mlp":
        sizes = [network["inputs"]] + [layer["size"] for layer in network["layers"]]
        try:
            net = MLP(sizes, [layer["activation"] for layer in network["layers"]], seed=network["seed"])
        except ValueError as exc:
            raise SpecError(where, f"network: {exc}") from None
        names = [n for n, _ in net.named_parameters()]
        for name, value in network["parameters"].items():
            p_path = f"network.parameters.{field_key(name)}"
            if name not in names:
                raise SpecError(where, f"{p_path}: " + unknown_name_message("parameter", name, names))
            try:
                arr = load_numbers(value)
            except (TypeError, ValueError, OverflowError):
                raise SpecError(where, f"{p_path}: should be numbers, got {excerpt(value)}") from None
            shape = net.parameter(name).shape
            if arr.shape != shape:
                rows = f" ({shape[0]} outputs × {shape[1]} inputs: a row per unit, as in PyTorch)" \
                    if len(shape) == 2 else ""
                raise SpecError(where, f"{p_path}: has shape {arr.shape}, but {name} has shape {shape}{rows} for "
                                "these layer sizes")
            if not np.all(np.isfinite(arr)):
                raise SpecError(where, f"{p_path}: contains NaN or infinity")
            net.parameter(name).data = arr.copy()
        return net
    try:
        return FormulaNet(network["parameters"], network["nodes"], network["output"], network["inputs"])
    except FormulaError as exc:
        place = exc.where.replace("node ", "network.nodes.", 1) if exc.where.startswith("node ") else "network.nodes"
        raise SpecError(where, f"{place}: {exc.message}") from None


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
