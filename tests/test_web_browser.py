"""The lesson page in a real browser (Debian's chromium through Playwright): served, and as an
exported file opened from disk with every network request blocked.

Chromium must be installed (``apt-get install chromium``; ``.ci/run`` does it): without it these
tests fail rather than skip, so a CI run can never pass without the browser checks.
Set BACKPROPLAB_SCREENSHOTS=1 to write the screenshots into docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backproplab.lesson.export import export
from backproplab.lesson.settings import Settings

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


class Page:
    """A page at 1366×768 that records console errors, page errors and network requests."""

    def __init__(self, browser, offline: bool = False, width: int = 1366, height: int = 768,
                 own_context: bool = False) -> None:
        viewport = {"width": width, "height": height}
        self.context = browser.new_context(viewport=viewport) if own_context else None  # storage of its own
        self.page = self.context.new_page() if self.context else browser.new_page(viewport=viewport)
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        if offline:
            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    self.blocked.append(r.request.url)
                    r.abort()
            self.page.route("**/*", route)

    def open(self, url: str) -> Page:
        self.page.goto(url)
        self.page.wait_for_selector("#table h3")
        return self

    def wait_text(self, selector: str, text: str, present: bool = True) -> None:
        """Wait until the element shows ``text`` (or no longer shows it); no eval, so CSP allows it."""
        from playwright.sync_api import expect

        check = expect(self.page.locator(selector))
        (check.to_contain_text if present else check.not_to_contain_text)(text, timeout=15_000)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def wait_iteration(self, k: int) -> None:
        """Wait until the page shows iteration ``k`` (one asked of the server comes a moment later)."""
        from playwright.sync_api import expect

        expect(self.page.locator("#table h3")).to_have_text(re.compile(rf"^Iteration {k}\b"), timeout=15_000)
        assert self.iteration() == k

    def iteration(self) -> int:
        return int(self.page.input_value("#iteration"))

    def close(self) -> None:
        (self.context or self.page).close()


def steps_and_derivation(p: Page) -> None:
    """The worked example: three steps reach b3 = 2.44; w1's gradient at iteration 1 is 7.34."""
    assert p.iteration() == 1 and "b3 = 0.00" in p.text("#table h3")
    for _ in range(3):
        p.page.click("#step")
    assert p.iteration() == 4
    assert "b3 = 2.44" in p.text("#table h3")
    row = p.text("table.steps tbody tr")
    assert re.search(r"b3\s+2\.44\s+−", row), row
    p.page.keyboard.press("Home")
    assert "new b3 = old b3 − step size = 0 − (−1.57) = 1.57" in p.text("pre.cli-lines")
    p.page.click("g.edge-label[data-param=w1]")
    p.wait_text("#derivation", "7.34")
    assert "dSSR/dw1 at iteration 1" in p.text("#derivation-title")
    assert p.page.query_selector("#derivation .katex")  # typeset by KaTeX, not shown as source


def keyboard(p: Page) -> None:
    p.page.focus("body")
    p.page.keyboard.press("ArrowRight")
    p.page.keyboard.press("ArrowRight")
    assert p.iteration() == 3
    p.page.keyboard.press("ArrowLeft")
    assert p.iteration() == 2
    p.page.keyboard.press("End")
    last = p.iteration()
    assert last > 5 and p.text("#of") == f"/ {last}"
    p.page.keyboard.press("Home")
    assert p.iteration() == 1
    p.page.fill("#speed", "3")  # a step every 333 ms: the dosage run's 12 iterations take 4 s to play
    p.page.locator("#speed").blur()
    p.page.keyboard.press(" ")
    for _ in range(100):
        if p.iteration() >= 2:
            break
        p.page.wait_for_timeout(20)
    assert p.iteration() >= 2  # playing
    p.page.keyboard.press(" ")
    assert stops(p, last)


