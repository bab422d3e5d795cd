"""What each ``backproplab`` command does, once its arguments are parsed (``cli`` parses them).

Every command works on a *job*: a built-in preset or a spec file, with the command line's
settings applied on top, turned into a network, data and an optimizer.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backproplab.engine.tensor import Tensor
from backproplab.explain import explain, forward_table
from backproplab.explain.article import article_table_text
from backproplab.explain.document import Block
from backproplab.explain.dot import to_dot, write_graph
from backproplab.explain.forward import output_name
from backproplab.explain.node import explain_node, graph_nodes
from backproplab.explain.run import explain_run
from backproplab.explain.steps import adam_moments, method_name
from backproplab.explain.terminal import render_run
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.plots import figures
from backproplab.plots.curves import untrained_note
from backproplab.spec.job import Job
from backproplab.spec.presets import PRESETS, Preset
from backproplab.spec.spec import Spec, read
from backproplab.train.loop import Interrupted
from backproplab.train.trace import Trace
from backproplab.util import files, interrupts
from backproplab.util.limits import MemoryLimitError, allowing
from backproplab.util.messages import unknown_name_message

PROGRESS_FROM = 200  # show a progress bar for runs allowed this many steps or more
PROGRESS_SECONDS = 5.0  # without a terminal, a progress line this often
KEEP_AT_MOST = 10_000  # a longer run keeps every k-th iteration by default, so memory stays flat


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


def training_overrides(args: argparse.Namespace, net: Module | None) -> list[str]:
    """The command line's training options as spec settings (``optimizer.lr=0.05`` …)."""
    items = list(getattr(args, "set", None) or [])
    if getattr(args, "optimize", None) and net is not None:
        names = choose_parameters(net, args.optimize)
        items.append("optimize=" + json.dumps(names))
    if getattr(args, "lr", None) is not None:
        items.append(f"optimizer.lr={args.lr!r}")
    if getattr(args, "max_steps", None) is not None:
        items.append(f"max_steps={args.max_steps}")
    if getattr(args, "min_step", None) is not None:
        items.append(f"min_step={args.min_step!r}")
    return items


def choose_parameters(net: Module, value: str) -> list[str]:
    """The parameter names in an --optimize value, checked against the network."""
    names = [n for n, _ in net.named_parameters()]
    if value.strip() == "all":
        return names
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    if not chosen:
        raise UsageError("--optimize needs at least one parameter name, or 'all'")
    for name in chosen:
        if name not in names:
            raise UsageError(unknown_name_message("parameter", name, names) + " in --optimize")
    return list(dict.fromkeys(chosen))


def _safety(args: argparse.Namespace) -> dict[str, Any]:
    """--data-dir and --memory-limit as ``spec.read`` takes them."""
    gb = getattr(args, "memory_limit", None)
    return {"data_dirs": getattr(args, "data_dir", None), "memory_limit": None if gb is None else int(gb * 1024**3)}


def check_explain_name(job: Job, name: str | None) -> Job:
    """--explain PARAM names a parameter of the network (checked before training)."""
    names = [n for n, _ in job.net.named_parameters()]
    if name not in (None, "all") and name not in names:
        raise UsageError(unknown_name_message("parameter", name, names) + " in --explain")
    return job


def names_a_file(source: str) -> bool:
    """Whether SOURCE is meant as a spec file: a .toml name, or a path that exists (a name too
    long for the system exists nowhere)."""
    try:
        return source.endswith(".toml") or Path(source).exists()
    except (OSError, ValueError):
        return False


def read_before_optimize(source: str, args: argparse.Namespace) -> tuple[Spec, list[str]]:
    """The spec file read and checked with every command-line setting but --optimize's names, which
    need the network (--optimize counts as 'all' until then); also the overrides it was read with."""
    plain = argparse.Namespace(**{**vars(args), "optimize": None})
    first = training_overrides(plain, None) + (["optimize=all"] if getattr(args, "optimize", None) else [])
    return read(source, first, **_safety(args)), first


