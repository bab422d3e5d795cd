"""Rounding notes: each note sits under the line it is about, arithmetic on the shown decimals raises
no false note, and the exact-factors form shows every factor with enough digits for its line to hold."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.explain.steps import step_work, step_working
from backproplab.lesson.settings import Settings
from backproplab.spec.presets import DosageNet
from backproplab.util.numbers import hand_decimal, holds
from tests.test_web_browser import Page
from tests.web_helpers import live_server

from .conftest import assert_clean_error, cli

PARAMS = ["w1", "b1", "w2", "b2", "w3", "w4", "b3"]


def dosage(start: dict[str, float] | None = None):
    net = DosageNet(start)
    x, y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
    return net, bl.losses.ssr(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y"))


def working_lines(text: str) -> list[str]:
    """The lines after 'Putting in the numbers', up to the step's paragraph (notes included)."""
    body = text.split("everything is computed exactly):\n", 1)[1].split("The gradient-descent step", 1)[0]
    return [line.strip() for line in body.replace("\n      + ", " + ").splitlines() if line.strip()]


NUMBER = r"−?\d+(?:\.\d+)?(?:e−?\d+)?"  # as shown: −2.60, 0.5, 6.3e−5


def decimals_of(text: str) -> list[Decimal]:
    return [Decimal(v.replace("−", "-")) for v in re.findall(NUMBER, text)]


def check_the_shown_arithmetic_holds(text: str) -> None:
    """Each term's factors multiply (by hand, on the shown decimals) to the product shown for it, and
    the products add up to the shown total."""
    lines = [line for line in working_lines(text) if not line.startswith("note:")]
    first, rest = lines[0].split(" = ", 1)[1], lines[1:]
    terms = re.split(r" \+ (?=−2 ×)", first)
    products = decimals_of(rest[0]) if len(rest) == 2 else None
    total = rest[-1].removeprefix("= ")
    if products is None:  # one term: its product is the total
        assert holds(hand_decimal(terms[0]), total), (terms[0], total)
        return
    assert len(products) == len(terms)
    for term, product in zip(terms, products):
        assert holds(hand_decimal(term), f"{product}"), (term, product)
    assert holds(sum(products, Decimal(0)), total.replace("−", "-")), (products, total)


def test_at_iteration_1_every_gradient_has_a_note_and_the_exact_factors_form_needs_none():
    for name in PARAMS:
        net, loss = dosage()
        exp = bl.explain(loss, wrt=getattr(net, name), lr=0.1)
        assert "note:" in exp.to_text(), name  # the rounded form keeps its honesty
        quiet = exp.to_text(factors="exact")
        assert "note:" not in quiet, (name, quiet)
        check_the_shown_arithmetic_holds(quiet)


def test_the_learner_check_of_b3_holds_in_the_exact_factors_form():
    net, loss = dosage()
    quiet = bl.explain(loss, wrt=net.b3, lr=0.1, factors="exact").to_text()
    first = working_lines(quiet)[0]
    # −2 × 2.60 is −5.20, not the −5.21 shown: the exact form shows ŷ_1 as −2.604, and −2 × 2.604 = −5.208
    assert "(0 − (−2.604))" in first and hand_decimal("−2 × (0 − (−2.604)) × 1") == Decimal("-5.208")
    assert "= (−5.21) + (−5.22) + (−5.23)" in quiet and "= −15.66" in quiet  # results keep their digits


# values a lesson uses: 0, or far from the floats' underflow (a product of subnormals is rounded by the float
# format itself, which no choice of shown digits can reproduce)
PLAIN = st.one_of(st.just(0.0), st.floats(1e-100, 3) | st.floats(-3, -1e-100))


@settings(max_examples=25, deadline=None)
@given(st.lists(PLAIN, min_size=7, max_size=7), st.sampled_from(PARAMS),
       st.integers(1, 3))
def test_the_exact_factors_form_always_holds_and_a_rounded_line_has_a_note_exactly_when_it_does_not(
        values, name, digits):
    net, loss = dosage(dict(zip(PARAMS, values)))
    exp = bl.explain(loss, wrt=getattr(net, name), digits=digits)
    check_the_shown_arithmetic_holds(exp.to_text(factors="exact"))
    rounded = exp.to_text()
    if "note:" not in rounded:
        check_the_shown_arithmetic_holds(rounded)
    else:
        with pytest.raises(AssertionError):
            check_the_shown_arithmetic_holds(rounded)


def test_a_tie_worked_on_the_shown_decimals_raises_no_false_note():
    # −2.505 × 0.1 is exactly −0.2505, which is −0.250 as well as −0.251; in floats it is −0.25050000000000006
    lines, notes = step_work("w", -2.50499, 0.1, 0.0, 3)
    assert "−2.505 × 0.1 = −0.250" in lines[0].text
    assert notes == []


