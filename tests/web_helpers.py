"""A real lesson server (uvicorn in a thread, on a free loopback port) for the web tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from backproplab.web.server import bind, create_app
from backproplab.web.settings import Settings


@contextlib.contextmanager
def live_server(initial: Settings | None = None, **options) -> Iterator[str]:
    """Serve the app until the block ends; yields its base URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(initial or Settings(), **options)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
