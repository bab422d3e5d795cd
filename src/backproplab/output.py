"""Every file the package writes goes through here, so a bad path is one clear line, not a traceback.

``check`` looks at a target before the work is done (a folder where a file was asked for, a
folder that cannot be made, an existing file that is not ours to overwrite); the writers
turn any failure while writing (a full disk, ``/dev/full``, no permission) into a
:class:`WriteError` that names the file, and leave no half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TRACE_START = ('{"loss"', '{\n "loss"')  # how a saved trace begins (see Trace.write_json)


class WriteError(ValueError):
    """A file that cannot be written: the message names it and says why."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def is_trace(path: Path) -> bool:
    """Whether an existing file looks like a trace this package saved (so replacing it loses nothing else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64).decode("utf-8", "replace").lstrip()
    except OSError:
        return False
    return head == "" or head.startswith(TRACE_START)


def check(path: str | Path, *, force: bool = True, ours: Callable[[Path], bool] | None = None,
          example: str = "out.json") -> Path:
    """The path, with its folder made, if a file can be written there; else a :class:`WriteError`.

    Without ``force``, an existing regular file is replaced only if ``ours`` says it is one
    of ours (such as a saved trace); any other file needs ``force``.
    """
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder; give a file name, such as {path / example}")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: its folder {parent} cannot be made ({_why(exc)})") from None
    if not parent.is_dir():
        raise WriteError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK) and not (path.exists() and os.access(path, os.W_OK)):
        raise WriteError(f"cannot write {path}: the folder {parent} is not writable")
    if path.is_file() and not force and not (ours is not None and ours(path)):
        raise WriteError(f"{path} already exists and is not a file this command wrote; choose another name, "
                         "or add --force to overwrite it")
    return path


@contextlib.contextmanager
def open_for_writing(path: str | Path, mode: str = "w", *, force: bool = True,
                     ours: Callable[[Path], bool] | None = None) -> Iterator[IO[Any]]:
    """Open ``path`` for writing; any failure, now or while writing, is a :class:`WriteError`.

    A file that this call created and could not finish is removed again.
    """
    path = check(path, force=force, ours=ours)
    existed = path.exists()
    try:
        f = open(path, mode, encoding="utf-8") if "b" not in mode else open(path, mode)  # noqa: SIM115
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_why(exc)}") from None
    try:
        with f:
            yield f
    except OSError as exc:
        _remove_partial(path, existed)
        raise WriteError(f"cannot write {path}: {_why(exc)}") from None
    except BaseException:
        _remove_partial(path, existed)
        raise


def _remove_partial(path: Path, existed: bool) -> None:
    if not existed and path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()


def write_text(path: str | Path, text: str, *, force: bool = True,
               ours: Callable[[Path], bool] | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path``; a :class:`WriteError` says why if it cannot be done."""
    with open_for_writing(path, "w", force=force, ours=ours) as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes, *, force: bool = True) -> Path:
    """Write ``data`` to ``path``; a :class:`WriteError` says why if it cannot be done."""
    with open_for_writing(path, "wb", force=force) as f:
        f.write(data)
    return Path(path)
