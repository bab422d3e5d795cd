"""The server's request rules, and the one checked way every command reads a data file.

A page on another site cannot drive the lesson server (in a real browser too); every response
carries the security headers; a request's whole work has a time limit and the recent runs a
byte bound; numbers and addresses a person mistypes end in one line; and a data file is opened
once, then checked where it really is, so a folder swapped for a symlink cannot lead outside.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from backproplab.lesson import document as lesson
from backproplab.lesson import server
from backproplab.lesson.server import bind, create_app
from backproplab.lesson.settings import Limits, Settings, load_job
from backproplab.spec import data as spec_data
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import SpecError, read
from tests.conftest import cli
from tests.test_web_server import grad_b3_at_start
from tests.web_helpers import chromium, serving

HOSTS = ["testserver", "127.0.0.1", "localhost"]
STATQUEST = PRESETS["statquest"].text
INLINE = "x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy"
MARKER = "OUTSIDE_MARKER_7f3a"


def formula_spec(n_params: int, steps: int = 5) -> str:
    """A formula network of n_params weights, yhat = Σ w_i x: its document works out each one."""
    formula = " + ".join(f"w{i} * x" for i in range(n_params))
    params = "\n".join(f"w{i} = 0.01" for i in range(n_params))
    return (f'version = 1\nname = "wide"\n[network]\nkind = "formulas"\ninputs = ["x"]\noutput = "yhat"\n'
            f'[network.nodes]\nyhat = "{formula}"\n[network.parameters]\n{params}\n'
            f'[data]\nx = [0.0, 0.5, 1.0]\ny = [0.0, 1.0, 0.0]\n[training]\noptimize = "all"\nmax_steps = {steps}\n')


def one_line_error(r, status: int | tuple[int, ...], words: str) -> str:
    assert r.status_code in ((status,) if isinstance(status, int) else status), (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error and len(error) < 300, error
    return error


# --- cross-site requests ------------------------------------------------------------------------
@pytest.mark.parametrize("headers, body, status", [
    ({"content-type": "text/plain"}, b'{"lr": 0.05}', 415),
    ({"content-type": "application/x-www-form-urlencoded"}, b"lr=0.05", 415),
    ({"content-type": "multipart/form-data; boundary=x"}, b"--x--", 415),
    ({}, b'{"lr": 0.05}', 415),
    ({"content-type": "application/json", "origin": "http://evil.example"}, b'{"lr": 0.05}', 403),
    ({"content-type": "application/json", "origin": "null"}, b'{"lr": 0.05}', 403),
    ({"content-type": "application/json", "origin": "http://testserver.evil.example"}, b'{"lr": 0.05}', 403),
    ({"content-type": "text/plain", "origin": "http://evil.example", "sec-fetch-site": "cross-site"},
     b'{"lr": 0.05}', 403),
    ({"content-type": "application/json", "sec-fetch-site": "cross-site"}, b'{"lr": 0.05}', 403),
    ({"content-type": "application/json", "sec-fetch-site": "same-site"}, b'{"lr": 0.05}', 403),
])
def test_a_request_another_site_can_send_is_refused_and_never_runs(headers, body, status):
    app = create_app(allowed_hosts=HOSTS)
    client = TestClient(app)
    for path in ("/api/lesson", "/api/detail"):
        r = client.post(path, content=body, headers=headers)
        words = "Content-Type: application/json" if status == 415 else "request from another site is refused"
        one_line_error(r, status, words)
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
    assert app.state.runs.items == {}  # nothing was trained for them
    mine = client.post("/api/lesson", json={"lr": 0.05}, headers={"origin": "http://testserver",
                                                                    "sec-fetch-site": "same-origin"})
    assert mine.status_code == 200 and mine.json()["trace"]["learning_rate"] == 0.05
    assert len(app.state.runs.items) == 1


def test_a_get_from_another_site_reaches_only_the_page_by_navigation():
    client = TestClient(create_app(allowed_hosts=HOSTS))
    nav = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    assert client.get("/", headers=nav).status_code == 200  # a link to the lesson from elsewhere opens it
    one_line_error(client.get("/api/lesson", headers=nav), 403, "another site")
    one_line_error(client.get("/api/lesson", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"}),
                   403, "another site")
    one_line_error(client.get("/api/initial", headers={"origin": "http://evil.example"}), 403, "another site")
    assert client.get("/api/initial", headers={"sec-fetch-site": "same-origin"}).status_code == 200


def test_every_response_carries_the_security_headers():
    client = TestClient(create_app(allowed_hosts=HOSTS))
    responses = {path: client.get(path) for path in
                 ("/", "/static/index.html", "/static/app.js", "/static/lesson.css", "/static/no-such-file.js",
                  "/api/initial", "/no-such-page")}
    responses["refused"] = client.post("/api/lesson", content=b"x", headers={"content-type": "text/plain"})
    assert responses["/static/index.html"].status_code == 200 and responses["/static/no-such-file.js"].status_code \
        == 404
    for path, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") == "no-referrer", path


class Recorder:
    """ASGI middleware that notes each request's method, path, Origin and answer status."""

    def __init__(self, app) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = dict(scope["headers"]).get(b"origin", b"").decode()

        async def noting(message):
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], origin, message["status"]))
            await send(message)

        await self.app(scope, receive, noting)


