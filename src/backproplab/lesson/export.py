"""``backproplab export``: one lesson as ONE self-contained HTML file, playable offline.

The file holds the lesson document, the page's scripts and styles, and KaTeX with its fonts as
``data:`` URLs, so opened from disk it loads nothing from the network.
"""

from __future__ import annotations

import base64
import re
from importlib import resources
from typing import Any

from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings

MODULES = ("format.js", "draw.js", "network.js", "charts.js", "derivation.js", "table.js", "state.js", "own.js",
           "page.js", "ask.js", "controls.js", "render.js", "play.js", "guide.js", "link.js", "app.js")
IMPORT = re.compile(r"^import .*?;\s*$", re.M)


def static_dir() -> Any:
    """The page's files (``static/``), which the server serves and an export inlines."""
    return resources.files("backproplab.lesson").joinpath("static")


def _read(name: str) -> str:
    return static_dir().joinpath(name).read_text(encoding="utf-8")


def _katex_css() -> str:
    """KaTeX's stylesheet with every font inlined."""
    fonts = static_dir().joinpath("vendor", "katex", "fonts")
    css = _read("vendor/katex/katex.min.css")

    def inline(m: re.Match[str]) -> str:
        data = fonts.joinpath(m.group(1)).read_bytes()
        return f"url(data:font/woff2;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(fonts/([A-Za-z0-9_-]+\.woff2)\)", inline, css)


def bundle() -> str:
    """The page's ES modules as one module script: imports dropped (everything shares one scope)."""
    parts = []
    for name in MODULES:
        text = IMPORT.sub("", _read(name))
        text = re.sub(r"^export (?=(async )?function|const|let|class)", "", text, flags=re.M)
        parts.append(f"// --- {name}\n{text}")
    return "\n".join(parts)


def _safe(text: str) -> str:
    """Text that can sit inside a <script> or <style> element."""
    return text.replace("</", "<\\/")


def render(doc: dict[str, Any]) -> str:
    """The exported page: the served page with every reference replaced by its content."""
    html = _read("index.html")
    data = lesson.to_json(doc).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    html = html.replace('<link rel="stylesheet" href="/static/vendor/katex/katex.min.css">',
                        f"<style>{_safe(_katex_css())}</style>")
    html = html.replace('<link rel="stylesheet" href="/static/lesson.css">',
                        f"<style>{_safe(_read('lesson.css'))}</style>")
    html = html.replace('<script src="/static/vendor/katex/katex.min.js"></script>',
                        f"<script>{_safe(_read('vendor/katex/katex.min.js'))}</script>")
    html = re.sub(r'<link rel="modulepreload" href="/static/[^"]+">\n', "", html)  # the modules are inlined below
    html = html.replace('<script type="module" src="/static/app.js"></script>',
                        f'<script type="application/json" id="lesson-document">{data}</script>\n'
                        f'<script type="module">{_safe(bundle())}</script>')
    if "/static/" in html:
        raise RuntimeError("the exported page still refers to a served file")
    return html


def export(settings: Settings) -> str:
    """The whole lesson for ``settings``, every worked gradient that fits the size budget included."""
    return render(lesson.build(settings, everything=True))
