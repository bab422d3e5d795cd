"""explain_torch on the models PyTorch's tutorials and makemore/nanoGPT write, one test per way the bridge
could fail them: a Linear layer's entry at any size, a forward with an optional ``targets``, a random
forward, a frozen parameter, a small batch, a Linear on 3-D input, and the messages a user reads.

Every oracle is computed in the test: PyTorch's own float64 autograd, and central differences of
PyTorch's loss for the one entry explained.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import backproplab as bl
from backproplab.bridge import TorchBridgeError
from tests.test_bridge_models import one_line, quickstart, torch_entry

from .conftest import needs_torch

pytestmark = needs_torch

PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]\w*\}?")  # a template's $a or ${a} left unfilled


def central_entry(model, loss_of, name, index, eps=1e-6):
    """d loss / d name[index] by central differences of PyTorch's own loss."""
    import torch

    param = dict(model.named_parameters())[name]
    values = []
    with torch.no_grad():
        kept = float(param[index])
        for sign in (1.0, -1.0):
            param[index] = kept + sign * eps
            values.append(float(loss_of()))
        param[index] = kept
    return (values[0] - values[1]) / (2 * eps)




# --- 1. an entry of x·Wᵀ at any size ------------------------------------------------------------------
@pytest.mark.parametrize("batch", [4, 64])
def test_an_entry_of_the_quickstart_network_is_pytorchs_and_central_differences(batch):
    import torch
    import torch.nn.functional as F

    model = quickstart()
    g = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, 28, 28, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    name, index = "linear_relu_stack.0.weight", (3, 5)
    exp = bl.explain_torch(model, F.cross_entropy, x, y, wrt=f"{name}[3,5]")
    assert np.ndim(exp.gradient) == 0 and exp.form in ("paths", "entry")
    np.testing.assert_allclose(exp.gradient, torch_entry(model, F.cross_entropy(model(x), y), name, index), rtol=1e-9)
    numeric = central_entry(model, lambda: F.cross_entropy(model(x), y), name, index)
    np.testing.assert_allclose(exp.gradient, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("n", [68, 69, 100])
def test_an_entry_of_a_square_linear_layer_is_worked_entry_by_entry(n):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(n)
    model = torch.nn.Linear(n, n).double()
    x, y = torch.randn(4, n, dtype=torch.float64), torch.randn(4, n, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="weight[3,5]")
    assert np.ndim(exp.gradient) == 0 and exp.form in ("paths", "entry")
    np.testing.assert_allclose(exp.gradient, torch_entry(model, F.mse_loss(model(x), y), "weight", (3, 5)), rtol=1e-9)
    np.testing.assert_allclose(exp.gradient, central_entry(model, lambda: F.mse_loss(model(x), y), "weight", (3, 5)),
                               rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("form", ["paths", "auto", "delta"])
def test_a_whole_parameter_is_compared_as_what_was_explained(form):
    """Asked for a whole matrix in the paths form, the explainer works out its first entry: that entry,
    not the whole matrix, is what PyTorch's gradient is compared with."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.GELU(), torch.nn.Linear(6, 4)).double()
    x, y = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt="0.weight", form=form)
    (grad,) = torch.autograd.grad(F.mse_loss(model(x), y), [model[0].weight])
    expected = grad.numpy() if np.ndim(exp.gradient) else grad.numpy()[tuple(exp.details["index"])]
    np.testing.assert_allclose(np.asarray(exp.gradient), expected, rtol=1e-9)


def test_a_mismatch_names_one_entry_never_a_matrix():
    from backproplab.bridge.checks import mismatch

    ours, theirs = np.zeros((512, 784)), np.zeros((512, 784))
    theirs[3, 5] = 1.0
    text = mismatch("gradient of 0.weight", ours, theirs)
    assert "[3, 5]" in text and "\n" not in text and len(text) < 200
    text = mismatch("gradient of 0.weight", 0.5, theirs, (3, 5))  # an entry against the whole matrix
    assert "[3, 5]" in text and "1.0" in text and len(text) < 200


# --- 2. a forward with an optional targets ----------------------------------------------------------------
def gpt_like():
    """nanoGPT's forward: logits of shape (B, T, C), and the loss only when targets are given."""
    import torch
    import torch.nn.functional as F

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = torch.nn.Linear(5, 8)
            self.lm_head = torch.nn.Linear(8, 3)

        def forward(self, idx, targets=None):
            logits = self.lm_head(F.gelu(self.mlp(idx)))
            if targets is None:
                loss = None
            else:
                B, T, C = logits.shape
                loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
            return logits, loss

    torch.manual_seed(7)
    return Model().double()


def test_the_models_own_loss_is_explained_with_the_arguments_given_as_a_tuple():
    import torch

    model = gpt_like()
    idx = torch.randn(2, 4, 5, dtype=torch.float64)
    targets = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 1]])
    exp = bl.explain_torch(model, None, (idx, targets), wrt="mlp.weight[2,4]")
    expected = torch_entry(model, model(idx, targets)[1], "mlp.weight", (2, 4))
    np.testing.assert_allclose(exp.gradient, expected, rtol=1e-9)
    np.testing.assert_allclose(exp.gradient, central_entry(model, lambda: model(idx, targets)[1], "mlp.weight", (2, 4)),
                               rtol=1e-5, atol=1e-9)
    same = bl.explain_torch(model, None, idx, targets, wrt="mlp.weight[2,4]")  # x and y, as before
    assert same.gradient == exp.gradient


