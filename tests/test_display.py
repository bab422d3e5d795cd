"""Display rounding: exact values in, rounded text out, and a note when they disagree."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backproplab.util.numbers import exact_number, hand_value, latex_number, number, rounding_note, shown, sum_note


def test_numbers_use_a_true_minus_and_fixed_decimals():
    assert number(-15.655108) == "−15.66"
    assert number(1.5655, 2) == "1.57"
    assert number(0.0) == "0.00"
    assert number(-0.0001, 2) == "−0.00010"
    assert number(-6.57e-5, 2) == "−6.6e−5"
    assert number(-1e-12, 2, minus="-") == "-1.0e-12"
    assert number(float("nan")) == "NaN" and number(float("-inf")) == "−∞"
    assert number(-0.001, 1) == "−0.001"


def test_small_values_keep_their_significant_figures():
    # Issue 9: "dSSR/db1 = 0.01 … 0.01 × 0.1 = 0.0009" and "final SSR = 0.0001" under "SSR = 6.3e−5".
    assert number(0.0094) == "0.0094" and number(0.0094 * 0.1) == "0.00094"
    assert number(6.294e-5) == "6.3e−5" and number(6.294e-5, 4) == "6.294e−5"
    assert number(0.19) == "0.19" and number(0.999) == "1.00" and number(2.6091) == "2.61"


@given(st.floats(1e-12, 0.99, allow_nan=False), st.integers(1, 6), st.sampled_from([1, -1]))
def test_below_one_the_relative_rounding_error_is_bounded(value, digits, sign):
    value *= sign
    assert abs(shown(value, digits) - value) <= 0.5 * 10.0 ** (1 - digits) * abs(value) * (1 + 1e-9)


def test_data_is_shown_as_itself():
    assert exact_number(0.5, 0) == "0.5" and exact_number(-2.25, 1) == "−2.25" and exact_number(3.0, 2) == "3"
    assert exact_number(1 / 3, 2) == "0.33"  # more decimals than data carries: rounded as usual


def test_latex_scientific_notation():
    assert latex_number("6.3e-5") == r"6.3 \times 10^{-5}" and latex_number("-1e−12") == r"-1 \times 10^{-12}"
    assert latex_number("2.61") == "2.61"


def test_hand_value_works_out_plain_arithmetic_only():
    assert hand_value("−2 × (0 − (−2.61))") == -2 * (0 + 2.61)
    assert hand_value("(1 − 0.58) / 4") == 0.105  # worked on the decimals shown, as by hand
    assert hand_value("σ(0)") is None and hand_value("__import__('os')") is None and hand_value("") is None


def test_the_seed_sum_note():
    # The seed's terms −5.2, −5.2, −5.22 add up to −15.62 but it printed −15.7.
    note = sum_note([-5.2, -5.2, -5.22], -15.655108, digits=2)
    assert "−15.62" in note and "−15.655108" in note and "shown as −15.66" in note
    assert sum_note([-5.21, -5.22, -5.23], -15.655108, 2) == ""


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 6))
def test_shown_is_what_is_printed(value, digits):
    assert math.isclose(shown(value, digits), float(number(value, digits, minus="-")))
    assert rounding_note(value, value, digits) == ""


def _dosage_trace(max_steps: int = 1000):
    import backproplab as bl

    net, (x, y) = bl.presets.statquest()
    return bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1, max_steps=max_steps).fit(net, x, y, "ssr")


def test_trace_repr_is_one_readable_line():
    trace = _dosage_trace()
    text = repr(trace)
    assert "\n" not in text and len(text) < 200
    assert "gradient descent on b3" in text and f"{len(trace.iterations)} iteration(s)" in text
    assert f"{trace.final.loss:.3e}".split("e")[0][:4] in text  # the final loss, to 4 significant figures


def test_trace_html_shows_first_and_last_iterations_and_a_sparkline():
    import re

    trace = _dosage_trace()
    page = trace._repr_html_()
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", page)
    n = len(trace.iterations)
    assert [int(r[0]) for r in rows] == [1, 2, 3, n - 1, n]
    for k, loss_text, b3_text in rows:
        it = trace.iterations[int(k) - 1]
        assert float(loss_text.replace("−", "-")) == pytest.approx(it.loss, rel=1e-3)
        assert float(b3_text.replace("−", "-")) == pytest.approx(it.params["b3"], abs=1e-4)
    assert f"… {n - 5} iteration(s) not shown …" in page
    points = re.search(r'points="([^"]+)"', page).group(1).split()
    assert len(points) == n + 1  # every iteration's loss, then the final one
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] == min(ys) and ys[-1] == max(ys)  # the loss falls: the line runs from top to bottom
    assert "<script" not in page


def test_explanation_repr_and_latex_display():
    import backproplab as bl
    from backproplab import Tensor, losses

    net, (x, y) = bl.presets.statquest()
    loss = losses.ssr(net(Tensor(x, name="x")), Tensor(y, name="y"))
    exp = bl.explain(loss, net.b3)
    loss.backward()
    shown_grad = number(float(net.b3.grad))
    assert repr(exp) == f"<Explanation dSSR/db3 = {shown_grad} (paths form; print() it to read the working)>"
    tex = exp._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$") and "$" not in tex[2:-2]
    assert "-15.66" in tex
