"""The lesson server: every endpoint, spec errors as the CLI says them, and the safety rules
(no files, limits, Host header, no CORS, a bounded number of runs at once)."""

from __future__ import annotations

import concurrent.futures
import statistics
import time
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from backproplab.lesson.server import create_app, hosts_for
from backproplab.lesson.settings import Limits
from tests.conftest import cli
from tests.web_helpers import live_server

HOSTS = ["testserver", "127.0.0.1", "localhost"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(allowed_hosts=HOSTS))


def grad_b3_at_start() -> float:
    """dSSR/db3 at the dosage example's start, by central differences on a NumPy oracle."""
    x, y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])

    def ssr(b3: float) -> float:
        h1 = np.log1p(np.exp(3.34 * x - 1.43))
        h2 = np.log1p(np.exp(-3.53 * x + 0.57))
        return float(np.sum((y - (-1.22 * h1 - 2.30 * h2 + b3)) ** 2))

    return (ssr(1e-6) - ssr(-1e-6)) / 2e-6


def test_page_static_files_and_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for path in ("/static/app.js", "/static/lesson.css", "/static/vendor/katex/katex.min.js",
                 "/static/vendor/katex/fonts/KaTeX_Main-Regular.woff2"):
        assert client.get(path).status_code == 200, path
    assert "access-control-allow-origin" not in {k.lower() for k in page.headers}
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/static/%2e%2e/server.py").status_code == 404


def test_lesson_get_post_and_detail(client):
    doc = client.get("/api/lesson").json()
    assert doc["trace"]["iterations"][0]["gradients"]["b3"] == pytest.approx(grad_b3_at_start(), rel=1e-6)
    doc = client.post("/api/lesson", json={"preset": "statquest", "optimize": "all", "lr": 0.05}).json()
    assert doc["trace"]["optimize"] == ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
    assert doc["trace"]["learning_rate"] == 0.05
    d = client.post("/api/detail", json={"settings": {"optimize": "all", "lr": 0.05}, "param": "w1", "iteration": 2})
    assert d.status_code == 200, d.text
    body = d.json()
    assert body["explanation"]["value"] == pytest.approx(doc["trace"]["iterations"][1]["gradients"]["w1"])
    assert body["curve"]["iteration"] == 2 and len(body["curve"]["grid"]) == len(body["curve"]["loss"])
    assert client.post("/api/detail", json={"settings": {}, "param": "w9", "iteration": 1}).status_code == 404
    assert client.post("/api/detail", json={"settings": {}, "param": "b3", "iteration": 999}).status_code == 404
    started = {"preset": "statquest", "custom": False, "settings": {"preset": "statquest"}}
    assert client.get("/api/initial").json() == started


@pytest.mark.parametrize("spec, message", [
    ("version = 1\nname = \"x\"\n[network\n", "not valid TOML"),
    ("version = 1\n[network]\nkind = \"mlp\"\ninputs = 1\nlayers = [{size = 1, activation = \"tahn\"}]\n"
     "[data]\nx = [1.0]\ny = [1.0]\n", "network.layers[0].activation"),
    ("version = 1\n[network]\nkind = \"mlp\"\ninputs = 1\nlayers = [{size = 1}]\n[data]\ncsv = \"../../etc/passwd\"\n"
     "x = \"a\"\ny = \"b\"\n", "cannot read a file on the server"),
])
def test_spec_errors_are_the_clis_one_line_messages(client, capsys, tmp_path, spec, message):
    r = client.post("/api/lesson", json={"spec_text": spec})
    assert 400 <= r.status_code < 500
    error = r.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error
    if "server" not in message:  # the CLI reads the same text from a file and says the same thing
        path = tmp_path / "s.toml"
        path.write_text(spec)
        code, _, err = cli(capsys, "run", str(path))
        assert code == 2 and err.strip().endswith(error.split(": ", 1)[1])


