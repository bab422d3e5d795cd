"""Traces: strict JSON out and back, NaN included."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import backproplab as bl
from backproplab.optim import GradientDescent
from backproplab.train.trace import Iteration, Trace, TraceError


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


def _saved() -> dict:
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(only=["b3", "w3"]), lr=0.1, max_steps=3).fit(net, x, y)
    return json.loads(trace.to_json())


def _break(path: str, value):
    """A saved trace with the field at ``path`` (dots, and [k] for list items) set to ``value`` or deleted."""
    d = _saved()
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    target = d
    for k in keys[:-1]:
        target = target[k]
    if value is DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return json.dumps(d)


DELETE = object()


@pytest.mark.parametrize(("text", "named"), [
    ("{}", "optimize is missing"),
    ("[]", "the top level must be a JSON object"),
    ("not json", "not JSON (line 1, column 1"),
    ("[" * 100_000, "not a valid trace"),
    (lambda: _break("iterations", {"a": 1}), "iterations must be a list"),
    (lambda: _break("iterations[1].params.b3", "high"), 'iterations[1].params.b3 must be a number, got "high"'),
    (lambda: _break("iterations[1].params.b3", True), "iterations[1].params.b3 must be a number, got true"),
    (lambda: _break("iterations[0].params", [1, 2]), "iterations[0].params must be a JSON object"),
    (lambda: _break("iterations[2].predictions", [[1, 2], [3]]), "iterations[2].predictions[1] must be a list of 2"),
    (lambda: _break("iterations[2].predictions", [1.0, 2.0]), "iterations[2].predictions has shape (2,)"),
    (lambda: _break("iterations[1].gradients.b3", DELETE), "iterations[1].gradients must have exactly the optimized"),
    (lambda: _break("iterations[1].step_sizes.b3", [1.0, 2.0]), "iterations[1].step_sizes.b3 has shape (2,)"),
    (lambda: _break("iterations[1].params.w3", DELETE), "iterations[1].params has no value for the optimized"),
    (lambda: _break("iterations[2]", _saved()["iterations"][1]), "iterations[2].iteration must be more than the"),
    (lambda: _break("iterations[0].iteration", 0), "iterations[0].iteration must be a whole number of at least 1"),
    (lambda: _break("iterations[0].step", 7), "iterations[0].step must be iteration − 1 = 0"),
    (lambda: _break("format", 99), "format 99 is newer than this backproplab reads"),
    (lambda: _break("iterations[0].loss", DELETE), "iterations[0].loss is missing"),
    (lambda: _break("learning_rate", -1), "learning_rate must be a positive number"),
    (lambda: _break("optimize", "b3"), "optimize must be a list of parameter names"),
    (lambda: _break("final.stopped_by", "bored"), "final.stopped_by must be one of"),
    (lambda: _break("final.steps", 1), "final.steps must be at least the number of iterations (3)"),
    (lambda: _break("final.converged", "yes"), "final.converged must be true or false"),
    (lambda: _break("final.params.w1", [1.0, 2.0]), "final.params.w1 has shape (2,)"),
    (lambda: _break("data.y", [1.0]), "data.x has (3,) samples but data.y has (1,)"),
    (lambda: _break("keep_every", 0), "keep_every must be a whole number of at least 1"),
])
def test_every_malformed_trace_is_one_trace_error_naming_the_field(text, named):
    text = text() if callable(text) else text
    with pytest.raises(TraceError) as caught:
        Trace.from_json(text)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert message.startswith("not a valid trace") and named in message, message
    assert "\n" not in message and len(message) < 400


def test_a_trace_error_never_echoes_a_long_value():
    message = str(pytest.raises(TraceError, Trace.from_json, _break("iterations[0].params.b3", "y" * 10_000)).value)
    assert len(message) < 200 and "…" in message


def test_streamed_json_is_exactly_json_dumps_and_indented_json_parses_the_same():
    net = bl.MLP([1, 3, 1], "tanh")
    x, y = np.linspace(0, 1, 5).reshape(-1, 1), np.linspace(1, 0, 5)
    trace = GradientDescent(net.parameters(), lr=0.1, max_steps=4).fit(net, x, y, loss="mse")
    assert trace.to_json() == json.dumps(trace.to_dict())
    buf = io.StringIO()
    trace.write_json(buf, indent=1)
    assert json.loads(buf.getvalue()) == trace.to_dict()
    assert buf.getvalue().count("\n") > len(trace.iterations)  # one iteration per line, not one long line


def test_iterations_read_like_a_list_and_hold_read_only_views():
    net = bl.MLP([1, 2, 1], "tanh")
    x, y = np.linspace(0, 1, 4).reshape(-1, 1), np.linspace(1, 0, 4)
    trace = GradientDescent(net.parameters(), lr=0.1, max_steps=5).fit(net, x, y, loss="mse")
    its = trace.iterations
    assert len(its) == 5 and its[-1].step == 4 and [it.step for it in its[1:3]] == [1, 2]
    assert [it.iteration for it in its] == [1, 2, 3, 4, 5]
    with pytest.raises(IndexError):
        its[5]
    w = its[2].params["W1"]
    with pytest.raises(ValueError):
        w[0, 0] = 99.0
    np.testing.assert_array_equal(trace.values("W1")[3], its[3].params["W1"])
    assert trace.losses()[:5] == [it.loss for it in its]


def test_hand_made_iterations_of_differing_layouts_still_work():
    trace = Trace(loss="ssr", learning_rate=0.1, optimize=["a"])
    trace.iterations.append(Iteration(0, {"a": 1.0}, [0.5], 2.0, {"a": 0.1}, {"a": 0.01}))
    trace.iterations.append(Iteration(1, {"a": 0.99, "b": 3.0}, [0.4], 1.5, {"a": 0.1}, {"a": 0.01}))
    assert trace.iterations[1].params == {"a": 0.99, "b": 3.0} and trace.iterations[0].params == {"a": 1.0}
