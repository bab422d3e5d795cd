"""The lesson page re-derives nothing Python knows: the document carries every word, list and colour
the page shows (the loss's symbol, the optimizer's name, where the run stopped, the examples and
optimizers to choose from, the figures' pink), each written once in Python for every surface."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from backproplab import plots
from backproplab.explain.run import explain_run
from backproplab.explain.terminal import render_run
from backproplab.explain.words import LOSS_SYMBOLS, loss_symbol, method_name, stopped_sentence
from backproplab.lesson import document as lesson
from backproplab.lesson.export import MODULES
from backproplab.lesson.settings import Settings
from backproplab.optim import OPTIMIZERS
from backproplab.spec.presets import PRESETS

LESSON = Path(lesson.__file__).resolve().parent
STATIC = LESSON / "static"
SOURCE = LESSON.parent
PAGE_SCRIPTS = sorted(p for p in STATIC.glob("*.js") if p.name != "widget.js")


def page_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [*PAGE_SCRIPTS, STATIC / "index.html"])


@pytest.fixture(scope="module")
def short():
    """The dosage example stopped by its maximum number of steps."""
    settings = Settings(max_steps=3)
    job, trace = lesson.run(settings)
    return job, trace, lesson.document(job, trace, settings)


def test_the_loss_symbols_are_written_once_and_the_document_carries_the_runs(short):
    _, trace, doc = short
    assert doc["words"]["loss"] == {"name": trace.loss, "symbol": loss_symbol(trace.loss)} == {"name": "ssr",
                                                                                               "symbol": "SSR"}
    for path in [*SOURCE.joinpath("explain").glob("*.py"), *SOURCE.joinpath("lesson").glob("*.py")]:
        if path.name != "words.py":  # the one map
            assert '"cross_entropy": "CE"' not in path.read_text(encoding="utf-8"), path.name
    assert not re.search(r"cross_entropy\s*:\s*\"CE\"", page_text())
    assert "lossSymbol" not in page_text()
    bce = lesson.build(Settings(preset="moons", max_steps=2))
    assert bce["words"]["loss"]["symbol"] == LOSS_SYMBOLS["bce"] == "BCE"


def test_one_sentence_says_where_the_run_stopped_on_every_surface(short):
    job, trace, doc = short
    said = stopped_sentence(trace.final)
    assert trace.final.stopped_by == "max_steps" and said.startswith(f"Stopped after {trace.final.steps} step(s)")
    assert doc["words"]["stopped"] == said and doc["words"]["diverged"] == ""
    out = io.StringIO()
    render_run(trace, Console(file=out, width=200, color_system=None))
    assert said in out.getvalue()
    assert said in explain_run(trace, job.net).to_text()
    assert "stoppedText" not in page_text() and "fell below the minimum step" not in page_text()


def test_a_diverged_run_says_so_with_the_optimizers_own_message():
    settings = Settings(lr=10.0, max_steps=60)
    job, trace = lesson.run(settings)
    doc = lesson.document(job, trace, settings)
    assert trace.final.stopped_by == "diverged"
    assert doc["words"]["stopped"] == stopped_sentence(trace.final)
    assert doc["words"]["stopped"].endswith(trace.final.message) and "the run diverged" in doc["words"]["stopped"]
    assert doc["words"]["diverged"].startswith(f"The run diverged: {trace.final.message}")
    assert f"The {len(trace.iterations)} steps before it stay playable." in doc["words"]["diverged"]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_the_document_names_the_runs_optimizer(optimizer):
    doc = lesson.build(Settings(optimizer=optimizer, max_steps=2))
    name = method_name(optimizer)
    assert doc["words"]["optimizer"] == name and doc["settings"]["optimizer"] == optimizer
    if optimizer == "gradient_descent":
        assert "× 0.1 (the learning rate)" in doc["words"]["rule"]
    else:
        assert f"{name}'s step size" in doc["words"]["rule"]
    assert method_name("adamw") == "AdamW"


def test_the_choices_come_from_the_presets_and_the_optimizers(short):
    _, _, doc = short
    assert [c["value"] for c in doc["choices"]["presets"]] == list(PRESETS)
    optimizers = {c["value"]: c["label"] for c in doc["choices"]["optimizers"]}
    assert list(optimizers) == list(OPTIMIZERS) and optimizers["adamw"] == "AdamW"
    assert optimizers["gradient_descent"] == "gradient descent" and optimizers["sgd"] == "SGD"
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<select id="optimizer">\s*</select>', html) and '<select id="preset"' in html
    assert "PRESETS" not in page_text() and '"spiral"' not in page_text()


def _settings_table() -> list[tuple[str, str, str]]:
    text = (STATIC / "state.js").read_text(encoding="utf-8")
    table = text[text.index("export const SETTINGS = ["):]
    table = table[:table.index("];")]
    return re.findall(r'\{ name: "(\w+)", control: "([\w-]+)", type: "(\w+)" \}', table)


def test_the_page_holds_one_settings_table_with_every_setting_the_document_carries(short):
    _, _, doc = short
    rows = _settings_table()
    assert [name for name, _, _ in rows] == list(doc["settings"])
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for _, control, _ in rows:
        assert f'id="{control}"' in html
    for path in PAGE_SCRIPTS:  # no other hand-written list of the settings' controls
        if path.name != "state.js":
            text = path.read_text(encoding="utf-8")
            assert not re.search(r'"min-step"|"max-steps"|\bh\.max_steps\b|\bmin_step:', text), path.name


def test_one_pink_on_the_page_and_in_the_figures(short):
    _, _, doc = short
    assert doc["colours"]["pink"] == plots.PINK
    files = [*STATIC.glob("*.js"), *STATIC.glob("*.css"), STATIC / "index.html", *SOURCE.joinpath("plots").glob("*.py")]
    for path in files:
        text = path.read_text(encoding="utf-8").lower()
        for other in ("e7298a", "ff69b4", "hotpink", "deeppink"):
            assert other not in text, (path.name, other)
        if path.name != "base.py":
            assert plots.PINK.lower() not in text, path.name


def test_the_page_takes_every_colour_the_figures_have_from_the_document(short):
    """Pink, green, blue, vermillion and the two classes' colours are the figures' own, sent by the document; no
    page file writes one."""
    from backproplab.plots.boundary import CLASS_COLOURS

    _, _, doc = short
    assert doc["colours"] == {"pink": plots.PINK, "green": plots.GREEN, "blue": plots.OKABE_ITO["blue"],
                              "vermillion": plots.OKABE_ITO["vermillion"], "class0": CLASS_COLOURS[0],
                              "class1": CLASS_COLOURS[1]}
    assert CLASS_COLOURS[:2] == (plots.OKABE_ITO["sky"], plots.OKABE_ITO["orange"])  # class 0 sky, as drawn
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.css"), STATIC / "index.html"]:
        text = path.read_text(encoding="utf-8").lower()
        for colour in doc["colours"].values():
            assert colour.lower() not in text, (path.name, colour)


def test_the_page_scripts_are_short_modules_the_export_inlines_in_order():
    assert sorted(MODULES) == sorted(p.name for p in PAGE_SCRIPTS) and MODULES[-1] == "app.js"
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for path in PAGE_SCRIPTS:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name
        assert f'<link rel="modulepreload" href="/static/{path.name}">' in html


def test_no_lesson_function_is_long():
    for path in LESSON.glob("*.py"):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, (path.name, node.name)
