"""The figures of a worked example, by name, for the command line: which plot, which
parameters, and where the files go. The drawing itself is in ``plots``.

Every figure is saved through :func:`save`; :func:`export` writes the whole set for a run,
with file names that say what each figure is and an ``index.md`` that lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from matplotlib.figure import Figure

from backproplab import plots
from backproplab.engine.tensor import Tensor
from backproplab.explain.dot import to_dot, write_graph
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.plots.base import FigureError, position, short_loss, state, state_name, states
from backproplab.spec.presets import PRESETS, Preset
from backproplab.train.trace import Trace
from backproplab.util import files
from backproplab.util.messages import unknown_name_message

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DPI = 120


def output_path(text: str) -> Path:
    """The output file, with its folder made; a ValueError (``files.WriteError``) if it cannot be written."""
    return files.check(text, example="figure.png")


def save(fig: Figure, path: Path, dpi: int = DPI) -> None:
    """Write one figure (.png, .svg or .pdf): the one place figures reach the disk."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise FigureError(f"unknown image type '{path.suffix}' for {path} (use .png, .svg or .pdf)")
    with files.open_for_writing(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lower().lstrip("."), dpi=dpi)


def save_text(path: Path, text: str) -> None:
    """Write a text file beside the figures (the index): the one place text reaches the disk here."""
    files.write_text(path, text)


def hints_for_spec(spec: Any) -> Preset:
    """How a spec file's figures are labelled: its CSV column names, else its preset's names."""
    base = PRESETS.get(spec.name)
    x_label, y_label = (base.x_label, base.y_label) if base else ("x", "y")
    data = spec.data
    if "csv" in data:
        x_label = data["x"] if isinstance(data["x"], str) else ", ".join(data["x"])
        y_label = data["y"] if isinstance(data["y"], str) else ", ".join(data["y"])
    elif base is None and isinstance(spec.network.get("inputs"), list):  # a formula spec's input names
        x_label = ", ".join(spec.network["inputs"])
    elif base is None and spec.network.get("inputs") == 2:  # an MLP's two inputs are the two axes
        x_label, y_label = "x₁", "x₂"
    return Preset(spec.name, x_label=x_label, y_label=y_label, contour=base.contour if base else None)


def _scalar_names(net: Module, names: list[str]) -> list[str]:
    return [n for n in names if net.parameter(n).data.size == 1]


def pick_param(net: Module, trace: Trace, name: str | None, trained: bool = True) -> str:
    """The parameter asked for (else the first optimized one); with ``trained``, it must be optimized."""
    names = [n for n, _ in net.named_parameters()]
    if name is None:
        scalars = _scalar_names(net, trace.optimize)
        if not scalars:
            raise FigureError("no single-number parameter is optimized; choose one with --param")
        return scalars[0]
    if name not in names:
        raise FigureError(unknown_name_message("parameter", name, names) + " in --param")
    if trained and name not in trace.optimize:
        raise FigureError(f"{name} is not optimized in this run, so it has no descent path; add --optimize {name}")
    return name


def pick_pair(preset: Preset, net: Module, trace: Trace, spec: str | None) -> tuple[str, str]:
    """The two parameters of a contour map: as asked, else the first two optimized, else the preset's."""
    names = [n for n, _ in net.named_parameters()]
    if spec:
        pair = [s.strip() for s in spec.split(",") if s.strip()]
        if len(pair) != 2:
            raise FigureError(f"--params takes two names such as w3,b3, got {spec!r}")
        if pair[0] == pair[1]:
            raise FigureError(f"--params names {pair[0][:30]!r} twice; a contour map needs two different "
                              "parameters, such as w3,b3")
        for name in pair:
            if name not in names:
                raise FigureError(unknown_name_message("parameter", name, names) + " in --params")
        return pair[0], pair[1]
    scalars = _scalar_names(net, trace.optimize)
    if len(scalars) >= 2:
        return scalars[0], scalars[1]
    if preset.contour:
        return preset.contour
    raise FigureError("a contour map needs two single-number parameters; choose them with --params A,B")


