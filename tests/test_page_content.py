"""What the lesson page says, checked in a real browser (Debian's chromium through Playwright) and in
the lesson document it draws from: links to your own network, every gradient, the loss slice of any
parameter, the output column's name, the forward-pass tab, data written as the terminal writes it,
and the guide."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backproplab.lesson import document as lesson
from backproplab.lesson.export import export
from backproplab.lesson.settings import Settings
from backproplab.spec.presets import PRESETS
from backproplab.util.numbers import exact_number, number
from tests.test_web_browser import Page as ServedPage
from tests.web_helpers import live_server

STATIC = Path(__file__).resolve().parents[1] / "src/backproplab/lesson/static"
DOSAGE = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}
X, Y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])

# a network of one's own: the dosage network on four doses, every parameter trained
OWN_SPEC = (PRESETS["statquest"].text.replace('name = "statquest"', 'name = "fourdoses"')
            .replace("x = [0.0, 0.5, 1.0]", "x = [0.0, 0.25, 0.5, 1.0]")
            .replace("y = [0.0, 1.0, 0.0]", "y = [0.0, 0.5, 1.0, 0.0]")
            .replace('optimize = ["b3"]', 'optimize = "all"').replace("max_steps = 1000", "max_steps = 80"))


def ssr(p: dict[str, float], x: np.ndarray = X, y: np.ndarray = Y) -> float:
    """The dosage network's SSR, written out with numpy (not the engine)."""
    h1 = np.log1p(np.exp(p["w1"] * x + p["b1"]))
    h2 = np.log1p(np.exp(p["w2"] * x + p["b2"]))
    return float(np.sum((y - (p["w3"] * h1 + p["w4"] * h2 + p["b3"])) ** 2))


def central(p: dict[str, float], name: str, h: float = 1e-6) -> float:
    return (ssr({**p, name: p[name] + h}) - ssr({**p, name: p[name] - h})) / (2 * h)


class Page(ServedPage):
    """A page in a browser context of its own (its own storage), recording errors."""

    def __init__(self, browser, width: int = 1366, height: int = 900) -> None:
        super().__init__(browser, width=width, height=height, own_context=True)

    def wait_url(self, part: str) -> None:
        """Wait until the address holds ``part`` (packing a link takes a moment); polled, as the CSP allows no eval."""
        for _ in range(150):
            if part in self.page.url:
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"the address never held {part!r}: {self.page.url}")

    def text(self, selector: str) -> str:
        """What the element shows: its rendered text, or an SVG's text content."""
        return self.page.eval_on_selector(selector, "e => e instanceof HTMLElement ? e.innerText : e.textContent")


def shown_numbers(p: Page) -> dict[str, str]:
    """Every number-bearing text the page shows: panels, labels, controls."""
    out = {sel: p.page.locator(sel).text_content() for sel in
           ("#table", "#network", "#curve", "#curve-note", "#predictions", "#derivation", "#derivation-title", "#of",
            "#history")}
    for sel in ("#iteration", "#lr", "#min-step", "#max-steps", "#param", "#optimizer"):
        out[sel] = p.page.input_value(sel)
    out["starts"] = [p.page.input_value(f"#optimize input.start >> nth={i}")
                     for i in range(p.page.locator("#optimize input.start").count())]
    return out


# --- 1. a link brings back the same run ---------------------------------------------------------------
def test_a_link_to_your_own_network_brings_back_the_same_run(browser, server):
    """An own spec, run with another learning rate, stepped once, w3 clicked: its link opened in a new
    browser (no shared storage) shows the same run, number for number, not the dosage example."""
    p = Page(browser).open(server + "/")
    try:
        p.page.click("#own")
        p.page.fill("#spec-text", OWN_SPEC)
        p.page.click("#run-spec")
        p.wait_text("#of", "/ 80")
        p.page.fill("#lr", "0.05")
        p.page.press("#lr", "Enter")
        p.wait_text("#table p.rule", "× 0.05")  # worked out again at the new rate
        p.page.fill("#max-steps", "60")
        p.page.press("#max-steps", "Enter")
        p.wait_text("#of", "/ 60")
        p.page.click("#step")
        p.wait_iteration(2)
        p.page.click("g.edge-label[data-param=w3]")
        p.wait_text("#derivation-title", "dSSR/dw3 at iteration 2")
        p.wait_text("#derivation", "working it out", present=False)
        p.wait_url("own=")
        url = p.page.url
        carried = lesson.read_link(re.search(r"own=([A-Za-z0-9_-]+)", url).group(1))
        assert carried["spec_text"] == OWN_SPEC and carried["lr"] == 0.05 and carried["max_steps"] == 60
        assert len(url) < lesson.LINK_CHARS
        q = Page(browser).open(url)
        try:
            q.wait_iteration(2)
            q.wait_text("#derivation-title", "dSSR/dw3 at iteration 2")
            q.wait_text("#derivation", "working it out", present=False)
            q.wait_text("#curve", "tangent slope")
            mine, theirs = shown_numbers(p), shown_numbers(q)
            assert theirs == mine
            assert q.page.input_value("#preset") == "__own" and q.page.url == url
            assert q.errors == []
        finally:
            q.close()
        # the run is the spec's, not the dosage example's: four samples, its own length and learning rate
        assert len(p.page.locator("#table table.samples tbody tr").all()) == 4
        assert mine["#of"] == "/ 60" and mine["#lr"] == "0.05"
        assert p.errors == []
    finally:
        p.close()


