"""The lesson document: its numbers against independent oracles, its size limits, and the safety
of specs posted from the page (no file is ever read)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from backproplab.lesson import document as lesson
from backproplab.lesson.settings import LessonError, Limits, Settings, load_job, settings_from_dict, to_toml
from backproplab.spec.spec import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

X, Y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
START = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}


def ssr(p: dict[str, float]) -> float:
    """The dosage network's loss written out in NumPy: an oracle independent of the engine."""
    h1 = np.log1p(np.exp(p["w1"] * X + p["b1"]))
    h2 = np.log1p(np.exp(p["w2"] * X + p["b2"]))
    return float(np.sum((Y - (p["w3"] * h1 + p["w4"] * h2 + p["b3"])) ** 2))


def slope(p: dict[str, float], name: str, eps: float = 1e-6) -> float:
    up, down = dict(p, **{name: p[name] + eps}), dict(p, **{name: p[name] - eps})
    return (ssr(up) - ssr(down)) / (2 * eps)


@pytest.fixture(scope="module")
def dosage() -> dict:
    return lesson.build(Settings())


@pytest.fixture(scope="module")
def dosage_all() -> dict:
    return lesson.build(Settings(optimize="all"), everything=True)


def test_dosage_steps_match_the_hand_calculation(dosage):
    its = dosage["trace"]["iterations"]
    assert [it["iteration"] for it in its[:3]] == [1, 2, 3]
    b3 = [it["params"]["b3"] for it in its]
    # gradient descent by hand, with the oracle's slope
    p = dict(START)
    for value in b3[:5]:
        assert value == pytest.approx(p["b3"], abs=1e-9)
        p["b3"] -= 0.1 * slope(p, "b3")
    assert round(b3[3], 2) == 2.44
    assert round(dosage["trace"]["final"]["params"]["b3"], 2) == 2.61
    assert its[0]["new_values"]["b3"] == pytest.approx(its[1]["params"]["b3"])
    json.loads(lesson.to_json(dosage))  # strict JSON


def test_explanation_is_the_explainers_and_its_value_matches_central_differences(dosage_all):
    e = dosage_all["explanations"]["w1"]["1"]
    assert e["value"] == pytest.approx(slope(START, "w1"), rel=1e-6)
    assert round(e["value"], 2) == 7.34 and "7.34" in e["text"] and "7.34" in e["latex"]
    assert "\\frac{\\partial \\mathrm{SSR}}{\\partial w_{1}}" in e["latex"]
    # within the size budget: every parameter at the first ten iterations and the last, then spread out
    last = str(dosage_all["trace"]["iterations"][-1]["iteration"])
    for name in START:
        assert {str(k) for k in range(1, 11)} | {last} <= set(dosage_all["explanations"][name])
    size = sum(len(e["latex"]) + len(e["text"]) for d in dosage_all["explanations"].values() for e in d.values())
    assert size < lesson.EXPLAIN_BUDGET + 7 * 6000
    assert not dosage_all["explanations_complete"] and len(dosage_all["trace"]["iterations"]) > 200
    # each one the gradient the trace recorded
    for it in dosage_all["trace"]["iterations"][:4]:
        for name in START:
            got = dosage_all["explanations"][name][str(it["iteration"])]["value"]
            assert got == pytest.approx(it["gradients"][name], rel=1e-9, abs=1e-12)


def test_loss_curve_and_true_minimum(dosage):
    (c,) = dosage["curves"]["b3"]
    grid, loss = np.array(c["grid"]), np.array(c["loss"])
    for i in range(0, len(grid), 20):
        assert loss[i] == pytest.approx(ssr(dict(START, b3=grid[i])), rel=1e-12)
    # the true minimum: the oracle's slope is zero there, and no grid point is lower
    m = c["minimum"]
    assert abs(slope(dict(START, b3=m["at"]), "b3")) < 1e-4
    assert m["loss"] <= loss.min() + 1e-12
    assert round(m["at"], 2) == 2.61


