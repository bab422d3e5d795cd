"""A small document model for explanations, rendered to text, Markdown, LaTeX and HTML.

An explanation is a list of blocks. Every piece of mathematics is carried twice, as plain
text and as LaTeX, so each format gets its natural form: Unicode in the terminal, ``$…$``
on GitHub and in Jupyter, ``align*`` in a paper, and self-contained HTML with no scripts.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backproplab.explain.symbols import latex_escape
from backproplab.util.messages import InputError


@dataclass(frozen=True)
class Math:
    """One formula, as text and as LaTeX. A line of working may also carry ``exact_factors``: the
    same line with each number it works on shown with enough digits for its arithmetic to hold."""

    text: str
    latex: str
    exact_factors: Math | None = None


Part = str | Math
BLOCK_KINDS = ("heading", "para", "lines", "note", "table")
"""Every kind of block; each format has one renderer per kind (see :data:`RENDERERS`)."""
FACTORS = ("rounded", "exact")  # how a line shows the numbers it works on: as the rest, or with enough digits


@dataclass
class Block:
    """A heading, a paragraph (words and inline formulas), or displayed lines of working. A note
    with ``rounded_only`` is about rounded factors, so the exact-factors form leaves it out."""

    kind: str  # one of BLOCK_KINDS
    parts: list[Part] = field(default_factory=list)
    lines: list[Math] = field(default_factory=list)  # for "lines": each line of the working
    header: list[Math] = field(default_factory=list)  # for "table"
    rows: list[list[Math]] = field(default_factory=list)
    rounded_only: bool = False


class ExplainError(InputError):
    """An explanation that cannot be made as asked (a form, the digits, an entry, a graph too large): one line."""


def check_factors(factors: str) -> str:
    if factors not in FACTORS:
        raise ExplainError(f"unknown factors {factors!r}: choose 'rounded' (every number with the same digits) or "
                           "'exact' (each factor with enough digits for the line's arithmetic to hold)")
    return factors


def choose(blocks: list[Block], factors: str = "rounded") -> list[Block]:
    """The blocks as the ``factors`` form shows them (see :data:`FACTORS`)."""
    if check_factors(factors) == "rounded":
        return blocks
    out: list[Block] = []
    joined = False  # a note left out between two runs of lines: they are one run again
    for b in blocks:
        if b.kind == "note" and b.rounded_only:
            joined = bool(out) and out[-1].kind == "lines"
            continue
        if b.kind == "lines":
            b = Block("lines", lines=[line.exact_factors or line for line in b.lines])
            if joined:
                out[-1] = Block("lines", lines=out[-1].lines + b.lines)
                joined = False
                continue
        joined = False
        out.append(b)
    return out


HEAD, TAIL = 8, 2  # the rows a long table of samples shows: the first and the last few
ROWS_IN_FULL = HEAD + TAIL + 2  # a table (or a sum) of at most this many samples shows them all


def shown_rows(n: int) -> list[int]:
    """The samples a table of ``n`` shows, from 0: all of them, or the first and the last few with -1
    where the others are left out (see :func:`gap_row`)."""
    return list(range(n)) if n <= ROWS_IN_FULL else list(range(HEAD)) + [-1] + list(range(n - TAIL, n))


def gap_row(n: int, width: int) -> list[Math]:
    """The row that stands for the samples a long table of ``n`` leaves out, ``width`` cells after its label."""
    gap = f"… {n - HEAD - TAIL} more"
    return [Math(gap, rf"\text{{{gap.replace('…', '...')}}}")] + [Math("…", r"\vdots")] * width


def lines_with_notes(working: list[tuple[Math, str, bool]]) -> list[Block]:
    """Lines of working, each followed by its note (if any): (line, note, whether the exact-factors form
    makes the note unneeded)."""
    blocks: list[Block] = []
    run: list[Math] = []
    for line, note, quiet in working:
        run.append(line)
        if note:
            blocks += [Block("lines", lines=run), Block("note", [note], rounded_only=quiet)]
            run = []
    if run:
        blocks.append(Block("lines", lines=run))
    return blocks


LATEX_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "−": "$-$", "×": r"$\times$", "≈": r"$\approx$", "→": r"$\to$", "…": r"\dots{}", "·": r"$\cdot$",
    "‘": "`", "’": "'", "ŷ": r"$\hat{y}$", "Σ": r"$\Sigma$", "σ": r"$\sigma$", "δ": r"$\delta$",
    "∂": r"$\partial$", "⊙": r"$\odot$", "ᵀ": r"$^{\top}$", "θ": r"$\theta$", "∞": r"$\infty$",
    "√": r"$\surd$", "≤": r"$\leq$", "≥": r"$\geq$", "±": r"$\pm$", "─": "-",
    "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$", "ε": r"$\epsilon$", "λ": r"$\lambda$", "μ": r"$\mu$",
    "π": r"$\pi$", "φ": r"$\varphi$", "Φ": r"$\Phi$", "Π": r"$\Pi$",
    **{d: f"$_{{{i}}}$" for i, d in enumerate("₀₁₂₃₄₅₆₇₈₉")},
    **{d: f"$^{{{i}}}$" for i, d in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}
"""Every character the explainer's own words use, for LaTeX text mode; anything else becomes ``?``."""

