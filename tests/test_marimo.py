"""The notebook widget inside marimo (``mo.ui.anywidget(bl.widgets.Lesson())``), driven by Debian's
chromium through Playwright.

Each test starts its own marimo server (``marimo edit`` as a learner opens a notebook, ``marimo run``
as an app) on a free port, with its own home and config folders, so nothing of the user's setup can
change what it shows. The notebook below shows the widget, a cell that reads the widget's state (marimo
runs it again whenever the page tells Python something new), and a button whose cell sets the
learning rate from Python. Every expected number comes from the lesson worked out in this process.

Without chromium, or without marimo, these tests fail when ``CI=true`` (``.ci/run`` sets it) and are
skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host_helpers import chromium, expect_row, free_port, require, server

require("marimo")
pytest.importorskip("playwright")
pytest.importorskip("anywidget")

from backproplab.lesson.widget import Lesson  # noqa: E402

WAIT = 60_000  # ms: a cold marimo kernel on two cores takes a while to import everything

NOTEBOOK = '''import marimo

app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    import backproplab as bl

    runs = []
    return bl, mo, runs


@app.cell
def _(bl, mo):
    w = mo.ui.anywidget(bl.widgets.Lesson())
    w
    return (w,)


@app.cell
def _(mo, runs, w):
    runs.append(w.widget.iteration)
    _b3 = w.widget.trace_so_far().iterations[-1].params["b3"]
    mo.plain_text(f"python iteration {w.widget.iteration} selected {w.widget.selected} lr {w.widget.lr} "
                  f"b3 {_b3!r} runs {len(runs)}")
    return


@app.cell
def _(mo):
    faster = mo.ui.run_button(label="learning rate 0.3")
    faster
    return (faster,)


@app.cell
def _(faster, mo, w):
    mo.stop(not faster.value)
    w.widget.lr = 0.3
    return
'''


@contextlib.contextmanager
def marimo_server(home: Path, mode: str) -> Iterator[str]:
    """``marimo edit`` or ``marimo run`` on the notebook above; yields its URL; stopped with its process group."""
    root = home / "notebooks"
    root.mkdir(parents=True)
    (root / "lesson.py").write_text(NOTEBOOK)
    env = dict(os.environ, HOME=str(home))
    for var, name in [("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data"),
                      ("XDG_STATE_HOME", "state")]:
        (home / name).mkdir()
        env[var] = str(home / name)
    # marimo edit opens a notebook with its cells not yet run; here they run on open, as in marimo run.
    (home / "config" / "marimo").mkdir()
    (home / "config" / "marimo" / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
    port = free_port()
    args = [sys.executable, "-m", "marimo", mode, "lesson.py", "--headless", "--no-token", "--port", str(port)]
    if mode == "edit":
        args.append("--skip-update-check")
    url = f"http://127.0.0.1:{port}"
    with server(args, env=env, cwd=root, log_path=home / "server.log", health=f"{url}/health", name=f"marimo {mode}"):
        yield url


@pytest.fixture(scope="module")
def browser():
    yield from chromium("the marimo tests")


class Notebook:
    """The marimo notebook open in the browser: the lesson page in the widget, and what Python reads."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))
        self.page.goto(url)
        self.frame = self.page.frame_locator("iframe[title='backproplab lesson']")
        self.frame.locator("#table table.steps").wait_for(timeout=WAIT)

    def python(self, **expected: str) -> dict[str, str]:
        """What the reading cell shows, once it shows ``expected`` (its cell has run again)."""
        out = self.page.locator(".marimo-cell .output-area").filter(has_text="python iteration")
        deadline = time.time() + 30
        said: dict[str, str] = {}
        while time.time() < deadline:
            with contextlib.suppress(Exception):
                words = out.first.inner_text(timeout=1000).split()[1:]  # after "python"
                said = dict(zip(words[::2], words[1::2]))
                if all(said.get(k) == v for k, v in expected.items()):
                    return said
            time.sleep(0.1)
        raise AssertionError(f"the reading cell shows {said}, not {expected}")

    def settled(self, **expected: str) -> dict[str, str]:
        """As ``python``, and a moment later still the same: no further run of the cell follows."""
        said = self.python(**expected)
        time.sleep(1.0)
        assert self.python(**expected) == said, "the reading cell ran again with nothing new"
        return said


def test_the_widget_steps_in_marimo_edit_and_cells_rerun(browser, tmp_path):
    """Stepping, a learning rate typed into the page, and one set from Python: the page and Python agree,
    and the cell reading the widget runs once per change."""
    with marimo_server(tmp_path, "edit") as url:
        nb = Notebook(browser, url)
        try:
            expected = Lesson().trace
            expect_row(nb.frame, 1, expected)
            before = int(nb.settled(iteration="1", selected="b3")["runs"])
            nb.frame.locator("#step").click()
            expect_row(nb.frame, 2, expected)
            said = nb.settled(iteration="2")
            assert float(said["b3"]) == expected.iterations[1].params["b3"]
            assert int(said["runs"]) == before + 1

            lr = nb.frame.locator("#lr")  # the page asks Python for the new run by a custom message
            lr.fill("0.05")
            lr.press("Tab")
            slow = Lesson(lr=0.05).trace
            expect_row(nb.frame, 2, slow)
            said = nb.settled(lr="0.05")
            assert float(said["b3"]) == slow.iterations[1].params["b3"]
            assert int(said["runs"]) == before + 2

            nb.page.get_by_role("button", name="learning rate 0.3").click()  # w.widget.lr = 0.3 in Python
            fast = Lesson(lr=0.3).trace
            expect_row(nb.frame, 2, fast)
            assert nb.frame.locator("#lr").input_value() == "0.3"
            said = nb.settled(lr="0.3")
            assert float(said["b3"]) == fast.iterations[1].params["b3"]
            assert int(said["runs"]) == before + 3
            nb.frame.locator("#table").scroll_into_view_if_needed()
            nb.page.screenshot(path=str(tmp_path / "marimo-edit-widget.png"))
            assert not nb.errors, nb.errors
        finally:
            nb.page.close()


def test_the_widget_steps_in_a_marimo_app(browser, tmp_path):
    """``marimo run`` serves the notebook as an app; its kernel runs in the server's process."""
    with marimo_server(tmp_path, "run") as url:
        nb = Notebook(browser, url)
        try:
            expected = Lesson().trace
            nb.frame.locator("#step").click()
            nb.frame.locator("#step").click()
            expect_row(nb.frame, 3, expected)
            said = nb.python(iteration="3")
            assert float(said["b3"]) == expected.iterations[2].params["b3"]
            frame_box = nb.page.locator("iframe[title='backproplab lesson']").bounding_box()
            assert abs(frame_box["height"] - Lesson().height) <= 1
            boxes = nb.frame.locator("#network").evaluate("""svg =>
                [...svg.querySelectorAll('g.edge-label, g.bias-label')].map(g => {
                  const r = g.querySelector('rect').getBoundingClientRect();
                  return [g.textContent, r.left, r.top, r.right, r.bottom]; })""")
            assert len(boxes) == 7  # w1, b1, w2, b2, w3, w4, b3
            for i, (name, *a) in enumerate(boxes):
                for other, *b in boxes[i + 1:]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{name} overlaps {other}"
            nb.page.screenshot(path=str(tmp_path / "marimo-app-widget.png"), full_page=True)
            assert not nb.errors, nb.errors
        finally:
            nb.page.close()
