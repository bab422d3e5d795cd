"""explain_torch on models with nn.Dropout in training mode, and forwards with keyword-only arguments.

The explained mask is read from the explanation; the oracles then use that mask on their own: PyTorch's
float64 autograd of the model computed layer by layer with the mask multiplied in, and central
differences of the converted network's loss, which keeps the mask it drew.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.bridge import TorchBridgeError
from backproplab.nn import functional as BF
from tests.test_bridge_models import one_line

from .conftest import needs_torch

pytestmark = needs_torch


def mlp(sizes, p, second_p=None, seed=0):
    """Linear → Tanh → Dropout(p) → Linear (→ Tanh → Dropout(second_p) → Linear), float64, in train mode."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = [nn.Linear(sizes[0], sizes[1]), nn.Tanh(), nn.Dropout(p), nn.Linear(sizes[1], sizes[2])]
    if second_p is not None:
        layers += [nn.Tanh(), nn.Dropout(second_p), nn.Linear(sizes[2], sizes[3])]
    return nn.Sequential(*layers).double().train()


def data(batch, features, outputs, seed=1):
    import torch

    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, features, dtype=torch.float64, generator=g),
            torch.randn(batch, outputs, dtype=torch.float64, generator=g))


def masked_torch_grad(model, masks, x, y, name, index):
    """PyTorch's gradient of mse(model(x), y) with the given masks in place of its Dropout layers, in order."""
    import torch

    h, given = x, iter(masks)
    for layer in model:
        h = h * torch.tensor(next(given), dtype=torch.float64) if isinstance(layer, torch.nn.Dropout) else layer(h)
    loss = torch.nn.functional.mse_loss(h, y)
    (grad,) = torch.autograd.grad(loss, [dict(model.named_parameters())[name]])
    return float(grad[index])


def explain_seeded(model, x, y, wrt, seed):
    import torch

    torch.manual_seed(seed)
    return bl.explain_torch(model, torch.nn.functional.mse_loss, x, y, wrt=wrt)


# --- the explained entry is PyTorch's gradient with the same mask ---------------------------------------
@settings(max_examples=12, deadline=None)
@given(batch=st.integers(1, 5), hidden=st.integers(2, 6), p=st.sampled_from([0.2, 0.5, 0.8]),
       seed=st.integers(0, 10_000), wrt=st.sampled_from(["0.weight", "3.weight", "6.weight", "0.bias"]))
def test_entries_before_and_after_dropout_are_pytorchs_with_the_same_mask(batch, hidden, p, seed, wrt):
    import torch

    model = mlp((3, hidden, 4, 2), p, second_p=0.3, seed=seed)
    x, y = data(batch, 3, 2, seed=seed + 1)
    index = (1,) if wrt.endswith("bias") else (1, 1)
    exp = explain_seeded(model, x, y, f"{wrt}[{','.join(map(str, index))}]", seed)
    masks = exp.details["dropout_masks"]
    assert list(masks) == ["dropout2_mask", "dropout5_mask"]
    mask = np.array(masks["dropout2_mask"])
    assert mask.shape == (batch, hidden) and set(np.unique(mask)) <= {0.0, 1 / (1 - p)}
    expected = masked_torch_grad(model, masks.values(), x, y, wrt, index)
    np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9, atol=1e-15)

    torch.manual_seed(seed)  # the converted network draws the same masks, and keeps them for every call
    net = bl.from_torch(model)
    loss = lambda w: BF.mse_loss(net(x.numpy()), y.numpy())  # noqa: E731
    loss(net[wrt])
    numeric = bl.central_difference(loss, [net[wrt]], 0)[index]
    np.testing.assert_allclose(exp.gradient, numeric, rtol=1e-5, atol=1e-9)


def test_the_explanation_names_the_mask_and_says_how_many_entries_were_dropped():
    model = mlp((2, 3, 1), 0.5)
    x, y = data(2, 2, 1)
    exp = explain_seeded(model, x, y, "0.weight[0,1]", seed=3)
    mask = np.array(exp.details["dropout_masks"]["dropout2_mask"])
    dropped = int(np.count_nonzero(mask == 0))
    text, markdown = str(exp), exp.to_markdown()
    note = next(line for line in text.splitlines() if "Dropout is in training mode" in line)
    assert f"{dropped} of 6 entries dropped" in note and "torch.manual_seed" in note
    assert "dropout2_mask" in text and "drop\\_mask" not in text
    assert "dropout2\\_mask" in markdown and f"{dropped} of 6 entries dropped" in markdown
    assert "checked: PyTorch's own autograd gives the same gradient" in text


