"""Explanations built once per parameter and filled in per iteration equal ``bl.explain`` at that
iteration, string for string, in every format."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.engine.tensor import Tensor
from backproplab.explain import explain
from backproplab.explain.paths import Paths
from backproplab.explain.plan import RunExplainer
from backproplab.explain.run import explain_run
from backproplab.explain.steps import adam_moments
from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings, load_job
from backproplab.nn.losses import get_loss
from backproplab.train.trace import scalar

FORMATS = ("text", "md", "latex", "html", "json")
PRESETS = ("statquest", "classic", "xor", "regression", "moons")


def reference(trace, model, name, k, index=None, **options):
    """What explain_run did before: the model at iteration k's values, a new graph, explain(); for an
    entry of a matrix, its step and Adam's moments as ``backproplab explain --index`` takes them."""
    it = trace.iterations[k - 1]
    model.load_state_dict(it.params)
    for n, p in model.named_parameters():
        p.requires_grad = n in trace.optimize
    loss = get_loss(trace.loss)(model(Tensor(trace.inputs, name="x")), Tensor(trace.targets, name="y"))

    def entry(value):
        arr = np.asarray(value, dtype=float)
        return float(arr[index]) if index is not None and arr.ndim == len(index) else scalar(arr)

    if "moments" not in options and trace.optimizer == "adam":
        its = trace.iterations[:k]
        options["moments"] = adam_moments([entry(i.gradients[name]) for i in its],
                                          [entry(i.step_sizes[name]) for i in its], trace.learning_rate)[-1]
    return explain(loss, dict(model.named_parameters())[name], lr=trace.learning_rate, step_rule=trace.optimizer,
                   step=entry(it.step_sizes[name]), index=index, **options)


def kind(plan, name, index=None):
    """Which structure the plan built for an explanation: paths, entry, delta, or None (worked out afresh)."""
    prepared = plan.structure[(name, index)]
    if prepared is None:
        return None
    return "paths" if prepared.found is not None else "entry" if prepared.entry is not None else "delta"


_RUNS: dict[str, tuple] = {}


def preset_run(preset):
    """A preset's network, a 12-iteration run of it (every parameter optimized) and its RunExplainer."""
    if preset not in _RUNS:
        job = load_job(Settings(preset=preset, optimize="all", max_steps=12, min_step=0.0))
        start = {n: p.data.copy() for n, p in job.net.named_parameters()}
        trace = lesson.train(job)
        job.net.load_state_dict(start)
        _RUNS[preset] = (job.net, trace, RunExplainer(trace, job.net))
    return _RUNS[preset]


def test_every_dosage_parameter_at_every_checked_iteration_equals_explain():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.05, max_steps=40, min_step=0).fit(net, x, y)
    start = {n: p.data.copy() for n, p in net.named_parameters()}
    plan = RunExplainer(trace, net)
    assert all(kind(plan, n) == "paths" for n in trace.optimize)  # every one built path by path, once
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


def test_a_small_mlp_s_matrices_are_built_once_and_agree_with_explain():
    net = bl.MLP([2, 3, 1], "tanh", seed=0)
    x = np.array([[0.5, -1.0], [1.0, 2.0], [0.0, 0.3]])
    y = np.array([1.0, 0.0, 1.0])
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.1, max_steps=3, min_step=0).fit(net, x, y, loss="mse")
    plan = RunExplainer(trace, net)
    assert kind(plan, "W1") == "delta" and kind(plan, "b2") == "paths"  # a matrix: layer by layer
    for name, index in (("W1", None), ("b2", None), ("W1", (2, 1)), ("b1", (0,))):
        want, got = reference(trace, net, name, 3, index), plan.explanation(name, 3, index)
        assert [got.render(f) for f in FORMATS] == [want.render(f) for f in FORMATS], (name, index)


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_preset_s_parameters_and_entries_equal_explain_at_any_iteration(preset, data):
    net, trace, plan = preset_run(preset)
    name = data.draw(st.sampled_from(list(trace.optimize)), label="parameter")
    shape = net.parameter(name).shape
    index = None
    if shape and data.draw(st.booleans(), label="one entry"):
        index = tuple(data.draw(st.integers(0, n - 1)) for n in shape)
    k = data.draw(st.integers(1, len(trace.iterations)), label="iteration")
    got, want = plan.explanation(name, k, index), reference(trace, net, name, k, index)
    assert kind(plan, name, index) is not None
    for fmt in FORMATS:
        assert got.render(fmt) == want.render(fmt), (name, index, k, fmt)


@pytest.mark.parametrize("preset, name, index, form", [
    ("moons", "W1", (15, 1), "entry"), ("moons", "W2", (7, 3), "entry"), ("moons", "b1", (4,), "entry"),
    ("moons", "b3", None, "entry"), ("moons", "W2", None, "delta"), ("xor", "W1", (2, 0), "paths"),
    ("regression", "W1", None, "delta"), ("classic", "w5", None, "paths"),
])
def test_matrix_entries_take_the_built_once_structure_and_never_work_afresh(preset, name, index, form, monkeypatch):
    net, trace, plan = preset_run(preset)
    plan.numbers((name, index))  # the structure, built once (finding the paths may be tried here)
    assert kind(plan, name, index) == form
    wants = {k: reference(trace, net, name, k, index) for k in (1, 5, 12)}

    def never(*args, **kwargs):
        raise AssertionError("worked out afresh")

    monkeypatch.setattr(RunExplainer, "_plain", never)
    monkeypatch.setattr(Paths, "enumerate", never)
    monkeypatch.setattr(lesson, "explain", never)
    for k, want in wants.items():
        got = plan.explanation(name, k, index)
        assert got.form == form and got.to_latex() == want.to_latex() and got.to_text() == want.to_text()
    assert plan.explanation(name, 1, index).to_text() != plan.explanation(name, 12, index).to_text()


