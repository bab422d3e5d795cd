"""One catalogue of hostile specs, run on every surface that reads a spec.

Each case is a spec (and the files beside it) that must be refused in one clear line: by every
command of the command line that reads a spec (exit code 2, one line on stderr, nothing on
stdout, no file written), by the server's ``POST /api/lesson`` (a 4xx JSON error of one line)
and by the Python API (``backproplab.spec.spec.read`` raises a one-line SpecError). A secret file
with a known marker lies outside the spec's folder; the marker must never appear in any
output, message or written file. ``hostile_specs()`` yields the catalogue for other surfaces
(the notebook widget's own tests).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

with warnings.catch_warnings():  # newer Starlette suggests another HTTP client package; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from backproplab.lesson.server import create_app
from backproplab.spec import spec as spec_module
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import SpecError
from tests.conftest import cli

MARKER = "SECRET_MARKER_c41d"
SECRET_CSV = f"dose,{MARKER}\n0,0\n0.5,1\n1,0\n"  # a header a message listing columns would echo
STATQUEST = PRESETS["statquest"].text
INLINE = "x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy"
NO_FILES = "a spec sent from the page cannot read a file on the server"


def with_csv(name: str, x: str = "zzz") -> str:
    """The dosage example reading its data from ``name``, with a column x that no file has."""
    return STATQUEST.replace(INLINE, f'csv = "{name}"\nx = "{x}"\ny = "effect"')


@dataclass(frozen=True)
class Hostile:
    """A hostile spec: its text ({secret} is the secret folder's path), the files beside it
    ('->target' a symlink, '|fifo' a FIFO), and the words the one-line refusal must hold."""

    name: str
    text: str
    expected: str
    files: dict[str, str] = field(default_factory=dict)
    from_text: str | None = None  # what a surface that gets the spec as text says, where it differs

    def expected_for(self, surface: str) -> str:
        """``surface`` 'file' (the command line, the Python API) or 'text' (the server, the widget)."""
        if surface == "text" and self.from_text is not None:
            return self.from_text
        return self.expected


CATALOGUE = [
    Hostile("csv /etc/passwd", with_csv("/etc/passwd"), "data.csv: '/etc/passwd' is outside", from_text=NO_FILES),
    Hostile("csv up into a sibling folder", with_csv("../secret/data.csv"), "data.csv: '../secret/data.csv' is outside",
            from_text=NO_FILES),
    Hostile("csv absolute path outside", with_csv("{secret}/data.csv"), "is outside", from_text=NO_FILES),
    Hostile("csv symlink to outside", with_csv("link.csv"), "data.csv: 'link.csv' is outside",
            {"link.csv": "->{secret}/data.csv"}, NO_FILES),
    Hostile("csv through a symlinked folder", with_csv("sub/data.csv"), "data.csv: 'sub/data.csv' is outside",
            {"sub": "->{secret}"}, NO_FILES),
    Hostile("csv /dev/zero", with_csv("/dev/zero"), "data.csv: '/dev/zero' is outside", from_text=NO_FILES),
    Hostile("csv /proc/self/environ", with_csv("/proc/self/environ"), "is outside", from_text=NO_FILES),
    Hostile("csv a FIFO", with_csv("fifo"), "is not a regular file (a device, FIFO or socket)", {"fifo": "|fifo"},
            NO_FILES),
    Hostile("csv a folder", with_csv("folder"), "folder' is a folder", {"folder/keep": ""}, NO_FILES),
    Hostile("csv 5,000-character name", with_csv("x" * 5000), "data.csv: cannot read 'xxxxxxxx", from_text=NO_FILES),
    Hostile("csv NUL in the name", with_csv("a\\u0000b"), "data.csv: cannot resolve", from_text=NO_FILES),
    Hostile("csv empty name", with_csv(""), "data.csv: should name a CSV file", from_text=NO_FILES),
    Hostile("csv missing", with_csv("nothing.csv"), "data.csv: no such file", from_text=NO_FILES),
    Hostile("csv not UTF-8", with_csv("bin.csv", "dose"), "is not a UTF-8 text file", {"bin.csv": "\udcff\udcfe,0"},
            NO_FILES),
    Hostile("csv NaN", with_csv("nan.csv", "dose"), "NaN and infinity are not data",
            {"nan.csv": "dose,effect\n0,nan\n"}, NO_FILES),
    Hostile("csv unknown column", with_csv("mine.csv"), "data.x: unknown column 'zzz' (choose from: dose, effect)",
            {"mine.csv": "dose,effect\n0,0\n0.5,1\n1,0\n"}, NO_FILES),
    Hostile("TOML lists nested 5,000 deep", STATQUEST + "\n[extra]\na = " + "[" * 5000 + "]" * 5000 + "\n",
            "cannot be read: its lists or tables nest too deeply"),
    Hostile("TOML tables nested 5,000 deep", STATQUEST + "\nq = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
            "cannot be read: its lists or tables nest too deeply"),
    Hostile("a number of 5,000 digits", STATQUEST.replace("lr = 0.1", "lr = " + "9" * 5000),
            "cannot be read: it holds a number of thousands of digits"),
    Hostile("max_steps 1.5", STATQUEST.replace("max_steps = 1000", "max_steps = 1.5"),
            "training.max_steps: should be a whole number, got 1.5"),
    Hostile("not TOML", "version = 1\n[network\n", "not valid TOML"),
    Hostile("HTML in a parameter name", STATQUEST.replace("b3 = 0.0", 'b3 = 0.0\n"<img src=x onerror=alert(1)>" = 1.0'),
            "network.parameters.<img src=x onerror=alert(1)>: the name"),
]


def make_files(spec_dir: Path, secret: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = spec_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            path.symlink_to(content[2:].replace("{secret}", str(secret)))
        elif content == "|fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(content.encode("utf-8", "surrogateescape"))


def hostile_specs(folder: Path) -> Iterator[tuple[Hostile, Path, str]]:
    """Each case set up in its own folder under ``folder``: (case, the spec file, the spec text).

    Beside each case's ``spec/`` folder lies ``secret/data.csv``, whose header holds
    :data:`MARKER`; no surface may ever show it."""
    for i, case in enumerate(CATALOGUE):
        root = folder / f"case{i}"
        spec_dir, secret = root / "spec", root / "secret"
        spec_dir.mkdir(parents=True)
        secret.mkdir()
        (secret / "data.csv").write_text(SECRET_CSV)
        make_files(spec_dir, secret, case.files)
        text = case.text.replace("{secret}", str(secret))
        (spec_dir / "s.toml").write_text(text, encoding="utf-8")
        yield case, spec_dir / "s.toml", text


COMMANDS = {
    "run": ["run", "{spec}"],
    "explain": ["explain", "{spec}", "--param", "b3"],
    "forward": ["forward", "{spec}"],
    "plot": ["plot", "{spec}", "loss-curve", "-o", "{out}/p.png"],
    "graph": ["graph", "{spec}", "-o", "{out}/g.dot"],
    "export-figures": ["export-figures", "{spec}", "{out}/figures"],
    "export-torch": ["export-torch", "{spec}", "-o", "{out}/m.pt"],
    "serve": ["serve", "{spec}", "--no-browser", "--port", "0"],
    "export": ["export", "{spec}", "-o", "{out}/lesson.html"],
}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict[str, tuple[Hostile, Path, str]]:
    return {case.name: (case, path, text) for case, path, text in hostile_specs(tmp_path_factory.mktemp("hostile"))}


def secret_unchanged(spec: Path) -> None:
    assert (spec.parent.parent / "secret" / "data.csv").read_text() == SECRET_CSV


def check_one_line(text: str, expected: str) -> None:
    assert "Traceback" not in text and MARKER not in text and "root:x:0" not in text, text[:500]
    assert len(text.strip().splitlines()) == 1 and len(text) < 600, text[:500]
    assert expected in text, text[:500]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", [c.name for c in CATALOGUE])
def test_every_command_refuses_each_hostile_spec_in_one_line(capsys, tmp_path, monkeypatch, catalogue, name,
                                                              command):
    case, spec, _ = catalogue[name]

    def never_serve(*args, **kwargs) -> None:
        raise AssertionError("serve started serving a spec it should have refused")

    monkeypatch.setattr("backproplab.lesson.server.serve", never_serve)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = [a.replace("{spec}", str(spec)).replace("{out}", str(out_dir)) for a in COMMANDS[command]]
    code, out, err = cli(capsys, *argv)
    assert code == 2, (code, err[-500:])
    assert out == ""
    check_one_line(err, case.expected_for("file"))
    assert list(out_dir.iterdir()) == [], "a file was written"
    secret_unchanged(spec)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(allowed_hosts=["testserver"]))


@pytest.mark.parametrize("name", [c.name for c in CATALOGUE])
def test_the_server_refuses_each_hostile_spec_in_one_line(client, catalogue, name):
    case, spec, text = catalogue[name]
    r = client.post("/api/lesson", json={"spec_text": text})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert MARKER not in r.text
    check_one_line(r.json()["error"], case.expected_for("text"))
    d = client.post("/api/detail", json={"settings": {"spec_text": text}, "param": "b3", "iteration": 1})
    assert 400 <= d.status_code < 500 and MARKER not in d.text
    check_one_line(d.json()["error"], case.expected_for("text"))
    secret_unchanged(spec)


@pytest.mark.parametrize("name", [c.name for c in CATALOGUE])
def test_the_python_api_refuses_each_hostile_spec_in_one_line(catalogue, name):
    case, spec, text = catalogue[name]
    with pytest.raises(SpecError) as caught:
        spec_module.read(spec)
    check_one_line(str(caught.value), case.expected_for("file"))
    with pytest.raises(SpecError) as caught:  # the same text given as text reads no file it may not
        spec_module.parse(text, None, data_dirs=())
    check_one_line(str(caught.value), case.expected if case.from_text is None else "data.csv: this spec may not read")
    secret_unchanged(spec)


def test_the_catalogue_covers_the_old_leaks(catalogue):
    """The secret file is really there to leak: read with --data-dir its folder, a wrong column
    lists the marker, so a surface that read it would show it."""
    case, spec, _ = catalogue["csv up into a sibling folder"]
    with pytest.raises(SpecError, match=MARKER):
        spec_module.read(spec, data_dirs=[spec.parent.parent / "secret"])


def test_serve_and_export_read_another_folder_only_when_allowed(capsys, tmp_path, monkeypatch):
    """--data-dir works for serve and export as for run: refused without it, read with it."""
    spec_dir, data_dir = tmp_path / "spec", tmp_path / "data"
    spec_dir.mkdir()
    data_dir.mkdir()
    (data_dir / "d.csv").write_text("dose,effect\n0,0\n0.25,0.75\n1,0\n")
    spec = spec_dir / "s.toml"
    spec.write_text(with_csv("../data/d.csv", "dose"))
    code, _, err = cli(capsys, "export", str(spec), "-o", str(tmp_path / "a.html"))
    assert code == 2 and "data.csv: '../data/d.csv' is outside" in err and not (tmp_path / "a.html").exists()
    code, _, err = cli(capsys, "export", str(spec), "-o", str(tmp_path / "a.html"), "--data-dir", str(data_dir),
                       "--max-steps", "2")
    assert code == 0, err
    html = (tmp_path / "a.html").read_text()
    assert "x = [0.0, 0.25, 1.0]\\ny = [0.0, 0.75, 0.0]" in html  # the data, inline in the lesson's spec
    served = []
    monkeypatch.setattr("backproplab.lesson.server.serve", lambda settings, **kw: served.append(settings))
    code, _, err = cli(capsys, "serve", str(spec), "--no-browser", "--port", "0", "--data-dir", str(data_dir))
    assert code == 0, err
    assert served[0].csv_text == "dose,effect\n0,0\n0.25,0.75\n1,0\n"
    code, _, err = cli(capsys, "serve", str(spec), "--no-browser", "--port", "0")
    assert code == 2 and "is outside" in err and len(served) == 1


def test_a_set_value_of_thousands_of_digits_is_one_line(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(STATQUEST)
    code, out, err = cli(capsys, "run", str(spec), "--set", "optimizer.lr=" + "9" * 5000)
    assert code == 2 and out == ""
    check_one_line(err, "training.optimizer.lr: should be a number, got '9999")


@pytest.mark.parametrize("command", ["serve", "export", "run", "explain", "forward", "plot"])
def test_a_hostile_source_name_is_one_line(capsys, tmp_path, monkeypatch, command):
    """SOURCE itself: a FIFO, a folder, a 5,000-character name, a control character."""
    monkeypatch.setattr("backproplab.lesson.server.serve", lambda *a, **k: pytest.fail("served"))
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "folder.toml").mkdir()
    extra = {"serve": ["--no-browser", "--port", "0"], "export": ["-o", str(tmp_path / "l.html")],
             "plot": ["loss-curve", "-o", str(tmp_path / "l.png")]}.get(command, [])
    for source, words in ((str(tmp_path / "fifo.toml"), "is not a regular file"),
                          (str(tmp_path / "folder.toml"), "this is a folder"),
                          ("x" * 5000, "unknown preset 'xxxx"), ("x" * 5000 + ".toml", "File name too long"),
                          ("a\x01b", "unknown preset 'a\\x01b'")):
        code, out, err = cli(capsys, command, source, *extra)
        assert code == 2 and out == "", (source[:20], err)
        check_one_line(err, words)
    assert not (tmp_path / "l.html").exists()