def load_job(source: str, args: argparse.Namespace) -> Job:
    """A preset by name, or a spec file by path, with the command line's settings."""
    if source in PRESETS:
        preset = PRESETS[source]
        with allowing(_safety(args)["memory_limit"]):
            spec = preset.spec(tuple(training_overrides(args, preset.build()[0])))
            net, (x, y) = preset.build(spec)
        return check_explain_name(Job(f"{preset.name}: {spec.description}", spec, net, x, y, preset),
                                  getattr(args, "explain", None))
    if names_a_file(source):
        safety = _safety(args)
        base, first = read_before_optimize(source, args)
        built = base.build()
        overrides = training_overrides(args, built[0])
        spec = read(source, overrides, **safety) if overrides != first else base  # read and build once if unchanged
        net, (x, y) = spec.build() if spec is not base else built
        for warning in spec.warnings:
            sys.stderr.write(f"backproplab {args.command}: warning: {warning}\n")
        title = f"{spec.name}: {spec.description}" if spec.description else spec.name
        return check_explain_name(Job(title, spec, net, x, y, plain_labels(figures.hints_for_spec(spec))),
                                  getattr(args, "explain", None))
    raise UsageError(unknown_name_message("preset", source, PRESETS) + ", or give the path of a .toml spec file")


def plain_labels(preset: Preset) -> Preset:
    """The figure labels taken from a spec (CSV column names) as plain text: a ``$`` in a column name is a
    dollar sign, not the start of a formula that matplotlib would try, and fail, to typeset."""
    return dataclasses.replace(preset, x_label=preset.x_label.replace("$", r"\$"),
                               y_label=preset.y_label.replace("$", r"\$"))


def keep_every_for(args: argparse.Namespace, max_steps: int) -> int:
    """--keep-every as given, else every iteration of a run up to KEEP_AT_MOST steps and evenly thinned beyond."""
    given = getattr(args, "keep_every", None)
    return int(given) if given else max(1, math.ceil(max_steps / KEEP_AT_MOST))


def train(job: Job, args: argparse.Namespace, max_steps: int | None = None, keep_every: int | None = None) -> Trace:
    """Run the job's optimizer; the network ends at its final values.

    Ctrl-C raises ``loop.Interrupted`` with the steps done so far. On a terminal a progress
    bar shows a long run; elsewhere a line goes to stderr every few seconds (not with --quiet).
    """
    opt, _ = job.spec.optimizer(job.net)
    if max_steps is not None:
        opt.max_steps = max_steps
    keep = keep_every or keep_every_for(args, opt.max_steps)
    if keep > 1 and keep_every is None and not getattr(args, "quiet", False):
        sys.stderr.write(f"note: a run of up to {opt.max_steps} steps keeps every {keep}th iteration and the last "
                         f"(at most {KEEP_AT_MOST}); --keep-every 1 keeps them all\n")
    def fit(**options: Any) -> Trace:
        """The run, with the loop's warnings (an unused parameter …) as one 'note:' line each."""
        with warnings.catch_warnings(record=True) as caught, allowing(_safety(args)["memory_limit"]):
            warnings.simplefilter("always", UserWarning)
            try:
                return opt.fit(job.net, job.x, job.y, loss=job.loss, keep_every=keep, **options)
            except MemoryLimitError as exc:  # in the command line's words
                raise UsageError(exc.say("--keep-every K", "--max-steps N", "--memory-limit GB") if keep_every is None
                                 else exc.say_iteration("--memory-limit GB")) from None
            finally:
                for message in dict.fromkeys(str(w.message) for w in caught):
                    sys.stderr.write(f"note: {message}\n")

    err = Console(stderr=True)
    if opt.max_steps < PROGRESS_FROM or getattr(args, "quiet", False):
        return fit()
    if err.is_terminal and not getattr(args, "json", False):
        columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("steps", total=opt.max_steps)
            return fit(callback=lambda it: progress.advance(task))
    if err.is_terminal:
        return fit()
    return fit(callback=progress_lines(opt.max_steps))


def progress_lines(total: int, every: float = PROGRESS_SECONDS) -> Callable[[Any], None]:
    """A fit callback that writes 'training: step N of M' to stderr every few seconds (for logs and pipes)."""
    start = last = time.monotonic()

    def report(it: Any) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            last = now
            sys.stderr.write(f"training: step {it.step + 1} of at most {total} ({now - start:.0f} s)\n")
            sys.stderr.flush()

    return report


