"""explain_torch on recurrent models as PyTorch users write them: the character-level RNN of PyTorch's "NLP From
Scratch" tutorial, a makemore-style RNN language model with its own loss, a GRU and an LSTM classifier (tuple
outputs taken apart by fx's getitem), an LSTM given its starting state, and the options refused in one line.

Every oracle is PyTorch's own float64 autograd, computed in the test.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.bridge import TorchBridgeError

from .bridge_zoo.pytorch_tutorials import CharRNN  # the tutorial's model, as it writes it
from .conftest import needs_torch

pytestmark = needs_torch
torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def torch_grad(model, loss, name):
    (grad,) = torch.autograd.grad(loss, [dict(model.named_parameters())[name]])
    return grad.numpy()


def entry(exp, index):
    """The explained value of the entry: the explanation's number for one entry, or that entry of its matrix."""
    gradient = np.asarray(exp.gradient)
    return float(gradient) if gradient.ndim == 0 else float(gradient[index])


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def line_tensor(letters, n_letters=57):
    """One name as the tutorial encodes it: (letters, 1, n_letters), one-hot."""
    x = torch.zeros(len(letters), 1, n_letters, dtype=torch.float64)
    for t, k in enumerate(letters):
        x[t, 0, k] = 1.0
    return x


@pytest.mark.parametrize("name", ["rnn.weight_hh_l0", "rnn.weight_ih_l0", "rnn.bias_hh_l0"])
def test_the_char_rnn_tutorials_recurrent_weights_are_pytorchs(name):
    torch.manual_seed(0)
    model = CharRNN(57, 16, 18).double()
    x, y = line_tensor([30, 0, 13, 6, 4]), torch.tensor([7])
    index = (3,) if "bias" in name else (2, 3) if "hh" in name else (5, 30)
    exp = bl.explain_torch(model, nn.NLLLoss(), x, y, wrt=f"{name}[{','.join(map(str, index))}]")
    expected = torch_grad(model, nn.NLLLoss()(model(x), y), name)
    assert expected[index] != 0
    np.testing.assert_allclose(entry(exp, index), expected[index], rtol=1e-9)
    if exp.form == "delta":
        np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9, atol=1e-15)


def test_the_char_rnns_weight_hh_entry_reads_step_by_step():
    torch.manual_seed(0)
    model = CharRNN(57, 16, 18).double()
    x, y = line_tensor([30, 0, 13, 6, 4]), torch.tensor([7])
    text = str(bl.explain_torch(model, nn.NLLLoss(), x, y, wrt="rnn.weight_hh_l0[2,3]"))
    assert "δ_z5ᵀ·h4 + δ_z4ᵀ·h3 + δ_z3ᵀ·h2 + δ_z2ᵀ·h1" in text
    assert "δ_h4 = δ_z5·rnn.weight_hh_l0" in text


class RNNLanguageModel(nn.Module):
    """A makemore-style character model: embed, run an RNN over the sequence, a head at every position, and the
    loss in the forward when targets are given."""

    def __init__(self, vocab=11, embed=6, hidden=8):
        super().__init__()
        self.wte = nn.Embedding(vocab, embed)
        self.rnn = nn.RNN(embed, hidden, batch_first=True)
        self.lm_head = nn.Linear(hidden, vocab)

    def forward(self, idx, targets=None):
        out, _ = self.rnn(self.wte(idx))
        logits = self.lm_head(out)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


@pytest.mark.parametrize("name", ["rnn.weight_hh_l0", "rnn.weight_ih_l0", "wte.weight"])
def test_a_makemore_rnn_explains_its_own_loss_as_pytorch_computes_it(name):
    torch.manual_seed(1)
    model = RNNLanguageModel().double()
    g = torch.Generator().manual_seed(2)
    idx, targets = torch.randint(0, 11, (3, 7), generator=g), torch.randint(0, 11, (3, 7), generator=g)
    index = (4, 1)
    exp = bl.explain_torch(model, None, (idx, targets), wrt=f"{name}[4,1]")
    expected = torch_grad(model, model(idx, targets)[1], name)
    np.testing.assert_allclose(entry(exp, index), expected[index], rtol=1e-9)


