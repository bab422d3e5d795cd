"""The explainer: the worked example's derivation, agreement with the engine, rounding notes,
every format, and networks the user builds."""

from __future__ import annotations

import itertools
import json
import os
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.explain import explain
from backproplab.explain.run import explain_run
from backproplab.optim import GradientDescent


def dosage_loss(b3=0.0):
    net, (x, y) = bl.presets.statquest()
    net.b3.data = np.array(b3)
    return net, losses.ssr(net(Tensor(x, name="x")), Tensor(y, name="y"))


def plain(text: str) -> str:
    return text.replace("−", "-")


def test_b3_reproduces_the_seed_derivation():
    net, loss = dosage_loss()
    text = plain(explain(loss, net.b3, lr=0.1).to_text())
    assert "dSSR/db3 = Σ_i dSSR/dŷ_i · dŷ_i/db3" in text
    assert "dSSR/dŷ_i = -2 × (y_i - ŷ_i)" in text and "dŷ_i/db3 = 1" in text
    assert "-2 × (0 - (-2.60)) × 1 + -2 × (1 - (-1.61)) × 1 + -2 × (0 - (-2.61)) × 1" in text
    assert "= -15.66" in text
    assert "step size = gradient × learning rate = -15.66 × 0.1 = -1.57" in text
    assert "new b3 = old b3 - step size = 0 - (-1.57) = 1.57" in text


def test_second_iteration_of_the_seed():
    net, loss = dosage_loss(b3=1.5655108380577747)
    text = plain(explain(loss, net.b3, lr=0.1).to_text())
    assert "= -6.26" in text and "= 2.19" in text


def test_w1_is_a_four_factor_chain_with_every_factor_worked():
    net, loss = dosage_loss()
    e = explain(loss, net.w1, lr=0.1)
    text = plain(e.to_text())
    assert "dSSR/dw1 = Σ_i dSSR/dŷ_i · dŷ_i/dh1_i · dh1_i/dz1_i · dz1_i/dw1" in text
    assert "dŷ_i/dh1_i = w3" in text
    assert "dh1_i/dz1_i = e^z1_i/(1 + e^z1_i) = σ(z1_i)" in text  # from the softplus op's own statement
    assert "dz1_i/dw1 = x_i" in text
    assert len(e.details["terms"]) == 3 and all(len(t["factors"]) == 4 for t in e.details["terms"])
    loss.backward()
    assert e.gradient == pytest.approx(float(net.w1.grad), rel=1e-12)


def test_the_factor_rules_come_from_the_op_table():
    """Change the op's statement and the explanation changes: there is no second copy."""
    from backproplab import ops

    original = ops.softplus_op.partials
    object.__setattr__(ops.softplus_op, "partials", (("SIGMA($z)", r"\Sigma($z)"),))  # the op is frozen
    try:
        net, loss = dosage_loss()
        assert "dh1_i/dz1_i = SIGMA(z1_i)" in explain(loss, net.w1).to_text()
    finally:
        object.__setattr__(ops.softplus_op, "partials", original)


def test_rounding_note_appears_only_when_the_rounded_terms_disagree():
    net, loss = dosage_loss(b3=1.5655108380577747)
    text = plain(explain(loss, net.b3).to_text())
    # −2.08 + −2.09 + −2.10 = −6.27 by hand, but the exact gradient is −6.2620…
    assert "the rounded numbers shown give -6.27; the exact value is -6.262043" in text
    net, loss = dosage_loss()
    assert "rounded numbers shown give" not in explain(loss, net.b3).to_text()


def test_a_parameter_used_twice_shows_the_sum_over_its_paths():
    w = bl.Parameter(1.5, "w")
    x = Tensor([1.0, 2.0], name="x")
    h = (w * x).named("h")
    yhat = (w * h).named("ŷ")  # w reaches ŷ directly and through h
    loss = losses.ssr(yhat, [1.0, 0.0])
    e = explain(loss, w)
    assert " + Σ_i " in e.to_text()
    loss.backward()
    assert e.gradient == pytest.approx(float(w.grad), rel=1e-12)


def test_unnamed_graphs_get_generated_names():
    w, b, v = bl.Parameter(0.3, "w"), bl.Parameter(-0.2, "b"), bl.Parameter(0.7, "v")
    x = Tensor([0.5, -1.0, 2.0], name="x")
    loss = ((((w * x + b).tanh() * v) - Tensor([0.0, 1.0, 0.0], name="y")) ** 2).sum()
    text = explain(loss, w).to_text()
    assert "da₁_i/dz₁_i = 1 − tanh²(z₁_i)" in text
    assert "dz₁_i/dw = x_i" in text