def test_each_note_sits_under_the_line_it_is_about():
    # gradient 1.004 is shown 1.00; × 3 gives 3.00, but the step is 3.012, shown 3.01: a note on the step line
    w = bl.Parameter(0.5, "w")
    x = bl.tensor([1.004], name="x")
    text = bl.explain((w * x).sum(), wrt=w, lr=3.0).to_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  step size = gradient × learning rate"))
    assert "= 1.00 × 3 = 3.01" in lines[at]
    assert lines[at + 1].startswith("note: the rounded numbers shown give 3.00")
    assert "new w = old w" in lines[at + 2]
    working = step_working("w", 1.004, 3.0, 0.5, 2)
    assert [bool(note) for _, note, _ in working] == [True, False]
    quiet = bl.explain((w * x).sum(), wrt=w, lr=3.0).to_text(factors="exact")
    assert "= 1.004 × 3 = 3.01" in quiet and "note:" not in quiet


def test_every_format_and_the_default_of_an_explanation_follow_factors():
    net, loss = dosage()
    exp = bl.explain(loss, wrt=net.b3, lr=0.1, factors="exact")
    assert "2.604" in exp.to_latex() and "2.604" in exp.to_markdown() and "2.604" in exp.to_html()
    assert "2.604" in exp._repr_latex_() and "2.604" in str(exp)
    assert "2.604" not in exp.to_text(factors="rounded") and "Note" in exp.to_latex(factors="rounded")
    assert "Note" not in exp.render("latex")


@pytest.mark.parametrize("call", [lambda e: e.to_text(factors="quiet"), lambda e: e.render("md", factors="")])
def test_an_unknown_factors_form_is_one_clear_sentence(call):
    net, loss = dosage()
    with pytest.raises(ValueError, match="unknown factors .*choose 'rounded'"):
        call(bl.explain(loss, wrt=net.b3))
    with pytest.raises(ValueError, match="unknown factors"):
        bl.explain(loss, wrt=net.b3, factors="exactly")


def test_the_command_line_offers_the_exact_factors_form(capsys):
    code, out, _ = cli(capsys, "explain", "statquest", "--param", "w1", "--factors", "exact")
    assert code == 0 and "note:" not in out
    check_the_shown_arithmetic_holds(out)
    code, out, _ = cli(capsys, "demo", "statquest", "--explain", "--factors", "exact")
    assert code == 0 and "(0 − (−2.604))" in out and "note:" not in out
    code, out, _ = cli(capsys, "explain", "statquest", "--param", "w1")
    assert code == 0 and "note:" in out
    assert_clean_error(capsys, ["explain", "statquest", "--param", "w1", "--factors", "some"], "--factors")


def test_the_page_switch_shows_the_exact_factors_form_from_the_document(browser):
    with live_server(Settings()) as url:
        p = Page(browser).open(url + "/")
        try:
            p.page.click(".tabs button[data-view=text]")
            p.wait_text("#derivation", "(0 − (−2.60))")
            assert "note:" in p.text("#derivation")
            p.page.check("#factors-exact")
            p.wait_text("#derivation", "(0 − (−2.604))")
            assert "note:" not in p.text("#derivation")
            check_the_shown_arithmetic_holds(p.text("#derivation"))
            p.page.click(".tabs button[data-view=typeset]")
            p.wait_text("#derivation", "2.604")
            p.page.uncheck("#factors-exact")
            p.wait_text("#derivation", "2.604", present=False)
            p.page.check("#factors-exact")
            p.page.select_option("#param", "w1")  # another parameter keeps the chosen form
            p.page.click(".tabs button[data-view=text]")
            p.wait_text("#derivation", "dSSR/dw1 = ")
            p.wait_text("#derivation", "× 0.871 × 1")
            p.page.screenshot(path="/tmp/exact_factors.png")
            assert p.errors == []
        finally:
            p.close()


def test_an_entry_sum_gets_the_exact_factors_form_too():
    for seed in range(40):  # a small network whose entry sum, rounded, misses its total
        rng = np.random.default_rng(seed)
        model = bl.MLP([2, 3, 1], activations="tanh")
        x, y = bl.tensor(rng.normal(size=(4, 2)), name="x"), bl.tensor(rng.normal(size=(4, 1)), name="y")
        exp = bl.explain(bl.losses.mse(model(x), y), wrt=dict(model.named_parameters())["W1"], index=(0, 1),
                         max_terms=2)
        if exp.form == "entry" and "note:" in exp.to_text():
            break
    else:
        pytest.fail("no entry sum with a rounding note among 40 small networks")
    quiet = exp.to_text(factors="exact")
    assert "note:" not in quiet
    sum_line = next(line for line in quiet.splitlines() if line.startswith("  dMSE/dW1[1,2] = ") and "Σ" not in line)
    total = quiet.splitlines()[quiet.splitlines().index(sum_line) + 1].strip().removeprefix("= ")
    assert holds(sum(decimals_of(sum_line.split(" = ", 1)[1]), Decimal(0)), total.replace("−", "-"))
    assert float(exp.gradient) == pytest.approx(float(Decimal(total.replace("−", "-"))), abs=0.0051)
