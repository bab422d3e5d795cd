"""A lesson script's guided tour: the run's lesson document with the tour in it, as one offline page
(``backproplab export lesson.toml``) or served (``backproplab serve lesson.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backproplab.lesson import document as lesson
from backproplab.lesson.export import render
from backproplab.lesson.script import LessonScript, load
from backproplab.lesson.settings import Settings
from backproplab.util import files


@dataclass(frozen=True)
class Tour:
    """A checked lesson script and what it makes: ``bl.lesson_script("part3.toml").save("part3.html")``."""

    script: LessonScript

    @property
    def settings(self) -> Settings:
        """The run the tour is about, as the page's settings."""
        return self.script.settings

    def document(self, *, everything: bool = False) -> dict[str, Any]:
        """The run's lesson document with its ``tour``: every step checked against the run, its numbers filled in."""
        doc = lesson.build(self.script.settings, everything=everything)
        doc["tour"] = self.script.tour(doc)
        return doc

    def html(self, hide: tuple[str, ...] = ()) -> str:
        """The tour as ONE HTML file that works offline (the page, the document and KaTeX in it); ``hide``: controls
        the page leaves out for good (``--hide``), beside those each step leaves out."""
        return render(self.document(everything=True), hide=hide)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`html` to ``path`` (replaced only once complete)."""
        path = Path(path)
        files.write_text(path, self.html(), example="part3.html")
        return path


def lesson_script(path: str | Path) -> Tour:
    """A lesson script (TOML) read and checked, every mistake one line naming the file and the step."""
    return Tour(load(path))


def add_tour(script: LessonScript) -> Any:
    """What the server calls on a document of the script's own run: the document with its tour."""
    def add(doc: dict[str, Any]) -> dict[str, Any]:
        doc["tour"] = script.tour(doc)
        return doc
    return add