ADJACENT_MATH = re.compile(r"(?<!\\)\$\$")  # $\surd$$\hat{v}$ would open display maths: one formula instead


SCIENTIFIC = re.compile(r"(?<![\w.])([−-]?\d+(?:\.\d+)?)e([−-]?\d+)\b")
NEGATIVE = re.compile(r"(?<![\w.])−(\d+(?:\.\d+)?)(?![\d.e])")  # −6.27: one formula, never broken after its sign


def latex_text(text: str) -> str:
    """Plain words made safe for LaTeX text mode (pdflatex, no Unicode needed); a number such as
    6.3e−5 is set as $6.3 \\times 10^{-5}$, and −6.27 as one formula $-6.27$."""
    pieces = []
    last = 0
    numbers = sorted([*SCIENTIFIC.finditer(text), *NEGATIVE.finditer(text)], key=lambda m: m.start())
    for m in numbers:
        if m.start() < last:
            continue
        pieces.append(_escape(text[last:m.start()]))
        if m.re is NEGATIVE:
            pieces.append(f"$-{m.group(1)}$")
        else:
            mantissa, exponent = (g.replace("−", "-") for g in m.groups())
            pieces.append(rf"${mantissa} \times 10^{{{int(exponent)}}}$")
        last = m.end()
    pieces.append(_escape(text[last:]))
    return ADJACENT_MATH.sub("", "".join(pieces).encode("ascii", "replace").decode("ascii"))


