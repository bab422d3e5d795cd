"""The lesson page for a keyboard and a screen reader: axe-core (vendored in tests/vendor/axe-core, pinned in its
VERSION file) finds nothing at WCAG 2.x A and AA; each weight is one Tab stop; the steps table's rows take the
focus and answer Enter and Space; a step announces one short line; the spec dialog closes with Escape and keeps
the focus inside; the title and the loss curve share one pink that passes AA for text on white.

Chromium must be installed (``apt-get install chromium``): without it these tests fail rather than skip.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import re
from pathlib import Path

from backproplab import plots
from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
STATIC = Path(__file__).resolve().parent.parent / "src" / "backproplab" / "lesson" / "static"
AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def open_page(browser, url: str, width: int = 1366, height: int = 768):
    """The page with its worked gradient shown; the page's own security policy is bypassed only so that the
    test can add axe-core to it."""
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("#derivation .katex")
    return page, errors


def axe_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async (tags) => {
      const r = await axe.run(document, { runOnly: { type: "tag", values: tags } });
      return r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
    }""", AA)
    return found


def test_the_vendored_axe_core_is_the_pinned_version():
    version = (AXE.parent / "VERSION").read_text(encoding="utf-8")
    pinned = re.search(r"axe-core (\d+\.\d+\.\d+)", version).group(1)
    lock = json.loads((Path(__file__).resolve().parents[1] / "web/frontend/package-lock.json").read_text())
    assert lock["packages"]["node_modules/axe-core"]["version"] == pinned  # the lockfile pins what is vendored
    assert f"axe v{pinned}" in AXE.read_text(encoding="utf-8")[:300]
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() in version and (AXE.parent / "LICENSE").exists()


def test_axe_finds_nothing_at_aa_on_every_view(browser, server):
    page, errors = open_page(browser, server + "/#it=1&param=b3")
    try:
        assert axe_violations(page) == []  # as it opens, the guide shown
        if page.locator("#guide-close").is_visible():
            page.click("#guide-close")
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#derivation-title:has-text('iteration 2')")
        page.click("g.edge-label[data-param=w1]")
        page.wait_for_selector("#derivation-title:has-text('dSSR/dw1')")
        assert axe_violations(page) == []  # a step taken, another weight chosen
        page.check("#present")
        assert axe_violations(page) == []  # presenting
        page.uncheck("#present")
        page.click("#own")
        assert axe_violations(page) == []  # the spec dialog open
        page.keyboard.press("Escape")
        page.set_viewport_size({"width": 480, "height": 900})
        assert axe_violations(page) == []  # a phone's width
        assert errors == []
    finally:
        page.close()
    page, errors = open_page(browser, server + "/#preset=moons&it=3")
    try:
        assert axe_violations(page) == []  # a crowded diagram, a decision boundary
        assert errors == []
    finally:
        page.close()


# --- the keyboard ----------------------------------------------------------------------------------------

def tab_stops_in_network(page) -> list[str]:
    """Tab from the example's selector through the whole page: the parameter of each stop in the diagram."""
    page.focus("#preset")
    stops: list[str] = []
    for _ in range(200):
        page.keyboard.press("Tab")
        here = page.evaluate("""() => { const a = document.activeElement;
          if (a && a.closest('#network')) return a.getAttribute('data-param') || '?';
          return a && a.closest('#derivation-panel') ? 'END' : null; }""")
        if here == "END":
            break
        if here:
            stops.append(here)
    return stops


def test_each_weight_and_bias_is_one_tab_stop(browser, server):
    page, _ = open_page(browser, server + "/#it=1&param=b3")
    try:
        stops = tab_stops_in_network(page)
        labelled = page.locator("#network g.edge-label, #network g.bias-label").evaluate_all(
            "els => els.map(e => e.getAttribute('data-param'))")
        assert sorted(stops) == sorted(labelled) == ["b1", "b2", "b3", "w1", "w2", "w3", "w4"]
        # the edge is still a click target; the label carries the focus and the name
        assert page.locator("#network g.edge[data-param=w1]").get_attribute("tabindex") is None
        page.focus("#network g.edge-label[data-param=w1]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#derivation-title:has-text('dSSR/dw1')")
        assert page.evaluate("document.activeElement.getAttribute('data-param')") == "w1"  # the focus stays
        page.click("#network g.edge[data-param=w2] line.hit")
        page.wait_for_selector("#derivation-title:has-text('dSSR/dw2')")
    finally:
        page.close()


