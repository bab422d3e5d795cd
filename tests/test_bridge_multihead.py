"""explain_torch on ``nn.MultiheadAttention`` as PyTorch users call it: self-attention with batch_first or not,
unbatched input, separate key and value sizes, boolean and float masks, a key padding mask, the weights returned
per head or averaged, and the options refused in one line.

Every oracle is PyTorch's own float64 autograd, computed in the test, and central differences of PyTorch's loss.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import backproplab as bl
from backproplab.bridge import TorchBridgeError

from .conftest import needs_torch
from .test_bridge_bugs import central_entry as central  # PyTorch's own loss, by central differences

pytestmark = needs_torch
torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class SelfAttention(nn.Module):
    """A classifier over a sequence: attention, then a linear layer on the mean over the sequence; with
    ``use_weights`` the loss also reads the attention weights."""

    def __init__(self, batch_first=True, kdim=None, vdim=None, average=True, use_weights=False, **options):
        super().__init__()
        self.attn = nn.MultiheadAttention(6, 2, batch_first=batch_first, kdim=kdim, vdim=vdim, **options)
        self.head = nn.Linear(6, 3)
        self.average, self.use_weights, self.batch_first = average, use_weights, batch_first

    def forward(self, x, memory, mask, padding):
        out, weights = self.attn(x, memory, memory, key_padding_mask=padding, attn_mask=mask,
                                 average_attn_weights=self.average)
        logits = self.head(out).mean(1 if self.batch_first else 0)
        return logits + weights.sum() if self.use_weights else logits


def _data(batch_first=True, key_size=6, mask=None, padding=None):
    torch.manual_seed(5)
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    memory = torch.randn(2, 5, key_size, dtype=torch.float64)
    if not batch_first:
        x, memory = x.transpose(0, 1).contiguous(), memory.transpose(0, 1).contiguous()
    return x, memory, mask, padding


CAUSAL_BOOL = torch.ones(4, 5, dtype=torch.bool).triu(2)  # True: may not attend
FLOAT_MASK = torch.linspace(-1.0, 1.0, 20, dtype=torch.float64).reshape(4, 5)
FLOAT_MASK_WITH_INF = FLOAT_MASK.masked_fill(CAUSAL_BOOL, float("-inf"))  # as generate_square_subsequent_mask
PADDING = torch.tensor([[False, False, False, True, True], [False, False, False, False, True]])
FLOAT_PADDING = torch.zeros(2, 5, dtype=torch.float64).masked_fill(PADDING, float("-inf"))

CASES = {
    "batch_first": ({}, {}),
    "sequence_first": ({"batch_first": False}, {"batch_first": False}),
    "kdim_vdim": ({"kdim": 3, "vdim": 3}, {"key_size": 3}),
    "bool_mask_and_padding": ({}, {"mask": CAUSAL_BOOL, "padding": PADDING}),
    "float_mask": ({}, {"mask": FLOAT_MASK}),
    "float_mask_with_minus_infinity": ({}, {"mask": FLOAT_MASK_WITH_INF, "padding": FLOAT_PADDING}),
    "weights_per_head_in_the_loss": ({"average": False, "use_weights": True}, {"padding": PADDING}),
}


def _explained(case, name, index):
    options, data = CASES[case]
    torch.manual_seed(0)
    model = SelfAttention(**options).double().eval()
    inputs = _data(**data)
    y = torch.tensor([0, 2])
    exp = bl.explain_torch(model, F.cross_entropy, inputs, y, wrt=f"{name}[{','.join(map(str, index))}]")

    def loss():
        return F.cross_entropy(model(*inputs), y)

    return exp, model, loss


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("name", "index"), [("attn.in_proj_weight", (3, 1)), ("attn.in_proj_bias", (14,)),
                                             ("attn.out_proj.weight", (2, 5))])
def test_multihead_attention_gives_pytorchs_gradient(case, name, index):
    if case == "kdim_vdim" and name == "attn.in_proj_weight":
        name, index = "attn.k_proj_weight", (3, 1)  # separate weights when the key size differs
    exp, model, loss = _explained(case, name, index)
    (expected,) = torch.autograd.grad(loss(), [dict(model.named_parameters())[name]])
    assert expected[index] != 0
    gradient = np.asarray(exp.gradient)
    value = float(gradient) if gradient.ndim == 0 else float(gradient[index])
    np.testing.assert_allclose(value, float(expected[index]), rtol=1e-9)
    if case in ("batch_first", "bool_mask_and_padding"):
        np.testing.assert_allclose(value, central(model, loss, name, index), rtol=1e-6)


def test_every_name_the_explanation_uses_is_defined():
    exp, _, _ = _explained("bool_mask_and_padding", "attn.in_proj_weight", (3, 1))
    text = exp.to_text()
    for name in set(re.findall(r"(?<!\w)u[₀-₉]+", text)):
        assert re.search(rf"^\s*{name} = ", text, re.M), f"{name} is used but not defined"
    assert "u₁ᵀ" not in text or re.search(r"^\s*u₁ = ", text, re.M)
    for said in ("query", "key", "value", "δ_scores", "δ_attn"):
        assert said in text


def test_unbatched_input_gives_pytorchs_output_and_weights():
    torch.manual_seed(1)
    layer = nn.MultiheadAttention(6, 3).double().eval()
    x = torch.randn(4, 6, dtype=torch.float64)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = layer

        def forward(self, x):
            out, weights = self.attn(x, x, x)
            return out.sum(1) + weights.sum(1)

    net = bl.from_torch(Holder(), example=x)
    with torch.no_grad():
        expected = Holder()(x).numpy()
    np.testing.assert_allclose(net(bl.Tensor(x.numpy())).numpy(), expected, rtol=1e-12)


class NoWeights(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.attn = nn.MultiheadAttention(6, 2, batch_first=True, **options)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0].sum((1, 2))


def test_need_weights_false_gives_pytorchs_output():
    torch.manual_seed(2)
    model = NoWeights().double().eval()
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    y = torch.randn(3, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="attn.in_proj_weight[7,2]")
    (expected,) = torch.autograd.grad(F.mse_loss(model(x), y), [model.attn.in_proj_weight])
    np.testing.assert_allclose(float(np.asarray(exp.gradient)[7, 2]), float(expected[7, 2]), rtol=1e-9)


@pytest.mark.parametrize(("options", "train", "words"), [
    ({"add_bias_kv": True}, False, "add_bias_kv=True"),
    ({"add_zero_attn": True}, False, "add_zero_attn=True"),
    ({"dropout": 0.1}, True, "dropout=0.1 while training"),
])
def test_options_backproplab_does_not_run_are_refused_in_one_line(options, train, words):
    model = NoWeights(**options).double().train(train)
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as caught:
        bl.explain_torch(model, F.mse_loss, x, torch.zeros(3, dtype=torch.float64), wrt="attn.in_proj_weight[0,0]")
    text = str(caught.value)
    assert words in text and "MultiheadAttention" in text and "\n" not in text


def test_dropout_in_eval_mode_runs():
    torch.manual_seed(2)
    model = NoWeights(dropout=0.1).double().eval()
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    y = torch.randn(3, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="attn.out_proj.bias[1]")
    (expected,) = torch.autograd.grad(F.mse_loss(model(x), y), [model.attn.out_proj.bias])
    gradient = np.asarray(exp.gradient)
    np.testing.assert_allclose(float(gradient) if gradient.ndim == 0 else float(gradient[1]), float(expected[1]),
                               rtol=1e-9)


def test_float32_attention_stays_float32_and_matches_pytorch():
    torch.manual_seed(0)
    model = SelfAttention().float().eval()
    x, memory, _, _ = _data()
    inputs = (x.float(), memory.float(), FLOAT_MASK.float(), FLOAT_PADDING.float())
    net = bl.from_torch(model, example=inputs)
    out = net(*(bl.Tensor(a.numpy()) for a in inputs))
    with torch.no_grad():
        expected = model(*inputs).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
