"""explain_torch on attention as PyTorch users write it: nanoGPT's Block and GPT (manual attention with a causal
mask buffer, and F.scaled_dot_product_attention with is_causal=True; tied token embedding and lm_head), karpathy's
makemore-style heads, split/chunk/tuple outputs, and the settings refused in one line.

Every oracle is PyTorch's own float64 autograd, computed in the test, and central differences of PyTorch's loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import backproplab as bl
from backproplab import Tensor, grad_check
from backproplab.bridge import TorchBridgeError
from backproplab.bridge.attention import scaled_dot_product_attention

from .bridge_zoo.makemore import ModelConfig, Transformer
from .bridge_zoo.nanogpt import GPT, Block, CausalSelfAttention
from .conftest import needs_torch
from .test_bridge_bugs import central_entry as central  # PyTorch's own loss, by central differences

pytestmark = needs_torch
torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


# --- nanoGPT's GPT and makemore's Transformer, as copied in tests/bridge_zoo (sources named there), at tiny sizes.
@dataclass
class GPTConfig:
    block_size: int = 8
    vocab_size: int = 11
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 32
    dropout: float = 0.1  # eval mode passes it through
    bias: bool = True


def with_attention(model: nn.Module, flash: bool) -> nn.Module:
    """nanoGPT picks its attention path by asking whether PyTorch has scaled_dot_product_attention; the manual
    path (flash=False) needs the causal mask buffer nanoGPT registers then."""
    for m in model.modules():
        if isinstance(m, CausalSelfAttention):
            m.flash = flash
            if not flash:
                size = m.bias.shape[-1] if hasattr(m, "bias") and m.bias is not None else GPTConfig.block_size
                m.register_buffer("bias", torch.tril(torch.ones(size, size)).view(1, 1, size, size))
    return model


def MakemoreConfig() -> ModelConfig:  # noqa: N802 - read as the config class it makes
    return ModelConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=7, block_size=6)


class Head(nn.Module):
    """ one head of self-attention """

    def __init__(self, n_embd, head_size, block_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer('tril', torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)   # (B,T,hs)
        q = self.query(x)  # (B,T,hs)
        wei = q @ k.transpose(-2, -1) * k.shape[-1]**-0.5  # (B, T, hs) @ (B, hs, T) -> (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))  # (B, T, T)
        wei = F.softmax(wei, dim=-1)  # (B, T, T)
        v = self.value(x)  # (B,T,hs)
        out = wei @ v  # (B, T, T) @ (B, T, hs) -> (B, T, hs)
        return out


class MultiHeadAttention(nn.Module):
    """ multiple heads of self-attention in parallel """

    def __init__(self, num_heads, n_embd, head_size, block_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(n_embd, head_size, block_size) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, n_embd)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.proj(out)


class PlainMaskHead(nn.Module):
    """A head whose mask is a plain attribute (not a buffer) sliced by the sequence length, and made again in the
    forward from torch.ones and torch.triu; its sequence length is checked by an if."""

    def __init__(self, n_embd, block_size):
        super().__init__()
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.mask = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.block_size = block_size

    def forward(self, x):
        T = x.size(1)
        if T > self.block_size:
            raise ValueError("too long")
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        future = torch.triu(torch.ones((T, T), dtype=torch.bool), diagonal=1)
        att = torch.bmm(q, k.mT) / math.sqrt(q.size(-1))
        att = att.masked_fill(~self.mask[:T, :T], float("-inf")).masked_fill(future, float("-inf"))
        return F.softmax(att, dim=-1) @ v


class Pieces(nn.Module):
    """split with sizes, a loop over the pieces, torch.chunk, and sizes by // and %."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        h = self.fc(x)
        a, b = torch.split(h, [2, 4], dim=-1)
        parts = [p.tanh() for p in b.split(2, dim=-1)]
        c, d = torch.chunk(h, 2, dim=1)
        width = h.size(-1) // 2 + h.size(-1) % 4
        return a.sum(dim=-1) + sum(p.sum(dim=-1) for p in parts) + (c * d).sum(-1) * width


