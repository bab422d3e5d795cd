"""Every file the package writes goes through here, so a bad path is one clear line, not a traceback,
and nothing the user had is lost.

``check`` looks at a target before the work is done (a folder where a file was asked for, a
folder that cannot be made, an existing file that is not ours to overwrite). The writers put
the new content in a temporary file in the same folder and ``os.replace`` it over the target
only once it is complete and on disk, so a full disk, a missing permission or Ctrl-C midway
leaves the earlier file exactly as it was and no temporary file behind; any failure is a
:class:`WriteError` that names the file. A target that is not a regular file (``/dev/stdout``,
``/dev/null``, a pipe) is written in place, as there is nothing there to replace.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from backproplab.util import interrupts
from backproplab.util.messages import InputError

TRACE_START = ('{"loss"', '{\n "loss"')  # how a saved trace begins (see Trace.write_json)
TEMP_MARK = ".part"  # a temporary file is named .NAME.XXXXXXXX.part.SUFFIX beside its target
SYSTEM_FOLDERS = ("/dev/", "/proc/")  # names there are written in place: /dev/stdout, /dev/null, /proc/self/fd/1


class WriteError(InputError):
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


def _in_place(path: Path) -> bool:
    """An existing target that is not a regular file (a device, a pipe), or a name under /dev or /proc
    (/dev/stdout even when it leads to a file): written as it is, never replaced."""
    if str(path).startswith(SYSTEM_FOLDERS) or os.path.realpath(path).startswith(SYSTEM_FOLDERS):
        return os.path.exists(path)
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


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
    if _in_place(path):
        if not os.access(path, os.W_OK):
            raise WriteError(f"cannot write {path}: permission denied")
        return path
    if not os.access(_target(path).parent, os.W_OK):
        raise WriteError(f"cannot write {path}: the folder {parent} is not writable")
    if path.is_file() and not force and not (ours is not None and ours(path)):
        raise WriteError(f"{path} already exists and is not a file this command wrote; choose another name, "
                         "or add --force to overwrite it")
    return path


def _target(path: Path) -> Path:
    """The file a write replaces: a symbolic link's target, so the link itself stays."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _new_temp(target: Path) -> Path:
    """A fresh, empty temporary file beside ``target``, with its suffix (some writers choose the format by it)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name[:100]}.{secrets.token_hex(4)}{TEMP_MARK}{target.suffix[:16]}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for open()
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: Path, target: Path) -> None:
    """Make ``tmp`` durable, give it the replaced file's permissions, and put it in ``target``'s place."""
    _fsync(tmp)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    os.replace(tmp, target)
    with contextlib.suppress(OSError):  # the rename itself on disk; not every system can open a folder
        _fsync(target.parent)


@contextlib.contextmanager
def replacing(path: str | Path, *, force: bool = True, ours: Callable[[Path], bool] | None = None,
              example: str = "out.json") -> Iterator[Path]:
    """A temporary path to write by name (for writers that take a file name); it replaces ``path`` once
    the block ends without an error. On any failure, or Ctrl-C, the temporary file is removed and the
    earlier file is left as it was; an ``OSError`` becomes a :class:`WriteError`.
    """
    path = check(path, force=force, ours=ours, example=example)
    if _in_place(path):
        try:
            yield path
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {_why(exc)}") from None
        return
    target = _target(path)
    tmp: Path | None = None
    try:
        with interrupts.deferred():  # a Ctrl-C as the file is made waits until its name is known, to remove it
            tmp = _new_temp(target)
        yield tmp
        _commit(tmp, target)
    except OSError as exc:
        if tmp is not None:
            _discard(tmp)
        raise WriteError(f"cannot write {path}: {_why(exc)}") from None
    except BaseException:
        if tmp is not None:
            _discard(tmp)
        raise


@contextlib.contextmanager
def open_for_writing(path: str | Path, mode: str = "w", *, force: bool = True,
                     ours: Callable[[Path], bool] | None = None, example: str = "out.json") -> Iterator[IO[Any]]:
    """Open ``path`` for writing; any failure, now or while writing, is a :class:`WriteError`.

    The file written is a temporary one that replaces ``path`` only when the block ends without
    an error, so the earlier file is never left half-written.
    """
    with replacing(path, force=force, ours=ours, example=example) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f


def write_text(path: str | Path, text: str, *, force: bool = True,
               ours: Callable[[Path], bool] | None = None, example: str = "out.json") -> Path:
    """Write ``text`` (UTF-8) to ``path``; a :class:`WriteError` says why if it cannot be done."""
    with open_for_writing(path, "w", force=force, ours=ours, example=example) as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes, *, force: bool = True,
                ours: Callable[[Path], bool] | None = None, example: str = "out.json") -> Path:
    """Write ``data`` to ``path``; a :class:`WriteError` says why if it cannot be done."""
    with open_for_writing(path, "wb", force=force, ours=ours, example=example) as f:
        f.write(data)
    return Path(path)