def test_a_named_dropout_layer_names_its_mask_after_it():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.drop, self.fc2 = nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1)

        def forward(self, x):
            return self.fc2(self.drop(torch.relu(self.fc1(x))))

    torch.manual_seed(0)
    model = Net().double()
    x, y = data(3, 2, 1)
    exp = explain_seeded(model, x, y, "fc2.weight[0,1]", seed=5)
    assert list(exp.details["dropout_masks"]) == ["drop_mask"]
    assert "drop_mask" in str(exp)


# --- the mask follows torch.manual_seed ------------------------------------------------------------------
def test_the_same_seed_gives_the_same_mask_and_another_seed_another():
    model = mlp((3, 16, 1), 0.5)
    x, y = data(4, 3, 1)
    first = explain_seeded(model, x, y, "0.weight[0,0]", seed=11).details["dropout_masks"]
    again = explain_seeded(model, x, y, "0.weight[0,0]", seed=11).details["dropout_masks"]
    other = explain_seeded(model, x, y, "0.weight[0,0]", seed=12).details["dropout_masks"]
    assert first == again
    assert first != other  # 64 entries: two draws agree with probability 2⁻⁶⁴


def test_the_model_is_left_as_it_was():
    import torch

    model = mlp((3, 32, 1), 0.5)
    x, y = data(4, 3, 1)
    explain_seeded(model, x, y, "3.weight[0,1]", seed=0)
    assert all(p.grad is None for p in model.parameters()) and model.training
    assert not model[2]._forward_hooks
    assert not torch.equal(model(x), model(x))  # PyTorch's own dropout again: a new mask at every call


# --- p = 0, p = 1, eval mode -----------------------------------------------------------------------------
def plain_grad(model, x, y, name, index):
    import torch

    loss = torch.nn.functional.mse_loss(model(x), y)
    (grad,) = torch.autograd.grad(loss, [dict(model.named_parameters())[name]])
    return float(grad[index])


def test_p_zero_passes_through_and_draws_no_mask():
    model = mlp((3, 4, 2), 0.0)
    x, y = data(3, 3, 2)
    exp = explain_seeded(model, x, y, "0.weight[2,1]", seed=0)
    assert "dropout_masks" not in exp.details and "Dropout" not in str(exp)
    np.testing.assert_allclose(exp.gradient, plain_grad(model, x, y, "0.weight", (2, 1)), rtol=1e-9)


def test_p_one_drops_everything_as_pytorch():
    model = mlp((3, 4, 2), 1.0)
    x, y = data(3, 3, 2)
    before = explain_seeded(model, x, y, "0.weight[2,1]", seed=0)
    after = explain_seeded(model, x, y, "3.bias[1]", seed=0)
    assert np.array(before.details["dropout_masks"]["dropout2_mask"]).tolist() == [[0.0] * 4] * 3
    assert before.gradient == 0 and "12 of 12 entries dropped" in str(before) and "scaled by" not in str(before)
    np.testing.assert_allclose(after.gradient, plain_grad(model, x, y, "3.bias", (1,)), rtol=1e-9)
    assert after.gradient != 0


def test_eval_mode_passes_through():
    model = mlp((3, 4, 2), 0.5).eval()
    x, y = data(3, 3, 2)
    exp = explain_seeded(model, x, y, "0.weight[1,2]", seed=0)
    assert "dropout_masks" not in exp.details and "Dropout is in training mode" not in str(exp)
    np.testing.assert_allclose(exp.gradient, plain_grad(model, x, y, "0.weight", (1, 2)), rtol=1e-9)


def test_functional_dropout_passes_through_when_not_training():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return torch.nn.functional.dropout(self.fc(x), 0.5, training=self.training)

    torch.manual_seed(0)
    model = Net().double().eval()
    x, y = data(2, 3, 2)
    exp = explain_seeded(model, x, y, "fc.weight[1,0]", seed=0)
    np.testing.assert_allclose(exp.gradient, plain_grad(model, x, y, "fc.weight", (1, 0)), rtol=1e-9)


# --- refusals, one line each -----------------------------------------------------------------------------
def test_functional_dropout_in_training_is_refused_at_the_users_line():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return torch.nn.functional.dropout(self.fc(x), 0.5)

    model = Net().double()
    x, y = data(2, 3, 2)
    with pytest.raises(TorchBridgeError) as info:
        explain_seeded(model, x, y, "fc.weight[1,0]", seed=0)
    text = one_line(info.value)
    assert "torch.nn.functional.dropout" in text and "nn.Dropout" in text and "model.eval()" in text
    assert "test_bridge_dropout.py" in text and "return torch.nn.functional.dropout(self.fc(x), 0.5)" in text