def test_limits(client):
    r = client.post("/api/lesson", json={"max_steps": 100000})
    assert r.status_code == 413 and "max-steps 100000 is more than this page allows" in r.json()["error"]
    r = client.post("/api/lesson", content=b'{"spec_text": "' + b"#" * 1_100_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "more than this page allows" in r.json()["error"]
    r = client.post("/api/lesson", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = client.post("/api/lesson", content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nests too deeply" in r.json()["error"]
    small = TestClient(create_app(allowed_hosts=HOSTS, limits=Limits(wall_seconds=1e-9)))
    r = small.post("/api/lesson", json={"min_step": 0, "max_steps": 3000})
    assert r.status_code == 413 and "took longer than" in r.json()["error"]


def test_host_header_must_be_the_servers_own(client):
    assert client.get("/", headers={"host": "evil.example:8000"}).status_code == 400
    assert client.post("/api/lesson", json={}, headers={"host": "attacker.test"}).status_code == 400
    assert client.get("/", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert "127.0.0.1" in hosts_for("127.0.0.1") and "evil.example" not in hosts_for("127.0.0.1")
    r = client.options("/api/lesson", headers={"origin": "http://evil.example",
                                               "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_fifty_concurrent_recomputes_are_correct_or_busy():
    """On a real server: every answer is a correct lesson or a clear 503 'busy'; p50/p95 printed."""
    import httpx

    expected = grad_b3_at_start()
    with live_server(concurrency=4) as url, httpx.Client(timeout=60) as http:
        def one(i: int) -> tuple[int, float, dict]:
            lr = 0.01 * (i % 10 + 1)
            start = time.perf_counter()
            r = http.post(f"{url}/api/lesson", json={"lr": lr, "max_steps": 200})
            return r.status_code, time.perf_counter() - start, (r.json(), lr)

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(one, range(50)))
        ok = 0
        for status, _, (body, lr) in results:
            assert status in (200, 503), body
            if status == 503:
                assert "busy" in body["error"]
                continue
            ok += 1
            assert body["trace"]["learning_rate"] == lr
            assert body["trace"]["iterations"][0]["gradients"]["b3"] == pytest.approx(expected, rel=1e-6)
        assert ok >= 1
        times = sorted(t for _, t, _ in results)
        done = sorted(t for s, t, _ in results if s == 200)
        print(f"\n50 concurrent recomputes: {ok} answered, {50 - ok} busy; all: p50 "
              f"{statistics.median(times) * 1000:.0f} ms, p95 {times[int(0.95 * len(times)) - 1] * 1000:.0f} ms; "
              f"answered: p50 {statistics.median(done) * 1000:.0f} ms, max {done[-1] * 1000:.0f} ms")
        assert httpx.get(f"{url}/api/initial").status_code == 200  # still up


def test_a_spec_file_given_to_serve_is_the_first_lesson():
    from backproplab.lesson.settings import Settings

    text = ("version = 1\nname = \"line\"\n[network]\nkind = \"formulas\"\ninputs = [\"x\"]\noutput = \"yhat\"\n"
            "[network.nodes]\nyhat = \"w * x + b\"\n[network.parameters]\nw = 0.0\nb = 0.0\n"
            "[data]\nx = [0.0, 1.0, 2.0]\ny = [1.0, 3.0, 5.0]\n[training]\noptimize = \"all\"\nmax_steps = 5\n")
    app = TestClient(create_app(Settings(preset=None, spec_text=text), allowed_hosts=HOSTS))
    assert app.get("/api/initial").json() == {"preset": None, "custom": True, "settings": {"spec_text": text}}
    doc = app.get("/api/lesson").json()
    assert doc["source"]["name"] == "line" and len(doc["trace"]["iterations"]) == 5
    # SSR = Σ (y − (w x + b))²: at w = b = 0 its gradient is −2 Σ y x for w and −2 Σ y for b
    assert doc["trace"]["iterations"][0]["gradients"] == {"w": -26.0, "b": -18.0}
    again = app.post("/api/lesson", json={"spec_text": doc["source"]["spec_text"], "lr": 0.01}).json()
    assert again["trace"]["learning_rate"] == 0.01 and again["source"]["name"] == "line"
