"""Nothing the user had is destroyed: every file is written to a temporary file beside it and replaced
only once complete, so a full disk or Ctrl-C midway leaves the earlier file byte for byte; Ctrl-C at
any moment (start-up, training, writing, a second press while the partial run is saved) is one line
and exit code 130; export-torch replaces only its own files; a spec's words are inert in index.md; a
figure that fails never costs the run."""

from __future__ import annotations

import html.parser
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import markdown
import matplotlib.pyplot as plt
import numpy as np
import pytest

import backproplab as bl
from backproplab.cli.commands import plain_labels
from backproplab.spec.presets import PRESETS, Preset
from backproplab.train.trace import Trace
from backproplab.util import files

from .conftest import cli, needs_torch

ROOT = Path(__file__).resolve().parents[1]
BOUND = 120  # seconds any one subprocess may take


class CutShort:
    """A file that takes half of the first write, then fails with ``exc`` (a full disk, or Ctrl-C)."""

    def __init__(self, f, exc: BaseException) -> None:
        self._f, self._exc = f, exc

    def write(self, data):
        self._f.write(data[: max(1, len(data) // 2)])
        self._f.flush()
        raise self._exc

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._f.close()


def cut_writes(monkeypatch, exc: BaseException, name_part: str = "") -> None:
    """Every file util/files.py opens for writing (whose name contains ``name_part``) fails midway with ``exc``."""
    real = open

    def fake(path, mode="r", *args, **kwargs):
        f = real(path, mode, *args, **kwargs)
        return CutShort(f, exc) if "w" in mode and name_part in Path(path).name else f

    monkeypatch.setattr(files, "open", fake, raising=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if files.TEMP_MARK in p.name)


FAILURES = [(OSError(28, "No space left on device"), 2, "No space left on device"),
            (KeyboardInterrupt(), 130, "interrupted")]


def good_trace(capsys, path: Path) -> bytes:
    assert cli(capsys, "demo", "statquest", "--max-steps", "2", "--save", str(path))[0] == 0
    return path.read_bytes()


# --- the helper itself ---------------------------------------------------------------------------------
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_cut_midway_leaves_the_earlier_file_and_no_temporary_file(tmp_path, exc):
    target = tmp_path / "notes.txt"
    target.write_text("the user's earlier text\n")
    before = target.read_bytes()
    with pytest.raises(files.WriteError if isinstance(exc, OSError) else KeyboardInterrupt):
        with files.open_for_writing(target) as f:
            f.write("new text, " * 1000)
            f.flush()
            assert leftovers(tmp_path), "the new text goes to a temporary file beside the target"
            raise exc
    assert target.read_bytes() == before and leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_permissions_and_a_link_stays_a_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640 and leftovers(tmp_path) == []
    fresh = files.write_text(tmp_path / "fresh.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_device_is_written_in_place(tmp_path):
    files.write_text("/dev/null", "nothing to keep")  # no temporary file in /dev, no replacing the device
    assert Path("/dev/null").exists() and not stat.S_ISREG(os.stat("/dev/null").st_mode)


# --- each writer, with an earlier good file and a write that fails midway ------------------------------
@pytest.mark.parametrize(("exc", "code", "said"), FAILURES)
def test_trace_save_cut_midway_keeps_the_earlier_trace(capsys, tmp_path, monkeypatch, exc, code, said):
    out = tmp_path / "run.json"
    before = good_trace(capsys, out)
    cut_writes(monkeypatch, exc)
    got, _, err = cli(capsys, "demo", "statquest", "--max-steps", "5", "--save", str(out))
    assert got == code and said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert out.read_bytes() == before and leftovers(tmp_path) == []
    assert Trace.from_json(out.read_text()).final.steps == 2  # still the earlier, two-step run


@pytest.mark.parametrize(("exc", "code", "said"), FAILURES)
def test_figure_cut_midway_keeps_the_earlier_figure(capsys, tmp_path, monkeypatch, exc, code, said):
    fig = tmp_path / "curve.png"
    assert cli(capsys, "plot", "statquest", "loss-curve", "-o", str(fig), "--max-steps", "2")[0] == 0
    before = fig.read_bytes()
    cut_writes(monkeypatch, exc)
    got, _, err = cli(capsys, "plot", "statquest", "loss-curve", "-o", str(fig), "--max-steps", "4")
    assert got == code and said in err and "Traceback" not in err, err
    assert fig.read_bytes() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(("exc", "code", "said"), FAILURES)
def test_export_figures_index_cut_midway_keeps_the_earlier_index(capsys, tmp_path, monkeypatch, exc, code, said):
    folder = tmp_path / "figs"
    args = ["export-figures", "statquest", str(folder), "--no-svg", "--no-animation", "--max-steps", "2", "--dpi", "20"]
    assert cli(capsys, *args)[0] == 0
    before = (folder / "index.md").read_bytes()
    cut_writes(monkeypatch, exc, name_part="index.md")
    got, _, err = cli(capsys, *args)
    assert got == code and said in err and "Traceback" not in err, err
    assert (folder / "index.md").read_bytes() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(("exc", "code", "said"), FAILURES)
def test_lesson_export_cut_midway_keeps_the_earlier_page(capsys, tmp_path, monkeypatch, exc, code, said):
    page = tmp_path / "lesson.html"
    page.write_text("<p>the lesson exported last week</p>\n")
    before = page.read_bytes()
    cut_writes(monkeypatch, exc)
    got, _, err = cli(capsys, "export", "statquest", "-o", str(page))
    assert got == code and said in err and "Traceback" not in err, err
    assert page.read_bytes() == before and leftovers(tmp_path) == []


@needs_torch
@pytest.mark.parametrize(("exc", "code", "said"), FAILURES)
def test_export_torch_cut_midway_keeps_both_earlier_files(capsys, tmp_path, monkeypatch, exc, code, said):
    pt = tmp_path / "net.pt"
    assert cli(capsys, "export-torch", "statquest", "-o", str(pt))[0] == 0
    before = pt.read_bytes(), pt.with_suffix(".py").read_bytes()
    cut_writes(monkeypatch, exc, name_part="net.py")  # the second file fails: the first is not replaced either
    got, _, err = cli(capsys, "export-torch", "statquest", "-o", str(pt), "--lr", "0.5")
    assert got == code and said in err and "Traceback" not in err, err
    assert (pt.read_bytes(), pt.with_suffix(".py").read_bytes()) == before and leftovers(tmp_path) == []


# --- export-torch: the user's files, the folders, the names -------------------------------------------
@needs_torch
def test_export_torch_leaves_the_users_own_files_alone_without_force(capsys, tmp_path):
    own_py, own_pt = tmp_path / "model.py", tmp_path / "model.pt"
    own_py.write_text("print('my own model, by hand')\n")
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(own_pt))
    assert code == 2 and f"{own_py} already exists and is not a file this command wrote" in err and "--force" in err
    assert own_py.read_text() == "print('my own model, by hand')\n" and not own_pt.exists()
    own_py.unlink()
    own_pt.write_bytes(b"my own weights")  # a .pt without the module export-torch writes beside it
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(own_pt))
    assert code == 2 and "is not a file this command wrote" in err and own_pt.read_bytes() == b"my own weights"
    assert cli(capsys, "export-torch", "statquest", "-o", str(own_pt), "--force")[0] == 0
    assert own_pt.read_bytes() != b"my own weights"
    assert cli(capsys, "export-torch", "statquest", "-o", str(own_pt))[0] == 0  # its own files: replaced freely


@needs_torch
def test_export_torch_makes_folders_and_names_a_folder_in_one_line(capsys, tmp_path):
    deep = tmp_path / "a" / "b" / "net.pt"
    assert cli(capsys, "export-torch", "statquest", "-o", str(deep))[0] == 0
    assert deep.is_file() and deep.with_suffix(".py").is_file()
    for target in (tmp_path / "a", tmp_path / "dir.pt"):
        target.mkdir(exist_ok=True)
        code, out, err = cli(capsys, "export-torch", "statquest", "-o", str(target))
        assert code == 2 and "folder" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(blocker / "net.pt"))
    assert code == 2 and "cannot be made" in err and blocker.read_text() == "x"


HOSTILE_NAMES = ['a""";__import__("os").system("touch MARKER");"""b.pt',
                 "a''';__import__('os').system('touch MARKER');'''b.pt",
                 'a\nimport os; os.system("touch MARKER")\nb.pt',
                 'a\\";import os;os.system(\\"touch MARKER\\")#.pt']


@needs_torch
def test_a_hostile_output_name_never_becomes_code(capsys, tmp_path):
    for name in HOSTILE_NAMES:
        code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(tmp_path / name))
        assert code == 0, err
    check = ("import importlib.util, json, sys, torch\n"
             "for k, name in enumerate(json.loads(sys.argv[1])):\n"
             "    spec = importlib.util.spec_from_file_location(f'exported{k}', name[:-3] + '.py')\n"
             "    m = importlib.util.module_from_spec(spec)\n"
             "    spec.loader.exec_module(m)\n"
             "    net = m.Network()\n"
             "    net.load_state_dict(torch.load(m.STATE_DICT, weights_only=True))\n"
             "    print(m.STATE_DICT == name, float(net(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))[1]))\n")
    ran = subprocess.run([sys.executable, "-c", check, json.dumps(HOSTILE_NAMES)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=BOUND)
    assert ran.returncode == 0, ran.stderr
    net, _ = PRESETS["statquest"].build()
    expected = float(net(bl.Tensor(np.array([0.0, 0.5, 1.0]))).data[1])  # ŷ at dosage 0.5, starting values
    lines = [line.split() for line in ran.stdout.splitlines()]
    assert len(lines) == len(HOSTILE_NAMES)
    assert all(same == "True" and float(middle) == pytest.approx(expected, rel=1e-12) for same, middle in lines)
    assert not (tmp_path / "MARKER").exists()


# --- index.md: a spec's words stay words --------------------------------------------------------------
class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_a_hostile_spec_name_and_description_are_inert_in_index_md(capsys, tmp_path):
    spec = tmp_path / "mine.toml"
    assert cli(capsys, "new", str(spec))[0] == 0
    text = spec.read_text().replace('name = "statquest"', 'name = "<script>alert(1)</script> {: onclick=\\"x()\\" }"')
    text = text.replace('description = "the dosage network: 1 input, 2 softplus hidden nodes, SSR loss"',
                        'description = "[x](javascript:alert(2)) <img src=x onerror=alert(3)> `code` $\\\\frac$ |"')
    spec.write_text(text)
    folder = tmp_path / "figs"
    code, _, err = cli(capsys, "export-figures", str(spec), str(folder), "--no-svg", "--no-animation",
                       "--max-steps", "2", "--dpi", "20")
    assert code == 0, err
    source = (folder / "index.md").read_text()
    page = markdown.markdown(source, extensions=["tables", "attr_list", "md_in_html"])
    parser = Tags()
    parser.feed(page)
    assert "script" not in {tag for tag, _ in parser.tags} and "img" not in {tag for tag, _ in parser.tags}
    attributes = {k: v for _, attrs in parser.tags for k, v in attrs.items()}
    assert not any(k.startswith("on") for k in attributes), attributes
    links = [attrs["href"] for tag, attrs in parser.tags if tag == "a"]
    assert links and all(not h.lower().startswith("javascript") and "/" not in h for h in links), links
    shown = "".join(parser.text)  # the words are shown as they were typed
    for typed in ("<script>alert(1)</script>", '{: onclick="x()" }', "[x](javascript:alert(2))",
                  "<img src=x onerror=alert(3)>", "`code` $\\frac$ |"):
        assert typed in shown, (typed, shown)
    table_rows = [line for line in source.splitlines() if line.startswith("| ")]
    assert all(line.count("|") - line.count("\\|") == 3 for line in table_rows)  # the table keeps its two columns


# --- a figure never costs the run ---------------------------------------------------------------------
def dollar_spec(tmp_path: Path) -> Path:
    """A spec whose CSV columns are named $\\frac$ and $a_$: text that matplotlib cannot typeset as math."""
    (tmp_path / "d.csv").write_text("$\\frac$,$a_$\n0,0\n0.5,1\n1,0\n")
    spec = tmp_path / "dollar.toml"
    text = (ROOT / "src/backproplab/spec/specs/statquest.toml").read_text()
    text = text.replace('x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy',
                        'csv = "d.csv"\nx = ["$\\\\frac$"]\ny = "$a_$"')
    assert 'csv = "d.csv"' in text
    spec.write_text(text)
    return spec


def test_column_names_with_dollars_draw_as_written_and_the_run_is_saved(capsys, tmp_path):
    spec, out, figs = dollar_spec(tmp_path), tmp_path / "run.json", tmp_path / "figs"
    code, _, err = cli(capsys, "run", str(spec), "--max-steps", "3", "--plot", str(figs), "--save", str(out),
                       "--dpi", "20")
    assert code == 0, err
    assert Trace.from_json(out.read_text()).final.steps == 3 and (figs / "data-and-residuals.png").is_file()


def test_dollar_labels_are_plain_text_to_matplotlib():
    preset = plain_labels(Preset("mine", x_label="$\\frac$", y_label="cost in $"))
    fig, ax = plt.subplots()
    ax.set_xlabel(preset.x_label)
    ax.set_ylabel(preset.y_label)
    fig.canvas.draw()  # raised ValueError (mathtext) before
    shown = [ax.xaxis.label._preprocess_math(ax.get_xlabel()), ax.yaxis.label._preprocess_math(ax.get_ylabel())]
    plt.close(fig)
    assert shown == [("$\\frac$", False), ("cost in $", False)]


def test_a_figure_that_fails_still_leaves_the_run_saved(capsys, tmp_path):
    out, figs = tmp_path / "run.json", tmp_path / "figs"
    (figs / "loss-per-iteration.png").mkdir(parents=True)  # one figure cannot be written
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "3", "--plot", str(figs), "--save", str(out))
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"backproplab demo: error: cannot write {figs / 'loss-per-iteration.png'}: it is a folder")
    assert f"the run itself was written to {out}" in last
    assert Trace.from_json(out.read_text()).final.steps == 3


