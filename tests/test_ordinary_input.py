"""Ordinary input that must work, or end in one clear line: a renamed spec, a spec mistake in the
widget, a huge JSON number in a trace, a name the explanations keep, a forward pass that overflows."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import backproplab as bl
from backproplab.lesson.widget import Lesson
from backproplab.plots import figures
from backproplab.plots.figures import hints_for_spec
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import SpecError, parse
from backproplab.train.trace import Trace, TraceError

from .conftest import assert_clean_error, cli

STATQUEST = PRESETS["statquest"].text


def renamed(preset: str, new_name: str = "mine") -> str:
    """A shipped spec with another name, as `new mine.toml --from PRESET` and an edit make it."""
    text, count = re.subn(rf'^name = "{preset}"', f'name = "{new_name}"', PRESETS[preset].text, flags=re.M)
    assert count == 1
    return text


def first_parameter(text: str) -> str:
    net, _ = parse(text).build()
    return next(name for name, _ in net.named_parameters())


# --- a spec whose name is not a preset's --------------------------------------------------------------------
@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_renamed_copy_of_every_shipped_spec_runs_explains_forwards_and_plots(preset, tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(renamed(preset), encoding="utf-8")
    param = first_parameter(path.read_text(encoding="utf-8"))
    short = ("--max-steps", "3")
    for args in (("run", str(path), "--quiet", *short),
                 ("explain", str(path), "--param", param, *short),
                 ("forward", str(path), *short),
                 ("plot", str(path), "loss-history", "-o", str(tmp_path / "loss.png"), "--quiet", *short)):
        code, out, err = cli(capsys, *args)
        assert code == 0, (args[0], err)
        assert "Traceback" not in err and "error" not in err
        assert out or args[0] == "plot"
    assert (tmp_path / "loss.png").stat().st_size > 0


def test_the_readmes_own_network_path_new_rename_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "new", "mine.toml", "--from", "moons")
    assert code == 0, err
    text = (tmp_path / "mine.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(text.replace('name = "moons"', 'name = "my moons"', 1), encoding="utf-8")
    code, out, err = cli(capsys, "run", "mine.toml", "--max-steps", "5", "--quiet")
    assert code == 0 and "Traceback" not in err, err
    assert "final BCE" in out


def test_a_renamed_spec_keeps_the_labels_its_data_gives():
    two_inputs = hints_for_spec(parse(renamed("moons")))
    assert (two_inputs.name, two_inputs.x_label, two_inputs.y_label) == ("mine", "x₁", "x₂")
    one_input = hints_for_spec(parse(renamed("regression")))
    assert (one_input.x_label, one_input.y_label) == ("x", "y")
    formulas = hints_for_spec(parse(renamed("statquest")))
    assert (formulas.x_label, formulas.y_label, formulas.contour) == ("x", "y", None)


def test_a_renamed_two_input_network_draws_its_boundary_with_the_input_names(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(renamed("xor"), encoding="utf-8")
    out = tmp_path / "boundary.png"
    code, _, err = cli(capsys, "plot", str(path), "decision-boundary", "-o", str(out), "--max-steps", "3", "--quiet")
    assert code == 0, err
    assert out.stat().st_size > 0
    spec = parse(renamed("xor"))
    net, (x, y) = spec.build()
    opt, _ = spec.optimizer(net)
    trace = opt.fit(net, x, y, loss=spec.training["loss"], max_steps=3)
    fig = figures.one(hints_for_spec(spec), net, trace, "decision-boundary")
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("x₁", "x₂")
    drawn = np.vstack([c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets())])
    assert {tuple(p) for p in np.asarray(x).tolist()} <= {tuple(p) for p in drawn.tolist()}  # the data's points


# --- the widget's own network with a mistake ----------------------------------------------------------------
BAD_SPECS = {
    "a data file": (STATQUEST.replace('x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy',
                                      'csv = "data.csv"\nx = "dose"\ny = "effect"'), "data.csv"),
    "an unknown activation": (STATQUEST.replace('h1 = "softplus(z1)"', 'h1 = "softmax(z1)"'), "softmax"),
    "a reserved name": (STATQUEST.replace("w1", "x_i"), "x_i"),
    "a missing table": ("version = 1\nname = 'x'\n", "network"),
    "bad TOML": ("version = = 1", "spec"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_the_widget_answers_a_spec_mistake_in_one_line(case):
    text, named = BAD_SPECS[case]
    w = Lesson()
    sent: list[dict] = []
    w.send = sent.append
    doc, revision = w.document, w.revision
    w._on_page_message(w, {"kind": "request", "id": 3, "url": "/api/lesson", "body": {"spec_text": text}}, [])
    (reply,) = sent
    assert reply["id"] == 3 and reply["ok"] is False and reply["status"] == 400
    assert named in reply["error"] and "\n" not in reply["error"] and "Traceback" not in reply["error"]
    assert w.error == reply["error"]
    assert w.document is doc and w.revision == revision  # the page keeps what it showed


def test_a_spec_mistake_set_from_python_is_one_line_on_the_widget():
    w = Lesson()
    doc = w.document
    w.spec_text = BAD_SPECS["a reserved name"][0]
    assert "x_i" in w.error and "\n" not in w.error
    assert w.document is doc


def test_the_widget_answers_even_an_unexpected_failure(monkeypatch):
    w = Lesson()
    sent: list[dict] = []
    w.send = sent.append

    def broken(url, body):
        raise TypeError("an op received None")

    monkeypatch.setattr(w, "answer", broken)
    w._on_page_message(w, {"kind": "request", "id": 4, "url": "/api/lesson", "body": {}}, [])
    (reply,) = sent
    assert reply["ok"] is False and reply["status"] == 500 and "TypeError: an op received None" in reply["error"]


# --- a saved trace with a number of thousands of digits -----------------------------------------------------
@pytest.mark.parametrize("text", ['{"loss": ' + "9" * 5000 + "}", b'{"loss": -' + b"1" * 5000 + b"}",
                                  '{"iterations": [' + "7" * 4301 + "]}"])
def test_a_huge_json_number_in_a_trace_is_a_trace_error(text):
    with pytest.raises(TraceError, match="not a valid trace: it holds a whole number thousands of digits long") as e:
        Trace.from_json(text)
    assert "\n" not in str(e.value)


def test_a_trace_with_a_huge_number_fails_the_cli_in_one_line(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text('{"loss": ' + "9" * 5000 + "}", encoding="utf-8")
    code, out, err = cli(capsys, "plot", str(path), "loss-history", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# --- names the explanations keep ----------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, field", [
    ("w1", "x_i", "network.parameters.x_i"),
    ("w1", "y_i", "network.parameters.y_i"),
    ("w1", "ŷ_i", "network.parameters.ŷ_i"),
    ("h1", "h1_i", "network.nodes.h1_i"),
    ('"x"', '"x_i"', "network.inputs[0]"),
])
def test_a_name_the_explanations_keep_is_refused_in_one_line(old, new, field):
    text = STATQUEST.replace(old, new) if old.startswith('"') else re.sub(rf"\b{old}\b", new, STATQUEST)
    text = text.replace(f"\n{new} = 3.34", f'\n"{new}" = 3.34')  # a TOML key of other letters is quoted
    if old == '"x"':
        text = re.sub(r"\bx\b(?= \*)", "x_i", text)
    with pytest.raises(SpecError) as e:
        parse(text)
    message = str(e.value)
    assert field in message and "ends in _i" in message and "x_i, y_i, ŷ_i" in message
    assert "\n" not in message


def test_a_name_with_i_inside_or_i_alone_is_still_allowed():
    text = re.sub(r"\bw1\b", "w_in", STATQUEST)
    net, _ = parse(text).build()
    assert "w_in" in dict(net.named_parameters())
    assert "i" in dict(parse(re.sub(r"\bb3\b", "i", STATQUEST)).build()[0].named_parameters())


def test_the_cli_refuses_a_reserved_name_in_one_line(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(re.sub(r"\bw1\b", "x_i", STATQUEST), encoding="utf-8")
    for command in (("run",), ("explain", "--param", "b3"), ("forward",)):
        assert_clean_error(capsys, [command[0], str(path), *command[1:]], "x_i, y_i, ŷ_i")


# --- a forward pass that overflows --------------------------------------------------------------------------
OVERFLOW = STATQUEST.replace('h1 = "softplus(z1)"', 'h1 = "exp(z1)"').replace("w1 = 3.34", "w1 = 800")


def test_explain_of_an_overflowing_forward_pass_is_one_line_without_raw_warnings(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(OVERFLOW, encoding="utf-8")
    for extra in (["--param", "b3"], ["--param", "w1"], ["--node", "h1"]):
        done = subprocess.run([sys.executable, "-m", "backproplab", "explain", str(path), *extra],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stdout == "" and "Warning" not in done.stderr and "Traceback" not in done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "the forward pass overflowed: exp overflowed" in line and "node h1 for sample 3" in line
        assert "SSR = ∞" in line and "smaller starting values or inputs" in line and "smaller learning rate" in line


def test_explain_in_python_names_the_node_and_the_sample_where_the_forward_pass_overflowed():
    x = bl.Tensor([0.0, 1.0, 0.5], name="x")  # e^800 overflows, e^400 does not
    w = bl.nn.Parameter(800.0, "w")
    with np.errstate(over="ignore"):
        h = (w * x).exp().named("h")
        loss = ((h - bl.Tensor([0.0, 1.0, 0.0])) ** 2).sum()
    assert not np.isfinite(loss.item())
    with pytest.raises(ValueError, match=r"exp overflowed \(its input is too large\) at node h for sample 2"):
        bl.explain(loss, wrt=w)


def test_a_finite_forward_pass_is_explained_as_before():
    net, (x, y) = bl.presets.statquest()
    loss = bl.losses.ssr(net(x), y)
    exp = bl.explain(loss, wrt=net.w1)
    assert np.isclose(exp.gradient, 7.34, atol=0.005)


def wide_formula_spec(n: int) -> str:
    """ŷ = w0·x + w1·x + … : a sum of n terms, nested n deep when parsed."""
    terms = " + ".join(f"w{i} * x" for i in range(n))
    params = "\n".join(f"w{i} = 0.001" for i in range(n))
    return (f'version = 1\nname = "wide"\n[network]\nkind = "formulas"\ninputs = ["x"]\noutput = "yhat"\n'
            f'[network.nodes]\nyhat = "{terms}"\n[network.parameters]\n{params}\n'
            f'[data]\nx = [0.0, 0.5, 1.0]\ny = [0.0, 1.0, 0.0]\n[training]\noptimize = "all"\nmax_steps = 2\n')


def test_a_sum_of_a_thousand_terms_is_tabled_and_drawn_without_a_traceback(tmp_path, capsys):
    """The forward table heads a column nested too deep to write by its name alone, and the page's
    diagram finds every edge of the sum; both used to end in RecursionError."""
    from backproplab.lesson.network import formula_network

    spec = tmp_path / "wide.toml"
    spec.write_text(wide_formula_spec(1500), encoding="utf-8")
    code, out, err = cli(capsys, "forward", str(spec))
    assert code == 0 and "Traceback" not in err, err
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("3 "))
    assert row[2] == "1.50"  # ŷ_3 = 1500 × 0.001 × 1, worked out here
    network = formula_network(bl.spec.read(str(spec)).network)
    assert sorted(e["param"] for e in network["edges"]) == sorted(f"w{i}" for i in range(1500))
