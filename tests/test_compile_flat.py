"""A compiled step with SGD or Adam on small parameters of one dtype moves them all at once, in one flat array
(``optim.flat``): the same bits as the plain loop, and an array something else holds is never changed in place."""

from __future__ import annotations

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
from tests.test_compile_step import assert_same, training_step

OPTIMIZERS = {"sgd": lambda ps: optim.SGD(ps, lr=0.1), "adam": lambda ps: optim.Adam(ps, lr=0.01),
              "adam-low-beta1": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.3, 0.99))}  # torch's other lerp branch


def moons_like(sizes=(2, 16, 16, 1), dtype=np.float64, seed=0, rows=20):
    """A small relu MLP with an MSE loss, every parameter at most 256 entries."""
    rng = np.random.default_rng(seed)
    net = bl.MLP(list(sizes), ["relu"] * (len(sizes) - 2) + ["identity"], dtype=np.dtype(dtype))
    x = Tensor(rng.normal(size=(rows, sizes[0])).astype(dtype), name="x")
    y = Tensor(rng.normal(size=(rows, sizes[-1])).astype(dtype), name="y")
    return net, lambda: losses.mse(net(x), y)


def run(opt_name, compiled, steps=6, between=None, **kw):
    net, loss_fn = moons_like(**kw)
    params = net.parameters()
    opt = OPTIMIZERS[opt_name](params)
    step = bl.compile(training_step(opt, loss_fn)) if compiled else training_step(opt, loss_fn)
    history = []
    for k in range(steps):
        if between is not None:
            between(k, params, opt)
        loss = step()
        history.append((np.asarray(loss.data).copy(), [p._grad.copy() for p in params],
                        [p.data.copy() for p in params]))
    return history, params, opt


def flat_base(params):
    """The one array every parameter's ``.data`` is a view of, or None."""
    bases = {id(p.data.base) for p in params}
    return params[0].data.base if len(bases) == 1 and params[0].data.base is not None else None


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adam-low-beta1"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flat_update_gives_the_plain_loops_bits(opt_name, dtype):
    plain, _, _ = run(opt_name, False, dtype=dtype)
    fused, params, _ = run(opt_name, True, dtype=dtype)
    assert_same(plain, fused)
    base = flat_base(params)
    assert base is not None and base.size == sum(p.data.size for p in params)  # the flat path was taken


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=3, max_size=4), st.integers(0, 2**16), st.sampled_from(["sgd", "adam"]))
def test_flat_update_matches_plain_for_any_sizes(sizes, seed, opt_name):
    plain, _, _ = run(opt_name, False, steps=4, sizes=tuple(sizes), seed=seed, rows=5)
    fused, params, _ = run(opt_name, True, steps=4, sizes=tuple(sizes), seed=seed, rows=5)
    assert_same(plain, fused)
    assert flat_base(params) is not None


def test_the_source_shows_the_flat_update_and_the_per_parameter_lines():
    net, loss_fn = moons_like()
    step = bl.compile(training_step(optim.Adam(net.parameters(), lr=0.01), loss_fn))
    step()
    step()
    source = step.source
    assert "concatenate((" in source and "# m ← m + w·(g − m)" in source
    assert "m = m + w * (g - m) if w < 0.5 else g - (g - m) * (1 - w)" in source  # the per-parameter lines remain


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("hold", ["array", "slice", "state", "state-slice"])
def test_an_array_held_elsewhere_is_not_changed(opt_name, hold):
    kept = {}

    def between(k, params, opt):
        if k == 3:
            if hold == "array":
                kept["a"] = params[2].data
            elif hold == "slice":
                kept["a"] = params[2].data[1:]
            elif hold == "state":
                kept["a"] = opt.m[2] if opt_name == "adam" else params[4].data
            else:
                kept["a"] = opt.v[3][1:] if opt_name == "adam" else params[3].data[:2]
            kept["copy"] = kept["a"].copy()

    plain, _, _ = run(opt_name, False, between=between)
    fused, params, _ = run(opt_name, True, between=between)
    assert_same(plain, fused)
    np.testing.assert_array_equal(kept["a"], kept["copy"])  # held since step 3: unchanged by the later steps


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_a_read_only_parameter_is_replaced_not_written(opt_name):
    def between(k, params, opt):
        if k == 2:
            params[0].data.flags.writeable = False

    plain, _, _ = run(opt_name, False, between=between)
    fused, params, _ = run(opt_name, True, between=between)
    assert_same(plain, fused)
    assert params[0].data.flags.writeable  # a new array, as step() makes


def test_a_parameter_replaced_by_the_user_is_trained_as_the_plain_loop_trains_it():
    def between(k, params, opt):
        if k == 2:
            params[1].data = params[1].data + 1.0

    plain, _, _ = run("adam", False, between=between)
    fused, _, _ = run("adam", True, between=between)
    assert_same(plain, fused)


def test_large_parameters_and_momentum_keep_the_per_parameter_update():
    net, loss_fn = moons_like(sizes=(2, 20, 20, 1))  # 400 entries: updated in place by step(), as a holder sees
    step = bl.compile(training_step(optim.SGD(net.parameters(), lr=0.1), loss_fn))
    step()
    step()
    assert "concatenate((" not in step.source and flat_base(net.parameters()) is None
    net, loss_fn = moons_like()
    step = bl.compile(training_step(optim.SGD(net.parameters(), lr=0.1, momentum=0.9), loss_fn))
    step()
    step()
    assert "concatenate((" not in step.source


def test_switching_weight_decay_on_after_the_flat_step_was_written_runs_step_itself():
    def between(k, params, opt):
        if k == 3:
            opt.param_groups[0]["weight_decay"] = 0.1

    plain, _, _ = run("adam", False, between=between)
    fused, _, _ = run("adam", True, between=between)
    assert_same(plain, fused)


def test_the_generated_flat_steps_are_ruff_clean(tmp_path):
    root = Path(__file__).resolve().parents[1]
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = []
    for name, make in OPTIMIZERS.items():
        net, loss_fn = moons_like()
        step = bl.compile(training_step(make(net.parameters()), loss_fn))
        step()
        step()
        assert "concatenate((" in step.source
        path = tmp_path / f"{name}.py"
        path.write_text(step.source, encoding="utf-8")
        files.append(str(path))
    proc = subprocess.run([ruff, "check", "--no-cache", "--config", str(root / "pyproject.toml"), *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
