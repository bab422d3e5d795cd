"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, and its own asserts pass.

The notebooks are kept as jupytext percent-format ``.py`` files (readable diffs); here each is
converted to a notebook and executed with nbclient, as a learner would run it. A cell whose
assert fails fails this test with the cell's traceback. Figures must display themselves (an
``image/png`` output) without pyplot, so the notebooks never import pyplot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.py"))
CELL_TIMEOUT = 60  # seconds; each notebook is meant to run in a few


def test_the_series_is_all_there():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == ["01", "02", "03", "04", "05", "06", "07"], names


def _outputs(nb) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_its_asserts_pass(path, tmp_path):
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
