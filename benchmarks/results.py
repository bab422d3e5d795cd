"""Each benchmark writes its own section of RESULTS.md, between its two markers, and keeps the rest."""

from __future__ import annotations

import os
from pathlib import Path


def write_section(output: Path, start: str, end: str, lines: list[str]) -> None:
    """Put ``lines`` between ``start`` and ``end`` in ``output`` (added at the end if the markers are
    not there yet); the file is replaced whole, so an interrupted write leaves the old one."""
    text = output.read_text(encoding="utf-8") if output.exists() else "# Benchmark results\n"
    section = "\n".join([start, *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = output.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
