"""``backproplab serve`` and ``export`` on the command line, and the dependency direction:
only the command line imports the web layer."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import assert_clean_error, cli

SRC = Path(__file__).resolve().parents[1] / "src" / "backproplab"


def embedded_document(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="lesson-document">(.*?)</script>', html, re.S)
    assert m, "no lesson document in the file"
    return json.loads(m.group(1))


def test_export_writes_one_self_contained_file(capsys, tmp_path):
    out = tmp_path / "sub" / "lesson.html"
    code, _, err = cli(capsys, "export", "statquest", "-o", str(out), "--optimize", "all", "--max-steps", "30")
    assert code == 0 and "wrote" in err
    html = out.read_text(encoding="utf-8")
    doc = embedded_document(html)
    assert doc["trace"]["optimize"] == ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]
    assert len(doc["trace"]["iterations"]) == 30
    assert round(doc["explanations"]["w1"]["1"]["value"], 2) == 7.34
    markup = re.sub(r"(<(script|style)\b[^>]*>).*?</\2>", r"\1", html, flags=re.S)  # the tags, not their code
    assert not re.search(r"(src|href)=\"(?!data:)", markup) and "/static/" not in html
    assert html.count("data:font/woff2;base64,") >= 20  # KaTeX's fonts, inline


def test_export_of_a_spec_file_with_its_csv(capsys, tmp_path):
    (tmp_path / "d.csv").write_text("dose,effect\n0,0\n0.5,1\n1,0\n")
    spec = (SRC / "spec" / "specs" / "statquest.toml").read_text().replace(
        "x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy", 'csv = "d.csv"\nx = "dose"\ny = "effect"')
    (tmp_path / "mine.toml").write_text(spec)
    out = tmp_path / "mine.html"
    code, _, err = cli(capsys, "export", str(tmp_path / "mine.toml"), "-o", str(out))
    assert code == 0, err
    doc = embedded_document(out.read_text(encoding="utf-8"))
    assert doc["trace"]["data"] == {"x": [0.0, 0.5, 1.0], "y": [0.0, 1.0, 0.0]}
    assert round(doc["trace"]["final"]["params"]["b3"], 2) == 2.61


def test_the_pages_step_lines_are_the_demos(capsys):
    from backproplab.lesson import document as lesson
    from backproplab.lesson.settings import Settings

    code, out, _ = cli(capsys, "demo", "statquest", "--optimize", "w3,b3")
    assert code == 0
    doc = lesson.build(Settings(optimize=["w3", "b3"]))
    printed = [line.strip() for line in out.splitlines()]
    assert doc["cli_lines"]["1"] and all(line.strip() in printed for line in doc["cli_lines"]["1"])
    d = lesson.detail(Settings(optimize=["w3", "b3"]), "w3", 2)
    second = out.split("Iteration 2")[1].split("Iteration 3")[0]
    assert all(line.strip() in second for line in d["cli_lines"])


def test_the_downloaded_spec_reproduces_the_run(capsys, tmp_path):
    """What the page's "download spec" saves: 'backproplab run' on it gives the page's trace."""
    from backproplab.lesson import document as lesson
    from backproplab.lesson.settings import Settings

    doc = lesson.build(Settings(optimize=["w3", "b3"], lr=0.05, start={"w3": -1.0}, max_steps=40))
    path = tmp_path / "downloaded.toml"
    path.write_text(doc["source"]["spec_text"], encoding="utf-8")
    code, out, err = cli(capsys, "run", str(path), "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["optimize"] == ["w3", "b3"] and run["learning_rate"] == 0.05
    assert [it["params"] for it in run["iterations"]] == [it["params"] for it in doc["trace"]["iterations"]]
    assert run["iterations"][0]["params"]["w3"] == -1.0


def test_mistakes_are_one_line(capsys, tmp_path):
    assert_clean_error(capsys, ["export", "statquset", "-o", str(tmp_path / "x.html")], "statquest")
    assert_clean_error(capsys, ["export", str(tmp_path / "none.toml"), "-o", str(tmp_path / "x.html")],
                       "no such file")
    assert_clean_error(capsys, ["serve", "statquest", "--max-steps", "9999", "--no-browser"],
                       "more than this page allows")


def test_serve_starts_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "serve", "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        for _ in range(50):  # skip anything printed before the server says where it is
            line = proc.stderr.readline()
            if line.startswith("serving") or not line:
                break
        assert re.match(r"serving the lesson at http://127\.0\.0\.1:\d+/ \(Ctrl-C stops it\)", line), line
        import httpx

        url = line.split(" at ")[1].split()[0]
        assert httpx.get(url + "api/initial", timeout=10).json()["preset"] == "statquest"
        proc.send_signal(signal.SIGINT)
        start = time.time()
        code = proc.wait(timeout=15)
        rest = proc.stderr.read()
        assert code == 0 and "Traceback" not in rest and rest.strip().endswith("stopped")
        assert time.time() - start < 10
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_library_never_imports_the_web_layer():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("web/", "widgets/")) or rel == "cli.py":  # the page's hosts: server, CLI, widget
            continue
        if re.search(r"^\s*(from|import)\s+backproplab\.web\b|from backproplab import web\b",
                     path.read_text(encoding="utf-8"), re.M):
            offenders.append(rel)
    assert offenders == []
