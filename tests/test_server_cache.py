"""The server keeps each run's finished document with the run: the same settings asked again are
answered from it, byte for byte what building it afresh gives, without building; the initial lesson
is built before serving; a failed build keeps nothing; and the kept documents count in the bound.
The document's faster pieces (decision-boundary cells rounded with NumPy, one iteration's step lines)
give exactly the plain way's JSON."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from backproplab.cli import lesson as commands
from backproplab.lesson import document as lesson
from backproplab.lesson import samples, server
from backproplab.lesson.server import Runs, create_app, run_bytes
from backproplab.lesson.settings import Limits, Settings, load_job
from backproplab.spec.presets import PRESETS

HOSTS = ["testserver"]
SMALL = {"max_steps": 30}


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """Counts the documents the server builds (each call of ``lesson.document``), by preset."""
    made: list[str] = []
    real = lesson.document

    def counted(job, trace, settings, **kw):
        made.append(str(settings.preset))
        return real(job, trace, settings, **kw)

    monkeypatch.setattr(lesson, "document", counted)
    return made


def _post(client: TestClient, body: dict) -> tuple[int, bytes]:
    r = client.post("/api/lesson", json=body)
    return r.status_code, r.content


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_served_documents_are_the_built_ones_byte_for_byte(preset, builds):
    """Asked twice (the second time from the cache), the server sends exactly the JSON that building the
    document the plain way gives, at the preset's own settings and at a changed learning rate."""
    client = TestClient(create_app(allowed_hosts=HOSTS))
    for options in ({}, {"lr": 0.05}):
        plain = lesson.to_json(lesson.build(Settings(preset=preset, **options))).encode("utf-8")
        before = len(builds)
        first = _post(client, {"preset": preset, **options})
        again = _post(client, {"preset": preset, **options})
        assert first == (200, plain) and again == (200, plain)
        assert len(builds) - before == 1  # the server's first; none for the second ask


def test_a_kept_document_is_served_again_without_building(builds):
    client = TestClient(create_app(allowed_hosts=HOSTS))
    a = _post(client, {"preset": "xor", **SMALL})
    b = _post(client, {"preset": "xor", "lr": 0.3, **SMALL})
    assert builds == ["xor", "xor"]
    assert _post(client, {"preset": "xor", **SMALL}) == a
    assert _post(client, {"preset": "xor", "lr": 0.3, **SMALL}) == b
    assert builds == ["xor", "xor"]
    assert a[0] == 200 and json.loads(a[1])["settings"]["max_steps"] == 30


def test_the_warm_up_builds_the_first_lesson_so_the_first_get_builds_nothing(builds):
    app = create_app(Settings(preset="xor", **SMALL), allowed_hosts=HOSTS)
    app.state.warm()
    assert builds == ["xor"]
    client = TestClient(app)
    r = client.get("/api/lesson")
    assert r.status_code == 200 and builds == ["xor"]
    assert r.content == lesson.to_json(lesson.build(Settings(preset="xor", **SMALL))).encode("utf-8")


def test_a_mistake_in_the_initial_settings_is_raised_by_the_warm_up():
    app = create_app(Settings(preset="no-such-preset"), allowed_hosts=HOSTS)
    with pytest.raises(ValueError, match="no-such-preset"):
        app.state.warm()
    assert app.state.runs.documents == {}


def test_serve_command_warms_the_app_it_serves(monkeypatch, builds):
    """``backproplab serve`` builds its first lesson once, into the app it then serves (not a copy that
    is thrown away)."""
    served = {}

    def fake_serve(settings, **kw):
        served.update(kw, settings=settings)

    monkeypatch.setattr(server, "serve", fake_serve)
    args = argparse.Namespace(source="xor", host="127.0.0.1", port=0, no_browser=True, lr=None, optimizer=None,
                              optimize=None, start=None, min_step=None, max_steps=30, csv=None, data=None, hide=None)
    monkeypatch.setattr(commands, "settings_for", lambda source, a: Settings(preset=source, max_steps=a.max_steps))
    assert commands.cmd_serve(args, console=None) == 0
    served["sock"].close()
    assert builds == ["xor"]
    assert served["app"].state.runs.document(served["settings"]) is not None
    TestClient(served["app"]).get("/api/lesson")
    assert builds == ["xor"]