def stops(p: Page, last: int) -> bool:
    """Playback has stopped before the run's end: the play button says "play" and the iteration holds still
    for a second (three steps' time at the speed set)."""
    shown = p.iteration()
    p.page.wait_for_timeout(1000)
    return p.iteration() == shown < last and p.page.get_attribute("#play", "aria-label") == "play"


def shared_url(browser, p: Page, offline: bool = False) -> None:
    p.page.keyboard.press("Home")
    p.page.keyboard.press("ArrowRight")
    p.page.keyboard.press("ArrowRight")
    p.page.click("g.edge-label[data-param=w3]")
    url = p.page.url
    assert "it=3" in url and "param=w3" in url
    q = Page(browser, offline).open(url)
    try:
        assert q.iteration() == 3
        assert q.text("#derivation-title") == p.text("#derivation-title") == "dSSR/dw3 at iteration 3"
        assert q.page.input_value("#param") == "w3"
        for page in (p, q):  # the worked gradient, and with it the command line's lines, has come back
            page.wait_text("#derivation", "working it out", present=False)
        assert q.text("#table") == p.text("#table")
    finally:
        q.close()


def test_served_page(browser, server):
    p = Page(browser).open(server + "/")
    try:
        assert "b3 = 0.00" in p.text("#table h3") and p.errors == []
        keyboard(p)
        p.page.keyboard.press("Home")
        shared_url(browser, p)
        # click a weight and type its starting value: the run is worked out again from there
        p.page.click("g.edge-label[data-param=w3]")
        p.page.fill("#derivation .start-edit input", "-1.0")
        p.page.press("#derivation .start-edit input", "Enter")
        p.wait_text("g.edge-label[data-param=w3]", "w3 = −1.00")
        assert p.page.input_value("#optimize input.start[data-param=w3]") == "-1"
        assert p.errors == []
    finally:
        p.close()


def test_served_steps_and_derivation_with_optimize_all(browser, server):
    p = Page(browser).open(server + "/#optimize=all")
    try:
        for box in p.page.query_selector_all("#optimize input.opt-box"):
            assert box.is_checked()
        p.page.click("g.edge-label[data-param=w1]")
        p.wait_text("#derivation", "7.34")
        p.page.click("table.steps tr[data-param=w4]")  # a row of the table selects it everywhere
        p.wait_text("#derivation-title", "dSSR/dw4")
        assert p.page.input_value("#param") == "w4"
        assert "selected" in p.page.get_attribute("g.edge-label[data-param=w4]", "class")
        # the default run (b3 only): three steps reach 2.44
        q = Page(browser).open(server + "/")
        steps_and_derivation(q)
        q.close()
        assert p.errors == []
    finally:
        p.close()


def test_served_divergence_and_spec_errors(browser, server):
    p = Page(browser).open(server + "/")
    try:
        p.page.fill("#lr", "10")
        p.page.press("#lr", "Enter")
        p.page.wait_for_selector("#banner.diverged")
        text = p.text("#banner")
        assert "The run diverged: iteration" in text and "stay playable" in text
        last = int(p.text("#of").split("/")[1])
        p.page.click("#last")
        assert p.iteration() == last and last >= 2
        p.page.click("#back")
        assert p.iteration() == last - 1
        p.page.click("#own")
        p.page.fill("#spec-text", "version = 1\n[network\nkind = 'mlp'\n")
        p.page.click("#run-spec")
        p.wait_text("#spec-error", "spec")
        error = p.text("#spec-error")
        assert error.startswith("spec:2: not valid TOML") and "\n" not in error
        p.page.fill("#spec-text", "version = 1\n[network]\nkind = 'mlp'\ninputs = 1\nlayers = [{size = 1}]\n"
                    "[data]\ncsv = '../../etc/passwd'\nx = 'a'\ny = 'b'\n")
        p.page.click("#run-spec")
        p.wait_text("#spec-error", "server")
        assert "cannot read a file on the server" in p.text("#spec-error")
        assert [e for e in p.errors if "status of 4" not in e] == []  # the 4xx answers are expected
    finally:
        p.close()


