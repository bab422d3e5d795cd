"""bl.compile of a whole training step (zero_grad, forward, backward, opt.step()): the same bits as the plain loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses, optim

OPTIMIZERS = {
    "gd": lambda ps: optim.GradientDescent(ps, lr=0.05),
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "sgd-momentum-decay": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    "sgd-dampening": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-decay": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
}


def dosage():
    net, (x, y) = bl.presets.statquest()
    xt, yt = Tensor(x), Tensor(y)
    return net, lambda: losses.ssr(net(xt), yt)


def mlp(sizes=(5, 300, 3), dtype=np.float64, seed=0):
    """An MLP with a layer above the in-place threshold (300·5 entries) and small ones."""
    rng = np.random.default_rng(seed)
    net = bl.MLP(list(sizes), ["tanh"] * (len(sizes) - 2) + ["identity"], dtype=np.dtype(dtype))
    x = Tensor(rng.normal(size=(7, sizes[0])).astype(dtype))
    y = Tensor(rng.normal(size=(7, sizes[-1])).astype(dtype))
    return net, lambda: losses.mse(net(x), y)


def train(make, opt_name, compiled, steps=6, order="before", schedule=None):
    """Train ``steps`` steps; return each step's loss, gradients and parameters, and the compiled step."""
    net, loss_fn = make()
    params = net.parameters()
    opt = OPTIMIZERS[opt_name](params)

    def step():
        if order == "before":
            opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if order == "after":
            opt.zero_grad()
        return loss

    run = bl.compile(step) if compiled else step
    history = []
    for k in range(steps):
        if schedule:
            opt.lr = schedule(k)
        loss = run()
        grads = [None if p._grad is None else p._grad.copy() for p in params]
        history.append((loss.data.copy(), grads, [p.data.copy() for p in params]))
    return history, run



def training_step(opt, loss_fn):
    """The idiomatic step, as a script writes it: zero_grad, the loss, backward, step; the loss returned."""
    def step():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss

    return step


def assert_same(a, b):
    assert len(a) == len(b)
    for (loss_a, grads_a, ps_a), (loss_b, grads_b, ps_b) in zip(a, b):
        assert loss_a.tobytes() == loss_b.tobytes()
        for ga, gb in zip(grads_a, grads_b):
            assert (ga is None) == (gb is None)
            if ga is not None:
                assert ga.dtype == gb.dtype and ga.tobytes() == gb.tobytes()
        for pa, pb in zip(ps_a, ps_b):
            assert pa.dtype == pb.dtype and pa.tobytes() == pb.tobytes()


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("make", [dosage, mlp, lambda: mlp(dtype=np.float32)], ids=["dosage", "mlp64", "mlp32"])

def test_whole_step_bit_identical_to_the_plain_loop(opt_name, make):
    plain, _ = train(make, opt_name, False)
    fused, run = train(make, opt_name, True)
    assert_same(plain, fused)
    assert run.records == 1  # recorded once, then replayed with the update written in
    assert run.program and "def update():" in run.source


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(sorted(OPTIMIZERS)), st.sampled_from([np.float32, np.float64]), st.integers(0, 10_000),
       st.sampled_from(["before", "after"]))
def test_random_networks_and_settings_bit_identical(opt_name, dtype, seed, order):
    rng = np.random.default_rng(seed)
    sizes = (int(rng.integers(1, 6)), int(rng.integers(1, 70)), int(rng.integers(1, 4)))

    def make():
        return mlp(sizes, dtype, seed)

    plain, _ = train(make, opt_name, False, steps=4, order=order)
    fused, run = train(make, opt_name, True, steps=4, order=order)
    assert_same(plain, fused)
    assert run.records == 1


@pytest.mark.parametrize("opt_name", ["gd", "sgd-momentum-decay", "adam"])
def test_a_learning_rate_changed_between_steps_is_used(opt_name):
    def schedule(k):
        return 0.05 / (k + 1)

    plain, _ = train(dosage, opt_name, False, schedule=schedule)
    fused, run = train(dosage, opt_name, True, schedule=schedule)
    assert_same(plain, fused)
    assert run.records == 1


