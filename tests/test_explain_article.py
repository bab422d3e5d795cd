"""The dosage example beside the article: each number the article prints, the exact value from the
engine, and the reason they differ; the same table in the README, the docs, notebook 03 and the CLI."""

from __future__ import annotations

import importlib.util
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from backproplab.explain.article import article_table_markdown, compared_with_article
from backproplab.spec.presets import DOSAGE_START, DOSAGE_X, DOSAGE_Y

from .conftest import assert_clean_error, cli

ROOT = Path(__file__).resolve().parent.parent


def plain(text: str) -> str:
    return text.replace("−", "-")


def by_hand_yhat(b3: float) -> np.ndarray:
    """The dosage network written out with NumPy, from the preset's starting values."""
    v = dict(DOSAGE_START)
    x = np.asarray(DOSAGE_X, dtype=float)
    h1, h2 = np.logaddexp(0.0, v["w1"] * x + v["b1"]), np.logaddexp(0.0, v["w2"] * x + v["b2"])  # softplus
    return v["w3"] * h1 + v["w4"] * h2 + b3


def ssr(b3: float) -> float:
    return float(np.sum((np.asarray(DOSAGE_Y) - by_hand_yhat(b3)) ** 2))


def central(b3: float, h: float = 1e-6) -> float:
    return (ssr(b3 + h) - ssr(b3 - h)) / (2 * h)


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return {row["what"]: row for row in compared_with_article()}


def test_every_row_has_the_article_number_the_exact_value_and_a_reason(rows):
    assert len(rows) == 13
    for row in rows.values():
        assert set(row) >= {"what", "article", "exact", "why"}
        assert isinstance(row["exact"], float) and row["why"]
        assert re.fullmatch(r"−?\d+(\.\d+)?", row["article"]), row["article"]


def test_the_exact_values_are_the_hand_computed_run_checked_by_central_differences(rows):
    b3 = 0.0
    for iteration in (1, 2):
        yhat = by_hand_yhat(b3)
        for i in (1, 2, 3):
            assert rows[f"ŷ_{i} at iteration {iteration}"]["exact"] == pytest.approx(yhat[i - 1], abs=1e-12)
        g = float(np.sum(-2 * (np.asarray(DOSAGE_Y) - yhat)))
        assert g == pytest.approx(central(b3), rel=1e-7)
        assert rows[f"dSSR/db3 at iteration {iteration}"]["exact"] == pytest.approx(g, rel=1e-12)
        assert rows[f"step size at iteration {iteration}"]["exact"] == pytest.approx(0.1 * g, rel=1e-12)
        b3 -= 0.1 * g
        assert rows[f"new b3 after iteration {iteration}"]["exact"] == pytest.approx(b3, rel=1e-12)
    best = float(np.mean(np.asarray(DOSAGE_Y) - by_hand_yhat(0.0)))  # the bottom of the parabola in b3
    assert rows["b3 where the gradient is ≈ 0"]["exact"] == pytest.approx(best, abs=1e-3)


def test_the_article_numbers_are_those_it_prints(rows):
    printed = {what: plain(row["article"]) for what, row in rows.items()}
    assert [printed[f"ŷ_{i} at iteration 2"] for i in (1, 2, 3)] == ["-1.03", "-0.03", "-1.04"]
    assert [printed[f"{w} at iteration 2"] for w in ("dSSR/db3", "step size")] == ["-6.26", "-0.626"]
    assert printed["dSSR/db3 at iteration 1"] == "-15.7" and printed["new b3 after iteration 2"] == "2.19"


def test_the_reasons_carry_the_article_own_sums_worked_on_its_printed_numbers(rows):
    for iteration in (1, 2):
        yhat = [Decimal(plain(rows[f"ŷ_{i} at iteration {iteration}"]["article"])) for i in (1, 2, 3)]
        own = sum(-2 * (Decimal(str(y)) - p) for y, p in zip(DOSAGE_Y, yhat))
        why = rows[f"dSSR/db3 at iteration {iteration}"]["why"]
        assert f"= {own:.2f}".replace("-", "−") in why, why
    assert "= −6.20" in rows["dSSR/db3 at iteration 2"]["why"]
    assert "= −15.62" in rows["dSSR/db3 at iteration 1"]["why"]
    for i in (1, 2, 3):  # iteration 2's ŷ: the rounded ŷ of iteration 1 minus the rounded step
        before = Decimal(plain(rows[f"ŷ_{i} at iteration 1"]["article"]))
        step = Decimal(plain(rows["step size at iteration 1"]["article"]))
        assert Decimal(plain(rows[f"ŷ_{i} at iteration 2"]["article"])) == before - step
        assert "rounded step" in rows[f"ŷ_{i} at iteration 2"]["why"]
        assert rows[f"ŷ_{i} at iteration 2"]["shown"] in rows[f"ŷ_{i} at iteration 2"]["why"]
    assert "rounded to 3 decimals" in rows["step size at iteration 2"]["why"]


def _markdown_rows(text: str) -> list[list[str]]:
    start = text.index("| what | the article |")
    lines = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append([c.strip() for c in line.strip("|").split("|")])
    return lines[2:]


def _docs_gen():
    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_the_docs_table_is_the_engine_comparison():
    page = _docs_gen().article_page()
    table = _markdown_rows(page)
    expected = compared_with_article()
    assert [r[0] for r in table] == [r["what"] for r in expected]
    for cells, row in zip(table, expected):
        assert cells[1] == row["article"] and cells[3] == row["why"]
        assert float(plain(cells[2])) == pytest.approx(row["exact"], abs=5e-5)
    assert "demo statquest --compare" in page
    assert "demo statquest --compare" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def test_the_readme_shows_what_the_demo_prints(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("```text\n$ backproplab demo statquest\n", 1)[1].split("```", 1)[0]
    code, out, _ = cli(capsys, "demo", "statquest")
    assert code == 0
    printed = iter(out.splitlines())
    lines = [line for line in shown.splitlines() if line != "…"]
    assert len(lines) >= 10 and "new b3 = old b3 − step size = 1.57 − (−0.63) = 2.19" in lines
    for line in lines:  # each line the README quotes is printed, in the order it quotes them
        assert any(p == line for p in printed), line


def test_the_docs_page_and_notebook_03_carry_the_same_table():
    page = _docs_gen().article_page()
    assert _markdown_rows(page) == _markdown_rows(article_table_markdown())
    assert "article.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "(article.md)" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    notebook = (ROOT / "notebooks" / "03-gradient-descent.py").read_text(encoding="utf-8")
    assert "Markdown(article_table_markdown())" in notebook


def test_demo_compare_prints_the_table_after_the_run(capsys):
    code, out, _ = cli(capsys, "demo", "statquest", "--compare")
    assert code == 0
    after = out[out.index("Compared with the article"):]
    for row in compared_with_article():
        assert f"{row['what']}: article {row['article']}, exact {row['exact_text']}" in after
        assert row["why"] in after


@pytest.mark.parametrize("args", [("demo", "moons", "--compare"), ("demo", "statquest", "--compare", "--json")])
def test_compare_elsewhere_is_one_clear_line(capsys, args):
    assert_clean_error(capsys, list(args), "--compare")
