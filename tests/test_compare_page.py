"""Runs side by side on the lesson page: a compared run's document is that run's own, its colour, marker and
name are the figures' (plots.curves), and a mistake in the run's text is one line."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from backproplab.lesson import document as lesson
from backproplab.lesson.export import export, export_html
from backproplab.lesson.runs import HIDEABLE, compared_settings, parse_run, run_settings
from backproplab.lesson.server import create_app
from backproplab.lesson.settings import Settings
from backproplab.plots.curves import MAX_COMPARED, RUN_STYLES, run_colour, run_label, run_labels
from backproplab.util.messages import InputError
from tests.conftest import assert_clean_error
from tests.test_export_runs import documents, embedded

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

STATIC = Path(__file__).resolve().parents[1] / "src/backproplab/lesson/static"
NUMBERS = ("trace", "losses", "settings", "words", "compare", "curves")


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(allowed_hosts=["testserver"]))


def compare(client: TestClient, settings: dict, run: str):
    return client.post("/api/compare", json={"settings": settings, "run": run})


@pytest.mark.parametrize(("shown", "run", "alone"), [
    ({"lr": 0.1}, "lr=0.34", {"lr": 0.34}),
    ({"lr": 0.1}, "optimizer=adam", {"lr": 0.1, "optimizer": "adam"}),
    ({}, "start.b3=5 max_steps=8", {"start": {"b3": 5.0}, "max_steps": 8}),
])
def test_a_compared_runs_numbers_are_the_same_runs_alone(client, shown, run, alone):
    r = compare(client, shown, run)
    assert r.status_code == 200, r.text
    got = r.json()
    by_itself = client.post("/api/lesson", json=alone).json()
    for key in NUMBERS:
        assert got["document"][key] == by_itself[key], key
    # and the settings it sends back ask for that very run again (its worked gradients, its other iterations)
    assert Settings(**got["settings"]).key() == run_settings(Settings(**shown), parse_run(run)).key()
    k = got["document"]["trace"]["iterations"][-1]["iteration"]
    detail = client.post("/api/detail", json={"settings": got["settings"], "param": "b3", "iteration": k}).json()
    assert detail["row"] == got["document"]["trace"]["iterations"][-1]


def test_the_shown_run_is_not_changed_by_comparing(client):
    before = client.post("/api/lesson", json={"lr": 0.1}).json()
    compare(client, {"lr": 0.1}, "lr=0.34")
    assert client.post("/api/lesson", json={"lr": 0.1}).json()["trace"] == before["trace"]


def test_a_diverging_run_beside_a_converging_one_keeps_its_own_numbers(client):
    got = compare(client, {"lr": 0.1}, "lr=10").json()["document"]
    alone = lesson.build(Settings(lr=10.0))
    assert got["trace"]["final"] == alone["trace"]["final"] and got["words"]["diverged"] == alone["words"]["diverged"]
    assert got["words"]["diverged"].startswith("The run diverged")


def test_colours_markers_and_names_are_the_figures():
    docs = [lesson.build(Settings(lr=lr, max_steps=4)) for lr in (0.1, 0.34)]
    traces = [lesson.run(Settings(lr=lr, max_steps=4))[1] for lr in (0.1, 0.34)]
    for doc, trace in zip(docs, traces):
        c = doc["compare"]
        assert c["colours"] == [run_colour(k) for k in range(MAX_COMPARED)]
        assert c["markers"] == [marker for _, marker in RUN_STYLES] and c["most"] == MAX_COMPARED == 4
        assert c["name"] == {"method": run_label(trace, "b3", ("method",)), "lr": run_label(trace, "b3", ("lr",)),
                             "start": {"b3": run_label(trace, "b3", ("start",))}}
    # the page names runs by the parts that differ, as run_labels does: here the learning rate alone
    differ = [p for p in ("method", "lr") if docs[0]["compare"]["name"][p] != docs[1]["compare"]["name"][p]]
    assert differ == ["lr"] and [d["compare"]["name"]["lr"] for d in docs] == run_labels(traces, "b3")


def test_no_page_file_writes_a_runs_colour():
    colours = [run_colour(k).lower() for k in range(MAX_COMPARED)]
    for name in ("compare.js", "sidebyside.js", "lesson.css", "index.html"):
        text = (STATIC / name).read_text(encoding="utf-8").lower()
        for colour in colours:
            assert colour not in text, (name, colour)
    script = (STATIC / "compare.js").read_text(encoding="utf-8")  # each run's colour is the document's k-th
    assert "c = ui.doc.compare;" in script and "colour: c.colours[r.k], marker: c.markers[r.k]" in script


@pytest.mark.parametrize(("run", "says"), [
    ("lr=oops", "run 'lr=oops': lr must be a positive number"),
    ("speed=3", "run 'speed=3': "),
    ("lr", "needs the form key=value"),
    ("", "a run to compare with, such as lr=0.34"),
])
def test_a_mistake_in_the_runs_text_is_one_line(client, run, says):
    r = compare(client, {"lr": 0.1}, run)
    assert r.status_code == 400
    error = r.json()["error"]
    assert says in error and "\n" not in error and "Traceback" not in error
    with pytest.raises(InputError, match=re.escape(says)):
        compared_settings({"settings": {"lr": 0.1}, "run": run})


def test_an_exported_file_opens_compared_and_holds_each_compared_run_whole():
    html = export("statquest", compare=["lr=0.34", "lr=10"])
    table = embedded(html, "lesson-runs")
    assert table["compare"] == ["lr=0.34", "lr=10"] and [r["label"] for r in table["runs"]] == ["", "lr=0.34", "lr=10"]
    docs = documents(html)
    for doc, lr in zip(docs[1:], (0.34, 10.0)):
        assert doc["trace"] == lesson.build(Settings(lr=lr), everything=True)["trace"]
    with_runs = embedded(export("statquest", runs=["lr=0.1", "lr=0.5"], compare=["lr=0.5"]), "lesson-runs")
    assert [r["label"] for r in with_runs["runs"]] == ["lr=0.1", "lr=0.5"] and with_runs["compare"] == ["lr=0.5"]


def test_export_compare_mistakes_are_one_line(capsys, tmp_path):
    out = str(tmp_path / "x.html")
    assert_clean_error(capsys, ["export", "statquest", "--compare", "lr=0.2", "lr=0.3", "lr=0.4", "lr=0.5", "-o", out],
                       "more than the page draws beside the first (3)")
    assert_clean_error(capsys, ["export", "statquest", "--compare", "lr=oops", "-o", out], "run 'lr=oops'")
    with pytest.raises(InputError, match="shown first"):
        export_html(Settings(), runs=["lr=0.1", "lr=0.3"], compare=["lr=0.1"])


def test_compare_can_be_left_out_of_an_embedded_page():
    assert "compare" in HIDEABLE
    assert 'compare: ["#compare"]' in (STATIC / "state.js").read_text(encoding="utf-8")


def test_the_notebook_widget_answers_a_compared_run_with_that_runs_whole_document():
    pytest.importorskip("anywidget")
    from backproplab.lesson.widget import Lesson

    w = Lesson()
    got = w.answer("/api/compare", {"settings": {"lr": 0.1}, "run": "lr=0.34"})
    alone = lesson.build(Settings(lr=0.34), everything=True)
    assert got["document"]["trace"] == alone["trace"] and got["document"]["explanations"] == alone["explanations"]
    assert w.lr != 0.34  # the widget's own run stays the shown one
    with pytest.raises(InputError, match="run 'lr=oops'"):
        w.answer("/api/compare", {"settings": {}, "run": "lr=oops"})
