"""The forward pass as a table, gradients at nodes inside the network, headers that name the
optimizer, Adam's step worked out, and the samples table for CSV data."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor, losses, ops

from .conftest import assert_clean_error, cli

X, Y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
W = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}


def by_hand(b3: float = 0.0) -> dict[str, np.ndarray]:
    """The dosage network's forward pass written out in NumPy, independent of the engine."""
    z1, z2 = W["w1"] * X + W["b1"], W["w2"] * X + W["b2"]
    h1, h2 = np.log1p(np.exp(z1)), np.log1p(np.exp(z2))
    yhat = W["w3"] * h1 + W["w4"] * h2 + b3
    return {"z1": z1, "h1": h1, "z2": z2, "h2": h2, "yhat": yhat, "residual": Y - yhat, "squared": (Y - yhat) ** 2}


def test_forward_table_values_and_formulas():
    net, (x, y) = bl.presets.statquest()
    table = bl.forward_table(net, x, y, "ssr")
    hand = by_hand()
    columns = {c["name"]: c for c in table.details["columns"]}
    assert list(columns) == ["x_i", "z1_i", "h1_i", "z2_i", "h2_i", "ŷ_i", "y_i", "residual", "squared"]
    for name, key in [("z1_i", "z1"), ("h1_i", "h1"), ("z2_i", "z2"), ("h2_i", "h2"), ("ŷ_i", "yhat"),
                      ("residual", "residual"), ("squared", "squared")]:
        assert np.allclose(columns[name]["values"], hand[key], rtol=0, atol=1e-12), name
    assert table.value == pytest.approx(hand["squared"].sum(), abs=1e-12)
    # each column headed by its formula, written from the op table's expression templates
    assert columns["h1_i"]["formula"] == ops.softplus_op.render("text", "expr", {ops.softplus_op.args[0]: "z1_i"})
    assert columns["residual"]["formula"] == ops.sub.render("text", "expr", {"a": "y_i", "b": "ŷ_i"})
    assert columns["z1_i"]["formula"] == ops.add.render("text", "expr", {
        "a": ops.mul.render("text", "expr", {"a": "w1", "b": "x_i"}), "b": "b1"})
    text = table.to_text().replace("−", "-")
    squares = " + ".join(f"{v:.2f}" for v in hand["squared"])
    assert f"SSR = Σ (y_i - ŷ_i)² = {squares} = {hand['squared'].sum():.2f}" in text
    assert repr(table).startswith("<ForwardTable SSR = 20.42, 3 sample(s)")


def test_forward_command_in_every_format(capsys):
    hand = by_hand(b3=-0.1 * (-2 * hand_residual_sum()))  # b3 after one step: 0 − 0.1 × dSSR/db3
    docs = {}
    for fmt in ("text", "md", "latex", "html", "json"):
        code, out, _ = cli(capsys, "forward", "statquest", "--iteration", "2", "--format", fmt)
        assert code == 0
        docs[fmt] = out
    data = json.loads(docs["json"])
    assert data["iteration"] == 2 and data["value"] == pytest.approx(hand["squared"].sum(), abs=1e-12)
    shown = f"{hand['squared'].sum():.2f}"
    for fmt in ("text", "md", "latex", "html"):
        assert "iteration 2" in docs[fmt] and shown in docs[fmt], fmt
    assert "| $\\text{sample}$ |" in docs["md"] and "\\begin{tabular}" in docs["latex"] and "<table>" in docs["html"]
    assert_clean_error(capsys, ["forward", "statquest", "--iteration", "40"], "choose --iteration from 1 to 13")


def hand_residual_sum() -> float:
    return float(by_hand()["residual"].sum())


def test_forward_table_leaves_out_wide_layers_and_shortens_long_tables():
    preset = bl.presets.get_preset("moons")
    net, (x, y) = preset.build()
    table = bl.forward_table(net, x, y, "bce")
    text = table.to_text()
    assert "… 90 more" in text and "left out of the table" in text and "(16 per sample)" in text
    assert table.value == pytest.approx(float(losses.bce_with_logits(net(Tensor(x)), Tensor(y)).data), abs=1e-12)