# --- Ctrl-C and a cut stdout, in a real process ------------------------------------------------------
def start(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=kwargs.pop("stdout", subprocess.DEVNULL),
                            stderr=subprocess.PIPE, **kwargs)


def wait_for_temporary_file(proc: subprocess.Popen, folder: Path) -> None:
    """Until a temporary file appears in ``folder``: the process is writing."""
    deadline = time.monotonic() + BOUND
    while not leftovers(folder):
        assert proc.poll() is None, "the process ended before it wrote"
        assert time.monotonic() < deadline
        time.sleep(0.002)


def finish(proc: subprocess.Popen) -> tuple[bytes, str]:
    try:
        out, err = proc.communicate(timeout=BOUND)
    finally:
        proc.kill()
    return out or b"", err.decode()


@pytest.mark.parametrize("phase", ["numpy", "backproplab.engine"])
def test_ctrl_c_while_starting_is_one_line(tmp_path, phase):
    """-X importtime reports each import as it ends: Ctrl-C lands while numpy or the package's own
    modules (the engine, then the rest) are still being imported."""
    proc = start(["-X", "importtime", "-m", "backproplab", "demo", "statquest"], tmp_path, text=False)
    try:
        deadline = time.monotonic() + BOUND
        while phase.encode() not in proc.stderr.readline():
            assert time.monotonic() < deadline and proc.poll() is None
        proc.send_signal(signal.SIGINT)
    finally:
        _, err = finish(proc)
    said = [line for line in err.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 130 and said == ["backproplab: interrupted while starting; nothing was done"], err[-3000:]


def test_ctrl_c_during_the_final_write_keeps_the_earlier_trace(capsys, tmp_path):
    out = tmp_path / "run.json"
    before = good_trace(capsys, out)
    proc = start(["-m", "backproplab", "demo", "statquest", "--optimize", "all", "--min-step", "0", "--max-steps",
                  "20000", "--keep-every", "1", "--quiet", "--save", str(out)], ROOT)
    try:
        wait_for_temporary_file(proc, tmp_path)
        proc.send_signal(signal.SIGINT)
    finally:
        _, err = finish(proc)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert out.read_bytes() == before and leftovers(tmp_path) == []


def test_a_second_ctrl_c_while_the_partial_trace_is_saved_is_ignored(capsys, tmp_path):
    out = tmp_path / "partial.json"
    before = good_trace(capsys, out)
    proc = start(["-m", "backproplab", "demo", "statquest", "--optimize", "all", "--min-step", "0", "--max-steps",
                  "1000000", "--keep-every", "2", "--save", str(out)], ROOT, text=True)
    try:
        assert "keeps every" in proc.stderr.readline()  # the note printed as training starts
        assert proc.stderr.readline().startswith("training: step")  # a progress line: thousands of steps done
        proc.send_signal(signal.SIGINT)
        wait_for_temporary_file(proc, tmp_path)  # the partial trace is being saved
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=BOUND)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("backproplab demo: interrupted after") and f"to {out}" in err
    trace = Trace.from_json(out.read_text())
    assert out.read_bytes() != before and trace.final.stopped_by == "interrupted" and len(trace.iterations) > 1000
    assert leftovers(tmp_path) == []


