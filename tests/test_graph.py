"""The computation graph as DOT: structure, labels with values and gradients, rendering."""

from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.explain import delta
from backproplab.explain.dot import GET_DOT, to_dot, write_graph
from tests.test_explain import dosage_loss


def test_dot_has_every_tensor_op_and_edge_with_values():
    net, loss = dosage_loss()
    dot = to_dot(loss)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    records = re.findall(r'(t\d+) \[shape=record.*label="\{([^"]*)\}"\]', dot)
    labels = {label.split(" | ")[0]: label for _, label in records}
    for name in ("w1", "b1", "w2", "b2", "w3", "w4", "b3", "z1", "h1", "z2", "h2", "ŷ", "SSR", "x", "y"):
        assert name in labels, name
    assert "value −1.22" in labels["w3"]
    loss.backward()
    assert f"grad {float(net.w3.grad):.2f}".replace("-", "−") in labels["w3"]
    ops = re.findall(r'_op \[shape=ellipse, label="(\w+)"', dot)
    assert sorted(set(ops)) == ["add", "mul", "softplus", "ssr"]
    edges = re.findall(r"(t\d+(?:_op)?) -> (t\d+(?:_op)?);", dot)
    # every op node has exactly one output edge and its inputs' edges
    assert sum(1 for a, b in edges if a.endswith("_op")) == len(ops)
    assert len(edges) == len(ops) + sum(2 if o in ("add", "mul", "ssr") else 1 for o in ops)


def test_wide_tensors_are_one_node_with_a_summary():
    net = bl.MLP([4, 64, 1])
    dot = to_dot(losses.mse(net(Tensor(np.ones((10, 4)), name="x")), np.zeros(10)))
    assert "4×64, mean" in dot and dot.count("shape=record") < 20


def test_write_dot_and_svg(tmp_path):
    _, loss = dosage_loss()
    path, note = write_graph(to_dot(loss), tmp_path / "g.dot")
    assert path.read_text().startswith("digraph") and note == ""
    if shutil.which("dot"):
        path, note = write_graph(to_dot(loss), tmp_path / "g.svg")
        assert note == "" and "<svg" in path.read_text()
    with pytest.raises(ValueError, match="unknown graph format"):
        write_graph("digraph{}", tmp_path / "g.jpg")


def test_without_graphviz_the_dot_file_is_written_and_the_note_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    _, loss = dosage_loss()
    path, note = write_graph(to_dot(loss), tmp_path / "g.svg")
    assert path.suffix == ".dot" and path.exists() and note == GET_DOT
    assert "apt-get install graphviz" in note


def chain(n: int) -> tuple[Tensor, Tensor]:
    """A chain of ``n`` named nodes that all use one parameter w."""
    w = Tensor(0.5, requires_grad=True, name="w")
    h = w * Tensor([0.0, 0.5, 1.0], name="x")
    for i in range(n):
        h = (bl.tanh(h) if i % 2 else h * 0.5 + w).named(f"h{i}")
    return w, (h * h).sum()


def test_a_name_without_a_suffix_gets_the_dot_text_as_it_is(tmp_path):
    path, note = write_graph("digraph {}\n", tmp_path / "graph")
    assert path == tmp_path / "graph" and note == "" and path.read_text() == "digraph {}\n"
    assert not (tmp_path / "graph.dot").exists()


def test_to_dot_names_a_long_chain_in_linear_time():
    times = []
    for n in (1000, 8000):
        _, loss = chain(n)
        best = float("inf")
        for _ in range(3):  # this process's CPU time, best of three: other work on the machine does not count
            start = time.process_time()
            dot = to_dot(loss)
            best = min(best, time.process_time() - start)
        times.append(best)
        assert dot.count("shape=record") >= n and f"h{n - 1}" in dot
    assert times[1] < 24 * times[0] + 0.5, times  # 8× the nodes: about 8× the time, not 64×


def test_shared_unnamed_nodes_get_their_own_delta_lines():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    y = w * 1.0
    for _ in range(60):
        y = y + y
    exp = bl.explain(y.sum(), w)
    text = exp.to_text()
    assert len(text) < 20_000 and text.count("δ_u") >= 60
    np.testing.assert_allclose(exp.gradient, [2.0 ** 60, 2.0 ** 60])


def test_a_deep_chain_is_explained_layer_by_layer_within_its_budget(monkeypatch):
    w, loss = chain(3000)
    exp = bl.explain(loss, w)
    assert exp.form == "delta" and exp.to_text().count("δ_h") >= 3000
    monkeypatch.setattr(delta, "MAX_DELTA_WORK", 100)
    with pytest.raises(ValueError, match=r"this explanation needs more than 100 steps of work \(the graph has"):
        bl.explain(loss, w, form="delta")
