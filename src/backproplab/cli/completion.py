"""``completion SHELL``: a shell completion script for every command, option and preset.

The script is made by shtab from the argument parser, so it is always in step with the commands;
shtab is an optional extra, imported only here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backproplab.cli.options import add_command

SHELLS = ("bash", "zsh", "tcsh")
INSTALL = 'pip install "backproplab[completion]"'


def add_parsers(sub: Any) -> None:
    """``completion bash|zsh|tcsh`` (``sub`` is the command line's subparsers)."""
    completion = add_command(
        sub, "completion", "print a shell completion script (bash, zsh or tcsh)",
        "Print a script that completes backproplab's commands, options and built-in examples in your shell. "
        f"Needs shtab: {INSTALL}.",
        "Examples: backproplab completion bash > ~/.local/share/bash-completion/completions/backproplab; "
        'backproplab completion zsh > "${fpath[1]}/_backproplab"', source=None,
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help=f"the shell: {', '.join(SHELLS)}")


def print_script(parser: argparse.ArgumentParser, shell: str) -> int:
    """Print the script for ``shell``: 0, or 1 after one line saying how to install shtab."""
    try:
        import shtab  # the completion extra: only for this command
    except ImportError:
        sys.stderr.write(f"backproplab completion: error: shell completion needs shtab: {INSTALL}\n")
        return 1
    sys.stdout.write(shtab.complete(parser, shell=shell))
    sys.stdout.write("\n")
    return 0
