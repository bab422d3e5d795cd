"""``handout``: the run on paper, for a class (a PDF, or HTML, or Markdown; a worksheet and its key)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli import slides
from backproplab.cli.commands import UsageError, note
from backproplab.cli.lesson import settings_for
from backproplab.cli.options import SOURCE_HELP, add_command, add_training_options, digits_arg

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(sub: Any) -> None:
    """``handout SOURCE -o FILE`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    p = add_command(
        sub, "handout", "the run on paper: forward pass, loss curve, each iteration's chain rule and step",
        "A printable handout of the run: Part 1 the network and its forward pass, Part 2 the loss against "
        "one parameter (pink) with its tangent and numbered steps, Part 3 each iteration's chain rule with "
        "the numbers, its step and the new predictions (green), Part 4 the other parameters' gradients. "
        "--worksheet leaves a box wherever an answer goes; --key fills the boxes in.",
        "Example: backproplab handout statquest --iterations 1-3 --params b3,w1 --worksheet --key -o part3.pdf",
        source=None)
    p.add_argument("source", nargs="?", default="statquest", metavar="SOURCE",
                   help=SOURCE_HELP + " (default: statquest)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the file to write: .pdf (needs backproplab[handout]; else HTML is written), .html or .md")
    p.add_argument("--iterations", default="1", metavar="K",
                   help="the iterations to work out, counted as the demo prints them: 2, 1-3 or 1,3,5 (default: 1)")
    p.add_argument("--params", default=None, metavar="NAMES",
                   help="the parameters to work out, such as b3,w1: the first gets Part 3's steps, the others "
                   "Part 4's gradients (default: the trained ones)")
    p.add_argument("--worksheet", action="store_true",
                   help="write FILE-worksheet: the same pages with a box wherever an answer goes")
    p.add_argument("--key", action="store_true", help="write FILE-key: the worksheet's boxes filled in and marked")
    p.add_argument("--digits", type=digits_arg, default=2, metavar="N", help="decimals shown (default: 2)")
    p.add_argument("--compare", nargs="+", default=None, metavar="RUN",
                   help="add runs side by side: 2 to 4 runs, each settings on top of the others given, written as "
                   "the lesson page's runs are (lr=0.1 lr=0.34, or 'lr=0.1 start.b3=5' in one quoted word)")
    p.add_argument("--json", action="store_true", help="print the files written as JSON")
    add_training_options(p)
    slides.add_parser(sub)


def split_params(text: str) -> list[str]:
    """``b3,w1`` or ``W1[2,1],b2``: commas inside an entry's brackets do not split it."""
    return [p.strip() for p in re.findall(r"(?:[^,\[]|\[[^\]]*\])+", text) if p.strip()]


def cmd_handout(args: argparse.Namespace, console: Console) -> int:
    """Write the handout, or its worksheet and key, and say which files were written."""
    from backproplab.lesson import handout_files  # the handout's makers: imported here, for start-up speed

    output = Path(args.output)
    handout_files.output_format(output)  # a wrong suffix is refused before the run
    params = split_params(args.params) if args.params else None
    if args.params is not None and not params:
        raise UsageError("--params is empty; give parameter names such as b3,w1")
    settings = settings_for(args.source, args)
    written, said = handout_files.make(settings, output, args.iterations, params, args.worksheet, args.key,
                                       args.digits, args.compare)
    if said:
        sys.stderr.write(said + "\n")
    for w in written:
        sys.stderr.write(f"wrote {w.path} ({w.kind}, {w.size / 1e3:.0f} kB, {w.seconds:.1f} s)\n")
    if args.json:
        sys.stdout.write(json.dumps({"files": [{"path": str(w.path), "kind": w.kind, "bytes": w.size}
                                               for w in written]}, indent=2) + "\n")
    note(args, "print it at A4 or Letter; each iteration starts on a new page")
    return 0


COMMANDS = {"handout": cmd_handout, **slides.COMMANDS}
