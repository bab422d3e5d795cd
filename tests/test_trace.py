"""Traces: strict JSON out and back, NaN included."""

from __future__ import annotations

import json

import numpy as np

import backproplab as bl
from backproplab.optim import GradientDescent
from backproplab.trace import Trace


def test_json_round_trip_keeps_every_value():
    net = bl.MLP([1, 2, 1], "tanh")
    x, y = np.linspace(0, 1, 4).reshape(-1, 1), np.linspace(1, 0, 4)
    trace = GradientDescent(net.parameters(), lr=0.1, max_steps=3).fit(net, x, y, loss="mse")
    back = Trace.from_json(trace.to_json())
    assert back.to_dict() == json.loads(trace.to_json())
    np.testing.assert_array_equal(back.iterations[1].params["W1"], trace.iterations[1].params["W1"])
    assert back.final.stopped_by == "max_steps"
    assert len(back.values("W1")) == 4 and len(back.losses()) == 4


def test_non_finite_values_become_strict_json():
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(), lr=10.0).fit(net, x, y)
    text = trace.to_json()
    assert "NaN" not in text
    back = Trace.from_json(text)
    assert back.final.stopped_by == "diverged"
