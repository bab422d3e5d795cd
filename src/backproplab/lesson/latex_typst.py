r"""LaTeX maths turned into Typst maths, for exactly the LaTeX the op table and the explainer write.

The explainer carries every formula as LaTeX; Typst, which makes the PDFs, has its own maths
syntax. This converts the subset in use (fractions, roots, accents, ``\left…\right``, ``cases``
and ``aligned``, ``\text``, ``\operatorname``, Greek letters and the usual operators) and refuses
anything else in one line, so a formula never reaches the page half converted. The tests run it
over every op's LaTeX and every line the explainer writes for the presets, and compile the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backproplab.util.messages import InputError


class LatexError(InputError):
    """LaTeX outside the subset this converter knows: one line naming the piece."""


TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|\s+|.", re.S)

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ",
    "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "nabla": "∇", "partial": "∂", "ell": "ℓ",
}
SYMBOLS = {
    "cdot": "dot.op", "odot": "dot.o", "times": "times", "pm": "plus.minus", "leq": "<=", "le": "<=",
    "geq": ">=", "ge": ">=", "neq": "!=", "ne": "!=", "approx": "approx", "lor": "or", "lnot": "not",
    "land": "and", "neg": "not", "top": "top", "to": "->", "rightarrow": "->", "leftarrow": "<-",
    "mapsto": "|->", "in": "in", "infty": "infinity", "ldots": "...", "cdots": "dots.c",
    "dots": "...", "vdots": "dots.v", "ddots": "dots.down",
    "sum": "sum", "prod": "product", "ln": "ln", "log": "log", "exp": "exp", "sin": "sin", "cos": "cos",
    "tan": "tan", "tanh": "tanh", "max": "max", "min": "min", "quad": "quad", "qquad": "wide",
    "mid": "divides", "equiv": "equiv", "propto": "prop", "star": "star", "ast": "*", "circ": "circle.small",
    "lt": "<", "gt": ">", "prime": "prime", "forall": "forall", "exists": "exists", "sqcup": "union.sq",
    "bullet": "bullet", "colon": ":", "vert": "|", "lvert": "|", "rvert": "|",
}
SPACES = {",": "thin", ":": "med", ";": "thick", " ": "space", "!": "", "quad": "quad"}
STYLES = ("textstyle", "displaystyle", "scriptstyle")  # Typst sizes a sum by where it stands: nothing to say
ESCAPED = {"_": "\\_", "{": "\\{", "}": "\\}", "%": "%", "$": "\\$", "#": "\\#", "&": "\\&", "|": "||"}
ACCENTS = {"hat": "hat", "bar": "macron", "overline": "overline", "tilde": "tilde", "vec": "arrow",
           "dot": "dot", "widehat": "hat", "underline": "underline", "mathbb": "bb", "mathbf": "bold",
           "boldsymbol": "bold", "mathcal": "cal", "mathit": "italic", "mathrm": "upright", "sqrt": "sqrt"}
PLAIN = {"<": "<", ">": ">", "=": "=", "+": "+", "-": "-", "(": "(", ")": ")", "[": "[", "]": "]", "'": "'",
         "!": "!", ".": ".", ":": ":", "?": "?", "|": "|", "~": "space", "−": "-", "·": "dot.op"}
ARG_SEPARATORS = {",": "\\,", ";": "\\;"}  # a comma or semicolon inside a Typst call's argument is a literal one
DELIMITERS = {"(": "(", ")": ")", "[": "[", "]": "]", "|": "|", ".": "", "\\{": "{", "\\}": "}",
              "\\|": "‖", "\\langle": "⟨", "\\rangle": "⟩", "\\lvert": "|", "\\rvert": "|"}


@dataclass
class _Reader:
    """The tokens of one formula and where the converter stands in them."""

    latex: str
    tokens: list[str]
    at: int = 0

    def peek(self) -> str | None:
        while self.at < len(self.tokens) and self.tokens[self.at].isspace():
            self.at += 1
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise LatexError(f"cannot convert {self.latex!r} to Typst: it ends too soon")
        self.at += 1
        return tok

    def raw_group(self) -> str:
        """The exact text of the next {…} group (for \\text and \\operatorname), braces left out."""
        if self.take() != "{":
            raise LatexError(f"cannot convert {self.latex!r} to Typst: a {{…}} group was expected")
        depth, out = 1, list[str]()
        while self.at < len(self.tokens):
            tok = self.tokens[self.at]
            self.at += 1
            depth += {"{": 1, "}": -1}.get(tok, 0)
            if depth == 0:
                return "".join(out)
            out.append(tok)
        raise LatexError(f"cannot convert {self.latex!r} to Typst: a {{ is never closed")

    def fail(self, what: str) -> LatexError:
        return LatexError(f"cannot convert {self.latex!r} to Typst: {what} is not in the subset backproplab writes")


def latex_to_typst(latex: str) -> str:
    r"""The Typst maths for ``latex`` (without the ``$`` around it), e.g. ``\frac{a}{b}`` → ``frac(a, b)``."""
    reader = _Reader(latex, TOKEN.findall(latex))
    out = _sequence(reader, until=None, in_call=False)
    if reader.peek() is not None:
        raise LatexError(f"cannot convert {latex!r} to Typst: an unmatched {reader.peek()!r}")
    # an aligned line that opens with + or − continues a sum: as in LaTeX's align, the sign is a binary one
    # (spaced "+ −2"), which Typst needs something before it to see
    out = re.sub(r"&(\s*(?:quad\s*)?)([+-])(?=\s)", r'&\1"" \2', out)
    return re.sub(r" {2,}", " ", out).strip()


def _sequence(reader: _Reader, until: str | None, in_call: bool) -> str:
    """Atoms up to ``until`` (a closing token, taken) or the end."""
    out: list[str] = []
    while True:
        tok = reader.peek()
        if tok == until or (tok is None and until is None):
            if tok is not None:
                reader.take()
            return " ".join(p for p in out if p)
        if tok is None or (until is not None and tok in ("}", "\\right", "\\end") and tok != until):
            raise LatexError(f"cannot convert {reader.latex!r} to Typst: {until!r} is missing")
        piece = _atom(reader, in_call)
        if tok == "{" and " " in piece and reader.peek() in ("^", "_") and not _enclosed(piece):
            piece = f"({piece})"  # LaTeX's invisible group under a script: Typst's is a pair of parentheses
        if piece[:1] in ("^", "_") and out:
            out[-1] += piece  # a script stays on what it is attached to
        else:
            out.append(piece)


def _group(reader: _Reader, in_call: bool = True) -> str:
    """One argument: a {…} group or a single token."""
    if reader.peek() == "{":
        reader.take()
        return _sequence(reader, "}", in_call)
    return _atom(reader, in_call)


def _script(reader: _Reader) -> str:
    """What follows ^ or _, in parentheses when it is more than one piece."""
    body = _group(reader, in_call=False)
    return body if re.fullmatch(r"[A-Za-z0-9]|[0-9.]+|[^\x00-\x7f]", body) else f"({body})"


def _atom(reader: _Reader, in_call: bool) -> str:
    tok = reader.take()
    if tok in ("^", "_"):
        return f"{tok}{_script(reader)}"
    if tok == "{":
        return _sequence(reader, "}", in_call)
    if tok.startswith("\\"):
        return _command(reader, tok, in_call)
    if in_call and tok in ARG_SEPARATORS:
        return ARG_SEPARATORS[tok]
    if tok in (",", ";", "&") or tok[0].isdigit() or tok.isalpha() and tok.isascii():
        return tok
    if tok in PLAIN:
        return PLAIN[tok]
    if tok == "/":
        return "\\/"
    if tok == "*":
        return "\\*"
    if not tok.isascii() and tok.isprintable():
        return tok
    raise reader.fail(repr(tok))


def _command(reader: _Reader, tok: str, in_call: bool) -> str:
    name = tok[1:]
    if name == "\\":
        return "\\ "
    if name in SPACES and (len(name) == 1 or name == "quad"):
        return SPACES[name]
    if name in ESCAPED:
        return ESCAPED[name]
    if name in STYLES:
        return ""
    if name in GREEK:
        return GREEK[name]
    if name in SYMBOLS:
        return SYMBOLS[name]
    if name in ("frac", "tfrac", "dfrac"):
        return f"frac({_group(reader)}, {_group(reader)})"
    if name in ("mathrm", "mathbf", "mathit") and re.fullmatch(r"\s*\{[A-Za-z]{2,}\}.*", reader.latex[_offset(reader):],
                                                                  re.S):
        return f"{ACCENTS[name]}({' '.join(reader.raw_group())})"  # a word set tight: upright(S S R)
    if name in ACCENTS:
        return f"{ACCENTS[name]}({_group(reader)})"
    if name in ("text", "textrm", "mbox", "textit", "textbf"):
        return _text(reader.raw_group(), name)
    if name == "operatorname":
        return 'op("' + _quoted(reader.raw_group().replace("\\_", "_")) + '")'
    if name == "left":
        return _left_right(reader)
    if name == "begin":
        return _environment(reader)
    raise reader.fail(tok)


def _enclosed(piece: str) -> bool:
    """Whether ``piece`` is one pair of parentheses around the rest: (y - ŷ), not (a) + (b)."""
    if not (piece.startswith("(") and piece.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(piece):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and i < len(piece) - 1:
            return False
    return True


def _offset(reader: _Reader) -> int:
    """Where the reader stands in the LaTeX text."""
    return sum(len(t) for t in reader.tokens[:reader.at])


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _text(raw: str, name: str) -> str:
    """\\text{…} as a Typst string; its escapes (\\_ \\%) as the characters they stand for."""
    text = re.sub(r"\\([_%$#&{}])", r"\1", raw).replace("~", " ")
    if "\\" in text or "$" in raw.replace("\\$", ""):
        raise LatexError(f"cannot convert \\{name}{{{raw}}} to Typst: maths or commands inside \\text")
    quoted = f'"{_quoted(text)}"'
    return {"textbf": f"bold({quoted})", "textit": f"italic({quoted})"}.get(name, quoted)


def _delimiter(reader: _Reader) -> str:
    tok = reader.take()
    if tok not in DELIMITERS:
        raise reader.fail(f"the delimiter {tok!r}")
    return DELIMITERS[tok]


def _left_right(reader: _Reader) -> str:
    """\\left( … \\right) as lr(( … )): the delimiters grow with what they hold."""
    opening = _delimiter(reader)
    body = _sequence(reader, "\\right", in_call=True)
    closing = _delimiter(reader)
    if not opening and not closing:
        return body
    return f"lr({opening or '.'} {body} {closing or '.'})".replace("lr(. ", "lr(").replace(" .)", ")")


def _environment(reader: _Reader) -> str:
    """cases, aligned (and its kin) and matrices: rows at \\\\, columns at &."""
    env = reader.raw_group()
    if env in ("array",):
        reader.raw_group()  # the column spec: Typst's mat() centres its columns, which reads as well here
    body = _sequence(reader, "\\end", in_call=env != "aligned")
    if reader.raw_group() != env:
        raise LatexError(f"cannot convert {reader.latex!r} to Typst: \\begin{{{env}}} is closed by another \\end")
    rows = [r.strip() for r in body.split("\\ ")]
    rows = [r for r in rows if r]
    if env in ("aligned", "align*", "gathered", "split"):
        return " \\\n".join(rows)
    if env == "cases":
        return "cases(" + ", ".join(rows) + ")"
    if env in ("array", "matrix", "pmatrix", "bmatrix"):
        delim = {"pmatrix": '"("', "bmatrix": '"["'}.get(env, "#none")
        return f"mat(delim: {delim}, " + "; ".join(r.replace(" & ", ", ").replace("&", ",") for r in rows) + ")"
    raise reader.fail(f"the environment {env!r}")
