"""Spec files: every bad input gets one clear line and exit code 2; presets round-trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import SpecError, parse

from .conftest import assert_clean_error, cli

STATQUEST = PRESETS["statquest"].text
MLP = PRESETS["xor"].text


def run(capsys, *args):
    return cli(capsys, *args)


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD = [  # (what to change in a spec, the words the message must contain)
    ("missing field", lambda t: t.replace('loss = "ssr"', "").replace("[training]", "[training]\nloss = 5"),
     "training.loss: should be text, got 5"),
    ("missing table", lambda t: t[: t.index("[data]")] + t[t.index("[training]"):], "data: is missing"),
    ("wrong type", lambda t: t.replace("max_steps = 1000", 'max_steps = "many"'),
     "training.max_steps: should be a whole number"),
    ("non-numeric value", lambda t: t.replace("w1 = 3.34", 'w1 = "big"'),
     "network.parameters.w1: should be a finite number"),
    ("NaN in the data", lambda t: t.replace("x = [0.0, 0.5, 1.0]", "x = [0.0, nan, 1.0]"),
     "data.x: has NaN or infinity at sample 2"),
    ("infinity in the data", lambda t: t.replace("y = [0.0, 1.0, 0.0]", "y = [0.0, inf, 0.0]"),
     "data.y: has NaN or infinity at sample 2"),
    ("empty data", lambda t: t.replace("x = [0.0, 0.5, 1.0]", "x = []").replace("y = [0.0, 1.0, 0.0]", "y = []"),
     "data.x: is empty"),
    ("samples do not match", lambda t: t.replace("y = [0.0, 1.0, 0.0]", "y = [0.0, 1.0]"),
     "data.y: has 2 samples but data.x has 3"),
    ("unknown loss", lambda t: t.replace('loss = "ssr"', 'loss = "sse"'),
     "training.loss: unknown loss 'sse'; did you mean 'ssr'?"),
    ("unknown optimizer", lambda t: t.replace('name = "gradient_descent"', 'name = "adma"'),
     "training.optimizer.name: unknown name 'adma'; did you mean 'adam'?"),
    ("unknown parameter", lambda t: t.replace('optimize = ["b3"]', 'optimize = ["b4"]'),
     "training.optimize: unknown parameter 'b4'"),
    ("zero learning rate", lambda t: t.replace("lr = 0.1", "lr = 0"), "training.optimizer.lr: must be a positive"),
    ("negative learning rate", lambda t: t.replace("lr = 0.1", "lr = -0.1"),
     "training.optimizer.lr: must be a positive"),
    ("max_steps zero", lambda t: t.replace("max_steps = 1000", "max_steps = 0"),
     "training.max_steps: must be 1 or more"),
    ("max_steps negative", lambda t: t.replace("max_steps = 1000", "max_steps = -5"),
     "training.max_steps: must be 1 or more"),
    ("version too new", lambda t: t.replace("version = 1", "version = 7"),
     "version: is 7, but this backproplab reads spec versions up to 1"),
    ("not TOML", lambda t: t.replace("w1 = 3.34", "w1 = = 3.34"), "not valid TOML"),
    ("unknown field", lambda t: t.replace("[training]", "[training]\nlearning_rate = 0.1"),
     "training.learning_rate: unknown field 'learning_rate'"),
    ("bad formula", lambda t: t.replace('"softplus(z1)"', '"softpuls(z1)"'),
     "unknown function 'softpuls'; did you mean 'softplus'?"),
]

BAD_MLP = [
    ("unknown activation",
     lambda t: t.replace('{ size = 4, activation = "tanh" }', '{ size = 4, activation = "relu6" }'),
     "network.layers[0].activation: unknown activation 'relu6'; did you mean 'relu'? "
     "(choose from: identity, relu, sigmoid, softplus, tanh, leaky_relu, elu, silu, gelu)"),
    ("shapes do not match the layers", lambda t: t.replace("inputs = 2 ", "inputs = 3 "),
     "data.x: has 2 value(s) per sample but the network takes 3"),
    ("outputs do not match", lambda t: t.replace('{ size = 1, activation = "identity" }',
                                                 '{ size = 2, activation = "identity" }'),
     "data.y: has 1 value(s) per sample but the network gives 2"),
    ("wrong layer type", lambda t: t.replace('{ size = 4, activation = "tanh" }', '"tanh"'),
     "network.layers[0]: should be a table"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD + BAD_MLP, ids=[c[0] for c in BAD + BAD_MLP])
def test_every_bad_spec_gives_one_clear_line_and_exit_code_2(capsys, tmp_path, case, change, message):
    base = MLP if (case, change, message) in BAD_MLP else STATQUEST
    changed = change(base)
    assert changed != base, "the test's edit did not apply"
    path = write(tmp_path, changed)
    err = assert_clean_error(capsys, ["run", str(path)], message)
    assert str(path) in err


def test_syntax_errors_give_the_line(capsys, tmp_path):
    path = write(tmp_path, STATQUEST.replace("w1 = 3.34", "w1 = = 3.34"))
    line = STATQUEST.splitlines().index("w1 = 3.34") + 1
    _, _, err = run(capsys, "run", str(path))
    assert f"{path}:{line}: not valid TOML" in err


def test_missing_file_folder_and_binary(capsys, tmp_path):
    code, _, err = run(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such file; create one with 'backproplab new" in err
    code, _, err = run(capsys, "run", str(tmp_path))
    assert code == 2 and "this is a folder" in err
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run(capsys, "run", str(binary))
    assert code == 2 and "not a text file" in err


def test_debug_shows_the_traceback(tmp_path):
    path = write(tmp_path, STATQUEST.replace("lr = 0.1", "lr = 0"))
    proc = subprocess.run([sys.executable, "-m", "backproplab", "--debug", "run", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "backproplab", "run", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


CSV = "dose,effect,extra\n0,0,1\n0.5,1,1\n1,0,1\n"


def csv_spec(tmp_path, text=CSV, x='["dose"]', y='"effect"'):
    write(tmp_path, text, "data.csv")
    body = STATQUEST.replace("x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy",
                             f'csv = "data.csv"\nx = {x}\ny = {y}')
    assert body != STATQUEST
    return write(tmp_path, body)


def test_csv_data_relative_to_the_spec_gives_the_same_run(capsys, tmp_path):
    code, out, _ = run(capsys, "run", str(csv_spec(tmp_path)), "--json")
    assert code == 0
    _, reference, _ = run(capsys, "demo", "statquest", "--json")
    assert json.loads(out)["iterations"] == json.loads(reference)["iterations"]


@pytest.mark.parametrize(
    ("text", "x", "message"),
    [
        ("dose,effect\n0,0\n0.5\n1,0\n", '["dose"]', "data.csv:3: row has 1 fields but the header has 2"),
        ("dose,effect\n0,0\n0.5,abc\n1,0\n", '["dose"]',
         "data.csv:3: column 'effect' has 'abc', which is not a number"),
        ("dose,effect\n", '["dose"]', "has a header but no data rows"),
        ("dose,effect\n0,0\n0.5,1\n1,0\n", '["dosage"]', "data.x: unknown column 'dosage'; did you mean 'dose'?"),
        ("dose,effect\n0,0\n0.5,nan\n1,0\n", '["dose"]', "NaN and infinity are not data"),
    ],
)
def test_bad_csv_files(capsys, tmp_path, text, x, message):
    code, _, err = run(capsys, "run", str(csv_spec(tmp_path, text, x)))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_set_overrides(capsys, tmp_path):
    path = write(tmp_path, STATQUEST)
    code, out, _ = run(capsys, "run", str(path), "--set", "optimizer.lr=0.05", "--set", "optimize=all",
                       "--set", "max_steps=3", "--json")
    data = json.loads(out)
    assert code == 0 and data["learning_rate"] == 0.05 and len(data["optimize"]) == 7 and data["final"]["steps"] == 3
    code, _, err = run(capsys, "run", str(path), "--set", "optimizer.lr")
    assert code == 2 and "needs the form key=value" in err
    code, _, err = run(capsys, "run", str(path), "--set", "optimizer.lr=-1")
    assert code == 2 and "training.optimizer.lr: must be a positive number" in err


@pytest.mark.parametrize("name", list(PRESETS))
def test_new_then_run_gives_the_same_trace_as_the_preset(capsys, tmp_path, name):
    path = tmp_path / f"{name}.toml"
    code, _, err = run(capsys, "new", str(path), "--from", name)
    assert code == 0 and path.exists() and "#" in path.read_text()
    code, out, _ = run(capsys, "run", str(path), "--json")
    assert code == 0
    _, reference, _ = run(capsys, "demo", name, "--json")
    mine, theirs = json.loads(out), json.loads(reference)
    assert mine["iterations"] == theirs["iterations"] and mine["final"] == theirs["final"]


def test_new_refuses_to_overwrite_and_checks_names(capsys, tmp_path):
    path = write(tmp_path, "keep me")
    code, _, err = run(capsys, "new", str(path), "--from", "statquest")
    assert code == 2 and "already exists" in err and path.read_text() == "keep me"
    assert run(capsys, "new", str(path), "--from", "statquest", "--force")[0] == 0
    code, _, err = run(capsys, "new", str(tmp_path / "x.toml"), "--from", "moon")
    assert code == 2 and "did you mean 'moons'?" in err
    code, _, err = run(capsys, "new", str(tmp_path / "x.txt"))
    assert code == 2 and "ends in .toml" in err


def test_presets_lists_every_example(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name in PRESETS:
        assert name in out


def test_divergence_with_learning_rate_10_stops_clearly_and_keeps_the_trace(capsys, tmp_path):
    save = tmp_path / "trace.json"
    code, out, err = run(capsys, "demo", "statquest", "--lr", "10", "--optimize", "all", "--json", "--save",
                         str(save))
    assert code == 1
    assert "the run diverged: iteration" in err and "try a smaller learning rate" in err
    data = json.loads(out)
    assert data["final"]["stopped_by"] == "diverged" and len(data["iterations"]) >= 1
    assert json.loads(save.read_text())["iterations"] == data["iterations"]
    code, _, err = run(capsys, "demo", "statquest", "--lr", "10", "--optimize", "all", "--plot", str(tmp_path / "p"))
    assert code == 1 and (tmp_path / "p" / "loss-per-iteration.png").exists()
    code, out, _ = run(capsys, "demo", "statquest", "--lr", "2", "--explain", "b3")
    assert code == 1 and "  b3 = 1.9e22 (last gradient −1.053e22)" in out  # not 19308619153454321893376


def test_non_finite_values_name_the_step_the_parameter_and_the_op(capsys, tmp_path):
    body = STATQUEST.replace('h1 = "softplus(z1)"', 'h1 = "log(z1)"').replace("w1 = 3.34", "w1 = 0.5") \
        .replace("b1 = -1.43", "b1 = 0.1").replace('optimize = ["b3"]', 'optimize = "all"')
    code, _, err = run(capsys, "run", str(write(tmp_path, body)), "--set", "optimizer.lr=5")
    assert code == 1
    assert "iteration" in err and "log of a number that is not positive in node h1 (log(z1)), which uses" in err
    assert "w1" in err.split("which uses")[1] and "b1" in err.split("which uses")[1]


# --- fuzzing: every failure is the clean error -----------------------------------------------------
FUZZ = int(os.environ.get("BACKPROPLAB_FUZZ_EXAMPLES", "150"))  # raise it for a longer hunt
toml_values = st.recursive(
    st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["x", "y", "kind", "size", "lr", "name", "layers", "nodes", "inputs", "output", "loss", "dataset", "n"]),
        inner, max_size=4)),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {}, optional={"version": st.one_of(st.just(1), st.integers(-2, 3)), "network": toml_values, "data": toml_values,
                  "training": toml_values, "name": toml_values},
)


@settings(max_examples=FUZZ, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents)
def test_random_documents_fail_only_with_the_clean_error(doc):
    from backproplab.spec.spec import check

    try:
        check(doc)
    except SpecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)[:300]


@settings(max_examples=FUZZ, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_fail_only_with_the_clean_error(data):
    try:
        parse(data.decode("utf-8", errors="replace"))
    except SpecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)[:300]


HOSTILE = ['"x"', "[1, 2]", "{a = 1}", "-1", "0", "1e400", "", "99999999999999999999", "true", "[true, 1]",
           "-9223372036854775808", '"' + "z" * 2000 + '"', "[" * 400 + "]" * 400, '"(" * 300', '"\\u0000"',
           '"../../etc/passwd"', '"/dev/zero"', "1000000000", "[[[1.0]]]", '"\\u202e"']


@settings(max_examples=FUZZ // 2, deadline=None)
@given(st.sampled_from(STATQUEST.splitlines() + MLP.splitlines()), st.sampled_from(HOSTILE))
def test_mutated_real_specs_fail_only_with_the_clean_error(line, value):
    if "=" not in line or line.lstrip().startswith("#"):
        return
    key = line.split("=")[0]
    base = STATQUEST if line in STATQUEST.splitlines() else MLP
    try:
        spec = parse(base.replace(line, f"{key}= {value}"), data_dirs=())
        net, (x, y) = spec.build()
        assert np.all(np.isfinite(x))
    except SpecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)[:300]


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "silu", "gelu"])
def test_a_spec_layer_takes_every_activation_pytorch_has_a_layer_for(capsys, tmp_path, activation):
    """The hidden layer of xor as leaky_relu, elu, silu or gelu: it trains, and its explanation shows the
    activation's own derivative (with PyTorch's default setting where it has one)."""
    text = MLP.replace('{ size = 4, activation = "tanh" }', f'{{ size = 4, activation = "{activation}" }}')
    path = write(tmp_path, text.replace("max_steps = 300", "max_steps = 40"))
    code, out, err = run(capsys, "run", str(path), "--json")
    assert code == 0, err
    trace = json.loads(out)
    assert trace["final"]["loss"] < trace["iterations"][0]["loss"]
    code, out, err = run(capsys, "explain", str(path), "--param", "W1", "--index", "2,1")  # input 1 into unit 2
    assert code == 0, err
    from string import Template

    from backproplab import ops
    from backproplab.explain.paths import tidy

    settings = {k: f"{v:g}" for k, v in ops.ACTIVATION_SETTINGS.get(activation, {}).items()}
    rule = tidy(Template(ops.ACTIVATIONS[activation].partials[0][0]).safe_substitute(z="z1[i,2]", **settings))
    assert f"da1[i,2]/dz1[i,2] = {rule}" in out  # the op table's statement, with the layer's names
    if activation == "leaky_relu":
        assert "else 0.01 (0.01 at z1[i,2] = 0" in out


def test_the_docs_list_every_activation_a_layer_may_use():
    import re

    from backproplab import ops

    docs = (Path(__file__).resolve().parents[1] / "docs" / "own-networks.md").read_text(encoding="utf-8")
    listed = re.search(r"each with an activation: (.*?); or", docs, re.S).group(1)
    assert re.split(r",\s+(?:or\s+)?|\s+or\s+", " ".join(listed.split())) == list(ops.ACTIVATIONS)
