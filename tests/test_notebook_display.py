"""How an explanation shows in a notebook: one HTML output that carries every formula twice,
as Unicode and as TeX, and CSS that shows the TeX only inside hosts that typeset HTML outputs
with MathJax (JupyterLab, Notebook 7, classic Notebook). Checked on the HTML and, for what a
reader sees, in Debian's chromium."""

from __future__ import annotations

import html
import os
import re

import pytest

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.explain.document import Math
from tests.host_helpers import chromium
from tests.test_explain import dosage_loss

CHROMIUM = os.environ.get("BACKPROPLAB_CHROMIUM", "/usr/bin/chromium")


def dosage_explanation(name: str = "w1"):
    net, loss = dosage_loss()
    return bl.explain(loss, dict(net.named_parameters())[name])


def formulas(exp) -> list[Math]:
    found = []
    for b in exp.blocks:
        found += [p for p in b.parts if isinstance(p, Math)] + b.header + [c for r in b.rows for c in r]
    return found


def documents():
    net, (x, y) = bl.presets.statquest()
    return [dosage_explanation("b3"), dosage_explanation("w1"), bl.forward_table(net, x, y)]


@pytest.mark.parametrize("which", range(3))
def test_the_notebook_html_carries_every_formula_as_unicode_and_as_tex(which):
    exp = documents()[which]
    page = exp._repr_html_()
    uni = re.findall(r'<span class="bpl-uni">(.*?)</span>', page)
    tex = [html.unescape(t) for t in re.findall(r'<span class="bpl-tex">\\\((.*?)\\\)</span>', page, re.S)]
    inline = formulas(exp)
    assert len(uni) == len(tex) == len(inline)
    assert tex == [m.latex for m in inline]
    assert uni == [html.escape(m.text).replace("\n", "<br>") for m in inline]
    displayed = [html.unescape(t) for t in re.findall(r"\\\[\\begin\{aligned\}(.*?)\\end\{aligned\}\\\]", page, re.S)]
    working = [b for b in exp.blocks if b.kind == "lines"]
    assert len(displayed) == len(working) == page.count('<pre class="bpl-uni">')
    assert inline or working
    md = exp.to_markdown()  # the same TeX as the Markdown a notebook would typeset
    for block in displayed:
        assert block.replace("<", r"\lt ").replace(">", r"\gt ") in md
    assert "<script" not in page and "http" not in page


def test_the_tex_is_hidden_outside_a_typesetting_host_and_shown_inside():
    page = dosage_explanation()._repr_html_()
    assert ".bpl .bpl-tex{display:none}" in page
    for host in (".jp-RenderedHTMLCommon", ".rendered_html"):
        assert f"{host} .bpl .bpl-tex" in page and f"{host} .bpl .bpl-uni" in page
    plain = dosage_explanation().to_html()  # a file or the terminal's --format html: Unicode only
    assert "bpl-tex" not in plain and "\\frac" not in plain


def test_hostile_names_stay_text_in_the_notebook_html():
    from backproplab.nn import Module, Parameter

    class Line(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(0.7, name='<img src=x onerror=alert(1)>$\\input{x}$')

        def forward(self, x):
            return self.w * x

    net = Line()
    loss = losses.ssr(net(Tensor([0.0, 0.5, 1.0], name="x")), Tensor([0.0, 1.0, 0.0], name="y"))
    page = bl.explain(loss, net.w)._repr_html_()
    assert "<img" not in page and "&lt;img" in page
    for t in re.findall(r'class="bpl-tex">(.*?)</(?:span|div)>', page, re.S):
        assert "<" not in t and not re.search(r"(?<!\\)\\input\b", html.unescape(t))


@pytest.fixture(scope="module")
def page():
    pytest.importorskip("playwright")
    for browser in chromium("the display's browser test"):
        yield browser.new_page()


def test_a_reader_sees_unicode_in_a_plain_host_and_tex_in_a_jupyter_host(page):
    out = dosage_explanation()._repr_html_()
    page.set_content(f'<div id="plain">{out}</div><div id="lab" class="jp-RenderedHTMLCommon">{out}</div>')
    plain, lab = page.inner_text("#plain"), page.inner_text("#lab")
    assert "dSSR/dw1 = Σ_i" in plain and "= 7.34" in plain and "\\frac" not in plain
    assert "\\frac{\\partial \\mathrm{SSR}}{\\partial w_{1}}" in lab and "Σ_i" not in lab and "7.34" in lab