def test_a_run_too_large_for_a_link_says_so_and_its_link_says_so_too(browser, server):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 1, 1800), rng.uniform(-1, 1, 1800)
    spec = ('version = 1\nname = "big"\n[network]\nkind = "formulas"\ninputs = ["x"]\noutput = "yhat"\n'
            '[network.nodes]\nyhat = "w * x + b"\n[network.parameters]\nw = 0.0\nb = 0.0\n[data]\n'
            f"x = [{', '.join(repr(float(v)) for v in x)}]\ny = [{', '.join(repr(float(v)) for v in y)}]\n"
            '[training]\nloss = "mse"\noptimize = "all"\nmax_steps = 3\n')
    assert len(lesson.link_code({"spec_text": spec})) > lesson.LINK_CHARS
    p = Page(browser).open(server + "/")
    try:
        p.page.click("#own")
        assert f"{lesson.LINK_CHARS:,} characters" in p.text("#link-note")
        p.page.fill("#spec-text", spec)
        p.page.click("#run-spec")
        p.wait_text("#banner", "too large for a link")
        p.wait_url("own=too-large")
        q = Page(browser).open(p.page.url)
        try:
            q.wait_text("#banner", "too large to travel in a link")
            assert "built-in example" in q.text("#banner")
        finally:
            q.close()
    finally:
        p.close()
    r = Page(browser).open(server + "/#own=bm90IGEgbGluaw&it=2")  # cut short or made up: said, not hidden
    try:
        r.wait_text("#banner", "cannot be read")
    finally:
        r.close()


def test_a_link_code_is_deflate_raw_in_base64url():
    settings = {"spec_text": OWN_SPEC, "lr": 0.05, "csv_text": None}
    code = lesson.link_code(settings)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", code) and len(code) < len(OWN_SPEC)
    assert lesson.read_link(code) == settings
    # the limit the page states is the one the docs state
    docs = (Path(__file__).resolve().parents[1] / "docs" / "lesson.md").read_text(encoding="utf-8")
    assert f"up to {lesson.LINK_CHARS:,} characters" in " ".join(docs.split())
    assert f"up to {lesson.LINK_CHARS:,} characters" in lesson.link_texts()["note"]


# --- 3. every gradient is shown ----------------------------------------------------------------------
def test_the_document_holds_every_parameters_gradient():
    doc = lesson.build(Settings())
    assert doc["trace"]["optimize"] == ["b3"]
    for row in doc["trace"]["iterations"][:4]:
        assert set(row["gradients"]) == set(DOSAGE)
        for name in DOSAGE:
            assert row["gradients"][name] == pytest.approx(central(row["params"], name), rel=1e-6, abs=1e-8)
    d = lesson.detail(Settings(), "w2", 5)  # an asked-for row has them too
    assert d["row"]["gradients"]["w2"] == pytest.approx(central(d["row"]["params"], "w2"), rel=1e-6)


