"""A batched model's paths form labels every term with what it is: its sample and, where the sample has
several paths, the entries that tell them apart; no two terms share a label."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import backproplab as bl
import backproplab.nn.functional as F


def batched(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    net = bl.nn.Sequential(bl.nn.Linear(3, 4, rng=rng), bl.nn.Tanh(), bl.nn.Linear(4, 3, rng=rng))
    loss = F.cross_entropy(net(bl.Tensor(rng.random((batch, 3)), name="x")), rng.integers(0, 3, batch))
    return net, loss


@pytest.mark.parametrize("batch", [2, 3])
def test_every_term_of_a_batched_model_has_its_own_label(batch):
    net, loss = batched(batch)
    exp = bl.explain(loss, net[0].weight, index=(1, 0))
    assert exp.form == "paths"
    labels = [t["label"] for t in exp.details["terms"]]
    assert len(labels) == 3 * batch and len(set(labels)) == len(labels)
    for label in labels:  # the sample, then the entry of z2 its path runs through: that sample's own row
        sample, row, _ = re.fullmatch(r"sample (\d) via z2\[(\d),(\d)\]", label).groups()
        assert sample == row
    assert {re.sub(r"sample \d via z2\[\d,", "", label) for label in labels} == {"1]", "2]", "3]"}
    text = exp.to_text() + "\n".join(exp.details["product_notes"])
    shown = re.findall(r"^\s*(sample \d[^:]*):", exp.to_text(), flags=re.M)
    assert len(shown) == len(set(shown))
    assert "sample 1:" not in text  # never the bare label where sample 1 has several paths
    loss.backward()
    assert math.fsum(t["value"] for t in exp.details["terms"]) == pytest.approx(float(net[0].weight.grad[1, 0]),
                                                                                 rel=1e-12)


def test_a_sample_with_one_path_keeps_its_short_label():
    rng = np.random.default_rng(1)
    w = bl.Tensor(np.array(0.5), requires_grad=True, name="w")
    x = bl.Tensor(rng.random(3), name="x")
    loss = ((w * x).named("h") ** 2).sum()
    exp = bl.explain(loss, w)
    assert [t["label"] for t in exp.details["terms"]] == ["sample 1", "sample 2", "sample 3"]


def test_paths_that_pass_the_same_named_entries_are_numbered():
    rng = np.random.default_rng(2)
    a = bl.Tensor(rng.uniform(0.5, 2, (2, 3)), requires_grad=True, name="p1")
    b = bl.Tensor(rng.uniform(0.5, 2, (2, 3)), requires_grad=True, name="p2")
    loss = ((a + b) * b).named("y").sum()
    exp = bl.explain(loss, b, index=(1, 2), form="paths")
    labels = [t["label"] for t in exp.details["terms"]]
    assert labels == ["sample 2, path 1", "sample 2, path 2"]
    assert "$_" not in exp.to_latex()
    loss.backward()
    assert math.fsum(t["value"] for t in exp.details["terms"]) == pytest.approx(float(b.grad[1, 2]), rel=1e-12)
