"""``bl.slides`` and ``backproplab slides``: the lesson as 16:9 slides, a PDF or one offline HTML file.

The file's suffix chooses: ``.pdf`` (Typst, from the ``handout`` extra; without it the HTML deck is
written beside it and the caller is told in one line how to get the PDF) or ``.html``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backproplab.lesson import deck as render
from backproplab.lesson.export import source_settings
from backproplab.lesson.settings import Settings
from backproplab.lesson.slide_content import DEFAULT_ITERATIONS, Deck, SlidesError, build
from backproplab.lesson.typeset import INSTALL, available
from backproplab.util import files

SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html"}


@dataclass(frozen=True)
class Written:
    """The file written: where, as what, its size and how long the deck took to make and write."""

    path: Path
    fmt: str
    size: int
    pages: int
    seconds: float


def output_format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise SlidesError(f"cannot write slides as {path.name!r}: end the file name in .pdf or .html")
    return fmt


def fallback(path: Path) -> tuple[Path, str | None]:
    """The path to write and, for a PDF without the extra, the line that says the HTML deck was written instead."""
    if output_format(path) == "pdf" and not available():
        html = path.with_suffix(".html")
        return html, f"wrote the HTML deck instead of a PDF ({html.name}); for the PDF: {INSTALL}"
    return path, None


def write(deck: Deck, path: str | Path, started: float | None = None) -> Written:
    """Write the deck to ``path`` (.pdf or .html), replaced only once complete."""
    path = Path(path)
    fmt = output_format(path)
    start = time.perf_counter() if started is None else started
    data = render.to_pdf(deck) if fmt == "pdf" else render.to_html(deck).encode("utf-8")
    where = files.write_bytes(path, data, example=f"slides.{fmt}")
    return Written(where, fmt, len(data), deck.pages, time.perf_counter() - start)


def make(settings: Settings, path: str | Path, iterations: str | list[int] = DEFAULT_ITERATIONS,
         param: str | None = None) -> tuple[Written, str | None]:
    """Build the deck of ``settings`` and write it: the file written, and a line to say if a PDF became HTML."""
    start = time.perf_counter()
    where, said = fallback(Path(path))
    return write(build(settings, iterations, param), where, start), said


def slides(source: Any = "statquest", iterations: str | list[int] = DEFAULT_ITERATIONS,
           path: str | Path | None = None, *, param: str | None = None, data_dirs: list[str] | None = None,
           **settings: Any) -> Deck:
    """The run as 16:9 slides: the network, the forward table, the pink loss curve, then each iteration in
    three reveals (gradient, step size, new value), from the same run and explainer as the lesson page.

    ``source``: a preset's name, a spec file's path or page ``Settings``; ``iterations``: "1-4", "3" or
    "1,3,5"; ``param``: the trained parameter to step through (default: the first trained one);
    ``settings``: the page's settings on top (``lr=0.3``). With ``path`` ending in .pdf (needs
    ``backproplab[handout]``; without it the HTML deck is written beside it, with a warning) or .html,
    the deck is written there. Returns the deck (its slides, and ``pages``: one per reveal).
    ``bl.slides("statquest", iterations="1-4", path="part3.pdf")``
    """
    run_settings = source_settings(source, data_dirs, **settings)
    if path is None:
        return build(run_settings, iterations, param)
    start = time.perf_counter()
    where, said = fallback(Path(path))
    deck = build(run_settings, iterations, param)
    write(deck, where, start)
    if said:
        warnings.warn(said, stacklevel=2)
    return deck
