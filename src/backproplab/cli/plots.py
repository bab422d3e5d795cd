"""``plot``, ``graph`` and ``export-figures``: the figures of a worked example, one or all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError, at_iteration, job_settings, labelled, load_job, note, train, wrote
from backproplab.cli.options import (
    add_command,
    add_iteration_option,
    add_training_options,
    digits_arg,
    dpi_arg,
    positive_int,
    span_arg,
)
from backproplab.cli.runs import finish
from backproplab.util import files

if TYPE_CHECKING:
    from rich.console import Console

    from backproplab.spec.job import Job
    from backproplab.train.trace import Trace

PLOT_KINDS = ("loss-curve", "predictions", "residuals", "fit-series", "final-fit", "loss-history", "contour", "network",
              "decision-boundary", "animation")


def add_parsers(sub: Any) -> None:
    """``plot``, ``graph`` and ``export-figures`` (``sub`` is the command line's subparsers)."""
    add_plot_parser(sub)
    add_graph_parser(sub)
    add_export_parser(sub)


def add_plot_parser(sub: Any) -> None:
    """``plot SOURCE KIND -o FILE``: one figure."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    plot = add_command(
        sub, "plot", "draw one figure of a worked example",
        "Draw one figure: the data with the residuals, the loss against a parameter (pink, with its "
        "lowest point, the tangent and every step), the predictions before and after a step (green), one curve per "
        "iteration, the final fit, the loss per iteration, a contour map over two parameters, the network, the "
        "decision boundary, or an animation of the descent. 'export-figures' writes them all.",
        "Example: backproplab plot statquest loss-curve --param b3 -o ssr_b3.png",
    )
    plot.add_argument("kind", choices=PLOT_KINDS, metavar="KIND", help=f"the figure: {', '.join(PLOT_KINDS)}")
    plot.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="where to write it (.png, .svg or .pdf; .gif or .mp4 for an animation)")
    plot.add_argument("--param", default=None, metavar="NAME",
                      help="the parameter for loss-curve and animation (default: the first one optimized)")
    plot.add_argument("--params", default=None, metavar="A,B",
                      help="the two parameters of a contour map (default: the first two optimized, or w3,b3)")
    plot.add_argument("--iteration", "--step", dest="iteration", type=positive_int, default=None, metavar="K",
                      help="the iteration shown, counted as the demo prints them (iteration 1 is the starting "
                      "values; --step K means the same): predictions before and after its step, the loss curve's "
                      "slice and tangent (default: 1), the contour's slice and the network's values (default: "
                      "the end of the run)")
    plot.add_argument("--log", action="store_true", help="for loss-history: a log-scale loss axis")
    plot.add_argument("--span", type=span_arg, default=None, metavar="LO,HI",
                      help="for loss-curve: the range of the parameter (default: the path and the lowest point); "
                      "with a negative LO write it with '=', as --span=-1,4")
    plot.add_argument("--no-steps", dest="steps", action="store_false", help="for loss-curve: leave out the steps")
    plot.add_argument("--no-tangent", dest="tangent", action="store_false",
                      help="for loss-curve: leave out the tangent")
    plot.add_argument("--compare", nargs="+", default=None, metavar="RUN",
                      help="for loss-curve: draw up to 4 runs on one curve, each its own colour; a run is settings "
                      "on top of the others given, written as the lesson page's runs are: lr=0.34, "
                      "start.b3=5, optimizer=adam, or several in one quoted word ('lr=0.3 start.b3=5')")
    plot.add_argument("--dpi", type=dpi_arg, default=120, metavar="N", help="PNG resolution (default: 120)")
    add_training_options(plot)


def add_graph_parser(sub: Any) -> None:
    """``graph SOURCE -o FILE``: the computation graph."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    graph = add_command(
        sub, "graph", "draw the computation graph with every value and gradient",
        "Write the computation graph of the loss: each node with its name, op, value and gradient. "
        "DOT text always; SVG, PNG or PDF where Graphviz's dot program is installed.",
        "Example: backproplab graph statquest -o graph.svg",
    )
    graph.add_argument("-o", "--output", required=True, metavar="FILE", help="graph.dot, graph.svg, graph.png …")
    graph.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                       help="LR: inputs on the left, the loss on the right (default, as micrograd draws); TB: top to "
                       "bottom")
    graph.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                       help="decimals shown (default: 2, as the terminal shows them); values are computed exactly")
    add_iteration_option(graph, "draw the graph")
    add_training_options(graph)