class Classifier(nn.Module):
    """Tokens → embedding → GRU or LSTM → a linear layer on the last layer's final hidden state."""

    def __init__(self, kind, vocab=9, embed=5, hidden=7, classes=3, num_layers=1):
        super().__init__()
        self.kind = kind
        self.emb = nn.Embedding(vocab, embed)
        self.rnn = getattr(nn, kind)(embed, hidden, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        if self.kind == "LSTM":
            out, (h, c) = self.rnn(self.emb(tokens))
        else:
            out, h = self.rnn(self.emb(tokens))
        return self.fc(h[-1])


@pytest.mark.parametrize(("kind", "num_layers"), [("GRU", 1), ("LSTM", 1), ("GRU", 2), ("LSTM", 2)])
@pytest.mark.parametrize("name", ["weight_hh_l0", "weight_ih_l0"])
def test_gru_and_lstm_classifiers_weights_are_pytorchs(kind, num_layers, name):
    torch.manual_seed(3)
    model = Classifier(kind, num_layers=num_layers).double()
    g = torch.Generator().manual_seed(4)
    tokens, y = torch.randint(0, 9, (4, 6), generator=g), torch.randint(0, 3, (4,), generator=g)
    index = (8, 2)
    exp = bl.explain_torch(model, nn.CrossEntropyLoss(), tokens, y, wrt=f"rnn.{name}[8,2]")
    expected = torch_grad(model, F.cross_entropy(model(tokens), y), f"rnn.{name}")
    assert expected[index] != 0
    np.testing.assert_allclose(entry(exp, index), expected[index], rtol=1e-9)


class StatefulLSTM(nn.Module):
    """An LSTM given its starting state (h0, c0) by the caller, its output read at every step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x, h0, c0):
        out, (h, c) = self.lstm(x, (h0, c0))
        return self.out(out).squeeze(-1).sum(0) + c.sum(-1).squeeze(0)


def test_an_lstm_given_its_starting_state_is_pytorchs():
    torch.manual_seed(5)
    model = StatefulLSTM().double()
    g = torch.Generator().manual_seed(6)
    x, h0, c0 = (torch.randn(*shape, dtype=torch.float64, generator=g) for shape in ((5, 2, 3), (1, 2, 4),
                                                                                       (1, 2, 4)))
    y = torch.randn(2, dtype=torch.float64, generator=g)
    exp = bl.explain_torch(model, F.mse_loss, (x, h0, c0), y, wrt="lstm.weight_hh_l0[13,1]")
    expected = torch_grad(model, F.mse_loss(model(x, h0, c0), y), "lstm.weight_hh_l0")
    np.testing.assert_allclose(entry(exp, (13, 1)), expected[13, 1], rtol=1e-9)


class StateAsTuple(nn.Module):
    """An LSTM whose forward takes its starting state as one argument, the tuple (h0, c0)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x, state):
        out, _ = self.lstm(x, state)
        return self.head(out[:, -1])


@pytest.mark.parametrize("given", ["torch", "numpy"])
def test_a_state_tuple_of_numpy_arrays_is_the_state_as_torch_tensors(given):
    """(h0, c0) as NumPy arrays is the same state as torch tensors, not one array stacked from the two."""
    torch.manual_seed(3)
    model = StateAsTuple().double()
    g = torch.Generator().manual_seed(4)
    x, h0, c0 = (torch.randn(*shape, dtype=torch.float64, generator=g) for shape in ((2, 5, 3), (1, 2, 4),
                                                                                       (1, 2, 4)))
    y = torch.tensor([0, 1])
    state = (h0, c0) if given == "torch" else (h0.numpy(), c0.numpy())
    exp = bl.explain_torch(model, F.cross_entropy, (x, state), y, wrt="lstm.weight_hh_l0[6,2]")
    expected = torch_grad(model, F.cross_entropy(model(x, (h0, c0)), y), "lstm.weight_hh_l0")
    assert expected[6, 2] != 0
    np.testing.assert_allclose(entry(exp, (6, 2)), expected[6, 2], rtol=1e-9)