def _at_iteration(job: Job, args: argparse.Namespace, k: int, end: bool = False) -> Trace | None:
    """Train up to iteration ``k`` (1-based, as the demo prints them) and put the network there.

    With ``end``, ``k`` may also be one past the last step: the state after the last step, which
    the loss chart draws as its last point.
    """
    if k == 1:
        return None
    opt, _ = job.spec.optimizer(job.net)
    trace = train(job, args, max_steps=min(k, opt.max_steps), keep_every=1)  # every step, for Adam's moments
    done = len(trace.iterations)
    if end and k == done + 1 and trace.final is not None:
        job.net.load_state_dict(trace.final.params)
        return trace
    if done < k:
        how = "converged" if trace.final.converged else "stopped"
        last = done + 1 if end else done
        raise UsageError(f"--iteration {k}: the run {how} after {done} iteration(s); choose --iteration from 1 "
                         f"to {last}" + (f" ({last} is the state after the last step)" if end else ""))
    job.net.load_state_dict(trace.iterations[k - 1].params)
    return trace


def iteration_title(name: str, k: int, trace: Trace | None) -> str:
    """'statquest, iteration 13 (after the last step)' for the end of a run, else 'statquest, iteration k'."""
    after = trace is not None and trace.final is not None and k == len(trace.iterations) + 1
    return f"{name}, iteration {k}" + (" (after the last step)" if after else "")


def _save(trace: Trace, args: argparse.Namespace) -> None:
    """Write the trace to --save FILE, iteration by iteration (replacing only a saved trace unless --force).

    The trace goes to a temporary file that replaces FILE only once it is complete, so Ctrl-C or a
    full disk midway leaves an earlier FILE as it was.
    """
    force = bool(getattr(args, "force", False))
    with files.open_for_writing(args.save, force=force, ours=files.is_trace, example="trace.json") as f:
        trace.write_json(f, indent=1)
        f.write("\n")
    sys.stderr.write(f"wrote {args.save}\n")


