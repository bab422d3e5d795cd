"""Predict, then reveal, and "check my numbers", on the lesson page in a real browser (Debian's chromium).

The page only compares a typed number with the lists the document holds (explain/check.py's candidates) and
shows their words; every mark and message here is compared with what ``bl.check`` says of the same number.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from pathlib import Path

import pytest

import backproplab as bl
from backproplab.explain.check import candidates
from backproplab.explain.check_answer import STATUSES, agrees, guessed
from backproplab.lesson import document as lesson
from backproplab.lesson.export import export
from backproplab.lesson.settings import Settings
from backproplab.train.trace import to_json_value
from backproplab.util.messages import InputError
from tests.test_web_browser import Page

STATIC = Path(__file__).resolve().parents[1] / "src/backproplab/lesson/static"
ARTICLE = {"yhat1": "-1.03", "yhat2": "-0.03", "yhat3": "-1.04", "grad.b3": "-6.26", "step.b3": "-0.626", "b3": "2.19"}
PYTHON_KEY = {"grad.b3": "grad_b3", "step.b3": "step_b3"}  # bl.check's keywords: "_" for "."


@pytest.fixture(scope="module")
def run():
    return lesson.run(Settings())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("predict") / "lesson.html"
    path.write_text(export(Settings()), encoding="utf-8")
    return path


def verdict(trace, key: str, typed: str):
    return bl.check(trace, iteration=2, **{PYTHON_KEY.get(key, key): typed})[key]


# --- the document ----------------------------------------------------------------------------------
def test_the_documents_check_entries_are_the_candidates(run):
    job, trace = run
    full = lesson.build(Settings(), everything=True)
    assert sorted(map(int, full["check"])) == list(range(1, len(trace.iterations) + 1))
    for k, listed in full["check"].items():
        assert listed == to_json_value([q.to_dict() for q in candidates(trace, int(k), job.net)])
    assert lesson.build(Settings())["check"] == {}  # a served page asks for them with an iteration's detail
    assert lesson.detail(Settings(), "b3", 3, check=True)["check"] == full["check"]["3"]
    assert "check" not in lesson.detail(Settings(), "b3", 3)
    assert full["words"]["check"] == STATUSES
    kinds = {c["kind"] for q in full["check"]["2"] for c in q["mistakes"]}
    moons = lesson.run(Settings(preset="moons", max_steps=3))
    keys = [q["key"] for q in lesson.detail(Settings(), "b3", 1, moons, check=True)["check"]]
    every = [q.key for q in candidates(moons[1], 1, moons[0].net)]
    assert keys == [k for k in every if not k.startswith("yhat") or int(k[4:]) <= lesson.CHECK_SAMPLES]
    assert len(every) > len(keys) and "yhat8" in keys
    assert {"residual_sign", "minus_two_forgotten", "step_added", "lr_on_new", "old_value"} <= kinds


def test_a_run_without_a_hand_check_holds_no_lists(monkeypatch):
    def cannot(*_args, **_kwargs):
        raise InputError("no hand check for this network")

    monkeypatch.setattr(lesson, "candidates", cannot)
    assert lesson.build(Settings(max_steps=3), everything=True)["check"] == {}
    assert lesson.detail(Settings(max_steps=3), "b3", 2, check=True)["check"] is None


# --- the rule: the page's own comparison against check_answer.agrees --------------------------------
@pytest.fixture(scope="module")
def js_agrees(browser):
    page = browser.new_page()
    source = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in ("format.js", "checkbox.js"))
    source = re.sub(r"^import .*;$", "", source, flags=re.M).replace("export function", "function")
    source = re.sub(r"^export const", "const", source, flags=re.M).replace("wireCheckBox();", "")
    page.add_script_tag(content=source)

    def compare(pairs: list[tuple[float, str]]) -> list[bool]:
        return page.evaluate("(pairs) => pairs.map(([v, t]) => agrees(v, t))", pairs)

    yield compare
    page.close()


def test_the_page_matches_a_typed_number_as_check_answer_does(js_agrees):
    rng = random.Random(7)
    pairs: list[tuple[float, str]] = []
    for _ in range(600):
        value = rng.choice([rng.uniform(-20, 20), rng.uniform(-1, 1) * 10 ** rng.randint(-6, 3)])
        places = rng.randint(0, 5)
        typed = f"{value + rng.choice([0, 0, 1, -1]) * 10 ** -places * rng.random():.{places}f}"
        pairs.append((value, typed))
    for tie in ["2.195", "-0.6255", "0.125", "2.5", "-1.035", "1e-3", "6.3e-5", "100", "1.", ".5", "+2.19"]:
        value = float(Decimal(tie.rstrip(".")) + 0)
        for typed in [tie, f"{float(tie):.2f}", f"{float(tie):.1f}", f"{float(tie):.3f}", "2.19", "-0.626", "2.20"]:
            pairs.append((value, typed))
    pairs += [(-6.262043352231099, "-6.26"), (-6.262043352231099, "-6.2620"), (2.191715173280885, "2.2"),
              (0.0, "-0"), (1e-13, "0"), (2.1917151732, "2.1917151732")]
    found = js_agrees(pairs)
    assert found == [agrees(v, t) for v, t in pairs]
    assert any(found) and not all(found)


# --- predict, then reveal ---------------------------------------------------------------------------
def hidden_state(p: Page) -> dict:
    """What shows of the step: the table's numbers, the tangent, the steps on the pink curve, the loss chart's
    points, and the derivation."""
    page = p.page
    cells = "table.steps tbody tr[data-param='b3'] td"
    return {"cells": page.eval_on_selector_all(cells, "els => els.map(e => e.textContent)"),
            "tangent": page.locator("#curve line.tangent").count(),
            "steps": page.locator("#curve circle.step-point").count(),
            "history": len(re.findall(r"[ML]", page.get_attribute("#history path.history", "d") or "")),
            "katex": page.locator("#derivation .katex").count(),
            "derivation": p.text("#derivation"),
            "cli": page.locator("pre.cli-lines").count(),
            "announce": page.text_content("#announce")}


def keyboard_to_iteration_2(p: Page) -> None:
    p.page.focus("#predict")
    p.page.keyboard.press("Space")  # the switch, from the keyboard
    assert p.page.is_checked("#predict") and p.page.is_visible("#predict-box")
    p.page.evaluate("document.activeElement.blur()")  # → from the page itself
    p.page.keyboard.press("ArrowRight")
    p.wait_iteration(2)


def test_predict_hides_the_step_until_a_right_answer_reveals_it(browser, exported, run):
    job, trace = run
    p = Page(browser, offline=True).open(exported.as_uri())
    try:
        keyboard_to_iteration_2(p)
        hidden = hidden_state(p)
        assert hidden["cells"][1:] == ["?", "?", "?"] and hidden["cells"][0] == "1.57"
        assert hidden["tangent"] == 0 and hidden["steps"] == 2  # no point past this iteration's
        assert hidden["history"] == 2 and hidden["katex"] == 0 and hidden["cli"] == 0
        assert "hidden until you predict" in hidden["derivation"]
        assert "gradient" not in hidden["announce"] and "tangent: hidden" in p.page.text_content("#curve")
        assert p.page.get_attribute("#predict-said", "aria-live") == "polite"
        # keyboard only: type, Enter checks
        p.page.focus("#predict-answer")
        p.page.keyboard.type("-6.26")
        p.page.keyboard.press("Enter")
        said = p.page.text_content("#predict-verdict")
        assert said.startswith("right: ") and verdict(trace, "grad.b3", "-6.26").message in said
        shown = hidden_state(p)
        assert shown["cells"][1:] == ["−6.26", "−0.63", "2.19"] and shown["tangent"] == 1 and shown["katex"] > 0
        assert shown["history"] == len(trace.losses()) and shown["cli"] == 1 and "gradient" in shown["announce"]
        # → goes on, and the next iteration waits for its own prediction; the answer box keeps the focus
        p.page.keyboard.press("ArrowRight")
        p.wait_iteration(3)
        assert p.page.evaluate("document.activeElement.id") == "predict-answer"
        assert p.page.input_value("#predict-answer") == "" and p.page.text_content("#predict-verdict") == ""
        again = hidden_state(p)
        assert again["cells"][1:] == ["?", "?", "?"] and again["tangent"] == 0 and again["history"] == 3
        # "show me" reveals without a check; the switch off shows everything again
        p.page.click("#predict-reveal")
        assert hidden_state(p)["tangent"] == 1
        p.page.keyboard.press("ArrowRight")
        p.wait_iteration(4)
        p.page.click("#predict")
        assert hidden_state(p)["cells"][1] != "?" and not p.page.is_visible("#predict-box")
        assert p.errors == [] and p.blocked == []
    finally:
        p.close()


def test_a_wrong_prediction_is_told_its_mistake_and_the_right_line(browser, exported, run):
    job, trace = run
    listed = {q.key: q for q in candidates(trace, 2, job.net)}
    p = Page(browser, offline=True).open(exported.as_uri())
    seen: set[str] = set()
    try:
        keyboard_to_iteration_2(p)
        for key in ("grad.b3", "step.b3", "b3"):
            p.page.select_option("#predict-what", key)
            for c in listed[key].mistakes:
                typed = f"{c.value:.4f}"
                expected = verdict(trace, key, typed)
                assert expected.status == "wrong" and c.kind in {m.split(":")[0] for m in expected.mistakes}
                p.page.fill("#predict-answer", typed)
                p.page.press("#predict-answer", "Enter")
                status, said, hint = guessed(listed[key], typed)  # marked without giving the answer away
                assert status == "wrong" and listed[key].shown not in said and listed[key].shown not in hint
                assert p.page.text_content("#predict-verdict") == f"not yet: {said}"
                assert p.page.text_content("#predict-line") == (f"where it went wrong: {hint}" if hint else "")
                assert hidden_state(p)["tangent"] == 0 and "hidden until" in p.text("#derivation")
                seen.add(c.kind)
        assert {"residual_sign", "plus_two", "minus_two_forgotten", "step_added", "step_twice", "lr_on_new",
                "old_value"} <= seen
        sign = listed["grad.b3"].mistakes[0]
        assert sign.kind == "residual_sign" and "−2 × (y_i − ŷ_i)" in sign.line and "−2 × (y_i − ŷ_i)" in sign.hint
        p.page.fill("#predict-answer", "two")
        p.page.press("#predict-answer", "Enter")
        assert p.page.text_content("#predict-verdict") == "not yet: 'two' is not a number"
        assert p.errors == []
    finally:
        p.close()


# --- check my numbers -------------------------------------------------------------------------------
def marks(p: Page) -> dict[str, tuple[str, str]]:
    rows = p.page.eval_on_selector_all(
        "#check-form .check-row", "rows => rows.map(r => [r.dataset.key, "
        "r.querySelector('.check-mark').dataset.status || '', "
        "(r.querySelector('.check-mark .message') || {}).textContent || ''])")
    return {key: (status, message.removeprefix(": ")) for key, status, message in rows}


@pytest.mark.parametrize("where", ["served", "exported"])
def test_check_my_numbers_marks_the_articles_iteration_2_as_bl_check_does(browser, server, exported, run, where):
    job, trace = run
    p = Page(browser, offline=where == "exported").open(server if where == "served" else exported.as_uri())
    try:
        p.page.click("#step")
        p.wait_iteration(2)
        p.page.focus("#check-title")
        p.page.keyboard.press("Enter")  # the box opens from the keyboard
        p.page.wait_for_selector("#check-in-5")  # served: the lists come with the iteration's detail
        for given in (ARTICLE, {**ARTICLE, "grad.b3": "6.26", "b3": "0.94", "yhat2": "-1.61"}):
            for i, key in enumerate(ARTICLE):
                assert p.page.get_attribute(f"#check-in-{i}", "data-key") == key
                p.page.fill(f"#check-in-{i}", given[key])
            p.page.press("#check-in-0", "Enter")
            found = marks(p)
            result = bl.check(trace, iteration=2, yhat=[given[f"yhat{i}"] for i in (1, 2, 3)],
                              grad=given["grad.b3"], step=given["step.b3"], b3=given["b3"])
            for v in result.verdicts:
                assert found[v.key] == (v.status, v.message), v.key
            live = p.page.text_content("#check-said")
            assert ("not yet" in live) == (not result.all_right)
        assert p.errors == []
    finally:
        p.close()


def test_the_page_in_predict_mode_fits_1366_and_480(browser, exported):
    for width, height in ((1366, 768), (480, 900)):
        p = Page(browser, offline=True, width=width, height=height).open(exported.as_uri())
        try:
            keyboard_to_iteration_2(p)
            p.page.fill("#predict-answer", "3.1310")
            p.page.press("#predict-answer", "Enter")
            box = p.page.locator("#predict-box").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
            said = p.page.locator("#predict-said").bounding_box()
            assert said["height"] > 0 and said["x"] + said["width"] <= width + 0.5
            overflow = p.page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
            assert not overflow and p.errors == []
        finally:
            p.close()


def test_the_notebook_widget_predicts_with_pythons_lists(browser, run):
    """The widget hosts the same page; the lists of an iteration past the first come from Python's answer."""
    pytest.importorskip("anywidget")
    from backproplab.lesson.widget import Lesson
    from tests.test_widget_browser import open_widget

    _, trace = run
    page, frame, errors = open_widget(browser, Lesson())
    try:
        frame.locator("#predict").check()
        frame.locator("#step").click()
        frame.locator("#predict-what option[value='grad.b3']").wait_for(state="attached")
        assert frame.locator("table.steps tbody td.hidden-number").count() == 3
        frame.locator("#predict-answer").fill("3.1310")
        frame.locator("#predict-answer").press("Enter")
        q = next(q for q in candidates(trace, 2) if q.key == "grad.b3")
        assert frame.locator("#predict-verdict").text_content() == f"not yet: {guessed(q, '3.1310')[1]}"
        frame.locator("#predict-answer").fill("-6.26")
        frame.locator("#predict-answer").press("Enter")
        assert frame.locator("#predict-verdict").text_content().startswith("right: ")
        frame.locator("#derivation .katex").first.wait_for()
        assert frame.locator("table.steps tbody td.hidden-number").count() == 0 and not errors, errors
    finally:
        page.close()