def test_predictions_follow_the_network(dosage):
    p = dosage["predictions"]
    its = {it["iteration"]: it for it in dosage["trace"]["iterations"]}
    k = p["iterations"][2]
    params = its[k]["params"]
    grid = np.array(p["grid"])
    h1 = np.log1p(np.exp(params["w1"] * grid + params["b1"]))
    h2 = np.log1p(np.exp(params["w2"] * grid + params["b2"]))
    assert np.allclose(p["curves"][2], params["w3"] * h1 + params["w4"] * h2 + params["b3"], atol=1e-4)


def test_network_of_the_dosage_example(dosage):
    net = dosage["network"]
    nodes = {n["name"]: n for n in net["nodes"]}
    assert set(nodes) == {"x", "h1", "h2", "yhat"} and nodes["yhat"]["label"] == "ŷ"
    assert nodes["h1"]["activation"] == "softplus" and [b["param"] for b in nodes["yhat"]["biases"]] == ["b3"]
    edges = {(e["from"], e["to"]): e["param"] for e in net["edges"]}
    assert edges == {("x", "h1"): "w1", ("x", "h2"): "w2", ("h1", "yhat"): "w3", ("h2", "yhat"): "w4"}


def test_divergence_keeps_the_steps_before_it():
    doc = lesson.build(Settings(lr=10.0))
    final = doc["trace"]["final"]
    assert final["stopped_by"] == "diverged" and "step" in final["message"]
    assert len(doc["trace"]["iterations"]) >= 1 and doc["trace"]["iterations"][0]["params"]["b3"] == 0.0


def test_moons_2000_steps_fits_the_size_budget():
    doc = lesson.build(Settings(preset="moons", max_steps=2000), everything=True)
    size = len(lesson.to_json(doc).encode("utf-8"))
    assert size < 2_000_000, size
    assert doc["trace"]["iterations_total"] == 2000 and len(doc["losses"]) == 2001
    b = doc["boundary"]
    assert len(b["values"][0]) == len(b["xs"]) * len(b["ys"]) and all(0 <= v <= 1 for v in b["values"][-1])
    kept = [it["iteration"] for it in doc["trace"]["iterations"]]
    assert kept[0] == 1 and kept[-1] == 2000 and kept == sorted(kept)
    assert len(doc["network"]["edges"]) == 2 * 16 + 16 * 16 + 16


MOONS_CSV = "a,b,label\n0,0,0\n1,0.5,1\n2,1,0\n"


