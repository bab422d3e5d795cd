"""What a spec may read and allocate, and what it is told: the positive side of the catalogue."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab.nn import MLP
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import SpecError, parse, read
from backproplab.util import limits
from backproplab.util.messages import excerpt, unknown_name_message

from .conftest import cli

STATQUEST = PRESETS["statquest"].text
INLINE = "x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy"
CSV_BODY = STATQUEST.replace(INLINE, 'csv = "data.csv"\nx = "dose"\ny = "effect"')
CSV = "dose,effect\n0,0\n0.5,1\n1,0\n"


def test_a_spec_from_text_may_be_allowed_no_files_at_all(tmp_path, monkeypatch):
    (tmp_path / "data.csv").write_text(CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    x, _ = parse(CSV_BODY).build()[1]  # text without a path: the working folder, by default
    np.testing.assert_array_equal(x, [0.0, 0.5, 1.0])
    with pytest.raises(SpecError, match=r"data.csv: this spec may not read files here; give the data inline"):
        parse(CSV_BODY, data_dirs=())
    assert parse(STATQUEST, data_dirs=()).build()[1][0].tolist() == [0.0, 0.5, 1.0]  # inline data needs no file


def test_data_dirs_allow_another_folder_explicitly(tmp_path, capsys):
    shared, specs = tmp_path / "shared", tmp_path / "specs"
    shared.mkdir()
    specs.mkdir()
    (shared / "data.csv").write_text(CSV, encoding="utf-8")
    path = specs / "s.toml"
    path.write_text(CSV_BODY.replace('"data.csv"', f'"{shared / "data.csv"}"'), encoding="utf-8")
    with pytest.raises(SpecError, match="is outside"):
        read(path)
    assert read(path, data_dirs=[shared]).build()[1][1].tolist() == [0.0, 1.0, 0.0]
    code, out, _ = cli(capsys, "run", str(path), "--data-dir", str(shared), "--json")
    _, reference, _ = cli(capsys, "demo", "statquest", "--json")
    assert code == 0 and json.loads(out)["iterations"] == json.loads(reference)["iterations"]


def test_a_byte_order_mark_is_accepted_in_toml_and_csv(tmp_path, capsys):
    (tmp_path / "data.csv").write_bytes(b"\xef\xbb\xbf" + CSV.encode())
    (tmp_path / "s.toml").write_bytes(b"\xef\xbb\xbf" + CSV_BODY.encode())
    code, out, err = cli(capsys, "run", str(tmp_path / "s.toml"), "--json")
    _, reference, _ = cli(capsys, "demo", "statquest", "--json")
    assert code == 0, err
    assert json.loads(out)["iterations"] == json.loads(reference)["iterations"]


def test_an_unused_parameter_is_left_unchanged_with_a_one_line_warning(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(STATQUEST.replace("b3 = 0.0", "b3 = 0.0\nunused = 1.5"), encoding="utf-8")
    code, out, err = cli(capsys, "run", str(path), "--optimize", "all", "--max-steps", "3", "--json")
    assert code == 0
    assert err.count("\n") == 1 and "warning:" in err and "uses unused, so its gradient is always 0" in err
    data = json.loads(out)
    assert "unused" not in data["optimize"] and len(data["optimize"]) == 7
    assert all(it["params"]["unused"] == 1.5 for it in data["iterations"])
    assert data["iterations"][-1]["params"]["w1"] != data["iterations"][0]["params"]["w1"]


def test_the_memory_limit_can_be_raised_and_lowered():
    with limits.allowing(1024**2):  # 1 MB
        with pytest.raises(ValueError, match=r"400,001 parameters, which need 3.1 MB, more than the limit of 1.0 MB"):
            MLP([2, 100_000, 1])
    assert MLP([2, 100_000, 1]).sizes == [2, 100_000, 1]  # the default limit allows it
    spec = PRESETS["moons"].text
    with pytest.raises(SpecError, match=r"network.layers\[0\].size: the network's parameters need"):
        parse(spec.replace("{ size = 16,", "{ size = 4000,", 1), memory_limit=1024**2)
    net, _ = parse(spec.replace("{ size = 16,", "{ size = 4000,", 1), memory_limit=1024**3).build()
    assert net.parameter("W1").shape == (4000, 2)


def test_default_limit_is_a_quarter_of_available_memory_at_most():
    assert 0 < limits.default_limit() <= limits.available_memory() // 4


def test_did_you_mean_ignores_case_and_never_echoes_much():
    assert "did you mean 'W1'?" in unknown_name_message("parameter", "w1", ["W1", "b1", "W2", "b2"])
    long = unknown_name_message("column", "\x1b[31m" + "z" * 10**6, [f"c{i}" * 40 for i in range(50)], shown=4)
    assert len(long) < 400 and "\x1b" not in long and "(46 more)" in long
    short = excerpt("a\nb" * 100, 10)
    assert short == "'a\\nba\\nba\\nba'…" and "\n" not in short
    assert excerpt([[[[[1]]]]]) == "[[[[...]]]]" and excerpt(list(range(10**5))).startswith("[0, 1, 2")


def test_mlp_sizes_and_seed_are_checked_with_their_place():
    with pytest.raises(ValueError, match=r"sizes\[1\] should be a whole number, got 1e\+20"):
        bl.MLP([2, 1e20, 1])
    with pytest.raises(ValueError, match=r"sizes\[0\] must be 1 or more"):
        bl.MLP([0, 3])
    with pytest.raises(ValueError, match="seed should be a whole number, 0 or more, got -1"):
        bl.MLP([2, 3, 1], seed=-1)


def test_a_csv_file_larger_than_the_memory_allows_is_refused_before_reading(tmp_path):
    rows = "".join(f"{i * 0.001},{i % 2}\n" for i in range(20_000))
    (tmp_path / "data.csv").write_text("dose,effect\n" + rows, encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(CSV_BODY, encoding="utf-8")
    with pytest.raises(SpecError, match=r"data.csv: '.*data.csv' is .* KB, more than the 64.0 KB a CSV file may have"):
        read(path, memory_limit=1024**2)
    x, y = read(path).build()[1]
    assert x.shape == (20_000,) and x[-1] == pytest.approx(19.999) and y.sum() == 10_000


def test_command_line_settings_can_rescue_a_spec_they_override(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(STATQUEST.replace("b3 = 0.0", "b3 = 0.0\nunused = 1.5").replace('optimize = ["b3"]',
                                                                                  'optimize = ["unused"]'))
    code, _, err = cli(capsys, "run", str(path), "--max-steps", "2")
    assert code == 2 and "no formula on the way to the output (yhat) uses unused" in err
    code, out, err = cli(capsys, "run", str(path), "--optimize", "w1", "--max-steps", "2", "--json")
    assert code == 0 and json.loads(out)["optimize"] == ["w1"] and err == ""
    wide = tmp_path / "m.toml"
    wide.write_text(PRESETS["moons"].text.replace("{ size = 16,", "{ size = 300,", 1), encoding="utf-8")
    code, _, err = cli(capsys, "run", str(wide), "--memory-limit", "0.005")  # 5 MB: the trace is too large
    assert code == 2 and "training.max_steps: 500 steps would record about" in err
    code, _, err = cli(capsys, "run", str(wide), "--memory-limit", "0.005", "--max-steps", "2")
    assert code == 0, err


@given(st.text(max_size=5000), st.lists(st.text(max_size=200), max_size=40))
def test_messages_quote_input_short_and_printable(name, choices):
    message = unknown_name_message("column", name, choices)
    assert all(ch.isprintable() for ch in message)
    assert len(message) < 100 + 12 * 34 + 100


@given(st.binary(max_size=300))
def test_random_csv_bytes_fail_only_with_the_clean_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("csv")
    (folder / "data.csv").write_bytes(b"dose,effect\n" + data)
    (folder / "s.toml").write_text(CSV_BODY, encoding="utf-8")
    try:
        x, y = read(folder / "s.toml").build()[1]
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 500 and "\x00" not in message
    else:
        assert x.shape == y.shape and np.all(np.isfinite(x))
