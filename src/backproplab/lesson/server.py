"""``backproplab serve``: the lesson page over HTTP, recomputed on every change.

The app answers only its own address (a Host header naming another site is refused, against
DNS rebinding) and only its own page: a request from another site (an ``Origin`` that is not
the server's own, or ``Sec-Fetch-Site: cross-site`` or ``same-site`` on the API) gets a 403,
and a POST must say ``Content-Type: application/json``, which no page on another site can
send without a CORS preflight that this server never grants. Every response, static files
included, carries the security headers and the Content-Security-Policy. The app reads no
file a request names, and keeps training off the event loop with a small bound on how many
run at once; past it a request gets a clear "busy" answer instead of waiting in a queue.

Memory and time are bounded: a request whose run would record more than
``Limits.max_trace_bytes`` (256 MiB by default) is refused before training; the recent runs
kept for follow-up questions, each with its finished document (so the same settings asked
again are answered at once), hold at most ``Limits.max_cache_bytes`` (512 MiB by default,
least recently used first out), and runs take turns, so the server holds about the cache
bound plus one run. The initial lesson is built before the server answers anyone. A request's
whole work, training and document alike, stops after ``Limits.request_seconds`` with a
one-line error, and the server stays ready for the next.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import errno
import gc
import json
import socket
import threading
import webbrowser
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backproplab.lesson import document as lesson
from backproplab.lesson.export import static_dir, with_hide
from backproplab.lesson.runs import compared_settings, settings_given
from backproplab.lesson.settings import LIMITS, Job, LessonError, Limits, Settings, settings_from_dict
from backproplab.train.trace import Trace
from backproplab.util.messages import InputError

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


def run_bytes(job: Job, trace: Trace) -> int:
    """About how many bytes a cached run holds: its data, its network and every recorded
    iteration (parameters, gradients, step sizes, predictions and three numbers each)."""
    total = sum(np.asarray(a).nbytes for a in (job.x, job.y))
    total += 4 * sum(np.asarray(p.data).nbytes for _, p in job.net.named_parameters())  # values, grads, optimizer
    if len(trace.iterations):
        first = trace.iterations[0]
        values = [*first.params.values(), *first.gradients.values(), *first.step_sizes.values(), first.predictions]
        row = sum(np.asarray(v, dtype=np.float64).nbytes for v in values if v is not None) + 3 * 8
        total += row * len(trace.iterations)
    return total


class Runs:
    """The recent runs, so asking for one more explanation does not train again; they hold at
    most ``max_bytes`` (by :func:`run_bytes`), the least recently used leaving first, and a
    run larger than that on its own is answered but not kept."""

    def __init__(self, max_bytes: int = LIMITS.max_cache_bytes) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[str, tuple[Job, Trace, threading.Lock]] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.documents: dict[str, bytes] = {}  # each kept run's finished lesson document, as sent
        self.lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(self.sizes.values())

    def get(self, settings: Settings, limits: Limits) -> tuple[Job, Trace, threading.Lock]:
        key = settings.key()
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        job, trace = lesson.run(settings, limits)
        entry = (job, trace, threading.Lock())
        size = run_bytes(job, trace)
        with self.lock:
            if size <= self.max_bytes:
                self.items[key], self.sizes[key] = entry, size
                self._evict()
        return entry

    def _evict(self) -> None:
        """Let the least recently used runs go (their documents with them) until the bound holds; the
        caller holds the lock."""
        while self.nbytes > self.max_bytes:
            oldest, _ = self.items.popitem(last=False)
            del self.sizes[oldest]
            self.documents.pop(oldest, None)

    def document(self, settings: Settings) -> bytes | None:
        """The finished document of a kept run, so the same settings asked again are answered at once."""
        key = settings.key()
        with self.lock:
            data = self.documents.get(key)
            if data is not None:
                self.items.move_to_end(key)
            return data

    def keep_document(self, settings: Settings, entry: tuple[Job, Trace, threading.Lock], data: bytes) -> None:
        """Keep a run's finished document with it, counted in the bound; only while that very run is
        still kept, and not when the run and its document together would not fit."""
        key = settings.key()
        with self.lock:
            if self.items.get(key) is not entry or key in self.documents:
                return
            if self.sizes[key] + len(data) > self.max_bytes:
                return
            self.documents[key] = data
            self.sizes[key] += len(data)
            self.items.move_to_end(key)
            self._evict()

    def forget(self, settings: Settings) -> None:
        """Drop a run whose network a stopped request may have left at other values."""
        with self.lock:
            key = settings.key()
            self.items.pop(key, None)
            self.sizes.pop(key, None)
            self.documents.pop(key, None)


class TimeUp(BaseException):
    """Raised inside a worker thread whose request ran past its time limit (a BaseException,
    so no ``except Exception`` on the way swallows it)."""


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """``work()`` in this thread, stopped past ``seconds`` with a one-line LessonError.

    Python cannot kill a thread, so at the deadline a timer asks the interpreter to raise
    :class:`TimeUp` in this one (``PyThreadState_SetAsyncExc``); it unwinds like Ctrl-C,
    releasing every lock on the way, and the server is free for the next request."""
    thread = threading.get_ident()
    guard = threading.Lock()
    done = [False]

    def stop() -> None:
        with guard:
            if done[0]:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(TimeUp))
            # asked again shortly: one that lands in a __del__ or a callback is swallowed by Python
            again = threading.Timer(0.2, stop)
            again.daemon = True
            again.start()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    try:
        try:
            timer.start()
            return work()
        finally:
            timer.cancel()
            with guard:
                done[0] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)  # none left pending
    except TimeUp:
        raise LessonError(f"working out this lesson took longer than {seconds:g} s, this page's limit for one "
                          "request; use fewer parameters or steps here, or the command line for large ones",
                          413) from None


def refusal(scope: Scope) -> tuple[int, str] | None:
    """(status, message) for a request this server does not answer: one from another site, or
    a POST that is not JSON; None for the page's own requests."""
    headers = Headers(scope=scope)
    method, path = scope["method"], scope["path"]
    origin = headers.get("origin")
    if origin is not None and origin != f"{scope.get('scheme', 'http')}://{headers.get('host', '')}":
        return 403, "this server answers only its own page; a request from another site is refused"
    site = headers.get("sec-fetch-site")
    navigation = method in ("GET", "HEAD") and headers.get("sec-fetch-mode") in (None, "navigate")
    if site in ("cross-site", "same-site") and (path.startswith("/api/") or not navigation):
        return 403, "this server answers only its own page; a request from another site is refused"
    if method == "POST" and headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return 415, "send the settings as JSON, with Content-Type: application/json, as the lesson page does"
    return None


