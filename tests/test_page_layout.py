"""What a learner reads on the lesson page, at every width, on a projector, in present mode and in the notebook
widget: no text cut off by its panel or chart, none hidden under another element, no two labels on top of each
other, no label of the network on a node (tests/page_layout_check.js looks, in the page itself).

Chromium must be installed (``apt-get install chromium``): without it these tests fail rather than skip.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHECK = (Path(__file__).resolve().parent / "page_layout_check.js").read_text(encoding="utf-8")
SHOTS = Path(os.environ.get("BACKPROPLAB_LAYOUT_SHOTS", "/tmp/backproplab-layout"))
WIDTHS = range(480, 1921, 20)


def open_page(browser, url: str, width: int, height: int):
    """The page at ``url`` with its worked gradient shown and the guide closed (a teacher closes it once)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("#derivation .katex")
    close = page.locator("#guide-close")
    if close.count() and close.is_visible():
        close.click()
    return page, errors


def problems_at(page, width: int, height: int) -> list[str]:
    page.set_viewport_size({"width": width, "height": height})
    return page.evaluate(CHECK)


@pytest.mark.parametrize("height", [768, 1000])
def test_no_text_is_cut_off_covered_or_on_a_node_at_any_width(browser, server, height):
    """Every 20 px from 480 to 1920: a laptop's or projector's height (768, where the derivation takes a column of
    its own) and a tall screen's."""
    page, errors = open_page(browser, server + "/#it=1&param=b3", 1366, height)
    try:
        found = {w: p for w in WIDTHS if (p := problems_at(page, w, height))}
        assert found == {}, found
        assert errors == []
    finally:
        page.close()


@pytest.mark.parametrize("preset", ["moons", "classic", "regression"])
def test_other_networks_read_whole_at_common_widths(browser, server, preset):
    page, errors = open_page(browser, server + f"/#preset={preset}&it=3", 1366, 768)
    try:
        for height in (768, 1000):
            found = {w: p for w in (480, 620, 760, 900, 934, 960, 1024, 1366, 1920)
                     if (p := problems_at(page, w, height))}
            assert found == {}, (height, found)
        assert errors == []
    finally:
        page.close()


def test_the_loss_curves_labels_read_whole_across_the_band_where_they_were_cut(browser, server):
    """Between 900 and 1000 px, and at 150 % zoom on a 1366×768 screen (911×512), "−15.66" was cut to "−15.6"."""
    page, _ = open_page(browser, server + "/#it=1&param=b3", 911, 512)
    try:
        for width, height in [(911, 512)] + [(w, 768) for w in range(900, 1001, 10)]:
            page.set_viewport_size({"width": width, "height": height})
            assert page.evaluate(CHECK) == [], width
            frame = page.locator("#curve").bounding_box()
            for text in ("tangent slope = gradient = −15.66", "● iteration 1: b3 = 0.00, SSR = 20.42"):
                label = page.locator("#curve text", has_text=text)
                assert label.count() == 1, (width, text)  # whole, on one line
                box = label.bounding_box()
                assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"], width
    finally:
        page.close()


def test_the_notebook_widget_at_934_px_reads_whole(browser):
    """JupyterLab with its file browser open gives the widget 934 px."""
    from backproplab.lesson.widget import Lesson
    from tests.test_widget_browser import open_widget

    page, frame, errors = open_widget(browser, Lesson())
    try:
        page.evaluate("() => { document.querySelector('iframe').style.width = '934px'; }")
        inner = page.frames[1]
        inner.wait_for_selector("#derivation .katex")
        inner.wait_for_function("() => document.body.clientWidth === 934")
        assert inner.evaluate(CHECK) == []
        assert frame.locator("#curve text", has_text="tangent slope = gradient = −15.66").count() == 1
        assert errors == []
    finally:
        page.close()


# --- the projector ---------------------------------------------------------------------------------------

WORKED = """(result) => {
  const d = document.querySelector('#derivation');
  const box = d.getBoundingClientRect();
  const shown = (r) => r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.bottom <= innerHeight + 1 &&
    r.left >= box.left - 1 && r.right <= box.right + 1;
  const text = (k) => k.querySelector('.katex-html').textContent.replace(/[\\u200b\\s]/g, '');
  const results = [...d.querySelectorAll('.katex-display')].filter((k) => text(k).endsWith('=' + result));
  return { scrolled: d.scrollTop, results: results.map((k) => shown(k.getBoundingClientRect())) };
}"""

STEP_LINE = """(want) => {
  const pre = document.querySelector('pre.cli-lines');
  const node = pre.firstChild;
  const at = node.textContent.indexOf(want);
  if (at < 0) return 'not there';
  const range = document.createRange();
  range.setStart(node, at);
  range.setEnd(node, at + want.length);
  const lines = [...range.getClientRects()].filter((r) => r.width > 1);
  for (let a = pre; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const box = a.getBoundingClientRect();
    const cut = lines.some((r) => r.top < box.top - 1 || r.bottom > box.bottom + 1);
    if (cut) return 'cut off by ' + (a.id || a.tagName);
  }
  for (const r of lines) {
    if (r.bottom > innerHeight + 1) return 'below the fold';
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (top !== pre && !pre.contains(top)) return 'covered by ' + (top.id || top.tagName);
  }
  return 'shown';
}"""