class WithMask(nn.Module):
    """F.scaled_dot_product_attention with an attn_mask (given as an input) and its own scale."""

    def __init__(self, n_embd=8, scale=None):
        super().__init__()
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.scale = scale

    def forward(self, x, mask):
        q, k, v = self.qkv(x).split(x.size(-1), dim=-1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)


# --- helpers -------------------------------------------------------------------------------------------------
def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def entry(exp, index):
    """The explained entry: a single number, or that entry of the layer-by-layer form's whole gradient."""
    gradient = np.asarray(exp.gradient, dtype=float)
    return float(gradient) if gradient.ndim == 0 else float(gradient[index])


def torch_grad(model, loss, name):
    (grad,) = torch.autograd.grad(loss, [dict(model.named_parameters())[name]])
    return grad.numpy()


def check_entry(model, loss_of, explain, name, index):
    """The explained entry equals PyTorch's float64 gradient (rtol 1e-9) and central differences (rtol 1e-5)."""
    exp = explain(f"{name}[{','.join(map(str, index))}]" if index else name)
    ours = entry(exp, index)
    np.testing.assert_allclose(ours, torch_grad(model, loss_of(), name)[index], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ours, central(model, loss_of, name, index), rtol=1e-5, atol=1e-9)
    return exp


def tiny_gpt(flash=False, seed=0):
    torch.manual_seed(seed)
    return with_attention(GPT(GPTConfig()), flash).double().eval()


def tokens(seed=1, batch=2, length=8, vocab=11):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g), torch.randint(0, vocab, (batch, length), generator=g)


# --- nanoGPT --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("wrt", [("attn.c_attn.weight", (37, 5)), ("attn.c_proj.weight", (3, 30)),
                                 ("ln_1.weight", (6,)), ("attn.c_attn.bias", (70,))])
def test_a_nanogpt_block_entry_is_pytorchs_and_central_differences(flash, wrt):
    torch.manual_seed(3)
    model = with_attention(Block(GPTConfig()), flash).double().eval()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 8, 32, dtype=torch.float64, generator=g)
    y = torch.randn(2, 8, 32, dtype=torch.float64, generator=g)
    name, index = wrt
    check_entry(model, lambda: F.mse_loss(model(x), y), lambda w: bl.explain_torch(model, F.mse_loss, x, y, wrt=w),
                name, index)


@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("wrt", [("transformer.wte.weight", (4, 7)), ("transformer.h.1.attn.c_attn.weight", (70, 2)),
                                 ("transformer.h.0.ln_1.weight", (9,)), ("transformer.wpe.weight", (3, 1))])
def test_a_nanogpt_gpt_entry_of_its_own_loss_is_pytorchs(flash, wrt):
    """GPT.forward(idx, targets) returns (logits, loss); the token embedding is lm_head's weight too, so its
    gradient adds up both uses, as PyTorch's."""
    model = tiny_gpt(flash)
    idx, targets = tokens()
    name, index = wrt
    check_entry(model, lambda: model(idx, targets)[1],
                lambda w: bl.explain_torch(model, None, (idx, targets), wrt=w), name, index)


def test_the_tied_weight_gets_both_uses():
    """Untied (a copy for lm_head), the token embedding's gradient is only part of the tied one."""
    model = tiny_gpt()
    idx, targets = tokens()
    tied = torch_grad(model, model(idx, targets)[1], "transformer.wte.weight")
    exp = bl.explain_torch(model, None, (idx, targets), wrt="transformer.wte.weight")
    np.testing.assert_allclose(np.asarray(exp.gradient, dtype=float), tied, rtol=1e-9, atol=1e-15)
    model.lm_head.weight = nn.Parameter(model.lm_head.weight.detach().clone())
    untied = torch_grad(model, model(idx, targets)[1], "transformer.wte.weight")
    assert np.abs(untied - tied).max() > 1e-3


def test_the_second_name_of_a_tied_weight_names_the_first():
    model = tiny_gpt()
    idx, targets = tokens()
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, None, (idx, targets), wrt="lm_head.weight[0,0]")
    text = one_line(info.value)
    assert "lm_head.weight" in text and "transformer.wte.weight" in text and "tied" in text