def test_a_held_matrix_has_its_gradient_and_the_slice_of_an_entry():
    """xor with only its second layer trained: W1 is held, yet each asked-for row has its gradient, and an
    entry of it has its loss slice, both as central differences of the loss (forward passes only) say."""
    from backproplab.lesson.settings import load_job
    from backproplab.plots import loss_at

    settings = Settings(preset="xor", optimize=["W2", "b2"], max_steps=6)
    doc = lesson.build(settings)
    job = load_job(settings)
    assert doc["trace"]["optimize"] == ["W2", "b2"]
    for row in doc["trace"]["iterations"][:3]:
        w1 = np.array(row["params"]["W1"], dtype=float)
        params = {n: np.array(v, dtype=float) for n, v in row["params"].items()}
        for entry in [(1, 0), (3, 1)]:  # W1 is (out, in): input 1 into unit 2, input 2 into unit 4
            up, down = w1.copy(), w1.copy()
            up[entry] += 1e-6
            down[entry] -= 1e-6
            slope = (loss_at(job.net, job.x, job.y, "bce", **{**params, "W1": up})
                     - loss_at(job.net, job.x, job.y, "bce", **{**params, "W1": down})) / 2e-6
            assert np.array(row["gradients"]["W1"])[entry] == pytest.approx(slope, rel=1e-5, abs=1e-9)
    d = lesson.detail(settings, "W1", 3, index=[0, 1])
    assert d["curve_key"] == "W1[1,2]" and d["curve"]["index"] == [0, 1]
    assert np.array(d["row"]["gradients"]["W1"]).shape == (4, 2)  # (out, in), as in PyTorch


def test_tooltips_and_labels_show_every_gradient(browser, server):
    p = Page(browser).open(server + "/")
    try:
        for name in DOSAGE:
            sel = f"#network g.edge-label[data-param={name}], #network g.bias-label[data-param={name}]"
            p.page.hover(sel)
            tip = p.text("#tooltip")
            assert f"dSSR/d{name} = {number(central(DOSAGE, name))}" in tip, tip
            assert "not computed" not in tip
            assert ("not trained in this run" in tip) == (name != "b3")
            label = p.page.get_attribute(sel, "aria-label")
            assert f"dSSR/d{name} = {number(central(DOSAGE, name))}" in label and "not computed" not in label
    finally:
        p.close()


# --- 5. the loss against any parameter ---------------------------------------------------------------
def test_the_loss_slice_of_a_parameter_that_is_not_trained():
    """w1 is held: its slice is SSR(w1) with the others at the iteration's values, and the detail has it."""
    doc = lesson.build(Settings(), everything=True)
    slices = doc["curves"]["w1"]
    assert len(slices) > 1  # b3 moves: w1's slice differs from iteration to iteration
    it = {r["iteration"]: r for r in doc["trace"]["iterations"]}
    for s in slices[:3]:
        held = it[s["iteration"]]["params"]
        for g, loss in list(zip(s["grid"], s["loss"]))[::20]:
            assert loss == pytest.approx(ssr({**held, "w1": g}), rel=1e-9)
    d = lesson.detail(Settings(), "w1", 3)
    assert d["curve_key"] == "w1" and d["curve"]["iteration"] == 3


def test_the_page_draws_the_slice_and_tangent_of_a_held_parameter(browser, server):
    p = Page(browser).open(server + "/")
    try:
        p.page.click("g.edge-label[data-param=w1]")
        p.wait_text("#curve", "tangent slope = gradient = " + number(central(DOSAGE, "w1")))
        assert "not optimized" not in p.text("#curve")
        assert p.page.locator("#curve path.loss-curve").count() == 1
        assert p.page.locator("#curve line.tangent").count() == 1
        assert p.page.locator("#curve circle.step-point").count() == 0  # no steps: w1 is not trained
        assert "others held at iteration 1" in p.text("#curve-note")
        # the tangent's slope, read off the drawing through the axis ticks, is the gradient
        slope = drawn_tangent_slope(p)
        assert slope == pytest.approx(central(DOSAGE, "w1"), rel=0.03)
        p.page.focus("body")
        p.page.keyboard.press("ArrowRight")
        p.wait_iteration(2)
        doc = lesson.build(Settings())
        row = doc["trace"]["iterations"][1]
        p.wait_text("#curve", "tangent slope = gradient = " + number(central(row["params"], "w1")))
        assert p.errors == []
    finally:
        p.close()