class Guard:
    """ASGI middleware: refuses what :func:`refusal` refuses, and adds the security headers
    (the CSP among them) to every response, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        refused = refusal(scope)
        if refused is not None:
            await JSONResponse({"error": refused[1]}, status_code=refused[0])(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)


def error(exc: Exception) -> JSONResponse:
    """A refused request's one-line answer, with the status its LessonError carries (400 otherwise)."""
    status = getattr(exc, "status", 400)
    message = exc.args[0] if exc.args else str(exc)
    return JSONResponse({"error": str(message)}, status_code=status)


async def read_json(request: Request, limits: Limits) -> Any:
    """The request's JSON body, read no further than ``limits.max_body_bytes``; a body that is not
    plain JSON is one LessonError that says what the page sends instead."""
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
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise LessonError("the request holds a number too long to read; the page sends numbers of a few "
                          "digits") from None


def detail_request(body: Any) -> tuple[str, int, list[int] | None, Settings]:
    """A detail request's parameter, iteration (1-based), entry index and settings, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("param"), str) or \
            not isinstance(body.get("iteration"), int) or isinstance(body.get("iteration"), bool):
        raise LessonError("detail needs settings, a parameter name (param) and an iteration number")
    index = body.get("index")
    if index is not None and not (isinstance(index, list) and len(index) <= 4 and all(
            isinstance(i, int) and not isinstance(i, bool) for i in index)):
        raise LessonError("index should be a short list of whole numbers, such as [0, 2]")
    return body["param"], body["iteration"], index, settings_from_dict(body.get("settings") or {})


class Lessons:
    """The app's answers: each request's run trained (or found among the kept ones) in a worker
    thread, taking turns, within the time limit; ``concurrency`` requests at once, the rest told
    "busy" at once."""

    def __init__(self, initial: Settings, limits: Limits, concurrency: int, hide: tuple[str, ...] = (),
                 tour: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.initial = initial
        self.tour = tour  # a lesson script's tour, added to the documents of the initial settings' run
        self.hide = hide  # the controls the page leaves out (serve --hide)
        self.limits = limits
        self.runs = Runs(limits.max_cache_bytes)
        self.slots = asyncio.Semaphore(concurrency)

    async def heavy(self, fn: Callable[[], Any]) -> Response:
        """``fn()``'s document (or detail) as JSON, or its one-line error."""
        if self.slots.locked():
            return JSONResponse({"error": BUSY, "busy": True}, status_code=503, headers={"Retry-After": "1"})
        async with self.slots:
            failed = None
            try:
                doc = await run_in_threadpool(self._locked, fn)
            except (LessonError, ValueError, KeyError) as exc:
                failed = error(exc)
            except (ArithmeticError, MemoryError, RecursionError, RuntimeError) as exc:  # say it, keep serving
                message = f"the server could not work this lesson out ({type(exc).__name__}: {exc})"
                failed = JSONResponse({"error": message[:300]}, status_code=500)
            if failed is not None:
                # a stopped run's partial record stays reachable from the error's traceback, a reference
                # cycle; free it now rather than at some later collection, so failed runs cannot pile up
                await run_in_threadpool(gc.collect)
                return failed
        body = doc if isinstance(doc, bytes) else lesson.to_json(doc)
        return Response(body, media_type="application/json")

    def _locked(self, fn: Callable[[], Any]) -> Any:
        with ENGINE:
            return within(self.limits.request_seconds, fn)

    def build(self, settings: Settings) -> bytes:
        """The document's JSON, from the run's kept copy or built (in this worker thread, JSON and
        all) and kept with the run only once it is complete: a failed or stopped build keeps nothing."""
        try:
            data = self.runs.document(settings)
            if data is not None:
                return data
            entry = self.runs.get(settings, self.limits)
            job, trace, lock = entry
            with lock:
                doc = lesson.document(job, trace, settings, limits=self.limits)
                if self.tour is not None and self.tour_run(settings, doc):
                    doc = self.tour(doc)
                data = lesson.to_json(doc).encode("utf-8")
            self.runs.keep_document(settings, entry, data)
            return data
        except TimeUp:
            self.runs.forget(settings)
            raise

    def tour_run(self, settings: Settings, doc: dict[str, Any]) -> bool:
        """Whether ``doc`` is of the initial settings' run (the one a lesson script's tour is about): those settings,
        or others that run the same (a reloaded page's address names every setting the run used)."""
        run = (doc["source"]["spec_text"], doc["settings"])
        if settings == self.initial:
            self.initial_run = run
        return run == getattr(self, "initial_run", None)

    def warm(self) -> None:
        """Build the initial lesson into the cache before serving, so the page's first load does no work;
        a mistake in the initial settings is raised here as its one-line LessonError."""
        with ENGINE:
            self.build(self.initial)

    def detail(self, settings: Settings, param: str, iteration: int, index: list[int] | None,
               check: bool = False) -> dict[str, Any]:
        try:
            job, trace, lock = self.runs.get(settings, self.limits)
            with lock:
                return lesson.detail(settings, param, iteration, (job, trace), self.limits, index, check=check)
        except TimeUp:
            self.runs.forget(settings)
            raise

    async def answer(self, settings: Settings) -> Response:
        data = self.runs.document(settings)  # a kept document waits for no other request's run
        if data is not None:
            return Response(data, media_type="application/json")
        return await self.heavy(lambda: self.build(settings))

    async def page(self, request: Request) -> Response:
        return HTMLResponse(with_hide(static_dir().joinpath("index.html").read_text(encoding="utf-8"), self.hide))

    async def lesson_get(self, request: Request) -> Response:
        return await self.answer(self.initial)

    async def lesson_post(self, request: Request) -> Response:
        try:
            settings = settings_from_dict(await read_json(request, self.limits))
        except LessonError as exc:
            return error(exc)
        return await self.answer(settings)

    async def compare_post(self, request: Request) -> Response:
        """A run to draw beside the shown one: its document, built as a run switch builds it, with its settings."""
        try:
            settings = compared_settings(await read_json(request, self.limits))
        except (LessonError, InputError) as exc:
            return error(exc)
        head = ('{"settings": ' + lesson.to_json(settings_given(settings)) + ', "document": ').encode("utf-8")
        return await self.heavy(lambda: head + self.build(settings) + b"}")

    async def detail_post(self, request: Request) -> Response:
        try:
            body = await read_json(request, self.limits)
            param, iteration, index, settings = detail_request(body)
        except LessonError as exc:
            return error(exc)
        check = body.get("check") is True  # the lists to check a prediction with, asked for by a page that needs them
        return await self.heavy(lambda: self.detail(settings, param, iteration, index, check))

    async def initial_settings(self, request: Request) -> Response:
        """Every setting the page started with, so that what it asks for later is about the same run."""
        started = {k: v for k, v in dataclasses.asdict(self.initial).items() if v not in (None, {}, [])}
        return JSONResponse({"preset": self.initial.preset, "custom": self.initial.spec_text is not None,
                             "settings": started})


