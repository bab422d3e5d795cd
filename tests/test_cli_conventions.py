"""The command line's conventions: -q/--quiet and --color on every command, shell completion, and
--json written by orjson (when installed) with the very bytes json writes."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest

from backproplab.cli import fastjson, runs
from backproplab.cli.program import build_parser
from backproplab.spec.presets import PRESETS

from .conftest import cli

HAS_ORJSON = importlib.util.find_spec("orjson") is not None
HAS_SHTAB = importlib.util.find_spec("shtab") is not None
ESC = "\x1b["


def command_parsers() -> dict:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(sub.choices)


def test_every_command_takes_quiet_and_color_and_says_so_in_its_help():
    parsers = command_parsers()
    assert "completion" in parsers
    for name, parser in parsers.items():
        text = parser.format_help()
        for option in ("-q, --quiet", "--color {auto,always,never}", "--debug"):
            assert option in text, (name, option)
    assert "--color" in build_parser().format_help()


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_options_work_before_or_after_the_command(where):
    options = ["-q", "--color", "never"]
    argv = options + ["presets"] if where == "before" else ["presets"] + options
    args = build_parser().parse_args(argv)
    assert args.quiet is True and args.color == "never" and args.command == "presets"
    args = build_parser().parse_args(["presets"])
    assert args.quiet is False and args.color == "auto" and args.debug is False


def test_color_never_writes_no_escape_code_and_always_colours_a_pipe(capsys):
    code, out, _ = cli(capsys, "presets", "--color", "always")  # capsys is a pipe, not a terminal
    assert code == 0 and ESC in out
    code, out, _ = cli(capsys, "presets", "--color", "never")
    assert code == 0 and ESC not in out and "statquest" in out
    code, out, _ = cli(capsys, "demo", "statquest", "--color", "always")
    assert code == 0 and ESC in out
    code, out, err = cli(capsys, "demo", "statquest", "--color", "never")
    assert code == 0 and ESC not in out + err and "Converged" in out


def test_color_auto_colours_a_terminal_unless_no_color_is_set(capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, _ = cli(capsys, "presets")
    assert code == 0 and ESC not in out  # a pipe: no colour
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then takes the output for a terminal
    code, out, _ = cli(capsys, "presets")
    assert code == 0 and ESC in out
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = cli(capsys, "presets", "--color", "auto")
    assert code == 0 and ESC not in out
    code, out, _ = cli(capsys, "presets", "--color", "always")  # always wins over NO_COLOR
    assert code == 0 and ESC in out


def test_quiet_presets_is_the_list_only(capsys):
    _, loud, _ = cli(capsys, "presets", "--color", "never")
    code, out, err = cli(capsys, "presets", "-q", "--color", "never")
    assert code == 0 and err == ""
    assert "backproplab demo NAME" in loud and "backproplab demo NAME" not in out
    assert all(name in out for name in PRESETS)


def test_quiet_new_says_only_the_file_it_wrote(capsys, tmp_path):
    path = tmp_path / "mynet.toml"
    code, out, err = cli(capsys, "new", str(path), "--quiet")
    assert code == 0 and out == "" and err == f"wrote {path}\n" and path.is_file()
    code, out, err = cli(capsys, "new", str(path), "--force")
    assert code == 0 and err.startswith(f"wrote {path}; edit it")


def test_quiet_run_keeps_the_json_and_drops_the_notes(capsys):
    args = ("demo", "statquest", "--optimize", "all", "--max-steps", "10001", "--min-step", "0", "--json")
    code, out, err = cli(capsys, *args)
    assert code == 0 and "note: a run of up to 10001 steps keeps every 2th iteration" in err
    code, quiet, err = cli(capsys, *args, "-q")
    assert code == 0 and err == "" and quiet == out


def test_quiet_text_report_is_the_report(capsys):
    _, loud, _ = cli(capsys, "demo", "statquest")
    code, out, err = cli(capsys, "demo", "statquest", "--quiet")
    assert code == 0 and err == "" and out == loud and "Converged after 12 step(s)" in out


def test_quiet_save_still_names_the_file_it_wrote(capsys, tmp_path):
    path = tmp_path / "trace.json"
    code, out, err = cli(capsys, "-q", "demo", "statquest", "--save", str(path))
    assert code == 0 and err == f"wrote {path}\n" and path.is_file() and "Converged" in out


@pytest.mark.skipif(not HAS_SHTAB, reason='shtab is not installed (pip install "backproplab[completion]")')
@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_script_names_the_commands_and_presets(capsys, shell):
    code, out, err = cli(capsys, "completion", shell)
    assert code == 0 and err == ""
    assert "backproplab" in out
    for name in ("demo", "export-figures", "completion", *PRESETS):
        assert name in out, (shell, name)
    if shell == "bash":
        assert "complete " in out and "--quiet" in out and "--color" in out


def test_completion_without_shtab_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab now fails as when it is not installed
    code, out, err = cli(capsys, "completion", "bash")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and 'pip install "backproplab[completion]"' in err


def test_completion_needs_a_shell_it_knows(capsys):
    code, out, err = cli(capsys, "completion", "fish")
    assert code == 2 and "invalid choice: 'fish'" in err and err.count("\n") == 1


def json_both_ways(capsys, monkeypatch, *args: str) -> tuple[str, str]:
    """The command's --json output with orjson (when installed) and with json alone."""
    code, fast, _ = cli(capsys, *args, "--json", "-q")
    assert code == 0
    monkeypatch.setattr(runs, "fast_dumps", lambda: None)
    code, plain, _ = cli(capsys, *args, "--json", "-q")
    assert code == 0
    monkeypatch.undo()
    return fast, plain


