"""Several runs in one exported file, and controls left out for embedding: the documents, sizes and mistakes.

Each run's document in a multi-run file is the very document a single-run export of the same settings embeds;
the page, scripts, KaTeX and fonts are in the file once; a mistake in --runs or --hide is one line.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

import backproplab as bl
from backproplab.lesson.export import export, source_settings
from backproplab.lesson.runs import HIDEABLE, check_hide, parse_run, unpack
from backproplab.lesson.settings import Settings
from backproplab.util.messages import InputError
from tests.conftest import assert_clean_error, cli

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

STATIC = Path(__file__).resolve().parents[1] / "src/backproplab/lesson/static"
RUNS = ["lr=0.1", "lr=0.3", "start.b3=5"]


def embedded(html: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    return None if match is None else json.loads(match.group(1))


def documents(html: str) -> list[dict]:
    """Every run's whole document, as the page unpacks it."""
    first = embedded(html, "lesson-document")
    table = embedded(html, "lesson-runs")
    if table is None:
        return [first]
    return [first if r["packed"] is None else unpack(r["packed"], first) for r in table["runs"]]


@pytest.fixture(scope="module")
def three() -> str:
    return export("statquest", runs=RUNS)


@pytest.fixture(scope="module")
def one() -> str:
    return export("statquest")


def test_each_run_is_the_document_of_a_single_run_export(three):
    docs = documents(three)
    assert len(docs) == 3
    alone = [export(Settings(lr=0.1)), export(Settings(lr=0.3)), export(Settings(start={"b3": 5.0}))]
    for doc, html in zip(docs, alone):
        assert doc == embedded(html, "lesson-document")
    # and the runs are different runs: b3 after two steps, as each run's own trace has it
    b3 = [d["trace"]["iterations"][2]["params"]["b3"] for d in docs]
    assert len(set(b3)) == 3
    assert docs[2]["trace"]["iterations"][0]["params"]["b3"] == 5.0
    assert [d["settings"]["lr"] for d in docs] == [0.1, 0.3, 0.1]
    table = embedded(three, "lesson-runs")
    assert [r["label"] for r in table["runs"]] == RUNS
    assert [r["settings"] for r in table["runs"]] == [d["settings"] for d in docs]


def test_runs_share_the_page_and_store_what_differs(three, one):
    fonts = "data:font/woff2;base64,"
    assert three.count(fonts) == one.count(fonts) > 0
    assert three.count("katex") == one.count("katex")
    assert three.count('<script type="module">') == 1
    doc = len(json.dumps(embedded(one, "lesson-document")))
    extra = len(three.encode()) - len(one.encode())
    assert 0 < extra < 2 * 0.4 * doc  # each other run is its changed parts, deflated: well under a document


def test_one_run_is_the_single_run_file(one):
    html = export("statquest", runs=[""])
    assert embedded(html, "lesson-runs") is None
    assert html == one


def test_the_run_language():
    run = parse_run("lr=0.3  optimizer=adam optimize=w3,b3 min-step=0.001 max_steps=50 start.b3=5 start.w3=-1")
    assert run.label == "lr=0.3 optimizer=adam optimize=w3,b3 min-step=0.001 max_steps=50 start.b3=5 start.w3=-1"
    assert run.overrides == {"lr": 0.3, "optimizer": "adam", "optimize": ["w3", "b3"], "min_step": 0.001,
                             "max_steps": 50, "start": {"b3": 5.0, "w3": -1.0}}
    assert parse_run("optimize=all").overrides == {"optimize": "all"}
    assert parse_run("").overrides == {}


@pytest.mark.parametrize("runs, said", [
    (["lr"], "run 'lr': 'lr' needs the form key=value"),
    (["lr=0.1", "speed=2"], "unknown setting 'speed' (choose from: lr, optimizer, optimize, min_step, max_steps, "
                            "start.NAME)"),
    (["lr=-1"], "run 'lr=-1': lr must be a positive number"),
    (["max_steps=2.5"], "max-steps must be a whole number"),
    (["start.b3=x"], "run 'start.b3=x': 'start.b3=x' needs a number"),
    (["start.b9=1", "lr=0.2"], "run 'start.b9=1': unknown parameter 'b9'"),
    (["optimizer=adamm", "lr=0.2"], "run 'optimizer=adamm': unknown optimizer 'adamm'; did you mean 'adam'?"),
    (["lr=0.1", "lr=0.10"], "run 'lr=0.10' is given twice"),
    ([f"lr={k}" for k in range(1, 14)], "13 runs is more than one file holds"),
])
def test_a_mistake_in_the_runs_is_one_line(capsys, tmp_path, runs, said):
    out = tmp_path / "lesson.html"
    assert_clean_error(capsys, ["export", "statquest", "--runs", *runs, "-o", str(out)], said)
    assert not out.exists()
    with pytest.raises(InputError, match=re.escape(said)):
        export("statquest", runs=runs)