def output_cut(command: str, why: str, code: int) -> int:
    """stdout was cut short (Ctrl-C, a closed pipe): say so on stderr in one line, and end with ``code``.

    What is still buffered for stdout is dropped, so Python's own flush at exit adds no traceback.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    sys.stderr.write(f"backproplab {command}: output cut: {why}; what was printed is incomplete\n")
    return code


def _print_json(trace: Trace, args: argparse.Namespace) -> int:
    """The trace as one JSON object on stdout: 0, or 130 if Ctrl-C cut it (141 for a closed pipe)."""
    try:
        trace.write_json(sys.stdout)
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
    if getattr(args, "save", None):
        with interrupts.ignored():  # a second Ctrl-C must not cut the save of the steps done
            _save(trace, args)
        kept = f"; the {trace.final.steps} step(s) done so far were written to {args.save}"
    if getattr(args, "json", False):
        code = _print_json(trace, args)
        if code:
            return code
        kept = kept or "; the steps done so far were printed as JSON"
    sys.stderr.write(f"backproplab {args.command}: interrupted after {trace.final.steps} step(s){kept}\n")
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
    try:
        for path, note in figures.write_all(job.preset, job.net, trace, Path(args.plot), svg=args.svg, dpi=args.dpi,
                                            title=job.title):
            sys.stderr.write(f"wrote {path}\n" + (f"note: {note}\n" if note else ""))
    except (ValueError, RuntimeError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        return _figures_failed(exc, args)
    return 0


def _finish(trace: Trace, args: argparse.Namespace) -> int:
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
    job = load_job(args.source, args)
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
        render_run(trace, console, digits=args.digits, every=args.every, title=job.title,
                   output=output_name(job.net, job.x))
    if getattr(args, "compare", False):
        sys.stdout.write("\n" + article_table_text() + "\n")
    plotted = _plot(job, trace, args) if args.plot else 0
    return _diverged(trace, args) or plotted


def cmd_explain_node(job: Job, args: argparse.Namespace) -> int:
    """explain --node NAME: d(loss)/d(node) for each sample, at the chosen iteration."""
    _at_iteration(job, args, args.iteration)
    loss = get_loss(job.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))
    nodes = graph_nodes(loss)
    if args.node not in nodes:
        raise UsageError(unknown_name_message("node", args.node, [n for n in nodes if n.isascii()]) + " in --node")
    exp = explain_node(loss, nodes[args.node], digits=args.digits, form=args.form)
    exp.blocks.insert(1, Block("para", [f"{job.spec.name}, iteration {args.iteration}"]))
    exp.details["iteration"] = args.iteration
    sys.stdout.write(exp.render(args.format, factors=args.factors))
    return 0


def _recorded_step(trace: Trace, name: str, k: int, index: tuple[int, ...] | None) -> dict[str, Any]:
    """The step the run took from iteration ``k`` for one entry of ``name`` (Adam's with its m̂ and v̂)."""
    def entry(value: Any) -> float | None:
        arr = np.asarray(value, dtype=float)
        if index is not None and arr.ndim == len(index):
            return float(arr[index])
        return float(arr.reshape(-1)[0]) if arr.size == 1 else None

    its = trace.iterations[:k]
    grads = [entry(it.gradients[name]) for it in its]
    steps = [entry(it.step_sizes[name]) for it in its]
    if not steps or steps[-1] is None:
        return {}
    moments = adam_moments(grads, steps, trace.learning_rate)[-1] if trace.optimizer == "adam" else None
    return {"lr": trace.learning_rate, "step_rule": trace.optimizer, "step": steps[-1], "moments": moments}


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    from backproplab.cli.bridge import cmd_explain_model, is_model_source

    if is_model_source(args.source):  # a PyTorch model built by a function in the user's own file
        return cmd_explain_model(args)
    if getattr(args, "data", None) or getattr(args, "loss", None):
        raise UsageError("--data and --loss are for a PyTorch model (FILE.py:FUNCTION); a spec names its own data "
                         "and loss")
    job = load_job(args.source, args)
    if (args.param is None) == (args.node is None):
        raise UsageError("say what to explain: --param NAME (a parameter, such as w1) or --node NAME (a node "
                         "such as h1), one of the two")
    if args.node is not None:
        return cmd_explain_node(job, args)
    names = [n for n, _ in job.net.named_parameters()]
    if args.param not in names:
        raise UsageError(unknown_name_message("parameter", args.param, names) + " in --param")
    _, optimized = job.spec.optimizer(job.net)
    shape = job.net.parameter(args.param).shape
    if args.index is not None and (len(args.index) != len(shape) or
                                   any(not 0 <= i < n for i, n in zip(args.index, shape))):
        given = ",".join(str(i + 1) for i in args.index)
        raise UsageError(f"--index {given} does not fit {args.param}, which has shape {shape}; entries count from 1"
                         + (f", so choose up to {','.join(map(str, shape))}" if shape else " (it is a single number)"))
    trace = _at_iteration(job, args, args.iteration)
    opt_spec = job.spec.training["optimizer"]
    plain_gd = opt_spec["name"] == "gradient_descent"
    lr = opt_spec["lr"] if args.param in optimized and plain_gd else None
    other_step: dict[str, Any] = {}
    if args.param in optimized and not plain_gd:  # Adam's or SGD's step, as the run took it
        if trace is None:
            trace = train(job, args, max_steps=1)
            job.net.load_state_dict(trace.iterations[0].params)
        other_step = _recorded_step(trace, args.param, args.iteration, args.index)
    loss = get_loss(job.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))
    exp = explain(loss, job.net.parameter(args.param), digits=args.digits, form=args.form, index=args.index,
                  **({"lr": lr} | other_step))
    lead = (f"{job.spec.name}, iteration {args.iteration} ({method_name(opt_spec['name'])}, learning rate "
            f"{opt_spec['lr']:g}, optimizing {', '.join(optimized)})")
    exp.blocks.insert(1, Block("para", [lead]))
    exp.details["iteration"] = args.iteration
    sys.stdout.write(exp.render(args.format, factors=args.factors))
    return 0