class Holder(nn.Module):
    """A recurrent layer inside a model, which returns the layer's output at every step."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)
        return out


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["RNN", "GRU", "LSTM"]), st.integers(1, 6), st.integers(1, 5), st.integers(1, 3),
       st.booleans(), st.integers(0, 2**16))
def test_any_sizes_give_pytorchs_weight_hh_entry(kind, hidden, seq, batch, batch_first, seed):
    torch.manual_seed(seed)
    model = Holder(getattr(nn, kind)(3, hidden, batch_first=batch_first)).double()
    x = torch.randn(*((batch, seq, 3) if batch_first else (seq, batch, 3)), dtype=torch.float64)

    def loss_fn(output, target):
        return (output * target).sum()

    target = torch.randn(*x.shape[:2], hidden, dtype=torch.float64)
    rows = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind] * hidden
    index = (seed % rows, (seed // 7) % hidden)
    exp = bl.explain_torch(model, loss_fn, x, target, wrt=f"rnn.weight_hh_l0[{index[0]},{index[1]}]")
    expected = torch_grad(model, loss_fn(model(x), target), "rnn.weight_hh_l0")
    np.testing.assert_allclose(entry(exp, index), expected[index], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(("layer", "words"), [
    (lambda: nn.LSTM(3, 4, bidirectional=True, proj_size=2), ["bidirectional=True", "proj_size=2"]),
    (lambda: nn.GRU(3, 4, num_layers=2, dropout=0.5), ["dropout=0.5", "model.eval()"]),
    (lambda: nn.RNN(3, 4, bidirectional=True), ["bidirectional=True"]),
])
def test_options_backproplab_does_not_run_are_refused_in_one_line(layer, words):
    torch.manual_seed(7)
    model = Holder(layer()).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, lambda out, y: (out * y).sum(), x, torch.ones(1, dtype=torch.float64),
                         wrt="rnn.weight_hh_l0[0,0]")
    text = one_line(info.value)
    assert all(w in text for w in words) and "not supported by backproplab" in text, text


def test_dropout_between_layers_runs_in_eval_mode():
    torch.manual_seed(8)
    model = Classifier("GRU", num_layers=2).double()
    model.rnn.dropout = 0.3
    model.eval()
    tokens, y = torch.randint(0, 9, (2, 4)), torch.tensor([0, 2])
    exp = bl.explain_torch(model, F.cross_entropy, tokens, y, wrt="rnn.weight_hh_l1[3,3]")
    expected = torch_grad(model, F.cross_entropy(model(tokens), y), "rnn.weight_hh_l1")
    np.testing.assert_allclose(entry(exp, (3, 3)), expected[3, 3], rtol=1e-9)


def test_a_packed_sequence_is_refused_in_one_line():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4)

        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths)
            _, h = self.rnn(packed)
            return h[0]

    model = Packed().double()
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(model)
    text = one_line(info.value)
    assert "pack" in text, text


def test_a_wrong_input_size_names_the_layer_and_the_shape():
    torch.manual_seed(9)
    net = bl.from_torch(Holder(nn.LSTM(3, 4)).double())
    with pytest.raises(TorchBridgeError) as info:
        net(bl.Tensor(np.ones((5, 2, 6))))
    text = one_line(info.value)
    assert "input_size=3" in text and "(5, 2, 6)" in text, text


class LanguageModelLSTM(nn.Module):
    """A language model as pytorch/examples' word_language_model writes it: forward(input, hidden) with hidden an
    LSTM's (h0, c0), returning (output, hidden)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Embedding(7, 4)
        self.rnn = nn.LSTM(4, 5)
        self.decoder = nn.Linear(5, 7)

    def forward(self, input, hidden):  # noqa: A002 - the example's name
        output, hidden = self.rnn(self.encoder(input), hidden)
        return F.log_softmax(self.decoder(output).view(-1, 7), dim=1), hidden


