"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, and its own asserts pass.

The notebooks are kept as jupytext percent-format ``.py`` files (readable diffs); here each is
converted to a notebook and executed with nbclient, as a learner would run it. A cell whose
assert fails fails this test with the cell's traceback. Figures must display themselves (an
``image/png`` output) without pyplot, so the notebooks never import pyplot.

A notebook is a lesson: prose, short cells and figures. Its checks (asserts, reading a figure's
lines back, comparing with numbers worked out by hand) sit in cells of their own, tagged
``remove-cell``, each right after the cell it checks. They run here with the rest, and the
documentation's series pages leave them out.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
CELL_TIMEOUT = 60  # seconds; each notebook is meant to run in a few
CHECK_TAG = "remove-cell"
TEST_CODE = re.compile(r"\bassert\b|assert_|np\.testing|\b(?:is|all)close\(|array_equal|get_gid|get_lines|get_data|"
                       r"get_[xy]data|get_paths|\.collections\b|\.lines\b")


def test_the_series_is_all_there():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == ["01", "02", "03", "04", "05", "06", "07"], names


def _outputs(nb) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def _is_check(cell) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_its_asserts_pass(path, tmp_path, gen):
    nb = jupytext.read(path)
    text = path.read_text(encoding="utf-8")
    assert "assert " in text, f"{path.name} asserts nothing: a wrong number would not fail"
    assert "pyplot" not in text and "%matplotlib" not in text, f"{path.name}: figures must display without pyplot"
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any failure
    outputs = _outputs(nb)
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors
    bundles = [o.get("data", {}) for o in outputs]
    if "bl.plots." in text:
        shown = [b for b in bundles if "image/png" in b]
        assert shown, f"{path.name} draws figures, but none displayed itself as an image"
    if "bl.explain(" in text:  # an explanation displays as typeset math, with HTML beside it
        assert any("\\frac" in b.get("text/latex", "") and "text/html" in b for b in bundles), path.name
    if "\ntrace\n" in text:  # a trace displays its table and a loss sparkline
        assert any("<table" in b.get("text/html", "") and "<svg" in b.get("text/html", "") for b in bundles)
    _the_page_is_the_lesson(gen, nb, path.stem)


def _the_page_is_the_lesson(gen, nb, stem: str) -> None:
    """The series page shows every lesson cell and its outputs, and no check cell nor what one printed."""
    page = gen.notebook_markdown(nb, stem, {})
    assert not re.search(r"\bassert\b", page), f"{stem}: a check reached the page"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if _is_check(cell):
            assert cell.source.strip() not in page, f"{stem}: a check cell is on the page:\n{cell.source}"
            printed = [line for out in cell.get("outputs", []) if out.get("output_type") == "stream"
                       for line in "".join(out.get("text", "")).splitlines() if line.strip()]
            assert not [line for line in printed if line in page], f"{stem}: a check's output is on the page"
        else:
            assert cell.source.rstrip() in page, f"{stem}: a lesson cell is missing from the page:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_its_ipynb_twin_with_the_same_cells_and_no_outputs(path):
    """The .ipynb a learner opens must say what the tested .py says (run `jupytext --sync notebooks/*.py`)."""
    import nbformat

    twin = path.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} is missing; run: jupytext --to ipynb {path.name}"
    stored = nbformat.read(twin, as_version=4)
    expected = jupytext.read(path)
    assert [(c.cell_type, c.source) for c in stored.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"{twin.name} differs from {path.name}; run: jupytext --sync {path.name}"
    assert not any(c.get("outputs") for c in stored.cells if c.cell_type == "code"), f"{twin.name} keeps outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_cells_hold_no_test_code(path):
    """A learner reads prose, a short cell and a figure; asserts and figure internals live in check cells."""
    cells = [c for c in jupytext.read(path).cells if c.cell_type == "code" and not _is_check(c)]
    found = [(m.group(0), c.source) for c in cells for m in [TEST_CODE.search(c.source)] if m]
    assert not found, f"{path.name}: test code in a lesson cell (move it to a '{CHECK_TAG}' cell): {found[0]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_check_cell_asserts_right_after_the_cell_it_checks(path):
    cells = jupytext.read(path).cells
    checks = [k for k, c in enumerate(cells) if _is_check(c)]
    assert checks, f"{path.name} has no '{CHECK_TAG}' cell: a wrong number would not fail"
    for k in checks:
        cell = cells[k]
        assert cell.cell_type == "code" and re.search(r"\bassert\b|assert_", cell.source), \
            f"{path.name}: a '{CHECK_TAG}' cell checks nothing:\n{cell.source}"
        before = cells[k - 1]
        assert k > 0 and before.cell_type == "code" and not _is_check(before), \
            f"{path.name}: a check cell must follow the lesson cell it checks:\n{cell.source}"


def _names(source: str, context: type) -> set[str]:
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}
    if context is ast.Store:
        names |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        names |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_lesson_runs_without_its_check_cells(path):
    """No lesson cell uses a name that only a check cell defines, so skipping the checks loses nothing."""
    lesson, checks = set(dir(builtins)), set()
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code":
            continue
        if _is_check(cell):
            checks |= _names(cell.source, ast.Store)
            continue
        lesson |= _names(cell.source, ast.Store)
        needed = _names(cell.source, ast.Load) & checks - lesson
        assert not needed, f"{path.name}: the lesson needs {sorted(needed)} from a check cell:\n{cell.source}"
