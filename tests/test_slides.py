"""``backproplab slides``: the deck's content is the page's, its PDF is 16:9 with one page per reveal in large
type, and its HTML deck steps with the keys in chromium, offline, in large type with nothing clipped."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pytest

from backproplab.cli.program import main
from backproplab.lesson import document, slides
from backproplab.lesson.deck import to_html, to_pdf
from backproplab.lesson.settings import Settings
from backproplab.lesson.slide_content import Deck, SlidesError, build
from backproplab.lesson.typeset import available, template
from backproplab.util.numbers import number
from tests.test_web_browser import NO_OVERLAP, _disjoint

needs_typst = pytest.mark.skipif(not available(), reason="the PDF needs the handout extra (typst)")
ASKED = [1, 2, 3, 4]
BODY_PT = 28.0
BODY_PX = BODY_PT * 96 / 72  # 37.3 px


@pytest.fixture(scope="module")
def run():
    return document.run(Settings(preset="statquest"))


@pytest.fixture(scope="module")
def deck() -> Deck:
    return build(Settings(preset="statquest"), "1-4")


@pytest.fixture(scope="module")
def pdf(deck):
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(to_pdf(deck)))


def expected(trace, k: int) -> tuple[str, str, str]:
    """Iteration k's gradient, step size and new value as the page writes them, from the trace itself."""
    it = trace.iterations[k - 1]
    return number(it.gradients["b3"]), number(it.step_sizes["b3"]), number(it.new_value("b3"))


def iteration_pages(deck: Deck, k: int) -> list[int]:
    """The 0-based pages of iteration k's slide."""
    first = 0
    for s in deck.slides:
        if s.kind == "iteration" and s.iteration == k:
            return list(range(first, first + s.pages))
        first += s.pages
    raise AssertionError(f"no slide of iteration {k}")


def test_the_deck_is_one_slide_per_idea_and_three_reveals_per_iteration(deck, run):
    job, trace = run
    assert [s.kind for s in deck.slides] == ["network", "forward", "curve"] + ["iteration"] * len(ASKED)
    assert deck.iterations == ASKED and deck.param == "b3"
    assert deck.pages == 3 + 3 * len(ASKED)
    for s in deck.slides[3:]:
        assert [r.what for r in s.reveals] == ["gradient", "step size", "new value"]
        g, step, new = expected(trace, s.iteration)
        assert s.reveals[0].maths[-1].text.endswith(g)
        assert step in s.reveals[1].maths[0].text and s.reveals[2].maths[0].text.endswith(new)


def test_the_working_is_the_pages_own(deck, run):
    """Each line of an iteration's working is a line of the page's worked gradient (its exact-factors form)."""
    job, trace = run
    for s in deck.slides[3:]:
        page = document.worked(job, trace, "b3", s.iteration - 1)
        text = page.get("exact_factors", page)["text"]
        for r in s.reveals:
            for line in r.maths:
                assert line.text in text, (s.iteration, line.text)
    view = document.forward_view(job, trace, 0)
    table = deck.slides[1].table
    assert [cells for _, cells in table.rows] == [[row[c] for row in view["rows"]] for c in range(2, 10)]
    assert deck.slides[1].reveals[0].maths[0].text == view["lines"][0]


@needs_typst
def test_the_pdf_is_16_by_9_with_a_page_per_reveal(pdf, deck):
    assert len(pdf.pages) == deck.pages == 15
    for page in pdf.pages:
        box = page.mediabox
        assert math.isclose(float(box.width) / float(box.height), 16 / 9, rel_tol=1e-3)


@needs_typst
def test_each_reveal_adds_the_next_number(pdf, deck, run):
    _, trace = run
    for k in ASKED:
        g, step, new = expected(trace, k)
        first, second, third = (pdf.pages[i].extract_text() for i in iteration_pages(deck, k))
        assert f"= {g}" in first and "step size" not in first and "new" not in first
        assert f"= {step}" in second and "step size" in second and "new" not in second
        assert third.rstrip().splitlines()[-2].endswith(f"= {new}") and f"= {g}" in third
        assert f"Iteration {k}" in first