def test_the_optimizer_state_is_the_plain_steps_own():
    """After compiled steps, the plain opt.step() carries on from the same moments, and the other way round."""
    net_a, loss_a = mlp()
    net_b, loss_b = mlp()
    opt_a, opt_b = optim.Adam(net_a.parameters(), lr=0.01), optim.Adam(net_b.parameters(), lr=0.01)

    def step():
        opt_a.zero_grad()
        loss = loss_a()
        loss.backward()
        opt_a.step()
        return loss

    run = bl.compile(step)
    for k in range(8):
        if k % 3 == 2:
            step()
        else:
            run()
        opt_b.zero_grad()
        loss_b().backward()
        opt_b.step()
    for pa, pb, ma, mb in zip(net_a.parameters(), net_b.parameters(), opt_a.m, opt_b.m):
        assert pa.data.tobytes() == pb.data.tobytes() and ma.tobytes() == mb.tobytes()
    assert opt_a.t == opt_b.t


def test_a_parameter_outside_the_graph_is_left_alone():
    net, loss_fn = dosage()
    spare = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([*net.parameters(), spare], lr=0.1, momentum=0.9)

    step = training_step(opt, loss_fn)

    run = bl.compile(step)
    for _ in range(3):
        run()
    assert spare.data.tolist() == [1.0, 2.0] and spare.grad is None
    assert run.records == 1


def test_steps_the_replay_does_not_write_out_run_as_written():
    """Two backward passes, or a step before the backward pass: run as written at every call, same results."""
    for twice in (True, False):
        results = []
        for compiled in (False, True):
            net, loss_fn = dosage()
            opt = optim.GradientDescent(net.parameters(), lr=0.05)

            def step(opt=opt, loss_fn=loss_fn):
                opt.zero_grad()
                loss = loss_fn()
                if not twice:
                    opt.step()  # moves nothing: no gradient yet
                loss.backward()
                if twice:
                    loss.backward()
                    opt.step()
                return loss

            run = bl.compile(step) if compiled else step
            results.append([run().data.item() for _ in range(4)] + [p.data.item() for p in net.parameters()])
        assert results[0] == results[1]
        assert run.records == 4


def test_a_step_that_calls_backward_itself_is_not_run_twice():
    net, loss_fn = dosage()

    def step():
        loss = loss_fn()
        loss.backward()
        return loss

    run = bl.compile(step)
    net2, loss_fn2 = dosage()
    for _ in range(3):
        run()
        loss_fn2().backward()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert p.grad.numpy().tobytes() == q.grad.numpy().tobytes()
    assert run.records == 1


def test_source_shows_the_update_after_the_backward_pass():
    _, run = train(dosage, "gd", True, steps=2)
    source = run.source
    assert source.index("def backward(") < source.index("def update():") < source.index("def replay():")
    assert "p ← p − lr × ∂L/∂p (gradient descent)" in source
    assert "# w1: " in source


def tiny(act, loss, n, seed, vector_weight=False):
    """A network small enough for the Python-float replay: single-number parameters (and maybe one short
    vector), ``n`` samples."""
    def make():
        rng = np.random.default_rng(seed)
        x, y = Tensor(rng.normal(size=n)), Tensor(rng.normal(size=n))
        w1 = Tensor(rng.normal(size=n if vector_weight else ()), requires_grad=True, name="w1")
        b1, w2, b2 = (Tensor(rng.normal(size=()), requires_grad=True, name=k) for k in ("b1", "w2", "b2"))
        net = bl.nn.Module()
        params = [w1, b1, w2, b2]
        net.parameters = lambda: params

        def loss_fn():
            h = getattr(bl, act)(w1 * x + b1) if act != "square" else (w1 * x + b1) * (w1 * x - b1)
            out = w2 * h - b2 / 2.0
            return losses.ssr(out, y) if loss == "ssr" else losses.mse(out, y) if loss == "mse" else (out * out).sum()
        return net, loss_fn
    return make


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["softplus", "tanh", "exp", "sigmoid", "relu", "square"]),
       st.sampled_from(["ssr", "mse", "sum"]), st.integers(1, 7), st.integers(0, 10_000),
       st.sampled_from(["gd", "sgd-momentum-decay", "adam"]), st.booleans())
