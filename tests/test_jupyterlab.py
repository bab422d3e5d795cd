"""The notebook widget and the explanation inside a real JupyterLab (and Notebook 7), driven by
Debian's chromium through Playwright.

One ``jupyter lab`` server runs for the module, on a free port, with its own config, data,
runtime and IPython folders, so nothing of the user's setup can change what it shows; its
kernel is this interpreter's ipykernel. The tests open a notebook, run its cells as a learner
would (Shift+Enter), press the lesson page's step button inside the widget's output, and read
both what the page shows and what Python reports in the next cell. Every expected number comes
from the lesson document worked out in this process, never from a copied string.

JupyterLab and Notebook 7 come with ``pip install ".[test]"``. Without JupyterLab, or without chromium,
the tests fail when ``CI=true`` (``.ci/run`` sets it) and are skipped otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.host_helpers import chromium, expect_row, free_port, require, server, shown

require("jupyterlab")
pytest.importorskip("playwright")
pytest.importorskip("anywidget")

from backproplab.lesson.widget import Lesson  # noqa: E402

TOKEN = "backproplab-test-token"
WAIT = 90_000  # ms: a cold JupyterLab and kernel on two cores take a while the first time

CELLS = [
    "import backproplab as bl\nw = bl.widgets.Lesson()\nw",
    "net, (x, y) = bl.presets.statquest()\nbl.explain(bl.losses.ssr(net(x), y), wrt=net.b3, lr=0.1)",
    'print("iteration", w.iteration, "b3", repr(w.trace_so_far().iterations[-1].params["b3"]))',
    'print("lr", w.lr, "step", repr(w.document["trace"]["iterations"][0]["step_sizes"]["b3"]))',
    "w.lr = 0.3",
]
WIDGET, EXPLANATION, READ_ITERATION, READ_LR, SET_LR = range(len(CELLS))


def notebook_json(cells: list[str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
                   "source": source} for i, source in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """A JupyterLab server of its own: (base URL, root folder); stopped with its whole process group."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"
    root.mkdir()
    env = dict(os.environ)
    for var, name in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        (home / name).mkdir()
        env[var] = str(home / name)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    env.pop("JUPYTERLAB_WORKSPACES_DIR", None)
    # The kernel is this interpreter: the private data folder comes first on the kernel search path.
    spec = home / "data" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    # No news or update pop-up over the notebook.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
            "--LabApp.extension_manager=readonly"]
    url = f"http://127.0.0.1:{port}"
    with server(args, env=env, cwd=root, log_path=home / "server.log", health=f"{url}/api/status?token={TOKEN}",
                name="jupyter lab"):
        yield url, root


@pytest.fixture(scope="module")
def browser():
    yield from chromium("the JupyterLab tests")


class Notebook:
    """One notebook open in the browser, with the cells above, run one at a time."""

    def __init__(self, browser, jupyter, name: str, app: str) -> None:
        url, root = jupyter
        (root / name).write_text(notebook_json(CELLS))
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))
        self.page.goto(f"{url}/{app}/{name}?token={TOKEN}")
        self.page.locator(".jp-Notebook .jp-Cell").nth(len(CELLS) - 1).wait_for(timeout=WAIT)
        self.accept_kernel_dialog()

    def own_errors(self) -> list[str]:
        """The page errors not raised inside Notebook 7's own bundles (it raises a few while it starts)."""
        return [e for e in self.errors if "/static/notebook/" not in e]

    def accept_kernel_dialog(self) -> None:
        """If JupyterLab asks which kernel to use, take the one it offers (this interpreter's)."""
        dialog = self.page.locator(".jp-Dialog")
        with contextlib.suppress(Exception):
            dialog.wait_for(timeout=1500)
            dialog.locator(".jp-mod-accept").click()

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def run(self, index: int) -> None:
        """Click into the cell's editor and press Shift+Enter, as a learner runs a cell."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def output_text(self, index: int, contains: str) -> str:
        """The cell's output once it contains ``contains`` (a printed label)."""
        out = self.cell(index).locator(".jp-OutputArea-output")
        out.filter(has_text=contains).first.wait_for(timeout=WAIT)
        return out.first.inner_text()

    def widget(self):
        """The lesson page inside the widget's output, once it has drawn the document."""
        frame = self.cell(WIDGET).frame_locator(".jp-OutputArea-output iframe")
        frame.locator("#table table.steps").wait_for(timeout=WAIT)
        return frame

    def close(self) -> None:
        self.page.close()


def parse(text: str) -> dict[str, str]:
    words = text.split()
    return dict(zip(words[::2], words[1::2]))


@pytest.fixture(scope="module")
def lab(browser, jupyter):
    nb = Notebook(browser, jupyter, "lesson.ipynb", "lab/tree")
    nb.run(WIDGET)
    nb.run(EXPLANATION)
    yield nb
    nb.close()


def test_the_widget_steps_in_jupyterlab_and_python_reads_the_iteration(lab, tmp_path):
    expected = Lesson().trace  # the same settings, worked out in this process
    frame = lab.widget()
    expect_row(frame, 1, expected)
    frame.locator("#step").click()
    expect_row(frame, 2, expected)  # b3: 0 → 1.57, and the next step's numbers
    lab.page.screenshot(path=str(tmp_path / "jupyterlab-widget.png"))
    lab.run(READ_ITERATION)
    said = parse(lab.output_text(READ_ITERATION, "iteration"))
    assert said["iteration"] == "2"
    assert float(said["b3"]) == expected.iterations[1].params["b3"]
    assert not lab.errors, lab.errors