def _start(net: Module, trace: Trace) -> None:
    """Put the network back at the run's starting values (plots draw from there)."""
    if trace.iterations:
        net.load_state_dict(trace.iterations[0].params)


def _check_iteration(trace: Trace, iteration: int, steps_only: bool) -> None:
    """A one-line error for an iteration the run does not have (predictions need one with a step)."""
    last = trace.iterations[-1].step + 1 if steps_only and trace.iterations else states(trace)
    try:
        position(trace, iteration)
        ok = iteration <= last
    except ValueError:
        ok = False
    if not ok:
        raise FigureError(f"--iteration {iteration} is not in this run; choose --iteration from 1 to {last} "
                          "(iteration 1 is the start)")


def one(preset: Preset, net: Module, trace: Trace, kind: str, *, param: str | None = None,
        params: str | None = None, iteration: int | None = None, log: bool = False,
        span: tuple[float, float] | None = None, steps: bool = True, tangent: bool = True,
        compare: Sequence[tuple[str, Trace]] = (), name: str = "") -> Figure:
    """One figure of the run by name; ``iteration`` counts from 1 (iteration 1 is the start). ``compare``: other
    named runs drawn on the same loss curve, ``name`` this run's name among them."""
    x, y = np.asarray(trace.inputs), np.asarray(trace.targets)
    xl, yl = preset.x_label, preset.y_label
    _start(net, trace)
    if iteration is not None:
        _check_iteration(trace, iteration, steps_only=kind == "predictions")
    shown = iteration or 1
    if kind == "loss-curve":
        return plots.loss_curve(net, x, y, pick_param(net, trace, param, trained=False), loss=trace.loss, trace=trace,
                                iteration=shown, span=span, steps=steps, tangent=tangent, compare=compare, name=name)
    if kind == "predictions":
        return plots.predictions(net, x, y, trace=trace, iteration=shown, x_label=xl, y_label=yl)
    if kind == "residuals":
        return plots.residuals(net, x, y, trace=trace, iteration=shown, loss=trace.loss, x_label=xl, y_label=yl)
    if kind == "fit-series":
        return plots.fit_series(net, x, y, trace, x_label=xl, y_label=yl)
    if kind == "final-fit":
        return plots.final_fit(net, x, y, trace, loss=trace.loss, x_label=xl, y_label=yl)
    if kind == "loss-history":
        return plots.loss_history(trace, log=log)
    if kind == "contour":
        pair = pick_pair(preset, net, trace, params)
        return plots.loss_contour(net, x, y, pair, loss=trace.loss, trace=trace, iteration=iteration)
    if kind == "network":
        return _network(net, trace, iteration or states(trace))
    if kind == "decision-boundary":
        return _boundary(preset, net, trace, x, y)
    raise FigureError(f"unknown figure {kind!r}")


def _network(net: Module, trace: Trace, k: int) -> Figure:
    """The network with its values at iteration ``k``; the network is put back at the start after."""
    n = states(trace)
    net.load_state_dict(state(trace, k))
    which = "starting values" if k == 1 else "final values" if k == n else "values"
    fig = plots.network_diagram(net, when=f"{which}, {state_name(trace, k)}")
    _start(net, trace)
    return fig


def _boundary(preset: Preset, net: Module, trace: Trace, x: np.ndarray, y: np.ndarray) -> Figure:
    """The decision boundary at the end of the run; the network is put back at the start after."""
    if x.ndim != 2 or x.shape[1] != 2 or y.ndim != 1:
        raise FigureError("a decision boundary needs class labels and two inputs per sample "
                          "(moons, circles, xor, spiral)")
    if trace.final is None:
        raise FigureError("a decision boundary is drawn at the end of a run, and this run has no end recorded")
    net.load_state_dict(trace.final.params)
    names = [n.strip() for n in preset.x_label.split(",")]  # two CSV columns name the two axes
    fig = (plots.decision_boundary(net, x, y, x_label=names[0], y_label=names[1]) if len(names) == 2
           else plots.decision_boundary(net, x, y))
    fig.axes[0].set_title(f"Decision boundary at {state_name(trace, states(trace))}", fontsize=10)
    _start(net, trace)
    return fig


