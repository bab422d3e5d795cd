"""The ``backproplab`` command.

A mistake on the command line gets one line that names the problem and how to fix it, and
exit code 2; a traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import codecs
import io
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rich.console import Console

from backproplab import __version__
from backproplab.cli import lesson as web_commands
from backproplab.cli.commands import COMMANDS, UsageError, output_cut
from backproplab.spec.presets import PRESETS
from backproplab.util import interrupts

FORMATS = ("text", "md", "latex", "html", "json")
PLOT_KINDS = ("loss-curve", "predictions", "residuals", "fit-series", "final-fit", "loss-history", "contour", "network",
              "decision-boundary", "animation")


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def number_arg(kind: type, ok: Callable[[float], bool], rule: str) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` for which ``ok`` holds, else a one-line reason."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    return parse


positive_float = number_arg(float, lambda v: v > 0, "a positive number")
non_negative_float = number_arg(float, lambda v: v >= 0, "zero or a positive number")
positive_int = number_arg(int, lambda v: v >= 1, "1 or more")
step_arg = number_arg(int, lambda v: v >= 0, "0 or more")
digits_arg = number_arg(int, lambda v: 0 <= v <= 12, "between 0 and 12")
dpi_arg = number_arg(int, lambda v: 20 <= v <= 1200, "between 20 and 1200")


def folder_arg(text: str) -> str:
    """A folder name for --data-dir: an empty one (an unset variable) is not the working folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a folder such as --data-dir ./data (an unset variable?)")
    return text


def span_arg(text: str) -> tuple[float, float]:
    """LO,HI for --span: two finite numbers, low before high."""
    try:
        lo, hi = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as -1,4") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise argparse.ArgumentTypeError(f"must be LO,HI with LO below HI, got {text}")
    return lo, hi


