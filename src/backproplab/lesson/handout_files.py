"""Writing handouts: the file's suffix chooses PDF, HTML or Markdown; a worksheet and a key sit beside it.

``part3.pdf`` with a worksheet and a key asked for gives ``part3-worksheet.pdf`` and ``part3-key.pdf``,
so one command prints a class set. A PDF needs the ``handout`` extra; without it the same pages are
written as HTML and the caller is told, in one line, how to get the PDF.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backproplab.lesson import handout_html, handout_typst
from backproplab.lesson.export import source_settings
from backproplab.lesson.handout import Handout, HandoutError, build
from backproplab.lesson.handout_compare import with_compare
from backproplab.lesson.settings import Settings
from backproplab.lesson.typeset import INSTALL, available
from backproplab.util import files

SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".md": "md"}


@dataclass(frozen=True)
class Written:
    """One file written: where, which kind (handout, worksheet, key), its size and how long it took."""

    path: Path
    kind: str
    size: int
    seconds: float


def kinds(worksheet: bool, key: bool) -> list[str]:
    """The handout itself, or the worksheet and/or the key asked for."""
    return [k for k, asked in (("worksheet", worksheet), ("key", key)) if asked] or ["handout"]


def target(path: Path, kind: str) -> Path:
    return path if kind == "handout" else path.with_name(f"{path.stem}-{kind}{path.suffix}")


def output_format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise HandoutError(f"cannot write a handout as {path.name!r}: end the file name in .pdf, .html or .md")
    return fmt


def fallback(path: Path) -> tuple[Path, str | None]:
    """The path to write and, for a PDF without the extra, the line that says it became HTML and why."""
    if output_format(path) == "pdf" and not available():
        html = path.with_suffix(".html")
        return html, f"wrote HTML instead of a PDF ({html.name}); for the PDF: {INSTALL}"
    return path, None


def render(h: Handout, kind: str, fmt: str) -> bytes:
    if fmt == "pdf":
        return handout_typst.pdf(h, kind)
    if fmt == "html":
        return handout_html.page(h, kind).encode("utf-8")
    return handout_html.markdown(h, kind).encode("utf-8")


def write(h: Handout, path: str | Path, worksheet: bool = False, key: bool = False) -> list[Written]:
    """Write the handout (or its worksheet and key) to ``path``; each file replaced only once complete."""
    path = Path(path)
    fmt = output_format(path)
    out = []
    for kind in kinds(worksheet, key):
        start = time.perf_counter()
        data = render(h, kind, fmt)
        where = files.write_bytes(target(path, kind), data, example=f"handout.{fmt}")
        out.append(Written(where, kind, len(data), time.perf_counter() - start))
    return out


def make(settings: Settings, path: str | Path, iterations: str | list[int] = "1", params: list[str] | None = None,
         worksheet: bool = False, key: bool = False, digits: int = 2,
         compare: Sequence[str] | None = None) -> tuple[list[Written], str | None]:
    """Build the handout of ``settings`` and write it: the files written, and a line to say if a PDF became HTML."""
    where, said = fallback(Path(path))
    h = with_compare(build(settings, iterations, params, digits), settings, compare, digits)
    return write(h, where, worksheet, key), said


def handout(source: str | Path | Settings = "statquest", path: str | Path | None = None, *,
            iterations: str | list[int] = "1", params: list[str] | str | None = None, worksheet: bool = False,
            key: bool = False, digits: int = 2, data_dirs: list[str] | None = None,
            compare: Sequence[str] | None = None, **settings: Any) -> str | list[Path]:
    """A printable handout of the run: Part 1 the forward pass, Part 2 the pink loss curve, Part 3 each
    iteration's chain rule and step with the green predictions, Part 4 the other parameters' gradients.

    A class works on paper from the same numbers the page and the terminal show, so this is built from
    the same run and explainer. ``path`` ending in .pdf (needs ``backproplab[handout]``; else HTML is
    written), .html or .md; ``worksheet``/``key`` write ``NAME-worksheet`` and ``NAME-key`` beside it.
    ``compare`` adds runs side by side (``["lr=0.1", "lr=0.34"]``): their steps on one loss curve, their
    numbers in one table. Returns the files written, or without ``path`` the handout's HTML.
    ``bl.handout("statquest", "part3.pdf", iterations="1-3", params=["b3", "w1"], worksheet=True, key=True)``
    """
    chosen = params.split(",") if isinstance(params, str) else params
    run_settings = source_settings(source, data_dirs, **settings)
    if path is None:
        h = with_compare(build(run_settings, iterations, chosen, digits), run_settings, compare, digits)
        return handout_html.page(h, kinds(worksheet, key)[0])
    written, said = make(run_settings, path, iterations, chosen, worksheet, key, digits, compare)
    if said:
        warnings.warn(said, stacklevel=2)
    return [w.path for w in written]