def animation(preset: Preset, net: Module, trace: Trace, param: str, path: Path) -> int:
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise FigureError(f"an animation is written as .gif or .mp4, not '{path.suffix}'")
    _start(net, trace)
    with files.replacing(path, example="descent.gif") as part:  # the animation reaches the disk only when done
        return plots.animate_descent(net, trace.inputs, trace.targets, trace, param, str(part), loss=trace.loss,
                                     x_label=preset.x_label, y_label=preset.y_label)


@dataclass
class Planned:
    stem: str
    what: str
    options: dict[str, Any] = field(default_factory=dict)


def plan(preset: Preset, net: Module, trace: Trace) -> list[Planned]:
    """Every figure that fits this run: its file name (without suffix), what it shows, how to draw it."""
    x, y = np.asarray(trace.inputs), np.asarray(trace.targets)
    loss = short_loss(trace.loss)
    n = states(trace)
    end = state_name(trace, n)
    one_input = (x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)) and y.size == len(x)
    labels = x.ndim == 2 and x.shape[1] == 2 and y.ndim == 1 and trace.loss in ("bce", "cross_entropy")
    scalars = _scalar_names(net, trace.optimize)
    jobs: list[Planned] = []
    if one_input:
        jobs.append(Planned("data-and-residuals", f"The data, the predictions at iteration 1 (dark) and each "
                            f"residual y − ŷ as a vertical line, with the {loss}.", {"kind": "residuals"}))
    others = len(trace.optimize) > 1
    for k, p in enumerate(scalars):
        slice_note = " (a slice: the other parameters held at iteration 1; the loss along the run drawn apart)" \
            if others else ""
        jobs.append(Planned(f"{trace.loss}-vs-{p}", f"{loss} against {p} (pink) with its lowest point, the tangent at "
                            f"iteration 1 and every numbered step{slice_note}.", {"kind": "loss-curve", "param": p}))
        if k == 0:
            jobs.append(Planned(f"{trace.loss}-vs-{p}-curve-only", f"{loss} against {p} alone: the curve and its "
                                "lowest point, no steps and no tangent.",
                                {"kind": "loss-curve", "param": p, "steps": False, "tangent": False}))
    if one_input and trace.iterations:
        jobs.append(Planned("predictions-iteration-1-and-2", "The predictions at iteration 1 (dark) and the new "
                            "predictions after its step (green).", {"kind": "predictions", "iteration": 1}))
        jobs.append(Planned("predictions-every-iteration", "One green curve per iteration, older ones fainter, "
                            "from the start (dark) to the end.", {"kind": "fit-series"}))
        jobs.append(Planned("final-fit", f"The final fit (green), at {end}, with the start (dark) and the "
                            "residuals left.", {"kind": "final-fit"}))
    elif labels:
        jobs.append(Planned("decision-boundary", "The predicted class over the plane at the end of the run, "
                            "with the data.", {"kind": "decision-boundary"}))
    jobs.append(Planned("loss-per-iteration", f"The {loss} at every iteration (log scale).",
                        {"kind": "loss-history", "log": True}))
    if len(scalars) >= 2 or preset.contour:
        a, b = pick_pair(preset, net, trace, None)
        jobs.append(Planned(f"contour-{trace.loss}-over-{a}-and-{b}", f"A contour map of the {loss} over {a} and "
                            f"{b} through {end}, with the descent path.", {"kind": "contour"}))
    try:
        plots.network_layout(net)
        jobs.append(Planned("network-starting-values", "The network with its starting values (iteration 1).",
                            {"kind": "network", "iteration": 1}))
        jobs.append(Planned("network-final-values", f"The network with its final values, at {end}.",
                            {"kind": "network"}))
    except ValueError:
        pass
    return jobs


