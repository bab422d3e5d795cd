"""Explanations built once per parameter and filled in per iteration equal ``bl.explain`` at that
iteration, string for string, in every format."""

from __future__ import annotations

import numpy as np
import pytest

import backproplab as bl
from backproplab.explain import explain
from backproplab.explain.plan import RunExplainer
from backproplab.explain.run import explain_run
from backproplab.losses import get_loss
from backproplab.tensor import Tensor
from backproplab.trace import scalar

FORMATS = ("text", "md", "latex", "html", "json")


def reference(trace, model, name, k, **options):
    """What explain_run did before: the model at iteration k's values, a new graph, explain()."""
    it = trace.iterations[k - 1]
    model.load_state_dict(it.params)
    for n, p in model.named_parameters():
        p.requires_grad = n in trace.optimize
    loss = get_loss(trace.loss)(model(Tensor(trace.inputs, name="x")), Tensor(trace.targets, name="y"))
    moments = options.pop("moments", None)
    return explain(loss, dict(model.named_parameters())[name], lr=trace.learning_rate, step_rule=trace.optimizer,
                   step=scalar(it.step_sizes[name]), moments=moments, **options)


def test_every_dosage_parameter_at_every_checked_iteration_equals_explain():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.05, max_steps=40, min_step=0).fit(net, x, y)
    start = {n: p.data.copy() for n, p in net.named_parameters()}
    plan = RunExplainer(trace, net)
    assert all(plan.structure[n] is not None for n in trace.optimize)  # every one built path by path, once
    assert {n: p.data.tolist() for n, p in net.named_parameters()} == {n: v.tolist() for n, v in start.items()}
    for k in (1, 2, 17, 40):
        for name in trace.optimize:
            want, got = reference(trace, net, name, k), plan.explanation(name, k)
            for fmt in FORMATS:
                assert got.render(fmt) == want.render(fmt), (name, k, fmt)
    # the numbers really change from one iteration to the next
    assert plan.explanation("w1", 1).to_text() != plan.explanation("w1", 40).to_text()


def test_digits_paths_form_and_adam_moments_equal_explain():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.Adam(net.parameters(only=["w3", "b3"]), lr=0.1).fit(net, x, y, max_steps=6, min_step=0)
    from backproplab.explain.steps import run_moments

    plan = RunExplainer(trace, net, ["b3", "w3"], digits=4, form="paths")
    for k in (1, 6):
        for name in ("b3", "w3"):
            want = reference(trace, net, name, k, digits=4, form="paths", moments=run_moments(trace, name)[k - 1])
            got = plan.explanation(name, k)
            assert [got.render(f) for f in FORMATS] == [want.render(f) for f in FORMATS]


def test_matrix_parameters_fall_back_to_explain_and_still_agree():
    net = bl.MLP([2, 3, 1], "tanh", seed=0)
    x = np.array([[0.5, -1.0], [1.0, 2.0], [0.0, 0.3]])
    y = np.array([1.0, 0.0, 1.0])
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.1, max_steps=3, min_step=0).fit(net, x, y, loss="mse")
    plan = RunExplainer(trace, net)
    assert plan.structure["W1"] is None  # a matrix: explained layer by layer, not path by path
    for name in ("W1", "b2"):
        want, got = reference(trace, net, name, 3), plan.explanation(name, 3)
        assert got.to_text() == want.to_text() and got.to_latex() == want.to_latex()


def test_explain_run_is_unchanged_and_leaves_the_model_alone():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y)
    before = {n: p.data.copy() for n, p in net.named_parameters()}
    text = explain_run(trace, net, every=2).to_text()
    assert all(np.array_equal(p.data, before[n]) for n, p in net.named_parameters())
    assert "Iteration 1 (b3 = 0)" in text and "dSSR/db3 = " in text
    assert text.count("dSSR/db3 = Σ_i") == len(range(0, len(trace.iterations), 2)) + (len(trace.iterations) % 2 == 0)


def test_an_iteration_outside_the_run_is_a_clear_error():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1, max_steps=3).fit(net, x, y)
    plan = RunExplainer(trace, net)
    with pytest.raises(ValueError, match="iteration 4 is not in this run"):
        plan.explanation("b3", 4)
    with pytest.raises(KeyError, match="no parameter named 'w9'"):
        RunExplainer(trace, net, ["w9"])
