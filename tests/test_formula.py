"""Formula networks: a small parser, never eval, and the same graph as hand-written code."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab.spec.formula import FormulaError, FormulaNet, parse


def test_precedence_and_functions():
    net = FormulaNet({"a": 2.0, "b": 3.0}, {"out": "-a + b * x ^ 2 / 4 - softplus(a - b) + exp(0) * tanh(x)"},
                     "out", ["x"])
    x = np.array([0.5, -1.0])
    expected = -2 + 3 * x**2 / 4 - np.log1p(np.exp(-1.0)) + np.tanh(x)
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-12)


def test_the_dosage_formulas_match_the_hand_built_network_bit_for_bit():
    spec_net, (x, y) = bl.presets.PRESETS["statquest"].spec().build()
    hand, _ = bl.presets.statquest()
    a, b = bl.losses.ssr(spec_net(x), y), bl.losses.ssr(hand(x), y)
    a.backward()
    b.backward()
    assert a.item() == b.item()
    for (name, p), (_, q) in zip(spec_net.named_parameters(), hand.named_parameters()):
        assert p.grad == q.grad, name
    assert {t.name for t in bl.topological_order(a)} >= {"z1", "h1", "z2", "h2", "ŷ", "SSR"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("w1 * ", "ended"),
        ("softmax(x)", "unknown function 'softmax'"),
        ("2 $ x", "unexpected '$"),
        ("(x + 1", "expected ')'"),
        ("", "empty"),
        ("x y", "unexpected 'y'"),
        ("__import__(os)", "unknown function '__import__'"),
        ("__import__('os')", "unexpected"),
    ],
)
def test_bad_formulas_are_clear_errors(text, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse(text)


def test_names_must_be_known_before_use():
    with pytest.raises(FormulaError, match="uses 'h2', which is not an input"):
        FormulaNet({"w": 1.0}, {"h1": "w * h2", "h2": "x"}, "h1", ["x"])


@given(st.text(max_size=40))
def test_the_parser_never_fails_uncleanly(text):
    try:
        parse(text)
    except FormulaError:
        pass


# --- long and deep formulas: an explicit stack, a stated nesting limit --------------------------------
from backproplab.spec.formula import MAX_NESTING, check_name  # noqa: E402


def test_a_sum_of_10000_terms_parses_evaluates_and_differentiates():
    net = FormulaNet({"w": 0.5}, {"y": " + ".join(f"w * x * {k % 7}" for k in range(10_000))}, "y", ["x"])
    x = np.array([1.0, -2.0])
    total = sum(k % 7 for k in range(10_000))
    out = net(x)
    np.testing.assert_allclose(out.data, 0.5 * x * total, rtol=1e-12)
    bl.losses.ssr(out, np.zeros(2)).backward()
    # by hand: SSR = Σ (w·x·T)², so dSSR/dw = 2·w·T²·Σ x²
    np.testing.assert_allclose(net.parameter("w").grad, 2 * 0.5 * total**2 * np.sum(x**2), rtol=1e-12)


@pytest.mark.parametrize(
    "text",
    ["(" * 200 + "x" + ")" * 200, "-" * 100_000 + "x", "x" + " ^ x" * 5000, "exp(" * 150 + "x" + ")" * 150,
     "2 ^ -" * 60 + "x"],
    ids=["parentheses", "unary minus", "powers", "calls", "powers and signs"],
)
def test_deep_formulas_past_the_limit_are_one_clear_error(text):
    with pytest.raises(FormulaError) as info:
        parse(text)
    message = str(info.value)
    assert f"nests more than {MAX_NESTING} levels deep" in message and len(message) < 300


def test_nesting_up_to_the_limit_works():
    assert parse("(" * MAX_NESTING + "x" + ")" * MAX_NESTING).kind == "name"
    tree = parse("-" * MAX_NESTING + "x")
    depth = 0
    while tree.kind == "neg":
        tree, depth = tree.args[0], depth + 1
    assert depth == MAX_NESTING and tree.value == "x"


def test_literals_that_overflow_are_refused():
    with pytest.raises(FormulaError, match="'1e999' is too large"):
        parse("x * 1e999")


def python_value(text: str) -> float | None:
    """The oracle: Python's own grammar has the same precedence (-x**2 is -(x**2); ** is right-associative)."""
    try:
        value = eval(text.replace("^", "**"), {"__builtins__": {}}, {"x": 1.5})  # test-made text only
    except (ZeroDivisionError, OverflowError):
        return None
    return value if isinstance(value, float | int) and np.isfinite(value) and abs(value) < 1e100 else None


