"""``backproplab serve``: the lesson page over HTTP, recomputed on every change.

The app answers only its own address (a Host header naming another site is refused, against
DNS rebinding), sends no CORS headers, reads no file a request names, and keeps training off
the event loop with a small bound on how many run at once; past it a request gets a clear
"busy" answer instead of waiting in a queue.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import webbrowser
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backproplab.trace import Trace
from backproplab.web import lesson
from backproplab.web.settings import LIMITS, Job, LessonError, Limits, Settings, load_job, settings_from_dict

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
}
BUSY = "the server is busy working out other lessons; try again in a moment"
# The engine's no_grad switch is one flag for the whole process, so two runs in two threads
# would see each other's; runs take turns (under the GIL they could not run at once anyway).
ENGINE = threading.Lock()


def static_dir() -> Any:
    return resources.files("backproplab.web").joinpath("static")


class Runs:
    """The last few runs, so asking for one more explanation does not train again."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[Job, Trace, threading.Lock]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, settings: Settings, limits: Limits) -> tuple[Job, Trace, threading.Lock]:
        key = settings.key()
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        job = load_job(settings, limits)
        start = {n: p.data.copy() for n, p in job.net.named_parameters()}
        trace = lesson.train(job, limits)
        job.net.load_state_dict(start)
        entry = (job, trace, threading.Lock())
        with self.lock:
            self.items[key] = entry
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return entry


def create_app(initial: Settings | None = None, *, allowed_hosts: list[str] | None = None,
               limits: Limits = LIMITS, concurrency: int = 4) -> Starlette:
    """The lesson app: the page, its static files, ``/api/lesson`` and ``/api/detail``.

    ``concurrency`` requests may be admitted at once (working or waiting for their turn);
    more get a 503 "busy" answer at once."""
    initial = initial or Settings()
    runs = Runs()
    slots = asyncio.Semaphore(concurrency)

    def error(exc: Exception) -> JSONResponse:
        status = getattr(exc, "status", 400)
        message = exc.args[0] if exc.args else str(exc)
        return JSONResponse({"error": str(message)}, status_code=status, headers=SECURITY_HEADERS)

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise LessonError(f"the request is {int(declared)} bytes, more than this page allows "
                              f"({limits.max_body_bytes}); paste a smaller spec or CSV", 413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_body_bytes:
                raise LessonError(f"the request is more than this page allows ({limits.max_body_bytes} bytes); "
                                  "paste a smaller spec or CSV", 413)
        try:
            return json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LessonError("the request is not JSON; the page sends its settings as a JSON object") from None
        except RecursionError:
            raise LessonError("the request nests too deeply; the page sends a flat object of settings") from None

    async def heavy(fn: Callable[[], Any]) -> Response:
        if slots.locked():
            return JSONResponse({"error": BUSY, "busy": True}, status_code=503,
                                headers={**SECURITY_HEADERS, "Retry-After": "1"})
        async with slots:
            def locked() -> Any:
                with ENGINE:
                    return fn()

            try:
                doc = await run_in_threadpool(locked)
            except (LessonError, ValueError, KeyError) as exc:
                return error(exc)
            except (ArithmeticError, MemoryError, RecursionError, RuntimeError) as exc:  # say it, keep serving
                message = f"the server could not work this lesson out ({type(exc).__name__}: {exc})"
                return JSONResponse({"error": message[:300]}, status_code=500, headers=SECURITY_HEADERS)
        return Response(lesson.to_json(doc), media_type="application/json", headers=SECURITY_HEADERS)

    async def page(request: Request) -> Response:
        html = static_dir().joinpath("index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    def build(settings: Settings) -> dict[str, Any]:
        job, trace, lock = runs.get(settings, limits)
        with lock:
            return lesson.document(job, trace, settings, limits=limits)

    async def lesson_get(request: Request) -> Response:
        return await heavy(lambda: build(initial))

    async def lesson_post(request: Request) -> Response:
        try:
            settings = settings_from_dict(await read_json(request))
        except LessonError as exc:
            return error(exc)
        return await heavy(lambda: build(settings))

    async def detail(request: Request) -> Response:
        try:
            body = await read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("param"), str) or \
                    not isinstance(body.get("iteration"), int) or isinstance(body.get("iteration"), bool):
                raise LessonError("detail needs settings, a parameter name (param) and an iteration number")
            index = body.get("index")
            if index is not None and not (isinstance(index, list) and len(index) <= 4 and all(
                    isinstance(i, int) and not isinstance(i, bool) for i in index)):
                raise LessonError("index should be a short list of whole numbers, such as [0, 2]")
            settings = settings_from_dict(body.get("settings") or {})
        except LessonError as exc:
            return error(exc)

        def work() -> dict[str, Any]:
            job, trace, lock = runs.get(settings, limits)
            with lock:
                return lesson.detail(settings, body["param"], body["iteration"], (job, trace), limits, index)

        return await heavy(work)

    async def initial_settings(request: Request) -> Response:
        return JSONResponse({"preset": initial.preset, "custom": initial.spec_text is not None},
                            headers=SECURITY_HEADERS)

    routes = [
        Route("/", page),
        Route("/api/lesson", lesson_get, methods=["GET"]),
        Route("/api/lesson", lesson_post, methods=["POST"]),
        Route("/api/detail", detail, methods=["POST"]),
        Route("/api/initial", initial_settings, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(static_dir())), name="static"),
    ]
    hosts = list(allowed_hosts or LOOPBACK)
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


def hosts_for(host: str) -> list[str]:
    """The names a browser may use for this server: the bound address, and loopback's names."""
    names = list(LOOPBACK)
    if host not in names:
        names.append(host)
    if host in ("0.0.0.0", "::"):  # every address of this machine: its names and its own IP addresses
        names += [socket.gethostname(), socket.getfqdn()]
        try:
            names += socket.gethostbyname_ex(socket.gethostname())[2]
        except OSError:
            pass
    return list(dict.fromkeys(names))


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free port), so the address is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from None
    sock.listen(128)
    return sock


def serve(initial: Settings, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True,
          say: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C."""
    import uvicorn

    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    app = create_app(initial, allowed_hosts=hosts_for(host))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    say(f"serving the lesson at {url} (Ctrl-C stops it)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn has shut down; it passes Ctrl-C on once it is done
        pass
    finally:
        sock.close()
    say("stopped")