def _runs(page) -> list[tuple[float, str, str]]:
    """(size in points, font, text) of every piece of text on a PDF page."""
    out = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            a, b = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
            out.append((size * math.hypot(a, b), str((font or {}).get("/BaseFont", "")), text.strip()))

    page.extract_text(visitor_text=visit)
    return out


@needs_typst
def test_the_pdf_is_set_in_large_type(pdf):
    source = template("slides.typ").decode("utf-8")
    assert float(re.search(r"#let body-size = (\d+(?:\.\d+)?)pt", source).group(1)) >= BODY_PT
    assert "size: body-size" in source
    for page in pdf.pages:
        runs = [r for r in _runs(page) if not re.fullmatch(r"\d+ / \d+", r[2])]  # the slide counter in the corner
        assert runs
        words = [r for r in runs if "Math" not in r[1]]
        assert all(size >= BODY_PT - 0.05 for size, _, _ in words), [r for r in words if r[0] < BODY_PT]
        maths = [r for r in runs if "Math" in r[1]]  # sub- and superscripts are smaller, as in any maths
        assert all(size >= 0.7 * BODY_PT - 0.05 for size, _, _ in maths)
        assert sum(len(t) for s, _, t in maths if s >= BODY_PT - 0.05) >= 0.8 * sum(len(t) for _, _, t in maths)


