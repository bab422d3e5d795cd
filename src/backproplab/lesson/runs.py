"""Several runs of one lesson in one exported file, and the controls an embedded page leaves out.

A run is written in the page's own settings language, ``key=value`` items separated by spaces:
``lr=0.3``, ``optimizer=adam``, ``optimize=w3,b3``, ``min_step=0.001``, ``max_steps=50`` and
``start.b3=5`` (a starting value). Each run is those settings put on top of the ones the file is
exported with. The file embeds the first run's document whole; each other run is stored as the
parts of its document that differ from the first, deflated and in base64, so the page, its scripts,
KaTeX and its fonts are there once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings, settings_from_dict
from backproplab.spec.job import JobSettings
from backproplab.util.messages import InputError, excerpt, unknown_name_message

RUN_KEYS = ("lr", "optimizer", "optimize", "min_step", "max_steps", "start.NAME")
MAX_RUNS = 12  # each run is a whole document: a file of more would be large to open
# The controls an embedded page may leave out (--hide, ?hide=); state.js lists the same names.
HIDEABLE = ("preset", "player", "speed", "iteration", "lr", "optimizer", "reset", "own", "guide", "present",
            "min_step", "max_steps", "optimize", "start", "run", "compare")


@dataclass(frozen=True)
class Run:
    """One run of an exported file: how it is written (its label) and the settings it overrides."""

    label: str
    overrides: dict[str, Any]


def parse_run(text: str) -> Run:
    """``"lr=0.3 start.b3=5"`` as a run; a mistake is one line naming the run and the item."""
    items: dict[str, Any] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not value:
            raise InputError(f"run {excerpt(text)}: {excerpt(item)} needs the form key=value, such as lr=0.3 "
                             "or start.b3=5")
        if key.startswith("start.") and len(key) > 6:
            items.setdefault("start", {})[key[6:]] = _number(text, item, value)
        elif key in RUN_KEYS:
            items[key] = ("all" if value == "all" else value.split(",")) if key == "optimize" else value
        else:
            raise InputError(f"run {excerpt(text)}: " + unknown_name_message("setting", key, RUN_KEYS))
    try:
        checked = settings_from_dict({k: v for k, v in items.items()})
    except InputError as exc:
        raise InputError(f"run {excerpt(text)}: {exc}") from None
    overrides = {k: getattr(checked, k) for k in items}
    return Run(" ".join(text.split()), overrides)


def _number(text: str, item: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"run {excerpt(text)}: {excerpt(item)} needs a number after '=', such as "
                         "start.b3=5") from None


def as_run(run: str | Mapping[str, Any]) -> Run:
    """A run written as text, or as a mapping of the same keys (``{"lr": 0.3, "start": {"b3": 5}}``)."""
    if isinstance(run, str):
        return parse_run(run)
    if not isinstance(run, Mapping):
        raise InputError(f"a run should be text such as 'lr=0.3' or a dict of settings, got {type(run).__name__}")
    items = [f"start.{k}={v}" for k, v in dict(run.get("start") or {}).items()]
    for key, value in run.items():
        if key != "start":
            items.append(f"{key}={','.join(value) if isinstance(value, (list, tuple)) else value}")
    return parse_run(" ".join(items))


def parse_runs(runs: Iterable[str | Mapping[str, Any]]) -> list[Run]:
    """Every run, checked: at most :data:`MAX_RUNS`, none twice."""
    out = [as_run(r) for r in runs]
    if len(out) > MAX_RUNS:
        raise InputError(f"{len(out)} runs is more than one file holds ({MAX_RUNS}); export the others to another")
    seen: set[str] = set()
    for run in out:
        key = json.dumps(run.overrides, sort_keys=True)
        if key in seen:
            raise InputError(f"run {excerpt(run.label or 'as given')} is given twice")
        seen.add(key)
    return out


def run_settings(base: Settings, run: Run) -> Settings:
    """The export's settings with the run's on top (its starting values beside the export's own)."""
    changes = dict(run.overrides)
    if "start" in changes:
        changes["start"] = {**base.start, **changes["start"]}
    return dataclasses.replace(base, **changes)


def run_job_settings(base: JobSettings, run: Run) -> JobSettings:
    """The command line's settings with the run's on top, as ``run_settings`` puts them on the page's."""
    given = Settings(lr=base.lr, optimizer=base.optimizer, min_step=base.min_step, max_steps=base.max_steps,
                     start=dict(base.start))
    changed = run_settings(given, run).job_settings()
    kept = {k: v for k, v in dataclasses.asdict(changed).items() if k in run.overrides or k == "start"}
    return dataclasses.replace(base, **kept)


def build_runs(base: Settings, runs: list[Run]) -> list[tuple[Run, dict[str, Any]]]:
    """Each run's lesson document, built as a single-run export builds it; a mistake names the run."""
    out = []
    for run in runs:
        try:
            out.append((run, lesson.build(run_settings(base, run), everything=True)))
        except InputError as exc:
            raise InputError(f"run {excerpt(run.label or 'as given')}: {exc}") from None
    return out


def compared_settings(body: Any) -> Settings:
    """The settings of a run to draw beside the shown one: ``{"settings": the shown run's, "run": "lr=0.34"}``,
    the run's items on top; a mistake is one line naming the run and the item."""
    if not isinstance(body, dict) or not isinstance(body.get("run"), str) or not body["run"].strip():
        raise InputError("compare needs the shown run's settings and a run to compare with, such as lr=0.34")
    base = settings_from_dict(body.get("settings") or {})
    return run_settings(base, parse_run(body["run"]))


def settings_given(settings: Settings) -> dict[str, Any]:
    """The settings as the page sends them back: only those given."""
    return {k: v for k, v in dataclasses.asdict(settings).items() if v not in (None, {}, [])}


def pack(doc: dict[str, Any], first: dict[str, Any]) -> str:
    """The parts of ``doc`` that differ from ``first``, as deflated JSON in base64 (the page inflates it
    with ``DecompressionStream("deflate-raw")`` and lays it over the first run's document)."""
    differs = {k: v for k, v in doc.items() if first.get(k) != v}
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = squeeze.compress(lesson.to_json(differs).encode("utf-8")) + squeeze.flush()
    return base64.b64encode(data).decode("ascii")


def unpack(text: str, first: dict[str, Any]) -> dict[str, Any]:
    """A packed run's whole document (what the page does; for tests and tools)."""
    differs = json.loads(zlib.decompress(base64.b64decode(text), -15).decode("utf-8"))
    return {**first, **differs}


def runs_table(built: list[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    """What the page needs to offer the runs: each run's label and settings, and the others' packed documents."""
    first = built[0][1]
    return {"runs": [{"label": run.label, "settings": doc["settings"],
                      "packed": None if i == 0 else pack(doc, first)} for i, (run, doc) in enumerate(built)]}


def check_hide(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """The controls to leave out, as ``--hide optimizer,lr`` names them; an unknown name is one line."""
    if names is None:
        return ()
    items = names.split(",") if isinstance(names, str) else [p for n in names for p in str(n).split(",")]
    out = []
    for name in (n.strip().replace("-", "_") for n in items):
        if not name:
            continue
        if name not in HIDEABLE:
            raise InputError(unknown_name_message("control to hide", name, HIDEABLE, shown=len(HIDEABLE)))
        out.append(name)
    return tuple(dict.fromkeys(out))