@pytest.mark.parametrize("args", [("demo", "statquest"), ("demo", "moons", "--max-steps", "2000")])
def test_json_is_the_same_bytes_with_or_without_orjson(capsys, monkeypatch, args):
    fast, plain = json_both_ways(capsys, monkeypatch, *args)
    assert fast == plain
    assert plain == json.dumps(json.loads(plain)) + "\n"  # json's own spacing and number forms
    if args[1] == "moons":
        assert "e-0" in plain  # small gradients: the numbers orjson writes differently are there to mend


@pytest.mark.skipif(not HAS_ORJSON, reason='orjson is not installed (pip install "backproplab[fast]")')
def test_orjson_dumps_matches_json_for_every_kind_of_number():
    import orjson
    from hypothesis import given, settings
    from hypothesis import strategies as st

    dumps = fastjson.make_dumps(orjson)
    assert fastjson.fast_dumps() is not None
    edges = [0.0, -0.0, 1e-5, -1e-5, 9.99e-5, 1e-4, 1.5e-7, 1e-10, 1e-100, 5e-324, 1e15, 1e16, 1e22, "\x7f",
             1.7976931348623157e308, 10.00001, 0.1, 2**70, True, None, "é", "a\\b", "k:1,2", "1e-5"]
    for value in edges:
        assert dumps([value, {"x,y": value}]) == json.dumps([value, {"x,y": value}]), value

    @settings(max_examples=2000, deadline=None)
    @given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63 - 1)),
           st.dictionaries(st.text(max_size=6), st.floats(allow_nan=False, allow_infinity=False), max_size=4))
    def same(values, mapping):
        assert dumps({"values": values, "m": mapping}) == json.dumps({"values": values, "m": mapping})

    same()


@pytest.mark.skipif(not HAS_ORJSON, reason='orjson is not installed (pip install "backproplab[fast]")')
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_orjson_dumps_refuses_what_json_refuses(bad):
    import orjson

    with pytest.raises(ValueError):
        json.dumps([bad], allow_nan=False)
    with pytest.raises(ValueError):
        fastjson.make_dumps(orjson)([1.0, bad])


def test_quiet_serve_says_only_where_it_serves(capsys):
    from argparse import Namespace

    from backproplab.cli.lesson import say

    for quiet in (False, True):
        say(Namespace(quiet=quiet), "serving the lesson at http://127.0.0.1:8000/ (Ctrl-C stops it)")
        say(Namespace(quiet=quiet), "stopped")
        err = capsys.readouterr().err
        assert err.startswith("serving the lesson at http://127.0.0.1:8000/")
        assert ("stopped" in err) is not quiet