ACTS = sorted(bl.ops.ACTIVATIONS)
LOSSES = ["ssr", "mse", "bce", "cross_entropy"]


@given(st.integers(1, 3), st.sampled_from(ACTS), st.sampled_from(LOSSES), st.integers(0, 10_000))
def test_every_explained_value_matches_the_engine_on_random_mlps(layers, act, loss_name, seed):
    rng = np.random.default_rng(seed)
    sizes = [2] + list(rng.integers(1, 4, size=layers - 1)) + [3 if loss_name == "cross_entropy" else 1]
    net = bl.MLP(sizes, act, seed=seed)
    for name, p in net.named_parameters():
        if name.startswith("b"):
            p.data = rng.uniform(0.1, 0.5, p.shape)  # keep relu off its kink
    x = Tensor(rng.normal(size=(4, 2)), name="x")
    y = rng.integers(0, 3, size=4) if loss_name == "cross_entropy" else rng.uniform(0, 1, size=4)
    loss = losses.get_loss(loss_name)(net(x), y)
    loss.backward()
    for _name, p in net.named_parameters():
        for index in itertools.product(*(range(n) for n in p.shape)):
            e = explain(loss, p, index=index, form="paths", max_terms=10_000)
            assert e.gradient == pytest.approx(float(p.grad[index]), rel=1e-12, abs=1e-15)
        d = explain(loss, p, form="delta")
        np.testing.assert_allclose(d.gradient, p.grad, rtol=1e-12, atol=1e-15)


def test_two_three_one_tanh_network_gets_a_full_explanation():
    net = bl.MLP([2, 3, 1], "tanh", seed=0)
    x = Tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], name="x")
    loss = losses.mse(net(x), [1.0, 0.0, 1.0])
    text = plain(explain(loss, net.parameter("W1"), index=(1, 0), lr=0.1).to_text())  # input 1 into unit 2
    assert "dMSE/dW1[2,1] = Σ_i dMSE/dz2[i,1] · dz2[i,1]/da1[i,2] · da1[i,2]/dz1[i,2] · dz1[i,2]/dW1[2,1]" in text
    assert "da1[i,2]/dz1[i,2] = 1 - tanh²(z1[i,2])" in text
    assert "dMSE/dz2[i,1] = -2 × (y[i,1] - z2[i,1]) / 3" in text
    assert "new W1[2,1] = old W1[2,1] - step size" in text
    delta = plain(explain(loss, net.parameter("W1")).to_text())  # z2 = a1·W2ᵀ + b2, so δ_a1 = δ_z2·W2
    assert "δ_a1 = δ_z2·W2 " in delta and "δ_z1 = δ_a1 ⊙ (1 - tanh²(z1))" in delta and "dMSE/dW1 = δ_z1ᵀ·x" in delta


def test_a_wide_entry_gets_its_own_short_working():
    net = bl.MLP([4, 16, 16, 1], "tanh", seed=0)
    x = np.random.default_rng(1).normal(size=(8, 4))
    W1, b1 = net.parameter("W1"), net.parameter("b1")

    def loss_of(*_):
        return losses.mse(net(Tensor(x, name="x")), np.zeros(8))

    numeric_w = bl.central_difference(loss_of, [W1], 0)
    numeric_b = bl.central_difference(loss_of, [b1], 0)
    auto = explain(loss_of(), W1, index=(1, 0))  # 8×16×16 paths entry by entry: grouped by sample instead
    assert auto.form == "entry" and auto.gradient == pytest.approx(numeric_w[1, 0], abs=1e-7)
    text = auto.to_text()
    assert "dMSE/dW1[2,1] = Σ_i δ_z1[i,2] · x[i,1]" in text and "unit 2 of z1" in text
    # the table's columns are δ of the unit, the input, and their product, one row per sample
    assert [t["value"] for t in auto.details["terms"]] == pytest.approx(
        list(np.asarray(auto.details["deltas"]) * x[:, 0]), abs=1e-15)
    assert sum(t["value"] for t in auto.details["terms"]) == pytest.approx(auto.gradient, abs=1e-12)
    bias = explain(loss_of(), b1, index=(3,), lr=0.1)
    assert bias.form == "entry" and bias.gradient == pytest.approx(numeric_b[3], abs=1e-7)
    assert "dMSE/db1[4] = Σ_i δ_z1[i,4]" in bias.to_text() and "new b1[4]" in bias.to_text()
    assert explain(loss_of(), W1, index=(0, 1), form="paths").form == "paths"  # 128 paths: written out
    wide = bl.MLP([2, 30, 30, 1], "tanh", seed=0)
    wide_loss = losses.mse(wide(Tensor(np.ones((8, 2)), name="x")), np.zeros(8))
    grouped = explain(wide_loss, wide.parameter("W1"), index=(1, 0), form="paths")  # 240 paths: grouped
    assert grouped.form == "entry" and "more than 200 paths" in grouped.to_text()
    wide_loss.backward()
    assert grouped.gradient == pytest.approx(wide.parameter("W1").grad[1, 0], abs=1e-12)