def test_the_page_shows_the_documents_words_and_lists(browser, server):
    """The choices, the rule under the steps and where the run stopped are the document's own words."""
    from backproplab.lesson import document as lesson

    doc = lesson.build(Settings())
    p = Page(browser).open(server + "/")
    try:
        options = p.page.eval_on_selector_all("#optimizer option", "os => os.map(o => [o.value, o.textContent])")
        assert options == [[c["value"], c["label"]] for c in doc["choices"]["optimizers"]]
        assert ["adamw", "AdamW"] in options
        presets = p.page.eval_on_selector_all("#preset option", "os => os.map(o => o.value)")
        assert presets == [c["value"] for c in doc["choices"]["presets"]]
        assert p.text("#table .rule") == doc["words"]["rule"]
        p.page.click("#last")
        p.wait_text("#table .ended", doc["words"]["stopped"])
        p.page.select_option("#optimizer", "adamw")
        adamw = lesson.build(Settings(optimizer="adamw"))
        p.wait_text("#table .rule", "AdamW's step size")
        assert p.text("#table .rule") == adamw["words"]["rule"] and "SGD" not in p.text("#table .rule")
        assert "optimizer=adamw" in p.page.url
        assert p.errors == []
    finally:
        p.close()


def _moons_2000() -> tuple[list[int], int, int]:
    """The iterations a 2,000-step moons document keeps, the first one it leaves out, and the kept one before it."""
    from backproplab.lesson import document as lesson

    doc = lesson.build(Settings(preset="moons", max_steps=2000))
    kept = [it["iteration"] for it in doc["trace"]["iterations"]]
    assert doc["trace"]["iterations_total"] == 2000 and len(kept) < 2000  # the document really is a subset
    missing = next(k for k in range(1, 2000) if k not in kept)
    return kept, missing, max(k for k in kept if k < missing)


def test_a_long_run_asks_for_the_iterations_its_document_leaves_out(browser, server):
    """2,000 moons steps are more than a document holds: the page says how many it holds, and stepping
    or typing reaches every other iteration, asked of the server, with its own numbers."""
    from backproplab.lesson import document as lesson

    kept, missing, before = _moons_2000()
    p = Page(browser).open(f"{server}/#preset=moons&max_steps=2000")
    try:
        p.wait_text("#of", "/ 2000")
        assert p.text("#kept").strip() == f"({len(kept)} held)"
        for chart in ("history", "curve", "predictions"):  # every tick label inside its chart, "2000" too
            frame = p.page.locator(f"#{chart}").bounding_box()
            for label in p.page.locator(f"#{chart} text").all():
                b = label.bounding_box()
                if b is None or not label.text_content():
                    continue
                assert frame["x"] <= b["x"] and b["x"] + b["width"] <= frame["x"] + frame["width"] + 0.5, \
                    (chart, label.text_content())
        title = p.page.get_attribute("#kept", "title")
        assert f"holds {len(kept)} of the run's 2000 iterations" in title and "asks for any other one" in title
        p.page.fill("#iteration", str(missing))
        p.page.press("#iteration", "Enter")
        p.wait_iteration(missing)
        assert not p.page.is_visible("#banner")
        p.wait_text("#predictions", f"iteration {missing}")  # its own decision boundary, not a kept one's
        p.page.click("#step")  # one iteration on, though the document skips it too
        p.wait_iteration(missing + 1)
        assert p.text("#kept").strip() == f"({len(kept) + 2} held)"  # the two asked for count too
        p.page.click("#back")
        p.page.click("#back")
        p.wait_iteration(missing - 1)
        assert missing - 1 == before
        p.page.fill("#iteration", str(missing))  # held now: no second request
        p.page.press("#iteration", "Enter")
        p.wait_iteration(missing)
        # the asked-for row is the run's own: its loss is the loss chart's at that iteration, and the table shows it
        settings = Settings(preset="moons", max_steps=2000)
        row = lesson.detail(settings, "b3", missing)["row"]
        assert row["iteration"] == missing and row["loss"] == lesson.build(settings)["losses"][missing - 1]
        table = p.text("#table")
        (g,) = row["gradients"]["b3"]
        assert f"BCE = {row['loss']:.2f}" in table and f"dBCE/db3 = {g:.2g}".replace("-", "−") in table
        assert p.errors == []
        q = Page(browser).open(server + "/")  # the worked example keeps every iteration and says nothing
        assert q.text("#kept") == "" and q.text("#of") == f"/ {q.page.get_attribute('#iteration', 'max')}"
        q.close()
    finally:
        p.close()


