"""The ``serve`` and ``export`` commands, registered by ``cli``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError, job_settings, note
from backproplab.cli.options import PRESET_NAMES, SOURCE_HELP, add_command, add_training_options
from backproplab.util import files
from backproplab.util.messages import unknown_name_message

if TYPE_CHECKING:
    from rich.console import Console

    from backproplab.lesson.settings import Settings
    from backproplab.lesson.tour import Tour


def settings_for(source: str, args: argparse.Namespace) -> Settings:
    """A preset, or a spec file and its CSV file (if it names one) as text.

    A spec file is read once, and checked exactly as ``backproplab run`` checks it (``--data-dir``,
    ``--memory-limit`` and the training options included); its CSV text comes from the one checked
    reader, so ``serve`` and ``export`` read no file that ``run`` would refuse."""
    # imported here, for start-up speed: the parser and --help need none of them
    from backproplab.lesson.settings import Settings
    from backproplab.spec.data import read_data_text
    from backproplab.spec.job import names_a_file, read_job

    flags = job_settings(args)
    optimize = flags.optimize if flags.optimize in (None, "all") else list(flags.optimize)
    common: dict[str, Any] = {"lr": flags.lr, "optimize": optimize, "max_steps": flags.max_steps,
                              "min_step": flags.min_step}
    if source in PRESET_NAMES:
        return Settings(preset=source, **common)
    if not names_a_file(source):
        raise UsageError(unknown_name_message("preset", source, PRESET_NAMES)
                         + ", or give the path of a .toml spec file")
    text, job = read_job(source, flags)
    spec = job.spec
    csv_text = None
    if "csv" in spec.data:
        base = spec.path.parent if spec.path else None
        csv_text = read_data_text(spec.data["csv"], base, spec.where, spec.data_dirs)
    return Settings(preset=None, spec_text=text, csv_text=csv_text, **common)


def script_for(source: str, args: argparse.Namespace) -> Tour | None:
    """A lesson script (a .toml file with [[step]] tables) read and checked, or None for a preset or a spec file.
    A script sets its own run, so the training options are refused beside it."""
    from backproplab.lesson.script import is_script
    from backproplab.lesson.tour import lesson_script

    if not is_script(source):
        return None
    flags = job_settings(args)
    if any(v is not None for v in (flags.lr, flags.optimize, flags.max_steps, flags.min_step)) or flags.overrides:
        raise UsageError(f"{source} is a lesson script and sets its own run: put lr, optimize, max_steps or min_step "
                         "in its [settings] table, not on the command line")
    return lesson_script(source)


def say(args: argparse.Namespace, line: str) -> None:
    """The server's lines on stderr; with --quiet only the address it serves at (the command's output)."""
    if line.startswith("serving"):
        sys.stderr.write(line + "\n")
    else:
        note(args, line)


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from backproplab.lesson.runs import check_hide
    from backproplab.lesson.server import bind, create_app, hosts_for, serve  # starlette and uvicorn: for serve only
    from backproplab.lesson.tour import add_tour

    script = script_for(args.source, args)
    settings = script.settings if script else settings_for(args.source, args)
    hide = check_hide(args.hide)
    sock = bind(args.host, args.port)  # a wrong host or a busy port is said at once
    try:
        app = create_app(settings, allowed_hosts=hosts_for(args.host), hide=hide,
                         tour=add_tour(script.script) if script else None)
        app.state.warm()  # the first lesson, built into the app's cache; a mistake in it is one line, before serving
    except BaseException:
        sock.close()
        raise
    serve(settings, host=args.host, port=args.port, open_browser=not args.no_browser,
          say=lambda line: say(args, line), sock=sock, app=app)
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from backproplab.lesson.export import export_html  # the page's files: read for export only
    from backproplab.lesson.runs import check_hide

    script = script_for(args.source, args)
    if script is not None and (args.runs or args.compare):
        raise UsageError(f"{args.source} is a lesson script, a tour of one run; --runs and --compare are "
                         "for a preset or a spec file")
    html = (script.html(hide=check_hide(args.hide)) if script else
            export_html(settings_for(args.source, args), runs=args.runs or (), hide=args.hide,
                        compare=args.compare or ()))
    path = Path(args.output)
    files.write_text(path, html, example="lesson.html")  # replaced only once complete; one line if it cannot be
    runs = f", {len(args.runs)} runs" if args.runs and len(args.runs) > 1 else ""
    hint = "" if args.quiet else "; open it in a browser, no server needed"
    sys.stderr.write(f"wrote {path} ({len(html.encode('utf-8')) / 1e6:.1f} MB{runs}){hint}\n")
    return 0


def port_arg(text: str) -> int:
    """A TCP port for --port: a whole number from 0 (a free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (0 picks a free port), got {text[:20]}")
    return port


def add_hide_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hide", default=None, metavar="NAMES",
                   help="controls to leave out, for a page embedded in another: a comma list of preset, player, "
                   "speed, iteration, lr, optimizer, reset, own, guide, present, min_step, max_steps, optimize, "
                   "start, run (the address's ?hide= does the same)")


def add_parsers(sub: Any) -> None:
    """``serve`` and ``export`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    serve = add_command(
        sub, "serve", "open the interactive lesson in a browser: step through, click any weight, change anything",
        "Serve the interactive lesson page on this computer: the network, the loss curve, the "
        "predictions, every gradient worked out, recomputed as you change the settings.",
        "Examples: backproplab serve; backproplab serve moons --port 8765 --no-browser", source=None,
    )
    serve.add_argument("source", nargs="?", default="statquest", metavar="SOURCE",
                       help=SOURCE_HELP + " (default: statquest)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1, this computer only)")
    serve.add_argument("--port", type=port_arg, default=8000, help="the port (default: 8000; 0 picks a free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    add_hide_option(serve)
    add_training_options(serve)

    export = add_command(
        sub, "export", "write the interactive lesson as one HTML file that works offline",
        "Write the lesson (the run, every worked gradient that fits, the figures' data, the page and "
        "its fonts) into ONE HTML file that opens from disk with no server and no network.",
        "Examples: backproplab export statquest -o lesson.html; "
        "backproplab export statquest --runs lr=0.1 lr=0.3 'lr=0.1 start.b3=5' --hide optimizer -o lesson.html",
    )
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    export.add_argument("--runs", nargs="+", metavar="RUN", default=None,
                        help="several runs in one file, to switch between offline: each the page's settings as "
                        "key=value items, space-separated in one argument (lr=0.3, optimizer=adam, optimize=w3,b3, "
                        "min_step=0.001, max_steps=50, start.b3=5), on top of the other options")
    export.add_argument("--compare", nargs="+", metavar="RUN", default=None,
                        help="up to three runs, written as --runs writes them, that the file opens with drawn "
                        "beside the first run (each held in the file)")
    add_hide_option(export)
    add_training_options(export)


COMMANDS = {"serve": cmd_serve, "export": cmd_export}