EVIL_PAGE = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="f1" target="sink" method="POST" enctype="text/plain" action="TARGET/api/lesson">
  <input name='{"lr": 0.07, "max_steps": 3000, "x":"' value='"}'></form>
<form id="f2" target="sink" method="POST" action="TARGET/api/lesson"><input name="lr" value="0.08"></form>
<script>
(async () => {
  const out = [];
  const body = (i) => JSON.stringify({lr: 0.01 * (i + 1), max_steps: 3000});
  const tries = [];
  for (let i = 0; i < 6; i++) {
    tries.push(fetch("TARGET/api/lesson", {method: "POST", mode: "no-cors",
                                           headers: {"Content-Type": "text/plain"}, body: body(i)}));
  }
  tries.push(fetch("TARGET/api/lesson", {method: "POST", mode: "no-cors",
                                         headers: {"Content-Type": "application/x-www-form-urlencoded"},
                                         body: "lr=0.09"}));
  tries.push(fetch("TARGET/api/lesson", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: body(9)}));
  tries.push(fetch("TARGET/api/lesson", {mode: "no-cors"}));
  for (const t of tries) {
    try { const r = await t; out.push(r.type === "opaque" ? "opaque" : String(r.status)); }
    catch (e) { out.push("failed"); }
  }
  document.getElementById("f1").submit();
  setTimeout(() => { document.getElementById("f2").submit(); }, 300);
  setTimeout(() => { document.title = "done " + out.join(","); }, 1200);
})();
</script></body></html>"""


@contextlib.contextmanager
def other_site(html: str) -> Iterator[str]:
    """A second tiny server, on another port, serving one page."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            data = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_origin_cannot_drive_the_server_in_a_real_browser():
    app = create_app(Settings(), allowed_hosts=HOSTS, concurrency=4)
    recorder = Recorder(app)
    with serving(recorder) as url, other_site(EVIL_PAGE.replace("TARGET", url)) as evil, chromium() as browser:
        try:
            page = browser.new_page()
            page.goto(evil)  # a page from the other server, with the lesson server's address in it
            page.wait_for_function("document.title.startsWith('done')", timeout=20_000)
            title = page.title()
            deadline = time.time() + 5
            while time.time() < deadline and sum(1 for s in recorder.seen if s[2] == evil) < 11:
                time.sleep(0.05)
            from_evil = [s for s in recorder.seen if s[2] == evil]
            # six text/plain posts, one form-urlencoded, the JSON post's preflight, a no-cors GET, two forms
            assert len(from_evil) >= 10, recorder.seen
            assert all(status in (403, 415) for *_, status in from_evil), from_evil
            assert all(not title_part.isdigit() or title_part in ("403", "415")
                       for title_part in title.removeprefix("done ").split(",")), title
            assert app.state.runs.items == {}, "a request from the other site was worked out"
            # the person's own page, and their next request, still work: no 503 "busy"
            mine = browser.new_page()
            mine.goto(url + "/")
            mine.wait_for_selector("#table h3", timeout=30_000)
            answer = mine.evaluate("""async () => {
                const r = await fetch("/api/lesson", {method: "POST", headers: {"Content-Type": "application/json"},
                                                      body: JSON.stringify({lr: 0.05, max_steps: 20})});
                const d = await r.json();
                return [r.status, d.trace.iterations[0].gradients.b3, d.trace.learning_rate];
            }""")
            assert answer[0] == 200 and answer[2] == 0.05
            assert answer[1] == pytest.approx(grad_b3_at_start(), rel=1e-6)
            assert all(status != 503 for *_, status in recorder.seen), recorder.seen
        finally:
            browser.close()