def test_a_held_arrow_key_asks_only_for_the_iteration_it_ends_on(browser, server):
    """Presses that come while the server works out an iteration are added up into one move: a held key
    asks for the iteration it ends on, not for every left-out one it passes."""
    kept, _, _ = _moons_2000()
    p = Page(browser).open(f"{server}/#preset=moons&max_steps=2000")
    try:
        p.wait_text("#of", "/ 2000")
        asked: list[int] = []
        held: list = []  # the server's answers, held back until every press is in, as on a slow server

        def hold(route) -> None:
            asked.append(route.request.post_data_json["iteration"])
            held.append(route)

        p.page.route("**/api/detail", hold)

        def presses(key: str, n: int, target: int) -> list[int]:
            before = len(asked)
            for _ in range(n):
                p.page.keyboard.press(key)
            for _ in range(300):
                while held:
                    held.pop(0).continue_()
                if p.iteration() == target and not held:
                    break
                p.page.wait_for_timeout(50)
            p.wait_iteration(target)
            return asked[before:]

        p.page.focus("body")
        start = p.iteration()
        assert sum(k not in kept for k in range(start + 1, start + 13)) > 2  # the way passes left-out iterations
        on = presses("ArrowRight", 12, start + 12)
        assert len(on) <= 3 and on[-1] == start + 12, on  # one at a time, it asked for every iteration passed
        back = presses("ArrowLeft", 5, start + 7)
        assert len(back) <= 3 and back[-1] == start + 7, back
        assert p.errors == []
    finally:
        p.close()


def test_an_exported_long_run_says_which_iteration_it_shows(browser, tmp_path):
    """A file has no server to ask: a typed iteration it does not keep shows the kept one before it, and says so."""
    kept, missing, before = _moons_2000()
    path = tmp_path / "moons.html"
    path.write_text(export(Settings(preset="moons", max_steps=2000)), encoding="utf-8")
    p = Page(browser, offline=True).open(path.as_uri())
    try:
        assert p.text("#kept").strip() == f"({len(kept)} kept)"
        p.page.fill("#iteration", str(missing))
        p.page.press("#iteration", "Enter")
        assert p.iteration() == before
        assert p.text("#banner") == (f"Iteration {missing} is not kept in this page; showing {before}, "
                                     "the nearest kept one before it.")
        p.page.click("#step")  # play and step go from kept to kept here, and the note goes
        assert p.iteration() == kept[kept.index(before) + 1] and not p.page.is_visible("#banner")
        assert p.errors == [] and p.blocked == []
        q = Page(browser, offline=True).open(f"{path.as_uri()}#it={missing}")  # a link to it says so too
        assert q.iteration() == before and q.text("#banner").startswith(f"Iteration {missing} is not kept")
        q.close()
    finally:
        p.close()


