"""A lesson script's tour in a real browser: the exported file offline (Next and Back, the keys, the caption's
numbers against the page's own for that iteration, hidden controls taking no space, a pause stopping play), and
`serve lesson.toml` serving the same tour."""

from __future__ import annotations

import pytest

from backproplab.lesson.script import shipped
from backproplab.lesson.tour import Tour, add_tour
from backproplab.util.numbers import number
from tests.test_page_a11y import axe_violations
from tests.test_web_browser import Page
from tests.web_helpers import serving


@pytest.fixture(scope="module")
def part3(tmp_path_factory):
    tour = Tour(shipped("statquest-part3"))
    path = tour.save(tmp_path_factory.mktemp("tour") / "part3.html")
    return tour, path


def _steps_row(p: Page) -> str:
    return p.text("table.steps tbody tr[data-param=b3]")


def test_the_exported_tour_works_offline(browser, part3):
    tour, path = part3
    doc = tour.document()
    steps = doc["tour"]["steps"]
    p = Page(browser, offline=True).open(path.as_uri())
    try:
        p.wait_text("#tour-count", f"step 1 of {len(steps)}")
        assert p.page.get_attribute("#tour-caption", "aria-live") == "polite"
        assert p.page.is_disabled("#tour-back") and not p.page.is_disabled("#tour-next")
        assert axe_violations(p.page) == []  # named buttons, the caption's live region: nothing at AA
        for k, step in enumerate(steps):
            if k:
                p.page.click("#tour-next")
                p.wait_text("#tour-count", f"step {k + 1} of {len(steps)}")
            p.wait_iteration(step["iteration"])
            assert p.text("#tour-caption") == step["caption"]
            row = _steps_row(p)  # the caption's numbers are the page's own at that iteration
            it = doc["trace"]["iterations"][step["iteration"] - 1]
            for value in (it["params"]["b3"], it["gradients"]["b3"], it["step_sizes"]["b3"]):
                if number(value) in step["caption"]:
                    assert number(value) in row, (step["caption"], row)
            for name in ("step", "back", "play", "lr", "optimizer"):  # only the listed controls, the others no space
                box = p.page.locator(f"#{name}").bounding_box()
                assert (box is not None and box["width"] > 0) == (name in step["controls"]), (k, name)
        assert p.page.is_disabled("#tour-next")
        p.page.focus("body")
        p.page.keyboard.press("b")
        p.wait_text("#tour-count", f"step {len(steps) - 1} of {len(steps)}")
        p.page.keyboard.press("PageUp")
        p.wait_text("#tour-count", f"step {len(steps) - 2} of {len(steps)}")
        p.page.keyboard.press("ArrowRight")  # → still takes a training step, not a tour step
        p.wait_iteration(steps[len(steps) - 3]["iteration"] + 1)
        assert p.text("#tour-count").startswith(f"step {len(steps) - 2} ")
        p.page.keyboard.press("n")
        p.wait_text("#tour-count", f"step {len(steps) - 1} of {len(steps)}")
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()


def test_a_pause_stops_playing(browser, part3):
    tour, path = part3
    steps = tour.script.steps
    k = next(i for i, s in enumerate(steps) if s.pause)
    p = Page(browser, offline=True).open(path.as_uri())
    try:
        for _ in range(k):
            p.page.click("#tour-next")
        p.wait_iteration(steps[k].iteration)
        p.page.fill("#speed", "30")
        p.page.click("#play")
        for _ in range(100):
            if p.page.get_attribute("#play", "aria-label") == "play" and p.iteration() > steps[k].iteration:
                break
            p.page.wait_for_timeout(30)
        assert p.iteration() == steps[k].pause
        p.page.wait_for_timeout(300)
        assert p.iteration() == steps[k].pause  # stopped there
    finally:
        p.close()


def test_serve_a_script_serves_the_same_tour(browser):
    from backproplab.lesson.server import create_app

    script = shipped("statquest-part3")
    with serving(create_app(script.settings, tour=add_tour(script))) as url:
        p = Page(browser).open(url + "/")
        try:
            p.wait_text("#tour-count", f"step 1 of {len(script.steps)}")
            p.page.click("#tour-next")
            p.wait_text("#tour-count", "step 2 of")
            assert "d" + "SSR/db3 = " + number(-15.655108) in p.text("#tour-caption")
            assert number(-15.655108) in _steps_row(p)
            p.page.reload()  # the address now names every setting of the run: the same run, so the same tour
            p.wait_text("#tour-count", f"step 1 of {len(script.steps)}")
            assert p.errors == []
        finally:
            p.close()