def test_gpt_without_targets_explains_a_loss_of_the_last_logits():
    """forward(idx) takes the branch targets=None: lm_head on x[:, [-1], :] only."""
    model = tiny_gpt(flash=True)
    idx, _ = tokens(seed=5)
    y = torch.randn(2, 1, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    check_entry(model, lambda: F.mse_loss(model(idx)[0], y),
                lambda w: bl.explain_torch(model, F.mse_loss, idx, y, wrt=w), "transformer.h.0.attn.c_proj.weight",
                (5, 5))


def test_the_converted_gpt_computes_pytorchs_logits_and_loss():
    model = tiny_gpt()
    idx, targets = tokens(seed=7)
    net = bl.from_torch(model, inputs=["idx", "targets"], example=(idx, targets))
    logits, loss = net(idx, targets)
    want_logits, want_loss = model(idx, targets)
    np.testing.assert_allclose(logits.data, want_logits.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(loss.data), float(want_loss.detach()), rtol=1e-9)


def test_a_size_used_as_a_truth_value_needs_example_inputs():
    """Without an example, `assert t <= block_size` cannot be traced: the message says how to give one."""
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(tiny_gpt())
    text = one_line(info.value)
    assert "assert t <= self.config.block_size" in text and "example=" in text and "nanogpt.py" in text


def test_a_network_that_took_the_examples_sizes_refuses_other_shapes():
    model = tiny_gpt()
    idx, _ = tokens(length=8)
    net = bl.from_torch(model, example=idx)
    net(idx)  # the example's shape runs
    with pytest.raises(TorchBridgeError) as info:
        net(idx[:, :5])
    text = one_line(info.value)
    assert "(2, 8)" in text and "(2, 5)" in text and "assert t <=" in text and "example=" in text


def test_tracing_with_an_example_leaves_the_model_and_torchs_generator_as_they_were():
    torch.manual_seed(17)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).double().train()
    running = model[1].running_mean.clone()
    x = torch.randn(5, 3, dtype=torch.float64)
    state = torch.get_rng_state()
    bl.from_torch(model, example=x)
    assert torch.equal(model[1].running_mean, running) and int(model[1].num_batches_tracked) == 0
    assert torch.equal(torch.get_rng_state(), state)
    model(torch.randn(5, 3, dtype=torch.float64))  # PyTorch's own run moves them: the check above can fail
    assert not torch.equal(model[1].running_mean, running)


def test_a_bigger_sequence_than_the_block_size_is_the_models_own_assertion():
    model = tiny_gpt()
    idx = torch.zeros(1, 9, dtype=torch.long)
    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(model, example=idx)
    text = one_line(info.value)
    assert "Cannot forward sequence of length 9" in text and "assert t <=" in text and "example inputs" in text


# --- makemore ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("wrt", [("transformer.h.0.attn.c_attn.weight", (17, 3)), ("lm_head.weight", (2, 5)),
                                 ("transformer.h.1.mlp.c_fc.weight", (30, 1)), ("transformer.wte.weight", (3, 6))])
def test_makemores_transformer_is_pytorchs_with_ignored_targets(wrt):
    """makemore's targets are -1 after a word's end, which cross_entropy(ignore_index=-1) leaves out."""
    torch.manual_seed(16)
    model = Transformer(MakemoreConfig()).double()
    idx = torch.tensor([[0, 3, 1, 4, 0, 0], [0, 2, 2, 5, 6, 1]])
    targets = torch.tensor([[3, 1, 4, 0, -1, -1], [2, 2, 5, 6, 1, 0]])
    name, index = wrt
    check_entry(model, lambda: model(idx, targets)[1],
                lambda w: bl.explain_torch(model, None, (idx, targets), wrt=w), name, index)


# --- makemore-style heads, masks made in the forward, split/chunk ---------------------------------------------------
@pytest.mark.parametrize("wrt", [("heads.1.query.weight", (2, 7)), ("heads.0.value.weight", (0, 3)),
                                 ("proj.weight", (5, 4))])