def add_iteration_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--iteration K`` (1-based: iteration 1 is the starting values), with ``--step`` as an alias."""
    p.add_argument("--iteration", "--step", dest="iteration", type=positive_int, default=1, metavar="K",
                   help=f"{what} at iteration K of the run, counted as the demo prints them (1, the default, is the "
                   "starting values); --step K means the same")


def index_arg(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) - 1 for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers such as 1,2") from None


def add_safety_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory-limit", type=positive_float, default=None, metavar="GB",
                   help="the memory a run may need, in GB (default: a quarter of the available memory); "
                   "a spec that needs more is refused before anything is built")
    p.add_argument("--data-dir", action="append", default=None, metavar="DIR", type=folder_arg,
                   help="also let the spec read data files from DIR (by default only from the spec's own "
                   "folder); repeat for more")


def add_training_options(p: argparse.ArgumentParser) -> None:
    add_safety_options(p)
    p.add_argument("--optimize", metavar="NAMES", default=None,
                   help="parameters to train: one name (b3), a comma list (w3,w4,b3) or 'all' (default: as the "
                   "example says; b3 for statquest)")
    p.add_argument("--lr", type=positive_float, default=None, metavar="RATE",
                   help="learning rate: step size = gradient × rate (default: as the example says; 0.1 for statquest)")
    p.add_argument("--max-steps", type=positive_int, default=None, metavar="N",
                   help="stop after N steps (default: as the example says; 1000 for statquest)")
    p.add_argument("--min-step", type=non_negative_float, default=None, metavar="SIZE",
                   help="stop once every |step size| is below SIZE (default: as the example says; 0.0001)")
    p.add_argument("--quiet", action="store_true", help="no progress lines or notes on stderr")


def add_display_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                   help="decimals shown (default: 2); values are always computed exactly")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format for explanations: text (default), md, latex, html or json")
    p.add_argument("--factors", choices=("rounded", "exact"), default="rounded",
                   help="rounded (default): every number with --digits, and a note where the rounded numbers on "
                   "a line do not give its result; exact: each number a line works on with enough digits for "
                   "its arithmetic to hold, the results as before, no notes")
    p.add_argument("--form", choices=("auto", "paths", "delta"), default="auto",
                   help="paths: every chain-rule path, sample by sample; delta: layer by layer with "
                   "δ = dL/dnode; auto (default): paths when they are few")


def add_run_outputs(p: argparse.ArgumentParser) -> None:
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the whole run as one JSON object instead")
    output.add_argument("--explain", nargs="?", const="all", default=None, metavar="PARAM",
                        help="work out every shown iteration by the chain rule, with the numbers put in "
                        "(all optimized parameters, or just PARAM)")
    add_display_options(p)
    p.add_argument("--every", type=positive_int, default=None, metavar="K",
                   help="show every K-th iteration (default: all of a short run, the first and last few of a long one)")
    p.add_argument("--plot", metavar="DIR", default=None,
                   help="also write the figures (loss curve, predictions, loss per iteration, contour, network, "
                   "computation graph) into DIR as PNG")
    p.add_argument("--svg", action="store_true", help="with --plot, write SVG copies too")
    p.add_argument("--dpi", type=dpi_arg, default=120, metavar="N", help="with --plot, PNG resolution (default: 120)")
    p.add_argument("--save", metavar="FILE", default=None, help="also write the run (the trace) to FILE as JSON")
    p.add_argument("--force", action="store_true",
                   help="with --save, overwrite FILE even if it is not a saved trace")
    p.add_argument("--keep-every", type=positive_int, default=None, metavar="K",
                   help="record every K-th iteration and the last (default: all of a run up to 10,000 steps, "
                   "evenly thinned to at most 10,000 beyond, so memory stays flat)")


def add_torch_model_options(p: argparse.ArgumentParser) -> None:
    """Options for explaining a PyTorch model built by FILE.py:FUNCTION."""
    p.add_argument("--data", default=None, metavar="FILE.csv",
                   help="for FILE.py:FUNCTION: the data, a CSV file with a header row; the inputs, then the target "
                   "in the last column. With a PyTorch model, --index counts from 0, as PyTorch does (1,0)")
    p.add_argument("--loss", default=None, choices=("mse", "l1", "huber", "bce", "bce_with_logits", "cross_entropy",
                                                    "nll"),
                   help="for FILE.py:FUNCTION: the loss, PyTorch's with its default mean (default: mse)")


SOURCE_HELP = f"a built-in example ({', '.join(PRESETS)}) or the path of a .toml spec file"


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
        epilog="Examples: backproplab demo statquest; backproplab demo statquest --optimize all --explain",
    )
    demo.add_argument("source", choices=list(PRESETS), metavar="PRESET", help=f"the example: {', '.join(PRESETS)}")
    add_training_options(demo)
    add_run_outputs(demo)
    demo.add_argument("--compare", action="store_true",
                      help="statquest only: after the run, each number the article prints next to the exact value, "
                      "and why they differ")

    run = sub.add_parser(
        "run", help="train as a spec file says (your own network and data)",
        description="Train as a spec file says and report it as demo does. Make a spec file with "
        "'backproplab new FILE.toml --from PRESET'.",
        epilog="Example: backproplab run mynet.toml --set optimizer.lr=0.05 --set optimize=all",
    )
    run.add_argument("source", metavar="FILE", help="the .toml spec file")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                     help="change one setting, such as optimizer.lr=0.05 or optimize=all (keys are under "
                     "[training] unless they start with network., data. …); repeat for more")
    add_training_options(run)
    add_run_outputs(run)

    explain = sub.add_parser(
        "explain", help="work out one gradient by the chain rule, with the numbers put in",
        description="Work out d(loss)/d(parameter) by the chain rule from the recorded graph: the chain-rule "
        "form, each factor's local derivative, the numbers sample by sample, and the gradient-descent step.",
        epilog="Example: backproplab explain statquest --param w1 --iteration 3 --optimize all",
    )
    explain.add_argument("source", metavar="SOURCE", help=SOURCE_HELP + "; or FILE.py:FUNCTION, a function in your "
                         "own Python file that returns a PyTorch model (this runs your file, as python would)")
    explain.add_argument("--param", default=None, metavar="NAME", help="the parameter to explain, such as b3 or w1")
    explain.add_argument("--node", default=None, metavar="NAME",
                         help="instead of a parameter, a node inside the network (h1, z1, yhat): d(loss)/d(node) "
                         "for each sample")
    add_iteration_option(explain, "explain the gradient")
    explain.add_argument("--index", type=index_arg, default=None, metavar="I,J",
                         help="for a matrix parameter, the entry to explain, counted from 1 (such as 1,2)")
    add_training_options(explain)
    add_display_options(explain)
    add_torch_model_options(explain)

    forward = sub.add_parser(
        "forward", help="the forward pass as a table: every node per sample, the residuals and the loss",
        description="The forward pass, sample by sample: x, each named node (z1, h1, …, ŷ), the residual and "
        "its square, and the loss that sums them; each column headed by its formula.",
        epilog="Example: backproplab forward statquest --format md",
    )
    forward.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    add_iteration_option(forward, "show the forward pass")
    add_training_options(forward)
    add_display_options(forward)

    plot = sub.add_parser(
        "plot", help="draw one figure of a worked example",
        description="Draw one figure: the data with the residuals, the loss against a parameter (pink, with its "
        "lowest point, the tangent and every step), the predictions before and after a step (green), one curve per "
        "iteration, the final fit, the loss per iteration, a contour map over two parameters, the network, the "
        "decision boundary, or an animation of the descent. 'export-figures' writes them all.",
        epilog="Example: backproplab plot statquest loss-curve --param b3 -o ssr_b3.png",
    )
    plot.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
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
    plot.add_argument("--dpi", type=dpi_arg, default=120, metavar="N", help="PNG resolution (default: 120)")
    add_training_options(plot)

    graph = sub.add_parser(
        "graph", help="draw the computation graph with every value and gradient",
        description="Write the computation graph of the loss: each node with its name, op, value and gradient. "
        "DOT text always; SVG, PNG or PDF where Graphviz's dot program is installed.",
        epilog="Example: backproplab graph statquest -o graph.svg",
    )
    graph.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    graph.add_argument("-o", "--output", required=True, metavar="FILE", help="graph.dot, graph.svg, graph.png …")
    graph.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                       help="LR: inputs on the left, the loss on the right (default, as micrograd draws); TB: top to "
                       "bottom")
    graph.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                       help="decimals shown (default: 2, as the terminal shows them); values are computed exactly")
    add_iteration_option(graph, "draw the graph")
    add_training_options(graph)

    export = sub.add_parser(
        "export-figures", help="write every figure of a worked example, with an index",
        description="Write every figure of a worked example into DIR as PNG and SVG, with file names that say "
        "what each figure is, an animation of the descent, the computation graph, and index.md listing each file "
        "and what it shows.",
        epilog="Example: backproplab export-figures statquest figures/ --dpi 200",
    )
    export.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    export.add_argument("folder", metavar="DIR", help="the folder to write into (made if missing)")
    export.add_argument("--dpi", type=dpi_arg, default=150, metavar="N", help="PNG resolution (default: 150)")
    export.add_argument("--no-svg", dest="svg", action="store_false", help="PNG only")
    export.add_argument("--no-animation", dest="animate", action="store_false", help="leave out the GIF")
    add_training_options(export)

    export_torch = sub.add_parser(
        "export-torch", help="write a network as a PyTorch module: a state_dict and a Python file defining it",
        description="Write the network of a built-in example or spec file for PyTorch: FILE.pt holds the state_dict "
        "(tensors only, loadable with torch.load(FILE, weights_only=True)) and FILE.py the module's class, "
        "generated from the network's layers or formulas. Needs PyTorch: pip install \"backproplab[torch]\".",
        epilog="Example: backproplab export-torch mynet.toml -o mynet.pt",
    )
    export_torch.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    export_torch.add_argument("-o", "--output", required=True, metavar="FILE.pt", help="the state_dict to write")
    export_torch.add_argument("--force", action="store_true",
                              help="replace FILE.pt and FILE.py even if they are not files export-torch wrote")
    add_training_options(export_torch)

    sub.add_parser("presets", help="list the built-in examples", description="List the built-in examples.")

    new = sub.add_parser(
        "new", help="write an editable spec file from a built-in example",
        description="Write a spec file (TOML, with comments) to edit: the network, starting values, data and "
        "training of a built-in example.",
        epilog="Example: backproplab new mynet.toml --from statquest",
    )
    new.add_argument("file", metavar="FILE", help="the spec file to write, ending in .toml")
    new.add_argument("--from", dest="source", default="statquest", metavar="PRESET",
                     help=f"the example to start from (default: statquest): {', '.join(PRESETS)}")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    web_commands.add_parsers(sub, add_training_options, SOURCE_HELP)
    commands = {id(p): p for p in sub.choices.values()}.values()  # an alias names the same parser
    for command in commands:  # --debug also after the command: backproplab demo statquest --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show a full traceback on errors")
    return parser


def utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the locale, so a minus sign, a middle dot or a Greek
    letter in the output never stops a command on a terminal set to cp1252 or ASCII."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def cannot_show(command: str, exc: UnicodeEncodeError) -> int:
    """One line for output the stream cannot encode: the fault is the stream's, not the command line's."""
    char = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else "?"
    sys.stderr.write(f"backproplab {command}: error: the output cannot be written as {exc.encoding} (it holds "
                     f"{char!a}); set PYTHONIOENCODING=utf-8 and run it again\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a mistake on the command line is one line and exit code 2, never a traceback."""
    utf8_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    console = Console(highlight=False, soft_wrap=True)
    interrupts.started()
    try:
        with np.errstate(all="ignore"):  # a value that is not finite is said in words where it matters, not warned of
            return {**COMMANDS, **web_commands.COMMANDS}[args.command](args, console)
    except UnicodeEncodeError as exc:
        if args.debug:
            raise
        return cannot_show(args.command, exc)
    except (UsageError, ValueError, KeyError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if exc.args else str(exc)
        sys.stderr.write(f"backproplab {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        sys.stderr.write(f"backproplab {args.command}: interrupted (no file is left half-written)\n")
        return 130
    except BrokenPipeError:
        if args.debug:
            raise
        return output_cut(args.command, "the program reading it closed the pipe", 141)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

