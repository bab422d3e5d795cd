"""A spec's data: inline lists, a generated data set, or a CSV file, read safely.

A spec file may come from someone else, so what it can read is limited: only regular files
(never a device, a FIFO or a folder), only inside the spec's own folder after symlinks are
resolved (or a folder the user allows with ``--data-dir``), and only up to a size that fits
in memory. Messages quote at most a short, printable excerpt of a file's contents.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import stat
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.spec import datasets
from backproplab.util import limits
from backproplab.util.messages import InputError, excerpt, unknown_name_message

MAX_SPEC_BYTES = 16 * 1024**2  # a spec file larger than this is not a spec
CSV_BYTES_PER_VALUE = 16  # memory per byte of CSV, at most (a 2-byte "0," becomes a float and its list entry)
SHOWN_COLUMNS = 6  # column names quoted from a data file in a message, at most


class SpecError(InputError):
    """A mistake in a spec file, said in one line: where, what, and how to fix it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)


def shown_path(path: Path | str) -> str:
    """A path for a message: its end, where the file's own name is, if it is long."""
    text = str(path)
    return repr(text) if len(text) <= 60 else "'…" + repr(text[-59:])[1:]


def read_regular_file(path: Path, where: str, max_bytes: int, what: str,
                      inside: Sequence[Path] | None = None) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (a leading BOM dropped), or a SpecError.

    The file is checked with os.stat before it is opened, and opened without blocking, so a
    FIFO, a device such as /dev/zero or a folder is refused at once. It is opened once, and
    with ``inside`` (resolved folders) the file actually opened must lie in one of them: a
    folder swapped for a symlink between the check and the open cannot lead outside."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SpecError(where, f"no such file {shown_path(path)}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the name
        raise SpecError(where, f"cannot read {shown_path(path)}: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(where, f"{shown_path(path)} is a folder; give the path of a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(where, f"{shown_path(path)} is not a regular file (a device, FIFO or socket); "
                        f"give the path of a {what}")
    if info.st_size > max_bytes:
        raise SpecError(where, f"{shown_path(path)} is {limits.describe(info.st_size)}, more than the "
                        f"{limits.describe(max_bytes)} a {what} may have here")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since the check
                raise SpecError(where, f"{shown_path(path)} is not a regular file")
            if inside is not None:
                check_opened(fh.fileno(), path, inside, where)
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SpecError(where, f"cannot read {shown_path(path)}: {exc.strerror}") from None
    if len(data) > max_bytes:  # files such as those in /proc say their size is 0
        raise SpecError(where, f"{shown_path(path)} is more than the {limits.describe(max_bytes)} a {what} may "
                        "have here")
    return data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data


def opened_path(fd: int, path: Path) -> Path | None:
    """The real path of the file open as ``fd``: /proc/self/fd says it where there is one;
    elsewhere the resolved name, if it is still the very file that is open (else None)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass
    try:
        real = os.path.realpath(path)
        now, opened = os.stat(real), os.fstat(fd)
    except (OSError, ValueError):
        return None
    return Path(real) if (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino) else None


def check_opened(fd: int, path: Path, inside: Sequence[Path], where: str) -> None:
    """Refuse an open file that does not lie inside one of the (resolved) folders ``inside``."""
    real = opened_path(fd, path)
    if real is None or not any(real == root or root in real.parents for root in inside):
        folders = " or ".join(shown_path(r) for r in list(inside)[:3])
        raise SpecError(where, f"{shown_path(path)} is outside {folders}; a spec may read only files in its own "
                        "folder (allow another folder with --data-dir DIR)")


def allowed_roots(base: Path | None, data_dirs: Sequence[Path] | None, where: str) -> tuple[Path, list[Path]]:
    """The folder a data file's name is relative to, and the resolved folders it may lie in.

    ``data_dirs`` None allows the spec's own folder (the working folder for a spec given as
    text); an empty sequence allows no file at all."""
    folder = base if base is not None else Path.cwd()
    allowed = [folder] if data_dirs is None else list(data_dirs)
    if not allowed:
        raise SpecError(where, "data.csv: this spec may not read files here; give the data inline as "
                        "x = [...] and y = [...]")
    try:
        return folder, [Path(d).resolve() for d in allowed]
    except (OSError, RuntimeError, ValueError) as exc:
        raise SpecError(where, f"data.csv: cannot resolve a data folder: {exc}") from None


def checked_data_dirs(data_dirs: Sequence[str | Path] | None) -> tuple[Path, ...] | None:
    """Folders given to read data from, as paths; an empty name (an unset variable in
    ``--data-dir "$DIR"``) is refused rather than taken as the working folder."""
    if data_dirs is None:
        return None
    if isinstance(data_dirs, (str, Path)):
        data_dirs = [data_dirs]
    for d in data_dirs:
        if not isinstance(d, (str, Path)) or (isinstance(d, str) and not d.strip()):
            raise SpecError("--data-dir", f"{excerpt(d)} is not a folder name; give a folder such as "
                            "--data-dir ./data")
    return tuple(Path(d) for d in data_dirs)


def data_file(name: str, base: Path | None, data_dirs: Sequence[Path] | None, where: str) -> Path:
    """The file ``data.csv`` names, if it lies inside an allowed folder once symlinks are resolved.

    ``data_dirs`` None allows the spec's own folder (the working folder for a spec given as
    text); an empty sequence allows no file at all."""
    folder, roots = allowed_roots(base, data_dirs, where)
    try:
        path = (folder / name).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise SpecError(where, f"data.csv: cannot resolve {excerpt(name)}: {excerpt(str(exc), 80)}") from None
    if not any(path == root or root in path.parents for root in roots):
        folders = " or ".join(shown_path(r) for r in roots[:3])
        raise SpecError(where, f"data.csv: {excerpt(name)} is outside {folders}; a spec may read only files in "
                        "its own folder (allow another folder with --data-dir DIR)")
    return path


def read_data_text(name: str, base: Path | None, where: str, data_dirs: Sequence[Path] | None = None) -> str:
    """The text of the CSV file ``data.csv`` names: the one checked way any command reads a data file.

    Only a regular file, inside an allowed folder when it is opened, and small enough to fit
    in memory; every refusal is one line that quotes no more than the name."""
    _, roots = allowed_roots(base, data_dirs, where)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(where, "data.csv: should name a CSV file next to the spec, such as \"data.csv\"")
    path = data_file(name, base, data_dirs, where)
    max_bytes = max(1, limits.memory_limit() // CSV_BYTES_PER_VALUE)
    try:
        if not path.exists():
            raise SpecError(where, f"data.csv: no such file {shown_path(path)}; paths are relative to the spec "
                            "file")
    except OSError as exc:  # a name too long for the system, for one
        raise SpecError(where, f"data.csv: cannot read {excerpt(name)}: {exc.strerror}") from None
    try:
        return read_regular_file(path, f"{where}: data.csv", max_bytes, "CSV file", inside=roots).decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{where}: data.csv", f"{shown_path(path)} is not a UTF-8 text file; a CSV file is text") \
            from None


def check_header(header: list[str], file: str) -> None:
    """Column names must be unique: a repeated name would silently pick one of two columns."""
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise SpecError(f"{file}:1", f"the column {excerpt(name, 30)} appears twice in the header; give each "
                            "column its own name")
        seen.add(name)


def read_csv(data: dict[str, Any], base: Path | None, where: str,
             data_dirs: Sequence[Path] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Columns by name from a CSV file with a header row, relative to the spec file."""
    text = read_data_text(data["csv"], base, where, data_dirs)
    file = str(data_file(data["csv"], base, data_dirs, where))
    reader = csv.reader(io.StringIO(text))
    del text
    try:
        line, header = _header(reader, file)
        picks = {key: pick_columns(data, key, header, where) for key in ("x", "y")}
        wanted = sorted(set(picks["x"]) | set(picks["y"]))
        values = _read_columns(reader, line, header, wanted, file)
    except csv.Error as exc:
        raise SpecError(file, f"cannot be read as CSV: {exc}") from None
    if not values[wanted[0]]:
        raise SpecError(file, "has a header but no data rows")
    columns = []
    for key in ("x", "y"):
        arr = np.column_stack([np.frombuffer(values[col], dtype=np.float64) for col in picks[key]])
        columns.append(arr[:, 0].copy() if isinstance(data[key], str) else arr)
    return columns[0], columns[1]


