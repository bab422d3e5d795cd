"""Maths set for print: LaTeX as HTML (KaTeX, run at build time) and as Typst, and Typst compiled to PDF.

The explainer writes its formulas in LaTeX once. A printed page needs them typeset with no script
running and nothing fetched: KaTeX (vendored with the page) runs here, in an embedded JavaScript
engine, to give HTML that reads with its stylesheet alone; and the same LaTeX, turned into Typst
maths by :func:`latex_to_typst`, goes into a PDF that Typst compiles offline. Both engines come
from the ``handout`` extra; :func:`available` says whether they are here.
"""

from __future__ import annotations

import atexit
import base64
import importlib.util
import re
import tempfile
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from backproplab.lesson.latex_typst import latex_to_typst
from backproplab.util.messages import InputError

INSTALL = "pip install 'backproplab[handout]'"
"""The one line that says how to get typeset maths and PDFs."""
FORMATS = ("pdf", "png", "svg")

__all__ = ["FORMATS", "INSTALL", "TypesetError", "available", "compile_typst", "katex_css", "latex_to_html",
           "latex_to_typst", "missing", "template"]


class TypesetError(InputError):
    """Maths or a document that cannot be typeset as asked: one line naming what and why."""


def missing() -> list[str]:
    """The packages of the ``handout`` extra that are not installed (PyPI names)."""
    wanted = {"typst": "typst", "py_mini_racer": "mini-racer"}
    return [name for module, name in wanted.items() if importlib.util.find_spec(module) is None]


def available() -> bool:
    """Whether PDFs and build-time KaTeX can be made here (the ``handout`` extra is installed)."""
    return not missing()


def _static(*parts: str) -> Any:
    place = resources.files("backproplab.lesson").joinpath("static")
    for part in parts:
        place = place.joinpath(part)
    return place


# --- KaTeX, at build time --------------------------------------------------------------------------------
_KATEX_LOCK = threading.Lock()  # one JavaScript engine, used by one thread at a time


@cache
def _katex() -> Any:
    """The vendored KaTeX, loaded once into an embedded V8."""
    from py_mini_racer import MiniRacer  # the optional JavaScript engine of the handout extra

    made: list[Any] = []
    # made on a thread of its own: an engine made where an asyncio loop runs (a server, Playwright) would run
    # its JavaScript on that loop, and stop working once the loop stops; this way it starts its own
    maker = threading.Thread(target=lambda: made.append(MiniRacer()), name="backproplab-katex")
    maker.start()
    maker.join()
    engine = made[0]
    atexit.register(engine.close)  # an engine left open keeps the interpreter from exiting
    engine.eval(_static("vendor", "katex", "katex.min.js").read_text(encoding="utf-8"))
    return engine


def latex_to_html(latex: str, display: bool = False) -> str:
    """The formula as KaTeX's HTML (with its MathML), to be read with :func:`katex_css` and no script."""
    if not available():
        raise TypesetError(f"typesetting maths needs the handout extra: {INSTALL}")
    from py_mini_racer import JSEvalException  # the optional JavaScript engine of the handout extra

    options = {"throwOnError": True, "displayMode": display, "strict": "ignore"}
    with _KATEX_LOCK:
        engine = _katex()
        try:
            return str(engine.call("katex.renderToString", latex, options))
        except JSEvalException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "KaTeX refused it"
            raise TypesetError(f"cannot typeset {latex!r}: {first}") from None


def katex_css() -> str:
    """KaTeX's stylesheet with every font inlined, so a saved page needs no other file."""
    fonts = _static("vendor", "katex", "fonts")
    css = _static("vendor", "katex", "katex.min.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        data = fonts.joinpath(m.group(1)).read_bytes()
        return f"url(data:font/woff2;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(fonts/([A-Za-z0-9_-]+\.woff2)\)", inline, css)


# --- Typst --------------------------------------------------------------------------------------------------
def template(name: str) -> bytes:
    """A Typst template shipped with the package (lesson/templates/), to pass in ``files``."""
    return resources.files("backproplab.lesson").joinpath("templates").joinpath(name).read_bytes()


def compile_typst(source: str, files: dict[str, bytes] | None = None, fmt: str = "pdf",
                  ppi: float = 144.0) -> bytes | list[bytes]:
    """Compile a Typst document offline: ``files`` (name → bytes: figures, templates) sit beside it.

    Only the fonts Typst carries are used, so a PDF is the same on every machine. A PDF is one
    ``bytes``; PNG and SVG are one ``bytes`` per page.
    """
    if fmt not in FORMATS:
        raise TypesetError(f"unknown Typst output {fmt!r}: choose from {', '.join(FORMATS)}")
    if not available():
        raise TypesetError(f"making a PDF needs the handout extra: {INSTALL}")
    import typst  # the optional typesetter of the handout extra

    with tempfile.TemporaryDirectory(prefix="backproplab-typst-") as folder:
        root = Path(folder)
        for name, data in (files or {}).items():
            path = root / name
            if root not in path.resolve().parents:
                raise TypesetError(f"a file to compile with must sit beside the document, not {name!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / "main.typ").write_text(source, encoding="utf-8")
        try:
            out = typst.compile(str(root / "main.typ"), root=str(root), format=cast(Any, fmt),
                                ignore_system_fonts=True, ppi=ppi if fmt == "png" else None)
        except typst.TypstError as exc:
            raise TypesetError(f"Typst cannot compile the document: {str(exc).strip().splitlines()[0]}") from None
    if fmt == "pdf":
        return bytes(out)
    return [bytes(p) for p in out] if isinstance(out, list) else [bytes(out)]
