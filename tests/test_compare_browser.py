"""Runs side by side in a real browser (Debian's chromium through Playwright): served, and as an exported file
opened from disk with every network request blocked. The numbers read off the page are each run's own document's;
the steps on the curve are read from the SVG's data attributes, not from pixels."""

from __future__ import annotations

import pytest

from backproplab.lesson import document as lesson
from backproplab.lesson.export import export
from backproplab.lesson.settings import Settings
from backproplab.plots.curves import run_colour
from backproplab.util.numbers import number
from tests.test_web_browser import Page


def table(p: Page) -> dict[str, list[str]]:
    """The compared runs' table: each row's name, and its cells in run order."""
    rows = p.page.eval_on_selector_all("#compare-table tbody tr", "rs => rs.map(r => [r.dataset.row, "
                                       "[...r.querySelectorAll('td')].map(td => td.textContent)])")
    return dict(rows)


def curve_runs(p: Page) -> dict[str, dict[str, str]]:
    """Each run's step path on the pink curve: its colour and the iterations and b3 values it goes through."""
    return {r["run"]: r for r in p.page.eval_on_selector_all(
        "#curve path[data-run]", "ps => ps.map(e => ({run: e.dataset.run, stroke: e.getAttribute('stroke'), "
        "iterations: e.dataset.iterations, values: e.dataset.values || ''}))")}


def expect_column(p: Page, doc: dict, col: int, k: int) -> None:
    """The table's column ``col`` holds the run's numbers at iteration ``k`` (or its last, where it ended)."""
    its = doc["trace"]["iterations"]
    row = [it for it in its if it["iteration"] <= k][-1]
    t = table(p)
    assert t["iteration"][col].split(" ")[0] == str(row["iteration"])
    assert t["value"][col] == number(row["params"]["b3"])
    assert t["gradient"][col] == number(row["gradients"]["b3"])
    assert t["step size"][col] == number(row["step_sizes"]["b3"])
    assert t["new value"][col] == number(row["new_values"]["b3"])
    assert t["loss"][col] == number(row["loss"])


def columns(p: Page, runs: int) -> None:
    """Wait until the table has a column for each of ``runs`` runs."""
    from playwright.sync_api import expect

    expect(p.page.locator("#compare-table thead th[data-run]")).to_have_count(runs, timeout=15_000)


def add(p: Page, text: str, runs: int) -> None:
    p.page.fill("#compare-text", text)
    p.page.click("#compare-add")
    columns(p, runs)


def test_served_runs_step_together_on_one_curve_and_one_table(browser, server):
    shown, beside = lesson.build(Settings(lr=0.1)), lesson.build(Settings(lr=0.34))
    p = Page(browser).open(f"{server}/#lr=0.1")
    try:
        assert p.page.is_hidden("#compare-table") and p.page.is_hidden("#compare-key")
        add(p, "lr=0.34", 2)
        names = p.page.eval_on_selector_all("#compare-table thead th[data-run]", "hs => hs.map(h => h.textContent)")
        assert names == ["lr = 0.1", "lr = 0.34"]  # named by what sets them apart, as the figures name them
        for k in (1, 2, 3, 4):
            p.wait_iteration(k)
            expect_column(p, shown, 0, k)
            expect_column(p, beside, 1, k)
            curve = curve_runs(p)
            assert curve["0"]["stroke"] == run_colour(0) and curve["1"]["stroke"] == run_colour(1)
            assert curve["1"]["iterations"] == ",".join(str(i) for i in range(1, k + 1))
            want = [it["params"]["b3"] for it in beside["trace"]["iterations"][:k]]
            assert [float(v) for v in curve["1"]["values"].split(",")] == pytest.approx(want)
            p.page.click("#step")
        p.wait_text("#compare-workings", "lr = 0.34 · iteration 5")
        p.wait_text("#compare-workings .run-working", "dSSR/db3")  # its own chain rule, asked of the server
        assert "compare=lr%3D0.34" in p.page.url  # a link reopens the comparison
        again = Page(browser).open(p.page.url)
        try:
            again.page.wait_for_selector("#compare-table table", timeout=15_000)
            expect_column(again, beside, 1, 5)
        finally:
            again.close()
        assert not p.errors, p.errors
        p.page.fill("#compare-text", "lr=oops")
        p.page.click("#compare-add")
        p.wait_text("#banner", "run 'lr=oops'")
        p.page.click("#compare-list button.remove")
        p.page.wait_for_selector("#compare-table", state="hidden")
        assert "data-run" not in p.page.inner_html("#curve") and "compare=" not in p.page.url
        assert [e for e in p.errors if "400 (Bad Request)" not in e] == []  # the refused run's answer alone
    finally:
        p.close()