@pytest.mark.parametrize("kind", ["Dropout1d", "Dropout2d", "AlphaDropout", "FeatureAlphaDropout"])
def test_channel_and_alpha_dropout_in_training_are_refused(kind):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), getattr(nn, kind)(0.5), nn.Linear(4, 1)).double()
    x, y = data(2, 3, 1)
    if kind in ("Dropout1d", "Dropout2d"):  # channels in dimension 1 of 3-d or 4-d input
        x, y = (v.reshape((1,) * (2 if kind == "Dropout2d" else 1) + tuple(v.shape)) for v in (x, y))
    with pytest.raises(TorchBridgeError) as info:
        explain_seeded(model, x, y, "0.weight[0,0]", seed=0)
    text = one_line(info.value)
    assert f"the layer '1' ({kind})" in text and "nn.Dropout" in text and "model.eval()" in text
    assert "item 1 of the Sequential" in text
    exp = explain_seeded(model.eval(), x, y, "0.weight[0,0]", seed=0)  # in eval mode it passes through
    np.testing.assert_allclose(exp.gradient, plain_grad(model, x, y, "0.weight", (0, 0)), rtol=1e-9)


# --- keyword-only arguments of forward ----------------------------------------------------------------------
class KeywordNet:
    """forward(self, x, *, mask=None, scale=2.0): the keyword-only arguments keep their defaults."""

    @staticmethod
    def make():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 2)

            def forward(self, x, *, mask=None, scale=2.0):
                out = self.fc(x) * scale
                if mask is not None:
                    out = out.masked_fill(mask, 0.0)
                return out

        torch.manual_seed(0)
        return Net().double()


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 6), row=st.integers(0, 1), col=st.integers(0, 2))
def test_keyword_only_optional_arguments_keep_their_defaults(batch, row, col):
    model = KeywordNet.make()
    x, y = data(batch, 3, 2, seed=batch)
    exp = bl.explain_torch(model, __import__("torch").nn.functional.mse_loss, x, y, wrt=f"fc.weight[{row},{col}]")
    np.testing.assert_allclose(exp.gradient, plain_grad(model, x, y, "fc.weight", (row, col)), rtol=1e-9)
    net = bl.from_torch(model)
    np.testing.assert_allclose(net(x.numpy()).data, model(x).detach().numpy(), rtol=1e-12)
    numeric = bl.central_difference(lambda w: BF.mse_loss(net(x.numpy()), y.numpy()), [net["fc.weight"]], 0)
    np.testing.assert_allclose(exp.gradient, numeric[row, col], rtol=1e-5, atol=1e-9)


def test_a_keyword_only_argument_without_default_is_refused():
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x, *, scale):
            return self.fc(x) * scale

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Net().double())
    text = one_line(info.value)
    assert "keyword-only argument(s) scale without a default" in text and "test_bridge_dropout.py" in text


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_forward_that_returns_its_own_loss_uses_the_mask_too(dtype):
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.drop, self.head = nn.Embedding(5, 4), nn.Dropout(0.2), nn.Linear(4, 5)

        def forward(self, idx, targets=None):
            logits = self.head(self.drop(self.emb(idx)))
            loss = None if targets is None else nn.functional.cross_entropy(logits.view(-1, 5), targets.view(-1))
            return logits, loss

    torch.manual_seed(0)
    model = Model().to(getattr(torch, dtype))
    idx, targets = torch.randint(0, 5, (2, 3)), torch.randint(0, 5, (2, 3))
    torch.manual_seed(7)
    token = int(idx[0, 0])
    exp = bl.explain_torch(model, None, (idx, targets), wrt=f"emb.weight[{token},2]")
    mask = torch.tensor(exp.details["dropout_masks"]["drop_mask"], dtype=getattr(torch, dtype))
    logits = model.head(model.emb(idx) * mask)
    loss = nn.functional.cross_entropy(logits.view(-1, 5), targets.view(-1))
    (grad,) = torch.autograd.grad(loss, [model.emb.weight])
    assert float(grad[token, 2]) != 0
    np.testing.assert_allclose(exp.gradient, float(grad[token, 2]), rtol=1e-9 if dtype == "float64" else 1e-5,
                               atol=1e-15 if dtype == "float64" else 1e-7)
