"""Lesson scripts: a teacher's guided tour of one run, written as a short TOML file.

A script names a preset or a spec file, may set the run's training settings as the page does,
and lists steps: a caption, the iteration to show, the parameter or node to highlight, the
controls to show, and an iteration at which playing stops. Captions may hold live numbers
({grad.b3}, {step.b3}, {new.b3}, {param.b3}, {loss}), filled here from the lesson document, so
the page shows given strings and computes none. Every mistake is one line naming the file and
the step, and what is allowed there. The page's guide reads its wording from the shipped scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from backproplab.lesson.settings import LessonError, Settings, load_job, settings_from_dict
from backproplab.spec.data import SpecError, read_data_text, shown_path
from backproplab.spec.job import JobSettings, read_job
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import load_toml, read_text
from backproplab.util.messages import unknown_name_message
from backproplab.util.numbers import number

# The page's controls a step may show, by name (static/tour.js finds each one's elements; the settings' controls by
# the page's table of settings, state.js).
CONTROLS = ("preset", "first", "back", "step", "play", "last", "speed", "iteration", "lr", "optimizer", "reset",
            "own", "guide", "present", "min_step", "max_steps", "optimize", "param", "tab-steps", "tab-forward",
            "view", "copy", "factors-exact", "log")
PANELS = ("network", "curve", "predictions", "derivation", "table", "history")  # what else a step may point at
KEYS = ("title", "preset", "spec", "settings", "step")
STEP_KEYS = ("caption", "iteration", "highlight", "controls", "pause", "point")
SETTING_KEYS = ("lr", "optimizer", "optimize", "max_steps", "min_step", "start")
NUMBERS = ("grad", "step", "new", "param")  # {grad.NAME} …: the row of the steps table, as the page shows it
WORDS = ("loss", "symbol", "iteration", "lr")  # {loss}: the loss there; {symbol}: SSR, BCE …
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True)
class Step:
    """One stop of the tour: what it says, where in the run, and what the page shows."""

    caption: str
    iteration: int = 1
    highlight: str | None = None  # a parameter (selected everywhere) or a node of the network diagram
    controls: tuple[str, ...] | None = None  # None: every control
    pause: int | None = None  # playing stops at this iteration while the step is shown
    point: str | None = None  # the element the step is about (the guide points at it)


@dataclass(frozen=True)
class LessonScript:
    """A parsed script: where it came from (for messages), its run's settings, and its steps."""

    where: str
    title: str
    settings: Settings
    steps: tuple[Step, ...]

    def tour(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The tour as the page shows it: each step's caption with its numbers filled in from the lesson
        document ``doc`` of the script's run, every name a step gives checked against that run."""
        run = context(doc)
        steps = [filled(run, f"{self.where}, step {n}", s) for n, s in enumerate(self.steps, start=1)]
        return {"title": self.title, "steps": steps, "keys": "N or Page Down: next step · B or Page Up: back"}


def load(path: str | Path) -> LessonScript:
    """A script file, parsed and checked: every key, and the run's settings as the page checks them."""
    path = Path(path)
    return parse(read_text(path), shown_path(path).strip("'"), base=path.parent)


def shipped(name: str) -> LessonScript:
    """A script shipped with the package (``lesson/scripts/NAME.toml``)."""
    folder = resources.files("backproplab.lesson").joinpath("scripts")
    return parse(folder.joinpath(f"{name}.toml").read_text(encoding="utf-8"), f"{name}.toml")


def shipped_names() -> list[str]:
    """The shipped scripts' names, in order (the dosage example's four parts first)."""
    folder = resources.files("backproplab.lesson").joinpath("scripts")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def is_script(source: str) -> bool:
    """Whether SOURCE is a lesson script (a .toml file with [[step]] tables), not a spec file."""
    try:
        path = Path(source)
        return path.suffix == ".toml" and path.is_file() and "step" in load_toml(read_text(path), path)
    except (OSError, ValueError, SpecError):
        return False  # the spec reader says what is wrong with it


def parse(text: str, where: str, base: Path | None = None) -> LessonScript:
    """A script's text; ``where`` names it in messages, ``base`` is the folder a spec file is found in."""
    raw = load_toml(text, Path(where))
    for key in raw:
        if key not in KEYS:
            raise SpecError(where, unknown_name_message("key", key, KEYS))
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps:
        raise SpecError(where, "needs at least one [[step]] table, each with a caption")
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise SpecError(where, f"title should be text, got {title!r:.40}")
    settings = _settings(raw, where, base)
    return LessonScript(where, title, settings, tuple(_step(s, f"{where}, step {n}") for n, s in enumerate(steps, 1)))


def _settings(raw: dict[str, Any], where: str, base: Path | None) -> Settings:
    """The run: a preset or a spec file, with [settings] checked exactly as the page's settings are."""
    preset, spec = raw.get("preset"), raw.get("spec")
    if (preset is None) == (spec is None):
        raise SpecError(where, "name the run with preset = \"statquest\" (or another example) or "
                               "spec = \"mynet.toml\", one of the two")
    table = raw.get("settings", {})
    if not isinstance(table, dict):
        raise SpecError(where, "settings should be a table: [settings] with lr, optimizer, optimize, max_steps, "
                               "min_step or start")
    for key in table:
        if key not in SETTING_KEYS:
            raise SpecError(f"{where}, [settings]", unknown_name_message("setting", key, SETTING_KEYS))
    if preset is not None and preset not in PRESETS:
        raise SpecError(where, unknown_name_message("preset", str(preset), PRESETS))
    sent: dict[str, Any] = dict(table)
    if spec is not None:
        sent.update(_spec_texts(spec, where, base))
    else:
        sent["preset"] = preset
    try:
        settings = settings_from_dict(sent)
        load_job(settings)  # the spec's own checks, and the page's limits, said now
    except LessonError as exc:
        raise SpecError(f"{where}, [settings]", str(exc)) from None
    return settings


def _spec_texts(spec: Any, where: str, base: Path | None) -> dict[str, Any]:
    """A spec file's text (next to the script) and its CSV text, read by the one checked reader."""
    if not isinstance(spec, str) or not spec.endswith(".toml"):
        raise SpecError(where, f"spec should name a .toml spec file, got {spec!r:.60}")
    path = (base or Path(".")) / spec
    text, job = read_job(path, JobSettings())
    out: dict[str, Any] = {"spec_text": text}
    if "csv" in job.spec.data:
        out["csv_text"] = read_data_text(job.spec.data["csv"], path.parent, job.spec.where, job.spec.data_dirs)
    return out


def _step(raw: Any, where: str) -> Step:
    """One [[step]] table, checked for its keys and their types (the run is checked when the tour is filled)."""
    if not isinstance(raw, dict):
        raise SpecError(where, "should be a [[step]] table")
    for key in raw:
        if key not in STEP_KEYS:
            raise SpecError(where, unknown_name_message("key", key, STEP_KEYS))
    caption = raw.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise SpecError(where, "needs a caption: caption = \"what to look at\"")
    iteration = _whole(raw, "iteration", where, 1) or 1
    pause = _whole(raw, "pause", where, None)
    if pause is not None and pause < iteration:
        raise SpecError(where, f"pause = {pause} comes before the step's iteration {iteration}; playing from "
                               f"there stops at a later iteration")
    controls = _controls(raw.get("controls"), where)
    point = raw.get("point")
    if point is not None and point not in CONTROLS + PANELS:
        raise SpecError(where, unknown_name_message("place to point at", str(point), CONTROLS + PANELS,
                                                    shown=len(CONTROLS + PANELS)))
    highlight = raw.get("highlight")
    if highlight is not None and not isinstance(highlight, str):
        raise SpecError(where, f"highlight should name a parameter or a node, got {highlight!r:.40}")
    return Step(caption, iteration, highlight, controls, pause, point)


def _controls(controls: Any, where: str) -> tuple[str, ...] | None:
    """A step's list of controls to show, each a name of :data:`CONTROLS` (None: every control)."""
    if controls is None:
        return None
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        raise SpecError(where, "controls should be a list of control names, such as [\"step\", \"back\"]")
    for c in controls:
        if c not in CONTROLS:
            raise SpecError(where, unknown_name_message("control", c, CONTROLS, shown=len(CONTROLS)))
    return tuple(controls)


def _whole(raw: dict[str, Any], key: str, where: str, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise SpecError(where, f"{key} should be an iteration, a whole number from 1, got {value!r:.40}")
    return value


# --- filling in a step's numbers from the lesson document ----------------------------------------------------

def context(doc: dict[str, Any]) -> dict[str, Any]:
    """What a step may name in a run (its parameters, nodes and iterations) and the words a caption may use,
    from its lesson document."""
    its = doc["trace"]["iterations"]
    return {"params": list(its[0]["params"]) if its else [], "nodes": [n["name"] for n in doc["network"]["nodes"]],
            "rows": {it["iteration"]: it for it in its}, "last": doc["trace"].get("iterations_total", len(its)),
            "symbol": doc["words"]["loss"]["symbol"], "lr": doc["trace"]["learning_rate"]}


def filled(run: dict[str, Any], where: str, step: Step) -> dict[str, Any]:
    """A step as the page shows it, after checking every name it gives against the run (:func:`context`)."""
    row = _row(run, where, step.iteration, "iteration")
    if step.pause is not None and step.pause > run["last"]:  # playing stops at the first kept iteration from it
        raise SpecError(where, f"pause = {step.pause}: the run has iterations 1 to {run['last']}")
    names = list(dict.fromkeys(run["params"] + run["nodes"]))
    if step.highlight is not None and step.highlight not in names:
        raise SpecError(where, "highlight: " + unknown_name_message("parameter or node", step.highlight, names,
                                                                    shown=len(names)))
    caption = PLACEHOLDER.sub(lambda m: _value(run, where, row, m), step.caption)
    kind = "param" if step.highlight in run["params"] else "node" if step.highlight else None
    return {"caption": caption, "iteration": step.iteration, "highlight": step.highlight, "kind": kind,
            "controls": None if step.controls is None else list(step.controls), "pause": step.pause,
            "point": step.point}


def _row(run: dict[str, Any], where: str, k: int, key: str) -> dict[str, Any]:
    if k > run["last"]:
        raise SpecError(where, f"{key} = {k}: the run has iterations 1 to {run['last']}")
    if k not in run["rows"]:
        kept = sorted(run["rows"])
        raise SpecError(where, f"{key} = {k} is not kept in this run's document; choose one of "
                               f"{', '.join(map(str, kept[:12]))}, …")
    return run["rows"][k]


def _value(run: dict[str, Any], where: str, row: dict[str, Any], m: re.Match[str]) -> str:
    """One placeholder's text: the number as the page's table writes it (the terminal's rounding)."""
    if m.group(1) is None:
        return m.group(0)[0]  # {{ and }} are a brace
    name = m.group(1).strip()
    words = {"loss": lambda: number(row["loss"]), "symbol": lambda: run["symbol"],
             "iteration": lambda: str(row["iteration"]), "lr": lambda: f"{run['lr']:g}"}
    if name in words:
        return words[name]()
    kind, _, param = name.partition(".")
    usable = [f"{k}.NAME" for k in NUMBERS] + list(WORDS)
    if kind not in NUMBERS or not param:
        raise SpecError(where, f"caption: unknown placeholder {{{name[:40]}}} (choose from: "
                               f"{', '.join('{' + u + '}' for u in usable)})")
    if param not in run["params"]:
        raise SpecError(where, f"caption: {{{name[:40]}}}: " + unknown_name_message("parameter", param, run["params"]))
    return _number_of(row, kind, param, where)
def _number_of(row: dict[str, Any], kind: str, param: str, where: str) -> str:
    """{grad.P}, {step.P}, {new.P} or {param.P} at the row's iteration; an array of one entry is that entry, a
    larger one gives its norm, as the steps table shows it."""
    source = {"grad": "gradients", "step": "step_sizes", "new": "new_values", "param": "params"}[kind]
    value = row[source].get(param)
    if value is None:
        raise SpecError(where, f"caption: {{{kind}.{param}}}: {param} is not trained in this run, so it takes "
                               "no step; train it with [settings] optimize, or show its {grad." + param + "}")
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, list):
        norm = row["norms"].get({"grad": "gradients", "step": "step_sizes"}.get(kind, ""), {}).get(param)
        if norm is None:
            raise SpecError(where, f"caption: {{{kind}.{param}}}: {param} is an array, not one number; "
                                   f"{{grad.{param}}} and {{step.{param}}} give their norms")
        return number(norm)
    return number(value)


PARTS = tuple(f"statquest-part{n}" for n in range(1, 5))  # the dosage example's four parts, in the article's order


def part_openings(run: dict[str, Any]) -> list[dict[str, str]]:
    """The page's guide for the dosage example: the first step of each part's script, filled in from the page's
    own run (:func:`context`), with the element it points at; a part whose numbers this run lacks (its parameter
    not trained here) is left out."""
    out = []
    for name in PARTS:
        script = shipped(name)
        try:
            step = filled(run, script.where, script.steps[0])
        except SpecError:
            continue
        out.append({"text": step["caption"], "control": step["point"] or ""})
    return out