def test_the_logits_are_explained_with_a_loss_given_and_targets_left_out():
    import torch
    import torch.nn.functional as F

    model = gpt_like()
    idx = torch.randn(2, 4, 5, dtype=torch.float64)
    y = torch.randn(2, 4, 3, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, (idx,), y, wrt="lm_head.bias[1]")
    np.testing.assert_allclose(exp.gradient, torch_entry(model, F.mse_loss(model(idx)[0], y), "lm_head.bias", (1,)),
                               rtol=1e-9)


def test_a_loss_asked_of_the_model_without_targets_is_named():
    import torch

    model = gpt_like()
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, None, (torch.randn(2, 4, 5, dtype=torch.float64),), wrt="mlp.weight[2,4]")
    text = one_line(info.value)
    assert "targets" in text and "loss" in text


# --- 3. a random forward: tests/test_bridge_models.py (test_a_random_forward_is_named_as_random) ------------


# --- 4. a frozen parameter ---------------------------------------------------------------------------------
@pytest.mark.parametrize("own_loss", [False, True])
def test_a_frozen_parameter_is_explained_as_autograd_would_with_the_flag_on(own_loss):
    import torch
    import torch.nn.functional as F

    model = gpt_like()
    model.mlp.weight.requires_grad_(False)
    idx = torch.randn(2, 4, 5, dtype=torch.float64)
    targets = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 1]])
    if own_loss:
        exp = bl.explain_torch(model, None, (idx, targets), wrt=model.mlp.weight, index=(1, 3))
    else:
        exp = bl.explain_torch(model, lambda o, t: F.cross_entropy(o.reshape(-1, 3), t.reshape(-1)), idx, targets,
                               wrt="mlp.weight[1,3]")
    assert model.mlp.weight.requires_grad is False and model.mlp.weight.grad is None
    numeric = central_entry(model, lambda: model(idx, targets)[1], "mlp.weight", (1, 3))
    np.testing.assert_allclose(exp.gradient, numeric, rtol=1e-5, atol=1e-9)
    model.mlp.weight.requires_grad_(True)
    np.testing.assert_allclose(exp.gradient, torch_entry(model, model(idx, targets)[1], "mlp.weight", (1, 3)),
                               rtol=1e-9)
    assert "requires_grad=False" in str(exp)


# --- 5. a small batch is not slower to explain than a large one ----------------------------------------------
def test_matrix_product_links_are_read_off_its_operands():
    """The entry-level links of a matrix product, which the paths form reads off the operands instead of
    one VJP per output entry, are the ones the op's own VJP gives."""
    from backproplab.explain.paths import Paths, _jacobian_links

    rng = np.random.default_rng(0)
    x = bl.Tensor(rng.normal(size=(3, 4)), name="x")
    w = bl.Tensor(rng.normal(size=(5, 4)), requires_grad=True, name="W")
    x.data[1, 2] = 0.0  # a zero operand still links its entries
    out = x @ w.T
    loss = (out * out).sum()
    from backproplab.engine.autodiff import topological_order

    paths = Paths(topological_order(loss), loss, w)
    for k in (0, 1):
        direct, by_vjp = paths.links(out, k), _jacobian_links(out, k)
        for e in np.ndindex(out.shape):
            assert [f for f, _ in direct.get(e, [])] == [f for f, _ in by_vjp[e]]
            assert [v for _, v in direct.get(e, [])] == pytest.approx([v for _, v in by_vjp[e]], rel=1e-12)


def test_a_weight_entry_at_batch_four_takes_no_vjp_per_entry_of_a_wide_layer(monkeypatch):
    """At batch 4 a 784-120-10 network's W1[4,6] is written path by path; the links through its two
    matrix products are read off their operands, not found with one VJP per output entry (which took
    seconds: 480 VJPs through a 784×120 matrix)."""
    import backproplab.nn.functional as F
    from backproplab.explain import paths

    through: list[str] = []
    by_vjp = paths._jacobian_links
    monkeypatch.setattr(paths, "_jacobian_links", lambda node, k: through.append(node.op.name) or by_vjp(node, k))
    rng = np.random.default_rng(1)
    net = bl.nn.Sequential(bl.nn.Linear(784, 120), bl.nn.ReLU(), bl.nn.Linear(120, 10))
    loss = F.cross_entropy(net(bl.Tensor(rng.random((4, 784)), name="x")), rng.integers(0, 10, 4))
    exp = bl.explain(loss, net[0].weight, index=(3, 5))
    assert "matmul" not in through
    loss.backward()
    assert exp.form == "paths" and exp.gradient == pytest.approx(float(net[0].weight.grad[3, 5]), rel=1e-12)


