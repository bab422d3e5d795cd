"""MkDocs hook: add the generated pages (docs/gen.py) to the site at build time, and copy KaTeX
from the package's own vendored copy, so that the site loads nothing from the network."""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402

KATEX = Path(gen.ROOT) / "src" / "backproplab" / "lesson" / "static" / "vendor" / "katex"


def on_config(config):
    """The series in the navigation: one page per notebook, in order, so a new notebook needs no edit here."""
    series = [{"Overview": "series/index.md"}] + [{gen.notebook_title(p): f"series/{p.stem}.md"}
                                                       for p in gen.notebook_paths()]
    config["nav"] = [{"The series": series} if item == {"The series": "series/index.md"} else item
                     for item in config["nav"]]
    return config


def on_files(files: Files, config) -> Files:
    """Add the generated pages; a hand-written page that gets a generated part is replaced by the whole."""
    for rel, content in gen.pages().items():
        written = files.get_file_from_path(rel)
        if written is not None:
            files.remove(written)
        files.append(File.generated(config, rel, content=content))
    if KATEX.is_dir():
        for path in sorted(KATEX.rglob("*")):
            if path.is_file():
                files.append(File.generated(config, f"assets/katex/{path.relative_to(KATEX).as_posix()}",
                                            abs_src_path=str(path)))
    return files
