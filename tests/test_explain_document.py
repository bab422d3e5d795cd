"""The document model's renderers: one table per format, one renderer per block kind, so a kind
missing from any format is an error rather than a block silently written as a paragraph."""

from __future__ import annotations

import pytest

import backproplab as bl
from backproplab.explain import document
from backproplab.explain.document import BLOCK_KINDS, RENDERERS, Block, Math

RENDER = {  # each format's public renderer, on a list of blocks
    "text": document.to_text,
    "markdown": document.to_markdown,
    "latex": document.to_latex,
    "html": document.to_html,
    "mathjax": document.to_mathjax,
}


def one_of_each() -> dict[str, Block]:
    """A block of every kind, each with words of its own to find in the output."""
    return {
        "heading": Block("heading", ["Headword"]),
        "para": Block("para", ["Paraword ", Math("a = 1", "a = 1")]),
        "lines": Block("lines", lines=[Math("linevar = 2", "linevar = 2")]),
        "note": Block("note", ["Noteword"]),
        "table": Block("table", header=[Math("colvar", "colvar")], rows=[[Math("3", "3")]]),
    }


def test_every_block_kind_has_a_renderer_in_every_format():
    assert set(RENDERERS) == set(RENDER)
    for fmt, renderers in RENDERERS.items():
        assert sorted(renderers) == sorted(BLOCK_KINDS), fmt
    assert sorted(one_of_each()) == sorted(BLOCK_KINDS)


@pytest.mark.parametrize("fmt", sorted(RENDER))
@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_each_kind_renders_its_own_content(fmt, kind):
    block = one_of_each()[kind]
    words = {"heading": "Headword", "para": "Paraword", "lines": "linevar", "note": "Noteword",
             "table": "colvar"}[kind]
    assert words in RENDER[fmt]([block])
    others = [b for k, b in one_of_each().items() if k != kind]
    assert words not in RENDER[fmt](others)


@pytest.mark.parametrize("fmt", sorted(RENDER))
def test_a_kind_with_no_renderer_is_an_error(fmt):
    with pytest.raises(ValueError, match=r"'figure' block has no \w+ renderer"):
        RENDER[fmt]([Block("heading", ["Title"]), Block("figure", ["words"])])


def test_every_block_an_explanation_makes_is_of_a_known_kind():
    net, (x, y) = bl.presets.statquest()
    loss = bl.losses.ssr(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y"))
    made = [*bl.explain(loss, net.w1, lr=0.1).blocks, *bl.explain(loss, net.w1, form="delta").blocks,
            *bl.forward_table(net, x, y, title="Dosage").blocks]
    kinds = {b.kind for b in made}
    assert kinds <= set(BLOCK_KINDS)
    assert {"heading", "para", "lines", "table"} <= kinds
