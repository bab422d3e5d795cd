"""``nn.RNN``, ``nn.GRU`` and ``nn.LSTM`` as PyTorch's: the same parameter names, layouts, gate order and
defaults, outputs and gradients equal to PyTorch float64 (and to central differences), bad input refused in one
line, and an explained entry of ``weight_hh_l0`` that reads step by step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, nn
from backproplab.engine.gradcheck import grad_check
from backproplab.nn import functional as F

torch = pytest.importorskip("torch")

KINDS = {"RNN": (nn.RNN, torch.nn.RNN), "GRU": (nn.GRU, torch.nn.GRU), "LSTM": (nn.LSTM, torch.nn.LSTM)}


def pair(kind: str, *args, **kwargs):
    """Our layer and PyTorch's (float64) with our starting values loaded into PyTorch's."""
    ours_cls, theirs_cls = KINDS[kind]
    ours = ours_cls(*args, **kwargs)
    theirs = theirs_cls(*args, **{k: v for k, v in kwargs.items() if k != "rng"}).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def hidden_of(kind: str, state):
    return state[0] if kind == "LSTM" else state


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@st.composite
def case(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    sizes = {"input_size": draw(st.integers(1, 5)), "hidden_size": draw(st.integers(1, 6)),
             "num_layers": draw(st.integers(1, 2)), "bias": draw(st.booleans()),
             "batch_first": draw(st.booleans())}
    if kind == "RNN":
        sizes["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    seq, batch = draw(st.integers(1, 6)), draw(st.one_of(st.none(), st.integers(1, 4)))
    return kind, sizes, seq, batch, draw(st.booleans()), draw(st.integers(0, 2**31))


def inputs_for(kind, sizes, seq, batch, with_state, seed):
    """x in the layer's layout (unbatched when batch is None) and an initial state or None."""
    rng = np.random.default_rng(seed)
    if batch is None:
        x = rng.normal(size=(seq, sizes["input_size"]))
    else:
        x = rng.normal(size=(batch, seq, sizes["input_size"]) if sizes["batch_first"] else
                       (seq, batch, sizes["input_size"]))
    if not with_state:
        return x, None
    shape = (sizes["num_layers"], sizes["hidden_size"]) if batch is None else (sizes["num_layers"], batch,
                                                                             sizes["hidden_size"])
    h0 = rng.normal(size=shape)
    return x, ((h0, rng.normal(size=shape)) if kind == "LSTM" else h0)


def as_torch(state):
    if state is None:
        return None
    return tuple(torch.tensor(s, requires_grad=True) for s in state) if isinstance(state, tuple) else \
        torch.tensor(state, requires_grad=True)