def test_the_steps_tables_rows_take_the_focus_and_answer_enter_and_space(browser, server):
    page, _ = open_page(browser, server + "/#optimize=w1,w3,b3&it=1&param=b3")
    try:
        rows = page.locator("table.steps tbody tr[data-param]")
        assert rows.evaluate_all("els => els.map(e => e.tabIndex)") == [0, 0, 0]
        page.focus("#iteration")
        for _ in range(60):  # the rows are reached with Tab
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('table.steps tr')"):
                break
        assert page.evaluate("document.activeElement.dataset.param") == "w1"
        page.keyboard.press("Enter")
        page.wait_for_selector("#derivation-title:has-text('dSSR/dw1 at iteration 1')")
        assert page.evaluate("document.activeElement.dataset.param") == "w1"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.param") == "w3"
        page.keyboard.press(" ")  # selects the row; does not start playing
        page.wait_for_selector("#derivation-title:has-text('dSSR/dw3 at iteration 1')")
        page.wait_for_timeout(300)
        assert page.input_value("#iteration") == "1"
        assert page.locator("table.steps tr.selected").get_attribute("data-param") == "w3"
    finally:
        page.close()


def test_the_spec_dialog_closes_with_escape_and_keeps_the_focus_inside(browser, server):
    page, _ = open_page(browser, server + "/#it=1&param=b3")
    try:
        page.click("#own")
        assert page.locator("#own-panel").is_visible()
        assert page.get_attribute("#own-panel", "aria-modal") == "true"
        inside = "() => document.getElementById('own-panel').contains(document.activeElement)"
        seen = set()
        for _ in range(15):  # round and round its own controls
            page.keyboard.press("Tab")
            assert page.evaluate(inside)
            seen.add(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        assert {"spec-text", "run-spec", "close-own"} <= seen
        page.focus("#spec-text")
        for _ in range(15):
            page.keyboard.press("Shift+Tab")
            assert page.evaluate(inside)
        page.keyboard.press("Escape")
        assert not page.locator("#own-panel").is_visible()
        assert page.evaluate("document.activeElement.id") == "own"  # back where it was opened
    finally:
        page.close()


# --- what a screen reader hears --------------------------------------------------------------------------

def test_a_step_announces_one_short_line(browser, server):
    page, _ = open_page(browser, server + "/#it=1&param=b3")
    try:
        live = page.locator("[aria-live]").evaluate_all("els => els.map(e => e.id)")
        assert "derivation" not in live and "announce" in live
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.wait_for_selector("#derivation-title:has-text('iteration 3')")
        # the article's third iteration, in one line
        assert page.text_content("#announce") == "iteration 3: gradient −2.50, step −0.25, new b3 2.44"
    finally:
        page.close()


def test_the_announcement_is_built_in_python_from_the_run():
    doc = lesson.build(Settings())
    rows = doc["trace"]["iterations"]
    assert rows[0]["announce"] == {"b3": "iteration 1: gradient −15.66, step −1.57, new b3 1.57"}
    for row in rows:
        g, s, new = row["gradients"]["b3"], row["step_sizes"]["b3"], row["new_values"]["b3"]
        assert abs(s - 0.1 * g) < 1e-12 and abs(new - (row["params"]["b3"] - s)) < 1e-12
        words = row["announce"]["b3"].replace("−", "-").split()
        assert words[:2] == ["iteration", f"{row['iteration']}:"]
        assert abs(float(words[3].rstrip(",")) - g) <= 0.006 * max(1, abs(g))
        assert abs(float(words[5].rstrip(",")) - s) <= 0.006 * max(1, abs(s))
        assert abs(float(words[8]) - new) <= 0.006 * max(1, abs(new))


# --- one pink ---------------------------------------------------------------------------------------------

def contrast_on_white(hex_colour: str) -> float:
    """WCAG 2's contrast ratio of a colour against white."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_one_pink_that_passes_aa_on_white_and_still_reads_as_pink():
    assert contrast_on_white(plots.PINK) >= 4.5
    hue, _, saturation = colorsys.rgb_to_hls(*(int(plots.PINK[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    assert 300 <= hue * 360 <= 345 and saturation > 0.6
    assert lesson.build(Settings())["colours"]["pink"] == plots.PINK
    for name in ("lesson.css", "charts.js", "network.js", "app.js", "index.html"):  # no other pink on the page
        text = (STATIC / name).read_text(encoding="utf-8").lower()
        assert not re.search(r"#(e7298a|ff69b4)\b", text), name


def test_the_page_paints_the_title_and_the_loss_curve_with_the_documents_pink(browser, server):
    page, _ = open_page(browser, server + "/#it=1&param=b3")
    try:
        rgb = "rgb({}, {}, {})".format(*(int(plots.PINK[i:i + 2], 16) for i in (1, 3, 5)))
        assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == rgb
        assert page.get_attribute("#curve path.loss-curve", "stroke").lower() == plots.PINK.lower()
    finally:
        page.close()
