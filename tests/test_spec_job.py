"""The settings a command line or a page gives, applied to a spec that is read, checked and built once."""

from __future__ import annotations

import pytest

from backproplab.cli import program
from backproplab.lesson.settings import LessonError, Settings, load_job
from backproplab.spec import job as jobs
from backproplab.spec.job import JobSettings, SettingsError
from backproplab.spec.presets import PRESETS
from tests.conftest import assert_clean_error, cli


@pytest.fixture
def counted(monkeypatch):
    """How often a spec file's text is read and a spec is checked and built."""
    calls = {"read": 0, "built": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(jobs, "read_text", counting("read", jobs.read_text))
    monkeypatch.setattr(jobs, "check_built", counting("built", jobs.check_built))
    return calls


def spec_file(tmp_path):
    path = tmp_path / "dose.toml"
    path.write_text(PRESETS["statquest"].text, encoding="utf-8")
    return path


def test_run_reads_and_builds_a_spec_file_once_with_its_optimize_names(capsys, tmp_path, counted):
    code, out, _ = cli(capsys, "run", str(spec_file(tmp_path)), "--optimize", "w3,b3", "--max-steps", "2",
                       "--json")
    assert code == 0 and '"optimize": ["w3", "b3"]' in out.replace("\n", "").replace("  ", "")
    assert counted == {"read": 1, "built": 1}


def test_export_reads_a_spec_file_once_and_checks_optimize_as_run_does(capsys, tmp_path, counted):
    err = assert_clean_error(capsys, ["export", str(spec_file(tmp_path)), "--optimize", "w9", "-o",
                                      str(tmp_path / "l.html")], "'w9'")
    assert "did you mean" in err and err.rstrip().endswith("in --optimize")
    assert counted == {"read": 1, "built": 1}


def test_the_page_builds_its_spec_once_with_every_setting(counted):
    job = load_job(Settings(preset="statquest", optimize=["b3", "w3"], optimizer="adam", lr=0.2,
                            start={"w1": 1.5}, max_steps=5))
    assert counted["built"] == 1
    assert job.spec.training["optimize"] == ["b3", "w3"] and job.spec.training["optimizer"]["name"] == "adam"
    assert job.spec.training["optimizer"]["lr"] == 0.2 and float(job.net.parameter("w1").data) == 1.5
    assert job.raw["training"]["optimize"] == ["b3", "w3"] and job.raw["network"]["parameters"]["w1"] == 1.5


def test_a_name_the_network_lacks_is_said_as_the_command_line_or_the_page_names_it():
    with pytest.raises(SettingsError, match=r"'w9'.*in --optimize$"):
        jobs.load_job("statquest", JobSettings(optimize=("w9",)))
    with pytest.raises(LessonError, match=r"'w9'.*in optimize$"):
        load_job(Settings(optimize=["w9"]))
    with pytest.raises(SettingsError, match=r"'w8'.*in --explain$"):
        jobs.load_job("statquest", JobSettings(explain="w8"))


def test_a_bug_is_not_reported_as_a_usage_mistake(capsys, monkeypatch):
    def broken(args, console):
        return {}["missing"]

    monkeypatch.setitem(program.COMMANDS, "presets", broken)
    assert program.main(["presets"]) == 1
    err = capsys.readouterr().err
    assert "error:" not in err and "a bug in backproplab" in err and "KeyError" in err
    with pytest.raises(KeyError):
        program.main(["presets", "--debug"])
