"""The notebook widget, Python side, through its traitlets and the messages the page sends.

Every number is checked against the dosage network worked by hand in NumPy (dSSR/db3 =
Σ −2(y − ŷ)), not against the engine that produced it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("anywidget")

from backproplab.lesson.widget import Lesson  # noqa: E402

X, Y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])


def softplus(z):
    return np.log1p(np.exp(z))


def rest(w1=3.34, b1=-1.43, w2=-3.53, b2=0.57, w3=-1.22, w4=-2.30):
    return w3 * softplus(w1 * X + b1) + w4 * softplus(w2 * X + b2)


def dssr_db3(b3, **values):
    return float(np.sum(-2 * (Y - rest(**values) - b3)))


def first(doc):
    return doc["trace"]["iterations"][0]


def test_the_widget_starts_on_the_worked_example():
    w = Lesson()
    it = first(w.document)
    assert it["iteration"] == 1 and it["params"]["b3"] == 0.0
    assert np.isclose(it["gradients"]["b3"], dssr_db3(0.0), rtol=1e-12)
    assert np.isclose(it["step_sizes"]["b3"], 0.1 * dssr_db3(0.0), rtol=1e-12)
    assert 'data-host="widget"' in w._page and "lesson-document" in w._page
    assert np.isclose(w.trace.final.params["b3"], np.mean(Y - rest()), atol=1e-3)  # the bottom of the parabola


def test_python_changes_recompute_the_document():
    w = Lesson()
    before = w.revision
    w.lr = 0.05
    assert w.revision == before + 1 and w.document["settings"]["lr"] == 0.05
    assert np.isclose(first(w.document)["step_sizes"]["b3"], 0.05 * dssr_db3(0.0), rtol=1e-12)
    w.start = {"b3": 1.0}
    assert first(w.document)["params"]["b3"] == 1.0
    assert np.isclose(first(w.document)["gradients"]["b3"], dssr_db3(1.0), rtol=1e-12)
    w.optimize = ["w3", "b3"]
    assert w.document["trace"]["optimize"] == ["w3", "b3"]
    h1 = softplus(3.34 * X - 1.43)
    by_hand = float(np.sum(-2 * (Y - rest() - 1.0) * h1))
    assert np.isclose(first(w.document)["gradients"]["w3"], by_hand, rtol=1e-12)


def test_a_bad_setting_from_python_is_one_line_and_keeps_the_document():
    w = Lesson()
    doc = w.document
    w.lr = -1.0
    assert w.error and "\n" not in w.error and "lr" in w.error
    assert w.document is doc


def test_the_pages_request_is_answered_and_the_traits_follow_it():
    w = Lesson()
    sent = []
    w.send = sent.append
    revision = w.revision
    w._on_page_message(w, {"kind": "request", "id": 7, "url": "/api/lesson",
                           "body": {"preset": "statquest", "lr": 0.2, "optimize": ["b3"]}}, [])
    (reply,) = sent
    assert reply["id"] == 7 and reply["ok"] and reply["revision"] == revision + 1
    assert np.isclose(first(reply["data"])["step_sizes"]["b3"], 0.2 * dssr_db3(0.0), rtol=1e-12)
    assert w.lr == 0.2 and w.revision == revision + 1 and w.document is reply["data"]
    w._on_page_message(w, {"kind": "request", "id": 8, "url": "/api/lesson", "body": {"lr": "fast"}}, [])
    assert sent[-1]["ok"] is False and "lr" in sent[-1]["error"] and "\n" not in sent[-1]["error"]
    w._on_page_message(w, {"kind": "request", "id": 9, "url": "/etc/passwd", "body": None}, [])
    assert sent[-1]["ok"] is False and sent[-1]["status"] == 404
    assert w.lr == 0.2  # a refused request changes nothing


def test_detail_and_the_trace_so_far_follow_the_pages_iteration():
    w = Lesson()
    sent = []
    w.send = sent.append
    w._on_page_message(w, {"kind": "request", "id": 1, "url": "/api/detail",
                           "body": {"param": "w1", "iteration": 2}}, [])
    assert sent[-1]["ok"] and "explanation" in sent[-1]["data"]
    row = sent[-1]["data"]["row"]  # the page puts it in place of an iteration its document does not hold
    b3 = -0.1 * dssr_db3(0.0)
    assert row["iteration"] == 2 and np.isclose(row["params"]["b3"], b3, atol=1e-12)
    assert np.isclose(row["gradients"]["b3"], dssr_db3(b3), rtol=1e-12)
    w.iteration = 3  # as the page sets it when the learner steps
    so_far = w.trace_so_far()
    assert len(so_far.iterations) == 3
    b3 = 0.0
    for it in so_far.iterations:
        assert np.isclose(it.params["b3"], b3, atol=1e-12)
        b3 -= 0.1 * dssr_db3(b3)
    assert round(so_far.iterations[-1].params["b3"], 2) == 2.19
