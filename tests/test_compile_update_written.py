"""A compiled training step with SGD or Adam: the update written out line by line in ``compiled.source``, the
same bits as the plain loop (also when a setting is switched after the step was written), and relu's and
transpose's gradients written inline, checked against the op table, central differences and PyTorch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses, optim
from backproplab.engine.inline import INLINE, NAMESPACE
from backproplab.engine.ops import OPS
from tests.test_compile_step import OPTIMIZERS, assert_same, dosage, training_step

ROOT = Path(__file__).resolve().parents[1]


def relu_mlp(sizes=(3, 40, 20, 2), dtype=np.float64, seed=0, scale=1.0):
    """A relu MLP with an MSE loss (the moons network's shape), weights scaled by ``scale``."""
    rng = np.random.default_rng(seed)
    net = bl.MLP(list(sizes), ["relu"] * (len(sizes) - 2) + ["identity"], dtype=np.dtype(dtype))
    for p in net.parameters():
        p.data = (p.data * scale).astype(dtype)
    x = Tensor(rng.normal(size=(9, sizes[0])).astype(dtype), name="x")
    y = Tensor(rng.normal(size=(9, sizes[-1])).astype(dtype), name="y")
    return net, lambda: losses.mse(net(x), y)


def run_steps(make, opt_name, compiled, steps=5, between=None):
    """Train ``steps`` steps; each step's loss, gradients and parameters, and the step function.
    ``between(k, opt)`` runs before step ``k`` (a setting switched, say)."""
    net, loss_fn = make()
    params = net.parameters()
    opt = OPTIMIZERS[opt_name](params)
    step = training_step(opt, loss_fn)
    run = bl.compile(step) if compiled else step
    history = []
    for k in range(steps):
        if between is not None:
            between(k, opt)
        loss = run()
        grads = [None if p._grad is None else p._grad.copy() for p in params]
        history.append((np.asarray(loss.data).copy(), grads, [np.asarray(p.data).copy() for p in params]))
    return history, run


def update_source(run):
    source = run.source
    return source[source.index("    def update():"):source.index("    def replay():")]


@pytest.mark.parametrize("opt_name", ["sgd", "sgd-momentum-decay", "sgd-nesterov", "sgd-dampening", "adam",
                                      "adam-decay", "adamw"])
def test_sgd_and_adam_updates_are_written_out_line_by_line(opt_name):
    plain, _ = run_steps(relu_mlp, opt_name, False)
    fused, run = run_steps(relu_mlp, opt_name, True)
    assert_same(plain, fused)
    assert run.records == 1
    update = update_source(run)
    assert ".move(" not in update  # no parameter left to a call: every update is arithmetic in the source
    assert "subtract(d, s, d)" in update  # p ← p − s, in place
    if opt_name.startswith("adam"):
        assert "m = m + w * (g - m) if w < 0.5 else g - (g - m) * (1 - w)" in update
        assert "v = v * beta2 + (1 - beta2) * (g * g)" in update
    elif opt_name == "sgd":
        assert "p ← p − lr × ∂L/∂p (SGD)" in update and "velocity" not in update
    else:
        assert "v = g.copy() if v is None else v * u1['momentum'] + (1 - u1['dampening']) * g" in update


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adam-decay", "adamw"])
def test_single_number_parameters_are_updated_in_python_floats(opt_name):
    plain, _ = run_steps(dosage, opt_name, False, steps=6)
    fused, run = run_steps(dosage, opt_name, True, steps=6)
    assert_same(plain, fused)
    update = update_source(run)
    assert ".move(" not in update and "d[()] = d.item() - s" in update


@pytest.mark.parametrize(("opt_name", "key", "value"), [
    ("sgd", "momentum", 0.9), ("sgd", "weight_decay", 0.1), ("sgd-momentum-decay", "momentum", 0.0),
    ("sgd-momentum-decay", "weight_decay", 0.0), ("adam", "weight_decay", 0.2), ("adam-decay", "weight_decay", 0.0),
    ("sgd-momentum-decay", "momentum", 0.5), ("adam", "betas", (0.8, 0.99)), ("adamw", "eps", 1e-3)])
def test_a_setting_changed_after_the_step_was_written_is_used(opt_name, key, value):
    """Values are read at every step; a term switched on or off runs step() itself: the plain loop's bits."""
    def switch(k, opt):
        if k == 2:
            opt.param_groups[0][key] = value

    plain, _ = run_steps(relu_mlp, opt_name, False, steps=5, between=switch)
    fused, run = run_steps(relu_mlp, opt_name, True, steps=5, between=switch)
    assert_same(plain, fused)
    assert run.records == 1


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["sgd", "sgd-momentum-decay", "sgd-nesterov", "adam", "adamw"]),
       st.sampled_from([np.float32, np.float64]), st.integers(1, 5), st.integers(1, 40), st.integers(1, 3),
       st.integers(0, 10_000))
def test_random_relu_networks_bit_identical(opt_name, dtype, n_in, hidden, n_out, seed):
    def make():
        return relu_mlp((n_in, hidden, n_out), dtype, seed)

    plain, _ = run_steps(make, opt_name, False, steps=3)
    fused, run = run_steps(make, opt_name, True, steps=3)
    assert_same(plain, fused)
    assert run.records == 1


def test_relu_with_an_overflowing_gradient_takes_pytorchs_rule_as_the_plain_path_does():
    """Weights of 1e200 make the gradient overflow to ±∞: the sum of G is then not finite and relu's VJP is
    where(z ≤ 0, 0, G) in the replay too (G·0 would be NaN)."""
    def make():
        return relu_mlp((2, 6, 1), scale=1e100)

    with np.errstate(all="ignore"):
        plain, _ = run_steps(make, "sgd", False, steps=2)
        fused, run = run_steps(make, "sgd", True, steps=2)
    assert any(not np.isfinite(g).all() for _, grads, _ in plain for g in grads)
    assert_same(plain, fused)