def test_node_gradients_for_each_sample(capsys):
    hand = by_hand()
    expected = -2 * (Y - hand["yhat"]) * W["w3"]  # dSSR/dh1_i = dSSR/dŷ_i · dŷ_i/dh1_i
    code, out, _ = cli(capsys, "explain", "statquest", "--node", "h1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert np.allclose(data["gradient"], expected, rtol=0, atol=1e-12)
    assert [e["value"] for e in data["entries"]] == pytest.approx(list(expected), abs=1e-12)
    code, out, _ = cli(capsys, "explain", "statquest", "--node", "h1")
    text = out.replace("−", "-")
    for i in range(3):
        assert f"dSSR/dh1_{i + 1} = -2 × ({Y[i]:g} - ({hand['yhat'][i]:.2f})) × (-1.22)" in text
    assert "dSSR/dh1 = [" + ", ".join(f"{v:.2f}" for v in expected) + "]" in text
    assert_clean_error(capsys, ["explain", "statquest", "--node", "hh1"], "unknown node 'hh1'; did you mean 'h1'?")
    assert_clean_error(capsys, ["explain", "statquest"], "--param NAME")
    assert_clean_error(capsys, ["explain", "statquest", "--param", "b3", "--node", "h1"], "one of the two")


def test_headers_name_the_optimizer_and_what_it_trains(capsys):
    _, out, _ = cli(capsys, "demo", "statquest", "--optimize", "all", "--max-steps", "2")
    assert "Gradient descent on w1, b1, w2, b2, w3, w4, b3" in out and "on b3" not in out.split("\n")[0]
    _, out, _ = cli(capsys, "demo", "xor", "--max-steps", "2")
    assert "Adam on W1, b1, W2, b2" in out and "Gradient descent" not in out


def test_no_heading_names_an_optimizer_the_run_does_not_use(capsys):
    """The title comes from the spec's description: with the optimizer overridden, nothing may still say Adam."""
    from backproplab.optim import OPTIMIZERS
    from backproplab.spec.presets import PRESETS

    for name in PRESETS:
        _, out, _ = cli(capsys, "run", name, "--set", "optimizer.name=sgd", "--max-steps", "1")
        head = out.split("Iteration 1")[0]
        assert "SGD on" in head, (name, head)
        others = [o.replace("_", " ") for o in OPTIMIZERS if o != "sgd"] + ["Adam"]
        assert not any(o.lower() in head.lower() for o in others), (name, head)


def manual_adam(grads: list[float], lr: float, b1=0.9, b2=0.999, eps=1e-8) -> list[tuple[float, float, float]]:
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        out.append((mh, vh, lr * mh / (math.sqrt(vh) + eps)))
    return out


def test_adams_step_is_worked_out_with_its_moments(capsys):
    _, out, _ = cli(capsys, "demo", "xor", "--max-steps", "3", "--json")
    trace = json.loads(out)
    grads = [it["gradients"]["b2"][0] for it in trace["iterations"]]
    expected = manual_adam(grads, trace["learning_rate"])
    assert [it["step_sizes"]["b2"][0] for it in trace["iterations"]] == pytest.approx([e[2] for e in expected])
    _, out, _ = cli(capsys, "demo", "xor", "--max-steps", "3")
    lines = re.findall(r"step size \(Adam\) = learning rate × m̂/\(√v̂ \+ ε\) = 0\.1 × \(?(\S+?)\)?/\(√(\S+) \+ 1e−8\) = "
                       r"(\S+)", out)
    assert len(lines) == 3
    for (m_text, v_text, s_text), (m, v, s) in zip(lines, expected):
        for text, value in ((m_text, m), (v_text, v), (s_text, s)):
            shown = float(text.replace("−", "-").replace("e-", "e-"))
            assert abs(shown - value) <= 0.05 * abs(value), (text, value)


def test_the_samples_table_shows_for_csv_data(capsys, tmp_path):
    (tmp_path / "d.csv").write_text("dose,eff\n0,0\n0.5,1\n1,0\n", encoding="utf-8")
    text = bl.presets.get_preset("statquest").text
    start = text.index("[data]")
    end = text.index("\n[", start + 1)
    spec = text[:start] + '[data]\ncsv = "d.csv"\nx = ["dose"]\ny = "eff"\n' + text[end:]
    (tmp_path / "m.toml").write_text(spec, encoding="utf-8")
    code, out, _ = cli(capsys, "run", str(tmp_path / "m.toml"), "--max-steps", "2")
    assert code == 0
    rows = re.findall(r"│\s+(\d)\s+│\s+(\S+)\s+│\s+(\S+)\s+│\s+(\S+)\s+│", out)
    hand = by_hand()
    assert [(r[0], r[1], r[2]) for r in rows[:3]] == [("1", "0", "0"), ("2", "0.5", "1"), ("3", "1", "0")]
    assert [float(r[3].replace("−", "-")) for r in rows[:3]] == pytest.approx(list(hand["yhat"]), abs=0.005)


def test_the_final_loss_is_shown_to_its_significant_figures(capsys):
    _, out, _ = cli(capsys, "demo", "statquest", "--json")
    final = json.loads(out)["final"]["loss"]
    _, out, _ = cli(capsys, "demo", "statquest")
    shown = re.search(r"final SSR = (\S+)\n", out).group(1).replace("−", "-")
    assert float(shown) == pytest.approx(final, rel=5e-4)  # 6.282e−5, not 0.0001


def test_names_cannot_restyle_the_terminal_report():
    from rich.console import Console

    from backproplab.explain.terminal import render_run

    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1, max_steps=2).fit(net, x, y, "ssr")
    trace.optimize = ["[red]b3[/red]"]
    renamed = list(trace.iterations)  # items are made on demand from the stored rows: rename copies
    for it in renamed:
        for table in (it.params, it.gradients, it.step_sizes):
            table["[red]b3[/red]"] = table.pop("b3")
    trace.iterations = renamed
    trace.final.params["[red]b3[/red]"] = trace.final.params.pop("b3")
    console = Console(record=True, width=200)
    render_run(trace, console, title="[blink]dosage[/blink]")
    text = console.export_text()
    assert "[red]b3[/red] = 0.00" in text and "dSSR/d[red]b3[/red] = " in text and "[blink]dosage[/blink]" in text