def test_makemore_style_heads_are_pytorchs(wrt):
    torch.manual_seed(8)
    model = MultiHeadAttention(num_heads=2, n_embd=8, head_size=4, block_size=6).double()
    g = torch.Generator().manual_seed(9)
    x = torch.randn(3, 5, 8, dtype=torch.float64, generator=g)  # shorter than the block: the mask is sliced
    y = torch.randn(3, 5, 8, dtype=torch.float64, generator=g)
    name, index = wrt
    check_entry(model, lambda: F.mse_loss(model(x), y), lambda w: bl.explain_torch(model, F.mse_loss, x, y, wrt=w),
                name, index)


def test_a_plain_mask_attribute_and_masks_made_in_the_forward_are_pytorchs():
    torch.manual_seed(10)
    model = PlainMaskHead(6, 8).double()
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 5, 6, dtype=torch.float64, generator=g)
    y = torch.randn(2, 5, 6, dtype=torch.float64, generator=g)
    check_entry(model, lambda: F.mse_loss(model(x), y), lambda w: bl.explain_torch(model, F.mse_loss, x, y, wrt=w),
                "qkv.weight", (4, 1))


def test_split_chunk_and_a_loop_over_pieces_are_pytorchs():
    torch.manual_seed(12)
    model = Pieces().double()
    g = torch.Generator().manual_seed(13)
    x = torch.randn(4, 6, dtype=torch.float64, generator=g)
    y = torch.randn(4, dtype=torch.float64, generator=g)
    net = bl.from_torch(model, example=x)  # the loop over split's pieces takes their number from the example
    np.testing.assert_allclose(net(x).data, model(x).detach().numpy(), rtol=1e-12)
    check_entry(model, lambda: F.mse_loss(model(x), y), lambda w: bl.explain_torch(model, F.mse_loss, x, y, wrt=w),
                "fc.weight", (3, 2))


