"""What the tests of real notebook hosts share (JupyterLab, Notebook 7, marimo): the optional
package that is required in CI, a server of their own on a free port, stopped with its whole
process group, and chromium through Playwright."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_helpers import chromium as web_chromium
from tests.web_helpers import in_ci


def require(module: str) -> None:
    """Skip without ``module``; in CI (CI=true) its absence is an error, so the tests really run there."""
    if in_ci():
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=f"{module} is not installed (pip install '.[test]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(args: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, health: str,
           name: str) -> Iterator[None]:
    """Run ``args`` until the ``health`` URL answers 200 (60 s at most); stop its whole process group after."""
    log = log_path.open("w")
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tail = lambda: log_path.read_text()[-3000:]
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        break
            if time.time() > deadline:
                pytest.fail(f"{name} did not answer in 60 s:\n{tail()}")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def chromium(purpose: str) -> Iterator:
    """A headless chromium for a module-scoped fixture (``yield from chromium(...)``): the one browser
    launch of the tests (tests/web_helpers.py), which skips without a browser outside CI and fails in CI."""
    with web_chromium(purpose) as browser:
        yield browser


# --- the lesson page inside a host's output ----------------------------------------------------
def shown(value: float) -> str:
    """A number as the page shows it at 2 decimals (true minus); used for values of 0.1 or more."""
    return f"{value:.2f}".replace("-", "\u2212")


def steps_row(frame, param: str) -> list[str]:
    """The page's step table row for ``param``: value, gradient, step size, new value."""
    row = frame.locator(f'#table table.steps tr[data-param="{param}"]')
    return [c.strip() for c in row.locator("td").all_inner_texts()][-4:]


def expect_row(frame, iteration: int, trace) -> None:
    """The page shows ``iteration``, and its b3 row holds that iteration's numbers from ``trace``."""
    it, after = trace.iterations[iteration - 1], trace.iterations[iteration]
    want = [shown(it.params["b3"]), shown(it.gradients["b3"]), shown(it.step_sizes["b3"]), shown(after.params["b3"])]
    deadline = time.time() + 30
    while time.time() < deadline:
        if frame.locator("#iteration").input_value() == str(iteration) and steps_row(frame, "b3") == want:
            return
        time.sleep(0.1)
    assert frame.locator("#iteration").input_value() == str(iteration)
    assert steps_row(frame, "b3") == want