def test_a_diverging_run_beside_a_converging_one_both_keep_stepping(browser, server):
    shown, wild = lesson.build(Settings(lr=0.05)), lesson.build(Settings(lr=10.0))
    end = wild["trace"]["iterations"][-1]["iteration"]
    p = Page(browser).open(f"{server}/#lr=0.05")
    try:
        add(p, "lr=10", 2)
        p.page.fill("#iteration", str(end - 1))
        p.page.press("#iteration", "Enter")
        p.wait_iteration(end - 1)
        expect_column(p, wild, 1, end - 1)
        for k in (end, end + 1, end + 2):  # past its divergence it holds its last state; the shown run goes on
            p.page.click("#step")
            p.wait_iteration(k)
            expect_column(p, shown, 0, k)
            expect_column(p, wild, 1, k)
        assert table(p)["iteration"][1] == f"{end} (its last)"
        assert "diverged" in p.text("#compare-key li[data-run='1']")
        said = p.text("#compare-table .run-said")
        assert wild["words"]["stopped"] in said and "diverged" in said
        assert p.page.is_hidden("#banner") or "diverged" not in p.text("#banner")  # the shown run did not diverge
        assert not p.errors, p.errors
    finally:
        p.close()


def test_an_exported_file_compares_its_runs_offline(browser, tmp_path):
    path = tmp_path / "runs.html"
    path.write_text(export("statquest", runs=["lr=0.1", "lr=0.34", "lr=10"]), encoding="utf-8")
    docs = [lesson.build(Settings(lr=lr), everything=True) for lr in (0.1, 0.34, 10.0)]
    p = Page(browser, offline=True).open(path.as_uri())
    try:
        choices = p.page.eval_on_selector_all("#compare-choice option", "os => os.map(o => o.value)")
        assert choices == ["lr=0.34", "lr=10"] and p.page.is_hidden("#compare-text")
        for run, count in (("lr=0.34", 2), ("lr=10", 3)):
            p.page.select_option("#compare-choice", run)
            p.page.click("#compare-add")
            columns(p, count)
        for k in (1, 2, 3):
            p.wait_iteration(k)
            for col, doc in enumerate(docs):
                expect_column(p, doc, col, k)
            p.page.click("#step")
        assert p.page.query_selector("#compare-workings .run-working .katex")  # each run's own, from the file
        assert not p.blocked and not p.errors, (p.blocked, p.errors)
    finally:
        p.close()
    opened = tmp_path / "compared.html"
    opened.write_text(export("statquest", compare=["lr=0.34"]), encoding="utf-8")
    p = Page(browser, offline=True).open(opened.as_uri())
    try:
        p.page.wait_for_selector("#compare-table table")
        expect_column(p, docs[1], 1, 1)
        assert not p.blocked and not p.errors, (p.blocked, p.errors)
    finally:
        p.close()


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (480, 900)])
def test_compared_runs_fit_the_page(browser, server, width, height):
    """No part of the comparison is wider than the page; the table and the key are readable whole."""
    p = Page(browser, width=width, height=height).open(f"{server}/#lr=0.1&compare=lr%3D0.34|optimizer%3Dadam")
    try:
        columns(p, 3)
        wide = p.page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width
        rights = p.page.eval_on_selector_all("#compare-key li, #compare-table th",
                                             "es => es.map(e => e.getBoundingClientRect().right)")
        assert len(rights) >= 3 and max(rights) <= width  # every run's name and key shown, none cut off
        assert not p.errors, p.errors
    finally:
        p.close()


def test_a_shown_run_that_diverged_holds_its_last_state_while_the_compared_run_steps_on(browser, server):
    from playwright.sync_api import expect

    wild, calm = lesson.build(Settings(lr=10.0)), lesson.build(Settings(lr=0.05))
    end = wild["trace"]["iterations"][-1]["iteration"]
    p = Page(browser).open(f"{server}/#lr=10")
    try:
        p.wait_text("#banner", "The run diverged")  # said, as today
        add(p, "lr=0.05", 2)
        p.page.keyboard.press("End")
        p.wait_iteration(end)
        for k in (end + 1, end + 2):
            p.page.click("#step")
            expect(p.page.locator("#iteration")).to_have_value(str(k))
            expect(p.page.locator("#compare-table caption")).to_contain_text(f"at iteration {k}")
            expect_column(p, wild, 0, k)  # its last row, held
            expect_column(p, calm, 1, k)
        assert table(p)["iteration"][0] == f"{end} (its last)"
        assert "diverged" in p.text("#compare-key li[data-run='0']") and "The run diverged" in p.text("#banner")
        p.page.click("#back")
        p.page.click("#back")
        p.wait_iteration(end)
        expect_column(p, calm, 1, end)
        assert not p.errors, p.errors
    finally:
        p.close()
