"""The ``backproplab`` command.

A mistake on the command line gets one line that names the problem and how to fix it, and
exit code 2; a traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from backproplab import __version__, figures
from backproplab.explain import explain
from backproplab.explain.document import Block
from backproplab.explain.run import explain_run
from backproplab.graph import to_dot, write_graph
from backproplab.losses import get_loss
from backproplab.nn import Module, unknown_name_message
from backproplab.optim import GradientDescent
from backproplab.presets import PRESETS, get_preset
from backproplab.report import render_run
from backproplab.tensor import Tensor
from backproplab.trace import Trace

FORMATS = ("text", "md", "latex", "html", "json")
PLOT_KINDS = ("loss-curve", "predictions", "loss-history", "contour", "network", "animation")
PROGRESS_FROM = 200  # show a progress bar for runs allowed this many steps or more


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive number, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def step_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def index_arg(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) - 1 for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers such as 1,2") from None


def digits_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 12:
        raise argparse.ArgumentTypeError(f"must be between 0 and 12, got {text}")
    return value


def add_training_options(p: argparse.ArgumentParser, preset_default: str = "the preset's") -> None:
    p.add_argument("--optimize", metavar="NAMES", default=None,
                   help="parameters to train: one name (b3), a comma list (w3,w4,b3) or 'all' "
                   f"(default: {preset_default})")
    p.add_argument("--lr", type=positive_float, default=None, metavar="RATE",
                   help="learning rate: step size = gradient × rate (default: the preset's, 0.1 for statquest)")
    p.add_argument("--max-steps", type=positive_int, default=1000, metavar="N",
                   help="stop after N steps (default: 1000)")
    p.add_argument("--min-step", type=non_negative_float, default=1e-4, metavar="SIZE",
                   help="stop once every |step size| is below SIZE (default: 0.0001)")


def build_parser() -> Parser:
    parser = Parser(
        prog="backproplab",
        description="Backpropagation, worked out: an autograd engine that shows every gradient "
        "step by step, the way a teacher works it by hand.",
        epilog="Start with:  backproplab demo statquest",
    )
    parser.add_argument("--version", action="version", version=f"backproplab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    demo = sub.add_parser(
        "demo", help="run a built-in worked example and print every gradient-descent step",
        description="Run a built-in worked example: for each iteration, the samples table, the gradient, "
        "the step size (gradient × learning rate) and the new value; then where the run ended.",
    )
    demo.add_argument("preset", choices=sorted(PRESETS), metavar="PRESET",
                      help=f"the example to run: {', '.join(sorted(PRESETS))}")
    add_training_options(demo)
    output = demo.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the whole run as one JSON object instead")
    output.add_argument("--explain", action="store_true",
                        help="work out every shown iteration by the chain rule, with the numbers put in")
    add_display_options(demo)
    demo.add_argument("--plot", metavar="DIR", default=None,
                      help="also write the figures (loss curve, predictions, loss per iteration, contour, network, "
                      "computation graph) into DIR as PNG")
    demo.add_argument("--svg", action="store_true", help="with --plot, write SVG copies too")
    demo.add_argument("--every", type=positive_int, default=None, metavar="K",
                      help="show every K-th iteration "
                      "(default: all of a short run, the first and last few of a long one)")

    explain = sub.add_parser(
        "explain", help="work out one gradient by the chain rule, with the numbers put in",
        description="Work out d(loss)/d(parameter) by the chain rule from the recorded graph: the chain-rule "
        "form, each factor's local derivative, the numbers sample by sample, and the gradient-descent step.",
        epilog="Example: backproplab explain statquest --param w1 --step 3 --optimize all",
    )
    explain.add_argument("preset", choices=sorted(PRESETS), metavar="PRESET",
                         help=f"the example: {', '.join(sorted(PRESETS))}")
    explain.add_argument("--param", required=True, metavar="NAME", help="the parameter to explain, such as b3 or w1")
    explain.add_argument("--step", type=step_arg, default=0, metavar="N",
                         help="explain iteration N of the run (0, the default, is the starting values)")
    explain.add_argument("--index", type=index_arg, default=None, metavar="I,J",
                         help="for a matrix parameter, the entry to explain, counted from 1 (such as 1,2)")
    add_training_options(explain)
    add_display_options(explain)

    plot = sub.add_parser(
        "plot", help="draw one figure of a worked example",
        description="Draw one figure: the loss against a parameter (pink, with the tangent and every step), the "
        "predictions before and after a step (green), the loss per iteration, a contour map over two parameters, "
        "the network, or an animation of the descent.",
        epilog="Example: backproplab plot statquest loss-curve --param b3 -o ssr_b3.png",
    )
    plot.add_argument("preset", choices=sorted(PRESETS), metavar="PRESET", help=f"the example: {', '.join(PRESETS)}")
    plot.add_argument("kind", choices=PLOT_KINDS, metavar="KIND", help=f"the figure: {', '.join(PLOT_KINDS)}")
    plot.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="where to write it (.png, .svg or .pdf; .gif or .mp4 for an animation)")
    plot.add_argument("--param", default=None, metavar="NAME",
                      help="the parameter for loss-curve and animation (default: the first one optimized)")
    plot.add_argument("--params", default=None, metavar="A,B",
                      help="the two parameters of a contour map (default: the first two optimized, or w3,b3)")
    plot.add_argument("--step", type=step_arg, default=0, metavar="N",
                      help="for predictions: show iteration N before and after its step (default: 0)")
    plot.add_argument("--log", action="store_true", help="for loss-history: a log-scale loss axis")
    add_training_options(plot)

    graph = sub.add_parser(
        "graph", help="draw the computation graph with every value and gradient",
        description="Write the computation graph of the loss: each node with its name, op, value and gradient. "
        "DOT text always; SVG, PNG or PDF where Graphviz's dot program is installed.",
        epilog="Example: backproplab graph statquest -o graph.svg",
    )
    graph.add_argument("preset", choices=sorted(PRESETS), metavar="PRESET", help=f"the example: {', '.join(PRESETS)}")
    graph.add_argument("-o", "--output", required=True, metavar="FILE", help="graph.dot, graph.svg, graph.png …")
    graph.add_argument("--step", type=step_arg, default=0, metavar="N",
                       help="draw the graph at iteration N of the run (default: 0, the starting values)")
    add_training_options(graph)
    return parser


def add_display_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                   help="decimals shown (default: 2); values are always computed exactly")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format for explanations: text (default), md, latex, html or json")
    p.add_argument("--form", choices=("auto", "paths", "delta"), default="auto",
                   help="paths: every chain-rule path, sample by sample; delta: layer by layer with "
                   "δ = dL/dnode; auto (default): paths when they are few")


def choose_parameters(net: Module, spec: str) -> list[str]:
    """The parameter names in an --optimize value, checked against the network."""
    names = [n for n, _ in net.named_parameters()]
    if spec.strip() == "all":
        return names
    chosen = [s.strip() for s in spec.split(",") if s.strip()]
    if not chosen:
        raise UsageError("--optimize needs at least one parameter name, or 'all'")
    for name in chosen:
        if name not in names:
            raise UsageError(unknown_name_message("parameter", name, names) + " in --optimize")
    return list(dict.fromkeys(chosen))


def train_preset(args: argparse.Namespace, max_steps: int | None = None) -> tuple[Trace, Module]:
    """Build the preset and run gradient descent as the options say; the net ends at the final values."""
    preset = get_preset(args.preset)
    net, (x, y) = preset.build()
    names = choose_parameters(net, args.optimize or preset.optimize)
    lr = args.lr if args.lr is not None else preset.lr
    max_steps = args.max_steps if max_steps is None else max_steps
    opt = GradientDescent(net.parameters(only=names), lr=lr, min_step=args.min_step, max_steps=max_steps)
    err = Console(stderr=True)
    if max_steps >= PROGRESS_FROM and err.is_terminal and not getattr(args, "json", False):
        columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("steps", total=max_steps)
            return opt.fit(net, x, y, loss=preset.loss, callback=lambda it: progress.advance(task)), net
    return opt.fit(net, x, y, loss=preset.loss), net


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    trace, net = train_preset(args)
    preset = get_preset(args.preset)
    title = f"{preset.name}: {preset.summary}"
    if args.json:
        sys.stdout.write(trace.to_json() + "\n")
    elif args.explain:
        story = explain_run(trace, net, digits=args.digits, every=args.every, form=args.form, title=title)
        sys.stdout.write(story.render(args.format))
    else:
        render_run(trace, console, digits=args.digits, every=args.every, title=title)
    if args.plot:
        written = figures.write_all(preset, net, trace, Path(args.plot), svg=args.svg)
        for path, note in written:
            sys.stderr.write(f"wrote {path}\n" + (f"note: {note}\n" if note else ""))
    return 0


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    preset = get_preset(args.preset)
    trace, net = train_preset(args)
    out = figures.output_path(args.output)
    if args.kind == "animation":
        param = figures.pick_param(net, trace, args.param)
        frames = figures.animation(preset, net, trace, param, out)
        sys.stderr.write(f"wrote {out} ({frames} frames)\n")
        return 0
    fig = figures.one(preset, net, trace, args.kind, param=args.param, params=args.params, step=args.step,
                      log=args.log)
    figures.save(fig, out)
    sys.stderr.write(f"wrote {out}\n")
    return 0


def cmd_graph(args: argparse.Namespace, console: Console) -> int:
    preset = get_preset(args.preset)
    net, (x, y) = preset.build()
    if args.step > 0:
        trace, net = train_preset(args, max_steps=args.step + 1)
        if len(trace.iterations) <= args.step:
            done = len(trace.iterations)
            raise UsageError(f"the run converged after {done} iteration(s); choose --step from 0 to {done - 1}")
        net.load_state_dict(trace.iterations[args.step].params)
    loss = get_loss(preset.loss)(net(Tensor(x, name="x")), Tensor(y, name="y"))
    path, note = write_graph(to_dot(loss), figures.output_path(args.output))
    sys.stderr.write(f"wrote {path}\n" + (f"note: {note}\n" if note else ""))
    return 0


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    preset = get_preset(args.preset)
    net, (x, y) = preset.build()
    names = [n for n, _ in net.named_parameters()]
    if args.param not in names:
        raise UsageError(unknown_name_message("parameter", args.param, names) + " in --param")
    optimized = choose_parameters(net, args.optimize or preset.optimize)
    lr = args.lr if args.lr is not None else preset.lr
    if args.step > 0:
        opt = GradientDescent(net.parameters(only=optimized), lr=lr, min_step=args.min_step, max_steps=args.step + 1)
        trace = opt.fit(net, x, y, loss=preset.loss)
        if len(trace.iterations) <= args.step:
            done = len(trace.iterations)
            raise UsageError(f"the run converged after {done} iteration(s); choose --step from 0 to {done - 1}")
        net.load_state_dict(trace.iterations[args.step].params)
    param = net.parameter(args.param)
    loss = get_loss(preset.loss)(net(Tensor(x, name="x")), Tensor(y, name="y"))
    step_lr = lr if args.param in optimized else None
    exp = explain(loss, param, digits=args.digits, form=args.form, lr=step_lr, index=args.index)
    lead = f"{preset.name}, iteration {args.step + 1} (learning rate {lr:g}, optimizing {', '.join(optimized)})"
    exp.blocks.insert(1, Block("para", [lead]))
    sys.stdout.write(exp.render(args.format))
    return 0


COMMANDS = {"demo": cmd_demo, "explain": cmd_explain, "plot": cmd_plot, "graph": cmd_graph}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    console = Console(highlight=False, soft_wrap=True)
    try:
        return COMMANDS[args.command](args, console)
    except (UsageError, ValueError, KeyError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if exc.args else str(exc)
        sys.stderr.write(f"backproplab {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