def test_hover_download_and_every_preset(browser, server, tmp_path):
    p = Page(browser).open(server + "/")
    try:
        p.page.hover("g.edge-label[data-param=w1]")
        tip = p.text("#tooltip")
        assert "w1 = 3.34" in tip and "click for the chain rule" in tip
        p.page.hover("g.bias-label[data-param=b3]")
        assert "dSSR/db3 = −15.66" in p.text("#tooltip")
        p.page.click("#own")
        with p.page.expect_download() as download:
            p.page.click("#download-spec")
        p.page.click("#close-own")
        saved = Path(download.value.path()).read_text(encoding="utf-8")
        assert 'optimize = ["b3"]' in saved and "w1 = 3.34" in saved
        for preset in ("classic", "regression"):
            q = Page(browser).open(f"{server}/#preset={preset}&max_steps=15&it=3")
            assert q.iteration() == 3 and q.page.query_selector_all("#network .node")
            assert q.errors == [], (preset, q.errors)
            q.close()
        assert p.errors == []
    finally:
        p.close()


def test_screenshots(browser, server, tmp_path):
    out = SHOTS if os.environ.get("BACKPROPLAB_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    p = Page(browser).open(server + "/#it=1&param=b3")
    try:
        p.wait_text("#derivation", "15.66")
        p.page.screenshot(path=str(out / "dosage-iteration-1.png"))
        p.page.keyboard.press("ArrowRight")
        p.wait_text("#derivation-title", "iteration 2")
        p.wait_text("#derivation", "working it out", present=False)
        p.page.wait_for_timeout(400)  # the step's 300 ms movement has ended
        # b3 alone moves: its steps lie on the curve, drawn solid, with no off-the-slice legend
        assert p.page.locator("#curve circle.step-point").count() == 2
        assert p.page.locator("#curve .off-slice, #curve .off-slice-label").count() == 0
        p.page.screenshot(path=str(out / "dosage-iteration-2.png"))
        p.page.keyboard.press("End")
        p.wait_text("#derivation", "working it out", present=False)
        assert "b3 = 2.61" in p.text("#table h3")
        p.page.screenshot(path=str(out / "dosage-iteration-last.png"))
        m = Page(browser).open(server + "/#preset=moons&it=250&param=W2&entry=5,3")  # W2 is (out, in)
        m.wait_iteration(250)  # a link to an iteration the document leaves out reaches it
        m.wait_text("#derivation-title", "dBCE/dW2[5,3] at iteration 250")  # the entry's own chain rule
        m.wait_text("#derivation", "working it out", present=False)
        assert "multiplies input 3" in m.text("#derivation .entry-working") and \
            "into unit 5 of z2" in m.text("#derivation .entry-working")
        assert "layer by layer" in m.text("#derivation details.whole-working summary")
        m.wait_text("#curve-note", "true minimum")
        # the gradient's norm in the steps table is the number the terminal's line shows, written the same way
        terminal = re.search(r"dBCE/dW1: a \(16, 2\) array, norm (\S+)", m.text("#table")).group(1)
        assert m.text("table.steps tr[data-param=W1] td:nth-of-type(2)") == f"norm {terminal}"
        # every parameter is an array: no column of dashes, and the whole table fits in its panel
        assert m.page.locator("table.steps thead th").all_inner_texts() == ["", "value", "gradient", "step size"]
        table, panel = (m.page.locator(s).bounding_box() for s in ("table.steps", "#table-panel"))
        assert table["x"] + table["width"] <= panel["x"] + panel["width"]
        # every parameter moves: earlier steps sit at the run's own loss, hollow and labelled as off the slice
        points = m.page.locator("#curve circle.step-point")
        assert m.page.locator("#curve circle.step-point.off-slice").count() == points.count() > 1
        legend = m.page.locator("#curve .off-slice-label").text_content()
        assert legend.startswith("○ earlier steps, at the run's own loss: off this slice")
        assert "W2[5,3] (parameter value)" in m.page.text_content("#curve")
        m.page.screenshot(path=str(out / "moons-mid-training.png"))
        assert m.page.query_selector_all("#predictions .heat rect") and m.errors == []
        m.close()
        for name in ("dosage-iteration-1", "dosage-iteration-2", "dosage-iteration-last", "moons-mid-training"):
            assert (out / f"{name}.png").stat().st_size > 10_000
        # fits a 1366×768 screen: nothing scrolls
        assert p.page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
        assert p.errors == []
    finally:
        p.close()


NO_OVERLAP = """els => els.map(e => { const r = e.getBoundingClientRect();
    return [e.id || e.textContent, r.left, r.top, r.right, r.bottom]; })"""


def _disjoint(boxes: list) -> None:
    for i, (name, *a) in enumerate(boxes):
        for other, *b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{name} overlaps {other}"


@pytest.mark.parametrize("width", [708, 480])
def test_a_narrow_page_stacks_its_panels_and_clips_nothing(browser, server, width):
    """A notebook's output or a phone: panels side by side at most two, none cut off or overlapping."""
    p = Page(browser)
    p.page.set_viewport_size({"width": width, "height": 900})
    try:
        p.open(server + "/#it=2&param=b3")
        p.wait_text("#derivation", "6.26")
        panels = p.page.locator("main > section:visible").evaluate_all(NO_OVERLAP)
        assert len(panels) == 5
        _disjoint(panels)
        for name, left, _, right, _ in panels:
            assert left >= 0 and right <= width + 1 and right - left >= min(width, 700) / 2 - 20, (name, left, right)
        _disjoint(p.page.locator("#network g.edge-label rect, #network g.bias-label rect").evaluate_all(NO_OVERLAP))
        for note in ("#curve-panel", "#pred-panel"):  # every line of a chart's notes shows whole
            cut = p.page.locator(f"{note} .note-line").evaluate_all(
                "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
            assert cut == [], (note, cut)
        assert p.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        notes = p.page.locator("#derivation p.note").all_inner_texts()
        assert notes and not [n for n in notes if re.search(r"(^|[\s(;:,=])-\d", n)], notes  # signs are minus signs
        assert p.errors == []
    finally:
        p.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    plain = folder / "lesson.html"
    plain.write_text(export(Settings()), encoding="utf-8")
    diverged = folder / "diverged.html"
    diverged.write_text(export(Settings(lr=10.0)), encoding="utf-8")
    return plain, diverged


def test_exported_file_works_offline(browser, exported):
    plain, diverged = exported
    html = plain.read_text(encoding="utf-8")
    assert "/static/" not in html and "http://" not in html.replace("http://www.w3.org", "")
    p = Page(browser, offline=True).open(plain.as_uri())
    try:
        steps_and_derivation(p)
        keyboard(p)
        shared_url(browser, p, offline=True)
        p.page.click("#own")
        p.page.click("#run-spec")
        assert "backproplab serve" in p.text("#spec-error")
        fonts = p.page.evaluate("document.fonts.check('12px KaTeX_Main')")
        assert fonts
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()
    d = Page(browser, offline=True).open(diverged.as_uri())
    try:
        assert "The run diverged: iteration" in d.text("#banner")
        d.page.click("#step")
        assert d.iteration() == 2 and d.errors == [] and d.blocked == []
    finally:
        d.close()


EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 0.05, 0.005, 0.0049999, 0.00012345, 0.0001, 9.9999e-5, 9.995e-5, 1e-4, 6.3e-5,
         0.999, 0.9999, -0.999, 0.994, 0.995, 1e9, 1.5e9, 2e9, -3.25e12, 999999999.0, 1e-300, 5e-324, 123.456,
         -15.655108, 7.3407, 2.6091, 1e15, 0.0123]


@pytest.fixture(scope="module")
def js_fmt(browser):
    """The page's own ``fmt`` (lesson/static/format.js), run in the browser on any list of numbers."""
    page = browser.new_page()
    static = Path(__file__).resolve().parents[1] / "src/backproplab/lesson/static"
    source = (static / "format.js").read_text(encoding="utf-8")
    page.add_script_tag(content=source.replace("export function", "function").replace("export const", "var"))

    def run(values: list[float], digits: int) -> list[str]:
        return page.evaluate("([values, digits]) => values.map((v) => fmt(v, digits))", [values, digits])

    yield run
    page.close()


@pytest.mark.parametrize("digits", [0, 1, 2, 3, 4])
def test_the_page_writes_every_number_as_the_terminal_does(js_fmt, digits):
    """The same value reads the same on the page and in the terminal: the edges of every rule
    (1e−4, 1, 1e9, rounding up to 1) and a spread of random magnitudes and signs."""
    from backproplab.util.numbers import number

    rng = np.random.default_rng(digits)
    spread = (rng.choice([-1.0, 1.0], 400) * 10.0 ** rng.uniform(-12, 13, 400)).tolist()
    values = EDGES + [-v for v in EDGES] + spread
    page = js_fmt(values, digits)
    terminal = [number(v, digits) for v in values]
    wrong = [(v, p, t) for v, p, t in zip(values, page, terminal) if p != t]
    assert not wrong, wrong[:10]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=40),
       st.integers(0, 6))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_numbers_read_the_same_on_the_page_and_in_the_terminal(js_fmt, values, digits):
    from backproplab.util.numbers import number

    assert js_fmt(values, digits) == [number(v, digits) for v in values]


