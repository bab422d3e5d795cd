"""The command line: the worked example in text and JSON, help, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backproplab.cli.program import main

from .conftest import assert_clean_error, cli


def run_cli(capsys, *args):
    return cli(capsys, *args)


def normal(text: str) -> str:
    return text.replace("−", "-")


def test_demo_prints_the_worked_example(capsys):
    code, out, _ = run_cli(capsys, "demo", "statquest")
    assert code == 0
    text = normal(out)
    for expected in ("Iteration 1 (b3 = 0.00)", "-2.60", "-1.61", "-2.61", "dSSR/db3 = -15.66",
                     "step size = gradient × learning rate = -15.66 × 0.1 = -1.57",
                     "new b3 = old b3 - step size = 0 - (-1.57) = 1.57",
                     "dSSR/db3 = -6.26", "= 2.19", "b3 ≈ 2.61", "Converged after 12 step(s)"):
        assert expected in text, expected


def test_demo_says_when_rounded_numbers_do_not_add_up(capsys):
    _, out, _ = run_cli(capsys, "demo", "statquest")
    # 1.57 − (−0.63) is 2.20 by hand, but the exact new b3 is 2.1917…
    assert "the rounded numbers shown give 2.20; the exact value is 2.191715" in normal(out)


def test_demo_json_carries_the_seed_numbers(capsys):
    code, out, _ = run_cli(capsys, "demo", "statquest", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["loss"] == "ssr" and data["learning_rate"] == 0.1 and data["optimize"] == ["b3"]
    first, second = data["iterations"][:2]
    assert set(first) == {"iteration", "params", "predictions", "loss", "gradients", "step_sizes", "lr"}
    assert first["iteration"] == 1 and first["lr"] == 0.1 and second["iteration"] == 2
    assert set(first["params"]) == {"w1", "b1", "w2", "b2", "w3", "w4", "b3"}
    assert round(first["gradients"]["b3"], 1) == -15.7
    assert round(first["step_sizes"]["b3"], 2) == -1.57
    assert round(second["params"]["b3"], 2) == 1.57
    assert round(second["gradients"]["b3"], 2) == -6.26
    assert round(data["iterations"][2]["params"]["b3"], 2) == 2.19
    final = data["final"]
    assert round(final["params"]["b3"], 2) == 2.61
    assert final["converged"] is True and final["stopped_by"] == "min_step" and final["steps"] == 12
    assert isinstance(final["loss"], float)


def test_demo_options(capsys):
    code, out, _ = run_cli(capsys, "demo", "statquest", "--optimize", "w3,w4,b3", "--lr", "0.05",
                           "--max-steps", "5", "--min-step", "0", "--json")
    data = json.loads(out)
    assert data["optimize"] == ["w3", "w4", "b3"] and data["learning_rate"] == 0.05
    assert data["final"]["stopped_by"] == "max_steps" and len(data["iterations"]) == 5
    assert set(data["iterations"][0]["gradients"]) == {"w3", "w4", "b3"}
    code, out, _ = run_cli(capsys, "demo", "statquest", "--optimize", "all", "--max-steps", "3")
    assert code == 0 and "Stopped after 3 step(s)" in out and "new w1" in out


def test_long_runs_are_abbreviated_and_every_k_shows_more(capsys):
    _, out, _ = run_cli(capsys, "demo", "statquest", "--optimize", "all", "--max-steps", "50")
    assert "not shown" in out and "Iteration 50" in out and "Iteration 10 " not in out
    _, out, _ = run_cli(capsys, "demo", "statquest", "--optimize", "all", "--max-steps", "50", "--every", "10")
    assert "Iteration 11 " in out and "Iteration 12 " not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "statquest", "--optimize", "b4"], "unknown parameter 'b4'"),
        (["demo", "statquest", "--optimize", "b33"], "did you mean 'b3'?"),
        (["demo", "statquest", "--lr", "-0.1"], "must be a positive number"),
        (["demo", "statquest", "--lr", "abc"], "'abc' is not a number"),
        (["demo", "statquest", "--max-steps", "0"], "must be 1 or more"),
        (["demo", "statquest", "--min-step", "x"], "'x' is not a number"),
        (["demo", "nosuch"], "invalid choice"),
        (["demo", "statquest", "--optimize", ","], "at least one parameter name"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(capsys, args, message):
    assert_clean_error(capsys, args, message)


def test_help_is_clear(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "backproplab demo statquest" in out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    for option in ("--optimize", "--lr", "--max-steps", "--min-step", "--json", "--digits"):
        assert option in out


def test_console_script_runs_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "backproplab", "demo", "statquest", "--optimize", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "backproplab", "demo", "statquest", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["final"]["converged"]


def test_explain_command_reproduces_the_seed_derivation(capsys):
    code, out, _ = run_cli(capsys, "explain", "statquest", "--param", "b3")
    text = normal(out)
    assert code == 0
    assert "-2 × (0 - (-2.60)) × 1 + -2 × (1 - (-1.61)) × 1 + -2 × (0 - (-2.61)) × 1" in text
    assert "new b3 = old b3 - step size = 0 - (-1.57) = 1.57" in text


def test_explain_w1_at_a_later_step_with_all_parameters(capsys):
    code, out, _ = run_cli(capsys, "explain", "statquest", "--param", "w1", "--step", "3", "--optimize", "all")
    assert code == 0
    assert "iteration 3" in out and "dSSR/dw1 = Σ_i dSSR/dŷ_i · dŷ_i/dh1_i · dh1_i/dz1_i · dz1_i/dw1" in out


@pytest.mark.parametrize("fmt", ["md", "latex", "html", "json"])
def test_explain_formats(capsys, fmt):
    code, out, _ = run_cli(capsys, "explain", "statquest", "--param", "b3", "--format", fmt)
    assert code == 0
    marker = {"md": "$$", "latex": "\\documentclass", "html": "<!DOCTYPE html>", "json": '"wrt": "b3"'}[fmt]
    assert marker in out


def test_demo_explain_narrates_the_whole_run(capsys):
    code, out, _ = run_cli(capsys, "demo", "statquest", "--explain", "--every", "1")
    text = normal(out)
    assert code == 0 and text.count("dSSR/db3 = Σ_i") == 12
    assert "when b3 ≈ 2.61 the gradient is ≈ 0" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "statquest", "--param", "b9"], "unknown parameter 'b9'; did you mean 'b3'?"),
        (["explain", "statquest", "--param", "b3", "--step", "50"], "choose --iteration from 1 to 12"),
        (["explain", "statquest", "--param", "b3", "--iteration", "13"], "choose --iteration from 1 to 12"),
        (["explain", "statquest", "--param", "b3", "--iteration", "0"], "must be 1 or more"),
        (["explain", "statquest", "--param", "b3", "--step", "-1"], "must be 1 or more"),
        (["explain", "statquest", "--param", "b3", "--iteration", "7", "--max-steps", "5"],
         "stopped after 5 iteration(s); choose --iteration from 1 to 5"),
        (["plot", "statquest", "predictions", "--iteration", "13", "-o", "p.png"], "choose --iteration from 1 to 12"),
        (["explain", "statquest", "--param", "b3", "--format", "pdf"], "invalid choice"),
        (["explain", "statquest"], "--param"),
        (["demo", "statquest", "--json", "--explain"], "not allowed with"),
        (["explain", "moons", "--param", "W1", "--index", "1,3"],
         "--index 1,3 does not fit W1, which has shape (16, 2)"),
        (["explain", "statquest", "--param", "b3", "--index", "1"], "it is a single number"),
    ],
)
def test_explain_bad_arguments(capsys, args, message):
    assert_clean_error(capsys, args, message)


def test_demo_plot_writes_every_figure(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo", "statquest", "--plot", str(tmp_path / "figs"), "--svg", "--dpi", "40")
    assert code == 0
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    for stem in ("ssr-vs-b3", "predictions-iteration-1-and-2", "loss-per-iteration", "network-final-values",
                 "contour-ssr-over-w3-and-b3"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
    assert "computation-graph.svg" in names or "computation-graph.dot" in names
    assert "index.md" in names
    assert "wrote" in err


def test_plot_and_graph_commands(capsys, tmp_path):
    assert run_cli(capsys, "plot", "statquest", "loss-curve", "--param", "b3", "-o", str(tmp_path / "a.png"))[0] == 0
    assert (tmp_path / "a.png").stat().st_size > 5000
    code, _, err = run_cli(capsys, "plot", "statquest", "animation", "--param", "b3", "-o", str(tmp_path / "d.gif"))
    assert code == 0 and "13 frames" in err
    code, _, err = run_cli(capsys, "graph", "statquest", "-o", str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")
    code, _, _ = run_cli(capsys, "plot", "statquest", "contour", "--params", "w3,b3", "-o", str(tmp_path / "c.svg"))
    assert code == 0 and "<svg" in (tmp_path / "c.svg").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot", "statquest", "loss-curve", "--param", "w9", "-o", "x.png"], "unknown parameter 'w9'"),
        (["plot", "statquest", "animation", "--param", "w1", "-o", "x.gif"], "add --optimize w1"),
        (["plot", "statquest", "loss-curve", "-o", "x.jpg"], "use .png, .svg or .pdf"),
        (["plot", "statquest", "animation", "-o", "x.png"], ".gif or .mp4"),
        (["plot", "statquest", "contour", "--params", "w3", "-o", "x.png"], "two names"),
        (["plot", "statquest", "bars", "-o", "x.png"], "invalid choice"),
        (["graph", "statquest", "-o", "g.jpg"], "unknown graph format"),
    ],
)
def test_plot_bad_arguments(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(capsys, args, message)


def test_long_runs_show_a_progress_bar_on_a_terminal(monkeypatch):
    import io

    from rich.console import Console

    from backproplab.cli import commands

    screen = io.StringIO()
    monkeypatch.setattr(commands, "Console", lambda **kw: Console(file=screen, force_terminal=True, width=80))
    code = main(["demo", "statquest", "--optimize", "all", "--max-steps", "300"])
    assert code == 0
    assert "training" in screen.getvalue() and "300" in screen.getvalue()