def add_export_parser(sub: Any) -> None:
    """``export-figures SOURCE DIR``: every figure, with an index."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    export = add_command(
        sub, "export-figures", "write every figure of a worked example, with an index",
        "Write every figure of a worked example into DIR as PNG and SVG, with file names that say "
        "what each figure is, an animation of the descent, the computation graph, and index.md listing each file "
        "and what it shows.",
        "Example: backproplab export-figures statquest figures/ --dpi 200",
    )
    export.add_argument("folder", metavar="DIR", help="the folder to write into (made if missing)")
    export.add_argument("--dpi", type=dpi_arg, default=150, metavar="N", help="PNG resolution (default: 150)")
    export.add_argument("--no-svg", dest="svg", action="store_false", help="PNG only")
    export.add_argument("--no-animation", dest="animate", action="store_false", help="leave out the GIF")
    add_training_options(export)


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from backproplab.plots import figures  # matplotlib: only for commands that draw
    from backproplab.plots.curves import untrained_note

    out = figures.output_path(args.output)
    if args.compare:
        return _plot_compared(args, out)
    job = labelled(load_job(args), args)
    trace = train(job, args)
    if args.kind == "animation":
        param = figures.pick_param(job.net, trace, args.param)
        frames = figures.animation(job.preset, job.net, trace, param, out)
        sys.stderr.write(f"wrote {out} ({frames} frames)\n")
        return 0
    fig = figures.one(job.preset, job.net, trace, args.kind, param=args.param, params=args.params,
                      iteration=args.iteration, log=args.log, span=args.span, steps=args.steps, tangent=args.tangent)
    if args.kind == "loss-curve" and args.steps and args.param and args.param not in trace.optimize:
        note(args, f"note: {untrained_note(args.param)} (add --optimize {args.param} for them)")
    figures.save(fig, out, args.dpi)
    sys.stderr.write(f"wrote {out}\n")
    return 0


def compared_runs(args: argparse.Namespace) -> list[tuple[str, Job, Trace]]:
    """Each ``--compare`` run (its text, its job and its trace): the command line's settings with the run's on top."""
    from backproplab.lesson.runs import parse_runs, run_job_settings  # the runs' language is the lesson page's
    from backproplab.spec import job as jobs

    base = job_settings(args)
    out = []
    for run in parse_runs(args.compare):
        job = labelled(jobs.load_job(args.source, run_job_settings(base, run)), args)
        out.append((run.label, job, train(job, args)))
    return out


def _plot_compared(args: argparse.Namespace, out: Path) -> int:
    """``plot … loss-curve --compare RUN …``: the runs' steps on one loss curve."""
    from backproplab.plots import figures

    if args.kind != "loss-curve":
        raise UsageError(f"--compare draws several runs on one loss curve; use it with loss-curve, not {args.kind}")
    runs = compared_runs(args)
    name, job, trace = runs[0]
    fig = figures.one(job.preset, job.net, trace, "loss-curve", param=args.param, iteration=args.iteration,
                      span=args.span, steps=args.steps, tangent=args.tangent, name=name,
                      compare=[(n, t) for n, _, t in runs[1:]])
    figures.save(fig, out, args.dpi)
    sys.stderr.write(f"wrote {out} ({len(runs)} runs)\n")
    return 0


def cmd_export_figures(args: argparse.Namespace, console: Console) -> int:
    """Every figure of a worked example, PNG and SVG, with index.md."""
    from backproplab.plots import figures  # matplotlib: only for commands that draw

    job = labelled(load_job(args), args)
    trace = train(job, args)
    for path, said in figures.export(job.preset, job.net, trace, Path(args.folder), svg=args.svg, dpi=args.dpi,
                                     animate=args.animate, title=job.title):
        wrote(args, path, said)
    return finish(trace, args)


def cmd_graph(args: argparse.Namespace, console: Console) -> int:
    # the engine: imported here, for start-up speed (the parser and --help need none of it)
    from backproplab.engine.tensor import Tensor
    from backproplab.explain.dot import to_dot, write_graph
    from backproplab.nn.losses import get_loss

    job = load_job(args)
    at_iteration(job, args, args.iteration, end=True)
    loss = get_loss(job.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))
    out = files.check(args.output, example="figure.png")  # as every figure's -o FILE is checked
    wrote(args, *write_graph(to_dot(loss, digits=args.digits, rankdir=args.rankdir), out))
    return 0


COMMANDS = {"plot": cmd_plot, "graph": cmd_graph, "export-figures": cmd_export_figures}