def test_the_widget_fits_its_output(lab, tmp_path):
    """The frame is as tall as the widget asks, as wide as the output, and the page's controls are in it."""
    iframe = lab.cell(WIDGET).locator(".jp-OutputArea-output iframe")
    iframe.evaluate("f => f.scrollIntoView({block: 'end'})")
    lab.page.screenshot(path=str(tmp_path / "jupyterlab-widget-bottom.png"))
    frame_box = lab.cell(WIDGET).locator(".jp-OutputArea-output iframe").bounding_box()
    output_box = lab.cell(WIDGET).locator(".jp-OutputArea-output").bounding_box()
    assert abs(frame_box["height"] - Lesson().height) <= 1
    assert frame_box["width"] >= output_box["width"] - 2
    frame = lab.widget()
    width = frame.locator("body").evaluate("b => b.clientWidth")
    for control in ("#step", "#lr", "#iteration", "#min-step", "#max-steps"):
        box = frame.locator(control).evaluate("e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }")
        assert 0 <= box[0] and box[1] <= width, (control, box, width)
        clipped = frame.locator(control).evaluate("e => e.scrollWidth > e.clientWidth + 1")
        assert not clipped, f"{control} cuts off its value"
    # The network panel is narrower here than on a full page: still no label hides another.
    boxes = frame.locator("#network").evaluate("""svg => [...svg.querySelectorAll('g.edge-label, g.bias-label')]
        .map(g => { const r = g.querySelector('rect').getBoundingClientRect();
                    return [g.textContent, r.left, r.top, r.right, r.bottom]; })""")
    assert len(boxes) == 7  # w1, b1, w2, b2, w3, w4, b3
    for i, (name, *a) in enumerate(boxes):
        for other, *b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{name} overlaps {other}"


def test_a_change_in_the_page_and_from_python_is_worked_out_again(lab):
    frame = lab.widget()
    iteration = int(frame.locator("#iteration").input_value())
    lr = frame.locator("#lr")
    lr.fill("0.05")
    lr.dispatch_event("change")
    expect_row(frame, iteration, Lesson(lr=0.05).trace)  # the page asked Python and drew its answer
    lab.run(READ_LR)
    said = parse(lab.output_text(READ_LR, "lr"))
    slow = Lesson(lr=0.05).trace
    assert said["lr"] == "0.05" and float(said["step"]) == slow.iterations[0].step_sizes["b3"]
    lab.run(SET_LR)  # w.lr = 0.3 in Python: the page gets the new document
    fast = Lesson(lr=0.3).trace
    expect_row(frame, iteration, fast)
    assert frame.locator("#lr").input_value() == "0.3"
    assert not lab.errors, lab.errors


def assert_typeset(nb: Notebook, shot: Path, fonts: bool = True) -> None:
    """The explanation's output holds MathJax 3's typeset maths, its numbers, and no TeX source in sight;
    with ``fonts``, MathJax's own fonts have loaded (without them the maths is drawn in a fallback font)."""
    out = nb.cell(EXPLANATION).locator(".jp-OutputArea-output").first
    out.wait_for(timeout=WAIT)
    out.scroll_into_view_if_needed()
    math = out.locator("mjx-container")
    with contextlib.suppress(Exception):
        math.first.wait_for(timeout=15_000)
    text = out.inner_text()
    out.screenshot(path=str(shot))
    assert math.count() > 0, f"no typeset maths in the explanation's output:\n{text[:500]}"
    assert "Σ_i" not in text, "the plain-text formulas are shown next to the typeset ones"
    gradient = Lesson().trace.iterations[0].gradients["b3"]
    assert shown(abs(gradient)) in text  # the typeset working ends in this process's dSSR/db3
    if fonts:
        status = nb.page.evaluate("""() => document.fonts.ready.then(() => [...document.fonts]
            .filter(f => f.family.startsWith('MJX')).map(f => f.family + ' ' + f.status))""")
        assert any(s.endswith(" loaded") for s in status) and not any(s.endswith(" error") for s in status), status
    for tex in ("\\frac", "\\partial", "\\sum", "$$", "\\(", "\\["):
        assert tex not in text, f"raw TeX {tex!r} in the explanation's output:\n{text[:500]}"


def test_the_explanation_shows_typeset_math(lab, tmp_path):
    """JupyterLab typesets the explanation's maths with MathJax 3."""
    assert_typeset(lab, tmp_path / "explanation.png")


def test_the_widget_steps_in_notebook_7(browser, jupyter, tmp_path):
    pytest.importorskip("notebook", minversion="7")
    nb = Notebook(browser, jupyter, "lesson-notebook7.ipynb", "notebooks")
    try:
        nb.run(WIDGET)
        nb.run(EXPLANATION)
        expected = Lesson().trace
        frame = nb.widget()
        frame.locator("#step").click()
        frame.locator("#step").click()
        expect_row(frame, 3, expected)  # b3: 0 → 1.57 → 2.19
        nb.cell(READ_ITERATION).scroll_into_view_if_needed()
        nb.run(READ_ITERATION)
        said = parse(nb.output_text(READ_ITERATION, "iteration"))
        assert said["iteration"] == "3"
        assert float(said["b3"]) == expected.iterations[2].params["b3"]
        # Notebook 7 shares the server with the JupyterLab above, and jupyter_server caches a static file's
        # place by its name alone: MathJax's fonts, named alike in both apps, are then refused (403) to the
        # second app. So here only the typesetting is checked, not the fonts.
        assert_typeset(nb, tmp_path / "explanation-notebook7.png", fonts=False)
        assert not nb.own_errors(), nb.own_errors()
    finally:
        nb.close()
