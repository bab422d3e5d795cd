"""``Lesson``: the anywidget that hosts the lesson page; see the package's docstring."""

from __future__ import annotations

from importlib import resources
from typing import Any

import anywidget
import traitlets

from backproplab.lesson import document as lesson
from backproplab.lesson.export import render
from backproplab.lesson.runs import compared_settings, settings_given
from backproplab.lesson.settings import LIMITS, Job, LessonError, Settings, load_job, settings_from_dict
from backproplab.train.trace import Iterations, Trace

MESSAGE_CHARS = 400  # an error shown on the page is cut to this length
SETTINGS = ("preset", "spec_text", "csv_text", "lr", "optimizer", "optimize", "start", "min_step", "max_steps")


def one_line(exc: BaseException) -> str:
    """An error's message as one line of at most MESSAGE_CHARS characters (a KeyError's without its quotes)."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


class Lesson(anywidget.AnyWidget):
    """The interactive lesson in a notebook: ``Lesson()``, ``Lesson("moons")``, ``Lesson(lr=0.05)``."""

    _esm = resources.files("backproplab.lesson").joinpath("static").joinpath("widget.js").read_text(encoding="utf-8")

    preset = traitlets.Unicode("statquest", allow_none=True)
    spec_text = traitlets.Unicode(None, allow_none=True)
    csv_text = traitlets.Unicode(None, allow_none=True)
    lr = traitlets.Float(None, allow_none=True)
    optimizer = traitlets.Unicode(None, allow_none=True)
    optimize = traitlets.Union([traitlets.List(traitlets.Unicode()), traitlets.Unicode()], default_value=None,
                               allow_none=True)
    start = traitlets.Dict(default_value={})
    min_step = traitlets.Float(None, allow_none=True)
    max_steps = traitlets.Int(None, allow_none=True)

    document = traitlets.Dict().tag(sync=True)  # the lesson document the page draws
    revision = traitlets.Int(0).tag(sync=True)  # counts documents, so the page never loads one twice
    iteration = traitlets.Int(1).tag(sync=True)  # the iteration the page shows (1-based), set by the page
    selected = traitlets.Unicode("").tag(sync=True)  # the parameter the page has selected
    height = traitlets.Int(900).tag(sync=True)  # of the frame, in pixels
    error = traitlets.Unicode("")  # the last recompute's one-line error ("" when it worked)
    _page = traitlets.Unicode("").tag(sync=True)

    def __init__(self, preset: str | None = "statquest", **kwargs: Any) -> None:
        self._job: Job | None = None
        self._trace: Trace | None = None
        self._next: dict[str, Any] = {}
        self._quiet = True
        super().__init__(preset=preset, **kwargs)
        self._quiet = False
        self._recompute()  # raises a LessonError (one line) for settings that cannot run
        page = render(self.document)
        self._page = page.replace('<script type="application/json" id="lesson-document">',
                                  '<script type="application/json" id="lesson-document" data-host="widget">', 1)
        self.on_msg(self._on_page_message)

    # --- settings -------------------------------------------------------------------------
    def settings(self) -> Settings:
        """The settings as the page and the server know them, checked."""
        values = {name: getattr(self, name) for name in SETTINGS}
        values = {k: v for k, v in values.items() if v is not None and v != {}}
        return settings_from_dict(values)

    @traitlets.observe(*SETTINGS)
    def _settings_changed(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        try:
            self._recompute()
        except (LessonError, ValueError, KeyError) as exc:  # a SpecError is a ValueError
            self.error = one_line(exc)

    def _recompute(self, settings: Settings | None = None, publish: bool = True) -> dict[str, Any]:
        settings = settings or self.settings()
        job = load_job(settings, LIMITS)
        trace = lesson.train(job, LIMITS)
        doc = lesson.document(job, trace, settings, limits=LIMITS)
        self._job, self._trace, self.error = job, trace, ""
        self._next = doc
        if publish:
            self._publish()
        return doc

    def _publish(self) -> None:
        self.revision += 1
        self.document = self._next

    # --- what Python reads ----------------------------------------------------------------
    @property
    def trace(self) -> Trace:
        """The whole run for the current settings."""
        assert self._trace is not None
        return self._trace

    def trace_so_far(self) -> Trace:
        """The run up to the iteration the page shows: iterations 1 … ``iteration``."""
        full = self.trace
        return Trace(loss=full.loss, learning_rate=full.learning_rate, optimize=list(full.optimize),
                     optimizer=full.optimizer, iterations=Iterations(full.iterations[:max(self.iteration, 1)]),
                     inputs=full.inputs, targets=full.targets)

    # --- the page's requests --------------------------------------------------------------
    def answer(self, url: str, body: Any) -> dict[str, Any]:
        """What the server would answer to the page's request (``/api/lesson``, ``/api/detail`` or
        ``/api/compare``)."""
        if url == "/api/lesson":
            settings = settings_from_dict(body if body is not None else {})
            doc = self._recompute(settings, publish=False)  # published once the page has its answer
            self._quiet = True
            try:  # the traits follow the page, without working the run out again
                for name in SETTINGS:
                    setattr(self, name, getattr(settings, name) if name != "start" else dict(settings.start))
            finally:
                self._quiet = False
            return doc
        if url == "/api/detail":
            if not isinstance(body, dict) or not isinstance(body.get("param"), str) \
                    or not isinstance(body.get("iteration"), int):
                raise LessonError("detail needs a parameter name (param) and an iteration number")
            ran = (self._job, self._trace) if self._job is not None and self._trace is not None else None
            return lesson.detail(self.settings(), body["param"], body["iteration"], ran, LIMITS,
                                 check=body.get("check") is True)
        if url == "/api/compare":  # a run drawn beside this one: whole, as an exported file holds it (no detail asked)
            settings = compared_settings(body)
            return {"settings": settings_given(settings), "document": lesson.build(settings, everything=True)}
        raise LessonError(f"the widget does not answer {url}", status=404)

    def _on_page_message(self, _widget: Any, msg: Any, _buffers: Any) -> None:
        if not isinstance(msg, dict) or msg.get("kind") != "request":
            return
        reply: dict[str, Any] = {"kind": "answer", "id": msg.get("id")}
        url = msg.get("url", "")
        try:
            reply |= {"ok": True, "data": self.answer(url, msg.get("body"))}
            if url == "/api/lesson":
                reply["revision"] = self.revision + 1  # the revision this document gets when published below
        except (LessonError, ValueError, KeyError) as exc:  # a mistake in the settings or the spec: say it
            reply |= {"ok": False, "error": one_line(exc), "status": getattr(exc, "status", 400)}
            if url == "/api/lesson":
                self.error = reply["error"]
        except Exception as exc:  # anything else still gets an answer: the page must never wait for one
            reply |= {"ok": False, "status": 500,
                      "error": f"the widget could not work this lesson out ({type(exc).__name__}: {one_line(exc)})"}
        self.send(reply)
        if reply["ok"] and url == "/api/lesson":
            self._publish()
