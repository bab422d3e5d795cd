"""Each benchmark writes its own section of RESULTS.md, between its two markers, and keeps the rest."""

from __future__ import annotations

import argparse
import os
import platform
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


def source_trees(parser: argparse.ArgumentParser, given: list[str]) -> list[tuple[str, str]]:
    """The ``--tree LABEL=SRC`` options as (label, absolute SRC); a SRC without backproplab/ is a usage error."""
    trees = []
    for item in given:
        label, sep, src = item.partition("=")
        if not sep or not Path(src, "backproplab").is_dir():
            parser.error(f"--tree wants LABEL=SRC, SRC a folder holding backproplab/; got {item!r}")
        trees.append((label, str(Path(src).resolve())))
    return trees


def load_note(before: float, after: float) -> str:
    """The one-minute load average around a measurement, which says how busy the shared machine was."""
    return f"The machine's one-minute load average was {before:.1f} at the start, {after:.1f} at the end."


def measured_on(command: str) -> str:
    """The opening of a results section: the command, and the machine it ran on (shared, so noisy)."""
    return (f"Measured with `{command}` on {platform.machine()}, CPython {platform.python_version()}, "
            f"{os.cpu_count()} cores shared with other work (noisy)")