def export(preset: Preset, net: Module, trace: Trace, folder: Path, *, svg: bool = True, dpi: int = DPI,
           animate: bool = False, title: str = "") -> list[tuple[Path, str]]:
    """Every figure of the run into ``folder`` (PNG, and SVG unless ``svg`` is False), the
    computation graph, an animation if asked, and ``index.md`` listing what each file shows.

    Returns (file, note) for each file written.
    """
    folder = output_path(str(folder / "x")).parent
    written: list[tuple[Path, str]] = []
    rows: list[tuple[list[str], str]] = []
    diverged = trace.final is not None and trace.final.stopped_by == "diverged" or not np.all(
        np.isfinite(trace.losses()))
    jobs = plan(preset, net, trace)
    if diverged:  # the values ran away: only the loss per iteration is worth drawing
        jobs = [job for job in jobs if job.options["kind"] == "loss-history"]
    for job in jobs:
        fig = one(preset, net, trace, **job.options)
        files = []
        for suffix in (".png", ".svg") if svg else (".png",):
            save(fig, folder / f"{job.stem}{suffix}", dpi)
            written.append((folder / f"{job.stem}{suffix}", ""))
            files.append(f"{job.stem}{suffix}")
        rows.append((files, job.what))
    if animate and not diverged:
        scalars = _scalar_names(net, trace.optimize)
        if scalars:
            path = folder / f"descent-{scalars[0]}.gif"
            frames = animation(preset, net, trace, scalars[0], path)
            written.append((path, ""))
            rows.append(([path.name], f"An animation in {frames} frames, from iteration 1 to the end: the point "
                          f"moving down the {short_loss(trace.loss)} curve with its tangent, the predictions and "
                          "the new predictions after each step, and under them the step's gradient, step size and "
                          "new value."))
    _start(net, trace)
    loss = get_loss(trace.loss)(net(Tensor(trace.inputs, name="x")), Tensor(trace.targets, name="y"))
    dot = to_dot(loss)
    graphs: list[str] = []
    for suffix in (".png", ".svg") if svg else (".png",):
        graph, note = write_graph(dot, folder / f"computation-graph{suffix}")
        written.append((graph, note))
        graphs.append(graph.name)
        if note:  # no Graphviz: the DOT file is written once, with the note
            break
    rows.append((graphs, "The computation graph at iteration 1: every node with its value and gradient."))
    index = folder / "index.md"
    run = (f"The run: {trace.optimizer.replace('_', ' ')}, learning rate {trace.learning_rate:g}, optimizing "
           f"{', '.join(trace.optimize)}"
           + (f"; {trace.final.steps} steps, stopped by {trace.final.stopped_by.replace('_', ' ')}." if trace.final
              else "."))
    save_text(index, index_text(title, run, rows))
    written.append((index, ""))
    if trace.final is not None:
        net.load_state_dict(trace.final.params)
    return written


MARKDOWN_INERT = str.maketrans({c: f"&#{ord(c)};" for c in "&<>[]`\\|{}$*_!#"})
"""Characters that Markdown, HTML, MkDocs' attribute lists or its math could read as markup, written as
character references: a spec's name or description shows as the text it is and never becomes a link,
a tag, an attribute or a formula."""


def markdown_text(text: str) -> str:
    """``text`` as inert Markdown on one line (a table cell or a heading)."""
    return " ".join(str(text).split()).translate(MARKDOWN_INERT)


def index_text(title: str, run: str, rows: list[tuple[list[str], str]]) -> str:
    """``index.md``: a heading, the run, and a table of each file (linked) and what it shows; every
    text from the run or the spec is made inert, every file name is a relative link."""
    def link(name: str) -> str:
        return f"[{markdown_text(name)}]({quote(name, safe='')})"

    lines = [f"# Figures{': ' + markdown_text(title) if title else ''}", "", markdown_text(run),
             "Iterations are counted from 1, as the terminal counts them; iteration 1 is the start.", "",
             "| file | what it shows |", "|---|---|"]
    lines += [f"| {', '.join(link(f) for f in files)} | {markdown_text(what)} |" for files, what in rows]
    return "\n".join(lines) + "\n"


def write_all(preset: Preset, net: Module, trace: Trace, folder: Path, svg: bool = False,
              dpi: int = DPI, title: str = "") -> list[tuple[Path, str]]:
    """Every figure of the run into ``folder`` as PNG (and SVG with ``svg``), with index.md."""
    return export(preset, net, trace, folder, svg=svg, dpi=dpi, title=title)