def _header(reader: Any, file: str) -> tuple[int, list[str]]:
    """The first row that is not blank, as column names, and its line number."""
    found = next(((n, r) for n, r in enumerate(reader, start=1) if any(c.strip() for c in r)), None)
    if found is None:
        raise SpecError(file, "is empty; it needs a header row of column names and at least one data row")
    header = [h.strip() for h in found[1]]
    check_header(header, file)
    return found[0], header


def pick_columns(data: dict[str, Any], key: str, header: list[str], where: str) -> list[int]:
    """The positions of the columns ``data.x`` (or ``data.y``) names, each checked against the header."""
    names = [data[key]] if isinstance(data[key], str) else data[key]
    if not names or not all(isinstance(name, str) for name in names):
        raise SpecError(where, f"data.{key}: should name CSV columns, got {excerpt(data[key])}")
    for name in names:
        if name not in header:
            raise SpecError(where, f"data.{key}: " + unknown_name_message("column", name, header, SHOWN_COLUMNS))
    return [header.index(name) for name in names]


def _read_columns(reader: Any, line: int, header: list[str], wanted: list[int], file: str) -> dict[int, array]:
    """The wanted columns, row by row after the header (line ``line``), 8 bytes a value; blank rows skipped."""
    values = {col: array("d") for col in wanted}
    for n, row in enumerate(reader, start=line + 1):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise SpecError(f"{file}:{n}", f"row has {len(row)} fields but the header has {len(header)}")
        for col in wanted:
            values[col].append(_cell(row[col], header[col], f"{file}:{n}"))
    return values