def test_explain_works_out_adams_step_as_the_run_took_it(capsys):
    _, out, _ = cli(capsys, "demo", "xor", "--max-steps", "3", "--json")
    trace = json.loads(out)
    grads = [it["gradients"]["b2"][0] for it in trace["iterations"]]
    m, v, step = manual_adam(grads, trace["learning_rate"])[2]
    old = trace["iterations"][2]["params"]["b2"][0]
    _, out, _ = cli(capsys, "explain", "xor", "--param", "b2", "--iteration", "3", "--format", "json")
    data = json.loads(out)
    assert data["step"]["step_size"] == pytest.approx(step, rel=1e-12) and data["step"]["old"] == pytest.approx(old)
    _, out, _ = cli(capsys, "explain", "xor", "--param", "b2", "--iteration", "3")
    numbers = re.search(r"= 0\.1 × \(?(\S+?)\)?/\(√(\S+) \+ 1e−8\) = (\S+)\n", out).groups()
    for text, value in zip(numbers, (m, v, step)):
        assert abs(float(text.replace("−", "-")) - value) <= 0.05 * abs(value)


def test_long_samples_tables_show_their_first_and_last_rows(capsys):
    for args in (["demo", "regression", "--max-steps", "1"], ["demo", "regression", "--max-steps", "1", "--explain"]):
        _, out, _ = cli(capsys, *args)
        assert out.count("… 30 more") == 1, args  # 40 samples: 8 first, 2 last, and the count between
        assert re.search(r"\b40\s+(│\s+)?3\s", out) and not re.search(r"\n[│ ]+\s20\s", out)
