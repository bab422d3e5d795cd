"""The figures of a worked example, by name, for the command line: which plot, which
parameters, and where the files go. The drawing itself is in ``plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from backproplab import output, plots
from backproplab.graph import to_dot, write_graph
from backproplab.losses import get_loss
from backproplab.nn import Module, unknown_name_message
from backproplab.presets import Preset
from backproplab.tensor import Tensor
from backproplab.trace import Trace

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def output_path(text: str) -> Path:
    """The output file, with its folder made; a ValueError (``output.WriteError``) if it cannot be written."""
    return output.check(text, example="figure.png")


def save(fig: Figure, path: Path) -> None:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"unknown image type '{path.suffix}' for {path} (use .png, .svg or .pdf)")
    with output.open_for_writing(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lower().lstrip("."), dpi=120)


def _scalar_names(net: Module, names: list[str]) -> list[str]:
    return [n for n in names if net.parameter(n).data.size == 1]


def pick_param(net: Module, trace: Trace, name: str | None) -> str:
    names = [n for n, _ in net.named_parameters()]
    if name is None:
        scalars = _scalar_names(net, trace.optimize)
        if not scalars:
            raise ValueError("no single-number parameter is optimized; choose one with --param")
        return scalars[0]
    if name not in names:
        raise ValueError(unknown_name_message("parameter", name, names) + " in --param")
    if name not in trace.optimize:
        raise ValueError(f"{name} is not optimized in this run, so it has no descent path; add --optimize {name}")
    return name


def pick_pair(preset: Preset, net: Module, trace: Trace, spec: str | None) -> tuple[str, str]:
    """The two parameters of a contour map: as asked, else the first two optimized, else the preset's."""
    names = [n for n, _ in net.named_parameters()]
    if spec:
        pair = [s.strip() for s in spec.split(",") if s.strip()]
        if len(pair) != 2:
            raise ValueError(f"--params takes two names such as w3,b3, got {spec!r}")
        if pair[0] == pair[1]:
            raise ValueError(f"--params names {pair[0][:30]!r} twice; a contour map needs two different "
                             "parameters, such as w3,b3")
        for name in pair:
            if name not in names:
                raise ValueError(unknown_name_message("parameter", name, names) + " in --params")
        return pair[0], pair[1]
    scalars = _scalar_names(net, trace.optimize)
    if len(scalars) >= 2:
        return scalars[0], scalars[1]
    if preset.contour:
        return preset.contour
    raise ValueError("a contour map needs two single-number parameters; choose them with --params A,B")


def _start(net: Module, trace: Trace) -> None:
    """Put the network back at the run's starting values (plots draw from there)."""
    if trace.iterations:
        net.load_state_dict(trace.iterations[0].params)


def one(preset: Preset, net: Module, trace: Trace, kind: str, *, param: str | None = None,
        params: str | None = None, step: int = 0, log: bool = False) -> Figure:
    """One figure of the run by name."""
    x, y = np.asarray(trace.inputs), np.asarray(trace.targets)
    _start(net, trace)
    if kind == "loss-curve":
        return plots.loss_curve(net, x, y, pick_param(net, trace, param), loss=trace.loss, trace=trace)
    if kind == "predictions":
        return plots.predictions(net, x, y, trace=trace, step=step, x_label=preset.x_label, y_label=preset.y_label)
    if kind == "loss-history":
        return plots.loss_history(trace, log=log)
    if kind == "contour":
        pair = pick_pair(preset, net, trace, params)
        return plots.loss_contour(net, x, y, pair, loss=trace.loss, trace=trace)
    if kind == "network":
        net.load_state_dict(trace.final.params)
        return plots.network_diagram(net)
    if kind == "decision-boundary":
        if x.ndim != 2 or x.shape[1] != 2 or y.ndim != 1:
            raise ValueError("a decision boundary needs class labels and two inputs per sample "
                             "(moons, circles, xor, spiral)")
        net.load_state_dict(trace.final.params)
        return plots.decision_boundary(net, x, y)
    raise ValueError(f"unknown figure {kind!r}")


def animation(preset: Preset, net: Module, trace: Trace, param: str, path: Path) -> int:
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"an animation is written as .gif or .mp4, not '{path.suffix}'")
    path = output.check(path, example="descent.gif")
    _start(net, trace)
    existed = path.exists()
    try:
        return plots.animate_descent(net, trace.inputs, trace.targets, trace, param, str(path), loss=trace.loss)
    except OSError as exc:
        if not existed and path.is_file():
            path.unlink()
        raise output.WriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_all(preset: Preset, net: Module, trace: Trace, folder: Path, svg: bool = False) -> list[tuple[Path, str]]:
    """Every figure of the run into ``folder``; returns (file, note) for each file written."""
    folder = output_path(str(folder / "x")).parent
    written: list[tuple[Path, str]] = []
    jobs: list[tuple[str, dict]] = [(f"loss-curve-{p}", {"kind": "loss-curve", "param": p})
                                    for p in _scalar_names(net, trace.optimize)[:4]]
    x, y = np.asarray(trace.inputs), np.asarray(trace.targets)
    one_input = (x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)) and y.size == len(x)
    labels = x.ndim == 2 and x.shape[1] == 2 and y.ndim == 1 and trace.loss in ("bce", "cross_entropy")
    if one_input:
        jobs.append(("predictions", {"kind": "predictions"}))
    elif labels:
        jobs.append(("decision-boundary", {"kind": "decision-boundary"}))
    jobs.append(("loss-history", {"kind": "loss-history", "log": True}))
    if getattr(net, "layer_weights", None) and net.layer_weights():
        jobs.append(("network", {"kind": "network"}))
    if len(_scalar_names(net, trace.optimize)) >= 2 or preset.contour:
        jobs.append(("contour", {"kind": "contour"}))
    if not np.all(np.isfinite(trace.losses())):
        jobs = [job for job in jobs if job[0] == "loss-history"]  # a diverged run: only its history is drawable
    for stem, options in jobs:
        fig = one(preset, net, trace, **options)
        for suffix in (".png", ".svg") if svg else (".png",):
            save(fig, folder / f"{stem}{suffix}")
            written.append((folder / f"{stem}{suffix}", ""))
    _start(net, trace)
    x, y = trace.inputs, trace.targets
    loss = get_loss(trace.loss)(net(Tensor(x, name="x")), Tensor(y, name="y"))
    written.append(write_graph(to_dot(loss), folder / ("graph.svg" if svg else "graph.dot")))
    net.load_state_dict(trace.final.params)
    return written
