"""Shared test settings and helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (pip install '.[parity]')")


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in-process: (exit code, stdout, stderr)."""
    from backproplab.cli.program import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(capsys, args, message: str) -> str:
    """The command fails with exit code 2 and one line on stderr that contains ``message``."""
    code, out, err = cli(capsys, *args)
    assert code == 2, (code, err)
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and out == ""
    return err


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, one per test module (the page tests share it)."""
    from tests.web_helpers import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def server():
    """The lesson server with the dosage example, one per test module."""
    from backproplab.lesson.settings import Settings
    from tests.web_helpers import live_server

    with live_server(Settings()) as url:
        yield url


@pytest.fixture(scope="session")
def gen():
    """docs/gen.py, the generator of the documentation's pages (not a package: loaded from its file)."""
    path = Path(__file__).resolve().parent.parent / "docs" / "gen.py"
    spec = importlib.util.spec_from_file_location("docs_gen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
