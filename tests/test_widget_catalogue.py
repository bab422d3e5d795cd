"""The hostile spec catalogue on the notebook widget: the page's "your own network" request, and the
``spec_text`` trait set from Python, each refused in one clear line, as the server refuses them."""

from __future__ import annotations

import pytest

from backproplab.lesson.widget import Lesson
from tests.test_hostile_catalogue import CATALOGUE, MARKER, check_one_line, hostile_specs, secret_unchanged


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return {case.name: (case, path, text) for case, path, text in hostile_specs(tmp_path_factory.mktemp("hostile"))}


@pytest.fixture(scope="module")
def widget() -> Lesson:
    """One widget for every case: a refused request changes nothing, which each case checks."""
    return Lesson()


@pytest.mark.parametrize("name", [c.name for c in CATALOGUE])
def test_the_widget_answers_each_hostile_spec_in_one_line(widget, catalogue, name):
    case, spec, text = catalogue[name]
    sent: list[dict] = []
    widget.send = sent.append
    doc, revision = widget.document, widget.revision
    widget._on_page_message(widget, {"kind": "request", "id": 11, "url": "/api/lesson",
                                     "body": {"spec_text": text}}, [])
    (reply,) = sent  # answered: the page never waits
    assert reply["id"] == 11 and reply["ok"] is False and 400 <= reply["status"] < 500, reply
    check_one_line(reply["error"], case.expected_for("text"))
    assert MARKER not in str(reply)
    assert widget.document is doc and widget.revision == revision and widget.spec_text is None
    secret_unchanged(spec)


@pytest.mark.parametrize("name", [c.name for c in CATALOGUE])
def test_the_widget_refuses_each_hostile_spec_set_from_python_in_one_line(widget, catalogue, name):
    case, spec, text = catalogue[name]
    doc = widget.document
    widget.spec_text = text
    try:
        check_one_line(widget.error, case.expected_for("text"))
        assert widget.document is doc
    finally:
        widget.spec_text = None  # back to the preset, for the next case
    secret_unchanged(spec)
