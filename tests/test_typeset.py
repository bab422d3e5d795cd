"""Maths for print: the LaTeX→Typst converter over every op's LaTeX and every line the explainer writes for the
presets (each compiled by Typst), KaTeX run at build time, and ``explain --format html`` with and without it."""

from __future__ import annotations

import asyncio
import re
from string import Template

import pytest

from backproplab.cli.program import main
from backproplab.engine.ops.table import OPS
from backproplab.explain import RunExplainer, forward_table
from backproplab.explain.document import Block, aligned_lines
from backproplab.lesson import document, typeset
from backproplab.lesson.handout import _entry
from backproplab.lesson.latex_typst import LatexError, latex_to_typst
from backproplab.lesson.settings import Settings
from backproplab.spec.presets import PRESETS

pytest.importorskip("typst")
pytest.importorskip("py_mini_racer")


def op_latex() -> list[str]:
    """Every op's forward, local derivatives and backward rules, as the explainer fills them in."""
    out = []
    for op in OPS.values():
        names = {a: a for a in (*op.args, *op.attrs, "n")}
        out.append(Template(op.expr[1]).safe_substitute(names))
        for k in range(len(op.args)):
            out += [op.rule(k, "latex"), Template(op.backward_rule(k, "latex")).safe_substitute(names)]
    return out


def _from_blocks(blocks: list[Block]) -> list[str]:
    out = []
    for b in blocks:
        maths = [*b.header, *(c for r in b.rows for c in r), *(p for p in b.parts if not isinstance(p, str))]
        out += [m.latex for m in maths if m.latex]
        if b.kind == "lines":
            out.append(aligned_lines(b.lines))
    return out


@pytest.fixture(scope="module")
def explainer_latex() -> list[str]:
    """Every formula the explainer writes for each preset at its first two iterations: each parameter, a
    matrix's first entry, and the forward table."""
    out: set[str] = set()
    for name in PRESETS:
        job, trace = document.run(Settings(preset=name, max_steps=2))
        every = [n for n, _ in job.net.named_parameters()]
        plan = RunExplainer(trace, job.net, every, iterations=[0, 1], requires_grad=every)
        for n in every:
            shape = job.net.parameter(n).data.shape
            for k in range(1, len(trace.iterations) + 1):
                out.update(_from_blocks(plan.explanation(n, k).blocks))
                if shape:
                    out.update(_from_blocks(_entry(job, trace, n, k, (0,) * len(shape), 2).blocks))
        job.net.load_state_dict(trace.iterations[0].params)
        out.update(_from_blocks(forward_table(job.net, job.x, job.y, job.loss).blocks))
    return sorted(out)


def compiles(formulas: list[str]) -> None:
    """All the formulas in one Typst document, which must compile (Typst stops at the first it cannot read)."""
    body = "\n\n".join(f"$ {latex_to_typst(f)} $" for f in formulas)
    pdf = typeset.compile_typst("#set page(width: 60cm, height: auto)\n" + body, {}, "pdf")
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")


def test_every_ops_latex_converts_and_compiles() -> None:
    formulas = op_latex()
    assert len(formulas) > 3 * len(OPS)
    compiles(formulas)


def test_every_line_the_explainer_writes_for_the_presets_converts_and_compiles(explainer_latex) -> None:
    assert len(explainer_latex) > 500  # matrices, cases, fractions, scientific notation, aligned working
    assert any(r"\begin{bmatrix}" in f for f in explainer_latex) and any(r"\frac" in f for f in explainer_latex)
    compiles(explainer_latex)


def test_katex_sets_every_ops_latex_and_the_explainers_displays(explainer_latex) -> None:
    for f in op_latex():
        assert 'class="katex"' in typeset.latex_to_html(f)
    displays = [f for f in explainer_latex if "&" in f][:150]
    for f in displays:
        assert "katex-display" in typeset.latex_to_html(rf"\begin{{aligned}}{f}\end{{aligned}}", display=True)