# --- 6. no placeholder left in any format ---------------------------------------------------------------------
def renderings(exp) -> dict[str, str]:
    import json

    return {"text": exp.to_text(), "exact text": exp.to_text(factors="exact"), "markdown": exp.to_markdown(),
            "latex": exp.to_latex(), "latex document": exp.to_latex(document=True), "html": exp.to_html(),
            "html page": exp.to_html(full_page=True), "dict": json.dumps(exp.to_dict()), "repr": repr(exp)}


@pytest.mark.parametrize("wrt", ["0.weight[1,2]", "0.bias[3]", "2.weight[0,5]", "0.weight", "2.bias"])
@pytest.mark.parametrize("form", ["auto", "paths", "delta"])
def test_a_linear_on_3d_input_leaves_no_placeholder_in_any_format(wrt, form):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(9)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.GELU(), torch.nn.Linear(6, 4)).double()
    x, y = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64)
    exp = bl.explain_torch(model, F.mse_loss, x, y, wrt=wrt, form=form)
    for fmt, text in renderings(exp).items():
        # LaTeX's own $…$ maths delimiters are not placeholders: only a $ before a letter is
        left = [m for m in PLACEHOLDER.findall(text) if fmt in ("text", "exact text", "dict", "repr") or
                not m.startswith("$\\")]
        assert not left, (fmt, left[:3])


@pytest.mark.parametrize("index", [None, (1, 2)])
def test_the_core_explainer_on_3d_input_leaves_no_placeholder(index):
    rng = np.random.default_rng(3)
    net = bl.nn.Sequential(bl.nn.Linear(4, 6), bl.nn.Tanh(), bl.nn.Linear(6, 4))
    loss = bl.losses.mse(net(bl.Tensor(rng.normal(size=(2, 3, 4)), name="x")), bl.Tensor(rng.normal(size=(2, 3, 4))))
    exp = bl.explain(loss, net[0].weight, index=index)
    for fmt, text in renderings(exp).items():
        assert not re.search(r"\$[a-z]\b", text), fmt


# --- 7. messages a user reads ------------------------------------------------------------------------------------
def test_an_unsupported_loss_points_at_the_users_line():
    import torch
    import torch.nn.functional as F

    model = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    for loss_fn in (F.soft_margin_loss, torch.nn.SoftMarginLoss()):
        with pytest.raises(TorchBridgeError) as info:
            bl.explain_torch(model, loss_fn, x, y, wrt="weight[0,1]")
        text = one_line(info.value)
        assert "test_bridge_bugs.py" in text and "backproplab/" not in text and "mse_loss" in text


def fx_failures():
    import torch

    class Branches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    class Loops(Branches):
        def forward(self, x):
            return torch.stack([self.fc(row) for row in x])

    class Counts(Branches):
        def forward(self, x):
            n = int(x.shape[0])
            return self.fc(x)[:n]

    return {Branches: ("if x.sum() > 0", "branches on a tensor's value"),
            Loops: ("for row in x", "iterates over a tensor"),
            Counts: ("int(x.shape[0])", "a Python number")}


def test_a_trace_failure_says_what_failed_and_where():
    import torch.nn.functional as F

    for kind, (code, said) in fx_failures().items():
        with pytest.raises(TorchBridgeError) as info:
            bl.explain_torch(kind().double(), F.mse_loss, np.zeros((2, 3)), np.zeros((2, 2)), wrt="fc.weight")
        text = one_line(info.value)
        assert code in text and "line " in text and "test_bridge_bugs.py" in text and said in text
        assert ("no if/for on tensor values" in text) == (kind.__name__ == "Branches")


def test_a_cut_line_of_code_says_it_is_cut():
    import torch
    import torch.nn.functional as F

    model = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, F.soft_margin_loss, x, y, wrt="weight[0,1]")  # a long line, cut in the message
    assert re.search(r"\(bl\.explain_torch\(model, F\.soft_margin_loss[^)]*…\)", one_line(info.value))


def test_every_unsupported_call_is_named_at_once():
    import torch

    class Several(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 1, 3)

        def forward(self, x):
            return torch.cos(torch.sort(self.conv(x)).values).view_as(x)

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Several())
    text = one_line(info.value)
    assert all(name in text for name in ("Conv1d", "torch.sort", "torch.cos", ".view_as()"))
    assert "supported layers:" in text and "functions:" in text and "tensor methods:" in text


def test_saving_a_converted_network_says_how_in_one_true_line(tmp_path):
    import torch

    from backproplab.bridge import save

    net = bl.from_torch(torch.nn.Linear(3, 2).double())
    with pytest.raises(TorchBridgeError) as info:
        save(net, tmp_path / "net.pt")
    text = one_line(info.value)
    assert "to_torch" in text and "torch.save" in text and not (tmp_path / "net.pt").exists()
    model = bl.to_torch(net)  # what the message says works
    torch.save(model.state_dict(), tmp_path / "net.pt")
    assert set(torch.load(tmp_path / "net.pt", weights_only=True)) == {"weight", "bias"}