def test_tiny_networks_in_python_floats_bit_identical(act, loss, n, seed, opt_name, vector_weight):
    make = tiny(act, loss, n, seed, vector_weight)
    plain, _ = train(make, opt_name, False, steps=4)
    fused, run = train(make, opt_name, True, steps=4)
    assert_same(plain, fused)
    assert run.records == 1 and run.program.scalar  # written in Python floats


def test_python_floats_and_numpy_calls_give_the_same_bits():
    from backproplab.engine.codegen import Program

    _, run = train(tiny("softplus", "mse", 5, 3), "gd", True, steps=2)
    tape = run.tape
    results = []
    for scalar in (True, False):
        program = Program(tape, plan=None, scalar=scalar)
        program.forward()
        grads = program.backward(tape.seed)
        results.append([n.data.tobytes() for n in tape.nodes] + [g.tobytes() for g in grads if g is not None])
    assert results[0] == results[1]


def test_a_function_whose_python_form_differs_from_numpys_is_called_through_numpy(monkeypatch):
    from backproplab.engine import scalar

    def off_by_one_bit(z):
        return float(np.nextafter(scalar.softplus_float(z), np.inf))

    monkeypatch.setitem(scalar.MATH, "softplus", off_by_one_bit)
    scalar.math_matches.cache_clear()
    try:
        plain, _ = train(dosage, "gd", False, steps=3)
        fused, run = train(dosage, "gd", True, steps=3)
        assert "logaddexp(0.0, array((" in run.source and "softplus_float(" not in run.source
        assert_same(plain, fused)
    finally:
        scalar.math_matches.cache_clear()


def test_the_dosage_step_reads_as_arithmetic():
    _, run = train(dosage, "gd", True, steps=2)
    source = run.source
    assert run.program.scalar
    assert "v2_0 = v1_0 * v18_0" in source  # w1·x, entry by entry
    assert "g15_0 = 0.0 + g16_0 + g16_1 + g16_2" in source  # ∂L/∂b3: the gradients of ŷ summed, in NumPy's order


def test_generated_whole_steps_are_ruff_clean(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = []
    for k, (make, opt_name) in enumerate([(dosage, "gd"), (mlp, "gd"), (tiny("relu", "mse", 7, 1, True), "adam"),
                                           (mlp, "sgd-momentum-decay")]):
        _, run = train(make, opt_name, True, steps=2)
        path = tmp_path / f"step{k}.py"
        path.write_text(run.source, encoding="utf-8")
        files.append(str(path))
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([ruff, "check", "--no-cache", "--config", str(root / "pyproject.toml"), *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_parameter_nothing_else_holds_moves_in_place_and_a_kept_one_is_never_overwritten():
    net, loss_fn = mlp(sizes=(3, 8, 2))
    opt = optim.GradientDescent(net.parameters(), lr=0.05)

    step = training_step(opt, loss_fn)

    run = bl.compile(step)
    for _ in range(3):
        run()
    # the biases: a weight is also held by its transposed view in the graph (the forward's own values), so it
    # gets a new array, as step() gives it
    small = [p for p in net.parameters() if p.data.ndim == 1]
    ids = [id(p.data) for p in small]
    run()
    assert [id(p.data) for p in small] == ids  # moved in place: no new arrays
    kept = [(p.data, p.data.copy()) for p in small]  # a user keeps the arrays: the next steps leave them alone
    for _ in range(3):
        run()
    assert all(a.tobytes() == copy.tobytes() for a, copy in kept)
    assert all(p.data is not a for p, (a, _) in zip(small, kept))