def _escape(text: str) -> str:
    """Each character by LATEX_TEXT_ESCAPES; a letter with a combining circumflex (m̂, v̂) as \\hat."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\u0302":
            continue
        if ch.isascii() and ch.isalpha() and text[i + 1:i + 2] == "\u0302":
            out.append(rf"$\hat{{{ch}}}$")
        else:
            out.append(LATEX_TEXT_ESCAPES.get(ch, ch))
    return "".join(out)


def _render(renderers: dict[str, Callable[..., list[str]]], fmt: str, b: Block, *options: Any) -> list[str]:
    """The pieces ``renderers`` writes for block ``b``; a kind with no renderer is an error, never skipped."""
    try:
        renderer = renderers[b.kind]
    except KeyError:
        raise ValueError(f"a {b.kind!r} block has no {fmt} renderer (the kinds: {', '.join(renderers)})") from None
    return renderer(b, *options)


# --- plain text --------------------------------------------------------------------------------------
def _text_parts(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.text for p in parts)


def _text_heading(b: Block) -> list[str]:
    title = _text_parts(b.parts)
    return ["", title, "─" * len(title)]  # the blank line before the first heading is stripped


def _text_table(b: Block) -> list[str]:
    """Right-aligned columns under a rule; a header cell may take more than one line (a symbol, then its formula)."""
    head = [c.text.split("\n") for c in b.header]
    depth = max(len(h) for h in head)
    head_rows = [[h[k] if k < len(h) else "" for h in head] for k in range(depth)]
    cells = head_rows + [[c.text for c in row] for row in b.rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(b.header))]
    out = []
    for n, r in enumerate(cells):
        out.append("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if n == depth - 1:
            out.append("  " + "  ".join("─" * w for w in widths))
    return out


TEXT = {
    "heading": _text_heading,
    "para": lambda b: [_text_parts(b.parts)],
    "lines": lambda b: ["  " + line.text.replace("\n", "\n  ") for line in b.lines],
    "note": lambda b: ["note: " + _text_parts(b.parts)],
    "table": _text_table,
}


def to_text(blocks: list[Block], factors: str = "rounded") -> str:
    out = [piece for b in choose(blocks, factors) for piece in _render(TEXT, "text", b)]
    return "\n".join(out).strip("\n") + "\n"


# --- Markdown ------------------------------------------------------------------------------------------
def _md_parts(parts: list[Part]) -> str:
    return "".join(_md_escape(p) if isinstance(p, str) else f"${md_math(p.latex)}$" for p in parts)


def md_math(latex: str) -> str:
    """LaTeX for Markdown: ``<`` and ``>`` as \\lt and \\gt, so no HTML tag can appear in a
    ``$$`` block that a notebook renders."""
    return latex.replace("<", r"\lt ").replace(">", r"\gt ")


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|$])", r"\\\1", text)


def aligned_lines(lines: list[Math]) -> str:
    """LaTeX lines for align*/aligned, each aligned at its first '=' unless it says otherwise."""
    out = []
    for line in lines:
        tex = line.latex
        at = _first_equals(tex)
        if at >= 0 and not _has_alignment(tex):
            tex = tex[:at] + "&" + tex[at:]
        out.append(tex)
    return " \\\\\n".join(out)


def _outside_braces(tex: str) -> Iterator[tuple[int, str]]:
    """(position, character) of each character of ``tex`` not inside {…} and not escaped."""
    depth, escaped = 0, False
    for i, ch in enumerate(tex):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            yield i, ch


def _first_equals(tex: str) -> int:
    return next((i for i, ch in _outside_braces(tex) if ch == "="), -1)


def _has_alignment(tex: str) -> bool:
    return any(ch == "&" for _, ch in _outside_braces(tex))


def _md_table(b: Block) -> list[str]:
    rows = [b.header] + b.rows
    lines = ["| " + " | ".join(f"${md_math(c.latex)}$" for c in r) + " |" for r in rows]
    lines.insert(1, "|" + "---:|" * len(b.header))
    return ["\n".join(lines)]


# alike on purpose: one renderer table per format, the same block kinds in each
MARKDOWN = {
    "heading": lambda b: [f"### {_md_parts(b.parts)}"],
    "para": lambda b: [_md_parts(b.parts)],
    "lines": lambda b: [f"$$\n\\begin{{aligned}}\n{md_math(aligned_lines(b.lines))}\n\\end{{aligned}}\n$$"],
    "note": lambda b: [f"> **Note:** {_md_parts(b.parts)}"],
    "table": _md_table,
}


def to_markdown(blocks: list[Block], factors: str = "rounded") -> str:
    out = [piece for b in choose(blocks, factors) for piece in _render(MARKDOWN, "markdown", b)]
    return "\n\n".join(out) + "\n"


# --- LaTeX ---------------------------------------------------------------------------------------------
def _tex_parts(parts: list[Part]) -> str:
    return ADJACENT_MATH.sub("", "".join(latex_text(p) if isinstance(p, str) else f"${p.latex}$" for p in parts))


LATEX_PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n\\begin{document}\n"


def _tex_table(b: Block) -> list[str]:
    body = " \\\\\n".join(" & ".join(f"${c.latex}$" for c in r) for r in [b.header] + b.rows)
    return [f"\\begin{{tabular}}{{{'r' * len(b.header)}}}\n{body}\n\\end{{tabular}}"]


LATEX = {
    "heading": lambda b: [f"\\subsection*{{{_tex_parts(b.parts)}}}"],
    "para": lambda b: [_tex_parts(b.parts)],
    "lines": lambda b: [f"\\begin{{align*}}\n{aligned_lines(b.lines)}\n\\end{{align*}}"],
    "note": lambda b: [f"\\noindent\\textit{{Note: {_tex_parts(b.parts)}}}"],
    "table": _tex_table,
}


def to_latex(blocks: list[Block], document: bool = False, factors: str = "rounded") -> str:
    out = [piece for b in choose(blocks, factors) for piece in _render(LATEX, "latex", b)]
    body = "\n\n".join(out) + "\n"
    return LATEX_PREAMBLE + body + "\\end{document}\n" if document else body


# --- HTML ----------------------------------------------------------------------------------------------
HTML_STYLE = (
    "<style>.bpl{font-family:system-ui,sans-serif;line-height:1.5;max-width:60em}"
    ".bpl pre{background:#f6f8fa;padding:.6em .9em;border-radius:6px;overflow-x:auto;white-space:pre-wrap;"
    "font-family:ui-monospace,Menlo,Consolas,monospace}.bpl .math{font-family:ui-monospace,Menlo,monospace}"
    ".bpl .note{border-left:3px solid #d4a72c;padding-left:.6em;color:#5a4a00}"
    ".bpl table{border-collapse:collapse}.bpl td,.bpl th{padding:.2em .8em;text-align:right;"
    "border-bottom:1px solid #ddd}</style>"
)


# In a notebook the same HTML carries each formula twice: as Unicode, and as TeX for MathJax.
# Notebook hosts that typeset their HTML outputs (JupyterLab, Notebook 7, classic Notebook) mark
# them with these classes, and there the TeX is shown; anywhere else (VS Code, a browser) the
# Unicode is, so no host ever shows raw TeX.
NOTEBOOK_STYLE = (
    "<style>.bpl .bpl-tex{display:none}"
    ".jp-RenderedHTMLCommon .bpl .bpl-tex,.rendered_html .bpl .bpl-tex{display:inline}"
    ".jp-RenderedHTMLCommon .bpl div.bpl-tex,.rendered_html .bpl div.bpl-tex{display:block}"
    ".jp-RenderedHTMLCommon .bpl .bpl-uni,.rendered_html .bpl .bpl-uni{display:none}</style>"
)


Typeset = Callable[[str, bool], str]
"""LaTeX (and whether it is displayed) to HTML that reads with no script, as KaTeX's renderToString gives."""


