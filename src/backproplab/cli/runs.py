"""``demo`` and ``run``: train a preset or a spec file and report every step (text, JSON or worked out)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError, labelled, load_job, output_cut, train, wrote

# alike on purpose: the command families import the shared option groups, so their import lists look alike
from backproplab.cli.fastjson import fast_dumps
from backproplab.cli.options import (
    PRESET_NAMES,
    add_command,
    add_display_options,
    add_training_options,
    dpi_arg,
    positive_int,
)
from backproplab.util import files, interrupts

if TYPE_CHECKING:
    from rich.console import Console

    from backproplab.spec.job import Job
    from backproplab.train.trace import Trace
from backproplab.util.messages import InputError


def add_parsers(sub: Any) -> None:
    """``demo PRESET`` and ``run FILE`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    demo = add_command(
        sub, "demo", "run a built-in worked example and print every gradient-descent step",
        "Run a built-in worked example: for each iteration, the samples table, the gradient, "
        "the step size (gradient × learning rate) and the new value; then where the run ended.",
        "Examples: backproplab demo statquest; backproplab demo statquest --optimize all --explain", source=None,
    )
    demo.add_argument("source", choices=list(PRESET_NAMES), metavar="PRESET",
                      help=f"the example: {', '.join(PRESET_NAMES)}")
    add_training_options(demo)
    add_run_outputs(demo)
    demo.add_argument("--compare", action="store_true",
                      help="statquest only: after the run, each number the article prints next to the exact value, "
                      "and why they differ")

    run = add_command(
        sub, "run", "train as a spec file says (your own network and data)",
        "Train as a spec file says and report it as demo does. Make a spec file with "
        "'backproplab new FILE.toml --from PRESET'.",
        "Example: backproplab run mynet.toml --set optimizer.lr=0.05 --set optimize=all", source=None,
    )
    run.add_argument("source", metavar="FILE", help="the .toml spec file")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                     help="change one setting, such as optimizer.lr=0.05 or optimize=all (keys are under "
                     "[training] unless they start with network., data. …); repeat for more")
    add_training_options(run)
    add_run_outputs(run)


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


def _save(trace: Trace, args: argparse.Namespace) -> None:
    """Write the trace to --save FILE, iteration by iteration (replacing only a saved trace unless --force).

    The trace goes to a temporary file that replaces FILE only once it is complete, so Ctrl-C or a
    full disk midway leaves an earlier FILE as it was.
    """
    force = bool(getattr(args, "force", False))
    dumps = fast_dumps()  # chosen before the file is opened: nothing is imported while it is half-written
    with files.open_for_writing(args.save, force=force, ours=files.is_trace, example="trace.json") as f:
        trace.write_json(f, indent=1, dumps=dumps)
        f.write("\n")
    sys.stderr.write(f"wrote {args.save}\n")


def _print_json(trace: Trace, args: argparse.Namespace) -> int:
    """The trace as one JSON object on stdout: 0, or 130 if Ctrl-C cut it (141 for a closed pipe)."""
    try:
        trace.write_json(sys.stdout, dumps=fast_dumps())
        sys.stdout.write("\n")
        sys.stdout.flush()
    except KeyboardInterrupt:
        return output_cut(args.command, "Ctrl-C while the JSON was printed", 130)
    except BrokenPipeError:
        return output_cut(args.command, "the program reading the JSON closed the pipe", 141)
    return 0


def _interrupted(trace: Trace, args: argparse.Namespace) -> int:
    """Ctrl-C: keep what was done (--save first, with Ctrl-C held off; then --json), say so, exit code 130."""
    kept = ""
    steps = trace.final.steps if trace.final is not None else len(trace.iterations)
    if getattr(args, "save", None):
        with interrupts.ignored():  # a second Ctrl-C must not cut the save of the steps done
            _save(trace, args)
        kept = f"; the {steps} step(s) done so far were written to {args.save}"
    if getattr(args, "json", False):
        code = _print_json(trace, args)
        if code:
            return code
        kept = kept or "; the steps done so far were printed as JSON"
    sys.stderr.write(f"backproplab {args.command}: interrupted after {steps} step(s){kept}\n")
    return 130


def _figures_failed(exc: Exception, args: argparse.Namespace) -> int:
    """A figure that cannot be drawn or written costs the figures only: one line, exit code 2, the run kept."""
    text = " ".join(str(exc.args[0] if exc.args else exc).split())
    why = text if isinstance(exc, files.WriteError) else f"a figure could not be drawn: {text[:300]}"
    kept = f" (the run itself was written to {args.save})" if getattr(args, "save", None) else ""
    sys.stderr.write(f"backproplab {args.command}: error: {why}{kept}\n")
    return 2


def _plot(job: Job, trace: Trace, args: argparse.Namespace) -> int:
    """--plot DIR: every figure of the run; 0, or 2 after one line if a figure failed."""
    from backproplab.plots import figures  # matplotlib: only for commands that draw

    job = labelled(job, args)
    try:
        for path, said in figures.write_all(job.preset, job.net, trace, Path(args.plot), svg=args.svg, dpi=args.dpi,
                                            title=job.title):
            wrote(args, path, said)
    except InputError as exc:  # a figure this run cannot give, a file that cannot be written; a bug goes on to main
        if getattr(args, "debug", False):
            raise
        return _figures_failed(exc, args)
    return 0


def finish(trace: Trace, args: argparse.Namespace) -> int:
    """Save the trace if asked, and report a run that diverged (exit code 1)."""
    if getattr(args, "save", None):
        _save(trace, args)
    return _diverged(trace, args)


def _diverged(trace: Trace, args: argparse.Namespace) -> int:
    """A run that diverged: one line saying so, exit code 1 (else 0)."""
    if trace.final is not None and trace.final.stopped_by == "diverged":
        sys.stderr.write(f"backproplab {args.command}: the run diverged: {trace.final.message} "
                         "The steps up to there were kept: --json prints them, --save FILE writes them.\n")
        return 1
    return 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """demo PRESET and run FILE: train, then report as text, JSON or a worked narrative; figures too."""
    # the engine and the explainer: imported here, for start-up speed (the parser and --help need neither)
    from backproplab.explain.article import article_table_text
    from backproplab.explain.forward import output_name
    from backproplab.explain.run import explain_run
    from backproplab.train.loop import Interrupted

    job = load_job(args)
    if getattr(args, "compare", False) and (args.source != "statquest" or args.json):
        raise UsageError("--compare puts the article's numbers beside the dosage example's: use it with "
                         "'demo statquest', without --json")
    if args.save:
        files.check(args.save, force=args.force, ours=files.is_trace, example="trace.json")  # before the work
    try:
        trace = train(job, args)
    except Interrupted as stop:
        return _interrupted(stop.trace, args)
    if args.save:  # first: a figure or a cut pipe later must not cost the finished run
        _save(trace, args)
    if args.json:
        code = _print_json(trace, args)
        if code:
            return code
    elif args.explain:
        which = None if args.explain == "all" else [args.explain]
        if which and which[0] not in trace.optimize:
            raise UsageError(f"--explain {which[0]}: it is not optimized in this run (optimized: "
                             f"{', '.join(trace.optimize)}); add --optimize {which[0]}")
        story = explain_run(trace, job.net, digits=args.digits, every=args.every, form=args.form, title=job.title,
                            params=which)
        sys.stdout.write(story.render(args.format, factors=args.factors))
    else:
        from backproplab.explain.terminal import render_run  # rich tables: only for the text report

        render_run(trace, console, digits=args.digits, every=args.every, title=job.title,
                   output=output_name(job.net, job.x))
    if getattr(args, "compare", False):
        sys.stdout.write("\n" + article_table_text() + "\n")
    plotted = _plot(job, trace, args) if args.plot else 0
    return _diverged(trace, args) or plotted


COMMANDS = {"demo": cmd_run, "run": cmd_run}
