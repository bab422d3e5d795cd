"""Lesson scripts: parsing, every mistake's one-line message, the shipped scripts filled in from the lesson
document (compared with the trace), `export lesson.toml` and `serve lesson.toml`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import backproplab as bl
from backproplab.lesson import document as lesson
from backproplab.lesson.script import CONTROLS, PARTS, context, filled, parse, shipped, shipped_names
from backproplab.lesson.settings import Settings
from backproplab.spec.presets import PRESETS
from backproplab.util.messages import InputError
from backproplab.util.numbers import number
from tests.conftest import assert_clean_error, cli

GOOD = """title = "Part 3"
preset = "statquest"

[settings]
lr = 0.1

[[step]]
caption = "why is the gradient negative? {grad.b3}"
iteration = 2
highlight = "b3"
controls = ["step", "back"]
pause = 5
"""


def _doc(script):
    return lesson.build(script.settings)


def test_a_script_parses_and_fills_its_numbers_from_the_trace():
    script = parse(GOOD, "part3.toml")
    assert script.settings.preset == "statquest" and script.settings.lr == 0.1
    (step,) = script.steps
    assert (step.iteration, step.highlight, step.controls, step.pause) == (2, "b3", ("step", "back"), 5)
    doc = _doc(script)
    (shown,) = script.tour(doc)["steps"]
    row = doc["trace"]["iterations"][1]
    assert shown["caption"] == f"why is the gradient negative? {number(row['gradients']['b3'])}"
    assert shown["kind"] == "param" and shown["controls"] == ["step", "back"]


def test_every_placeholder_and_a_literal_brace():
    text = GOOD.replace("why is the gradient negative? {grad.b3}",
                        "{{x}} {param.b3} {grad.b3} {step.b3} {new.b3} {loss} {symbol} {iteration} {lr} {grad.w1}")
    script = parse(text, "p.toml")
    doc = _doc(script)
    row = doc["trace"]["iterations"][1]
    want = " ".join(number(row[k]["b3"]) for k in ("params", "gradients", "step_sizes", "new_values"))
    want = f"{{x}} {want} {number(row['loss'])} SSR 2 0.1 {number(row['gradients']['w1'])}"
    assert script.tour(doc)["steps"][0]["caption"] == want


MISTAKES = [
    ("colour = 1\n" + GOOD, "p.toml: unknown key 'colour'"),
    (GOOD.replace('preset = "statquest"', ""), "p.toml: name the run with preset"),
    (GOOD.replace('preset = "statquest"', 'preset = "statqest"'), "did you mean 'statquest'?"),
    (GOOD.replace("lr = 0.1", "lr = -1"), "p.toml, [settings]: lr must be a positive number, got -1"),
    (GOOD.replace("lr = 0.1", "speed = 2"), "p.toml, [settings]: unknown setting 'speed'"),
    (GOOD.replace("iteration = 2", "iteration = 0"), "p.toml, step 1: iteration should be an iteration, a whole"),
    (GOOD.replace("pause = 5", "pause = 1"), "p.toml, step 1: pause = 1 comes before the step's iteration 2"),
    (GOOD.replace('"back"]', '"bakc"]'), "p.toml, step 1: unknown control 'bakc'; did you mean 'back'?"),
    (GOOD.replace("highlight", "hilight"), "p.toml, step 1: unknown key 'hilight'"),
    (GOOD.replace('caption = "why is the gradient negative? {grad.b3}"', ""), "p.toml, step 1: needs a caption"),
    (GOOD.split("[[step]]")[0], "p.toml: needs at least one [[step]] table"),
    (GOOD.replace("[settings]", "[settings"), "p.toml:4: not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), MISTAKES)
def test_each_mistake_in_a_script_is_one_line(text, message):
    with pytest.raises(InputError) as info:
        parse(text, "p.toml")
    said = str(info.value)
    assert message in said and "\n" not in said, said


RUN_MISTAKES = [
    ('highlight = "b9"', "p.toml, step 1: highlight: unknown parameter or node 'b9'; did you mean 'b3'?"),
    ("iteration = 99", "p.toml, step 1: iteration = 99: the run has iterations 1 to 12"),
    ("pause = 99", "p.toml, step 1: pause = 99: the run has iterations 1 to 12"),
    ('caption = "{grad}"', "p.toml, step 1: caption: unknown placeholder {grad} (choose from: {grad.NAME}"),
    ('caption = "{slope.b3}"', "unknown placeholder {slope.b3}"),
    ('caption = "{grad.b9}"', "p.toml, step 1: caption: {grad.b9}: unknown parameter 'b9'"),
    ('caption = "{new.w1}"', "p.toml, step 1: caption: {new.w1}: w1 is not trained in this run"),
]


@pytest.mark.parametrize(("line", "message"), RUN_MISTAKES)
def test_a_step_naming_what_the_run_lacks_is_one_line(line, message):
    key = line.split(" =")[0]
    text = re.sub(rf"^{key} = .*$", line, GOOD, count=1, flags=re.M)
    if key == "iteration":
        text = text.replace("pause = 5\n", "")
    script = parse(text, "p.toml")
    with pytest.raises(InputError) as info:
        script.tour(_doc(script))
    said = str(info.value)
    assert message in said and "\n" not in said, said


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_script_loads_and_fills_in_the_documents_numbers(name):
    script = shipped(name)
    doc = _doc(script)
    tour = script.tour(doc)
    rows = {it["iteration"]: it for it in doc["trace"]["iterations"]}
    assert len(tour["steps"]) == len(script.steps) >= 3
    for step, shown in zip(script.steps, tour["steps"]):
        assert "{" not in shown["caption"] and set(shown["controls"] or []) <= set(CONTROLS)
        row = rows[step.iteration]
        for kind, key in re.findall(r"\{(grad|param|new|step)\.(\w+)\}", step.caption):
            field = {"grad": "gradients", "param": "params", "new": "new_values", "step": "step_sizes"}[kind]
            value = row[field][key]
            while isinstance(value, list) and len(value) == 1:  # an array of one entry is that entry
                value = value[0]
            if isinstance(value, list):  # a larger one: its norm, as the table shows it
                value = row["norms"]["gradients" if kind == "grad" else "step_sizes"][key]
            assert number(value) in shown["caption"], (name, kind, key)
        if "{loss}" in step.caption:
            assert number(row["loss"]) in shown["caption"]


def test_each_preset_ships_a_script_and_the_dosage_example_its_four_parts():
    names = shipped_names()
    assert set(PARTS) <= set(names)
    assert all(p in names for p in PRESETS if p != "statquest")
    assert [shipped(p).steps[0].caption.split(":")[0] for p in PARTS] == [f"Part {n}" for n in range(1, 5)]


def test_the_guide_is_the_first_step_of_each_part():
    doc = lesson.build(Settings())
    run = doc["trace"]["iterations"][0]
    texts = [s["text"] for s in doc["guide"]["steps"]]
    for part, text in zip(PARTS, texts):
        script = shipped(part)
        assert text == filled(context(doc), script.where, script.steps[0])["caption"]
    assert f"b3 goes from {number(run['params']['b3'])} to {number(run['new_values']['b3'])}" in doc["guide"]["lead"]


def test_the_scripts_are_in_the_package_data():
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"lesson/scripts/*.toml"' in text


def test_the_python_api_writes_the_tour(tmp_path):
    path = tmp_path / "part3.toml"
    path.write_text(GOOD, encoding="utf-8")
    tour = bl.lesson_script(path)
    doc = tour.document()
    assert doc["tour"]["steps"][0]["iteration"] == 2
    out = tour.save(tmp_path / "part3.html")
    html = out.read_text(encoding="utf-8")
    assert '"tour":' in html and "tourShow" in html and "/static/" not in html


def test_export_and_serve_a_script(capsys, tmp_path):
    path = tmp_path / "part3.toml"
    path.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "part3.html"
    code, _, err = cli(capsys, "export", str(path), "-o", str(out))
    assert code == 0 and "wrote" in err
    data = re.search(r'<script type="application/json" id="lesson-document">(.*?)</script>',
                     out.read_text(encoding="utf-8"), re.S).group(1)
    doc = json.loads(data)
    assert doc["tour"]["steps"][0]["caption"].endswith(number(doc["trace"]["iterations"][1]["gradients"]["b3"]))
    assert_clean_error(capsys, ["export", str(path), "-o", str(out), "--lr", "0.3"], "sets its own run")
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('"back"]', '"bakc"]'), encoding="utf-8")
    assert_clean_error(capsys, ["export", str(bad), "-o", str(out)], "step 1: unknown control 'bakc'")
    bad.write_text(GOOD.replace("iteration = 2", "iteration = 50").replace("pause = 5\n", ""), encoding="utf-8")
    assert_clean_error(capsys, ["export", str(bad), "-o", str(out)], "step 1: iteration = 50: the run has")


def test_serve_adds_the_tour_to_the_scripts_run_only(tmp_path):
    from starlette.testclient import TestClient

    from backproplab.lesson.server import create_app
    from backproplab.lesson.tour import add_tour

    script = parse(GOOD, "part3.toml")
    app = create_app(script.settings, tour=add_tour(script))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        doc = client.get("/api/lesson").json()
        other = client.post("/api/lesson", json={"preset": "statquest", "lr": 0.3}).json()
        same = client.post("/api/lesson", json=doc["settings"]).json()  # a reloaded page names every setting
    assert doc["tour"] == script.tour(lesson.build(script.settings)) == same["tour"]
    assert "tour" not in other


def test_a_script_may_name_a_spec_file_next_to_it(tmp_path):
    (tmp_path / "mynet.toml").write_text(PRESETS["statquest"].text, encoding="utf-8")
    path = tmp_path / "tour.toml"
    path.write_text(GOOD.replace('preset = "statquest"', 'spec = "mynet.toml"'), encoding="utf-8")
    tour = bl.lesson_script(path)
    assert tour.settings.spec_text == PRESETS["statquest"].text and tour.settings.preset is None
    doc = tour.document()
    assert doc["tour"]["steps"][0]["caption"].endswith(number(doc["trace"]["iterations"][1]["gradients"]["b3"]))
    path.write_text(GOOD.replace('preset = "statquest"', 'spec = "missing.toml"'), encoding="utf-8")
    with pytest.raises(InputError) as info:
        bl.lesson_script(path)
    assert "missing.toml" in str(info.value) and "\n" not in str(info.value)


def test_the_serve_command_serves_a_scripts_tour(monkeypatch, capsys, tmp_path):
    from starlette.testclient import TestClient

    from backproplab.lesson import server

    served = {}
    monkeypatch.setattr(server, "serve", lambda settings, **kw: served.update(kw, settings=settings))
    path = tmp_path / "part3.toml"
    path.write_text(GOOD, encoding="utf-8")
    code, _, err = cli(capsys, "serve", str(path), "--no-browser", "--port", "0")
    served["sock"].close()
    assert code == 0, err
    script = parse(GOOD, "part3.toml")
    assert served["settings"] == script.settings
    with TestClient(served["app"], base_url="http://127.0.0.1") as client:
        doc = client.get("/api/lesson").json()
    assert [s["caption"] for s in doc["tour"]["steps"]] == [s["caption"] for s in script.tour(doc)["steps"]]
    assert_clean_error(capsys, ["serve", str(path), "--no-browser", "--max-steps", "3"], "sets its own run")


def test_the_page_knows_every_control_a_script_may_name():
    static = Path(__file__).resolve().parent.parent / "src/backproplab/lesson/static"
    tour = (static / "tour.js").read_text(encoding="utf-8")
    state = (static / "state.js").read_text(encoding="utf-8")
    for name in CONTROLS:
        assert re.search(rf'(^|[\s{{])"?{re.escape(name)}"?: \[', tour, re.M) or f'name: "{name}"' in state, name
