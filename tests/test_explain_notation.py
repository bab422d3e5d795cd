"""Notation that is the same on every surface: a sample's own line uses its index, a matrix entry is
(W₁)₁,₂ in LaTeX and W1[1,2] in text, an entry's explanation names the entry, and Adam's step is
written with its numbers on the page as in the terminal."""

from __future__ import annotations

import re

import numpy as np
import pytest

import backproplab as bl
from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings
from backproplab.spec.presets import DOSAGE_START, DOSAGE_X, DOSAGE_Y
from tests.test_web_browser import Page
from tests.web_helpers import live_server

from .conftest import cli


def small_mlp(data: bool = False):
    rng = np.random.default_rng(3)
    model = bl.MLP([2, 3, 1], activations="tanh")
    x = bl.tensor(rng.normal(size=(4, 2)), name="x")
    y = bl.tensor(rng.normal(size=(4, 1)), name="y")
    loss = bl.losses.mse(model(x), y)
    return (model, loss, x, y) if data else (model, loss)


def test_a_sample_line_of_a_node_uses_that_sample_index(capsys):
    code, out, _ = cli(capsys, "explain", "statquest", "--node", "h1")
    assert code == 0
    assert "dSSR/dh1_1 = dSSR/dŷ_1 · dŷ_1/dh1_1" in out
    assert "dSSR/dŷ_1 = −2 × (y_1 − ŷ_1)" in out and "dŷ_1/dh1_1 = w3" in out
    sample_1 = out.split("Sample 1:", 1)[1].split("Sample 2:", 1)[0]
    assert "_i" not in sample_1, sample_1
    # the values are dSSR/dh1_k = −2 (y_k − ŷ_k) · w3, and they are what central differences give
    v = DOSAGE_START
    x, y = np.asarray(DOSAGE_X), np.asarray(DOSAGE_Y)
    h1, h2 = np.logaddexp(0, v["w1"] * x + v["b1"]), np.logaddexp(0, v["w2"] * x + v["b2"])

    def ssr(h: np.ndarray) -> float:
        return float(np.sum((y - (v["w3"] * h + v["w4"] * h2 + v["b3"])) ** 2))

    eps = 1e-6
    for k in range(3):
        step = np.eye(3)[k] * eps
        numeric = (ssr(h1 + step) - ssr(h1 - step)) / (2 * eps)
        shown = re.search(rf"dSSR/dh1_{k + 1} = [^\n]*\n  = (\S+)", out).group(1)
        assert float(shown.replace("−", "-")) == pytest.approx(numeric, abs=0.005)


def test_a_matrix_entry_is_written_apart_from_its_name_in_every_format():
    model, loss, x, y = small_mlp(data=True)
    w1 = dict(model.named_parameters())["W1"]
    exp = bl.explain(loss, wrt=w1, index=(1, 0), lr=0.1)  # (out, in): input 1 into unit 2
    latex = exp.to_latex()
    assert r"\left(W_{1}\right)_{2,1}" in latex and r"\left(W_{2}\right)_{1,2}" in latex
    assert "{W_{1}}_{" not in latex and "{W_{2}}_{" not in latex  # W₁₂,₁: two subscripts run together
    assert r"\left(W_{1}\right)_{2,1}" in exp.to_markdown()
    for text in (exp.to_text(), exp.to_html()):
        assert "W1[2,1]" in text and "W2[1,2]" in text
    numeric = bl.central_difference(lambda w: bl.losses.mse(model(x), y), [w1], 0)
    assert float(exp.gradient) == pytest.approx(numeric[1, 0], rel=1e-6)


def test_a_delta_entry_has_the_node_subscript_apart_from_the_entry(capsys):
    code, out, _ = cli(capsys, "explain", "moons", "--param", "W1", "--index", "2,1", "--format", "latex")
    assert code == 0
    assert r"\left(\delta_{z_{1}}\right)_{i,2}" in out and r"\partial \left(W_{1}\right)_{2,1}" in out
    assert r"{\delta_{z_{1}}}_{" not in out
    code, out, _ = cli(capsys, "explain", "moons", "--param", "W1", "--index", "2,1")
    assert "dBCE/dW1[2,1] = Σ_i δ_z1[i,2] · x[i,1]" in out


def test_the_repr_of_an_entry_explanation_names_the_entry():
    model, loss = small_mlp()
    w1 = dict(model.named_parameters())["W1"]
    entry = bl.explain(loss, wrt=w1, index=(2, 1))
    assert repr(entry).startswith("<Explanation dMSE/dW1[3,2] = ")
    assert entry.html_title() == "dMSE/dW1[3,2]"
    whole = bl.explain(loss, wrt=w1)
    assert repr(whole).startswith("<Explanation dMSE/dW1: a (3, 2) array")


ADAM_LINE = "step size (Adam) = learning rate × m̂/(√v̂ + ε) = 0.1 × (−15.66)/(√245.08 + 1e−8) = −0.10"


def terminal_adam_lines(capsys, tmp_path) -> list[str]:
    spec = tmp_path / "adam.toml"
    assert cli(capsys, "new", str(spec), "--from", "statquest")[0] == 0
    code, out, _ = cli(capsys, "run", str(spec), "--set", "optimizer.name=adam", "--max-steps", "6", "--quiet")
    assert code == 0
    return [line for line in out.splitlines() if line.startswith("step size (Adam)")]


def test_the_lesson_document_writes_adam_step_as_the_terminal_does(capsys, tmp_path):
    terminal = terminal_adam_lines(capsys, tmp_path)
    assert terminal[0] == ADAM_LINE
    settings = Settings(preset="statquest", optimizer="adam")
    doc = lesson.build(settings)
    assert ADAM_LINE in doc["cli_lines"]["1"]
    assert "  " + ADAM_LINE in doc["explanations"]["b3"]["1"]["text"].splitlines()
    for k in (2, 5):
        detail = lesson.detail(settings, "b3", k)
        assert terminal[k - 1] in detail["cli_lines"]
        assert "  " + terminal[k - 1] in detail["explanation"]["text"].splitlines()
    exported = lesson.build(settings, everything=True)
    for k in (1, 3):
        assert "  " + terminal[k - 1] in exported["explanations"]["b3"][str(k)]["text"].splitlines()


def test_an_entry_adam_step_reads_the_same_in_the_lesson_document_and_the_terminal(capsys):
    code, out, _ = cli(capsys, "explain", "moons", "--param", "W1", "--index", "1,2", "--iteration", "3")
    assert code == 0
    terminal = next(line for line in out.splitlines() if "step size (Adam)" in line)
    assert re.search(r"= 0\.05 × \S+/\(√\S+ \+ 1e−8\) = ", terminal), terminal
    detail = lesson.detail(Settings(preset="moons"), "W1", 3, index=[0, 1])
    assert terminal in detail["entry"]["text"].splitlines()


def test_the_page_shows_adam_step_with_its_numbers(browser, capsys, tmp_path):
    terminal = terminal_adam_lines(capsys, tmp_path)
    with live_server(Settings()) as url:
        p = Page(browser).open(url + "/#optimizer=adam")
        try:
            p.wait_text("pre.cli-lines", terminal[0])
            p.page.click(".tabs button[data-view=text]")
            p.wait_text("#derivation", terminal[0])
            p.page.click("#step")
            p.wait_iteration(2)
            p.wait_text("pre.cli-lines", terminal[1])
            p.wait_text("#derivation", terminal[1])
            assert p.errors == []
        finally:
            p.close()
