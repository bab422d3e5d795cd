"""The command line's option types and the option groups several commands share.

A mistake in an option is one line that names it and says what it must be (argparse's own
``error``, made one line by ``Parser``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

FORMATS = ("text", "md", "latex", "html", "json")
# The built-in examples, as spec.presets.PRESETS names them and in its order, written out so that the parser (and
# --help) is built without importing numpy and the engine; a test checks that the two agree.
PRESET_NAMES = ("statquest", "classic", "xor", "moons", "circles", "spiral", "regression")


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line that points at --help."""

    intermixed = False  # True: the command's words may come before and after its options (check's KEY=VALUE)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self.intermixed:
            return super().parse_known_args(args, namespace)
        self.intermixed = False  # parse_known_intermixed_args calls this method again, twice
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self.intermixed = True


def number_arg(kind: type, ok: Callable[[float], bool], rule: str) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` for which ``ok`` holds, else a one-line reason."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    return parse


positive_float = number_arg(float, lambda v: v > 0, "a positive number")
non_negative_float = number_arg(float, lambda v: v >= 0, "zero or a positive number")
positive_int = number_arg(int, lambda v: v >= 1, "1 or more")
step_arg = number_arg(int, lambda v: v >= 0, "0 or more")
digits_arg = number_arg(int, lambda v: 0 <= v <= 12, "between 0 and 12")
dpi_arg = number_arg(int, lambda v: 20 <= v <= 1200, "between 20 and 1200")


def folder_arg(text: str) -> str:
    """A folder name for --data-dir: an empty one (an unset variable) is not the working folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a folder such as --data-dir ./data (an unset variable?)")
    return text


def span_arg(text: str) -> tuple[float, float]:
    """LO,HI for --span: two finite numbers, low before high."""
    try:
        lo, hi = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as -1,4") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise argparse.ArgumentTypeError(f"must be LO,HI with LO below HI, got {text}")
    return lo, hi


def add_iteration_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--iteration K`` (1-based: iteration 1 is the starting values), with ``--step`` as an alias."""
    p.add_argument("--iteration", "--step", dest="iteration", type=positive_int, default=1, metavar="K",
                   help=f"{what} at iteration K of the run, counted as the demo prints them (1, the default, is the "
                   "starting values); --step K means the same")


def index_arg(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) - 1 for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers such as 1,2") from None


def add_safety_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory-limit", type=positive_float, default=None, metavar="GB",
                   help="the memory a run may need, in GB (default: a quarter of the available memory); "
                   "a spec that needs more is refused before anything is built")
    p.add_argument("--data-dir", action="append", default=None, metavar="DIR", type=folder_arg,
                   help="also let the spec read data files from DIR (by default only from the spec's own "
                   "folder); repeat for more")


def add_training_options(p: argparse.ArgumentParser) -> None:
    add_safety_options(p)
    p.add_argument("--optimize", metavar="NAMES", default=None,
                   help="parameters to train: one name (b3), a comma list (w3,w4,b3) or 'all' (default: as the "
                   "example says; b3 for statquest)")
    p.add_argument("--lr", type=positive_float, default=None, metavar="RATE",
                   help="learning rate: step size = gradient × rate (default: as the example says; 0.1 for statquest)")
    p.add_argument("--max-steps", type=positive_int, default=None, metavar="N",
                   help="stop after N steps (default: as the example says; 1000 for statquest)")
    p.add_argument("--min-step", type=non_negative_float, default=None, metavar="SIZE",
                   help="stop once every |step size| is below SIZE (default: as the example says; 0.0001)")


COLORS = ("auto", "always", "never")
QUIET_HELP = ("only errors and the command's own output (the report, the JSON, a 'wrote FILE' line): no progress, "
              "notes, warnings or hints")
COLOR_HELP = ("auto (default): colour on a terminal unless NO_COLOR is set; always: colour even into a pipe or file; "
              "never: no colour or other escape codes")


def add_program_options(p: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after its name: --debug, -q/--quiet and --color.

    ``default`` is the program's own defaults; a command's copy passes ``argparse.SUPPRESS`` so that an
    option given before the command's name is not reset by the command's parser."""
    def given(value: Any) -> Any:
        return value if default is None else default

    p.add_argument("--debug", action="store_true", default=given(False), help="show a full traceback on errors")
    p.add_argument("-q", "--quiet", action="store_true", default=given(False), help=QUIET_HELP)
    p.add_argument("--color", choices=COLORS, default=given("auto"), help=COLOR_HELP)


def add_display_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                   help="decimals shown (default: 2); values are always computed exactly")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format for explanations: text (default), md, latex, html or json")
    p.add_argument("--factors", choices=("rounded", "exact"), default="rounded",
                   help="rounded (default): every number with --digits, and a note where the rounded numbers on "
                   "a line do not give its result; exact: each number a line works on with enough digits for "
                   "its arithmetic to hold, the results as before, no notes")
    p.add_argument("--form", choices=("auto", "paths", "delta"), default="auto",
                   help="paths: every chain-rule path, sample by sample; delta: layer by layer with "
                   "δ = dL/dnode; auto (default): paths when they are few")


SOURCE_HELP = f"a built-in example ({', '.join(PRESET_NAMES)}) or the path of a .toml spec file"


def add_command(sub: Any, name: str, summary: str, description: str, example: str = "",
                source: str | None = SOURCE_HELP) -> Parser:
    """One command's parser (a :class:`Parser`, as the program's subparsers make them): its line in
    ``backproplab --help``, its description and example, and (unless ``source`` is None) the SOURCE argument
    most commands take first."""
    parser = sub.add_parser(name, help=summary, description=description, epilog=example or None)
    assert isinstance(parser, Parser)
    if source is not None:
        parser.add_argument("source", metavar="SOURCE", help=source)
    return parser
