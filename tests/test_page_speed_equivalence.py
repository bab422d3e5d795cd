"""The lesson page's faster paths give what the straightforward paths give, number for number, and
they are the paths taken.

The server answers a worked gradient from the run's explanation structure, kept with the run
(``lesson.worked``); the document holds the entry the page selects first; loss curves are kept with
the run; entry-level links are found with fewer NumPy calls (``explain.paths``); Adam's moments are
read column by column; a decision boundary's cells are written with one conversion. Each is compared
here, as JSON, with the plain way of working it out. The server's socket sends each answer at once.
"""

from __future__ import annotations

import json
import re
import socket

import numpy as np
import pytest

from backproplab.explain import paths
from backproplab.explain.symbols import aligned
from backproplab.lesson import document as lesson
from backproplab.lesson import samples
from backproplab.lesson.server import bind
from backproplab.lesson.settings import Settings, load_job

# (preset, settings, [(param, index or None, iterations)]): iterations span the blocks filled together
CASES = [
    ("statquest", {}, [("b3", None, [1, 2, 12]), ("w1", None, [3])]),
    ("statquest", {"optimize": "all", "optimizer": "adam", "max_steps": 40},
     [("w3", None, [1, 17, 40]), ("b1", None, [16])]),
    ("moons", {"max_steps": 40}, [("W1", (0, 0), [1, 2, 17]), ("W2", (5, 3), [16, 40]), ("b3", None, [2])]),
    ("xor", {"max_steps": 40}, [("W1", (2, 1), [1, 33]), ("b2", None, [5])]),
    ("circles", {"max_steps": 30}, [("W3", (0, 2), [30, 1])]),
    ("spiral", {"max_steps": 30}, [("b1", (4,), [2, 18])]),
    ("regression", {"max_steps": 40}, [("W1", (3, 0), [1, 2, 20]), ("W2", None, [39])]),
    ("classic", {"max_steps": 40}, [("w5", None, [1, 2, 35]), ("b2", None, [17])]),
    ("statquest", {"lr": 20.0, "optimize": "all", "max_steps": 200}, [("w1", None, [1, 11, 21]), ("b3", None, [21])]),
]  # the last one diverges after 21 iterations: its final ones have huge numbers


def _run(preset: str, options: dict) -> tuple:
    settings = Settings(preset=preset, **options)
    return (settings, *lesson.run(settings))


def _json(value: object) -> str:
    return lesson.to_json(value)