def create_app(initial: Settings | None = None, *, allowed_hosts: list[str] | None = None,
               limits: Limits = LIMITS, concurrency: int = 4, hide: tuple[str, ...] = (),
               tour: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Starlette:
    """The lesson app: the page, its static files, ``/api/lesson`` and ``/api/detail``.

    ``concurrency`` requests may be admitted at once (working or waiting for their turn);
    more get a 503 "busy" answer at once; the page leaves out the controls ``hide`` names (checked). ``tour``:
    adds a lesson script's tour to the documents of the initial settings' run."""
    lessons = Lessons(initial or Settings(), limits, concurrency, hide, tour)
    routes = [
        Route("/", lessons.page),
        Route("/api/lesson", lessons.lesson_get, methods=["GET"]),
        Route("/api/lesson", lessons.lesson_post, methods=["POST"]),
        Route("/api/detail", lessons.detail_post, methods=["POST"]),
        Route("/api/compare", lessons.compare_post, methods=["POST"]),
        Route("/api/initial", lessons.initial_settings, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(static_dir())), name="static"),
    ]
    hosts = list(allowed_hosts or LOOPBACK)
    app = Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                               Middleware(Guard)])
    app.state.runs = lessons.runs
    app.state.warm = lessons.warm
    return app


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
    """A listening socket (port 0 picks a free port), so the address is known before serving.

    A mistake is one line that blames what is wrong: the host (not an address of this
    computer) or the port (out of range, taken, or not allowed)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535 (0 picks a free port), got {str(port)[:20]}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError, ValueError):
        raise InputError(f"cannot listen on host {host[:60]!r}: it is not an address or a name this computer knows; "
                         "use --host 127.0.0.1 (this computer) or 0.0.0.0 (every network)") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each connection inherits it: an answer's body
    # goes out at once, not 40 ms later after the browser's delayed acknowledgement of its headers
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(f"cannot listen on host {host[:60]!r}: {exc.strerror} (it is not an address of this "
                             "computer); use --host 127.0.0.1 or 0.0.0.0") from None
        raise InputError(f"cannot listen on {host[:60]}:{port}: {exc.strerror}; choose another --port") from None
    sock.listen(128)
    return sock


def serve(initial: Settings, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True,
          say: Callable[[str], None] = print, sock: socket.socket | None = None, app: Starlette | None = None) -> None:
    """Serve until Ctrl-C (on ``sock`` if given: a socket :func:`bind` made for this host), the initial
    lesson built before the first request (``app``: one made and warmed already, by :func:`create_app`)."""
    import uvicorn

    sock = sock if sock is not None else bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if app is None:
        app = create_app(initial, allowed_hosts=hosts_for(host))
        try:
            app.state.warm()
        except BaseException:
            sock.close()
            raise
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
