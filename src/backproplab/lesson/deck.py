"""The deck written out: a PDF through Typst (templates/slides.typ) and ONE offline HTML file.

The HTML deck presents itself with its own few dozen lines of script (templates/deck.js), not reveal.js:
it needs no third-party script to vendor, audit and keep up to date; its maths is the handout's,
KaTeX run here at build time (``typeset.latex_to_html``), so the file runs no maths script at all;
and its slides are the PDF's own model, so a reveal in the browser is a page of the PDF. What a talk
needs (next and back by reveal, first and last, a counter, focus, a link to a page) is all it does.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any, cast

from backproplab.explain.document import Math, aligned_lines
from backproplab.lesson import typeset
from backproplab.lesson.slide_content import Deck, Reveal, Slide
from backproplab.lesson.slide_figures import curve_svg, network_svg
from backproplab.plots.base import PINK

FIGURE_SHARE = {"network": 1.0, "curve": 0.58}  # of a slide's width: beside its words, or (1) above them
MAIN = '#import "slides.typ": deck\n#deck(json("deck.json"))\n'


def _template(name: str) -> str:
    """The deck's own style and script (templates/, beside the Typst template): the lesson page's are not its."""
    return resources.files("backproplab.lesson").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def figure_svg(slide: Slide) -> str:
    """The slide's figure as SVG ('' if it has none)."""
    f = slide.figure
    if "network" in f:
        return network_svg(f["network"], f["values"], f["trained"])
    if "curve" in f:
        return curve_svg(f["curve"], f["param"], f["loss"], f["points"])
    return ""


def aligned(lines: list[Math]) -> str:
    """The lines as one LaTeX ``aligned`` block, lined up at '=' ('' if a line has no LaTeX: it is words)."""
    if not lines or not all(m.latex for m in lines):
        return ""
    return r"\begin{aligned}" + aligned_lines(lines) + r"\end{aligned}"


def _counter(i: int, n: int) -> str:
    return f"{i} / {n}"


# --- PDF ------------------------------------------------------------------------------------------------------
def _typst_reveal(r: Reveal) -> dict[str, Any]:
    latex = aligned(r.maths)
    return {"words": r.words, "text": [] if latex else [m.text for m in r.maths],
            "maths": typeset.latex_to_typst(latex) if latex else ""}


def typst_data(deck: Deck, figures: dict[int, str]) -> dict[str, Any]:
    """The deck as the template reads it: one entry per page, each saying how many reveals it shows."""
    pages = []
    for i, slide in enumerate(deck.slides, start=1):
        reveals = [_typst_reveal(r) for r in slide.reveals]
        table = None
        if slide.table is not None:
            table = {"corner": slide.table.corner, "columns": slide.table.columns,
                     "rows": [[label, cells] for label, cells in slide.table.rows]}
        for shown in range(1, slide.pages + 1):
            pages.append({"title": slide.title, "counter": _counter(i, len(deck.slides)), "shown": shown,
                          "reveals": reveals, "table": table, "figure": f"figure-{i}.svg" if i in figures else "",
                          "figure-share": FIGURE_SHARE.get(slide.kind, 0.5), "figure-alt": slide.figure.get("alt", "")})
    return {"title": deck.title, "pages": pages}


def typst_files(deck: Deck) -> dict[str, bytes]:
    """Everything Typst compiles the deck from: the template, the deck's data and its figures."""
    figures = {i: svg for i, s in enumerate(deck.slides, start=1) if (svg := figure_svg(s))}
    files = {"slides.typ": typeset.template("slides.typ"),
             "deck.json": json.dumps(typst_data(deck, figures), ensure_ascii=False).encode("utf-8")}
    files.update({f"figure-{i}.svg": svg.encode("utf-8") for i, svg in figures.items()})
    return files


def to_pdf(deck: Deck) -> bytes:
    """The deck as a PDF: one 16:9 page per reveal."""
    return cast(bytes, typeset.compile_typst(MAIN, typst_files(deck), fmt="pdf"))


def to_png(deck: Deck, ppi: float = 60.0) -> list[bytes]:
    """Each page as a PNG, to look at."""
    out = typeset.compile_typst(MAIN, typst_files(deck), fmt="png", ppi=ppi)
    return out if isinstance(out, list) else [out]


# --- HTML -----------------------------------------------------------------------------------------------------
def _maths_html(lines: list[Math], typeset_maths: bool) -> str:
    latex = aligned(lines)
    if latex and typeset_maths:
        return f'<div class="maths">{typeset.latex_to_html(latex, display=True)}</div>'
    return "".join(f'<p class="line">{escape(m.text)}</p>' for m in lines)


def _reveal_html(j: int, r: Reveal, typeset_maths: bool) -> str:
    words = f'<p class="words">{escape(r.words)}</p>' if r.words else ""
    what = f' data-what="{escape(r.what)}"' if r.what else ""
    return (f'<div class="reveal" data-reveal="{j}"{what}>{words}{_maths_html(r.maths, typeset_maths)}</div>')


def _table_html(slide: Slide) -> str:
    t = slide.table
    if t is None:
        return ""
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in t.columns)
    rows = "".join(f'<tr><th scope="row">{escape(label)}</th>' + "".join(f"<td>{escape(c)}</td>" for c in cells)
                   + "</tr>" for label, cells in t.rows)
    return (f'<table class="forward"><thead><tr><th scope="col">{escape(t.corner)}</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _slide_html(i: int, n: int, slide: Slide, typeset_maths: bool) -> str:
    svg = figure_svg(slide)
    figure = (f'<figure class="slide-figure" role="img" aria-label="{escape(slide.figure.get("alt", ""))}">'
              f"{svg}</figure>" if svg else "")
    reveals = "".join(_reveal_html(j, r, typeset_maths) for j, r in enumerate(slide.reveals, start=1))
    share = FIGURE_SHARE.get(slide.kind, 0.5)
    body_class = "slide-body" + ((" figure-above" if share >= 1 else " has-figure") if svg else "")
    width = f' style="--figure: {share * 100:g}%"' if svg and share < 1 else ""
    return (f'<section class="slide kind-{slide.kind}" id="slide-{i}" aria-roledescription="slide" '
            f'aria-label="{i} of {n}: {escape(slide.title)}" data-reveals="{slide.pages}" hidden>'
            f'<h1 class="slide-title">{escape(slide.title)}</h1>'
            f'<div class="{body_class}"{width}>{figure}{_table_html(slide)}<div class="reveals">{reveals}</div></div>'
            "</section>")


def to_html(deck: Deck) -> str:
    """The deck as one HTML file that loads nothing: styles, KaTeX's fonts, figures and script inlined."""
    maths = typeset.available()
    n = len(deck.slides)
    slides = "".join(_slide_html(i, n, s, maths) for i, s in enumerate(deck.slides, start=1))
    katex = f"<style>{typeset.katex_css()}</style>" if maths else ""
    script = _template("deck.js").replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(deck.title)}</title>
{katex}<style>:root {{ --pink: {PINK}; }}
{_template("deck.css")}</style>
</head>
<body>
<main id="deck" tabindex="-1" aria-roledescription="slide deck" aria-label="{escape(deck.title)}">
{slides}
<nav class="chrome" aria-label="slides">
<button type="button" id="prev" aria-label="back one step">&#8592;</button>
<span id="counter" class="counter">{_counter(1, n)}</span>
<button type="button" id="next" aria-label="next step">&#8594;</button>
</nav>
<p id="status" class="status" aria-live="polite"></p>
</main>
<script>{script}</script>
</body>
</html>
"""