G_VALUES = [1.5, -2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308]
Z_VALUES = [1.0, -1.0, 0.0, -0.0, np.nan, np.inf, -np.inf, 3e-310]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(G_VALUES) | st.floats(-1e3, 1e3), min_size=1, max_size=12),
       st.lists(st.sampled_from(Z_VALUES) | st.floats(-1e3, 1e3), min_size=12, max_size=12),
       st.sampled_from([np.float64, np.float32]), st.booleans())
def test_relus_inline_vjp_is_the_op_tables_bit_for_bit(gs, zs, dtype, into_buffer):
    """G·(out ≠ 0) while G's sum is finite, else where(z ≤ 0, 0, G): the op table's VJP, at ±0, ±∞ and NaN."""
    with np.errstate(all="ignore"):
        g = np.array(gs, dtype)
        z = np.array(zs[: len(gs)], dtype)
        out = OPS["relu"].forward(z)
        want = OPS["relu"].vjps[0](g, out, z)
        zero = np.zeros((), dtype)
        buf = np.empty_like(g) if into_buffer else None
        text = INLINE["relu"].vjps[0].format("Z", g="G", out="OUT", zero="ZERO", o=", BUF" if into_buffer else "")
        got = eval(text, dict(NAMESPACE), {"G": g, "OUT": out, "Z": z, "ZERO": zero, "BUF": buf})  # noqa: S307
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_relus_gradient_against_pytorch_and_central_differences():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z = rng.normal(size=(4, 5))
    g = rng.normal(size=(4, 5))
    g[0, 0] = np.inf  # the sum is infinite: PyTorch's rule, 0 where z ≤ 0
    z[0, 0], z[1, 1] = -1.0, 0.0
    out = OPS["relu"].forward(z)
    text = INLINE["relu"].vjps[0].format("Z", g="G", out="OUT", zero="0.0", o="")
    got = eval(text, dict(NAMESPACE), {"G": g, "OUT": out, "Z": z})  # noqa: S307
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    torch.relu(zt).backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_array_equal(got, zt.grad.numpy())
    finite = np.where(np.isfinite(g), g, 1.0)
    got = eval(text, dict(NAMESPACE), {"G": finite, "OUT": out, "Z": z})  # noqa: S307
    away = np.abs(z) > 1e-3  # central differences away from the kink
    numeric = bl.central_difference(lambda a: Tensor(finite) * bl.relu(a), [Tensor(z)], 0)
    np.testing.assert_allclose(got[away], numeric[away], rtol=1e-6, atol=1e-8)


def test_a_weights_gradient_kept_by_the_user_is_not_overwritten_by_the_next_step():
    """The replay hands .grad a view (Wᵀ's gradient transposed) of a buffer kept between steps: a .grad the
    user keeps makes the next step write elsewhere."""
    net, loss_fn = relu_mlp((3, 30, 20, 1))  # one output: the last weight's gradient is written into a buffer
    opt = optim.SGD(net.parameters(), lr=0.05)
    run = bl.compile(training_step(opt, loss_fn))
    run()
    run()
    assert re.search(r"\n +g\d+ = g\d+\.T\n", run.source)  # a weight's gradient: its transpose's, transposed back
    kept = [p.grad.numpy() for p in net.parameters()]
    copies = [k.copy() for k in kept]
    for _ in range(3):
        run()
    for k, c, p in zip(kept, copies, net.parameters()):
        assert k.tobytes() == c.tobytes()
        assert not np.shares_memory(k, p.grad.numpy())


def test_generated_sgd_and_adam_steps_are_ruff_clean(tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = []
    for k, opt_name in enumerate(["sgd", "sgd-momentum-decay", "sgd-nesterov", "adam-decay", "adamw"]):
        _, run = run_steps(relu_mlp, opt_name, True, steps=2)
        path = tmp_path / f"step{k}.py"
        path.write_text(run.source, encoding="utf-8")
        files.append(str(path))
    _, run = run_steps(dosage, "sgd", True, steps=2)
    (tmp_path / "dosage.py").write_text(run.source, encoding="utf-8")
    files.append(str(tmp_path / "dosage.py"))
    proc = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("opt_name", ["sgd", "sgd-momentum-decay", "adam", "adamw"])
@pytest.mark.parametrize("make", [relu_mlp, dosage], ids=["mlp", "dosage"])
def test_a_parameter_array_kept_elsewhere_changes_as_in_the_plain_loop(opt_name, make):
    """A kept small array keeps its numbers (a new array is made, as step() makes one); a large one moves in
    place, as in step(): the kept arrays hold, after a step, what the plain loop's kept arrays hold."""
    kept_after = []
    for compiled in (False, True):
        net, loss_fn = make()
        opt = OPTIMIZERS[opt_name](net.parameters())
        step = training_step(opt, loss_fn)
        run = bl.compile(step) if compiled else step
        for _ in range(3):
            run()
        kept = [p.data for p in net.parameters()]
        before = [np.array(k, copy=True) for k in kept]
        run()
        kept_after.append([np.asarray(k).tobytes() for k in kept])
        moved = [np.asarray(p.data).tobytes() != b.tobytes() for p, b in zip(net.parameters(), before)]
        assert all(moved)
        limit = optim.optimizer.IN_PLACE_FROM
        small = [k.tobytes() == b.tobytes() for k, b in zip(kept, before) if np.size(k) <= limit]
        assert all(small) and small
    assert kept_after[0] == kept_after[1]