def axis_scale(p: Page, svg: str, axis: str) -> tuple[float, float]:
    """(value per pixel, value at pixel 0) of a chart's axis, read from two of its tick labels."""
    ticks = p.page.eval_on_selector_all(
        f"{svg} text.tick", "els => els.map(e => [e.textContent, e.getAttribute('x'), e.getAttribute('y'), "
        "e.getAttribute('text-anchor')])")
    pairs = []
    for text, x, y, anchor in ticks:
        t = text.replace("−", "-")
        if re.fullmatch(r"-?\d+(\.\d+)?", t):
            if axis == "x" and anchor == "middle":
                pairs.append((float(x), float(t)))
            if axis == "y" and anchor == "end":
                pairs.append((float(y), float(t)))
    (p0, v0), (p1, v1) = pairs[0], pairs[-1]
    per = (v1 - v0) / (p1 - p0)
    return per, v0 - per * p0


def drawn_tangent_slope(p: Page) -> float:
    x1, y1, x2, y2 = (float(p.page.get_attribute("#curve line.tangent", a)) for a in ("x1", "y1", "x2", "y2"))
    (xa, xb), (ya, yb) = axis_scale(p, "#curve", "x"), axis_scale(p, "#curve", "y")
    return ((ya * y2 + yb) - (ya * y1 + yb)) / ((xa * x2 + xb) - (xa * x1 + xb))


# --- 6. a logit is named as one -----------------------------------------------------------------------
def test_a_classifier_table_names_its_output_as_the_terminal_does(browser, server):
    from backproplab.explain.forward import output_columns

    doc = lesson.build(Settings(preset="moons", max_steps=5))
    first = doc["trace"]["iterations"][0]["predictions"]
    logit = output_columns("bce", first, "z3")
    assert doc["columns"]["output"] == logit[0].text and "logit" in logit[0].text
    assert lesson.build(Settings())["columns"]["output"] == "ŷ_i"
    p = Page(browser).open(server + "/#preset=moons&max_steps=5")
    try:
        heads = p.page.locator("#table table.samples th").all_text_contents()
        assert heads == ["sample", "x_i", "y_i", logit[0].text]
        assert "ŷ" not in " ".join(heads)
        assert logit[1].text in p.text("#table p.column-note")
        # the terminal's samples table names it alike
        out = cli("run", "moons", "--max-steps", "5")
        assert logit[0].text in out and "ŷ_i" not in out
    finally:
        p.close()


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "backproplab", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- 10. the forward pass as a tab; residuals; a fixed y-range ---------------------------------------------
def terminal_rows(text: str) -> list[list[str]]:
    """The rows of ``backproplab forward``'s table: lines that start with a sample number (or the gap)."""
    return [line.split() for line in text.splitlines() if re.match(r"^\s+(\d+|… \d+ more)\s", line)]