@pytest.mark.parametrize(("latex", "typst"), [
    (r"\frac{a}{b}", "frac(a, b)"),
    (r"\frac{\partial \mathrm{SSR}}{\partial b_{3}}", 'frac(∂ upright(S S R), ∂ b_3)'),
    (r"a &= 1 \\ &\quad + {-2} \times 1", 'a & = 1 \\ & quad "" + - 2 times 1'),
    (r"{x + 1}^{2}", "(x + 1)^2"),
    (r"{(y_{i} - \hat{y}_{i})}^{2}", "( y_i - hat(y)_i )^2"),
    (r"\sqrt{a, b}", "sqrt(a \\, b)"),
    (r"\text{step size} &= 0.1", '"step size" & = 0.1'),
    (r"\operatorname{leaky\_relu}(z)", 'op("leaky_relu") ( z )'),
    (r"\begin{cases} 1 & z > 0 \\ 0 & z \leq 0 \end{cases}", "cases(1 & z > 0, 0 & z <= 0)"),
    (r"2/\pi", "2 \\/ π"),
])
def test_the_converter_writes_typst_for_each_construct(latex: str, typst: str) -> None:
    assert re.sub(r"\s+", " ", latex_to_typst(latex)) == typst


@pytest.mark.parametrize("latex", [r"\unknowncommand{x}", r"\frac{a}{b", r"\begin{tabular}{r} 1 \end{tabular}"])
def test_latex_outside_the_subset_is_refused_in_one_line(latex: str) -> None:
    with pytest.raises(LatexError) as info:
        latex_to_typst(latex)
    assert "\n" not in str(info.value) and "Typst" in str(info.value)


def test_katex_refuses_bad_latex_in_one_line() -> None:
    with pytest.raises(typeset.TypesetError, match="cannot typeset"):
        typeset.latex_to_html(r"\frac{a}{")


def test_the_katex_stylesheet_carries_its_fonts() -> None:
    css = typeset.katex_css()
    assert "url(fonts/" not in css and css.count("data:font/woff2;base64,") >= 10


def test_compile_typst_makes_pdf_and_a_png_per_page_and_refuses_what_it_cannot() -> None:
    dot = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="4"/></svg>'
    pages = typeset.compile_typst('A\n#pagebreak()\nB #image("dot.svg", width: 1cm)', {"dot.svg": dot}, "png", ppi=20)
    assert isinstance(pages, list) and len(pages) == 2 and all(p.startswith(b"\x89PNG") for p in pages)
    with pytest.raises(typeset.TypesetError, match="unknown Typst output"):
        typeset.compile_typst("x", {}, "docx")
    with pytest.raises(typeset.TypesetError, match="beside the document"):
        typeset.compile_typst("x", {"../outside.typ": b""})
    with pytest.raises(typeset.TypesetError, match="cannot compile"):
        typeset.compile_typst("#nosuchfunction()")


def test_explain_html_typesets_its_maths_at_build_time(capsys) -> None:
    assert main(["explain", "statquest", "--param", "b3", "--iteration", "2", "--format", "html"]) == 0
    out, err = capsys.readouterr()
    assert 'class="katex"' in out and "<script" not in out and "data:font/woff2" in out
    assert "pip install" not in err


def test_explain_html_without_the_extra_is_todays_output_and_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(typeset, "missing", lambda: ["typst", "mini-racer"])
    assert main(["explain", "statquest", "--param", "b3", "--format", "html"]) == 0
    out, err = capsys.readouterr()
    assert 'class="katex"' not in out and "<pre>" in out
    assert err.strip().count("\n") == 0 and typeset.INSTALL in err


def test_katex_keeps_working_after_the_asyncio_loop_it_was_first_used_in_ends() -> None:
    typeset._katex.cache_clear()  # a fresh engine, first used where a loop runs (a server, Playwright)

    async def first() -> str:
        return typeset.latex_to_html("x^2")

    assert 'class="katex"' in asyncio.run(first())
    assert 'class="katex"' in typeset.latex_to_html("y")  # the loop has ended; the engine has its own
