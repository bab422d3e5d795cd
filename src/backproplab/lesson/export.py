"""``backproplab export``: one lesson as ONE self-contained HTML file, playable offline.

The file holds the lesson document, the page's scripts and styles, and KaTeX with its fonts as
``data:`` URLs, so opened from disk it loads nothing from the network. It may hold several runs
(``lesson.runs``) to switch between, and leave out controls, for a page embedded in another.
"""

from __future__ import annotations

import html as markup
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from backproplab.lesson import document as lesson
from backproplab.lesson import typeset
from backproplab.lesson.runs import Run, build_runs, check_hide, parse_run, parse_runs, runs_table
from backproplab.lesson.settings import Settings, settings_from_dict
from backproplab.plots.curves import MAX_COMPARED
from backproplab.spec.data import read_data_text
from backproplab.spec.job import JobSettings, names_a_file, read_job
from backproplab.spec.presets import PRESETS
from backproplab.util import files
from backproplab.util.messages import InputError, unknown_name_message

MODULES = ("format.js", "draw.js", "network.js", "charts.js", "derivation.js", "table.js", "state.js", "own.js",
           "page.js", "ask.js", "compare.js", "sidebyside.js", "controls.js", "render.js", "play.js", "checkbox.js",
           "predict.js", "guide.js", "link.js", "tour.js", "app.js")
IMPORT = re.compile(r"^import .*?;\s*$", re.M)


def static_dir() -> Any:
    """The page's files (``static/``), which the server serves and an export inlines."""
    return resources.files("backproplab.lesson").joinpath("static")


def _read(name: str) -> str:
    return static_dir().joinpath(name).read_text(encoding="utf-8")


def _katex_css() -> str:
    """KaTeX's stylesheet with every font inlined (one function, shared with the handouts and slides)."""
    return typeset.katex_css()


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


def _json_script(value: Any, element_id: str) -> str:
    """JSON that can sit inside a <script> element (no '<', no line separators JavaScript would end a line at)."""
    data = value if isinstance(value, str) else lesson.to_json(value)
    data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{element_id}">{data}</script>'


def with_hide(html: str, hide: Iterable[str] = ()) -> str:
    """The page with the controls to leave out named in its head (the page reads them, and ``?hide=``)."""
    names = " ".join(hide)
    if not names:
        return html
    meta = f'<meta name="backproplab-hide" content="{markup.escape(names)}">'
    return html.replace("</title>\n", f"</title>\n{meta}\n", 1)


def render(doc: dict[str, Any], runs: dict[str, Any] | None = None, hide: Iterable[str] = ()) -> str:
    """The exported page: the served page with every reference replaced by its content; ``runs``
    (:func:`lesson.runs.runs_table`) when the file holds several runs, ``hide`` the controls left out."""
    html = with_hide(_read("index.html"), hide)
    html = html.replace('<link rel="stylesheet" href="/static/vendor/katex/katex.min.css">',
                        f"<style>{_safe(_katex_css())}</style>")
    html = html.replace('<link rel="stylesheet" href="/static/lesson.css">',
                        f"<style>{_safe(_read('lesson.css'))}</style>")
    html = html.replace('<script src="/static/vendor/katex/katex.min.js"></script>',
                        f"<script>{_safe(_read('vendor/katex/katex.min.js'))}</script>")
    html = re.sub(r'<link rel="modulepreload" href="/static/[^"]+">\n', "", html)  # the modules are inlined below
    data = _json_script(doc, "lesson-document") + ("\n" + _json_script(runs, "lesson-runs") if runs else "")
    html = html.replace('<script type="module" src="/static/app.js"></script>',
                        f'{data}\n<script type="module">{_safe(bundle())}</script>')
    if "/static/" in html:
        raise RuntimeError("the exported page still refers to a served file")
    return html


