"""``presets`` and ``new``: list the built-in examples, and copy one into a spec file to edit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError
from backproplab.cli.options import PRESET_NAMES, add_command
from backproplab.util import files
from backproplab.util.messages import unknown_name_message

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(sub: Any) -> None:
    """``presets`` and ``new FILE --from PRESET`` (``sub`` is the command line's subparsers)."""
    add_command(sub, "presets", "list the built-in examples", "List the built-in examples.", source=None)

# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    new = add_command(
        sub, "new", "write an editable spec file from a built-in example",
        "Write a spec file (TOML, with comments) to edit: the network, starting values, data and "
        "training of a built-in example.",
        "Example: backproplab new mynet.toml --from statquest", source=None,
    )
    new.add_argument("file", metavar="FILE", help="the spec file to write, ending in .toml")
    new.add_argument("--from", dest="source", default="statquest", metavar="PRESET",
                     help=f"the example to start from (default: statquest): {', '.join(PRESET_NAMES)}")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def cmd_presets(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table  # rich.table: only for this listing

    from backproplab.spec.presets import PRESETS  # the specs (and numpy): imported here, for start-up speed

    table = Table(show_edge=False, header_style="bold")
    table.add_column("preset")
    table.add_column("what it shows")
    for name, preset in PRESETS.items():
        table.add_row(name, preset.summary)
    console.print(table)
    if not args.quiet:  # a hint, not part of the list
        console.print("Run one with 'backproplab demo NAME'; copy one to edit with "
                      "'backproplab new FILE.toml --from NAME'.")
    return 0


def cmd_new(args: argparse.Namespace, console: Console) -> int:
    """Write an editable spec file: a preset's own file, comments and all."""
    from backproplab.spec.presets import PRESETS  # the specs (and numpy): imported here, for start-up speed

    if args.source not in PRESETS:
        raise UsageError(unknown_name_message("preset", args.source, PRESETS) + " in --from")
    path = Path(args.file)
    if path.suffix != ".toml":
        raise UsageError(f"{args.file}: a spec file name ends in .toml, such as mynet.toml")
    if path.exists() and not args.force:
        raise UsageError(f"{args.file} already exists; choose another name, or add --force to overwrite it")
    files.write_text(path, PRESETS[args.source].text)
    sys.stderr.write(f"wrote {path}" + ("\n" if args.quiet else f"; edit it, then run 'backproplab run {path}'\n"))
    return 0


COMMANDS = {"presets": cmd_presets, "new": cmd_new}