def test_a_crowded_diagram_labels_the_selected_entry_and_every_bias_is_a_disc(browser, server):
    """xor's 2-4-1 network has more weights than fit as labels: the selected entry's label names its entry
    (W1[1,1], not W1), the others are reached by hover and click, and each bias is a disc on its node."""
    p = Page(browser).open(f"{server}/#preset=xor&max_steps=30&it=2")
    try:
        labels = p.page.locator("#network g.edge-label")
        assert labels.count() == 1 and re.fullmatch(r"W1\[1,1\] = −?\d\.\d+", labels.text_content())
        discs = p.page.locator("#network g.bias-disc")
        assert discs.count() == 5  # four hidden units' b1 and the output's b2
        discs.nth(1).click()  # the second hidden unit's bias
        p.wait_text("#derivation-title", "dBCE/db1[2] at iteration 2")
        assert p.page.locator("#network g.bias-label").text_content().startswith("b1[2] = ")
        assert p.page.locator("#network g.edge-label").count() == 0  # a bias selected: no weight label
        p.page.hover("#network g.edge[data-param=W2][data-index='0,3']")  # W2 is (out, in): from unit 4
        assert p.text("#tooltip").startswith("W2[1,4] = ")
        p.page.click("#network g.edge[data-param=W2][data-index='0,3']")
        p.wait_text("#derivation-title", "dBCE/dW2[1,4] at iteration 2")
        assert p.page.locator("#network g.edge-label").text_content().startswith("W2[1,4] = ")
        assert p.errors == []
        q = Page(browser).open(server + "/")  # the dosage diagram has room: every weight and bias is labelled
        assert q.page.locator("#network g.edge-label").count() == 4
        assert q.page.locator("#network g.bias-label").count() == 3
        assert q.page.locator("#network g.bias-disc").count() == 0
        q.close()
    finally:
        p.close()


def test_stepping_a_served_page_moves_the_decision_boundary_with_the_table(browser, server):
    """xor keeps its boundary every 13 iterations; a served page asks for the boundary of each iteration
    it shows, so the heat map is that iteration's, as its label says."""
    from backproplab.lesson import document as lesson

    kept = lesson.build(Settings(preset="xor"))["boundary"]["iterations"]
    assert 3 not in kept and 4 not in kept
    p = Page(browser).open(f"{server}/#preset=xor&it=3")
    try:
        p.wait_text("#predictions", "iteration 3")
        p.page.keyboard.press("ArrowRight")
        p.wait_iteration(4)
        p.wait_text("#predictions", "iteration 4")
        assert p.errors == []
    finally:
        p.close()
