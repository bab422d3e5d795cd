"""Exported files with several runs, and pages with controls left out, in a real browser (chromium).

Switching runs in a file opened from disk shows each run's own numbers with nothing fetched; a hidden control
takes no space in a page embedded 880 px wide; an exported spec of one's own opens on its own numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backproplab.lesson.export import export
from backproplab.lesson.runs import HIDEABLE
from backproplab.util.numbers import number
from tests.test_export_runs import SPEC, documents
from tests.test_web_browser import Page
from tests.web_helpers import live_server

RUNS = ["lr=0.1", "lr=0.3", "start.b3=5"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    made = {
        "runs": export("statquest", runs=RUNS),
        "plain": export("statquest", runs=["lr=0.1", "lr=0.3"]),
        "hidden": export("statquest", runs=["lr=0.1", "lr=0.3"],
                         hide=["optimizer", "lr", "start", "optimize", "min_step", "max_steps"]),
    }
    out = {}
    for name, html in made.items():
        out[name] = folder / f"{name}.html"
        out[name].write_text(html, encoding="utf-8")
    return out


def b3_at(doc: dict, k: int) -> str:
    """b3 at iteration k as the page writes it (two decimals, as the terminal)."""
    return number(doc["trace"]["iterations"][k - 1]["params"]["b3"], 2)


def test_switching_runs_offline_shows_each_runs_numbers(browser, files):
    docs = documents(files["runs"].read_text(encoding="utf-8"))
    p = Page(browser, offline=True).open(files["runs"].as_uri())
    try:
        for _ in range(2):
            p.page.click("#step")
        p.wait_text("#table h3", f"b3 = {b3_at(docs[0], 3)}")
        assert p.page.input_value("#run") == "0" and p.page.input_value("#lr-run") == "0.1"
        p.page.select_option("#run", "1")  # the run list
        p.wait_text("#table h3", f"Iteration 3 (b3 = {b3_at(docs[1], 3)})")
        assert p.page.input_value("#lr-run") == "0.3"
        assert "lr=0.3" in p.text("#run")
        p.page.select_option("#run", "2")
        p.wait_text("#table h3", f"Iteration 3 (b3 = {b3_at(docs[2], 3)})")
        assert p.page.input_value("input.start[data-param=b3]") == "5"
        p.page.select_option("#lr-run", "0.3")  # the learning rate's own control: the run with that rate
        p.wait_text("#table h3", f"Iteration 3 (b3 = {b3_at(docs[1], 3)})")
        assert p.page.input_value("#run") == "1"
        assert p.page.is_disabled("#optimizer") and p.page.is_disabled("#max-steps")  # the same in every run
        assert len({b3_at(d, 3) for d in docs}) == 3
        url = p.page.url
        assert "run=2" in url
        q = Page(browser, offline=True).open(url)  # a link reopens the same run
        try:
            q.wait_text("#table h3", f"Iteration 3 (b3 = {b3_at(docs[1], 3)})")
            assert q.errors == [] and q.blocked == []
        finally:
            q.close()
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()


def boxes(frame, ids: list[str]) -> dict[str, list[float]]:
    """The width and height each element (and the label around it) takes; [0, 0] when absent."""
    return frame.evaluate("""(ids) => Object.fromEntries(ids.map((id) => {
        const el = document.getElementById(id);
        if (!el) return [id, [0, 0]];
        const box = (el.closest("label") || el).getBoundingClientRect();
        return [id, [box.width, box.height]];
    }))""", ids)


def embed(browser, tmp: Path, page: Path):
    host = tmp / f"host-{page.stem}.html"
    host.write_text(f'<!doctype html><body style="margin:0"><iframe src="{page.name}" '
                    'style="width:880px;height:700px;border:0"></iframe></body>', encoding="utf-8")
    p = Page(browser, offline=True, width=1000)
    p.page.goto(host.as_uri())
    frame = p.page.frames[1]
    frame.wait_for_selector("#table h3")
    return p, frame


def test_hidden_controls_take_no_space_in_an_880px_iframe(browser, files, tmp_path):
    for name in ("plain", "hidden"):
        (tmp_path / f"{name}.html").write_text(files[name].read_text(encoding="utf-8"), encoding="utf-8")
    plain, plain_frame = embed(browser, tmp_path, tmp_path / "plain.html")
    hidden, frame = embed(browser, tmp_path, tmp_path / "hidden.html")
    try:
        gone = ["lr", "lr-run", "optimizer", "min-step", "max-steps", "optimize"]
        shown = boxes(plain_frame, gone)
        assert all(w > 0 and h > 0 for w, h in shown.values()), shown
        now = boxes(frame, gone)
        assert all(w == 0 and h == 0 for w, h in now.values()), now
        starts = frame.evaluate("[...document.querySelectorAll('input.start')].map((e) => e.getClientRects().length)")
        assert starts and not any(starts)
        height = "document.querySelector('header').getBoundingClientRect().height"
        assert frame.evaluate(height) < plain_frame.evaluate(height) - 20  # a whole row fewer
        # the learning rate's control is hidden, so the run list is the choice between the runs
        assert boxes(frame, ["run"])["run"][0] > 0 and boxes(plain_frame, ["run"])["run"] == [0, 0]
        frame.select_option("#run", "1")
        frame.wait_for_function("window.location.hash.endsWith('run=2')")
        assert hidden.errors == [] and hidden.blocked == [] and plain.errors == []
    finally:
        plain.close()
        hidden.close()


def test_the_address_hides_controls_and_says_which_names_it_does_not_know(browser, files):
    p = Page(browser, offline=True).open(files["plain"].as_uri() + "?hide=optimizer,reset,bogus")
    try:
        assert boxes(p.page, ["optimizer", "reset"]) == {"optimizer": [0, 0], "reset": [0, 0]}
        note = p.text("#hide-note")
        assert "'bogus'" in note and ", ".join(HIDEABLE) in note
        assert p.page.is_visible("#hide-note")
        assert "?hide=optimizer,reset,bogus" in p.page.url  # the view's own link keeps it
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()


def test_serve_hides_its_controls_and_the_address_adds_more(browser):
    from backproplab.lesson.settings import Settings

    with live_server(Settings(), hide=("optimizer",)) as url:
        p = Page(browser).open(url + "/?hide=present")
        try:
            assert boxes(p.page, ["optimizer", "present", "lr"])["optimizer"] == [0, 0]
            assert boxes(p.page, ["present"])["present"] == [0, 0]
            assert boxes(p.page, ["lr"])["lr"][0] > 0 and not p.page.is_disabled("#lr")
            assert not p.page.query_selector("#hide-note") and p.errors == []
        finally:
            p.close()


def test_an_exported_spec_of_ones_own_opens_on_its_own_numbers(browser, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC, encoding="utf-8")
    page = tmp_path / "tiny.html"
    export(str(spec), page)
    doc = documents(page.read_text(encoding="utf-8"))[0]
    p = Page(browser, offline=True).open(page.as_uri())
    try:
        p.page.click("#step")
        p.page.click("#step")
        p.wait_iteration(3)
        it = doc["trace"]["iterations"][2]
        table = p.text("#table")
        assert f"MSE = {number(it['loss'], 2)}" in table
        for y in it["predictions"]:
            assert number(y[0], 2) in table
        assert number(it["params"]["b2"][0], 2) in p.page.text_content("#network")
        chosen = p.page.eval_on_selector("#preset", "e => e.options[e.selectedIndex].text")
        assert chosen == "your own spec"
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()
