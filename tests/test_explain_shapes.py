"""The explainer on inputs of any rank: a Linear layer on one sample, a batch, or a batch of
sequences (batch, time, features) is written out in full, with no template name left unfilled."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import backproplab as bl
import backproplab.nn.functional as F

UNFILLED = re.compile(r"\$(a|b|c|z|x|y|t|p|min|max|lo|hi|axis|n|index|shape|alpha|correction)\b")
FORMATS = ("text", "md", "latex", "html", "json")


def unfilled(explanation: bl.Explanation) -> list[str]:
    """Every unfilled template name, in every format, with the format it is in."""
    return [f"{fmt}: {m.group(0)}" for fmt in FORMATS for m in UNFILLED.finditer(explanation.render(fmt))]


def linear_loss(shape: tuple[int, ...], n_out: int, mse: bool, seed: int) -> tuple[bl.Linear, bl.Tensor, bl.Tensor]:
    rng = np.random.default_rng(seed)
    x = bl.Tensor(rng.normal(size=shape), name="x")
    lin = bl.Linear(shape[-1], n_out, rng=rng)
    lin.bias.data = rng.normal(size=n_out)
    z = lin(x)
    loss = F.mse_loss(z, bl.Tensor(np.zeros(z.shape), name="y")) if mse else (z ** 2).sum()
    return lin, x, loss


def test_a_linear_layer_on_a_batch_of_sequences_names_every_factor():
    lin, x, loss = linear_loss((2, 3, 4), 5, mse=False, seed=0)
    e = bl.explain(loss, lin.weight, index=(0, 0), form="paths")
    assert unfilled(e) == []
    text = e.to_text()
    factor = bl.explain(loss, lin.weight, index=(0, 0), form="paths", digits=4).to_text()
    assert "dz[i,1,1]/dW[1,1] = x[i,1,1]" in text
    assert f"{x.data[0, 0, 0]:.4f}".replace("-", "−") in factor  # the input's value is what is put in


@given(rank=st.integers(1, 3), sizes=st.lists(st.integers(1, 3), min_size=3, max_size=3),
       n_out=st.integers(1, 3), mse=st.booleans(), bias=st.booleans(), form=st.sampled_from(["auto", "paths", "delta"]),
       pick=st.integers(0, 10**6), seed=st.integers(0, 2**16))
def test_no_explanation_of_a_linear_layer_leaves_a_template_name_unfilled(rank, sizes, n_out, mse, bias, form,
                                                                           pick, seed):
    lin, _, loss = linear_loss(tuple(sizes[3 - rank:]), n_out, mse, seed)
    wrt = lin.bias if bias else lin.weight
    index = np.unravel_index(pick % wrt.data.size, wrt.shape)
    index = tuple(int(i) for i in index)
    e = bl.explain(loss, wrt, index=index, form=form)
    assert unfilled(e) == []
    loss.backward()
    shown = np.asarray(e.gradient, dtype=float)
    assert np.allclose(shown, wrt.grad[index] if shown.size == 1 else wrt.grad)


def test_a_slice_is_written_as_it_was_taken():
    w = bl.Parameter(np.arange(6.0).reshape(2, 3), "w")
    e = bl.explain((w[0, 1:] ** 2).sum(), w, form="delta")
    assert unfilled(e) == []
    assert "u₁ = w[0, 1:]" in e.to_text()
    assert "w_{0, 1:}" in e.to_latex()
    w = bl.Parameter(np.arange(24.0).reshape(2, 3, 4), "w")
    e = bl.explain((w[..., ::2] ** 2).sum() + (w[:, np.array([0, 2])] ** 2).sum(), w, form="delta")
    assert unfilled(e) == []
    assert "w[..., ::2]" in e.to_text() and "w[:, [0, 2]]" in e.to_text()


def test_softmax_is_written_over_the_whole_row():
    rng = np.random.default_rng(0)
    net = bl.nn.Sequential(bl.nn.Linear(3, 4, rng=rng), bl.nn.ReLU(), bl.nn.Linear(4, 3, rng=rng))
    loss = F.cross_entropy(net(bl.Tensor(rng.normal(size=(2, 3)), name="x")), np.array([0, 2]))
    e = bl.explain(loss, net[0].weight, index=(0, 0), form="paths")
    text, latex = e.to_text(), e.to_latex()
    assert "dCE/dz2[i,1] = (softmax(z2[i,:])[1] − y[i,1]) / 2" in text
    assert "dCE/dz2[i,3] = (softmax(z2[i,:])[3] − y[i,3]) / 2" in text
    assert r"\operatorname{softmax}\left(\left(z_{2}\right)_{i,:}\right)_{1}" in latex
    one_number = re.compile(r"softmax\((\(?[−-]?[0-9.]+\)?|[a-z]\w*\[i,\d+\])\)")
    assert not one_number.search(text) and "softmax}(-" not in latex and unfilled(e) == []
