"""Formula networks: a small parser, never eval, and the same graph as hand-written code."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab.formula import FormulaError, FormulaNet, parse


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
