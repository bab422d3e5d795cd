"""Check my working: a learner's numbers for one iteration marked right within their rounding, right from
rounded inputs, or wrong with the mistake that gives them. The article's own numbers first; then random
dosage-shaped networks, each mistake worked out here by hand and injected; the command line; bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.explain.article import compared_with_article
from backproplab.explain.check import MISTAKES, candidates, quantities
from backproplab.explain.check_answer import judge
from backproplab.explain.check_work import work_for
from backproplab.spec.presets import DosageNet
from backproplab.util.messages import InputError

from .conftest import assert_clean_error, cli

ARTICLE_1 = {"yhat": [-2.6, -1.6, -2.61], "grad": -15.7, "step": -1.57, "b3": 1.57}
ARTICLE_2 = {"yhat": [-1.03, -0.03, -1.04], "grad": -6.26, "step": -0.626, "b3": 2.19}


def plain(text: str) -> str:
    return text.replace("−", "-")


@pytest.fixture(scope="module")
def dosage():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y, loss="ssr")
    return trace, net, x, y


# --- the article's numbers -------------------------------------------------------------------------------
def test_the_article_iteration_1_is_right_within_its_rounding(dosage):
    trace, *_ = dosage
    result = bl.check(trace, iteration=1, **ARTICLE_1)
    assert [v.status for v in result.verdicts] == ["right"] * 6
    exact = trace.iterations[0]
    assert f"agrees with {plain(bl.util.numbers.number(exact.gradients['b3'], 4))}" in plain(result["grad.b3"].message)
    assert "at 1 decimal" in result["grad.b3"].message and "at 2 decimals" in result["b3"].message


def test_the_article_iteration_2_predictions_come_from_rounded_inputs(dosage):
    trace, *_ = dosage
    result = bl.check(trace, iteration=2, **ARTICLE_2)
    first, second = trace.iterations[:2]
    assert [result[f"yhat{i}"].status for i in (1, 2, 3)] == ["rounded"] * 3
    # −0.03 is ŷ_2 of iteration 1 rounded to −1.6, plus the change in b3 rounded to 1.57; the exact ŷ_2 is −0.044
    assert round(first.predictions[1], 1) == -1.6 and round(-first.step_sizes["b3"], 2) == 1.57
    assert round(second.predictions[1], 3) == -0.044
    assert "rounding ŷ_2 to −1.6 before adding 1.57" in result["yhat2"].message
    assert result["yhat2"].message.endswith("exact −0.044")
    assert "rounding ŷ_3 to −2.61" in result["yhat3"].message


def test_the_article_gradient_at_iteration_2_is_exact_but_not_from_its_own_terms(dosage):
    trace, _, _, y = dosage
    result = bl.check(trace, iteration=2, **ARTICLE_2)
    g = result["grad.b3"]
    assert g.status == "right" and round(trace.iterations[1].gradients["b3"], 2) == -6.26
    own = float(np.sum(-2 * (np.asarray(y) - np.asarray(ARTICLE_2["yhat"]))))  # the article's own terms
    assert round(own, 2) == -6.20 and len(g.notes) == 1
    assert "= −6.20" in g.notes[0] and "not what your own numbers give" in g.notes[0]
    assert result["step.b3"].status == "right" and result["b3"].status == "right"
    assert "at 3 decimals" in result["step.b3"].message


def test_the_article_table_carries_the_checker_verdicts(dosage):
    rows = {r["what"]: r for r in compared_with_article()}
    assert all(r["verdict"] for r in rows.values())
    for i in (1, 2, 3):
        assert rows[f"ŷ_{i} at iteration 1"]["verdict"] == "right"
        assert rows[f"ŷ_{i} at iteration 2"]["verdict"] == "right from rounded inputs"
    for what in ("dSSR/db3", "step size"):
        assert rows[f"{what} at iteration 1"]["verdict"] == rows[f"{what} at iteration 2"]["verdict"] == "right"
    assert "−6.20" in rows["dSSR/db3 at iteration 2"]["verdict_message"]
    assert rows["b3 where the gradient is ≈ 0"]["verdict"] == "right"
    from backproplab.lesson.document import _article_rows

    assert [r["verdict"] for r in _article_rows()] == [r["verdict"] for r in rows.values()]


# --- the mistakes, on the dosage example ---------------------------------------------------------------
def test_each_mistake_on_the_dosage_gradient_is_named_with_the_right_line(dosage):
    trace, *_ = dosage
    g = trace.iterations[1].gradients["b3"]
    flipped = bl.check(trace, iteration=2, grad=f"{-g:.2f}")["grad.b3"]
    assert flipped.status == "wrong" and set(flipped.mistakes) == {"residual_sign", "plus_two"}
    assert flipped.line.startswith("dSSR/dŷ_i = −2 × (y_i − ŷ_i)") and flipped.line.endswith("= −6.26")
    halved = bl.check(trace, iteration=2, grad=f"{g / -2:.2f}")["grad.b3"]
    assert halved.mistakes == ["minus_two_forgotten"] and "−2" in halved.message
    stale = trace.iterations[0].params["b3"] - trace.iterations[1].step_sizes["b3"]  # the step taken from b3 before
    old = bl.check(trace, iteration=2, b3=f"{stale:.3f}")["b3"]
    assert old.mistakes == ["old_value"] and old.line == "new b3 = old b3 − step size = 1.57 − (−0.63) = 2.19"


def test_a_chain_factor_left_out_names_the_factor():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.1, max_steps=3).fit(net, x, y, loss="ssr")
    it = trace.iterations[1]
    p = it.params
    z1 = p["w1"] * x + p["b1"]
    r = -2 * (y - np.asarray(it.predictions))
    without_x = float(np.sum(r * p["w3"] / (1 + np.exp(-z1))))  # dSSR/dw1 with dz1_i/dw1 = x_i left out
    v = bl.check(trace, iteration=2, grad_w1=without_x)["grad.w1"]
    assert v.mistakes == ["factor_left_out:dz1_i/dw1"] and "dz1_i/dw1 = x_i" in v.message
    assert v.line.startswith("dz1_i/dw1 = x_i; dSSR/dw1 =")


def test_a_value_worked_right_from_a_wrong_input_is_said_to_follow_from_it(dosage):
    trace, *_ = dosage
    result = bl.check(trace, iteration=2, grad=6.26, step=0.626)
    assert result["grad.b3"].status == "wrong" and result["step.b3"].status == "carried"
    assert "6.26 × 0.1" in result["step.b3"].message


def test_a_value_not_filled_in_is_asked_for_not_an_error(dosage):
    trace, *_ = dosage
    result = bl.check(trace, iteration=2, grad=None)
    assert result["grad.b3"].status == "missing" and "fill in" in str(result)
    assert not result.all_right


# --- random networks: every exact value right, every injected mistake its own diagnosis -----------------
FACTORS = {  # per parameter: each chain factor after dL/dŷ_i, by name, as a function of the forward pass
    "w1": {"dŷ_i/dh1_i": lambda f: f["w3"], "dh1_i/dz1_i": lambda f: f["s1"], "dz1_i/dw1": lambda f: f["x"]},
    "b1": {"dŷ_i/dh1_i": lambda f: f["w3"], "dh1_i/dz1_i": lambda f: f["s1"]},
    "w2": {"dŷ_i/dh2_i": lambda f: f["w4"], "dh2_i/dz2_i": lambda f: f["s2"], "dz2_i/dw2": lambda f: f["x"]},
    "b2": {"dŷ_i/dh2_i": lambda f: f["w4"], "dh2_i/dz2_i": lambda f: f["s2"]},
    "w3": {"dŷ_i/dw3": lambda f: f["h1"]},
    "w4": {"dŷ_i/dw4": lambda f: f["h2"]},
    "b3": {},
}


def forward(params: dict, x: np.ndarray) -> dict:
    """The dosage network by hand with NumPy."""
    f = {k: float(v) for k, v in params.items()}
    z1, z2 = f["w1"] * x + f["b1"], f["w2"] * x + f["b2"]
    f.update(x=x, s1=1 / (1 + np.exp(-z1)), s2=1 / (1 + np.exp(-z2)), h1=np.logaddexp(0, z1), h2=np.logaddexp(0, z2))
    f["yhat"] = f["w3"] * f["h1"] + f["w4"] * f["h2"] + f["b3"]
    return f


def by_hand(params: dict, x: np.ndarray, y: np.ndarray, loss: str, p: str, left_out: str = "") -> float:
    f = forward(params, x)
    r = -2 * (y - f["yhat"]) / (len(y) if loss == "mse" else 1)
    terms = r.copy()
    for name, factor in FACTORS[p].items():
        if name != left_out:
            terms = terms * factor(f)
    return float(np.sum(terms))


def injected(trace, k: int, x, y, loss: str) -> list[tuple[str, str, float]]:
    """(key, mistake, value) for every mistake of iteration k, each worked out here by hand."""
    it, prev = trace.iterations[k - 1], trace.iterations[k - 2] if k > 1 else None
    lr, out = trace.learning_rate, []
    for p in trace.optimize:
        g, old, step = by_hand(it.params, x, y, loss, p), float(it.params[p]), float(it.step_sizes[p])
        assert g == pytest.approx(it.gradients[p], rel=1e-9, abs=1e-12)
        out += [(f"grad.{p}", "residual_sign", -g), (f"grad.{p}", "plus_two", -g),
                (f"grad.{p}", "minus_two_forgotten", g / -2)]
        out += [(f"grad.{p}", f"factor_left_out:{name}", by_hand(it.params, x, y, loss, p, name))
                for name in FACTORS[p]]
        out += [(p, "step_added", old + step), (p, "step_twice", old - 2 * step), (p, "lr_on_new", (old - g) * lr)]
        if prev is not None:
            g_prev = by_hand(prev.params, x, y, loss, p)
            out += [(f"grad.{p}", "old_value", g_prev), (f"step.{p}", "old_value", g_prev * lr),
                    (p, "old_value", float(prev.params[p]) - step)]
    if prev is not None:
        moved = {"old_value": 0.0, "step_added": 1.0, "step_twice": -2.0}
        for mistake, sign in moved.items():
            params = {**prev.params, **{p: float(prev.params[p]) + sign * float(prev.step_sizes[p])
                                        for p in trace.optimize}}
            out += [(f"yhat{i + 1}", mistake, float(v)) for i, v in enumerate(forward(params, x)["yhat"])]
        params = {**prev.params, **{p: (float(prev.params[p]) - by_hand(prev.params, x, y, loss, p)) * lr
                                    for p in trace.optimize}}
        out += [(f"yhat{i + 1}", "lr_on_new", float(v)) for i, v in enumerate(forward(params, x)["yhat"])]
    return out


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), optimize=st.sets(st.sampled_from(sorted(FACTORS)), min_size=1, max_size=3),
       loss=st.sampled_from(["ssr", "mse"]), k=st.integers(1, 3))
def test_exact_values_are_right_and_each_injected_mistake_gets_its_own_diagnosis(seed, optimize, loss, k):
    rng = np.random.default_rng(seed)
    start = {name: float(rng.uniform(-2, 2)) for name in FACTORS}
    x, y = np.sort(rng.uniform(0.05, 1, size=3)), rng.uniform(-1, 1, size=3)
    net = DosageNet(start)
    trace = bl.optim.GradientDescent(net.parameters(only=sorted(optimize)), lr=float(rng.uniform(0.01, 0.2)),
                                     max_steps=3, min_step=0).fit(net, x, y, loss=loss)
    work = work_for(trace, k, net)
    listed = quantities(work)
    exact = {q.key: q.exact for q in listed}
    right = judge(work, listed, {key: value for key, value in exact.items() if key.startswith("yhat")} | {
        key.replace(".", "_"): value for key, value in exact.items() if not key.startswith("yhat")})
    assert [v.status for v in right.verdicts] == ["right"] * len(listed)
    mistakes = injected(trace, k, x, y, loss)
    by_value = {(key, m): v for key, m, v in mistakes}
    for key, mistake, value in mistakes:
        if math.isclose(value, exact[key], rel_tol=1e-9, abs_tol=1e-12):
            continue  # no mistake at all here (a factor of 1, a step from 0 …): the candidates leave it out
        v = judge(work, listed, {key.replace(".", "_"): value}).verdicts[0]
        assert v.status == "wrong" and mistake in v.mistakes, (key, mistake, value, v)
        others = [m for m in v.mistakes if m != mistake]
        for other in others:  # reported together only where the other mistake gives the same number
            assert math.isclose(by_value[(key, other)], value, rel_tol=1e-9, abs_tol=1e-12), (key, mistake, other)
        if others and {mistake, *others} != {"residual_sign", "plus_two"}:  # counted in hypothesis' statistics
            event(f"two mistakes give the same number, reported together: {', '.join(sorted({mistake, *others}))}")
    assert {m.split(":")[0] for _, m, _ in mistakes} <= set(MISTAKES)


def test_the_candidates_are_plain_data_a_page_can_compare_with(dosage):
    trace, *_ = dosage
    listed = candidates(trace, 2)
    data = json.loads(json.dumps([q.to_dict() for q in listed]))
    keys = [q["key"] for q in data]
    assert keys == ["yhat1", "yhat2", "yhat3", "grad.b3", "step.b3", "b3"]
    grad = data[3]
    assert grad["shown"] == "−6.26" and grad["digits"] == 2 and grad["exact"] == trace.iterations[1].gradients["b3"]
    assert {c["kind"] for c in grad["mistakes"]} >= {"residual_sign", "plus_two", "minus_two_forgotten", "old_value"}
    assert all(c["message"] and (c["line"] or grad["line"]) for c in grad["mistakes"])  # "": the quantity's own
    assert any(math.isclose(c["value"], -0.03, abs_tol=1e-12) for c in data[1]["rounded"])


# --- the command line --------------------------------------------------------------------------------
def test_the_command_line_prints_what_bl_check_says(capsys, dosage):
    trace, *_ = dosage
    args = ["yhat=-1.03,-0.03,-1.04", "grad=-6.26", "step=-0.626", "b3=2.19"]
    code, out, _ = cli(capsys, "check", "statquest", "--iteration", "2", *args, "-q")
    assert code == 0
    expected = bl.check(trace, iteration=2, yhat="-1.03,-0.03,-1.04", grad="-6.26", step="-0.626", b3="2.19")
    assert out == str(expected) + "\n"
    code, out, _ = cli(capsys, "check", "statquest", *args, "--iteration", "2", "--json", "-q")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(expected.to_dict()))


def test_the_command_line_names_the_parameter_when_several_are_optimised(capsys):
    code, out, _ = cli(capsys, "check", "statquest", "--optimize", "all", "--iteration", "2", "grad.w1=0.82", "-q")
    assert code == 0 and out.startswith("Your working at iteration 2") and "right: dSSR/dw1" in out


@pytest.mark.parametrize(("args", "message"), [
    (["gard=1"], "unknown key 'gard'; did you mean 'grad'?"),
    (["--iteration", "99", "grad=1"], "choose --iteration from 1 to"),
    (["grad=abc"], "grad: 'abc' is not a number"),
    (["yhat=1,2"], "yhat: 2 value(s) given, but the run has 3 samples"),
    (["grad"], "'grad' is not KEY=VALUE"),
    ([], "give at least one value to check"),
    (["--optimize", "all", "grad=1"], "name the one you mean, such as grad.w1="),
    (["yhat7=1"], "choose ŷ from yhat1 to yhat3"),
])
def test_bad_input_is_one_clear_line(capsys, args, message):
    assert_clean_error(capsys, ["check", "statquest", *args], message)


def test_bad_input_in_python_is_an_input_error(dosage):
    trace, net, x, y = dosage
    with pytest.raises(InputError, match="iteration 99 is not in this run: choose a whole number from 1 to"):
        bl.check(trace, iteration=99, grad=1.0)
    with pytest.raises(InputError, match="not a number"):
        bl.check(trace, iteration=1, grad=[1, 2])
    with pytest.raises(InputError, match="not a finite number"):
        bl.check(trace, iteration=1, grad=float("nan"))
    with pytest.raises(InputError, match="3 samples"):
        bl.check(trace, iteration=1, yhat=[1.0])
    net_again, _ = bl.presets.statquest()
    thinned = bl.optim.GradientDescent(net_again.parameters(only=["b3"]), lr=0.1).fit(net_again, x, y, loss="ssr",
                                                                                       keep_every=2)
    with pytest.raises(InputError, match=r"that this trace keeps \(1, 3, 5"):
        bl.check(thinned, iteration=2, grad=1.0)
    kept = thinned.iterations[1]  # iteration 3, the trace's second row
    assert bl.check(thinned, iteration=3, grad=kept.gradients["b3"], b3=kept.new_value("b3")).all_right
    other = bl.MLP([1, 2, 1], "tanh", seed=0)
    run = bl.optim.GradientDescent(other.parameters(), lr=0.1, max_steps=2).fit(other, x.reshape(-1, 1), y, loss="ssr")
    with pytest.raises(InputError, match="needs its network: bl.check\\(trace, model=net"):
        bl.check(run, iteration=1, grad=1.0)


def test_the_readme_shows_what_the_command_prints(capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    command, *shown = readme.split("```text\n$ backproplab check ", 1)[1].split("```", 1)[0].splitlines()
    code, out, _ = cli(capsys, "check", *command.split(), "-q")
    assert code == 0 and len(shown) >= 4
    printed = out.splitlines()
    assert all(line in printed for line in shown), [line for line in shown if line not in printed]


def test_a_prediction_is_marked_without_giving_the_answer_away(dosage):
    """Predict, then reveal: a wrong guess names its mistake and the line of working where it went wrong, never
    the exact value; a right one is marked as bl.check marks it."""
    from backproplab.explain.check_answer import guessed

    trace, *_ = dosage
    for k in (1, 2, 3):
        for q in candidates(trace, k):
            for c in q.mistakes:
                typed = f"{c.value:.4f}"
                status, said, hint = guessed(q, typed)
                if status != "wrong":
                    continue  # a mistake that lands within rounding of the exact value is not one here
                assert q.shown not in said and q.shown not in hint and said.startswith("your ")
                assert c.message in said
                if c.kind in ("residual_sign", "plus_two", "minus_two_forgotten"):
                    assert hint.startswith("dSSR/dŷ_i = −2") and "=" not in hint.split("=", 1)[1]
            assert guessed(q, f"{q.exact:.6f}")[0] == "right"
            assert "none of the usual mistakes" in guessed(q, "123456")[1]