atoms = st.sampled_from(["x", "2.0", "3.0", "0.5", "1.25"])  # floats: Python never builds a huge int
expressions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" + ", " - ", " * ", " / ", " ^ ", "*", "-"]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"-{e}"),
        inner.map(lambda e: f"+{e}"),
    ),
    max_leaves=25,
)


@given(expressions)
def test_precedence_matches_pythons_grammar(text):
    expected = python_value(text)
    net = FormulaNet({}, {"y": text}, "y", ["x"])
    with np.errstate(all="ignore"):
        got = float(np.asarray(net(np.array([1.5])).data).ravel()[0])
    if expected is not None:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), text


@given(st.integers(0, 2 * MAX_NESTING), st.sampled_from(["(", "-", "exp(", "x ^ "]), st.integers(1, 2000))
def test_deep_and_long_formulas_parse_or_give_the_stated_limit(depth, opener, terms):
    closer = ")" if opener.endswith("(") else ""
    text = opener * depth + " + ".join(["x"] * terms) + closer * depth
    try:
        tree = parse(text)
    except FormulaError as exc:
        assert depth > MAX_NESTING and f"more than {MAX_NESTING} levels" in str(exc)
        assert len(str(exc)) < 300
    else:
        assert depth <= MAX_NESTING and tree is not None


@given(st.text(alphabet="x1.+-*/^()e ", max_size=300))
def test_random_operator_soup_never_fails_uncleanly(text):
    try:
        parse(text)
    except FormulaError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


@pytest.mark.parametrize(
    ("name", "problem"),
    [("w1", ""), ("θ_2", ""), ("ŷ", ""), ("", "cannot be empty"), ("1w", "may not start with a digit"),
     ("a b", "may use only"), ("<img>", "may use only"), ("\\input", "may use only"), ("w" * 33, "longer than 32"),
     ("exp", "is the name of a function")],
)
def test_names_follow_a_safe_pattern(name, problem):
    found = check_name(name)
    assert (problem in found) if problem else found == ""


@pytest.mark.parametrize(
    ("params", "nodes", "inputs", "message"),
    [({"w": 1.0}, {"w": "x * 2", "y": "w"}, ["x"], "node w: this node has the name of a parameter"),
     ({"w": 1.0}, {"x": "w * 2"}, ["x"], "node x: this node has the name of an input"),
     ({"x": 1.0}, {"y": "x"}, ["x"], "is both an input and a parameter"),
     ({"w": 1.0}, {"y": "w * x"}, ["x", "x"], "an input name appears twice"),
     ({"w": 1.0}, {"": "w * x"}, ["x"], "a name cannot be empty")],
)
def test_names_that_would_hide_another_are_refused(params, nodes, inputs, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        FormulaNet(params, nodes, "y" if "y" in nodes else next(iter(nodes)), inputs)


def test_unused_parameters_are_found_and_method_names_do_not_break_the_network():
    net = FormulaNet({"w": 2.0, "unused": 1.0, "forward": 3.0, "inputs": 0.5},
                     {"h": "unused * x", "y": "w * x + forward * inputs"}, "y", ["x"])
    assert net.unused_parameters() == ["unused"]
    np.testing.assert_allclose(net(np.array([1.0, 2.0])).data, [3.5, 5.5])
    assert {n for n, _ in net.named_parameters()} == {"w", "unused", "forward", "inputs"}