def _cell(cell: str, column: str, where: str) -> float:
    cell = cell.strip()
    try:
        value = float(cell)
    except ValueError:
        raise SpecError(where, f"column {excerpt(column, 30)} has {excerpt(cell, 20)}, which is not a number") \
            from None
    if not math.isfinite(value):
        raise SpecError(where, f"column {excerpt(column, 30)} has {excerpt(cell, 20)}; NaN and infinity are not data")
    return value


def load_numbers(value: Any) -> np.ndarray:
    """A nested list of numbers as float64; true/false is not a number here (NumPy would take it as 1/0)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            raise TypeError("true/false is not a number")
        if isinstance(item, list):
            stack.extend(item)
    return np.asarray(value, dtype=np.float64)


def numbers(value: Any, path: str, where: str) -> np.ndarray:
    """Inline data as a float64 array of one or two dimensions (samples, values per sample)."""
    try:
        arr = load_numbers(value)
    except TypeError as exc:
        if "true/false" in str(exc):
            raise SpecError(where, f"{path}: holds true/false; give numbers such as 0 and 1") from None
        raise SpecError(where, f"{path}: should hold only numbers (all rows the same length), got "
                        f"{excerpt(value)}") from None
    except (ValueError, OverflowError):
        raise SpecError(where, f"{path}: should hold only numbers (all rows the same length), got "
                        f"{excerpt(value)}") from None
    if arr.ndim > 2:
        raise SpecError(where, f"{path}: is nested {arr.ndim} deep; give one number per sample, or one list of "
                        "numbers per sample")
    if arr.size == 0:
        raise SpecError(where, f"{path}: is empty; give at least one sample")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise SpecError(where, f"{path}: has NaN or infinity at sample {int(bad[0][0]) + 1}; remove or fix it")
    return arr


def load_data(data: dict[str, Any], base: Path | None, where: str,
              data_dirs: Sequence[Path] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The data (x, y) a checked ``[data]`` table describes."""
    if "dataset" in data:
        extra = {"noise": data["noise"]} if data["noise"] is not None else {}
        x, y = datasets.make(data["dataset"], n=data["n"], seed=data["seed"], **extra)
        return x, y.astype(np.float64)
    if "csv" in data:
        return read_csv(data, base, where, data_dirs)
    return numbers(data["x"], "data.x", where), numbers(data["y"], "data.y", where)