def test_a_failed_build_is_not_kept(monkeypatch):
    client = TestClient(create_app(allowed_hosts=HOSTS))
    real = lesson.document
    calls = []

    def fails_once(job, trace, settings, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of luck")
        return real(job, trace, settings, **kw)

    monkeypatch.setattr(lesson, "document", fails_once)
    status, body = _post(client, {"preset": "xor", **SMALL})
    assert status == 500 and b"out of luck" in body
    runs = client.app.state.runs
    assert runs.documents == {}
    status, body = _post(client, {"preset": "xor", **SMALL})
    assert status == 200 and len(calls) == 2 and list(runs.documents.values()) == [body]


def test_a_build_stopped_at_the_time_limit_is_not_kept(monkeypatch):
    client = TestClient(create_app(allowed_hosts=HOSTS, limits=Limits(request_seconds=0.05)))
    real = lesson.document

    def slow(job, trace, settings, **kw):
        import time
        end = time.perf_counter() + 2.0
        while time.perf_counter() < end:  # pure Python, so the stop lands here
            pass
        return real(job, trace, settings, **kw)

    monkeypatch.setattr(lesson, "document", slow)
    status, body = _post(client, {"preset": "statquest"})
    assert status == 413 and b"longer than" in body
    assert client.app.state.runs.documents == {} and client.app.state.runs.nbytes == 0


def test_kept_documents_count_in_the_bound():
    settings = Settings(preset="xor", **SMALL)
    job = load_job(settings)
    runs = Runs(10**9)
    entry = runs.get(settings, Limits())
    run = run_bytes(job, entry[1])
    data = b"x" * 1000
    runs.keep_document(settings, entry, data)
    assert runs.nbytes == run + 1000 and runs.document(settings) == data
    # a bound that holds the run but not the run and its document: the run stays, its document is not kept
    tight = Runs(run + 999)
    entry = tight.get(settings, Limits())
    tight.keep_document(settings, entry, data)
    assert tight.document(settings) is None and tight.nbytes == run
    # a document that pushes the total past the bound sends the least recently used run out, document and all
    other = Settings(preset="xor", lr=0.3, **SMALL)
    two = Runs(2 * run + 1500)
    first = two.get(settings, Limits())
    two.keep_document(settings, first, data)
    second = two.get(other, Limits())
    two.keep_document(other, second, data)
    assert two.document(settings) is None and settings.key() not in two.items
    assert two.document(other) == data and two.nbytes == run + 1000 <= two.max_bytes


def test_a_document_is_kept_only_with_its_own_run():
    """A run dropped (a stopped request) or replaced while its document was built keeps no document."""
    settings = Settings(preset="xor", **SMALL)
    runs = Runs(10**9)
    entry = runs.get(settings, Limits())
    runs.forget(settings)
    runs.keep_document(settings, entry, b"{}")
    assert runs.document(settings) is None and runs.nbytes == 0


def _plain_boundary(job, trace, keep) -> dict | None:
    """The decision boundary with each forward pass and each cell's Python ``round`` written out."""
    found = samples._boundary_grid(job, trace.loss)
    if found is None:
        return None

    def cells(params):
        out = samples._outputs(job, params, found[2])
        if trace.loss == "bce":
            v = 1 / (1 + np.exp(-np.clip(out[:, 0], -60, 60)))
        else:
            v = np.argmax(out, axis=1).astype(float)
        return [round(a, 3) for a in v.tolist()]

    snaps = samples.snapshots(keep, samples.BOUNDARY_SNAPSHOTS)
    return {"values": [cells(trace.iterations[i].params) for i in snaps], "final": cells(trace.final.params)}


@pytest.mark.parametrize("preset", ["moons", "xor", "circles", "spiral", "classic"])
def test_boundary_snapshots_are_the_plain_ones(preset):
    settings = Settings(preset=preset)
    job = load_job(settings)
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = lesson.train(job)
    job.net.load_state_dict(start)
    keep = lesson.kept_iterations(trace)
    got = samples.boundary(job, trace, keep)
    plain = _plain_boundary(job, trace, keep)
    if plain is None:
        assert got is None
        return
    assert json.dumps({"values": got["values"], "final": got["final"]}) == json.dumps(plain)


def test_numpy_rounding_agrees_with_pythons_at_the_halves():
    """Values at and one float either side of every half-thousandth, where multiplying by 1000 can
    round the other way, and random ones: each is Python's ``round`` of it, float for float."""
    rng = np.random.default_rng(3)
    halves = (np.arange(0, 1001) + 0.5) / 1000
    v = np.concatenate([halves, np.nextafter(halves, 2), np.nextafter(halves, -1), rng.random(5000),
                        [0.0, 1.0, 1e-300, np.nan, -0.0004]])
    plain = [round(a, 3) for a in v.tolist()]
    assert json.dumps(samples.rounded(v, 3)) == json.dumps(plain)
    assert json.dumps(np.round(v, 3).tolist()) != json.dumps(plain)  # NumPy alone would differ here


@pytest.mark.parametrize(("preset", "options"), [("moons", {"max_steps": 30}), ("xor", {"max_steps": 30}),
                                                 ("statquest", {"optimize": "all", "optimizer": "adam",
                                                                "max_steps": 30})])
def test_one_iterations_step_lines_are_those_from_the_whole_runs_moments(preset, options):
    """The document's first step lines, worked out from the start of the run only, are the lines that Adam's
    moments over the whole run give."""
    from backproplab.explain.steps import run_moments

    job = load_job(Settings(preset=preset, **options))
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = lesson.train(job)
    job.net.load_state_dict(start)
    assert trace.optimizer == "adam"
    moments = {n: run_moments(trace, n) for n in trace.optimize}
    for k in (0, 1, 29):
        assert lesson._cli_lines_at(trace, [k]) == {str(k + 1): lesson.cli_lines(trace, k, moments)}