# --- time and memory ------------------------------------------------------------------------------
def test_the_time_limit_covers_the_whole_request_and_the_server_stays_usable():
    """A document that takes minutes to work out (400 parameters, each explained) is stopped
    at the limit with one line; the next request is answered at once, correctly."""
    app = create_app(allowed_hosts=HOSTS, limits=Limits(request_seconds=1.0))
    client = TestClient(app)
    start = time.perf_counter()
    r = client.post("/api/lesson", json={"spec_text": formula_spec(400)})
    took = time.perf_counter() - start
    one_line_error(r, 413, "took longer than 1 s, this page's limit for one request")
    assert took < 4, took
    assert app.state.runs.items == {}  # the stopped run's network is not kept
    start = time.perf_counter()
    r = client.post("/api/lesson", json={"max_steps": 3})
    assert r.status_code == 200 and time.perf_counter() - start < 5
    assert r.json()["trace"]["iterations"][0]["gradients"]["b3"] == pytest.approx(grad_b3_at_start(), rel=1e-6)
    small = create_app(allowed_hosts=HOSTS, limits=Limits(request_seconds=60))
    r = TestClient(small).post("/api/lesson", json={"spec_text": formula_spec(6)})
    assert r.status_code == 200  # within the limit, the same request is answered


def test_a_run_stopped_at_the_time_limit_leaves_nothing_behind():
    """A stopped run's partial record is freed when its answer is sent, not at some later
    collection: with automatic collection off, no Trace outlives the request."""
    import gc

    from backproplab.train.trace import Trace

    def traces() -> list:
        return [o for o in gc.get_objects() if type(o) is Trace]  # type(): isinstance reads __class__ (torch warns)

    client = TestClient(create_app(allowed_hosts=HOSTS, limits=Limits(wall_seconds=0.3)))
    gc.collect()
    earlier = traces()  # held here, so a cache elsewhere dropping one cannot change the count
    known = {id(t) for t in earlier}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for lr in (0.01, 0.02, 0.03):
            r = client.post("/api/lesson", json={"preset": "moons", "max_steps": 5000, "lr": lr})
            one_line_error(r, 413, "took longer than 0.3 s")
            assert [t for t in traces() if id(t) not in known] == []
    finally:
        if was_enabled:
            gc.enable()


def count_numbers(value) -> int:
    if isinstance(value, dict):
        return sum(count_numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_numbers(v) for v in value)
    return 1 if isinstance(value, (int, float)) else 0


def test_run_bytes_counts_every_recorded_number():
    job = load_job(Settings(preset="moons", max_steps=30))
    trace = lesson.train(job)
    recorded = 8 * sum(count_numbers({k: v for k, v in it.to_dict().items() if k != "lr"})
                       for it in trace.iterations)
    fixed = job.x.nbytes + job.y.nbytes + 4 * 8 * sum(p.data.size for _, p in job.net.named_parameters())
    assert recorded + fixed <= server.run_bytes(job, trace) <= 1.1 * recorded + fixed


def test_the_run_cache_is_bounded_by_bytes_least_recently_used_first():
    one = server.run_bytes(*(lambda j: (j, lesson.train(j)))(load_job(Settings(preset="moons", max_steps=40))))
    runs = server.Runs(max_bytes=int(3.5 * one))
    settings = [Settings(preset="moons", max_steps=40, lr=0.01 * (i + 1)) for i in range(6)]
    for s in settings[:3]:
        runs.get(s, Limits())
    runs.get(settings[0], Limits())  # used again: now the most recent
    for s in settings[3:5]:
        runs.get(s, Limits())
    kept = list(runs.items)
    assert kept == [settings[0].key(), settings[3].key(), settings[4].key()]
    assert runs.nbytes <= runs.max_bytes
    tiny = server.Runs(max_bytes=one // 2)  # a run larger than the bound is answered but not kept
    job, trace, _ = tiny.get(settings[5], Limits())
    assert len(trace.iterations) == 40 and tiny.items == {} and tiny.nbytes == 0


def test_a_run_that_would_record_too_much_is_refused_before_training():
    client = TestClient(create_app(allowed_hosts=HOSTS, limits=Limits(max_trace_bytes=1_000_000)))
    start = time.perf_counter()
    r = client.post("/api/lesson", json={"preset": "moons", "max_steps": 5000})
    one_line_error(r, 413, "5,000 steps of this network would record about")
    assert "more than this page keeps for one run (976.6 KB)" in r.json()["error"]
    assert time.perf_counter() - start < 5
    assert client.post("/api/lesson", json={"preset": "moons", "max_steps": 5}).status_code == 200


# --- what a person mistypes -------------------------------------------------------------------------
@pytest.mark.parametrize("body, status, words", [
    ({"max_steps": 1.5}, 400, "max-steps must be a whole number, 1 or more, got 1.5"),
    ({"max_steps": "1.5"}, 400, "max-steps must be a whole number"),
    ({"max_steps": True}, 400, "max-steps must be a whole number"),
    ({"max_steps": 0}, 400, "max-steps must be a whole number, 1 or more, got 0"),
])
def test_settings_are_refused_as_the_command_line_refuses_them(capsys, body, status, words):
    client = TestClient(create_app(allowed_hosts=HOSTS))
    one_line_error(client.post("/api/lesson", json=body), status, words)
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "1.5")
    assert code == 2 and "'1.5' is not a whole number" in err
    assert client.post("/api/lesson", json={"max_steps": 2.0}).json()["settings"]["max_steps"] == 2