@pytest.mark.parametrize(("preset", "options", "asks"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_kept_structure_gives_the_fresh_explanation(preset, options, asks):
    """Asked in any order, across the blocks of iterations filled in together, each worked gradient is
    the one ``bl.explain`` gives on a new graph at that iteration (the entry's own, for a matrix)."""
    settings, job, trace = _run(preset, options)
    for param, index, iterations in asks:
        for iteration in iterations:
            k = min(iteration, len(trace.iterations)) - 1
            fast = lesson.worked(job, trace, param, k, index)
            plain = lesson.explanation(job, trace, param, k, index)
            assert "error" not in plain and plain["text"]
            assert _json(fast) == _json(plain), (preset, param, index, iteration)


@pytest.mark.parametrize("preset", ["statquest", "moons", "regression"])
def test_the_detail_answer_is_the_same_whichever_was_asked_before(preset, monkeypatch):
    """A detail request answered after others (from the kept structure and curves) is the whole answer
    a first, fresh request gives, JSON for JSON; so are the document's worked gradients and curves."""
    settings, job, trace = _run(preset, {"max_steps": 30, "min_step": 0.0})
    assert len(trace.iterations) == 30
    param = trace.optimize[0]
    index = [0] * job.net.parameter(param).data.ndim or None
    asked = [(param, 20), (param, 2), (trace.optimize[-1], 30), (param, 1)]
    cached = [_json(lesson.detail(settings, p, it, (job, trace), index=index if p == param else None))
              for p, it in asked]
    doc = lesson.document(job, trace, settings)
    monkeypatch.setattr(lesson, "worked", lesson.explanation)  # the straightforward path: a new graph each time
    monkeypatch.setattr(lesson, "curve", samples._curve)  # and each loss curve worked out anew
    fresh = [_json(lesson.detail(settings, p, it, (job, trace), index=index if p == param else None))
             for p, it in asked]
    assert cached == fresh
    again = lesson.document(job, trace, settings)
    assert _json(doc["explanations"]) == _json(again["explanations"])
    assert _json(doc["curves"]) == _json(again["curves"])


def test_a_run_builds_its_explanation_structure_once(monkeypatch):
    """Stepping through a run asks for the same entry at one iteration after another: the paths to it
    are looked for once, not at every step (a fresh explanation looks for them every time)."""
    settings, job, trace = _run("moons", {"max_steps": 40})
    looked = []
    original = paths.Paths.leading_to
    monkeypatch.setattr(paths.Paths, "leading_to", lambda self, target: looked.append(target) or original(self, target))
    lesson.detail(settings, "W1", 1, (job, trace), index=[0, 0])
    assert (0, 0) in looked
    first = len(looked)
    for iteration in (2, 3, 20, 21):
        lesson.detail(settings, "W1", iteration, (job, trace), index=[0, 0])
    assert len(looked) == first


def _plain_elementwise(node, k):
    """The entry-level links of an elementwise op as they were first written: one entry at a time."""
    parent = node.parents[k]
    inputs = [p.data for p in node.parents]
    local = np.broadcast_to(node.op.vjps[k](np.ones_like(node.data), node.data, *inputs, **(node.attrs or {})),
                            node.data.shape)
    return {e: [(aligned(e, parent.shape), float(local[e]))] for e in np.ndindex(node.data.shape)}


def _plain_jacobian(node, k):
    """The entry-level links of any other op as they were first written: two VJPs per output entry."""
    parent = node.parents[k]
    attrs = node.attrs or {}
    vjp = node.op.vjps[k]
    rng = np.random.default_rng(0)
    stand_in = [rng.uniform(0.5, 1.5, p.data.shape) for p in node.parents]
    out_stand_in = node.op.forward(*stand_in, **attrs)
    links = {}
    for e in np.ndindex(node.data.shape):
        g = np.zeros_like(node.data)
        g[e] = 1.0
        col = paths.unbroadcast(np.asarray(vjp(g, node.data, *[p.data for p in node.parents], **attrs)), parent.shape)
        with np.errstate(all="ignore"):
            pattern = paths.unbroadcast(np.asarray(vjp(g, np.asarray(out_stand_in), *stand_in, **attrs)), parent.shape)
        links[e] = [(f, float(col[f])) for f in (tuple(int(v) for v in row) for row in np.argwhere(
            (pattern != 0) | (col != 0)))]
    return links


@pytest.mark.parametrize("preset", ["statquest", "xor", "regression", "moons"])
def test_entry_links_are_the_one_at_a_time_links(preset):
    """Every node's links (which entries, their order, their values and their types) match the
    straightforward loops, for scalars, broadcast biases, matrix products and the loss; xor's first
    input is 0, where a link must still be found."""
    settings, job, trace = _run(preset, {"max_steps": 3})
    loss = lesson._loss_tensor(job, trace)
    order, seen, stack = [], set(), [loss]
    while stack:  # every node of the graph
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(node.parents)
    checked = 0
    for node in order:
        if node.op is None or node.data.size > 400:
            continue
        for k in range(len(node.parents)):
            plain = _plain_elementwise(node, k) if node.op.elementwise else _plain_jacobian(node, k)
            fast = paths._elementwise_links(node, k) if node.op.elementwise else paths._jacobian_links(node, k)
            assert fast == plain, (node.op.name, k)
            assert all(type(v) is float and all(type(i) is int for i in f)
                       for links in fast.values() for f, v in links), node.op.name
            checked += 1
    assert checked >= 5


def _graph(preset: str, options: dict) -> list:
    """Every node of a run's loss graph at its last iteration, outputs before inputs."""
    settings, job, trace = _run(preset, options)
    job.net.load_state_dict(trace.iterations[-1].params)
    order, seen, stack = [], set(), [lesson._loss_tensor(job, trace)]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            order.append(node)
            stack.extend(node.parents)
    return order


def test_a_new_graph_of_the_same_shapes_reuses_the_stand_in_patterns():
    """The stand-ins' link patterns depend on the op and the shapes only: a second run of moons (another
    learning rate, so other values) reuses them, and its links are still the one-at-a-time links."""
    first = [n for n in _graph("moons", {"max_steps": 3}) if n.op is not None and n.op.name == "matmul"]
    again = [n for n in _graph("moons", {"max_steps": 3, "lr": 0.5}) if n.op is not None and n.op.name == "matmul"]
    assert len(first) == len(again) >= 3
    for a, b in zip(first, again):
        assert not np.array_equal(a.data, b.data)  # other values, the same shapes
        for k in range(2):
            entries = list(np.ndindex(a.data.shape))
            assert paths._stand_in_patterns(b, k, entries) is paths._stand_in_patterns(a, k, entries)
            assert paths._jacobian_links(b, k) == _plain_jacobian(b, k)


def test_boundary_cells_are_rounded_as_before():
    """Each cell's probability is Python's round to three decimals of the same float."""
    settings, job, trace = _run("circles", {"max_steps": 20})
    found = samples._boundary_grid(job, trace.loss)
    params = trace.iterations[7].params
    cells = samples._boundary_values(job, params, found[2], trace.loss)
    out = samples._outputs(job, params, found[2])
    v = 1 / (1 + np.exp(-np.clip(out[:, 0], -60, 60)))
    assert json.dumps(cells) == json.dumps([round(float(a), 3) for a in v])
    assert all(type(c) is float for c in cells)


def test_the_server_socket_sends_each_answer_at_once():
    """The listening socket (and so every connection it accepts) has Nagle's delay off: otherwise an
    answer's body waits about 40 ms for the browser's delayed acknowledgement of its headers."""
    server = bind("127.0.0.1", 0)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for s in (accepted, client, server):
            s.close()


def test_a_kept_curve_belongs_to_its_own_run():
    """Two runs with the same parameter names never share a kept loss curve: each is its own run's."""
    _, job_a, trace_a = _run("moons", {"max_steps": 5})
    _, job_b, trace_b = _run("moons", {"max_steps": 5, "lr": 0.3})
    a = samples.curve(job_a, trace_a, "W1", 4, (0, 0))
    b = samples.curve(job_b, trace_b, "W1", 4, (0, 0))
    assert _json(a) == _json(samples._curve(job_a, trace_a, "W1", 4, (0, 0)))
    assert _json(b) == _json(samples._curve(job_b, trace_b, "W1", 4, (0, 0)))
    assert a["loss"] != b["loss"]


@pytest.mark.parametrize("preset", ["moons", "xor", "statquest"])
def test_the_document_holds_the_entry_the_page_selects_first(preset):
    """The page first selects the first trained parameter and, for a matrix, its entry [1, 1]: the
    document holds that entry's worked gradient at iteration 1, the very one a detail request gives, so
    the first view needs no request; a network of single numbers has no entry to hold."""
    settings, job, trace = _run(preset, {"max_steps": 5})
    doc = lesson.document(job, trace, settings)
    first = trace.optimize[0]
    ndim = job.net.parameter(first).data.ndim
    entries = [k for k in doc["explanations"] if "[" in k]
    if not ndim:
        assert entries == []
        return
    key = samples.curve_key(first, (0,) * ndim)
    assert entries == [key] and list(doc["explanations"][key]) == ["1"]
    answer = lesson.detail(settings, first, 1, (job, trace), index=[0] * ndim)
    assert answer["entry_key"] == key
    assert _json(doc["explanations"][key]["1"]) == _json(answer["entry"])
    assert _json(answer["entry"]) == _json(lesson.explanation(job, trace, first, 0, (0,) * ndim))


def test_adams_moments_read_by_column_are_those_of_each_iteration():
    """m̂ and v̂ are rebuilt from the recorded gradients and steps read column by column; they are the
    ones rebuilt from each iteration in turn, and they give back each recorded step."""
    from backproplab.explain.steps import adam_moments, run_moments

    settings, job, trace = _run("statquest", {"optimize": "all", "optimizer": "adam", "max_steps": 25})
    for name in ("w1", "b3"):
        its = list(trace.iterations)
        plain = adam_moments([float(it.gradients[name]) for it in its], [float(it.step_sizes[name]) for it in its],
                             trace.learning_rate)
        assert run_moments(trace, name) == plain
        for it, (m_hat, v_hat, eps) in zip(its, plain):
            assert trace.learning_rate * m_hat / (v_hat ** 0.5 + eps) == pytest.approx(float(it.step_sizes[name]))


def test_the_first_view_of_a_matrix_network_needs_no_request_and_shows_the_servers_working():
    """In chromium, a served moons page shows W1[1,1]'s worked gradient at iteration 1 from its document
    alone (no detail request), the same text the server's detail answer holds; a step then asks once."""
    from playwright.sync_api import expect

    from tests.web_helpers import chromium, live_server

    settings, job, trace = _run("moons", {})
    want = lesson.detail(settings, "W1", 1, (job, trace), index=[0, 0])["entry"]["text"]
    with chromium() as browser, live_server(Settings(preset="moons")) as url:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/detail" in r.url else None)
        page.goto(url + "/")
        title = page.locator("#derivation-title")
        expect(title).to_have_text(re.compile(r"W1\S*1,1\S* at iteration 1$"), timeout=30_000)
        expect(page.locator("#derivation p.missing")).to_have_count(0)
        page.click(".tabs button[data-view=text]")
        shown = page.inner_text("#derivation .entry-working")
        assert [line.strip() for line in want.splitlines() if line.strip()][0] in shown
        assert asked == []
        page.keyboard.press("ArrowRight")
        expect(title).to_have_text(re.compile(r" at iteration 2$"), timeout=30_000)
        expect(page.locator("#derivation p.missing")).to_have_count(0, timeout=30_000)
        assert len(asked) == 1


def test_what_is_kept_lives_with_the_runs_job_and_stays_small(monkeypatch):
    """The kept structure and curves belong to the run's job (the server lets them go with the run), a
    new job starts with nothing kept, and past PLAN_ROWS iterations the structure starts afresh, still
    giving the fresh explanation."""
    settings, job, trace = _run("moons", {"max_steps": 60, "min_step": 0.0})
    assert load_job(settings).kept == {}
    lesson.detail(settings, "W1", 2, (job, trace), index=[0, 0])
    assert job.kept["plan"][0] is trace and job.kept["curves"][0] is trace
    monkeypatch.setattr(lesson, "PLAN_ROWS", 16)
    plans = []
    for iteration in (3, 20, 40, 5):
        fast = lesson.worked(job, trace, "W1", iteration - 1, (0, 0))
        plan = job.kept["plan"][1]
        assert len(plan.rows) <= 16 and iteration - 1 in plan.rows
        plans.append(plan)
        assert _json(fast) == _json(lesson.explanation(job, trace, "W1", iteration - 1, (0, 0)))
    assert plans[0] is not plans[1] is not plans[2]


def test_kept_link_patterns_stay_within_their_budget(monkeypatch):
    """Past the budget the least recently used patterns go; a pattern larger than a quarter of it is
    found each time, never kept."""
    monkeypatch.setattr(paths, "_patterns", paths.OrderedDict())
    nodes = [n for n in _graph("moons", {"max_steps": 2}) if n.op is not None and n.op.name == "matmul"]
    sizes = {}
    for node in nodes:
        entries = list(np.ndindex(node.data.shape))
        for k in range(2):
            sizes[(id(node), k)] = len(entries) * node.parents[k].data.size
    monkeypatch.setattr(paths, "PATTERNS_KEPT", 4 * max(sizes.values()) - 1)
    for node in nodes:
        for k in range(2):
            paths._jacobian_links(node, k)
    kept = sum(len(ps) * ps[0].size for _, ps in paths._patterns.values() if ps)
    assert 0 < kept <= paths.PATTERNS_KEPT
    assert max(len(ps) * ps[0].size for _, ps in paths._patterns.values()) < max(sizes.values())
