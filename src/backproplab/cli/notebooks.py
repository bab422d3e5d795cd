"""``notebooks DIR``: copy the series of notebooks, run and with their outputs, into a folder.

The package ships the seven notebooks executed (``python docs/gen.py notebooks`` writes them into
``lesson/notebooks``), so a learner who installed it from PyPI has the series with its figures and
numbers, ready for ``jupyter lab DIR``, without the repository.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from backproplab.cli.commands import UsageError, note
from backproplab.cli.options import add_command
from backproplab.util import files

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable


def add_parsers(sub: Any) -> None:
    """``notebooks DIR [--force]`` (``sub`` is the command line's subparsers)."""
    notebooks = add_command(
        sub, "notebooks", "copy the series of notebooks, with their outputs, into a folder",
        "Copy the seven notebooks of the series (the forward pass, the loss against one parameter, gradient "
        "descent, backpropagation for every parameter, your own network, classification, PyTorch habits) into "
        "DIR as .ipynb files, run, with their figures and numbers. Open them with 'jupyter lab DIR' "
        '(pip install "backproplab[notebook]").',
        "Example: backproplab notebooks series/ && jupyter lab series/", source=None,
    )
    notebooks.add_argument("folder", metavar="DIR", help="the folder to copy them into (made if missing)")
    notebooks.add_argument("--force", action="store_true", help="overwrite notebooks of the same names in DIR")


def shipped() -> list[Traversable]:
    """The executed notebooks inside the package, in the series' order."""
    folder = resources.files("backproplab") / "lesson" / "notebooks"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".ipynb")), key=lambda f: f.name)


def cmd_notebooks(args: argparse.Namespace, console: Console) -> int:
    """Write every notebook, after checking that none would replace a file without --force."""
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; give a folder, such as series/")
    sources = shipped()
    if not sources:
        raise UsageError("this installation has no notebooks (backproplab/lesson/notebooks is empty); "
                         "reinstall it with pip install --force-reinstall backproplab")
    taken = [s.name for s in sources if (folder / s.name).exists()]
    if taken and not args.force:
        more = f" and {len(taken) - 1} more of the series" if len(taken) > 1 else ""
        raise UsageError(f"{folder} already has {taken[0]}{more}; choose another folder, "
                         "or add --force to overwrite them")
    for source in sources:
        files.write_bytes(folder / source.name, source.read_bytes())
    sys.stderr.write(f"wrote {len(sources)} notebooks into {folder}\n")
    note(args, f"open them with: jupyter lab {folder}")
    return 0


COMMANDS = {"notebooks": cmd_notebooks}
