"""A mistake in the input and a bug in backproplab are told apart.

A mistake (a flag, a spec, a file, a figure asked for) is one line naming it and exit code 2; the
error behind it is an ``InputError``. Anything else is a bug: one line that says so and how to see the
traceback (``--debug``), exit code 1; ``--debug`` shows the traceback itself.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import backproplab
from backproplab.cli import program
from backproplab.spec.presets import PRESETS
from backproplab.util.messages import InputError
from tests.conftest import cli

SRC = Path(backproplab.__file__).parent
STATQUEST = PRESETS["statquest"].text
MODEL = """import torch


def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
"""
FILES = {  # written in the working folder of each case
    "typo.toml": STATQUEST.replace("[network.parameters]", "[network.parameter]"),
    "formula.toml": STATQUEST.replace('h1 = "softplus(z1)"', 'h1 = "softplus(z1 * * 2)"'),
    "tower.toml": STATQUEST.replace('yhat = "w3 * h1 + w4 * h2 + b3"', 'yhat = "exp(w3 * h1) + w4 * h2 + b3"'),
    "labels.toml": PRESETS["moons"].text.replace('loss = "bce"', 'loss = "cross_entropy"'),
    "wide.csv": "a,b,c,y\n1,2,3,4\n2,3,4,5\n",
    "model.py": MODEL,
    "taken.toml": STATQUEST,
}

# (command line, words the one line must hold); each reaches a command, below argparse
MISTAKES = [
    (["demo", "statquest", "--optimize", "b4"], "unknown parameter 'b4'"),
    (["run", "taken.toml", "--set", "optimizer.lr=abc"], "optimizer.lr"),
    (["demo", "moons", "--memory-limit", "0.000001"], "--memory-limit"),
    (["demo", "statquest", "--save", "."], "it is a folder"),
    (["run", "none.toml"], "no such file"),
    (["run", "typo.toml"], "network.parameter"),
    (["run", "formula.toml"], "h1"),
    (["run", "labels.toml"], "class labels"),
    (["forward", "statquest", "--iteration", "40"], "choose --iteration from 1 to"),
    (["explain", "statquest", "--param", "b9"], "did you mean 'b3'?"),
    (["explain", "statquest"], "--param NAME"),
    (["explain", "statquest", "--param", "b3", "--iteration", "13"], "choose --iteration from 1 to 12"),
    (["explain", "moons", "--param", "W1", "--index", "1,3"], "does not fit W1"),
    (["explain", "model.py:build", "--param", "0.weight"], "--data FILE.csv"),
    (["explain", "model.py:build", "--param", "0.weight", "--data", "wide.csv"], "takes 2 input features"),
    (["explain", "model.py:nothing", "--param", "0.weight", "--data", "wide.csv"], "has no function 'nothing'"),
    (["explain", "statquest", "--param", "b3", "--data", "wide.csv"], "--data and --loss are for a PyTorch model"),
    (["plot", "statquest", "loss-curve", "--param", "w9", "-o", "x.png"], "unknown parameter 'w9'"),
    (["plot", "statquest", "animation", "--param", "w1", "-o", "x.gif"], "add --optimize w1"),
    (["plot", "statquest", "loss-curve", "-o", "x.jpg"], "use .png, .svg or .pdf"),
    (["plot", "statquest", "animation", "-o", "x.png"], ".gif or .mp4"),
    (["plot", "statquest", "contour", "--params", "w3", "-o", "x.png"], "two names"),
    (["plot", "statquest", "contour", "--params", "w3,w3", "-o", "x.png"], "twice"),
    (["plot", "statquest", "predictions", "--iteration", "13", "-o", "p.png"], "choose --iteration from 1 to 12"),
    (["plot", "statquest", "decision-boundary", "-o", "d.png"], "needs class labels"),
    (["plot", "tower.toml", "network", "-o", "n.png"], "no layer structure to draw"),
    (["graph", "statquest", "-o", "g.jpg"], "unknown graph format"),
    (["graph", "statquest", "-o", "/dev/full"], "cannot write /dev/full"),
    (["export-figures", "statquest", "taken.toml/figs"], "cannot"),
    (["export-torch", "statquest", "-o", "x.txt"], "a .pt file"),
    (["new", "taken.toml"], "already exists"),
    (["new", "mine.txt"], "ends in .toml"),
    (["export", "statquset", "-o", "x.html"], "statquest"),
    (["export", "none.toml", "-o", "x.html"], "no such file"),
    (["serve", "statquest", "--max-steps", "9999", "--no-browser"], "more than this page allows"),
]
PARSER_MISTAKES = [  # refused by argparse before any command runs
    (["demo", "nosuch"], "invalid choice"),
    (["demo", "statquest", "--lr", "-0.1"], "must be a positive number"),
    (["explain", "statquest", "--param", "b3", "--format", "pdf"], "invalid choice"),
]


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def ids(cases: list[tuple[list[str], str]]) -> list[str]:
    return [" ".join(args)[:60] for args, _ in cases]


@pytest.mark.parametrize(("args", "words"), MISTAKES + PARSER_MISTAKES, ids=ids(MISTAKES + PARSER_MISTAKES))
def test_a_mistake_in_the_input_is_one_line_and_exit_code_2(capsys, folder, args, words):
    code, out, err = cli(capsys, *args)
    line = one_line(err)
    assert code == 2 and out == "", (code, err)
    assert line.startswith(f"backproplab {args[0]}: error: ") and words in line, line
    assert "bug" not in line


@pytest.mark.parametrize(("args", "words"), MISTAKES, ids=ids(MISTAKES))
def test_the_error_behind_each_mistake_is_an_input_error(capsys, folder, args, words):
    with pytest.raises(InputError) as caught:
        program.main([*args, "--debug"])
    assert words in str(caught.value)


def patched(monkeypatch, command: str, exc: BaseException) -> None:
    def broken(args, console):
        raise exc

    monkeypatch.setitem(program.COMMANDS, command, broken)


BUGS = [
    ValueError("operands could not be broadcast together with shapes (3,) (2,)"),
    ZeroDivisionError("division by zero"),
    KeyError("w1"),
    TypeError("unsupported operand type(s) for +: 'NoneType' and 'float'"),
    IndexError("index 3 is out of bounds\nfor axis 0 with size 3"),
]


@pytest.mark.parametrize("exc", BUGS, ids=lambda e: type(e).__name__)
def test_a_bug_is_said_to_be_one_in_one_line_with_exit_code_1(capsys, monkeypatch, exc):
    patched(monkeypatch, "forward", exc)
    code, out, err = cli(capsys, "forward", "statquest", "--iteration", "2")
    line = one_line(err)
    assert code == 1 and out == ""
    assert line.startswith("backproplab forward: a bug in backproplab stopped it (")
    assert f"({type(exc).__name__}: " in line and "error:" not in line
    assert "run backproplab forward statquest --iteration 2 --debug to see the traceback" in line


def test_a_bug_names_a_command_line_that_runs_again_as_given(capsys, monkeypatch, tmp_path):
    patched(monkeypatch, "run", ZeroDivisionError("division by zero"))
    spec = tmp_path / "my spec.toml"
    code, _, err = cli(capsys, "run", str(spec), "--lr", "0.5")
    assert code == 1 and f"run backproplab run '{spec}' --lr 0.5 --debug to see" in one_line(err)
    code, _, err = cli(capsys, "run", "x" * 300)
    assert code == 1 and "run the same command with --debug to see the traceback" in one_line(err)


def test_a_bug_below_a_command_is_not_taken_for_a_mistake(capsys, monkeypatch, tmp_path):
    """A ValueError raised by a bug while the figures are drawn used to be said as a mistake (exit 2)."""
    from backproplab.plots import figures

    def broken(*args, **kwargs):
        raise ValueError("x and y must have same first dimension, but have shapes (3,) and (4,)")

    def refused(*args, **kwargs):
        raise figures.FigureError("a contour map needs two single-number parameters")

    monkeypatch.setattr(figures, "write_all", broken)
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "2", "--plot", str(tmp_path / "figs"), "-q")
    line = one_line(err)
    assert code == 1 and "a bug in backproplab" in line and "ValueError: x and y must have same" in line
    monkeypatch.setattr(figures, "write_all", refused)
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "2", "--plot", str(tmp_path / "figs"), "-q")
    assert code == 2
    assert one_line(err) == ("backproplab demo: error: a figure could not be drawn: a contour map needs two "
                             "single-number parameters")


@pytest.mark.parametrize("exc", BUGS[:2], ids=lambda e: type(e).__name__)
def test_debug_raises_the_bug_itself(capsys, monkeypatch, exc):
    patched(monkeypatch, "forward", exc)
    with pytest.raises(type(exc)) as caught:
        program.main(["forward", "statquest", "--debug"])
    assert caught.value is exc


def test_debug_shows_the_traceback_in_a_real_process():
    script = ("import sys; from backproplab.cli import program\n"
              "def broken(args, console):\n    return 1 / 0\n"
              "program.COMMANDS['forward'] = broken\n"
              "sys.exit(program.main(sys.argv[1:]))\n")
    plain = subprocess.run([sys.executable, "-c", script, "forward", "statquest"], capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.count("\n") == 1 and "ZeroDivisionError: division by zero" in plain.stderr
    debug = subprocess.run([sys.executable, "-c", script, "forward", "statquest", "--debug"], capture_output=True,
                           text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "in broken" in debug.stderr and debug.stderr.strip().endswith("ZeroDivisionError: division by zero")


# Errors the package defines that are not about someone's input, each with why.
NOT_INPUT = {
    # the engine's own checks, for a script that calls it (like NumPy's and PyTorch's); from the command line a
    # spec is checked before the engine sees it, so one that reaches main is a bug
    "backproplab.engine.ops.base.ArgumentError", "backproplab.engine.tensor.ShapeError",
    "backproplab.nn.losses.LabelError",
    "backproplab.explain.paths.TooManyPathsError",  # a signal inside the explainer, said as an ExplainError
    "backproplab.bridge._torch.TorchMissingError",  # an ImportError: the command line says it as a UsageError
    "backproplab.lesson.document._TimeUpError", "backproplab.lesson.server.TimeUp",  # a budget ran out
    "backproplab.train.loop.Interrupted",  # Ctrl-C during a run: the steps so far are kept
}
INPUT_ERRORS = {
    "InputError", "SpecError", "SettingsError", "FormulaError", "TraceError", "WriteError", "MemoryLimitError",
    "LessonError", "TorchBridgeError", "NotLayeredError", "UsageError", "FigureError", "ExplainError",
    "SlidesError", "HandoutError", "LatexError", "TypesetError",
}


def package_errors() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages([str(SRC)], "backproplab."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_error_the_package_defines_is_an_input_error_or_said_why_not():
    errors = package_errors()
    short = {name.rsplit(".", 1)[1] for name in errors}
    assert INPUT_ERRORS <= short, INPUT_ERRORS - short
    for name, cls in errors.items():
        if name.rsplit(".", 1)[1] in INPUT_ERRORS:
            assert issubclass(cls, InputError) and issubclass(cls, ValueError), name
        else:
            assert name in NOT_INPUT, f"{name}: make it an InputError, or say in NOT_INPUT why it is not one"
    assert set(NOT_INPUT) <= set(errors), set(NOT_INPUT) - set(errors)


# A plain ValueError left in these layers is a bug when it reaches the command line: each that is left is not
# about someone's input (code the explainer writes, a signal caught nearby).
PLAIN_VALUE_ERRORS = {
    "explain/document.py": 1,  # a block kind with no renderer: the explainer's own mistake
    "plots/minimum.py": 1,  # the point of a minimum that has none: the caller's mistake, in the figures' code
    "cli/bridge.py": 1,  # caught at once and said as a UsageError naming the user's file
    "bridge/export.py": 1,  # inside the Python file the export writes, not raised here
}


def test_the_layers_that_read_input_raise_input_errors():
    raised = {}
    for folder in ("spec", "explain", "plots", "lesson", "bridge", "cli"):
        for path in (SRC / folder).rglob("*.py"):
            count = len(re.findall(r"raise ValueError\(", path.read_text(encoding="utf-8")))
            if count:
                raised[path.relative_to(SRC).as_posix()] = count
    assert raised == PLAIN_VALUE_ERRORS


def test_callers_that_catch_value_error_still_catch_each_input_error(tmp_path):
    from backproplab.spec import spec

    with pytest.raises(ValueError, match="no such file") as caught:
        spec.read(tmp_path / "none.toml")
    assert isinstance(caught.value, spec.SpecError) and isinstance(caught.value, InputError)