def shows_the_worked_step(page, result: str, step_line: str) -> None:
    worked = page.evaluate(WORKED, result)  # the first formula that ends in the result: the derivation's own
    assert worked["scrolled"] == 0
    assert worked["results"] and worked["results"][0] is True, worked
    assert page.evaluate(STEP_LINE, step_line) == "shown"
    assert page.evaluate("document.documentElement.scrollHeight <= innerHeight")  # the page itself does not scroll


@pytest.mark.parametrize("size", [(1024, 768), (1366, 768)])
@pytest.mark.parametrize("present", [False, True])
def test_a_projector_shows_the_worked_result_and_the_step_line_without_scrolling(browser, server, size, present):
    w, h = size
    page, errors = open_page(browser, server + ("/?present=1" if present else "/") + "#it=1&param=b3", w, h)
    try:
        page.wait_for_selector("pre.cli-lines")
        shows_the_worked_step(page, "−15.66", "new b3 = old b3 − step size = 0 − (−1.57) = 1.57")
        assert page.evaluate(CHECK) == []  # and no weight's label on the h1/h2 nodes
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#derivation-title:has-text('iteration 2')")
        page.wait_for_function("() => !document.querySelector('#derivation').textContent.includes('working it out')")
        page.wait_for_selector("pre.cli-lines:has-text('new b3 = old b3')")
        page.wait_for_timeout(400)  # the step's movement has ended
        shows_the_worked_step(page, "−6.26", "new b3 = old b3 − step size = 1.57 − (−0.63) = 2.19")
        assert page.evaluate(CHECK) == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"projector-{w}x{h}{'-present' if present else ''}.png"))
        assert errors == []
    finally:
        page.close()


def test_every_weight_keeps_its_label_on_a_projector(browser, server):
    """The dosage network's four weights and two hidden biases are all labelled at 1024×768, none on a node."""
    page, _ = open_page(browser, server + "/#it=1&param=b3", 1024, 768)
    try:
        texts = page.locator("#network g.edge-label text, #network g.bias-label text").all_text_contents()
        assert sorted(t.split(" = ")[0] for t in texts) == ["b1", "b2", "b3", "w1", "w2", "w3", "w4"]
        assert page.evaluate(CHECK) == []
    finally:
        page.close()


# --- present ---------------------------------------------------------------------------------------------

def test_the_present_switch_gives_large_type_and_fewer_panels(browser, server):
    page, errors = open_page(browser, server + "/#it=1&param=b3", 1366, 768)
    try:
        size = lambda sel: page.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{sel}')).fontSize)")  # noqa: E731
        before = {s: size(s) for s in ("#derivation p", "pre.cli-lines", "#curve .slope-label", "#network text")}
        assert page.locator("#pred-panel").is_visible() and page.locator("#history").is_visible()
        page.check("#present")
        assert re.search(r"[?&]present=1\b", page.url) and "#it=1" in page.url
        page.wait_for_timeout(100)
        for sel, was in before.items():
            assert size(sel) >= was * 1.25, (sel, was, size(sel))
        assert not page.locator("#pred-panel").is_visible() and not page.locator("#history").is_visible()
        assert not page.locator("#min-step").is_visible()
        for kept in ("#network-panel", "#curve-panel", "#derivation-panel", "table.steps", "pre.cli-lines"):
            assert page.locator(kept).is_visible(), kept
        assert page.evaluate(CHECK) == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "present-1366x768.png"))
        page.uncheck("#present")
        assert "present" not in page.url and page.locator("#pred-panel").is_visible()
        assert errors == []
    finally:
        page.close()
    # the address opens the page presenting
    page, errors = open_page(browser, server + "/?present=1#it=1&param=b3", 1366, 768)
    try:
        assert page.is_checked("#present") and not page.locator("#pred-panel").is_visible()
        found = {w: p for w in range(480, 1921, 80) if (p := problems_at(page, w, 768))}
        assert found == {}, found
        assert errors == []
    finally:
        page.close()


NOTE_NUMBERS = """() => [...document.querySelectorAll('#derivation p.note .katex')].map(e => [
    e.querySelector('.katex-html').textContent.slice(0, 20),
    new Set([...e.getClientRects()].map(r => Math.round(r.top))).size])"""


def test_a_number_in_a_rounding_note_stays_on_one_line(browser, server):
    """"the exact value is −6.262043" broke after its minus sign at 1366 px; each number in a note is
    one piece of text on one line, at every width, with the guide open as a learner first sees it."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(server + "/#it=2&param=b3")
        page.wait_for_selector("#derivation-title:has-text('iteration 2')")
        page.wait_for_selector("#derivation p.note .katex")
        broken = {}
        for width in range(900, 1921, 20):
            page.set_viewport_size({"width": width, "height": 768})
            page.wait_for_timeout(60)
            lines = page.evaluate(NOTE_NUMBERS)
            assert lines, width
            broken.update({(width, text): n for text, n in lines if n > 1})
        assert broken == {}
        # a sign set apart from its number could still end a line: each number is one formula, sign and all
        signs = [text for text, _ in page.evaluate(NOTE_NUMBERS) if text.strip() in ("−", "-")]
        assert signs == []
    finally:
        page.close()