def spec_text(data: str) -> str:
    return f"""version = 1
name = "mine"
[network]
kind = "formulas"
inputs = ["x"]
output = "yhat"
[network.nodes]
yhat = "w * x + b"
[network.parameters]
w = 0.5
b = 0.0
[data]
{data}
[training]
optimize = "all"
max_steps = 20
"""


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "data.csv", "~/x.csv"])
def test_a_posted_spec_never_reads_a_file(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text(MOONS_CSV)
    with pytest.raises(SpecError) as err:
        load_job(Settings(preset=None, spec_text=spec_text(f'csv = "{path}"\nx = "a"\ny = "b"')))
    message = str(err.value)
    assert "data.csv" in message and "cannot read a file on the server" in message and "\n" not in message


def test_uploaded_csv_text_is_the_data():
    job = load_job(Settings(preset=None, spec_text=spec_text('csv = "mine.csv"\nx = "a"\ny = "b"'), csv_text=MOONS_CSV))
    assert job.x.tolist() == [0.0, 1.0, 2.0] and job.y.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(SpecError, match=r"uploaded CSV:3: column 'b' has 'x'"):
        load_job(Settings(preset=None, spec_text=spec_text('csv = "m.csv"\nx = "a"\ny = "b"'),
                          csv_text="a,b\n1,2\n3,x\n"))


def test_spec_errors_are_the_spec_readers_messages():
    from backproplab.spec.spec import parse

    broken = spec_text('x = [0, 1]\ny = [1, 2]').replace('kind = "formulas"', 'kind = "formulas"\nkind = "mlp"')
    with pytest.raises(SpecError) as ours:
        load_job(Settings(preset=None, spec_text=broken))
    with pytest.raises(SpecError) as cli:
        parse(broken)
    assert str(ours.value) == str(cli.value)


def test_limits_are_checked_before_anything_is_built():
    big = spec_text("dataset = \"moons\"\nn = 100").replace(
        '[network]\nkind = "formulas"\ninputs = ["x"]\noutput = "yhat"\n[network.nodes]\nyhat = "w * x + b"\n'
        '[network.parameters]\nw = 0.5\nb = 0.0\n',
        '[network]\nkind = "mlp"\ninputs = 2\nlayers = [{size = 100000}, {size = 1}]\n')
    with pytest.raises(LessonError, match="more than this page allows") as err:
        load_job(Settings(preset=None, spec_text=big))
    assert err.value.status == 413
    with pytest.raises(LessonError, match="max-steps 6000 is more than this page allows"):
        load_job(Settings(max_steps=6000))
    with pytest.raises(LessonError, match="longer than"):
        lesson.build(Settings(min_step=0.0, max_steps=3000), limits=Limits(wall_seconds=1e-9))


def test_settings_are_checked():
    with pytest.raises(LessonError, match="lr must be a positive number"):
        settings_from_dict({"lr": -1})
    with pytest.raises(LessonError, match="unknown setting 'path'|no setting|path"):
        settings_from_dict({"path": "/etc/passwd"})
    with pytest.raises(LessonError, match="parameter 'w9'"):
        load_job(settings_from_dict({"optimize": ["w9"]}))
    s = settings_from_dict({"preset": "statquest", "lr": 0.05, "optimize": ["w3", "b3"], "start": {"w3": 1.0}})
    job = load_job(s)
    assert job.spec.training["optimizer"]["lr"] == 0.05 and job.net.parameter("w3").item() == 1.0


@given(st.dictionaries(st.sampled_from(["lr", "min_step", "max_steps"]),
                       st.one_of(st.floats(allow_nan=True), st.integers(-5, 10), st.text(max_size=3)), max_size=3))
@example({"max_steps": float("inf")})  # int(inf) overflows: it must still be the one-line message
@example({"max_steps": "1e999", "lr": float("-inf")})
def test_odd_settings_are_a_clear_error_or_accepted(d):
    try:
        s = settings_from_dict(d)
    except LessonError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    for key in ("lr", "min_step", "max_steps"):
        value = getattr(s, key)
        assert value is None or math.isfinite(value)


def test_the_written_spec_reads_back_to_the_same_settings(dosage_all):
    raw = tomllib.loads(dosage_all["source"]["spec_text"])
    assert raw["training"]["optimize"] == list(START) and raw["network"]["parameters"]["w1"] == 3.34
    assert tomllib.loads(to_toml(raw)) == raw


@pytest.mark.parametrize("settings", [Settings(optimize="all", max_steps=12, min_step=0.0),
                                      Settings(preset="moons", max_steps=3)])
def test_the_documents_trace_is_the_json_trace(settings):
    """Same schema and numbers as ``--json`` (plus each step's new values and the norms of array
    gradients and steps), kept iterations only."""
    job = load_job(settings)
    trace = lesson.train(job)
    keep = [0, 2] if len(trace.iterations) > 2 else [0]
    ours = lesson.trace_dict(trace, keep)
    theirs = trace.to_dict()
    assert [dict(it, new_values=None, norms=None, announce=None) for it in ours["iterations"]] == \
        [dict(theirs["iterations"][i], iteration=i + 1, new_values=None, norms=None, announce=None) for i in keep]
    for row, i in zip(ours["iterations"], keep):  # a norm for every array parameter, and only for those
        for kind in ("gradients", "step_sizes"):
            arrays = {n for n in trace.optimize if np.ndim(getattr(trace.iterations[i], kind)[n]) > 0}
            assert set(row["norms"][kind]) == arrays
            for n in arrays:
                flat = np.ravel(getattr(trace.iterations[i], kind)[n])
                assert row["norms"][kind][n] == pytest.approx(float(np.sqrt(np.sum(flat * flat))), rel=1e-12)
    assert {k: v for k, v in ours.items() if k not in ("iterations", "iterations_total")} == \
        {k: v for k, v in theirs.items() if k != "iterations"}
    name = trace.optimize[0]
    assert np.allclose(ours["iterations"][0]["new_values"][name], np.asarray(trace.iterations[1].params[name]))


def test_a_matrix_entry_has_its_own_loss_curve():
    """moons: the loss against one entry of W2, against a NumPy forward pass of the same MLP."""
    settings = Settings(preset="moons", max_steps=20)
    d = lesson.detail(settings, "W2", 5, index=[2, 4])
    assert d["curve_key"] == "W2[3,5]" and d["curve"]["index"] == [2, 4]
    doc = lesson.build(settings)
    held = doc["trace"]["iterations"][4]["params"]
    x, y = np.array(doc["trace"]["data"]["x"]), np.array(doc["trace"]["data"]["y"])

    def bce(w2_entry: float) -> float:
        p = {k: np.array(v) for k, v in held.items()}
        p["W2"][2, 4] = w2_entry
        z = np.tanh(np.tanh(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]) @ p["W3"].T + p["b3"]  # W is (out, in)
        z = z[:, 0]
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    grid, loss = d["curve"]["grid"], d["curve"]["loss"]
    for i in range(0, len(grid), 30):
        assert loss[i] == pytest.approx(bce(grid[i]), rel=1e-9)
    at = held["W2"][2][4]
    slope = (bce(at + 1e-6) - bce(at - 1e-6)) / 2e-6
    assert doc["trace"]["iterations"][4]["gradients"]["W2"][2][4] == pytest.approx(slope, rel=1e-5, abs=1e-9)
    with pytest.raises(LessonError, match="not in it"):
        lesson.detail(settings, "W2", 5, index=[16, 0])


@pytest.mark.parametrize("preset, field, key", [("moons", "boundary", "values"), ("statquest", "prediction", "curves")])
def test_an_asked_for_iteration_brings_its_own_snapshot(preset, field, key):
    """The decision boundary or prediction curve that detail() sends for an iteration equals the one a
    document holds for it, and another iteration's differs (a page puts it in its place)."""
    settings = Settings(preset=preset, max_steps=40)
    doc = lesson.build(settings)
    held = doc["boundary" if field == "boundary" else "predictions"]
    k = held["iterations"][-1]
    ours = lesson.detail(settings, doc["trace"]["optimize"][0], k)
    assert ours["row"]["iteration"] == k and ours["row"]["loss"] == doc["losses"][k - 1]
    assert np.allclose(ours[field], held[key][-1], rtol=1e-4, atol=1e-3 if field == "boundary" else 1e-9)
    first = lesson.detail(settings, doc["trace"]["optimize"][0], 1)
    assert not np.allclose(first[field], ours[field])
    assert "prediction" not in ours if field == "boundary" else "boundary" not in ours


def test_an_entry_of_a_matrix_has_its_own_worked_gradient():
    """detail() with an entry sends that entry's chain rule beside the whole matrix's: its value is the
    trace's gradient entry and a central difference of a NumPy BCE, and its step is the entry's own."""
    settings = Settings(preset="moons", max_steps=8)
    d = lesson.detail(settings, "W1", 4, index=[1, 0])  # W1 is (out, in): input 1 into unit 2
    assert d["entry_key"] == "W1[2,1]" and d["entry"]["optimized"]
    text = d["entry"]["text"]
    assert text.startswith("dBCE/dW1[2,1]") and "dBCE/dW1[2,1] = Σ_i δ_z1[i,2] · x[i,1]" in text
    assert d["explanation"]["text"].startswith("dBCE/dW1")  # the whole matrix, layer by layer, still comes
    row = d["row"]
    held = {k: np.array(v) for k, v in row["params"].items()}
    data = lesson.build(settings)["trace"]["data"]
    x, labels = np.array(data["x"]), np.array(data["y"], dtype=float).reshape(-1)

    def bce(entry: float) -> float:
        p = {k: v.copy() for k, v in held.items()}
        p["W1"][1, 0] = entry
        z = (np.tanh(np.tanh(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]) @ p["W3"].T + p["b3"])[:, 0]
        return float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))

    at = held["W1"][1, 0]
    slope = (bce(at + 1e-6) - bce(at - 1e-6)) / 2e-6
    assert d["entry"]["value"] == row["gradients"]["W1"][1][0] == pytest.approx(slope, rel=1e-5, abs=1e-9)
    step = row["step_sizes"]["W1"][1][0]
    shown = f"({step:.2g})" if step < 0 else f"{step:.2g}"
    line = f"new W1[2,1] = old W1[2,1] − step size = {at:.2f} − {shown} = {at - step:.2f}"
    assert line.replace("-", "−") in text  # the entry's own step, not the matrix's