def export_html(settings: Settings, runs: Iterable[str | Mapping[str, Any]] = (),
                hide: Iterable[str] | str = (), compare: Iterable[str] = ()) -> str:
    """The whole lesson for ``settings`` (each run's settings on top, if several), every worked gradient that fits
    the size budget included, with the controls ``hide`` names left out; ``compare``: runs the file opens with
    drawn beside the first (each held in the file too)."""
    hidden = check_hide(hide)
    chosen = parse_runs(runs)
    beside = compared_runs(chosen, compare)
    if beside:
        chosen = chosen or [parse_run("")]
        chosen += [r for r in beside if r.label not in {c.label for c in chosen}]
        parse_runs([r.overrides for r in chosen])  # at most MAX_RUNS, none twice
    if not chosen:
        return render(lesson.build(settings, everything=True), hide=hidden)
    built = build_runs(settings, chosen)
    table = runs_table(built) | {"compare": [r.label for r in beside]}
    return render(built[0][1], table if len(built) > 1 else None, hidden)


def compared_runs(chosen: list[Run], compare: Iterable[str]) -> list[Run]:
    """The runs to open beside the first, checked: at most three, none the first run itself."""
    beside = [parse_run(text) for text in compare]
    if len(beside) > MAX_COMPARED - 1:
        raise InputError(f"{len(beside)} runs to compare is more than the page draws beside the first "
                         f"({MAX_COMPARED - 1})")
    if chosen and any(r.overrides == chosen[0].overrides for r in beside):
        raise InputError(f"run {chosen[0].label!r} is the run shown first; compare it with others")
    return beside


def source_settings(source: str | Path | Settings, data_dirs: Iterable[str] | None = None,
                    **settings: Any) -> Settings:
    """The settings of a preset (by name) or of a spec file (its text, and its CSV file's text if it names one,
    read by the same checked reader as ``backproplab run``), with the page's settings on top."""
    if isinstance(source, Settings):
        return source if not settings else settings_from_dict({**_given(source), **settings})
    text = str(source)
    if text in PRESETS:
        return settings_from_dict({"preset": text, **settings})
    if not names_a_file(text):
        raise InputError(unknown_name_message("preset", text, PRESETS) + ", or give the path of a .toml spec file")
    spec_text, job = read_job(text, JobSettings(data_dirs=None if data_dirs is None else tuple(data_dirs)))
    spec = job.spec
    csv_text = None
    if "csv" in spec.data:
        csv_text = read_data_text(spec.data["csv"], spec.path.parent if spec.path else None, spec.where,
                                  spec.data_dirs)
    return settings_from_dict({"spec_text": spec_text, "csv_text": csv_text, **settings})


def _given(settings: Settings) -> dict[str, Any]:
    return {k: v for k, v in settings.__dict__.items() if v is not None and v != {}}


def export(source: str | Path | Settings = "statquest", path: str | Path | None = None, *,
           runs: Iterable[str | Mapping[str, Any]] = (), hide: Iterable[str] | str = (),
           compare: Iterable[str] = (), data_dirs: Iterable[str] | None = None, **settings: Any) -> str:
    """The lesson as ONE self-contained HTML file that plays offline: its text, written to ``path`` if given.

    ``source``: a preset's name, a spec file's path, or page :class:`Settings`; ``settings``: the page's
    settings on top (``lr=0.3``, ``optimizer="adam"``, ``optimize=["b3"]``, ``start={"b3": 1.0}``,
    ``min_step``, ``max_steps``); ``runs``: several runs to switch between, each as the page's settings
    (``["lr=0.1", "lr=0.3", "start.b3=5"]``); ``hide``: controls to leave out (``["optimizer", "lr"]``);
    ``compare``: runs drawn beside the first when the file opens (``["lr=0.34"]``).
    ``bl.export("statquest", "lesson.html", runs=["lr=0.1", "lr=0.3"])``"""
    html = export_html(source_settings(source, data_dirs, **settings), runs, hide, compare)
    if path is not None:
        files.write_text(path, html, example="lesson.html")  # replaced only once complete
    return html
