"""``slides``: the run as 16:9 slides for a class, a PDF or one offline HTML deck (registered by ``teach``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import note
from backproplab.cli.lesson import settings_for
from backproplab.cli.options import SOURCE_HELP, add_command, add_training_options

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(sub: Any) -> None:
    """``slides SOURCE -o FILE`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    p = add_command(
        sub, "slides", "the run as 16:9 slides: network, forward table, loss curve, each iteration in three reveals",
        "Slides of the run, one idea to a slide, in large type: the network, the forward-pass table, the loss "
        "against the trained parameter (pink), then each iteration built up in three reveals: the gradient, the "
        "step size, the new value. A .pdf has one page per reveal (needs backproplab[handout]; without it the "
        "HTML deck is written); a .html deck plays offline: → or Space for the next reveal, ← back, Home, End.",
        "Example: backproplab slides statquest --iterations 1-4 -o part3.pdf", source=None)
    p.add_argument("source", nargs="?", default="statquest", metavar="SOURCE",
                   help=SOURCE_HELP + " (default: statquest)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write: .pdf or .html")
    p.add_argument("--iterations", default="1-3", metavar="K",
                   help="the iterations to step through, counted as the demo prints them: 2, 1-4 or 1,3,5 "
                   "(default: 1-3)")
    p.add_argument("--param", default=None, metavar="NAME",
                   help="the trained parameter whose steps the slides show (default: the first trained one)")
    p.add_argument("--json", action="store_true", help="print the file written as JSON")
    add_training_options(p)


def cmd_slides(args: argparse.Namespace, console: Console) -> int:
    """Write the deck and say where, how large, how many pages and how long it took."""
    from backproplab.lesson import slides  # the deck's makers: imported here, for start-up speed

    output = Path(args.output)
    slides.output_format(output)  # a wrong suffix is refused before the run
    settings = settings_for(args.source, args)
    w, said = slides.make(settings, output, args.iterations, args.param)
    if said:
        sys.stderr.write(said + "\n")
    sys.stderr.write(f"wrote {w.path} ({w.pages} pages, {w.size / 1e3:.0f} kB, {w.seconds:.1f} s)\n")
    if args.json:
        sys.stdout.write(json.dumps({"path": str(w.path), "format": w.fmt, "bytes": w.size, "pages": w.pages},
                                    indent=2) + "\n")
    note(args, "present the HTML deck with → / Space and ← ; the PDF has one page per reveal")
    return 0


COMMANDS = {"slides": cmd_slides}