def test_auto_switches_to_delta_when_an_entry_has_no_short_form():
    w = Tensor(np.array([[0.5, -0.3], [0.2, 0.1]]), requires_grad=True, name="W")
    h = Tensor(np.ones((30, 2)), name="x")
    for _ in range(4):  # W used four times: many paths, and no single layer to group them by
        h = bl.tanh(h @ w)
    loss = losses.mse(h, np.zeros((30, 2)))
    auto = explain(loss, w, index=(0, 0), max_terms=8)
    assert auto.form == "delta" and "more than 8 terms, so it is shown layer by layer" in auto.to_text()
    with pytest.raises(ValueError, match="layer-by-layer form"):
        explain(loss, w, index=(0, 0), form="paths", max_terms=8)


def test_bad_calls_are_clear_errors():
    net, loss = dosage_loss()
    with pytest.raises(ValueError, match="single number"):
        explain(net(Tensor([1.0, 2.0])), net.b3)
    with pytest.raises(ValueError, match="unknown form"):
        explain(loss, net.b3, form="matrix")
    with pytest.raises(ValueError, match="does not fit"):
        explain(loss, net.b3, index=(2,))
    other = bl.Parameter(1.0, "q")
    assert "does not depend on q" in explain(loss, other).to_text()


# --- formats ------------------------------------------------------------------------------------
SNAPSHOTS = __import__("pathlib").Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("fmt", ["text", "md", "latex", "html", "json"])
@pytest.mark.parametrize("param", ["b3", "w1"])
def test_snapshots_of_every_format_for_the_dosage_network(fmt, param):
    net, loss = dosage_loss()
    got = explain(loss, getattr(net, param), lr=0.1).render(fmt)
    path = SNAPSHOTS / f"dosage_{param}.{fmt}"
    if os.environ.get("UPDATE_SNAPSHOTS"):  # UPDATE_SNAPSHOTS=1 pytest rewrites them; review the diff
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path.name}: run UPDATE_SNAPSHOTS=1 pytest and review it"
    if fmt == "json":  # full-precision numbers: the last bit may differ between NumPy versions' summation orders
        assert same_up_to_last_bits(json.loads(got), json.loads(path.read_text(encoding="utf-8")))
    else:
        assert got == path.read_text(encoding="utf-8")