def _html_math(m: Math, tex: bool, typeset: Typeset | None = None) -> str:
    """One inline formula: Unicode, and with ``tex`` also its TeX between \\( \\) for MathJax; with ``typeset``,
    set once, here, for a page that runs no script."""
    if typeset is not None and m.latex:
        return typeset(m.latex, False)
    uni = html.escape(m.text).replace(chr(10), "<br>")
    if not tex:
        return uni
    return f'<span class="bpl-uni">{uni}</span><span class="bpl-tex">\\({html.escape(m.latex)}\\)</span>'


def _html_parts(parts: list[Part], tex: bool, typeset: Typeset | None = None) -> str:
    return "".join(html.escape(p) if isinstance(p, str) else
                   f'<span class="math">{_html_math(p, tex, typeset)}</span>' for p in parts)


def _html_lines(b: Block, tex: bool, typeset: Typeset | None = None) -> list[str]:
    """The lines as Unicode in a <pre>; with ``tex`` also as one aligned TeX display; with ``typeset``, typeset."""
    if typeset is not None:  # typeset, and the same lines as the terminal prints them, to copy as text
        display = typeset(rf"\begin{{aligned}}{aligned_lines(b.lines)}\end{{aligned}}", True)
        plain = "\n".join(html.escape(line.text) for line in b.lines)
        return [f'<div class="lines">{display}</div>',
                f'<details class="as-text"><summary>as text</summary>\n<pre>{plain}</pre>\n</details>']
    shown = "<pre" + (' class="bpl-uni"' if tex else "") + ">"
    out = [shown + "\n".join(html.escape(line.text) for line in b.lines) + "</pre>"]
    if tex:
        body = html.escape(aligned_lines(b.lines))
        out.append(f'<div class="bpl-tex">\\[\\begin{{aligned}}{body}\\end{{aligned}}\\]</div>')
    return out


def _html_table(b: Block, tex: bool, typeset: Typeset | None = None) -> list[str]:
    head = "".join(f"<th>{_html_math(c, tex, typeset)}</th>" for c in b.header)
    body = "".join("<tr>" + "".join(f"<td>{_html_math(c, tex, typeset)}</td>" for c in r) + "</tr>" for r in b.rows)
    return [f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]


HTML = {
    "heading": lambda b, tex, typeset=None: [f"<h3>{_html_parts(b.parts, tex, typeset)}</h3>"],
    "para": lambda b, tex, typeset=None: [f"<p>{_html_parts(b.parts, tex, typeset)}</p>"],
    "lines": _html_lines,
    "note": lambda b, tex, typeset=None: [f'<p class="note">Note: {_html_parts(b.parts, tex, typeset)}</p>'],
    "table": _html_table,
}
"""Each renderer also takes ``tex`` (each formula carries its TeX for a notebook's MathJax) and ``typeset``."""


def to_html(blocks: list[Block], full_page: bool = False, title: str = "backproplab", tex: bool = False,
            factors: str = "rounded", typeset: Typeset | None = None, css: str = "") -> str:
    """Self-contained HTML: inline CSS, no scripts, nothing fetched from the network. With ``tex``
    (a notebook's display) each formula also carries its TeX for the host's MathJax; with ``typeset``
    (KaTeX run when the page is made) and its ``css``, the maths is typeset and still needs no script."""
    out = [HTML_STYLE + (NOTEBOOK_STYLE if tex else "") + (f"<style>{css}</style>" if css else ""), '<div class="bpl">']
    out += [piece for b in choose(blocks, factors) for piece in _render(HTML, "html", b, tex, typeset)]
    out.append("</div>")
    body = "\n".join(out)
    if full_page:
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
                f"</title></head>\n<body>\n{body}\n</body></html>\n")
    return body + "\n"


