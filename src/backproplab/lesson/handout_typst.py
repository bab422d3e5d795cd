"""The handout as a Typst document, compiled offline to PDF (or to PNG, to look at each page).

Maths is the explainer's own LaTeX, turned into Typst maths by :func:`typeset.latex_to_typst`;
the figures go in as SVG; the page itself is the template vendored in lesson/templates/.
"""

from __future__ import annotations

import re
from typing import Any

from backproplab.explain.document import Block, Math, aligned_lines
from backproplab.lesson.handout import Answers, Figure, Handout, Table, Working
from backproplab.lesson.typeset import compile_typst, latex_to_typst, template

TEXT_SPECIALS = re.compile(r"([\\#$*_@<>\[\]`~=/-])")
TITLES = {"handout": "handout", "worksheet": "worksheet: fill in the boxes", "key": "answer key"}


def text(words: str) -> str:
    """Plain words as Typst markup: every character that means something to Typst escaped."""
    return TEXT_SPECIALS.sub(r"\\\1", words)


def _string(words: str) -> str:
    return '"' + words.replace("\\", "\\\\").replace('"', '\\"') + '"'


def inline(m: Math) -> str:
    return f"${latex_to_typst(m.latex)}$" if m.latex else text(m.text)


def parts(items: list[Any]) -> str:
    return "".join(text(p) if isinstance(p, str) else inline(p) for p in items)


def _block(b: Block) -> str:
    if b.kind == "heading":
        return f"== {parts(b.parts)}"
    if b.kind == "para":
        return parts(b.parts)
    if b.kind == "note":
        return f"#note[Note: {parts(b.parts)}]"
    if b.kind == "lines":
        return f"$ {latex_to_typst(aligned_lines(b.lines))} $"
    return _table(Table(b.header, [list(r) for r in b.rows]), "handout", {})


def _cell(cell: Math | str, kind: str, blanks: dict[str, Any], words: bool) -> str:
    if isinstance(cell, str):  # a blank's key
        return _answer(blanks[cell].latex, kind, "1.1cm")
    if words:
        return text(cell.text)
    return inline(cell)


def _answer(latex: str, kind: str, width: str = "2.4cm") -> str:
    if kind == "worksheet":
        return f"#blank(width: {width})"
    value = f"${latex_to_typst(latex)}$"
    return f"#answer[{value}]" if kind == "key" else value


def _table(t: Table, kind: str, blanks: dict[str, Any]) -> str:
    n = len(t.header)
    cells = [f"[{_cell(c, kind, blanks, t.words)}]" for row in t.lines() for c in row]
    if t.words:  # the column of the longest words takes the width the others leave
        widest = max(range(n), key=lambda j: max(len(getattr(row[j], "text", "")) for row in t.lines()))
        columns = ", ".join("1fr" if j == widest else "auto" for j in range(n))
        return f"#text(size: 8pt)[#table(columns: ({columns}), align: left, {', '.join(cells)})]"
    return f"#text(size: 8pt)[#table(columns: {n}, align: right + horizon, {', '.join(cells)})]"


def _answers(a: Answers, kind: str, blanks: dict[str, Any]) -> str:
    if kind == "handout":  # the working just above gives each answer
        return ""
    rows = [f"{latex_to_typst(blanks[k].lhs.latex)} & = {_answer(blanks[k].latex, kind)}" for k in a.keys]
    return "$ " + " \\\n".join(rows) + " $"


def _figure(f: Figure, kind: str) -> str:
    if kind == "worksheet" and f.blank_svg is None:
        return (f"#figure(rect(width: {f.width}%, height: 6cm, stroke: 0.7pt + soft, radius: 3pt), "
                f"caption: [{text(f.blank_caption or f.caption)}])")
    name = f.name.replace(".svg", "-blank.svg") if kind == "worksheet" else f.name
    caption = f.blank_caption if kind == "worksheet" and f.blank_caption else f.caption
    return f"#figure(image({_string(name)}, width: {f.width}%), caption: [{text(caption)}])"


def _item(item: Any, kind: str, blanks: dict[str, Any]) -> str:
    if isinstance(item, Figure):
        return _figure(item, kind)
    if isinstance(item, Table):
        return _table(item, kind, blanks)
    if isinstance(item, Answers):
        return _answers(item, kind, blanks)
    if isinstance(item, Working):
        if kind == "worksheet":  # room to work it out, where the numbers go in
            return "#v(1.6cm)" if any(b.kind == "lines" for b in item.blocks) else ""
        return "\n\n".join(_block(b) for b in item.blocks)
    return _block(item)


def answer_list(h: Handout) -> str:
    """The key's last page: every answer with its label, in page order."""
    cells = [f"[{text(b.label)}], [${latex_to_typst(b.latex)}$]" for b in h.blanks.values()]
    return ("#pagebreak(weak: true)\n= Every answer\n#text(size: 9pt)[#table(columns: (1fr, auto), align: (left, "
            f"right), [*what*], [*answer*], {', '.join(cells)})]")


def source(h: Handout, kind: str = "handout") -> str:
    """The Typst document for the handout, the worksheet or the key."""
    out = ['#import "handout.typ": *',
           f"#show: handout.with(title: {_string(h.title)}, subtitle: {_string(h.subtitle)}, "
           f"kind: {_string(TITLES[kind])})"]
    for s in h.sections:
        if kind == "worksheet" and not s.on_worksheet:
            continue
        if s.new_page:
            out.append("#pagebreak(weak: true)")
        out.append(f"= {text(s.title)}")
        out += [piece for piece in (_item(i, kind, h.blanks) for i in s.items) if piece]
    if kind == "key":
        out.append(answer_list(h))
    return "\n\n".join(out) + "\n"


def files(h: Handout) -> dict[str, bytes]:
    """The template and the figures the document reads."""
    out = {"handout.typ": template("handout.typ")}
    figures = [i for s in h.sections for i in s.items if isinstance(i, Figure)]
    out.update({f.name: f.svg for f in figures})
    out.update({f.name.replace(".svg", "-blank.svg"): f.blank_svg for f in figures if f.blank_svg})
    return out


def pdf(h: Handout, kind: str = "handout") -> bytes:
    data = compile_typst(source(h, kind), files(h), "pdf")
    assert isinstance(data, bytes)
    return data


def pages(h: Handout, kind: str = "handout", ppi: float = 60.0) -> list[bytes]:
    """Each page as PNG, to look at."""
    data = compile_typst(source(h, kind), files(h), "png", ppi=ppi)
    return data if isinstance(data, list) else [data]
