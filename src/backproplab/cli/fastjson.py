"""``--json`` with orjson when it is installed: the same bytes as ``json.dumps``, written faster.

orjson writes ``{"a":1e-8}`` where json writes ``{"a": 1e-08}``, and numbers between 1e-5 and 1e-4
in full (``0.00001``) where json uses an exponent. Both are mended here outside the strings; anything
else that might differ (a backslash, DEL or non-ASCII character in a string, ``null`` for a NaN that json
would refuse, a value orjson cannot encode) goes through ``json.dumps`` instead, so the output is the
same byte for byte either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from backproplab.util import interrupts

SHORT_EXPONENT = re.compile(rb"e-([1-9])\b")  # 1e-8 → 1e-08, as Python's repr writes it
FULL_SMALL = re.compile(rb"0\.0000([1-9])([0-9]*)")  # 0.000012 → 1.2e-05 (not inside 10.00001: see _exponent)
MARKS = (b",", b":", b"e-", b"0.0000")  # in a string these must be left alone, so the strings are mended around


def _exponent(match: re.Match[bytes]) -> bytes:
    start = match.start()
    if start and match.string[start - 1] in b"0123456789.":  # the tail of a larger number such as 10.00001
        return match.group(0)
    first, rest = match.groups()  # shortest digits: the rest never ends in 0
    return first + (b"." + rest if rest else b"") + b"e-05"


def _mend(part: bytes) -> bytes:
    """A stretch of orjson's output outside any string, spaced and with numbers as Python writes them."""
    part = part.replace(b",", b", ").replace(b":", b": ")
    if b"e-" in part:
        part = SHORT_EXPONENT.sub(rb"e-0\1", part)
    if b"0.0000" in part:
        part = FULL_SMALL.sub(_exponent, part)
    return part


def make_dumps(orjson: Any) -> Callable[[Any], str]:
    """A ``dumps`` for :meth:`Trace.write_json` that uses ``orjson`` where it gives json's bytes."""
    from backproplab.train.trace import strict_dumps  # numpy: imported here, for start-up speed

    def dumps(value: Any) -> str:
        try:
            raw = orjson.dumps(value)
        except TypeError:  # numpy scalars, integers beyond 64 bits …: json's own way
            return strict_dumps(value)
        if b"\\" in raw or b"null" in raw or b"\x7f" in raw or not raw.isascii():  # json escapes DEL too
            return strict_dumps(value)
        parts = raw.split(b'"')  # no backslash, so every '"' opens or closes a string
        inside = b"".join(parts[1::2])
        if not any(mark in inside for mark in MARKS):  # the usual case: mend it all at once
            return _mend(raw).decode("ascii")
        parts[::2] = [_mend(part) for part in parts[::2]]
        return b'"'.join(parts).decode("ascii")

    return dumps


def fast_dumps() -> Callable[[Any], str] | None:
    """orjson's ``dumps`` made to match json's, or None when orjson is not installed (json does it all)."""
    try:
        with interrupts.deferred():  # a Ctrl-C while orjson's extension initialises crashes the process
            import orjson  # the fast extra: only when JSON is written
    except ImportError:
        return None
    return make_dumps(orjson)
