"""The notebook widget's front end in a real browser (chromium through Playwright).

A plain page stands in for the notebook: it gives the widget's module (widgets/lesson.js) a
model with anywidget's interface, and carries its messages to the real Python widget through
Playwright, as the notebook's comm would. So the lesson page inside the widget, the widget's
JavaScript and the Python side are all the real ones; only JupyterLab itself is left out.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("anywidget")
pytest.importorskip("playwright")

from backproplab.lesson.widget import Lesson  # noqa: E402
from tests.host_helpers import chromium  # noqa: E402

HARNESS = """<!doctype html><html><head><meta charset="utf-8"></head><body><div id="out"></div>
<script type="module">
const state = JSON.parse(document.getElementById("state").textContent);
const listeners = {};
const fire = (name, arg) => (listeners[name] || []).forEach((f) => f(arg));
const model = {
  get: (key) => state[key],
  set: (key, value) => { state[key] = value; fire(`change:${key}`); },
  save_changes: () => window.pySave(JSON.stringify({ iteration: state.iteration, selected: state.selected })),
  on: (name, f) => { (listeners[name] = listeners[name] || []).push(f); },
  send: async (msg) => {
    const back = JSON.parse(await window.pySend(JSON.stringify(msg)));
    for (const m of back.custom) fire("msg:custom", m);
    window.pushState(back.state);
  },
};
window.pushState = (changes) => { for (const [k, v] of Object.entries(changes)) model.set(k, v); };
const widget = await import(document.getElementById("esm").textContent);
widget.default.render({ model, el: document.getElementById("out") });
</script></body></html>"""


@pytest.fixture(scope="module")
def browser():
    yield from chromium("the widget's browser tests")


def open_widget(browser, w: Lesson):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    changed: dict = {}
    w.observe(lambda ch: changed.__setitem__(ch["name"], ch["new"]), names=["document", "revision"])

    def py_send(text: str) -> str:
        custom: list = []
        w.send = custom.append
        changed.clear()
        w._on_page_message(w, json.loads(text), [])
        return json.dumps({"custom": custom, "state": dict(changed)})

    def py_save(text: str) -> None:
        for key, value in json.loads(text).items():
            setattr(w, key, value)

    page.expose_function("pySend", py_send)
    page.expose_function("pySave", py_save)
    state = {name: getattr(w, name) for name in ("_page", "document", "revision", "iteration", "selected", "height")}
    esm = "data:text/javascript;base64," + __import__("base64").b64encode(w._esm.encode()).decode()
    html = HARNESS.replace("<div id=\"out\"></div>", '<div id="out"></div><script type="application/json" id="state">'
                           + json.dumps(state).replace("</", "<\\/") + f'</script><script id="esm" type="text/plain">'
                           f"{esm}</script>")
    page.set_content(html)
    frame = page.frame_locator("iframe")
    frame.locator("#iteration").wait_for()
    return page, frame, errors


def test_the_widget_steps_and_python_reads_the_iteration(browser):
    w = Lesson()
    page, frame, errors = open_widget(browser, w)
    assert frame.locator("#iteration").input_value() == "1"
    frame.locator("#step").click()
    page.wait_for_function("() => true")
    for _ in range(50):
        if w.iteration == 2:
            break
        page.wait_for_timeout(100)
    assert w.iteration == 2
    assert round(w.trace_so_far().iterations[-1].params["b3"], 2) == 1.57
    assert "1.57" in frame.locator("#table").inner_text()
    assert not errors, errors
    page.close()


def test_a_change_in_the_page_is_worked_out_by_python_and_back(browser):
    w = Lesson()
    page, frame, errors = open_widget(browser, w)
    lr = frame.locator("#lr")
    lr.fill("0.05")
    lr.dispatch_event("change")
    for _ in range(100):
        if w.lr == 0.05 and w.document["settings"]["lr"] == 0.05:
            break
        page.wait_for_timeout(100)
    assert w.lr == 0.05
    step = w.document["trace"]["iterations"][0]["step_sizes"]["b3"]
    assert abs(step - 0.05 * w.document["trace"]["iterations"][0]["gradients"]["b3"]) < 1e-12
    w.lr = 0.3  # from Python: the document goes to the page as the comm would carry it
    page.evaluate("s => window.pushState(s)", {"revision": w.revision, "document": w.document})
    for _ in range(50):
        if frame.locator("#lr").input_value() == "0.3":
            break
        page.wait_for_timeout(100)
    assert frame.locator("#lr").input_value() == "0.3"
    assert not errors, errors
    page.close()
