"""Ctrl-C on the command line: one line and exit code 130 at any moment, never a traceback, and
never a lost file.

While the command line starts (numpy and the package are being imported) Ctrl-C ends it at once
with one line; :func:`start` arms that, :func:`started` hands Ctrl-C back to Python as the command
begins its work. The package calls :func:`start` first thing, because importing it is the first
thing the command does; in any other program (a script, a notebook) :func:`start` changes nothing.
:func:`ignored` holds off Ctrl-C while a partial run is being saved, so a second press cannot cut
that save short; :func:`deferred` lets a press take effect only once a short step is whole.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

STARTING = "backproplab: interrupted while starting; nothing was done\n"


def _on_start_interrupt(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(STARTING)
    raise SystemExit(130)


def _is_command_line() -> bool:
    """Whether this process is the ``backproplab`` command (or ``python -m backproplab``), not a library user."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if argv and Path(sys.argv[0] or "").name == "backproplab":
        return True
    return any(a == "-m" and b == "backproplab" for a, b in zip(argv, argv[1:]))


def _can_set() -> bool:
    return threading.current_thread() is threading.main_thread()


def start() -> None:
    """In the command line only: Ctrl-C before the command begins is one line and exit code 130."""
    if _can_set() and _is_command_line() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_start_interrupt)


def started() -> None:
    """The command begins: Ctrl-C raises KeyboardInterrupt again, for the command to handle."""
    if _can_set() and signal.getsignal(signal.SIGINT) is _on_start_interrupt:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def ignored() -> Iterator[None]:
    """Ctrl-C has no effect inside the block (in the main thread); the earlier handler is restored after."""
    if not _can_set():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if before is None else before)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C inside the block takes effect as the block ends (in the main thread), so a step such as
    making a temporary file and taking note of its name is never cut in half."""
    if not _can_set():
        yield
        return
    pressed: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if before is None else before)
    if pressed and callable(before):
        before(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt here