def test_entry_numbers_are_the_engine_s_for_every_iteration():
    net, trace, plan = preset_run("moons")
    numbers = plan.numbers(("W2", (7, 3)))  # W2 is (out, in): input 3 into unit 7
    h1 = plan.stacked(plan.structure[("W2", (7, 3))].entry.inputs)  # a1, the inputs W2 multiplies
    assert numbers["delta"].shape == (len(trace.iterations), 100)
    assert np.array_equal(numbers["factors"], h1[:, :, 3])
    assert np.allclose(numbers["terms"].sum(axis=1), [np.asarray(it.gradients["W2"])[7, 3] for it in trace.iterations])


def test_what_is_worked_out_afresh_still_agrees_with_explain():
    net, trace, _ = preset_run("moons")
    plan = RunExplainer(trace, net, ["W1"], iterations=[0, 1])
    got, want = plan.explanation("W1", 6, (3, 0)), reference(trace, net, "W1", 6, (3, 0))  # not filled in
    assert 5 not in plan.rows and got.to_text() == want.to_text()
    plan.fill([5])
    assert plan.explanation("W1", 6, (3, 0)).to_latex() == want.to_latex() and kind(plan, "W1", (3, 0)) == "entry"
    with pytest.raises(ValueError, match="does not fit W1"):
        plan.explanation("W1", 2, (0, 2))
    assert kind(plan, "W1", (0, 2)) is None
    dosage, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(dosage.parameters(only=["b3"]), lr=0.1, max_steps=3).fit(dosage, x, y)
    plan = RunExplainer(trace, dosage, ["b3", "w1"])  # w1 is not optimized: the loss does not depend on it here
    assert kind(plan, "w1") is None and plan.explanation("w1", 2).form == "none"
    dosage.load_state_dict(trace.iterations[1].params)
    for n, p in dosage.named_parameters():
        p.requires_grad = n == "b3"
    loss = get_loss("ssr")(dosage(Tensor(x, name="x")), Tensor(y, name="y"))
    want = explain(loss, dosage.parameter("w1"), step_rule="gradient_descent")
    assert plan.explanation("w1", 2).to_text() == want.to_text()


class Gated(bl.nn.Module):
    """ReLU written with a comparison: a mask taken from values, so the graph is recorded anew every step."""

    def __init__(self) -> None:
        super().__init__()
        self.w = bl.nn.Parameter(0.5, "w")
        self.b = bl.nn.Parameter(0.1, "b")

    def forward(self, x):
        z = x * self.w + self.b
        return z * (z > 0)


def test_a_graph_recorded_anew_every_step_is_explained_afresh_and_agrees():
    net = Gated()
    x, y = np.array([-1.0, 0.5, 2.0]), np.array([0.0, 1.0, 2.0])
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.05, max_steps=4, min_step=0).fit(net, x, y)
    plan = RunExplainer(trace, net)
    assert kind(plan, "w") is None and kind(plan, "b") is None
    for k in (1, 4):
        assert plan.explanation("w", k).to_latex() == reference(trace, net, "w", k).to_latex()


def test_float32_matrices_agree_with_explain():
    net = bl.MLP([2, 4, 1], "tanh", seed=1, dtype=np.float32)
    x = np.array([[0.5, -1.0], [1.0, 2.0], [0.0, 0.3], [1.5, -0.2]], dtype=np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    trace = bl.optim.Adam(net.parameters(), lr=0.05).fit(net, x, y, loss="bce", max_steps=4, min_step=0)
    plan = RunExplainer(trace, net)
    for name, index in (("W1", None), ("W1", (3, 1)), ("b1", (2,)), ("W2", (0, 0))):
        for k in (1, 4):
            want, got = reference(trace, net, name, k, index), plan.explanation(name, k, index)
            assert [got.render(f) for f in FORMATS] == [want.render(f) for f in FORMATS], (name, index, k)


@pytest.mark.parametrize("preset", ["moons", "statquest"])
def test_the_lesson_s_exported_explanations_equal_one_at_a_time(preset):
    job = load_job(Settings(preset=preset, optimize="all", max_steps=40, min_step=0.0))
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = lesson.train(job)
    job.net.load_state_dict(start)
    names = [n for n, _ in job.net.named_parameters()]
    order = lesson._explanation_order(list(range(len(trace.iterations))))
    fast = lesson.worked_gradients(job, trace, names, order, budget=60_000)
    shown = list(fast[names[0]])
    assert 1 < len(shown) < len(order)  # the budget stopped it part way
    slow = {n: {str(k): lesson.explanation(job, trace, n, k - 1) for k in map(int, shown)} for n in names}
    assert fast == slow
    assert {n: p.data.tolist() for n, p in job.net.named_parameters()} == {n: v.tolist() for n, v in start.items()}


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
