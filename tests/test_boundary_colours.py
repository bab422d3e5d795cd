"""A decision boundary's classes have one pair of colours: the figure's, which the page takes from the document."""

from __future__ import annotations

from matplotlib.colors import to_hex

import backproplab as bl
from backproplab import datasets, plots
from backproplab.lesson.export import export
from backproplab.plots.boundary import CLASS_COLOURS
from tests.test_export_runs import documents
from tests.test_web_browser import Page


def test_the_figure_colours_each_class_as_the_document_says():
    X, y = datasets.make("xor", n=40, seed=1)
    fig = plots.decision_boundary(bl.MLP([2, 4, 1], "tanh", seed=0), X, y)
    points = [c for c in fig.axes[0].collections if c.get_gid() == "data"]
    drawn = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in points}
    assert drawn == {"class 0": CLASS_COLOURS[0], "class 1": CLASS_COLOURS[1]}


def test_the_page_colours_each_class_as_the_figure_does(browser, tmp_path):
    html = export("xor")
    doc = documents(html)[0]
    assert (doc["colours"]["class0"], doc["colours"]["class1"]) == CLASS_COLOURS[:2]
    path = tmp_path / "xor.html"
    path.write_text(html, encoding="utf-8")
    p = Page(browser, offline=True).open(path.as_uri())
    try:
        labels = [int(round(float(v[0] if isinstance(v, list) else v))) for v in doc["trace"]["data"]["y"]]
        fills = p.page.eval_on_selector_all("#predictions > circle", "cs => cs.map(c => c.getAttribute('fill'))")
        assert fills[:len(labels)] == [CLASS_COLOURS[k] for k in labels]
        assert p.page.query_selector_all("#predictions .heat rect") and p.errors == []
    finally:
        p.close()
