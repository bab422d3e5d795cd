"""The handout as one printable HTML page (maths set by KaTeX at build time) and as Markdown.

The HTML needs no script to read: KaTeX runs here (:func:`typeset.latex_to_html`) and its
stylesheet, fonts inlined, travels in the page. Without the ``handout`` extra the maths is the
explainer's Unicode form, which reads the same in the terminal. Print rules start each iteration
on a new page and keep tables, figures and lines of working whole.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from backproplab.explain.document import Block, Math, aligned_lines, md_math
from backproplab.lesson.handout import Answers, Figure, Handout, Table, Working
from backproplab.lesson.typeset import available, katex_css, latex_to_html

STYLE = """
body{font-family:Georgia,'Times New Roman',serif;color:#1f2328;max-width:48rem;margin:1.5rem auto;padding:0 1rem;
line-height:1.45}
h1{font-size:1.7rem;margin:0}.subtitle{color:#59636e;margin:.2rem 0 1.2rem}
h2{font-size:1.3rem;margin:1.6rem 0 .6rem}h3{font-size:1.05rem;margin:1rem 0 .3rem}
.lines{margin:.6rem 0;overflow-x:auto}.lines pre{white-space:pre-wrap;margin:0;font-size:.95rem}
.note{border-left:3px solid #d4a72c;padding-left:.6em;color:#5a4a00;font-size:.85rem}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}th,td{padding:.25em .45em;text-align:right;
border-bottom:1px solid #d0d7de;vertical-align:middle}th{border-bottom:1.5px solid #59636e;font-weight:normal}
table.words td,table.words th{text-align:left}
figure{margin:.8rem auto;text-align:center}figure svg{max-width:100%;height:auto}
figcaption{font-size:.8rem;color:#59636e}
.room{height:4.5rem}.sketch{width:80%;height:16rem;margin:0 auto;border:1px solid #59636e;border-radius:4px}
.blank{display:inline-block;min-width:4.5em;height:1.4em;border:1px solid #59636e;border-radius:3px;
vertical-align:middle}td .blank{min-width:3em}
.answer{background:#fff4c2;border:1px solid #b08800;border-radius:3px;padding:0 .25em}
.answers{margin:.6rem 0 .8rem;text-align:center}.answers div{margin:.3rem 0}
footer{margin-top:2rem;color:#59636e;font-size:.8rem}
@media print{
 @page{size:A4;margin:14mm}
 body{max-width:none;margin:0;padding:0;font-size:10.5pt}
 section.new-page{break-before:page}
 figure,table,.lines,.answers{break-inside:avoid}
 h2,h3{break-after:avoid}
 .lines{overflow:visible}
 footer{display:none}
}
"""


class _Maths:
    """Formulas as KaTeX's HTML where the extra is here, else as the explainer's Unicode."""

    def __init__(self, katex: bool) -> None:
        self.katex = katex

    def inline(self, m: Math) -> str:
        if self.katex and m.latex:
            return latex_to_html(m.latex)
        return f'<span class="math">{html.escape(m.text)}</span>'

    def lines(self, lines: list[Math]) -> str:
        if self.katex:
            return latex_to_html(rf"\begin{{aligned}}{aligned_lines(lines)}\end{{aligned}}", display=True)
        return "<pre>" + "\n".join(html.escape(line.text) for line in lines) + "</pre>"


def _parts(items: list[Any], maths: _Maths) -> str:
    return "".join(html.escape(p) if isinstance(p, str) else maths.inline(p) for p in items)


def _block(b: Block, maths: _Maths) -> str:
    if b.kind == "heading":
        return f"<h3>{_parts(b.parts, maths)}</h3>"
    if b.kind == "note":
        return f'<p class="note">Note: {_parts(b.parts, maths)}</p>'
    if b.kind == "lines":
        return f'<div class="lines">{maths.lines(b.lines)}</div>'
    if b.kind == "table":
        return _table(Table(b.header, [list(r) for r in b.rows]), "handout", {}, maths)
    return f"<p>{_parts(b.parts, maths)}</p>"


def _answer(blank: Any, kind: str, maths: _Maths) -> str:
    if kind == "worksheet":
        return f'<span class="blank" role="img" aria-label="box: {html.escape(blank.label)}"></span>'
    value = maths.inline(Math(blank.shown, blank.latex))
    return f'<span class="answer">{value}</span>' if kind == "key" else value


def _table(t: Table, kind: str, blanks: dict[str, Any], maths: _Maths) -> str:
    def cell(c: Math | str) -> str:
        if isinstance(c, str):
            return _answer(blanks[c], kind, maths)
        return html.escape(c.text) if t.words else maths.inline(c)

    head = "".join(f"<th>{cell(c)}</th>" for c in t.header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    words = ' class="words"' if t.words else ""
    return f"<table{words}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(f: Figure, kind: str = "handout") -> str:
    if kind == "worksheet":
        if f.blank_svg is None:
            return f'<figure><div class="sketch"></div><figcaption>{html.escape(f.blank_caption)}</figcaption></figure>'
        f = Figure(f.name, f.blank_svg, f.blank_caption or f.caption, width=f.width)
    svg = f.svg.decode("utf-8")
    svg = svg[svg.index("<svg"):]  # the XML prologue and doctype cannot sit inside HTML
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)  # the viewBox scales it
    return (f'<figure><div style="width:{f.width}%;margin:0 auto">{svg}</div>'
            f"<figcaption>{html.escape(f.caption)}</figcaption></figure>")


def _displayed(lhs: Math | None) -> Math:
    """What an answer stands for, set as large as in a displayed line (a full-size fraction)."""
    lhs = lhs or Math("", "")
    return Math(lhs.text, rf"\displaystyle {lhs.latex}" if lhs.latex else "")


def _item(item: Any, kind: str, h: Handout, maths: _Maths) -> str:
    if isinstance(item, Figure):
        return _figure(item, kind)
    if isinstance(item, Table):
        return _table(item, kind, h.blanks, maths)
    if isinstance(item, Answers):
        if kind == "handout":
            return ""
        rows = [f"<div>{maths.inline(_displayed(h.blanks[k].lhs))} = {_answer(h.blanks[k], kind, maths)}</div>"
                for k in item.keys]
        return f'<div class="answers">{"".join(rows)}</div>'
    if isinstance(item, Working):
        if kind == "worksheet":  # room to work it out, where the numbers go in
            return '<div class="room"></div>' if any(b.kind == "lines" for b in item.blocks) else ""
        return "\n".join(_block(b, maths) for b in item.blocks)
    return _block(item, maths)


def page(h: Handout, kind: str = "handout", katex: bool | None = None) -> str:
    """The whole page; ``katex`` (default: when the extra is installed) sets the maths at build time."""
    maths = _Maths(available() if katex is None else katex)
    out = []
    for s in h.sections:
        if kind == "worksheet" and not s.on_worksheet:
            continue
        body = "\n".join(p for p in (_item(i, kind, h, maths) for i in s.items) if p)
        cls = ' class="new-page"' if s.new_page else ""
        out.append(f"<section{cls}><h2>{html.escape(s.title)}</h2>\n{body}</section>")
    if kind == "key":
        rows = "".join(f"<tr><td>{html.escape(b.label)}</td><td>{maths.inline(Math(b.shown, b.latex))}</td></tr>"
                       for b in h.blanks.values())
        out.append('<section class="new-page"><h2>Every answer</h2><table class="words"><thead><tr><th>what</th>'
                   f"<th>answer</th></tr></thead><tbody>{rows}</tbody></table></section>")
    css = (katex_css() if maths.katex else "") + STYLE
    title = f"{h.title} ({kind})" if kind != "handout" else h.title
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>\n'
            f"<body><header><h1>{html.escape(h.title)}</h1><p class=\"subtitle\">{html.escape(h.subtitle)}"
            f"{'' if kind == 'handout' else ' · ' + kind}</p></header>\n" + "\n".join(out) +
            "\n<footer>Made with backproplab.</footer></body></html>\n")


def _md_block(b: Block) -> str:
    parts = "".join(p if isinstance(p, str) else f"${md_math(p.latex)}$" for p in b.parts)
    if b.kind == "heading":
        return f"### {parts}"
    if b.kind == "note":
        return f"> **Note:** {parts}"
    if b.kind == "lines":
        return f"$$\n\\begin{{aligned}}\n{md_math(aligned_lines(b.lines))}\n\\end{{aligned}}\n$$"
    return parts


def _md_cell(c: Math | str, kind: str, blanks: dict[str, Any], words: bool) -> str:
    if isinstance(c, str):
        value = f"${md_math(blanks[c].latex)}$"
        return {"worksheet": "\\_\\_\\_\\_", "key": f"**{value}**"}.get(kind, value)
    return c.text.replace("|", "\\|") if words else f"${md_math(c.latex)}$"


def _md_item(item: Any, kind: str, h: Handout) -> str:
    if isinstance(item, Figure):
        if kind == "worksheet" and item.blank_svg is None:
            return f"*{item.blank_caption}*"
        svg, caption = (item.blank_svg, item.blank_caption) if kind == "worksheet" else (item.svg, item.caption)
        data = base64.b64encode(svg or b"").decode("ascii")
        return f"![{caption}](data:image/svg+xml;base64,{data})"
    if isinstance(item, Table):
        rows = [[_md_cell(c, kind, h.blanks, item.words) for c in r] for r in item.lines()]
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "---|" * len(item.header))
        return "\n".join(lines)
    if isinstance(item, Answers):
        if kind == "handout":
            return ""
        return "\n".join(f"- ${md_math((h.blanks[k].lhs or Math('', '')).latex)}$ = "
                         f"{_md_cell(k, kind, h.blanks, False)}" for k in item.keys)
    if isinstance(item, Working):
        return "" if kind == "worksheet" else "\n\n".join(_md_block(b) for b in item.blocks)
    return _md_block(item)


def markdown(h: Handout, kind: str = "handout") -> str:
    """The handout as Markdown with $…$ maths (GitHub, Jupyter); figures inlined as SVG data."""
    out = [f"# {h.title}", f"*{h.subtitle}*"]
    for s in h.sections:
        if kind == "worksheet" and not s.on_worksheet:
            continue
        out.append(f"## {s.title}")
        out += [p for p in (_md_item(i, kind, h) for i in s.items) if p]
    if kind == "key":
        out.append("## Every answer\n\n| what | answer |\n|---|---|\n" + "\n".join(
            f"| {b.label} | ${md_math(b.latex)}$ |" for b in h.blanks.values()))
    return "\n\n".join(out) + "\n"
