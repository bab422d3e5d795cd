"""The lesson page does the least work for what it shows: the document works Adam's moments out once and
builds each screen-reader line from the row's own numbers; the page loads its modules at once and asks
for the lesson and the initial settings together; a step draws the whole page once, a worked gradient's
arrival only what it changes, and a redraw keeps a heat map it already built. What is shown stays the
same (tests/test_page_speed_equivalence.py, the page's content and layout tests)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from backproplab.lesson import document as lesson
from backproplab.lesson import export
from backproplab.lesson.settings import Settings
from tests.web_helpers import live_server

STATIC = Path(lesson.__file__).resolve().parent / "static"


def _run(preset: str, **options) -> tuple:
    settings = Settings(preset=preset, **options)
    return (settings, *lesson.run(settings))


def test_adam_moments_are_worked_out_once_per_parameter_for_the_document(monkeypatch):
    """An exported document prints the command line's lines of many iterations: Adam's m̂ and v̂ for the
    whole run are worked out once per parameter, not again for every iteration; the lines are those a
    single iteration's own working gives."""
    settings, job, trace = _run("statquest", optimizer="adam", optimize="all", max_steps=12, min_step=0.0)
    calls = []
    original = lesson.run_moments
    monkeypatch.setattr(lesson, "run_moments", lambda t, n: calls.append(n) or original(t, n))
    doc = lesson.document(job, trace, settings, everything=True)
    assert sorted(calls) == sorted(trace.optimize)
    assert len(doc["cli_lines"]) == 12
    for key, lines in doc["cli_lines"].items():
        assert lines == lesson.cli_lines(trace, int(key) - 1)  # each iteration's moments recorded anew
        assert any("m̂" in line for line in lines)


@pytest.mark.parametrize(("preset", "options"), [
    ("classic", {"max_steps": 60}),
    ("statquest", {"optimizer": "adam", "optimize": "all", "max_steps": 20}),
    ("moons", {"max_steps": 20}),
    ("statquest", {"lr": 20.0, "optimize": "all", "max_steps": 200}),  # diverges: huge and non-finite numbers
])
def test_announcements_from_the_row_are_the_traces_own(preset, options):
    """Each kept row's screen-reader lines, built from the row's plain numbers, are the lines worked out
    from the trace itself (norms of arrays, non-finite numbers included)."""
    _, job, trace = _run(preset, **options)
    keep = lesson.kept_iterations(trace)
    rows = lesson.trace_dict(trace, keep)["iterations"]
    assert rows
    for row, i in zip(rows, keep):
        assert row["announce"] == lesson.announcements(trace, trace.iterations[i], i + 1)


def test_announcements_do_not_work_the_numbers_out_again(monkeypatch):
    """The document's rows already hold every new value and array norm: the announcements format them,
    and do not ask the trace for scalars or norms a second time (most of a long run's document build)."""
    for preset in ("classic", "moons"):
        _, job, trace = _run(preset, max_steps=30)
        keep = lesson.kept_iterations(trace)
        arrays = [n for n in trace.optimize if np.ndim(trace.iterations[0].params[n])]
        scalars, norms = [], []
        monkeypatch.setattr(lesson, "scalar", lambda v: scalars.append(v) or float(v))
        original = lesson.array_norm
        monkeypatch.setattr(lesson, "array_norm", lambda v: norms.append(1) or original(v))
        rows = lesson.trace_dict(trace, keep)["iterations"]
        monkeypatch.undo()
        assert scalars == []
        assert len(norms) == 2 * len(arrays) * len(keep)  # the row's norms, once each
        assert all(row["announce"][n].startswith(f"iteration {row['iteration']}: ") for row in rows
                   for n in trace.optimize)


def test_the_page_preloads_every_module_it_imports():
    """index.html names every module app.js brings in, so the browser fetches them all at once instead
    of finding them one import at a time; the exported page (modules inlined) keeps none of these links."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([\w.]+)">', html))
    imported, todo = {"app.js"}, ["app.js"]
    while todo:
        text = (STATIC / todo.pop()).read_text(encoding="utf-8")
        for name in re.findall(r'^import .*? from "\./([\w.]+)";', text, flags=re.M):
            if name not in imported:
                imported.add(name)
                todo.append(name)
    assert len(imported) > 5 and preloaded == imported
    page = export.render(lesson.build(Settings(preset="statquest", max_steps=3)))
    assert "modulepreload" not in page and "/static/" not in page


@pytest.fixture(scope="module")
def moons():
    with live_server(Settings(preset="moons")) as url:
        yield url


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


SHOWN = """(k) => document.getElementById("derivation-title").textContent.endsWith(` at iteration ${k}`)
  && !document.querySelector("#derivation p.missing") && document.getElementById("status").textContent === ""
  && document.querySelector("#table h3").textContent.startsWith(`Iteration ${k}`)"""


def _wait_shown(page, k: int) -> None:
    """Poll with evaluate: older Playwright (1.44, 1.50) runs wait_for_function's text through eval, which the
    page's Content-Security-Policy (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + 30
    while not page.evaluate(SHOWN, k):
        assert time.monotonic() < deadline, f"iteration {k} was not shown within 30 s"
        page.wait_for_timeout(50)


def test_the_lesson_and_the_initial_settings_are_asked_for_together(browser, moons):
    """While the lesson is still on its way, the page has already asked for the initial settings: the
    small answer does not wait behind the large one."""
    page, errors = _open(browser, moons)
    held = []
    page.route("**/api/lesson", lambda route: held.append(route))
    try:
        with page.expect_request(lambda r: r.url.endswith("/api/initial"), timeout=10_000):
            page.goto(moons + "/", wait_until="commit")
        assert len(held) == 1  # the lesson is asked for, and not answered yet
        held[0].continue_()
        _wait_shown(page, 1)
        assert errors == []
    finally:
        page.close()


def test_a_step_draws_the_page_once_and_keeps_its_heat_map(browser, moons):
    """Stepping to an iteration whose worked gradient the server works out draws the whole page once; the
    answer then draws the derivation and what else it brought, not the page again. A redraw at the same
    size puts back the heat map it built for that snapshot instead of building 1,296 squares anew."""
    page, errors = _open(browser, moons)
    try:
        page.goto(moons + "/")
        _wait_shown(page, 1)
        for k in (2, 3):
            before = page.evaluate("window.backproplabRenders()")
            page.keyboard.press("ArrowRight")
            _wait_shown(page, k)
            page.wait_for_timeout(400)  # the step's animation has ended
            assert page.evaluate("window.backproplabRenders()") - before == 1
        heat = page.query_selector("#predictions .heat")
        assert len(heat.query_selector_all("rect")) == 36 * 36
        page.evaluate("() => { document.querySelector('#predictions .heat').dataset.drawn = 'before'; }")
        page.check("#log")  # the loss chart's scale: the whole page is drawn again, at the same size
        assert page.evaluate("window.backproplabRenders()") - before == 2
        assert page.evaluate("() => document.querySelector('#predictions .heat').dataset.drawn") == "before"
        assert "iteration 3" in page.inner_text("#pred-panel")
        page.click("#back")  # another snapshot: its own heat map
        _wait_shown(page, 2)
        assert page.evaluate("() => document.querySelector('#predictions .heat').dataset.drawn") is None
        assert errors == []
    finally:
        page.close()