@settings(max_examples=40, deadline=None)
@given(case())
def test_outputs_states_and_every_gradient_are_pytorchs(args):
    kind, sizes, seq, batch, with_state, seed = args
    ours, theirs = pair(kind, rng=np.random.default_rng(seed), **sizes)
    x, state = inputs_for(kind, sizes, seq, batch, with_state, seed)
    x_ours = Tensor(x, requires_grad=True)
    state_ours = None if state is None else (tuple(Tensor(s, requires_grad=True) for s in state)
                                             if isinstance(state, tuple) else Tensor(state, requires_grad=True))
    x_theirs, state_theirs = torch.tensor(x, requires_grad=True), as_torch(state)
    out, h_n = ours(x_ours, state_ours)
    ref, ref_n = theirs(x_theirs, state_theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, want in zip(h_n if kind == "LSTM" else (h_n,), ref_n if kind == "LSTM" else (ref_n,)):
        np.testing.assert_allclose(mine.data, want.detach().numpy(), rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(seed + 1)
    g_out, g_h = rng.normal(size=out.shape), rng.normal(size=hidden_of(kind, h_n).shape)
    ((out * Tensor(g_out)).sum() + (hidden_of(kind, h_n) * Tensor(g_h)).sum()).backward()
    ((ref * torch.tensor(g_out)).sum() + (hidden_of(kind, ref_n) * torch.tensor(g_h)).sum()).backward()
    for name, p in theirs.named_parameters():
        mine = getattr(ours, name).grad
        if mine is None:  # weight_hh over one step from the zero state: not used, where PyTorch adds 0·W_hhᵀ
            assert name.startswith("weight_hh") and seq == 1 and not with_state and not p.grad.any()
            continue
        np.testing.assert_allclose(mine, p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    if state is not None:
        for mine, want in zip(state_ours if kind == "LSTM" else (state_ours,),
                              state_theirs if kind == "LSTM" else (state_theirs,)):
            np.testing.assert_allclose(mine.grad, want.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parameters_have_pytorchs_names_shapes_and_starting_range(kind):
    ours, theirs = pair(kind, 3, 5, num_layers=2)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    bound = 1 / np.sqrt(5)
    values = np.concatenate([p.data.ravel() for p in ours.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 4
    again = KINDS[kind][0](3, 5, num_layers=2)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(ours.parameters(), again.parameters()))
    assert [n for n, _ in KINDS[kind][0](3, 5, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


def test_positional_arguments_are_in_pytorchs_order():
    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    ours, theirs = nn.RNN(3, 5, 2, "relu", False, True), torch.nn.RNN(3, 5, 2, "relu", False, True).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(ours(x)[0].data, theirs(torch.tensor(x))[0].detach().numpy(), rtol=1e-12, atol=1e-12)
    assert (ours.nonlinearity, ours.bias, ours.batch_first) == ("relu", False, True)
    gru, lstm = nn.GRU(3, 5, 2, False, True), nn.LSTM(3, 5, 2, False, True)
    assert (gru.bias, gru.batch_first, lstm.bias, lstm.batch_first) == (False, True, False, True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gradients_agree_with_central_differences(kind):
    layer = KINDS[kind][0](2, 3, rng=np.random.default_rng(4))
    x = np.random.default_rng(5).normal(size=(4, 2, 2))
    h0 = Tensor(np.random.default_rng(6).normal(size=(1, 2, 3)), requires_grad=True)
    state = (h0, Tensor(np.random.default_rng(7).normal(size=(1, 2, 3)))) if kind == "LSTM" else h0
    upstream = Tensor(np.random.default_rng(8).normal(size=(4, 2, 3)))
    # grad_check moves the values of the tensors it is given, here the layer's own parameters and h_0
    worst = grad_check(lambda *_: layer(x, state)[0] * upstream, layer.weight_ih_l0, layer.weight_hh_l0,
                       layer.bias_hh_l0, h0, atol=1e-7, rtol=1e-6)
    assert len(worst) == 4


def test_a_lone_named_layer_and_a_suffix_keep_names_apart():
    enc, dec = nn.GRU(2, 3, suffix="enc"), nn.GRU(3, 3, suffix="dec")
    assert enc.weight_hh_l0.name == "weight_hh_l0_enc" and dec.weight_hh_l0.name == "weight_hh_l0_dec"
    out, h = enc(np.ones((2, 1, 2)))
    assert h.parents and "h2_enc" in {t.name for t in bl.topological_order(out)}


@pytest.mark.parametrize(("make", "call", "words"), [
    (lambda: nn.RNN(3, 4), lambda m: m(np.ones((5, 2, 2))), ["input_size=3", "(5, 2, 2)"]),
    (lambda: nn.RNN(3, 4, batch_first=True), lambda m: m(np.ones(3)), ["(batch, seq_len, input_size)", "(3,)"]),
    (lambda: nn.GRU(3, 4), lambda m: m(np.ones((5, 2, 3)), np.ones((1, 3, 4))), ["h_0", "(1, 2, 4)", "(1, 3, 4)"]),
    (lambda: nn.LSTM(3, 4), lambda m: m(np.ones((5, 2, 3)), np.ones((1, 2, 4))), ["pair (h_0, c_0)"]),
    (lambda: nn.LSTM(3, 4), lambda m: m(np.ones((5, 2, 3)), (np.ones((1, 2, 4)), np.ones((1, 2)))),
     ["c_0", "(1, 2, 4)"]),
    (lambda: nn.RNN(3, 4), lambda m: m(np.ones((0, 2, 3))), ["no time steps"]),
])
def test_bad_input_is_one_line_naming_the_shape_wanted(make, call, words):
    with pytest.raises(ValueError) as exc:
        call(make())
    text = one_line(exc)
    assert all(w in text for w in words), text


@pytest.mark.parametrize(("make", "words"), [
    (lambda: nn.LSTM(3, 4, bidirectional=True, proj_size=2), ["bidirectional=True", "proj_size=2"]),
    (lambda: nn.GRU(3, 4, num_layers=2, dropout=0.5), ["dropout=0.5"]),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ["'tanh' or 'relu'", "'sigmoid'"]),
    (lambda: nn.RNN(3, 0), ["hidden_size", "1 or more"]),
    (lambda: nn.LSTM(3, 4, num_layers=0), ["num_layers", "1 or more"]),
])
def test_settings_backproplab_does_not_run_are_refused_in_one_line(make, words):
    with pytest.raises(ValueError) as exc:
        make()
    text = one_line(exc)
    assert all(w in text for w in words), text


def test_a_weight_hh_entry_of_a_tiny_rnn_is_explained_step_by_step():
    layer, theirs = pair("RNN", 2, 2)
    x = np.random.default_rng(1).normal(size=(3, 1, 2))
    _, h = layer(x)
    exp = bl.explain((h ** 2).sum(), layer.weight_hh_l0, index=(0, 1))
    _, ref = theirs(torch.tensor(x))
    (ref ** 2).sum().backward()
    np.testing.assert_allclose(exp.gradient, theirs.weight_hh_l0.grad[0, 1].item(), rtol=1e-9)
    text = str(exp)
    assert exp.form == "paths"
    # the weight is used at steps 2 and 3 (step 1 starts from the zero state): one factor h_(t-1) each
    assert "dz3[i,1]/dweight_hh_l0[1,2] = h2[i,2]" in text and "dz2[i,1]/dweight_hh_l0[1,2] = h1[i,2]" in text
    assert "dz3[i,1]/dh2[i,1] = weight_hh_l0[1,1]" in text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_layer_by_layer_the_weight_hh_gradient_sums_over_the_time_steps(kind):
    layer, theirs = pair(kind, 3, 4, batch_first=True)
    head = nn.Linear(4, 2)
    x, y = np.random.default_rng(2).normal(size=(2, 3, 3)), np.array([0, 1])
    out, _ = layer(x)
    exp = bl.explain(F.cross_entropy(head(out[:, -1]), y), layer.weight_hh_l0, form="delta")
    text = str(exp)
    delta = "δ_z" if kind == "RNN" else "δ_hh"
    assert f"{delta}3ᵀ·h2 + {delta}2ᵀ·h1" in text
    assert kind == "RNN" or all(f"δ_pre_{gate}3" in text for gate in ("rzn" if kind == "GRU" else "ifgo"))
    ref, _ = theirs(torch.tensor(x))
    logits = ref[:, -1] @ torch.tensor(head.weight.data).T + torch.tensor(head.bias.data)
    torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
    np.testing.assert_allclose(exp.gradient, theirs.weight_hh_l0.grad.numpy(), rtol=1e-9, atol=1e-15)
