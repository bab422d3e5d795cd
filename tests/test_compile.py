"""bl.compile: the replayed graph gives bit-identical losses and gradients to the plain path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses, ops


def plain_and_compiled(make, steps=5, lr=0.05):
    """Train twice from the same start, plain and compiled; return both histories."""
    histories = []
    for compiled in (False, True):
        net, loss_fn = make()
        params = net.parameters()
        run = bl.compile(loss_fn) if compiled else None
        history = []
        for _ in range(steps):
            for p in params:
                p.grad = None
            loss = run() if compiled else loss_fn()
            if not compiled:
                loss.backward()
            history.append((loss.data.copy(), [p.grad.numpy().copy() for p in params]))
            for p in params:
                p.data = p.data - lr * p.grad.numpy()
        histories.append(history)
    return histories


def assert_bit_identical(a, b):
    for (loss_a, grads_a), (loss_b, grads_b) in zip(a, b):
        assert loss_a.tobytes() == loss_b.tobytes()
        assert_same_arrays(grads_a, grads_b)


def assert_same_arrays(a, b):
    """The same dtype and the same bits, array by array."""
    assert len(a) == len(b)
    for ga, gb in zip(a, b):
        assert ga.dtype == gb.dtype and ga.tobytes() == gb.tobytes()


def test_dosage_network_bit_identical():
    def make():
        net, (x, y) = bl.presets.statquest()
        xt, yt = Tensor(x), Tensor(y)
        return net, lambda: losses.ssr(net(xt), yt)

    assert_bit_identical(*plain_and_compiled(make))


@given(st.sampled_from(sorted(set(ops.ACTIVATIONS) - {"identity"})), st.sampled_from(["mse", "bce", "cross_entropy"]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 1000))
def test_random_mlps_bit_identical(act, loss_name, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 3)).astype(dtype)
    y = rng.integers(0, 3, 6) if loss_name == "cross_entropy" else rng.uniform(size=6).astype(dtype)

    def make():
        net = bl.MLP([3, 5, 3 if loss_name == "cross_entropy" else 1], act, seed=seed, dtype=dtype)
        xt = Tensor(x)
        return net, lambda: losses.get_loss(loss_name)(net(xt), y)

    assert_bit_identical(*plain_and_compiled(make))


def test_replay_reads_new_input_data_and_rerecords_on_shape_change():
    w = bl.Parameter(2.0, "w")
    x = Tensor([1.0, 2.0])
    run = bl.compile(lambda: (w * x).sum())
    assert run().item() == 6.0 and run.records == 1
    x.data = np.array([3.0, 4.0])
    w.grad = None
    assert run().item() == 14.0 and w.grad == 7.0 and run.records == 1
    x.data = np.array([1.0, 1.0, 1.0])
    w.grad = None
    assert run().item() == 6.0 and w.grad == 3.0 and run.records == 2
    w.requires_grad = False
    assert run.forward().item() == 6.0  # re-recorded without a gradient ...
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        run()  # ... so asking for one is the same clear error as loss.backward()


def test_compiled_function_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        bl.compile(lambda: 3.0)()


def test_gradients_accumulate_across_compiled_calls_like_backward():
    w = bl.Parameter([1.0, 2.0], "w")
    run = bl.compile(lambda: (w * w).sum())
    run()
    run()
    np.testing.assert_array_equal(w.grad, [4.0, 8.0])


def test_fit_uses_the_replay_and_matches_a_plain_loop():
    net, (x, y) = bl.presets.statquest()
    trace = bl.optim.GradientDescent(net.parameters(), lr=0.05, max_steps=20, min_step=0).fit(net, x, y)
    net2, _ = bl.presets.statquest()
    params = net2.parameters()
    for it in trace.iterations:
        for p in params:
            p.grad = None
        loss = losses.ssr(net2(x), y)
        loss.backward()
        assert loss.item() == it.loss
        for name, p in net2.named_parameters():
            assert float(p.grad) == it.gradients[name]
            p.data = p.data - 0.05 * p.grad.numpy()


def test_a_mask_taken_from_moving_parameters_is_never_replayed_stale():
    """where(w > 0, …) inside a compiled step: each call must use the mask of the current w, as the plain path does."""
    w = bl.Tensor([1.5, -0.5, 0.25], requires_grad=True)
    w_plain = bl.Tensor(w.data.copy(), requires_grad=True)

    def loss_of(p):
        return (bl.where(p > 0, p * p, p * 3.0).sum() + p[p.argmax()] * 2.0)

    run = bl.compile(lambda: loss_of(w))
    for _ in range(5):
        w.grad = w_plain.grad = None
        compiled_loss = run()
        plain_loss = loss_of(w_plain)
        plain_loss.backward()
        assert float(compiled_loss.data) == float(plain_loss.data)
        np.testing.assert_array_equal(w.grad, w_plain.grad)
        with bl.no_grad():  # cross zero, so the mask and the argmax change
            w.data = w.data - 0.6
            w_plain.data = w_plain.data - 0.6


def test_a_mask_of_fixed_data_keeps_the_replay():
    x = bl.Tensor([-1.0, 2.0, 3.0])
    w = bl.Tensor(0.5, requires_grad=True)
    run = bl.compile(lambda: bl.where(x > 0, x * w, x * 0.0).sum())
    for _ in range(3):
        w.grad = None
        run()
    assert run.records == 1 and float(w.grad) == 5.0


def _kept_history(compiled, make, steps=4):
    """Train with a PyTorch-style loop that keeps every step's .grad and hidden values, as a learner's list does."""
    net, fn, hidden = make()
    params = net.parameters()
    run = bl.compile(fn) if compiled else None
    grads, values = [], []
    for _ in range(steps):
        for p in params:
            p.grad = None
        if compiled:
            run()
        else:
            fn().backward()
        grads.append([p.grad.numpy() for p in params])  # the arrays themselves, not copies
        values += [h.data for h in hidden()]
        with bl.no_grad():
            for p in params:
                p.data -= 0.05 * p.grad
    return grads, values


@pytest.mark.parametrize("size", ["single numbers", "large arrays"])
def test_arrays_a_user_keeps_are_never_overwritten_by_the_next_replay(size):
    """The replay writes into buffers kept between steps, but never into one that something else still holds."""
    rng = np.random.default_rng(3)
    if size == "single numbers":
        def make():
            net, (x, y) = bl.presets.statquest()
            xt, yt = Tensor(x), Tensor(y)
            seen = []
            return net, lambda: losses.ssr(net(xt), yt), lambda: seen
    else:
        x = rng.normal(size=(40, 30))
        y = rng.uniform(size=(40, 1))

        def make():
            net = bl.MLP([30, 20, 1], ["tanh", "identity"], seed=1)
            xt = Tensor(x)
            seen = []

            def fn():
                seen[:] = [net.linears[0](xt)]  # a large hidden value (40 × 20) kept by the user's code
                return losses.mse(net.linears[1](bl.tanh(seen[0])), y)
            return net, fn, lambda: seen
    plain, compiled = _kept_history(False, make), _kept_history(True, make)
    for step_plain, step_compiled in zip(plain[0], compiled[0]):
        assert_same_arrays(step_plain, step_compiled)
    assert len({id(g) for step in compiled[0] for g in step}) == sum(len(step) for step in compiled[0])
    if size == "large arrays":
        assert_same_arrays(plain[1], compiled[1])


def test_a_buffer_nothing_else_holds_is_reused():
    """After zero_grad(), with the last .grad dropped, the replay writes into the same arrays: no new memory."""
    net, (x, y) = bl.presets.statquest()
    xt, yt = Tensor(x), Tensor(y)
    opt = bl.optim.GradientDescent(net.parameters(), lr=0.05)
    run = bl.compile(lambda: losses.ssr(net(xt), yt))
    ids = []
    for _ in range(4):
        opt.zero_grad()
        run()
        ids.append([id(p.grad.numpy()) for p in net.parameters()])
        opt.step()
    assert ids[2] == ids[3]  # replayed steps (the first two record and compile)
    held = net.parameters()[0].grad
    opt.zero_grad()
    run()
    assert net.parameters()[0].grad is not held  # still held here, so the step wrote elsewhere
