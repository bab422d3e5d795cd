"""The ``backproplab`` command.

A mistake on the command line gets one line that names the problem and how to fix it, and
exit code 2; a bug gets one line that says so, and exit code 1; a traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import codecs
import importlib
import io
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backproplab import __version__
from backproplab.cli import bridge, check, completion, explain, lesson, notebooks, plots, presets, runs, teach
from backproplab.cli.commands import console_for, output_cut, said_as_bug
from backproplab.cli.options import Parser, add_program_options
from backproplab.util import interrupts
from backproplab.util.messages import InputError

if TYPE_CHECKING:
    from rich.console import Console

# each adds its parsers, in the help's order
FAMILIES = (runs, explain, check, plots, bridge, presets, lesson, teach, notebooks)
COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    name: command for family in FAMILIES for name, command in family.COMMANDS.items()}
# numpy and the layers the commands work with: imported once a command runs (--help and --version need none of them,
# for start-up speed), before Ctrl-C is handed back to Python, so a Ctrl-C while they load ends the start in one line.
WORKING_MODULES = ("numpy", "backproplab.spec.job", "backproplab.train.loop", "backproplab.explain.run")


def build_parser() -> Parser:
    """The whole command line: the program's own options, then each family's commands."""
    parser = Parser(
        prog="backproplab",
        description="Backpropagation, worked out: an autograd engine that shows every gradient "
        "step by step, the way a teacher works it by hand.",
        epilog="Start with:  backproplab demo statquest",
    )
    parser.add_argument("--version", action="version", version=f"backproplab {__version__}")
    add_program_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for family in FAMILIES:
        family.add_parsers(sub)
    completion.add_parsers(sub)
    commands = {id(p): p for p in sub.choices.values()}.values()  # an alias names the same parser
    for command in commands:  # also after the command: backproplab demo statquest --debug
        add_program_options(command, default=argparse.SUPPRESS)
    return parser


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    """``completion SHELL``: the script is made from the parser itself, so it never lags behind the commands."""
    return completion.print_script(build_parser(), args.shell)


COMMANDS["completion"] = cmd_completion


def utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the locale, so a minus sign, a middle dot or a Greek
    letter in the output never stops a command on a terminal set to cp1252 or ASCII."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def cannot_show(command: str, exc: UnicodeEncodeError) -> int:
    """One line for output the stream cannot encode: the fault is the stream's, not the command line's."""
    char = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else "?"
    sys.stderr.write(f"backproplab {command}: error: the output cannot be written as {exc.encoding} (it holds "
                     f"{char!a}); set PYTHONIOENCODING=utf-8 and run it again\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a mistake on the command line is one line and exit code 2, never a traceback."""
    utf8_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    console = console_for(args)
    for name in WORKING_MODULES:
        importlib.import_module(name)
    import numpy as np  # one of WORKING_MODULES, loaded just above

    interrupts.started()
    try:
        with np.errstate(all="ignore"):  # a value that is not finite is said in words where it matters, not warned of
            return COMMANDS[args.command](args, console)
    except UnicodeEncodeError as exc:
        if args.debug:
            raise
        return cannot_show(args.command, exc)
    except InputError as exc:  # a mistake in the input: the flags (UsageError, SettingsError), a spec (SpecError), a
        # file or a figure the layers below refuse in one line; any other error is a bug, said so below
        if args.debug:
            raise
        message = exc.args[0] if exc.args else str(exc)
        sys.stderr.write(f"backproplab {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        sys.stderr.write(f"backproplab {args.command}: interrupted (no file is left half-written)\n")
        return 130
    except BrokenPipeError:
        if args.debug:
            raise
        return output_cut(args.command, "the program reading it closed the pipe", 141)
    except Exception as exc:  # a bug in backproplab, not a mistake in the input: the traceback is one --debug away
        if args.debug:
            raise
        return said_as_bug(args.command, sys.argv[1:] if argv is None else argv, exc)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

