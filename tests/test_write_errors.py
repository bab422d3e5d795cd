"""Every file the command writes: one clear line and exit code 2 when it cannot, nothing half-written,
input files unchanged; Ctrl-C keeps the partial trace; --step past the end of the run is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backproplab.cli.commands import progress_lines
from backproplab.train.trace import Iteration, Trace

from .conftest import assert_clean_error, cli

ROOT = Path(__file__).resolve().parents[1]
NO_DEV_FULL = not os.path.exists("/dev/full")


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def late_error(capsys, args: list[str], message: str) -> None:
    """A write that fails only once the work is printed: exit 2 and one clear line on stderr all the same."""
    code, _, err = cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_save_into_a_folder(capsys, tmp_path):
    assert_clean_error(capsys, ["demo", "statquest", "--save", str(tmp_path)],
                       f"cannot write {tmp_path}: it is a folder")
    assert files_in(tmp_path) == set()


@pytest.mark.skipif(NO_DEV_FULL, reason="no /dev/full here")
def test_save_onto_a_full_disk(capsys):
    late_error(capsys, ["demo", "statquest", "--save", "/dev/full"], "cannot write /dev/full: No space left")


@pytest.mark.skipif(NO_DEV_FULL, reason="no /dev/full here")
def test_graph_onto_a_full_disk_writes_no_other_file(capsys):
    assert_clean_error(capsys, ["graph", "statquest", "-o", "/dev/full"], "cannot write /dev/full: No space left")
    assert not os.path.exists("/dev/full.dot")


def test_graph_into_a_folder_that_cannot_be_made(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_clean_error(capsys, ["graph", "statquest", "-o", str(blocker / "sub" / "g.dot")],
                       f"cannot write {blocker / 'sub' / 'g.dot'}: its folder")
    assert files_in(tmp_path) == {"a-file"} and blocker.read_text() == "x"


def test_animation_into_a_path_that_cannot_be_written(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_clean_error(capsys, ["plot", "statquest", "animation", "--param", "b3", "-o", str(blocker / "d.gif")],
                       "cannot write")
    assert files_in(tmp_path) == {"a-file"}


def test_plot_folder_whose_figure_file_is_a_folder(capsys, tmp_path):
    (tmp_path / "loss-per-iteration.png").mkdir()
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "2", "--plot", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(
        f"backproplab demo: error: cannot write {tmp_path / 'loss-per-iteration.png'}: it is a folder")


def test_new_into_a_folder(capsys, tmp_path):
    folder = tmp_path / "x.toml"
    folder.mkdir()
    assert_clean_error(capsys, ["new", str(folder), "--force"], "it is a folder")


def test_save_over_the_input_spec_needs_force(capsys, tmp_path):
    spec = tmp_path / "mine.toml"
    assert cli(capsys, "new", str(spec))[0] == 0
    before = spec.read_bytes()
    assert_clean_error(capsys, ["run", str(spec), "--save", str(spec)],
                       "is not a file this command wrote; choose another name, or add --force")
    assert spec.read_bytes() == before
    code, _, _ = cli(capsys, "run", str(spec), "--save", str(spec), "--force")
    assert code == 0 and json.loads(spec.read_text())["final"]["stopped_by"] == "min_step"


def test_save_replaces_an_earlier_trace_without_force(capsys, tmp_path):
    out = tmp_path / "t.json"
    assert cli(capsys, "demo", "statquest", "--save", str(out), "--max-steps", "2")[0] == 0
    assert cli(capsys, "demo", "statquest", "--save", str(out), "--max-steps", "3")[0] == 0
    assert len(Trace.from_json(out.read_text()).iterations) == 3


def test_saved_and_printed_json_are_the_same_trace(capsys, tmp_path):
    out = tmp_path / "t.json"
    code, printed, _ = cli(capsys, "demo", "statquest", "--json", "--save", str(out))
    assert code == 0
    assert json.loads(printed) == json.loads(out.read_text())
    assert Trace.from_json(out.read_text()).final.params == Trace.from_json(printed).final.params


@pytest.mark.parametrize(("args", "message"), [
    (["explain", "statquest", "--param", "b3", "--step", "11", "--max-steps", "5"],
     "--iteration 11: the run stopped after 5 iteration(s); choose --iteration from 1 to 5"),
    (["explain", "statquest", "--param", "b3", "--iteration", "2000", "--min-step", "0"],
     "--iteration 2000: the run stopped after 1000 iteration(s); choose --iteration from 1 to 1000"),
    (["explain", "statquest", "--param", "b3", "--iteration", "500", "--max-steps", "800"],
     "--iteration 500: the run converged after 12 iteration(s); choose --iteration from 1 to 12"),
    (["graph", "statquest", "-o", "g.dot", "--iteration", "7", "--max-steps", "5"], "choose --iteration from 1 to 6"),
])
def test_an_iteration_past_the_end_of_the_run_is_refused(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(capsys, args, message)
    assert files_in(tmp_path) == set()


def test_the_last_iteration_of_a_run_stopped_by_max_steps_is_allowed(capsys):
    code, out, _ = cli(capsys, "explain", "statquest", "--param", "b3", "--iteration", "5", "--max-steps", "5")
    assert code == 0 and "iteration 5" in out


def test_without_a_terminal_progress_is_a_line_every_few_seconds(capsys):
    report = progress_lines(100, every=0.0)
    report(Iteration(41, {}, None, 0.0, {}, {}))
    assert capsys.readouterr().err.startswith("training: step 42 of at most 100")
    quiet = progress_lines(100, every=3600.0)
    quiet(Iteration(1, {}, None, 0.0, {}, {}))
    assert capsys.readouterr().err == ""


def test_ctrl_c_exits_130_and_writes_the_partial_trace(tmp_path):
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backproplab", "demo", "statquest", "--optimize", "all", "--min-step", "0",
         "--max-steps", "100000000", "--keep-every", "1000", "--save", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # the note printed as training starts
        assert "keeps every" in first
        time.sleep(1.0)  # well into the training loop
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted after" in err and f"written to {out}" in err and "Traceback" not in err
    trace = Trace.from_json(out.read_text())
    assert trace.final.stopped_by == "interrupted" and trace.final.steps >= len(trace.iterations) >= 1


def test_a_long_run_stays_within_a_memory_limit(tmp_path):
    """6,000 steps with --json (every 3rd kept), under a 1.5 GB address-space limit and a time limit."""
    code = ("import resource, runpy, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
            "sys.argv = ['backproplab', 'demo', 'statquest', '--optimize', 'all', '--min-step', '0',\n"
            "            '--max-steps', '6000', '--keep-every', '3', '--json']\n"
            "runpy.run_module('backproplab', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert len(data["iterations"]) == 2001 and data["final"]["steps"] == 6000  # every 3rd, and the last