def test_a_number_of_thousands_of_digits_is_a_400_with_one_line():
    client = TestClient(create_app(allowed_hosts=HOSTS))
    for body in (b'{"lr": ' + b"1" * 5000 + b"}", b'{"max_steps": ' + b"9" * 5000 + b"}",
                 b'{"start": {"b3": ' + b"-" + b"7" * 5000 + b"}}"):
        one_line_error(client.post("/api/lesson", content=body, headers={"content-type": "application/json"}), 400,
                       "a number too long to read")
    spec = STATQUEST.replace("lr = 0.1", "lr = " + "9" * 5000)
    one_line_error(client.post("/api/lesson", json={"spec_text": spec}), 400, "a number of thousands of digits")
    assert client.get("/api/initial").status_code == 200


@pytest.mark.parametrize("deep", [
    "\n[extra]\na = " + "[" * 5000 + "]" * 5000 + "\n",
    "\nq = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
])
def test_a_spec_nested_thousands_deep_is_one_line_on_the_server(deep):
    client = TestClient(create_app(allowed_hosts=HOSTS))
    one_line_error(client.post("/api/lesson", json={"spec_text": STATQUEST + deep}), 400, "nest too deeply")
    one_line_error(client.post("/api/detail", json={"settings": {"spec_text": STATQUEST + deep}, "param": "b3",
                                                    "iteration": 1}), 400, "nest too deeply")