def test_ctrl_c_while_the_json_is_printed_says_the_output_was_cut(tmp_path):
    proc = start(["-m", "backproplab", "demo", "statquest", "--optimize", "all", "--min-step", "0", "--max-steps",
                  "3000", "--json"], ROOT, stdout=subprocess.PIPE)
    try:
        first = proc.stdout.read(1000)  # printing has begun; unread, the pipe fills and the process waits on it
        proc.send_signal(signal.SIGINT)
    finally:
        rest, err = finish(proc)
    assert first.startswith(b'{"loss"') and proc.returncode == 130, err
    assert err.strip() == "backproplab demo: output cut: Ctrl-C while the JSON was printed; what was printed is " \
        "incomplete"
    with pytest.raises(json.JSONDecodeError):
        json.loads(first + rest)


def test_a_closed_pipe_while_the_json_is_printed_says_the_output_was_cut(tmp_path):
    proc = start(["-m", "backproplab", "demo", "statquest", "--optimize", "all", "--min-step", "0", "--max-steps",
                  "3000", "--json"], ROOT, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.read(1000).startswith(b'{"loss"')
        proc.stdout.close()  # as `| head -c 1000` does
        err = proc.stderr.read().decode()
        proc.wait(timeout=BOUND)
    finally:
        proc.kill()
    assert proc.returncode == 141 and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip() == "backproplab demo: output cut: the program reading the JSON closed the pipe; what was " \
        "printed is incomplete"


def test_ctrl_c_just_as_the_temporary_file_is_made_leaves_nothing_behind(tmp_path, monkeypatch):
    """A real SIGINT that arrives the moment the temporary file exists (before its name is handed back)
    still ends in the file's removal: the press takes effect once the name is known."""
    made = files._new_temp

    def made_then_pressed(target):
        tmp = made(target)
        os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler at the next instruction, here
        return tmp

    monkeypatch.setattr(files, "_new_temp", made_then_pressed)
    out = tmp_path / "out.json"
    out.write_text("earlier")
    with pytest.raises(KeyboardInterrupt):
        with files.open_for_writing(out) as f:
            f.write("new")
    assert out.read_text() == "earlier" and leftovers(tmp_path) == []