def same_up_to_last_bits(a, b) -> bool:
    """Equal JSON values, floats equal to 1e-14 relative (a few units in the last place), the rest exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-14 * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_up_to_last_bits(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_up_to_last_bits(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_the_json_snapshot_check_tells_a_changed_number_from_a_last_bit():
    assert same_up_to_last_bits({"g": [-15.662 + 2e-15, 1]}, {"g": [-15.662, 1]})
    assert not same_up_to_last_bits({"g": [-15.663, 1]}, {"g": [-15.662, 1]})
    assert not same_up_to_last_bits({"g": [1.0]}, {"g": [1]}) and not same_up_to_last_bits({"g": 1}, {"h": 1})


def test_markdown_math_is_well_formed():
    net, loss = dosage_loss()
    md = explain(loss, net.w1, lr=0.1).to_markdown()
    assert md.count("$$") % 2 == 0
    inline = re.sub(r"\$\$.*?\$\$", "", md, flags=re.S)
    assert inline.count("$") % 2 == 0
    assert "\\begin{aligned}" in md and "−" not in re.findall(r"\$\$(.*?)\$\$", md, flags=re.S)[0]


def test_html_is_self_contained():
    net, loss = dosage_loss()
    page = explain(loss, net.w1, lr=0.1).to_html(full_page=True)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r"(src|href)=", page) and "http" not in page
    assert "dSSR/dw1" in page and "&lt;" not in page.split("<style>")[0]


def test_json_and_jupyter_reprs():
    net, loss = dosage_loss()
    e = explain(loss, net.b3, lr=0.1)
    data = json.loads(e.render("json"))
    assert data["wrt"] == "b3" and data["form"] == "paths" and round(data["gradient"], 2) == -15.66
    assert data["step"]["new"] == pytest.approx(1.5655108380577747)
    assert e._repr_html_().startswith("<style>") and e._repr_markdown_().startswith("### ")


def test_whole_run_narrative_with_convergence_line():
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y)
    before = net.b3.item()
    story = plain(explain_run(trace, net).to_text())
    assert net.b3.item() == before, "explaining a run must not change the network"
    assert "Iteration 1 (b3 = 0)" in story and "Iteration 2 (b3 = 1.57)" in story
    assert "-15.66" in story and "-6.26" in story and "2.19" in story
    assert "when b3 ≈ 2.61 the gradient is ≈ 0" in story
    assert "iteration(s) not shown" in story
    every = plain(explain_run(trace, net, every=1).to_text())
    assert every.count("Iteration ") == len(trace.iterations)


def test_a_note_when_the_factors_shown_do_not_multiply_to_the_product_shown():
    net, loss = dosage_loss()
    exp = explain(loss, net.w1)
    text = plain(exp.to_text())
    numbers = text.split("Putting in the numbers")[1]
    terms = re.search(r"dSSR/dw1 = (.*?)\n  = ", numbers, re.S).group(1).split("\n      + ")
    products = [float(v.strip("()")) for v in re.search(r"\n  = (.*?)\n", numbers).group(1).split(" + ")]
    assert len(terms) == len(products) == 3
    for k, (term_text, product) in enumerate(zip(terms, products)):
        assert re.fullmatch(r"[-\d. ×()]+", term_text)
        by_hand = eval(term_text.replace("×", "*"))  # the reader's arithmetic on the numbers as printed
        if f"{by_hand:.2f}" != f"{product:.2f}":
            assert f"sample {k + 1}: {by_hand:.2f}, exactly" in text
        else:
            assert f"sample {k + 1}:" not in text
    assert "sample 3: 5.54" in text  # −2 × 2.61 × (−1.22) × 0.87 × 1 = 5.54, shown 5.56
    assert exp.details["terms"][2]["value"] == pytest.approx(5.557348, abs=1e-6)


# --- graphs a learner writes by hand, with no names in between ----------------------------------
CURVES = {
    "exp": lambda t: t.exp(),
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "softplus": lambda t: bl.functional.softplus(t),
    "leaky_relu": lambda t: bl.functional.leaky_relu(t, 0.1),
    "elu": lambda t: bl.functional.elu(t),
    "silu": lambda t: bl.functional.silu(t),
    "square": lambda t: t**2,
    "cube": lambda t: t**3,
    "log1p_exp": lambda t: (t.exp() + 1.0).log(),
}


def chain_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip().startswith("dL/dw = ") and "/d" in line[9:])


def test_the_first_loss_a_learner_writes_has_a_real_chain_rule():
    w, b = bl.Parameter(0.5, "w"), bl.Parameter(0.1, "b")
    x, y = Tensor([0.0, 0.5, 1.0], name="x"), Tensor([0.0, 1.0, 0.0], name="y")
    loss = ((w * x + b - y) ** 2).sum()
    text = explain(loss, w).to_text()
    assert "dL/dw = Σ_i dL/du₁_i · du₁_i/dw" in text  # not the empty "Σ_i dL/dw"
    assert "u₁_i = (w·x_i + b) − y_i" in text  # the name is defined
    assert "dL/du₁_i = 2·u₁_i" in text  # 2·u^(2 − 1) (0 where 2 = 0) with its arithmetic done
    assert "(0 where" not in text and "^(2" not in text
    assert "2·(−0.65) × 0.5" in text  # the second sample's factors, filled in


@given(st.lists(st.sampled_from(sorted(CURVES)), min_size=0, max_size=3), st.sampled_from(["sum", "mean"]),
       st.floats(-1.5, 1.5), st.floats(-1.0, 1.0))
def test_every_chain_of_unnamed_ops_is_cut_at_named_steps_and_adds_up(curves, reduce, w0, b0):
    x = Tensor([-1.0, 0.5, 2.0], name="x")
    if "leaky_relu" in curves:  # at its kink a central difference gives neither side's slope
        assume(np.all(np.abs(w0 * x.data + b0) > 1e-3))
    w, b = bl.Parameter(w0, "w"), bl.Parameter(b0, "b")

    def loss_at(value: float) -> Tensor:
        w.data = np.array(value)
        t = w * x + b
        for name in curves:
            t = CURVES[name](t)
        return getattr(t, reduce)()

    with np.errstate(over="ignore", invalid="ignore"):
        assume(np.isfinite(float(loss_at(w0).data)))  # a chain that overflows is refused in one line instead
    e = explain(loss_at(w0), w)
    text = e.to_text()
    line = chain_line(text)
    factors = line.split(" = ", 1)[1].replace("Σ_i ", "").split(" · ")
    assert all(f != "dL/dw" for f in factors), line
    names = set(re.findall(r"[uza][₁-₉]+", line))
    assert names, line
    defined = {m.group(1) for m in re.finditer(r"^  ([uza][₁-₉]+)_i = ", text, re.M)}
    assert names <= defined, text
    h = 1e-6  # an independent oracle: central differences of the loss itself
    numeric = (float(loss_at(w0 + h).data) - float(loss_at(w0 - h).data)) / (2 * h)
    total = sum(t["value"] for t in e.details["terms"])
    assert total == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_a_scalar_used_twice_sums_over_its_paths_not_over_samples():
    w = bl.Parameter(0.5, "w")
    loss = (w * w).exp()
    text = explain(loss, w).to_text()
    assert "dL/dw = Σ_paths dL/du₁ · du₁/dw" in text and "Σ_i" not in text
    assert "u₁ = w·w" in text
    assert explain(loss, w).gradient == pytest.approx(2 * 0.5 * np.exp(0.25), rel=1e-12)


def test_a_conditional_factor_is_bracketed_in_a_product():
    w = bl.Parameter(0.5, "w")
    loss = (w * Tensor([-1.0, 2.0], name="x")).clamp(-0.8, 0.8).mean()
    text = explain(loss, w).to_text()
    assert "dL/du₁_i = 1/2 × (1 if −0.8 ≤ u₁_i ≤ 0.8 else 0" in text


@pytest.mark.parametrize(("before", "after"), [
    ("2·a^(2 − 1) (0 where 2 = 0)", "2·a"),
    ("3·a^(3 − 1) (0 where 3 = 0)", "3·a^2"),
    ("0.5·a^(0.5 − 1) (0 where 0.5 = 0)", "0.5·a^(−0.5)"),
    ("−1·a^(−1 − 1) (0 where −1 = 0)", "−1·a^(−2)"),
    ("0·a^(0 − 1) (0 where 0 = 0)", "0·a^(−1) (0 where 0 = 0)"),  # the clause holds: kept
    ("b·a^(b − 1) (0 where b = 0)", "b·a^(b − 1) (0 where b = 0)"),  # a tensor exponent: left alone
    ("σ((w·x_i))·(1 − σ((w·x_i)))", "σ(w·x_i)·(1 − σ(w·x_i))"),  # an argument's own parentheses in a call's
    ("(((a + b)))", "(a + b)"),
    ("((a + b) − y_i)·(c)", "((a + b) − y_i)·(c)"),  # a group beside others keeps its parentheses
    (r"2\,{a}^{2 - 1} \text{ (0 where } 2 = 0\text{)}", r"2\,{a}"),
    (r"3\,{a}^{3 - 1} \text{ (0 where } 3 = 0\text{)}", r"3\,{a}^{2}"),
])
def test_template_leftovers_are_tidied(before, after):
    from backproplab.explain.paths import tidy

    assert tidy(before) == after


def test_the_layer_by_layer_form_says_what_its_generated_names_stand_for():
    W = bl.Parameter(np.array([[0.5, -0.2], [0.1, 0.3]]), "W")
    x = Tensor(np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]]), name="x")
    y = Tensor(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), name="y")
    loss = (((x @ W).tanh() - y) ** 2).mean()
    e = explain(loss, W)
    text = e.to_text()
    where = text.index("where\n")
    assert text[where:].startswith("where\n  z₁ = x·W\n  a₁ = tanh(z₁)\n  u₁ = a₁ − y\n")  # inputs first
    assert where < text.index("δ_L = ")
    assert "δ_u₁ = (1/6 copied to every averaged entry) ⊙ (2·u₁)" in text  # n: the 3×2 entries averaged
    assert r"z_{1} &= x\,W" in e.to_latex()
    loss.backward()  # the δ lines end in the engine's gradient, which a central difference confirms
    h, entry = 1e-6, (1, 0)
    W.data[entry] += h
    up = float((((x @ W).tanh() - y) ** 2).mean().data)
    W.data[entry] -= 2 * h
    down = float((((x @ W).tanh() - y) ** 2).mean().data)
    assert W.grad[entry] == pytest.approx((up - down) / (2 * h), rel=1e-6)
    assert np.array_equal(e.gradient, W.grad)
