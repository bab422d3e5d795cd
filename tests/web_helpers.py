"""A real lesson server (uvicorn in a thread, on a free loopback port) for the web tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from backproplab.lesson.server import bind, create_app
from backproplab.lesson.settings import Settings


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Any ASGI app on a free loopback port (uvicorn in a thread) until the block ends; yields its base URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def live_server(initial: Settings | None = None, **options: Any) -> Iterator[str]:
    """Serve the lesson app until the block ends; yields its base URL."""
    with serving(create_app(initial or Settings(), **options)) as url:
        yield url


ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
GET_A_BROWSER = ("apt-get install chromium, or python -m playwright install chromium, or set BACKPROPLAB_CHROMIUM "
                 "to a chromium program")


def in_ci() -> bool:
    """CI=true (``.ci/run`` sets it): tests that would skip for something missing must fail there instead."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def browser_missing_action(ci: bool) -> Callable[[str], NoReturn]:
    """What a browser test does without a browser: in CI it fails, so the page is really tested there;
    on a learner's machine it skips, with one line saying how to get one."""
    return pytest.fail if ci else pytest.skip


def chromium_program() -> str | None:
    """BACKPROPLAB_CHROMIUM, else Debian's /usr/bin/chromium, else ``chromium`` on PATH; None without one."""
    named = os.environ.get("BACKPROPLAB_CHROMIUM", "/usr/bin/chromium")
    return named if Path(named).exists() else shutil.which("chromium")


def launch(playwright: Any, purpose: str = "the browser tests") -> Any:
    """A headless chromium: the program found on this machine, else the one Playwright downloaded."""
    program = chromium_program()
    if program:
        return playwright.chromium.launch(executable_path=program, args=ARGS)
    from playwright.sync_api import Error

    try:
        return playwright.chromium.launch(args=ARGS)
    except Error as exc:
        if "Executable doesn't exist" not in str(exc):
            raise
    browser_missing_action(in_ci())(f"no chromium found for {purpose}: {GET_A_BROWSER}")


@contextlib.contextmanager
def chromium(purpose: str = "the browser tests") -> Iterator[Any]:
    """A headless chromium through Playwright until the block ends; without one, see browser_missing_action."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, purpose)
        try:
            yield browser
        finally:
            browser.close()
