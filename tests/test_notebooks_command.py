"""`backproplab notebooks DIR`: the package ships the series executed, and the command copies it out.

The shipped notebooks (``src/backproplab/lesson/notebooks``, written by ``python docs/gen.py notebooks``)
must be the current ones: their cells are the jupytext sources' cells without the check cells, so
editing ``notebooks/*.py`` without writing them again fails here. They hold their outputs (figures and
numbers) and no error.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest

from backproplab.cli.notebooks import shipped

from .conftest import cli

jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
REGENERATE = "run: python docs/gen.py notebooks"


def _is_check(cell) -> bool:
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


def _read(name: str):
    return nbformat.reads(next(s for s in shipped() if s.name == name).read_text(encoding="utf-8"), as_version=4)


def test_the_package_ships_one_executed_copy_of_each_notebook():
    assert [s.name for s in shipped()] == [f"{p.stem}.ipynb" for p in SOURCES], REGENERATE
    assert len(SOURCES) == 7


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_a_shipped_notebook_is_its_source_without_the_check_cells(path):
    nb = _read(f"{path.stem}.ipynb")
    nbformat.validate(nb)
    expected = [(c.cell_type, c.source) for c in jupytext.read(path).cells if not _is_check(c)]
    assert [(c.cell_type, c.source) for c in nb.cells] == expected, f"{path.stem}.ipynb is stale; {REGENERATE}"
    assert not any(_is_check(c) for c in nb.cells)
    assert not any(re.search(r"\bassert\b", c.source) for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata and "jupytext" not in nb.metadata


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_a_shipped_notebook_holds_its_outputs_and_no_error(path):
    nb = _read(f"{path.stem}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [out for c in code for out in c.outputs]
    assert outputs, f"{path.stem}.ipynb was not executed; {REGENERATE}"
    assert not [o for o in outputs if o.output_type == "error"], path.stem
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # run top to bottom, in order
    text = path.read_text(encoding="utf-8")
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    if "bl.plots." in text:
        assert pngs, f"{path.stem}.ipynb draws figures, but holds none"
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    if "animate_descent" in text:
        gifs = [base64.b64decode(o.data["image/gif"]) for o in outputs if "image/gif" in o.get("data", {})]
        assert gifs and all(g[:6] in (b"GIF87a", b"GIF89a") for g in gifs)


def test_the_shipped_series_is_small():
    size = sum(len(s.read_bytes()) for s in shipped())
    assert 0 < size < 2_000_000, f"the shipped notebooks take {size} bytes"


def test_the_command_copies_the_series_and_the_copies_open(capsys, tmp_path):
    folder = tmp_path / "series"
    code, out, err = cli(capsys, "notebooks", str(folder))
    assert code == 0, err
    assert err.splitlines() == [f"wrote 7 notebooks into {folder}", f"open them with: jupyter lab {folder}"]
    for source in shipped():
        copy = folder / source.name
        assert copy.read_bytes() == source.read_bytes()
        nbformat.validate(nbformat.read(copy, as_version=4))
    assert sorted(p.name for p in folder.iterdir()) == [s.name for s in shipped()]  # no temporary file left


def test_the_command_refuses_an_existing_notebook_without_force(capsys, tmp_path):
    mine = tmp_path / "02-loss-vs-one-parameter.ipynb"
    mine.write_text("my own edits", encoding="utf-8")
    code, _, err = cli(capsys, "notebooks", str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and "02-loss-vs-one-parameter.ipynb" in err and "--force" in err, err
    assert mine.read_text(encoding="utf-8") == "my own edits"
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]  # nothing written before refusing
    code, _, err = cli(capsys, "notebooks", str(tmp_path), "--force", "-q")
    assert code == 0 and err == f"wrote 7 notebooks into {tmp_path}\n"
    assert mine.read_bytes() == next(s for s in shipped() if s.name == mine.name).read_bytes()


def test_the_command_refuses_a_file_for_a_folder(capsys, tmp_path):
    target = tmp_path / "series"
    target.write_text("", encoding="utf-8")
    code, _, err = cli(capsys, "notebooks", str(target))
    assert code == 2 and err.count("\n") == 1 and "is a file" in err, err


def test_the_readme_and_the_docs_name_the_command():
    for page in ("README.md", "docs/notebooks.md"):
        assert "backproplab notebooks " in (ROOT / page).read_text(encoding="utf-8"), page