@pytest.mark.parametrize("preset,iteration", [("statquest", 3), ("moons", 2)])
def test_the_forward_tab_is_the_terminals_forward_table(browser, server, preset, iteration):
    extra = ["--max-steps", "5"] if preset == "moons" else []
    terminal = cli("forward", preset, "--iteration", str(iteration), *extra)
    p = Page(browser).open(f"{server}/#preset={preset}&it={iteration}" + ("&max_steps=5" if extra else ""))
    try:
        p.page.click("#tab-forward")
        p.wait_text("#forward", f"Iteration {iteration}: the forward pass")
        rows = p.page.eval_on_selector_all("#forward table.forward tbody tr",
                                           "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
        assert [" ".join(r).split() for r in rows] == terminal_rows(terminal)
        heads = p.page.eval_on_selector_all("#forward table.forward thead th",
                                            "ths => ths.map(th => th.innerText.replace(/\\n/g, ' '))")
        for head in heads:  # each header, symbol then formula, as the terminal heads its columns
            for part in head.split("= ", 1):
                assert part.strip() in terminal, part
        for line in p.page.locator("#forward p.loss-line").all_text_contents():
            assert line in terminal
        if preset == "statquest":
            assert [h.split(" ")[0] for h in heads] == ["sample", "x_i", "z1_i", "h1_i", "z2_i", "h2_i", "ŷ_i", "y_i",
                                                        "residual", "squared"]
        p.page.click("#tab-steps")
        assert p.page.is_visible("#table table.samples") and not p.page.is_visible("#forward")
        assert p.errors == []
    finally:
        p.close()


def test_residual_lines_and_a_y_range_that_stays_put(browser, server):
    doc = lesson.build(Settings())
    rows = doc["trace"]["iterations"]
    p = Page(browser).open(server + "/")
    try:
        seen = []
        for k in (1, 2, len(rows)):
            p.page.fill("#iteration", str(k))
            p.page.press("#iteration", "Enter")
            p.wait_iteration(k)
            p.page.wait_for_timeout(400)  # the green curve's move
            ticks = p.page.eval_on_selector_all("#predictions text", "els => els.map(e => e.textContent)")
            dots = p.page.eval_on_selector_all("#predictions circle.data-point",
                                               "els => els.map(e => [+e.getAttribute('cx'), +e.getAttribute('cy')])")
            lines = p.page.eval_on_selector_all(
                "#predictions line.residual", "els => els.map(e => ['x1','y1','x2','y2'].map(a => +e.getAttribute(a)))")
            assert len(lines) == len(dots) == 3
            # the data's own pixels give the y scale: y = 0 and y = 1 are data values
            y0, y1 = dots[0][1], dots[1][1]
            for (lx1, ly1, lx2, ly2), (cx, cy), yhat in zip(lines, dots, rows[k - 1]["predictions"]):
                assert lx1 == pytest.approx(cx) and lx2 == pytest.approx(cx) and ly1 == pytest.approx(cy)
                assert (ly2 - y0) / (y1 - y0) == pytest.approx(yhat, abs=1e-6)
            seen.append((ticks, dots))
        assert seen[0] == seen[1] == seen[2]  # the axis and the data stay put while the curve moves
        assert "residual y_i − ŷ_i" in p.text("#pred-note")
        assert p.errors == []
    finally:
        p.close()
    # the y-range holds every iteration's predictions and the data
    lo, hi = doc["predictions"]["y_range"]
    every = [v for r in rows for v in r["predictions"]] + list(Y)
    assert lo == pytest.approx(min(min(every), *map(min, doc["predictions"]["curves"])))
    assert hi == pytest.approx(max(max(every), *map(max, doc["predictions"]["curves"])))
    assert doc["predictions"]["residuals"]


# --- 13. data as the terminal writes it -------------------------------------------------------------------
def test_the_page_writes_data_as_the_terminal_does(browser, server):
    p = Page(browser).open(server + "/")
    try:
        cells = p.page.eval_on_selector_all("#table table.samples tbody tr",
                                            "trs => trs.map(tr => [...tr.cells].slice(1, 3).map(c => c.textContent))")
        assert cells == [[exact_number(x), exact_number(y)] for x, y in zip(X, Y)] == [["0", "0"], ["0.5", "1"],
                                                                                       ["1", "0"]]
    finally:
        p.close()


@pytest.fixture(scope="module")
def js_exact(browser):
    page = browser.new_page()
    source = (STATIC / "format.js").read_text(encoding="utf-8")
    page.add_script_tag(content=source.replace("export function", "function").replace("export const", "var"))

    def run(values: list[float], digits: int) -> list[str]:
        return page.evaluate("([values, digits]) => values.map((v) => exact(v, digits))", [values, digits])

    yield run
    page.close()


DATA_EDGES = [0.0, -0.0, 0.5, 1.0, 0.25, 0.1, 0.3, 1e-6, 1.5e-6, 1e-7, 123456.5, 0.123456, 0.1234567, -2.75, 1e9,
              999999999.5, 2.5e-5, 7.0, 1e15, 0.000001]


@pytest.mark.parametrize("digits", [0, 2, 3])
def test_data_written_by_the_page_reads_as_in_the_terminal(js_exact, digits):
    values = DATA_EDGES + [-v for v in DATA_EDGES] + [round(v, d) for d in range(8)
                                                      for v in np.random.default_rng(d).normal(0, 50, 20)]
    assert js_exact(values, digits) == [exact_number(v, digits) for v in values]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=20),
       st.integers(0, 4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_data_reads_the_same_on_the_page_and_in_the_terminal(js_exact, values, digits):
    assert js_exact(values, digits) == [exact_number(v, digits) for v in values]


# --- 16. the guide -------------------------------------------------------------------------------------
def test_the_dosage_guide_names_the_articles_parts_and_the_command_reproduces_the_view(browser, server):
    from backproplab.explain.article import compared_with_article

    p = Page(browser).open(server + "/")
    try:
        assert p.page.is_visible("#guide")  # one line at first: what to press, and "more"
        assert p.text("#guide-lead") == "Part 3: press → to take the first step: b3 goes from 0.00 to 1.57."
        assert not p.page.is_visible("#guide-steps")
        p.page.click("#guide-more summary")
        guide = p.text("#guide-steps")
        assert guide.startswith("Part 1: the forward pass") and "Part 2: SSR against one parameter" in guide
        assert f"Part 4: click w1 in the network for its chain rule: dSSR/dw1 = {number(central(DOSAGE, 'w1'))}" \
            in guide
        # each step points at its control
        p.page.hover("#guide-steps li[data-control=step]")
        assert "pointed" in p.page.get_attribute("#step", "class")
        rows = p.page.locator("#guide-article-table tbody tr")
        assert rows.count() == len(compared_with_article())
        assert p.text("#command") == "backproplab explain statquest --param b3 --iteration 1"
        p.page.focus("body")
        p.page.keyboard.press("ArrowRight")
        p.wait_iteration(2)
        p.page.click("g.edge-label[data-param=w1]")
        p.wait_text("#derivation", "working it out", present=False)
        command = p.text("#command")
        assert command == "backproplab explain statquest --param w1 --iteration 2"
        printed = cli(*command.split()[1:])
        gradient = number(central(lesson.build(Settings())["trace"]["iterations"][1]["params"], "w1"))
        assert f"= {gradient}" in printed and f"={gradient}" in p.text("#derivation").replace(" ", "")
        # dismissed, it stays dismissed for this example on reload; the guide button brings it back
        p.page.click("#guide-close")
        assert not p.page.is_visible("#guide")
        p.page.reload()
        p.page.wait_for_selector("#table h3")
        assert not p.page.is_visible("#guide")
        p.page.click("#guide-open")
        assert p.page.is_visible("#guide")
        p.page.screenshot(path="/tmp/page_content_guide.png")
        assert p.errors == []
    finally:
        p.close()


def test_another_example_has_its_own_guide_and_command(browser, server):
    p = Page(browser).open(server + "/#preset=xor&lr=0.5&max_steps=30")
    try:
        assert p.page.is_visible("#guide") and "Part 3" not in p.text("#guide")
        p.page.click("#guide-more summary")
        assert p.text("#guide-title").startswith("xor")
        assert not p.page.is_visible("#guide-article")
        p.wait_text("#derivation", "working it out", present=False)
        command = "backproplab explain xor --param W1 --iteration 1 --lr 0.5 --max-steps 30 --index 1,1"
        assert p.text("#command") == command
        assert "W1[1,1]" in cli(*p.text("#command").split()[1:])
    finally:
        p.close()


# --- the exported file: the same content, offline ---------------------------------------------------------
def test_an_exported_file_has_the_forward_tab_the_guide_and_held_slices(browser, tmp_path):
    path = tmp_path / "dosage.html"
    path.write_text(export(Settings()), encoding="utf-8")
    p = Page(browser)
    blocked: list[str] = []
    p.page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else
                 (blocked.append(r.request.url), r.abort()))
    try:
        p.open(path.as_uri())
        assert "Part 3: press → to take the first step" in p.text("#guide-lead")
        p.page.click("#tab-forward")
        p.wait_text("#forward", "Iteration 1: the forward pass")
        p.page.click("g.edge-label[data-param=w1]")
        p.wait_text("#curve", "tangent slope = gradient = " + number(central(DOSAGE, "w1")))
        assert p.errors == [] and blocked == []
    finally:
        p.close()


def test_a_server_started_with_its_own_settings_works_out_every_step_of_that_run(browser):
    """`serve statquest --lr 0.05`: the worked gradient of iteration 2, asked of the server after the page
    loaded, is that run's (b3 = 0.05 × 15.66 after one step), not the default learning rate's."""
    with live_server(Settings(preset="statquest", lr=0.05, max_steps=30)) as url:
        p = Page(browser).open(url + "/")
        try:
            p.wait_iteration(1)
            p.page.keyboard.press("ArrowRight")
            p.wait_iteration(2)
            p.wait_text("#derivation-title", "iteration 2")
            start = dict(DOSAGE)
            b3 = start["b3"] - 0.05 * central(start, "b3")
            expected = number(central({**start, "b3": b3}, "b3"))
            p.wait_text("#derivation", expected)
            default_rate = number(central({**start, "b3": start["b3"] - 0.1 * central(start, "b3")}, "b3"))
            assert default_rate not in p.text("#derivation")  # −6.26: another run's iteration 2
            assert p.page.input_value("#lr") == "0.05"
        finally:
            p.close()