def cmd_forward(args: argparse.Namespace, console: Console) -> int:
    """The forward pass as a table, sample by sample, at the chosen iteration."""
    job = load_job(args.source, args)
    trace = _at_iteration(job, args, args.iteration, end=True)
    table = forward_table(job.net, job.x, job.y, job.loss, digits=args.digits,
                          title=iteration_title(job.spec.name, args.iteration, trace))
    table.details["iteration"] = args.iteration
    sys.stdout.write(table.render(args.format))
    return 0


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    job = load_job(args.source, args)
    trace = train(job, args)
    out = figures.output_path(args.output)
    if args.kind == "animation":
        param = figures.pick_param(job.net, trace, args.param)
        frames = figures.animation(job.preset, job.net, trace, param, out)
        sys.stderr.write(f"wrote {out} ({frames} frames)\n")
        return 0
    fig = figures.one(job.preset, job.net, trace, args.kind, param=args.param, params=args.params,
                      iteration=args.iteration, log=args.log, span=args.span, steps=args.steps, tangent=args.tangent)
    if args.kind == "loss-curve" and args.steps and args.param and args.param not in trace.optimize:
        sys.stderr.write(f"note: {untrained_note(args.param)} (add --optimize {args.param} for them)\n")
    figures.save(fig, out, args.dpi)
    sys.stderr.write(f"wrote {out}\n")
    return 0


def cmd_export_figures(args: argparse.Namespace, console: Console) -> int:
    """Every figure of a worked example, PNG and SVG, with index.md."""
    job = load_job(args.source, args)
    trace = train(job, args)
    for path, note in figures.export(job.preset, job.net, trace, Path(args.folder), svg=args.svg, dpi=args.dpi,
                                     animate=args.animate, title=job.title):
        sys.stderr.write(f"wrote {path}\n" + (f"note: {note}\n" if note else ""))
    return _finish(trace, args)


def cmd_graph(args: argparse.Namespace, console: Console) -> int:
    job = load_job(args.source, args)
    _at_iteration(job, args, args.iteration, end=True)
    loss = get_loss(job.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))
    path, note = write_graph(to_dot(loss, digits=args.digits, rankdir=args.rankdir), figures.output_path(args.output))
    sys.stderr.write(f"wrote {path}\n" + (f"note: {note}\n" if note else ""))
    return 0


def cmd_presets(args: argparse.Namespace, console: Console) -> int:
    table = Table(show_edge=False, header_style="bold")
    table.add_column("preset")
    table.add_column("what it shows")
    for name, preset in PRESETS.items():
        table.add_row(name, preset.summary)
    console.print(table)
    console.print("Run one with 'backproplab demo NAME'; copy one to edit with "
                  "'backproplab new FILE.toml --from NAME'.")
    return 0


def cmd_new(args: argparse.Namespace, console: Console) -> int:
    """Write an editable spec file: a preset's own file, comments and all."""
    if args.source not in PRESETS:
        raise UsageError(unknown_name_message("preset", args.source, PRESETS) + " in --from")
    path = Path(args.file)
    if path.suffix != ".toml":
        raise UsageError(f"{args.file}: a spec file name ends in .toml, such as mynet.toml")
    if path.exists() and not args.force:
        raise UsageError(f"{args.file} already exists; choose another name, or add --force to overwrite it")
    files.write_text(path, PRESETS[args.source].text)
    sys.stderr.write(f"wrote {path}; edit it, then run 'backproplab run {path}'\n")
    return 0


def cmd_export_torch(args: argparse.Namespace, console: Console) -> int:
    """The network of a preset or spec file as a PyTorch state_dict and a module file beside it."""
    from backproplab.cli.bridge import cmd_export_torch as export

    pt, py = export(load_job(args.source, args), args.output, force=getattr(args, "force", False))
    console.print(f"wrote {pt} (the state_dict: load it with torch.load(..., weights_only=True)) and {py} "
                  "(the module that uses it)", markup=False)
    return 0


COMMANDS: dict[str, Any] = {"demo": cmd_run, "run": cmd_run, "explain": cmd_explain, "forward": cmd_forward,
                            "plot": cmd_plot,
                            "graph": cmd_graph, "presets": cmd_presets, "new": cmd_new,
                            "export-figures": cmd_export_figures}
COMMANDS["export-torch"] = cmd_export_torch
