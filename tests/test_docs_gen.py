"""The generated documentation pages cover what they document: every op, every command, every
spec field the presets use, every catalogued error. (The site itself is built by CI with
``mkdocs build --strict``.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from backproplab import ops
from backproplab.cli.program import build_parser
from backproplab.spec.presets import PRESETS
from backproplab.spec.spec import TOP_LEVEL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_op_page_has_a_row_for_every_op_with_its_derivative(gen):
    page = gen.ops_page()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == list(ops.OPS)
    softplus = next(r for r in rows if r.startswith("| `softplus`"))
    assert "e^z/(1 + e^z) = σ(z)" in softplus


def test_cli_page_has_every_command(gen):
    page = gen.cli_page()
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"## backproplab {name}\n" in page
    assert "--iteration" in page


def test_spec_fields_are_the_checkers_own_and_cover_the_presets(gen):
    assert gen.allowed_fields("statquest", 'name = "statquest"') == list(TOP_LEVEL)
    statquest = tomllib.loads(PRESETS["statquest"].text)
    moons = tomllib.loads(PRESETS["moons"].text)
    assert set(statquest["training"]) <= set(gen.allowed_fields("statquest", 'loss = "ssr"'))
    assert set(statquest["network"]) <= set(gen.allowed_fields("statquest", 'output = "yhat"'))
    assert set(moons["network"]) <= set(gen.allowed_fields("moons", "inputs = 2"))
    assert set(moons["data"]) <= set(gen.allowed_fields("moons", 'dataset = "moons"'))
    assert gen.allowed_fields("statquest", 'csv = "data.csv"') == ["csv", "x", "y"]


def test_error_page_lists_every_catalogued_case(gen):
    from tests.test_spec_catalogue import CASES

    rows = gen.catalogue()
    assert len(rows) == len(CASES)
    page = gen.spec_page()
    for case, _command, parts in rows:
        assert case.replace("|", "&#124;") in page
        assert all(p.replace("|", "&#124;") in page for p in parts)


def test_a_widget_output_becomes_a_picture_of_the_same_page(gen):
    out = {"output_type": "execute_result",
           "data": {gen.WIDGET: {"model_id": "x", "version_major": 2}, "text/plain": "Lesson(...)"}}
    md = gen._output_markdown(out, "03-gradient-descent", 1, {})
    shot = re.search(r"\]\(\.\./(screenshots/[^)]+)\)", md).group(1)
    assert (ROOT / "docs" / shot).stat().st_size > 10_000 and "Lesson(...)" not in md
    assert gen._output_markdown({"output_type": "execute_result", "data": {"text/plain": "7"}}, "s", 1, {}) \
        == "```text\n7\n```\n"


def test_every_page_is_in_the_navigation_and_every_readme_link_has_its_page(gen):
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    in_nav = set(re.findall(r": (\S+\.md)$", nav, re.M))
    written = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert written <= in_nav and {"article.md", "ops.md", "cli.md"} <= in_nav
    assert {rel for rel in in_nav if rel not in written} <= {"article.md", "ops.md", "cli.md", "series/index.md",
                                                           "gallery/index.md"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\(docs/([^)#]+)\)", readme)
    assert len(linked) >= 10
    for rel in linked:
        assert (ROOT / "docs" / rel).is_file(), rel


def test_a_hand_written_page_keeps_its_words_and_gets_its_generated_part(gen):
    page = gen.spec_page()
    assert page.startswith(gen.hand_written("own-networks.md").rstrip())
    assert "## Fields, table by table" in page and "## Every error message" in page
    speed = gen.speed_page()
    assert speed.startswith(gen.hand_written("speed.md").rstrip())
    assert "## The dosage network's replay in full" in speed and "def backward" in speed
