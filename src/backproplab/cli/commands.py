"""What every ``backproplab`` command shares: the job its flags describe, training it, and cutting output short.

Every command works on a *job*: a built-in preset or a spec file, with the command line's
settings applied on top, turned into a network, data and an optimizer (``spec.job``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from backproplab.cli.options import PRESET_NAMES
from backproplab.util.limits import MemoryLimitError, allowing
from backproplab.util.messages import InputError

if TYPE_CHECKING:
    from backproplab.spec.job import Job, JobSettings
    from backproplab.spec.presets import Preset
    from backproplab.train.trace import Trace

PROGRESS_FROM = 200  # show a progress bar for runs allowed this many steps or more
PROGRESS_SECONDS = 5.0  # without a terminal, a progress line this often
KEEP_AT_MOST = 10_000  # a longer run keeps every k-th iteration by default, so memory stays flat


class UsageError(InputError):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


def console_for(args: argparse.Namespace, stderr: bool = False) -> Console:
    """A rich console as --color asks: auto colours a terminal unless NO_COLOR is set, always colours a pipe
    too, never writes no escape code at all."""
    color = getattr(args, "color", "auto")
    if color == "never" or (color == "auto" and os.environ.get("NO_COLOR")):
        return Console(stderr=stderr, highlight=False, soft_wrap=True, color_system=None)
    if color == "always":
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, force_terminal=True, no_color=False)
        if console.color_system is None:  # TERM=dumb: the plain colours every terminal knows
            console = Console(stderr=stderr, highlight=False, soft_wrap=True, force_terminal=True, no_color=False,
                              color_system="standard")
        return console
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def note(args: argparse.Namespace, line: str) -> None:
    """A line on stderr that helps but is not the command's output (a note, a hint): left out with --quiet."""
    if not getattr(args, "quiet", False):
        sys.stderr.write(line + "\n")


def wrote(args: argparse.Namespace, path: Path | str, said: str | None = None) -> None:
    """'wrote FILE' on stderr (the output of a command that writes files), and its note unless --quiet."""
    sys.stderr.write(f"wrote {path}\n")
    if said:
        note(args, f"note: {said}")


def job_settings(args: argparse.Namespace) -> JobSettings:
    """The flags a spec takes (--set, --lr, --optimize …), read once from the parsed command line."""
    from backproplab.spec.job import JobSettings  # the engine and numpy: imported here, for start-up speed

    optimize = getattr(args, "optimize", None) or None
    if optimize is not None:
        optimize = "all" if optimize.strip() == "all" else tuple(s.strip() for s in optimize.split(",") if s.strip())
    gb = getattr(args, "memory_limit", None)
    data_dirs = getattr(args, "data_dir", None)
    return JobSettings(lr=getattr(args, "lr", None), optimize=optimize, max_steps=getattr(args, "max_steps", None),
                       min_step=getattr(args, "min_step", None), overrides=tuple(getattr(args, "set", None) or ()),
                       data_dirs=None if data_dirs is None else tuple(data_dirs),
                       memory_limit=None if gb is None else int(gb * 1024**3), explain=getattr(args, "explain", None))


def load_job(args: argparse.Namespace) -> Job:
    """A preset by name, or a spec file by path (SOURCE), with the command line's settings; a spec
    file's warnings go to stderr."""
    from backproplab.spec import job as jobs  # the engine and numpy: imported here, for start-up speed

    job = jobs.load_job(args.source, job_settings(args))
    if args.source not in PRESET_NAMES:
        for warning in job.spec.warnings:
            note(args, f"backproplab {args.command}: warning: {warning}")
    return job


def labelled(job: Job, args: argparse.Namespace) -> Job:
    """The job ready to draw: a spec file's figures labelled with its own column names (a preset's
    carry their labels already). Called by the commands that draw, so the others never load matplotlib."""
    if args.source in PRESET_NAMES:
        return job
    from backproplab.plots import figures  # matplotlib: only for commands that draw

    return dataclasses.replace(job, preset=plain_labels(figures.hints_for_spec(job.spec)))


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
    if keep > 1 and keep_every is None:
        note(args, f"note: a run of up to {opt.max_steps} steps keeps every {keep}th iteration and the last "
             f"(at most {KEEP_AT_MOST}); --keep-every 1 keeps them all")
    def fit(**options: Any) -> Trace:
        """The run, with the loop's warnings (an unused parameter …) as one 'note:' line each."""
        with warnings.catch_warnings(record=True) as caught, allowing(job.spec.memory_limit):
            warnings.simplefilter("always", UserWarning)
            try:
                return opt.fit(job.net, job.x, job.y, loss=job.loss, keep_every=keep, **options)
            except MemoryLimitError as exc:  # in the command line's words
                raise UsageError(exc.say("--keep-every K", "--max-steps N", "--memory-limit GB") if keep_every is None
                                 else exc.say_iteration("--memory-limit GB")) from None
            finally:
                for message in dict.fromkeys(str(w.message) for w in caught):
                    note(args, f"note: {message}")

    err = console_for(args, stderr=True)
    if opt.max_steps < PROGRESS_FROM or getattr(args, "quiet", False):
        return fit()
    if err.is_terminal and not getattr(args, "json", False):
        # rich.progress: only for a long run on a terminal
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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


def at_iteration(job: Job, args: argparse.Namespace, k: int, end: bool = False) -> Trace | None:
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
        how = "converged" if trace.final is not None and trace.final.converged else "stopped"
        last = done + 1 if end else done
        raise UsageError(f"--iteration {k}: the run {how} after {done} iteration(s); choose --iteration from 1 "
                         f"to {last}" + (f" ({last} is the state after the last step)" if end else ""))
    job.net.load_state_dict(trace.iterations[k - 1].params)
    return trace


def iteration_title(name: str, k: int, trace: Trace | None) -> str:
    """'statquest, iteration 13 (after the last step)' for the end of a run, else 'statquest, iteration k'."""
    after = trace is not None and trace.final is not None and k == len(trace.iterations) + 1
    return f"{name}, iteration {k}" + (" (after the last step)" if after else "")


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


def said_as_bug(command: str, argv: Sequence[str], exc: Exception) -> int:
    """An error that is no mistake in the input is a bug in backproplab: one line that says so, with the command
    line to run again with --debug for the traceback, and exit code 1 (2 is for mistakes in the input)."""
    text = " ".join(str(exc).split())
    what = f"{type(exc).__name__}: {text[:200]}{'…' if len(text) > 200 else ''}" if text else type(exc).__name__
    again = shlex.join(["backproplab", *argv, "--debug"])
    again = again if len(again) <= 200 else "the same command with --debug"
    sys.stderr.write(f"backproplab {command}: a bug in backproplab stopped it ({what}); run {again} to see "
                     "the traceback, and please report it\n")
    return 1