@pytest.mark.parametrize("args, words, not_words", [
    (["--port", "70000"], "--port: must be between 0 and 65535", None),
    (["--port", "-1"], "--port: must be between 0 and 65535", None),
    (["--port", "eighty"], "--port: 'eighty' is not a whole number", None),
    (["--host", "999.1.1.1", "--port", "0"], "cannot listen on host '999.1.1.1'", "--port"),
    (["--host", "192.0.2.1", "--port", "0"], "cannot listen on host '192.0.2.1'", "--port"),
])
def test_serve_says_which_of_host_and_port_is_wrong(capsys, args, words, not_words):
    code, out, err = cli(capsys, "serve", "statquest", "--no-browser", "--max-steps", "2", *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert words in err, err
    if not_words:
        assert not_words not in err, err


def test_bind_refuses_a_port_out_of_range_in_one_line():
    for port in (70000, -1):
        with pytest.raises(ValueError, match="--port must be between 0 and 65535"):
            bind("127.0.0.1", port)


# --- --data-dir '' ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["run", "{spec}"], ["demo", "statquest"], ["explain", "{spec}", "--param", "b3"], ["forward", "{spec}"],
    ["plot", "{spec}", "loss-curve", "-o", "{d}/p.png"], ["graph", "{spec}", "-o", "{d}/g.dot"],
    ["export-figures", "{spec}", "{d}/figs"], ["export-torch", "{spec}", "-o", "{d}/m.pt"],
    ["serve", "{spec}", "--no-browser"], ["export", "{spec}", "-o", "{d}/l.html"],
], ids=lambda a: a[0])
def test_an_empty_data_dir_is_refused_on_every_command(capsys, tmp_path, monkeypatch, argv):
    def never_serve(*args, **kwargs) -> None:
        raise AssertionError("serve started serving despite --data-dir ''")

    monkeypatch.setattr("backproplab.lesson.server.serve", never_serve)
    spec = tmp_path / "s.toml"
    spec.write_text(STATQUEST)
    for empty in ("", "  "):
        args = [a.replace("{spec}", str(spec)).replace("{d}", str(tmp_path)) for a in argv]
        code, out, err = cli(capsys, *args, "--data-dir", empty)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert "--data-dir: is empty; give a folder such as --data-dir ./data" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_an_empty_data_dir_is_refused_by_the_python_api(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("dose,effect\n0,0\n0.5,1\n1,0\n")
    text = STATQUEST.replace(INLINE, 'csv = "d.csv"\nx = "dose"\ny = "effect"')
    monkeypatch.chdir(tmp_path)  # '' would have meant this folder
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "s.toml"
    spec.write_text(text.replace('"d.csv"', '"../d.csv"'))
    with pytest.raises(SpecError, match="--data-dir: '' is not a folder name"):
        read(spec, data_dirs=[""])
    assert read(spec, data_dirs=[str(tmp_path)]).build()[1][0].tolist() == [0.0, 0.5, 1.0]


# --- one open, checked where it really is --------------------------------------------------------------
def race_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """spec/ with data/d.csv inside, and outside/d.csv (the marker) beside it."""
    spec_dir, outside = tmp_path / "spec", tmp_path / "outside"
    (spec_dir / "data").mkdir(parents=True)
    outside.mkdir()
    (spec_dir / "data" / "d.csv").write_text("dose,effect\n0,0\n0.5,1\n1,0\n")
    (outside / "d.csv").write_text(f"dose,effect_{MARKER}\n9,9\n")
    return spec_dir, outside, spec_dir / "data"


def test_a_folder_swapped_for_a_symlink_after_the_check_is_refused(tmp_path, monkeypatch):
    """Between the check of the resolved name and the open, data/ becomes a link to outside/:
    the file actually opened is outside, and it is refused."""
    spec_dir, outside, data = race_folders(tmp_path)
    checked = spec_data.data_file

    def check_then_swap(*args, **kwargs):
        path = checked(*args, **kwargs)
        if data.is_dir() and not data.is_symlink():
            data.rename(spec_dir / "data.real")
            data.symlink_to(outside)
        return path

    monkeypatch.setattr(spec_data, "data_file", check_then_swap)
    with pytest.raises(SpecError) as caught:
        spec_data.read_csv({"csv": "data/d.csv", "x": "dose", "y": "effect"}, spec_dir, "s.toml")
    assert "is outside" in str(caught.value) and MARKER not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_opened_files_real_path_is_checked_without_proc_too(tmp_path, monkeypatch):
    """Where /proc is missing, the resolved name counts only if it is still the file that is open."""
    spec_dir, outside, data = race_folders(tmp_path)
    real_readlink = os.readlink

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/self/fd/"):
            raise FileNotFoundError(path)
        return real_readlink(path, *args, **kwargs)

    monkeypatch.setattr(spec_data.os, "readlink", no_proc)
    assert "0.5,1" in spec_data.read_data_text("data/d.csv", spec_dir, "s.toml")
    fd = os.open(outside / "d.csv", os.O_RDONLY)
    try:
        assert spec_data.opened_path(fd, data / "d.csv") is None  # another file now has that name
        assert spec_data.opened_path(fd, outside / "d.csv") == (outside / "d.csv").resolve()
    finally:
        os.close(fd)


def test_reading_while_a_folder_is_swapped_never_returns_outside_content(tmp_path):
    """A thread swaps data/ for a link to outside/ and back as fast as it can while the reader
    reads: each read is the inside file or a one-line refusal, never the outside file."""
    spec_dir, outside, data = race_folders(tmp_path)
    real = spec_dir / "data.real"
    stop = threading.Event()

    def swap() -> None:
        link = spec_dir / "data.link"
        link.symlink_to(outside)
        while not stop.is_set():
            data.rename(real)
            os.replace(link, data)  # data is now the link
            os.replace(data, link)
            real.rename(data)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    results = {"inside": 0, "refused": 0}
    deadline = time.perf_counter() + 2.0
    try:
        while time.perf_counter() < deadline:
            try:
                x, y = spec_data.read_csv({"csv": "data/d.csv", "x": "dose", "y": "effect"}, spec_dir, "s.toml")
            except SpecError as exc:
                assert MARKER not in str(exc) and "\n" not in str(exc)
                results["refused"] += 1
                continue
            assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == [0.0, 1.0, 0.0], "the outside file was read"
            results["inside"] += 1
    finally:
        stop.set()
        thread.join(timeout=5)
    assert results["inside"] > 0, results
    print(f"\nwhile swapping: {results['inside']} reads inside, {results['refused']} refused")
