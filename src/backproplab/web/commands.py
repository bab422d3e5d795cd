"""The ``serve`` and ``export`` commands, registered by ``cli``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from backproplab.presets import PRESETS
from backproplab.spec import SpecError
from backproplab.web.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def settings_for(source: str, args: argparse.Namespace) -> Settings:
    """A preset, or a spec file read here (with its CSV file, if it names one) as text."""
    optimize = getattr(args, "optimize", None)
    if optimize is not None:
        optimize = "all" if optimize.strip() == "all" else [s.strip() for s in optimize.split(",") if s.strip()]
    common: dict[str, Any] = {"lr": args.lr, "optimize": optimize, "max_steps": args.max_steps,
                              "min_step": args.min_step}
    if source in PRESETS:
        return Settings(preset=source, **common)
    path = Path(source)
    if not (source.endswith(".toml") or path.exists()):
        from backproplab.nn import unknown_name_message

        raise ValueError(unknown_name_message("preset", source, PRESETS) + ", or give the path of a .toml spec file")
    if not path.is_file():
        raise SpecError(source, "no such file; create one with 'backproplab new FILE.toml --from statquest'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise SpecError(source, "cannot be read as a text file; a spec is a TOML text file") from None
    csv_text = None
    try:
        data = tomllib.loads(text).get("data", {})
    except tomllib.TOMLDecodeError:
        data = {}
    if isinstance(data, dict) and isinstance(data.get("csv"), str):
        file = path.parent / data["csv"]
        try:
            csv_text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise SpecError(source, f"data.csv: cannot read {file}; paths are relative to the spec file") from None
    return Settings(preset=None, spec_text=text, csv_text=csv_text, **common)


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from backproplab.web import lesson
    from backproplab.web.server import serve

    settings = settings_for(args.source, args)
    lesson.build(settings)  # a mistake in the source is reported here, in one line, before serving
    serve(settings, host=args.host, port=args.port, open_browser=not args.no_browser,
          say=lambda line: sys.stderr.write(line + "\n"))
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from backproplab.web.export import export

    settings = settings_for(args.source, args)
    html = export(settings)
    path = Path(args.output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot write {args.output}: {exc.strerror}") from None
    sys.stderr.write(f"wrote {path} ({len(html.encode('utf-8')) / 1e6:.1f} MB); open it in a browser, no server "
                     "needed\n")
    return 0


def add_parsers(sub: Any, add_training_options: Callable[[argparse.ArgumentParser], None], source_help: str) -> None:
    """The two commands' arguments (``sub`` is the CLI's subparsers)."""
    serve = sub.add_parser(
        "serve", help="open the interactive lesson in a browser: step through, click any weight, change anything",
        description="Serve the interactive lesson page on this computer: the network, the loss curve, the "
        "predictions, every gradient worked out, recomputed as you change the settings.",
        epilog="Examples: backproplab serve; backproplab serve moons --port 8765 --no-browser",
    )
    serve.add_argument("source", nargs="?", default="statquest", metavar="SOURCE",
                       help=source_help + " (default: statquest)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1, this computer only)")
    serve.add_argument("--port", type=int, default=8000, help="the port (default: 8000; 0 picks a free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    add_training_options(serve)

    export = sub.add_parser(
        "export", help="write the interactive lesson as one HTML file that works offline",
        description="Write the lesson (the run, every worked gradient that fits, the figures' data, the page and "
        "its fonts) into ONE HTML file that opens from disk with no server and no network.",
        epilog="Example: backproplab export statquest -o lesson.html",
    )
    export.add_argument("source", metavar="SOURCE", help=source_help)
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    add_training_options(export)


COMMANDS = {"serve": cmd_serve, "export": cmd_export}