# --- one MathJax display -------------------------------------------------------------------------------
TEXT_SPECIALS = set("\\{}$&#%^_~")


def _math_words(text: str) -> str:
    r"""Words for a MathJax display: plain runs in \text{…}, TeX specials as escaped symbols."""
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        if ch in TEXT_SPECIALS or not ch.isprintable():
            if run:
                out.append(rf"\text{{{''.join(run)}}}")
                run = []
            if ch.isprintable():
                out.append(latex_escape(ch))
        else:
            run.append(ch)
    if run:
        out.append(rf"\text{{{''.join(run)}}}")
    return "".join(out)


def _mathjax_parts(parts: list[Part]) -> str:
    return "".join(_math_words(p) if isinstance(p, str) else p.latex for p in parts)


def _mathjax_table(b: Block) -> list[str]:
    body = r" \\ ".join(" & ".join(c.latex for c in r) for r in [b.header] + b.rows)
    return [rf"&\begin{{array}}{{{'r' * len(b.header)}}} {body} \end{{array}}"]


MATHJAX = {
    "heading": lambda b: [rf"&\mathbf{{{_mathjax_parts(b.parts)}}}"],
    "para": lambda b: [f"&{_mathjax_parts(b.parts)}"],
    "lines": lambda b: aligned_lines(b.lines).split(" \\\\\n"),
    "note": lambda b: [rf"&\textit{{Note: }}{_mathjax_parts(b.parts)}"],
    "table": _mathjax_table,
}


def to_mathjax(blocks: list[Block], factors: str = "rounded") -> str:
    """The whole explanation as one displayed formula (``$$\\begin{aligned}…$$``), for Jupyter's LaTeX display."""
    rows = [row for b in choose(blocks, factors) for row in _render(MATHJAX, "mathjax", b)]
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


RENDERERS = {"text": TEXT, "markdown": MARKDOWN, "latex": LATEX, "html": HTML, "mathjax": MATHJAX}
"""Each format's renderers, one per block kind: a new kind of block is one entry in each."""


class Rendered:
    """What every worked document shares (an explanation, a forward table): one list of blocks,
    rendered to each format by the same functions, so the formats cannot disagree. ``factors``
    ("rounded" or "exact", see :data:`FACTORS`) is how lines show the numbers they work on; each
    renderer takes it too, so a handout can choose."""

    blocks: list[Block]
    factors: str = "rounded"

    def html_title(self) -> str:
        return "backproplab"

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def differs_with_exact_factors(self) -> bool:
        """Whether the exact-factors form shows anything other than the rounded one."""
        return any(b.rounded_only or any(line.exact_factors for line in b.lines) for b in self.blocks)

    def _factors(self, factors: str | None) -> str:
        return check_factors(self.factors if factors is None else factors)

    def to_text(self, factors: str | None = None) -> str:
        return to_text(self.blocks, self._factors(factors))

    def to_markdown(self, factors: str | None = None) -> str:
        return to_markdown(self.blocks, self._factors(factors))

    def to_latex(self, document: bool = False, factors: str | None = None) -> str:
        return to_latex(self.blocks, document=document, factors=self._factors(factors))

    def to_html(self, full_page: bool = False, factors: str | None = None, typeset: Typeset | None = None,
                css: str = "") -> str:
        return to_html(self.blocks, full_page=full_page, title=self.html_title(), factors=self._factors(factors),
                       typeset=typeset, css=css)

    def render(self, fmt: str, factors: str | None = None) -> str:
        """One of: text, md (markdown), latex, html, json; ``factors`` as in :data:`FACTORS`."""
        f = self._factors(factors)
        renderers = {"text": lambda: self.to_text(f), "md": lambda: self.to_markdown(f),
                     "markdown": lambda: self.to_markdown(f), "latex": lambda: self.to_latex(document=True, factors=f),
                     "html": lambda: self.to_html(full_page=True, factors=f),
                     "json": lambda: json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"}
        if fmt not in renderers:
            raise ExplainError(f"unknown format {fmt!r} (choose from: text, md, latex, html, json)")
        return renderers[fmt]()

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        """Jupyter picks HTML over LaTeX and Markdown, so this HTML carries the TeX for its MathJax."""
        return to_html(self.blocks, tex=True, factors=self._factors(None))

    def _repr_latex_(self) -> str:
        return to_mathjax(self.blocks, self._factors(None))

    def _repr_markdown_(self) -> str:
        return self.to_markdown()