def test_a_mistake_in_hide_is_one_line_naming_the_controls(capsys, tmp_path):
    err = assert_clean_error(capsys, ["export", "statquest", "--hide", "optimizer,lrate", "-o",
                                      str(tmp_path / "x.html")], "unknown control to hide 'lrate'; did you mean 'lr'?")
    assert ", ".join(HIDEABLE) in err
    assert_clean_error(capsys, ["serve", "--hide", "players", "--no-browser", "--port", "0"],
                       "unknown control to hide 'players'")
    assert check_hide("optimizer, lr,,min-step") == ("optimizer", "lr", "min_step")
    assert check_hide(["lr,optimizer", "lr"]) == ("lr", "optimizer")


def test_the_command_writes_the_runs_and_the_hidden_controls(capsys, tmp_path, three):
    out = tmp_path / "lesson.html"
    code, _, err = cli(capsys, "export", "statquest", "--runs", *RUNS, "--hide", "optimizer,lr,start", "-o", str(out))
    assert code == 0 and "3 runs" in err
    html = out.read_text(encoding="utf-8")
    assert '<meta name="backproplab-hide" content="optimizer lr start">' in html
    assert documents(html) == documents(three)


def test_bl_export_returns_the_page_and_writes_it_through_the_checked_write(tmp_path):
    path = tmp_path / "lesson.html"
    html = bl.export("statquest", path, runs=["lr=0.2", {"lr": 0.3, "start": {"b3": 1}}], hide=["own"], max_steps=20)
    assert path.read_text(encoding="utf-8") == html
    docs = documents(html)
    assert [d["settings"]["lr"] for d in docs] == [0.2, 0.3]
    assert all(d["settings"]["max_steps"] == 20 for d in docs)
    assert docs[1]["trace"]["iterations"][0]["params"]["b3"] == 1.0
    assert 'content="own"' in html
    assert "export" in bl.__all__
    with pytest.raises(InputError, match="unknown preset 'statqest'"):
        bl.export("statqest")
    with pytest.raises(InputError, match="lr must be a positive number"):
        bl.export("statquest", lr=-1)


SPEC = """version = 1
name = "tiny"
[network]
kind = "mlp"
inputs = 1
seed = 3
layers = [{ size = 2, activation = "tanh" }, { size = 1, activation = "identity" }]
[data]
x = [[0.0], [1.0], [2.0]]
y = [0.5, 1.5, 0.25]
[training]
loss = "mse"
max_steps = 12
[training.optimizer]
name = "sgd"
lr = 0.2
"""


def test_an_own_spec_is_exported_with_its_own_runs(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC, encoding="utf-8")
    html = export(str(spec), runs=["", "lr=0.05"])
    docs = documents(html)
    assert [d["source"]["name"] for d in docs] == ["tiny", "tiny"]
    assert docs[0]["source"]["preset"] is None and [d["settings"]["lr"] for d in docs] == [0.2, 0.05]
    settings = source_settings(str(spec))
    assert settings.spec_text == SPEC and settings.preset is None
    assert embedded(html, "lesson-runs")["runs"][0]["label"] == ""


def test_the_page_and_python_name_the_same_controls():
    source = (STATIC / "state.js").read_text(encoding="utf-8")
    table = re.search(r"export const HIDEABLE = \{(.*?)\};", source, re.S).group(1)
    assert tuple(re.findall(r"(\w+): \[", table)) == HIDEABLE


def test_serve_names_the_hidden_controls_in_its_page():
    from backproplab.lesson.server import create_app

    page = TestClient(create_app(Settings(), hide=("optimizer", "lr"), allowed_hosts=["testserver"])).get("/").text
    assert '<meta name="backproplab-hide" content="optimizer lr">' in page
    plain = TestClient(create_app(Settings(), allowed_hosts=["testserver"])).get("/").text
    assert "backproplab-hide" not in plain


def test_the_exported_modules_declare_no_top_level_name_twice():
    """An exported file runs the page's modules in one scope: a name declared in two of them stops the page."""
    from backproplab.lesson.export import MODULES

    seen: dict[str, str] = {}
    twice = []
    for name in MODULES:
        text = (STATIC / name).read_text(encoding="utf-8")
        for m in re.finditer(r"^(?:export )?(?:async )?(?:function\*? |const |let |class )(\w+)", text, re.M):
            if m.group(1) in seen:
                twice.append((m.group(1), seen[m.group(1)], name))
            seen[m.group(1)] = name
    assert not twice, twice