def test_the_command_writes_the_pdf_or_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / "part3.pdf"
    if available():
        assert main(["slides", "statquest", "--iterations", "1-4", "-o", str(out)]) == 0
        assert out.read_bytes().startswith(b"%PDF") and "15 pages" in capsys.readouterr().err
    monkeypatch.setattr(slides, "available", lambda: False)
    assert main(["slides", "statquest", "--iterations", "1-2", "-o", str(tmp_path / "bare.pdf")]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "pip install 'backproplab[handout]'" in line]
    assert len(said) == 1 and "bare.html" in said[0]
    assert (tmp_path / "bare.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not (tmp_path / "bare.pdf").exists()


def test_the_python_api_writes_and_returns_the_deck(tmp_path):
    import backproplab as bl

    path = tmp_path / "deck.html"
    deck = bl.slides("statquest", iterations="2-3", path=path)
    assert deck.iterations == [2, 3] and deck.pages == 3 + 6
    assert 'data-reveals="3"' in path.read_text(encoding="utf-8")
    assert "slides" in bl.__all__


@pytest.mark.parametrize(("argv", "says"), [
    (["--iterations", "0-4"], "iteration 0 is not in this run; choose iterations from 1 to 12"),
    (["--iterations", "1-13"], "iteration 13 is not in this run"),
    (["--iterations", "one"], "is not a list such as 1-3"),
    (["--param", "w1"], "'w1' is not trained in this run (it trains b3)"),
    (["-o", "deck.pptx"], "end the file name in .pdf or .html"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, says):
    output = ["-o", str(tmp_path / "deck.html")] if "-o" not in argv else []
    assert main(["slides", "statquest", *argv, *output]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("backproplab slides: error:"), err


def test_a_deck_holds_a_lecture_not_a_run():
    with pytest.raises(SlidesError, match="a deck holds at most 40"):
        build(Settings(lr=0.01), "1-41")


def test_another_parameter_and_a_larger_network(tmp_path):
    deck = build(Settings(preset="statquest", optimize="all"), "1", "w1")
    assert deck.param == "w1" and deck.slides[-1].title.startswith("Iteration 1: w1 = 3.34")
    moons = build(Settings(preset="moons", optimize="all"), "1", "b3")
    table = moons.slides[1].table
    assert table is not None and table.columns == [f"sample {i}" for i in range(1, 5)]
    assert to_html(moons).count('class="slide ') == 4
    with pytest.raises(SlidesError, match="W1 is a matrix; slides step through a single-number parameter"):
        build(Settings(preset="moons", optimize="all"), "1", "W1")
    with pytest.raises(SlidesError, match="trains no single-number parameter"):
        build(Settings(preset="moons", optimize=["W1", "W2"]), "1")


# --- the HTML deck in chromium ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deck_file(tmp_path_factory, deck) -> Path:
    path = tmp_path_factory.mktemp("slides") / "part3.html"
    path.write_text(to_html(deck), encoding="utf-8")
    return path


def _state(page) -> tuple[str, int, str]:
    """The slide shown, how many of its reveals show, and the counter."""
    return page.evaluate("""() => {
        const s = [...document.querySelectorAll('.slide')].filter(e => !e.hidden);
        if (s.length !== 1) return ['', -1, ''];
        const shown = [...s[0].querySelectorAll('.reveal')].filter(r => getComputedStyle(r).visibility === 'visible');
        return [s[0].id, shown.length, document.getElementById('counter').textContent];
    }""")


SIZES = """slide => {
    const out = [];
    for (const el of slide.querySelectorAll('h1, p, th, td, .katex-display > .katex')) {
        if (el.textContent.trim()) out.push([el.tagName + ':' + el.textContent.trim().slice(0, 30),
                                             parseFloat(getComputedStyle(el).fontSize)]);
    }
    for (const t of slide.querySelectorAll('svg text')) {  // an SVG's label: its size as the drawing is scaled
        const svg = t.ownerSVGElement;
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        out.push(['svg:' + t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale]);
    }
    return out;
}"""

INSIDE = """slide => {
    const box = slide.getBoundingClientRect();
    return [...slide.querySelectorAll('h1, p, table, .katex-display, figure, svg text')].filter(e =>
        getComputedStyle(e.closest('.reveal') || e).visibility === 'visible').map(e => {
        const r = e.getBoundingClientRect();
        return [e.tagName + ':' + e.textContent.trim().slice(0, 30),
                r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5 &&
                r.bottom <= box.bottom + 0.5, e.scrollWidth <= e.clientWidth + 1 || e.tagName === 'text'];
    });
}"""


def test_the_html_deck_steps_with_the_keys_offline_in_large_type(browser, deck_file, deck, run):
    _, trace = run
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(deck_file.as_uri())
        assert page.evaluate("document.activeElement.id") == "deck"  # the keys work at once
        assert _state(page) == ["slide-1", 1, "1 / 7"]
        seen = [_state(page)]
        for _ in range(deck.pages - 1):
            page.keyboard.press("ArrowRight")
            seen.append(_state(page))
        assert len(set(map(tuple, seen))) == deck.pages  # every press shows something new
        assert [s[1] for s in seen[3:6]] == [1, 2, 3]  # the first iteration's reveals, in order
        assert seen[-1] == ["slide-7", 3, "7 / 7 · 3 of 3"]
        page.keyboard.press("ArrowRight")  # past the end: stays
        assert _state(page) == seen[-1]
        for key, back in (("ArrowLeft", -2), ("PageUp", -3), ("Shift+Space", -4)):
            page.keyboard.press(key)
            assert _state(page) == seen[back], key
        page.keyboard.press("Home")
        assert _state(page) == seen[0]
        for key, to in (("Space", 1), ("PageDown", 2), ("End", -1)):
            page.keyboard.press(key)
            assert _state(page) == seen[to], key
        for at in range(deck.pages):  # every page: large type, nothing cut off, nothing on top of anything
            page.keyboard.press("Home")
            for _ in range(at):
                page.keyboard.press("ArrowRight")
            slide = page.locator(".slide:not([hidden])")
            small = [(what, px) for what, px in slide.evaluate(SIZES) if px < BODY_PX - 0.05]
            assert small == [], (at, small)
            cut = [what for what, inside, whole in slide.evaluate(INSIDE) if not (inside and whole)]
            assert cut == [], (at, cut)
            shown = ", ".join(f".slide:not([hidden]) {part}" for part in (
                "h1", ".reveal:not(.later) > p", ".reveal:not(.later) .katex-display", "table", "figure"))
            _disjoint(page.locator(shown + ", .chrome").evaluate_all(NO_OVERLAP))  # the counter too
            _disjoint(slide.locator("svg text").evaluate_all(NO_OVERLAP))
        page.keyboard.press("End")
        last = page.locator(".slide:not([hidden])").inner_text()
        g, step, new = expected(trace, 4)
        assert g in last and step in last and new in last
        page.keyboard.press("Home")
        for _ in range(3):  # the buttons are reachable, and Space on one presses it once
            if page.evaluate("document.activeElement.id") != "next":
                page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "next"
        page.keyboard.press("Space")
        assert _state(page)[0] == "slide-2"
        assert [u for u in asked if not u.startswith("file:")] == [] and errors == []
    finally:
        page.close()