class Positions(nn.Module):
    """Constants made in the forward from its sizes, with and without a dtype."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.5))

    def forward(self, x):
        T = x.size(1)
        pos = torch.arange(T, dtype=torch.float64) + torch.zeros(T) + torch.full((T,), 2)
        ones = torch.ones_like(x) * torch.ones(1, T, dtype=torch.float64) + torch.zeros_like(x)
        return (x * pos + ones) * self.scale + torch.arange(0, T)


def test_constants_made_in_the_forward_are_pytorchs():
    model = Positions().double()
    x = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    net = bl.from_torch(model)
    want = model(x)
    out = net(x)
    assert out.data.dtype == np.float64 and want.dtype == torch.float64
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-12)
    y = torch.ones(2, 3, dtype=torch.float64)
    check_entry(model, lambda: F.mse_loss(model(x), y), lambda w: bl.explain_torch(model, F.mse_loss, x, y, wrt=w),
                "scale", ())


# --- F.scaled_dot_product_attention ----------------------------------------------------------------------------
def _attention_inputs(data, batch, length, keys, width, out_width):
    values = st.floats(-2, 2, allow_nan=False, width=64)
    q = data.draw(arrays(np.float64, (*batch, length, width), elements=values))
    k = data.draw(arrays(np.float64, (*batch, keys, width), elements=values))
    v = data.draw(arrays(np.float64, (*batch, keys, out_width), elements=values))
    return q, k, v


@settings(max_examples=30, deadline=None)
@given(data=st.data(), batch=st.sampled_from([(), (2,), (2, 3)]), length=st.integers(1, 4),
       keys=st.integers(1, 4), width=st.integers(1, 3), out_width=st.integers(1, 3),
       kind=st.sampled_from(["none", "causal", "bool", "float", "scale"]))
def test_scaled_dot_product_attention_is_pytorchs_and_central_differences(data, batch, length, keys, width, out_width,
                                                                          kind):
    q, k, v = _attention_inputs(data, batch, length, keys, width, out_width)
    settings_ = {"causal": {"is_causal": True}, "scale": {"scale": 0.7}}.get(kind, {})
    if kind == "bool":  # every query keeps its first key, so no row is all −inf
        keep = data.draw(st.lists(st.booleans(), min_size=length * keys, max_size=length * keys))
        mask = np.asarray(keep).reshape(length, keys)
        mask[:, 0] = True
        settings_ = {"attn_mask": mask}
    elif kind == "float":  # added to the scores, the same for every batch entry
        settings_ = {"attn_mask": data.draw(arrays(np.float64, (length, keys), elements=st.floats(-1, 1)))}
    ours_in = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs_settings = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val
                       for key, val in settings_.items()}
    out = scaled_dot_product_attention(*ours_in, **settings_)
    ref = F.scaled_dot_product_attention(*theirs_in, **theirs_settings)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    weights = np.linspace(-1, 1, out.data.size).reshape(out.data.shape)  # a loss that weighs every output
    (out * Tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for ours, theirs in zip(ours_in, theirs_in):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    grad_check(lambda a, b, c: scaled_dot_product_attention(a, b, c, **settings_) * Tensor(weights), *ours_in)


@pytest.mark.parametrize("mask", ["bool", "float"])
def test_an_attention_mask_given_as_an_input_is_pytorchs(mask):
    torch.manual_seed(14)
    model = WithMask(scale=0.3).double()
    g = torch.Generator().manual_seed(15)
    x = torch.randn(2, 5, 8, dtype=torch.float64, generator=g)
    y = torch.randn(2, 5, 8, dtype=torch.float64, generator=g)
    m = torch.rand(5, 5, generator=g, dtype=torch.float64)
    m = (m > 0.4) | torch.eye(5, dtype=torch.bool) if mask == "bool" else m - 0.5
    check_entry(model, lambda: F.mse_loss(model(x, m), y),
                lambda w: bl.explain_torch(model, F.mse_loss, (x, m), y, wrt=w), "qkv.weight", (20, 3))


# --- refused in one line -------------------------------------------------------------------------------------------
def test_attention_dropout_while_training_is_refused_at_the_users_line():
    model = tiny_gpt(flash=True).train()
    for module in model.modules():  # only the attention's own dropout_p is left
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    idx, targets = tokens()
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, None, (idx, targets), wrt="transformer.h.0.attn.c_attn.weight[0,0]")
    text = one_line(info.value)
    assert "dropout_p=0.1" in text and "model.eval()" in text and "nanogpt.py" in text  # the model's own file
    assert "scaled_dot_product_attention(" in text


@pytest.mark.parametrize(("call", "said"), [
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 4, dtype=torch.long)),
     "attn_mask must be boolean"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(3, 4, dtype=torch.bool)),
     "does not broadcast"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 4, dtype=torch.bool),
                                                    is_causal=True), "not both"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[:, :1], v[:, :1], enable_gqa=True), "enable_gqa"),
])
def test_an_unsupported_mask_or_setting_is_refused_in_one_line(call, said):
    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            h = self.fc(x)
            return call(h, h, h)

    x = torch.randn(2, 2, 4, 3, dtype=torch.float64)
    net = bl.from_torch(Attend().double())
    with pytest.raises(TorchBridgeError) as info:
        net(x)
    text = one_line(info.value)
    assert said in text and "scaled_dot_product_attention" in text and "test_bridge_attention.py" in text


def test_a_shape_of_separate_sizes_says_to_give_a_tuple():
    class Ones(nn.Module):
        def forward(self, x):
            T = x.size(1)
            return x + torch.ones(T, T)

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Ones(), example=torch.zeros(2, 3, 3))
    text = one_line(info.value)
    assert "torch.ones((T, T))" in text and "return x + torch.ones(T, T)" in text


def test_a_tensors_value_as_a_truth_value_is_still_refused_with_example_inputs():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            h = self.fc(x)
            if h.size(-1) == 3 and h.sum() > 0:
                return h
            return -h

    with pytest.raises(TorchBridgeError) as info:
        bl.from_torch(Branches().double(), example=torch.randn(2, 3, dtype=torch.float64))
    text = one_line(info.value)
    assert "branches on a tensor's value" in text and "h.sum() > 0" in text and "example=x" not in text