@pytest.mark.parametrize("wrt, index", [("rnn.weight_hh_l0", (3, 1)), ("decoder.weight", (2, 4))])
def test_a_model_given_its_state_and_returning_it_explains_its_prediction(wrt, index):
    torch.manual_seed(3)
    model = LanguageModelLSTM().double()
    data = torch.randint(0, 7, (5, 2))
    targets = torch.randint(0, 7, (10,))
    hidden = (torch.randn(1, 2, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64))
    exp = bl.explain_torch(model, nn.NLLLoss(), (data, hidden), targets, wrt=f"{wrt}[{index[0]},{index[1]}]")
    output, _ = model(data, hidden)
    want = torch_grad(model, F.nll_loss(output, targets), wrt)[index]
    assert entry(exp, index) == pytest.approx(want, rel=1e-9, abs=1e-15)
    text = exp.to_text()
    assert "the model returns 2 outputs" in text and "the loss is of the first" in text
    import re

    for name in set(re.findall(r"(?<!\w)u[₀-₉]+", text)):  # every generated name is said to stand for something
        assert re.search(rf"^\s*{name} = ", text, re.M), f"{name} is used but not defined"


def test_a_model_returning_two_predictions_is_still_refused():
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x), {"other": self.b(x)}

    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(TwoHeads().double(), F.mse_loss, torch.randn(4, 3, dtype=torch.float64),
                         torch.randn(4, 2, dtype=torch.float64), wrt="a.weight[0,0]")
    assert "one tensor" in one_line(info.value)


class EncoderDecoder(nn.Module):
    """Two recurrent layers in one forward, as a sequence-to-sequence model writes them: the encoder's last state
    starts the decoder."""

    def __init__(self, vocab=7, hidden=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, 4)
        self.encoder = nn.GRU(4, hidden)
        self.decoder = nn.GRU(4, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, source, target_in):
        _, h = self.encoder(self.embed(source))
        output, _ = self.decoder(self.embed(target_in), h)
        return self.out(output).view(-1, self.out.out_features)


@pytest.mark.parametrize("name", ["encoder.weight_hh_l0", "decoder.weight_hh_l0", "decoder.weight_ih_l0"])
def test_two_recurrent_layers_name_their_states_apart(name):
    torch.manual_seed(3)
    model = EncoderDecoder().double()
    source, target_in = torch.tensor([[1], [4], [2]]), torch.tensor([[0], [3]])
    y = torch.tensor([3, 5])
    exp = bl.explain_torch(model, F.cross_entropy, (source, target_in), y, wrt=f"{name}[1,2]")
    expected = torch_grad(model, F.cross_entropy(model(source, target_in), y), name)
    assert expected[1, 2] != 0
    np.testing.assert_allclose(entry(exp, (1, 2)), expected[1, 2], rtol=1e-9)
    text = str(exp)
    label = name.split(".")[0]
    assert f"h2_{label}" in text  # the layer's own states, told apart from the other layer's
    assert not re.search(r"\bh[123]\b", text)  # no bare h1 that could be either layer's
    if name == "decoder.weight_hh_l0":
        assert "δ_hh1_decoderᵀ·h0_decoder" in text  # the encoder's last state, the decoder's starting state


def test_one_recurrent_layer_keeps_the_tutorials_names():
    torch.manual_seed(0)
    model = CharRNN(57, 16, 18).double()
    x, y = line_tensor([30, 0, 13]), torch.tensor([7])
    text = str(bl.explain_torch(model, nn.NLLLoss(), x, y, wrt="rnn.weight_hh_l0[2,3]"))
    assert "h2" in text and "_rnn" not in text
