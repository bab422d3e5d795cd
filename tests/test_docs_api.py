"""The API reference (docs/api.md) has an entry for every name in ``backproplab.__all__``, and each entry
is the object ``bl`` gives under that name, so a new public name cannot go undocumented.

A name counts as documented when it is the last part of a ``::: target`` line, a name in that entry's
``members: [...]`` option, or a row of the dtype table (``| `bl.float32` | ...``), which mkdocstrings
cannot render from the tuple assignment that defines them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backproplab as bl

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"
TARGET = re.compile(r"^::: *([\w.]+)[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n(?=[ \t]+\S))*)", re.MULTILINE)
MEMBERS = re.compile(r"members:\s*\[([^\]]*)\]")
DTYPE_ROW = re.compile(r"^\| `bl\.(\w+)` \|", re.MULTILINE)


def documented(text: str) -> dict[str, tuple[str, str | None]]:
    """Each documented name, with the ``:::`` target it comes from and its member name (None: the target)."""
    names: dict[str, tuple[str, str | None]] = {}
    for target, options in TARGET.findall(text):
        names[target.rsplit(".", 1)[-1]] = (target, None)
        for listed in MEMBERS.findall(options):
            for member in (m.strip() for m in listed.split(",")):
                if member:
                    names[member] = (target, member)
    return names


def resolve(target: str) -> Any:
    """The object a dotted ``:::`` target names: the longest importable module, then attributes."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ModuleNotFoundError(target)


@pytest.fixture(scope="module")
def text() -> str:
    return API.read_text(encoding="utf-8")


def test_the_parser_reads_targets_members_and_dtype_rows():
    sample = ("::: pkg.mod.Thing\n\n::: pkg.sub\n    options:\n      members: [a, b,\n        c]\n\n"
              "| `bl.float32` | x |\n::: pkg.other\n")
    assert documented(sample) == {"Thing": ("pkg.mod.Thing", None), "sub": ("pkg.sub", None),
                                  "a": ("pkg.sub", "a"), "b": ("pkg.sub", "b"), "c": ("pkg.sub", "c"),
                                  "other": ("pkg.other", None)}
    assert DTYPE_ROW.findall(sample) == ["float32"]


def test_every_public_name_has_an_entry(text):
    names = set(documented(text)) | set(DTYPE_ROW.findall(text))
    missing = sorted(set(bl.__all__) - names)
    assert not missing, f"docs/api.md has no entry for: {', '.join(missing)}"


def test_each_entry_is_the_object_bl_gives(text):
    wrong = []
    for name, (target, member) in documented(text).items():
        if name not in bl.__all__:
            continue
        obj = resolve(target)
        if member is not None:
            obj = getattr(obj, member)
        if obj is not getattr(bl, name):
            wrong.append(f"{name} ({target})")
    assert not wrong, f"docs/api.md documents another object than bl gives for: {', '.join(wrong)}"


def test_each_dtype_row_is_the_numpy_type(text):
    for name in DTYPE_ROW.findall(text):
        assert getattr(bl, name) is getattr(np, name)
