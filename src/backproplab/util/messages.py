"""One-line messages about someone's input: the error they raise, short quotations of the input, and "did you
mean" hints."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

EXCERPT = 60  # characters of someone's input echoed in a message, at most
SHOWN_CHOICES = 12  # names listed in a "choose from" hint, at most


class InputError(ValueError):
    """A mistake in someone's input (a flag, a spec, a file, a name, a figure asked for), said in one line.

    Every error about input derives from it, so the command line can tell a mistake to fix (one line, exit
    code 2) from a bug in backproplab (anything else). A ValueError too, so code that catches ValueError
    keeps working."""


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """A short, printable quotation of input for a message: the repr of at most ``limit``
    characters, with control characters escaped, and '…' where it was cut."""
    if isinstance(value, str):
        text = repr(value[:limit])
        return text + "…" if len(value) > limit else text
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 6, limit, limit
    text = short.repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:limit] + "…" if len(text) > limit else text


def plain(text: str, limit: int) -> str:
    """Text without quotes for a list of names: control characters dropped, cut at ``limit``."""
    clean = "".join(ch for ch in text[: limit + 1] if ch.isprintable())
    return clean[:limit] + "…" if len(clean) > limit or len(text) > limit + 1 else clean


def unknown_name_message(kind: str, name: str, choices: Iterable[str], shown: int = SHOWN_CHOICES) -> str:
    """'unknown parameter 'b4'; did you mean 'b3'? choose from: ...' for any misspelt name.

    The suggestion ignores case first (w1 → W1), then looks for a close spelling; the name and
    the choices are shortened so that a huge input never makes a huge message."""
    choices = [str(c) for c in choices]
    name = str(name)
    same_case = [c for c in choices if c.lower() == name.lower()]
    if same_case:
        close = same_case
    elif len(name) <= 4 * EXCERPT:
        lower = {c.lower(): c for c in reversed(choices)}
        close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)]
    else:
        close = []
    hint = f"; did you mean {excerpt(close[0], 30)}?" if close else ""
    listed = ", ".join(plain(c, 30) for c in choices[:shown])
    more = f", … ({len(choices) - shown} more)" if len(choices) > shown else ""
    return f"unknown {kind} {excerpt(name)}{hint} (choose from: {listed}{more})"
