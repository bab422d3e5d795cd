"""A job: a preset or a spec file with its settings applied, built into a network and data.

The command line's flags and the lesson page's settings both arrive as one ``JobSettings``. The
spec is read once, the settings that need no network are applied to it, it is checked and built
once, and then the settings that name parameters (which only the built network knows) are checked
against that network and applied to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.nn import Module
from backproplab.optim import OPTIMIZERS
from backproplab.spec.checker import Checker, check_optimizer
from backproplab.spec.data import checked_data_dirs
from backproplab.spec.presets import PRESETS, Preset
from backproplab.spec.spec import Spec, apply_override, check_built, check_trainable, load_toml, read_text
from backproplab.util.messages import InputError, unknown_name_message


class SettingsError(InputError):
    """A setting (a flag, or the page's) that does not fit the spec it is applied to: one line."""


@dataclass(frozen=True)
class JobSettings:
    """What to change in a spec before it runs: the command line's flags or the lesson page's settings."""

    lr: float | None = None
    optimize: str | tuple[str, ...] | None = None  # 'all', parameter names, or None: as the spec says
    max_steps: int | None = None
    min_step: float | None = None
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, applied first
    optimizer: str | None = None  # another optimizer, at the same learning rate
    start: tuple[tuple[str, float], ...] = ()  # starting values of single-number parameters
    data_dirs: tuple[str, ...] | None = None  # folders data files may also come from; () allows no file
    memory_limit: int | None = None  # bytes (None: the default limit)
    explain: str | None = None  # --explain PARAM: must name a parameter
    flag: str = "--"  # how a message names a setting: '--optimize' on the command line, 'optimize' on the page

    def spec_overrides(self) -> list[str]:
        """The settings that need no network, as spec settings (``optimizer.lr=0.05`` …).

        With --optimize, training.optimize is 'all' until the network is built and can check the names."""
        items = list(self.overrides)
        if self.optimize is not None:
            items.append("optimize=all")
        if self.lr is not None:
            items.append(f"optimizer.lr={self.lr!r}")
        if self.max_steps is not None:
            items.append(f"max_steps={self.max_steps}")
        if self.min_step is not None:
            items.append(f"min_step={self.min_step!r}")
        return items


@dataclass
class Job:
    """A preset or spec file, with the command line's (or the page's) settings applied, ready to train."""

    title: str
    spec: Spec
    net: Module
    x: np.ndarray
    y: np.ndarray
    preset: Preset

    @property
    def loss(self) -> str:
        return self.spec.training["loss"]


def names_a_file(source: str) -> bool:
    """Whether SOURCE is meant as a spec file: a .toml name, or a path that exists (a name too
    long for the system exists nowhere)."""
    try:
        return source.endswith(".toml") or Path(source).exists()
    except (OSError, ValueError):
        return False


def load_job(source: str, settings: JobSettings) -> Job:
    """A preset by name, or a spec file by path, with the settings applied."""
    if source in PRESETS:
        preset = PRESETS[source]
        return build_job(load_toml(preset.text), settings, preset=preset)
    if names_a_file(source):
        return read_job(source, settings)[1]
    raise SettingsError(unknown_name_message("preset", source, PRESETS) + ", or give the path of a .toml spec file")


def read_job(path: str | Path, settings: JobSettings) -> tuple[str, Job]:
    """A spec file's text, read once, and the job it describes with the settings applied."""
    checked_data_dirs(settings.data_dirs)  # an empty --data-dir is said before the file is read
    path = Path(path)
    text = read_text(path)
    return text, build_job(load_toml(text, path), settings, path=path)


def build_job(raw: dict[str, Any], settings: JobSettings, *, path: Path | None = None,
              preset: Preset | None = None) -> Job:
    """The job a parsed spec (read from ``path``, if from a file) describes with the settings applied:
    checked and built once. Its data files may come from the spec's own folder and the settings' folders."""
    where = str(path) if path else "spec"
    for item in settings.spec_overrides():
        apply_override(raw, item, where)
    dirs = checked_data_dirs(settings.data_dirs)
    if path is not None and dirs is not None:
        dirs = (path.parent, *dirs)
    spec, net, (x, y) = check_built(raw, path, data_dirs=dirs, memory_limit=settings.memory_limit)
    names = [n for n, _ in net.named_parameters()]
    choose_parameters(spec, names, settings)
    choose_optimizer(spec, settings)
    set_starting_values(spec, net, settings)
    if settings.optimize is not None or settings.optimizer is not None or settings.start:
        check_trainable(spec, net)  # again, with what the settings changed
    if settings.explain not in (None, "all") and settings.explain not in names:
        raise SettingsError(unknown_name_message("parameter", settings.explain, names) + f" in {settings.flag}explain")
    title = f"{spec.name}: {spec.description}" if spec.description else spec.name
    if preset is None:
        return Job(title, spec, net, x, y, Preset(spec.name))
    return Job(title, spec, preset.adopt(net), x, y, preset)


def _set_training(spec: Spec, key: str, value: Any) -> None:
    """One training setting, in the checked spec and in the table it was read from (which writes it back)."""
    spec.training[key] = value
    spec.raw.setdefault("training", {})[key] = value


def choose_parameters(spec: Spec, names: list[str], settings: JobSettings) -> None:
    """--optimize's names ('all', or a comma list), checked against the network's parameters."""
    if settings.optimize is None:
        return
    chosen = list(names) if settings.optimize == "all" else list(dict.fromkeys(settings.optimize))
    if not chosen:
        raise SettingsError(f"{settings.flag}optimize needs at least one parameter name, or 'all'")
    for name in chosen:
        if name not in names:
            raise SettingsError(unknown_name_message("parameter", name, names) + f" in {settings.flag}optimize")
    _set_training(spec, "optimize", chosen)


def choose_optimizer(spec: Spec, settings: JobSettings) -> None:
    """Another optimizer, at the learning rate the spec (or the settings) give."""
    if settings.optimizer is None:
        return
    if settings.optimizer not in OPTIMIZERS:
        raise SettingsError(unknown_name_message("optimizer", settings.optimizer, OPTIMIZERS))
    current = spec.training["optimizer"]
    if settings.optimizer != current["name"]:
        chosen = {"name": settings.optimizer, "lr": float(current["lr"])}
        checked = check_optimizer(Checker(spec.where), chosen)
        _set_training(spec, "optimizer", chosen)
        spec.training["optimizer"] = checked


def set_starting_values(spec: Spec, net: Module, settings: JobSettings) -> None:
    """Starting values typed in for single-number parameters: in the network, and in the spec."""
    params = dict(net.named_parameters())
    for name, value in settings.start:
        if name not in params:
            raise SettingsError(unknown_name_message("parameter", name, list(params)) + " in the starting values")
        if params[name].data.size != 1:
            raise SettingsError(f"{name} is a matrix; starting values can be typed in for single numbers only")
        params[name].data = np.full(params[name].data.shape, float(value))
        spec.network["parameters"][name] = params[name].data.tolist()
        spec.raw.setdefault("network", {}).setdefault("parameters", {})[name] = params[name].data.tolist()


__all__ = ["Job", "JobSettings", "SettingsError", "build_job", "load_job", "names_a_file", "read_job"]
