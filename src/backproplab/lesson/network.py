"""The network as the page draws it: nodes with their activation, edges labelled with the
parameter they carry, and biases on their nodes, read from the spec (formulas are read by
``formula``'s parser, never evaluated)."""

from __future__ import annotations

from typing import Any

from backproplab.lesson.settings import Job
from backproplab.spec import formula

SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _terms(node: formula.Node) -> list[formula.Node]:
    """The terms of a sum (a − b counts as a + b here: the diagram shows which parameter links what)."""
    terms: list[formula.Node] = []
    stack = [node]  # a sum of a thousand terms is a thousand deep: walked with a stack, not recursion
    while stack:
        item = stack.pop()
        if item.kind in ("+", "-"):
            stack.extend(reversed(item.args))
        else:
            terms.append(item)
    return terms


def _linear(tree: formula.Node, params: set[str], nodes: set[str]) -> tuple[list[tuple[str | None, str]],
                                                                          list[str], list[str]]:
    """(parameter or None, source) edges, biases, and other parameters of a node's formula."""
    edges: list[tuple[str | None, str]] = []
    biases: list[str] = []
    other: list[str] = []
    for t in _terms(tree):
        if t.kind == "name" and t.value in params:
            biases.append(t.value)
        elif t.kind == "name" and t.value in nodes:
            edges.append((None, t.value))
        elif t.kind == "*" and all(a.kind == "name" for a in t.args):
            a, b = (arg.value for arg in t.args)
            if a in params and b in nodes:
                edges.append((a, b))
            elif b in params and a in nodes:
                edges.append((b, a))
            else:
                other += [n for n in (a, b) if n in params]
                edges += [(None, n) for n in (a, b) if n in nodes]
        else:
            used = formula.names_in(t)
            other += sorted(used & params)
            edges += [(None, n) for n in sorted(used & nodes)]
    return edges, biases, other


def _label(name: str) -> str:
    return "ŷ" if name == "yhat" else name


def _activations(network: dict[str, Any], trees: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Which pre-activation nodes a node's activation takes in (drawn as one node: ``h1 = softplus(z1)``
    where z1 is used once and is no output), and each node's activation."""
    uses: dict[str, int] = {}
    for tree in trees.values():
        for used in formula.names_in(tree):
            uses[used] = uses.get(used, 0) + 1
    absorbed: dict[str, str] = {}  # pre-activation node -> the node that applies the activation to it
    activation: dict[str, str] = {}
    for name, tree in trees.items():
        if tree.kind != "call":
            continue
        activation[name] = tree.value
        inner = tree.args[0]
        if inner.kind == "name" and inner.value in trees and uses.get(inner.value) == 1 \
                and inner.value not in network["output"]:
            absorbed[inner.value] = name
    return absorbed, activation


def formula_network(network: dict[str, Any]) -> dict[str, Any]:
    """A formula spec's network as the page draws it: one node per shown formula, an edge per weight."""
    params = set(network["parameters"])
    inputs = list(network["inputs"])
    trees = {name: formula.parse(text) for name, text in network["nodes"].items()}
    absorbed, activation = _activations(network, trees)
    shown = [n for n in trees if n not in absorbed]
    known = set(inputs) | set(trees)
    layer = {n: 0 for n in inputs}
    out_nodes = [{"name": n, "label": n, "activation": "input", "layer": 0, "biases": [], "other": []}
                 for n in inputs]
    edges = []

    def source(n: str) -> str:
        return absorbed.get(n, n)

    for name in shown:
        tree = trees[name]
        body = trees[tree.args[0].value] if tree.kind == "call" and tree.args[0].kind == "name" and \
            tree.args[0].value in absorbed else (tree.args[0] if tree.kind == "call" else tree)
        found, biases, other = _linear(body, params, known)
        for param, src in found:
            edges.append({"param": param, "index": None, "from": source(src), "to": name})
        depth = max([layer.get(source(s), 0) for _, s in found] or [0]) + 1
        layer[name] = depth
        out_nodes.append({"name": name, "label": _label(name), "activation": activation.get(name, "identity"),
                          "layer": depth, "biases": [{"param": b, "index": None} for b in biases],
                          "other": other})
    return {"kind": "formulas", "nodes": out_nodes, "edges": edges, "outputs": list(network["output"])}


def mlp_network(job: Job) -> dict[str, Any]:
    network = job.spec.network
    sizes = [network["inputs"]] + [layer["size"] for layer in network["layers"]]
    acts = ["input"] + [layer["activation"] for layer in network["layers"]]
    names: list[list[str]] = []
    nodes = []
    for li, size in enumerate(sizes):
        row = []
        for j in range(size):
            if li == 0:
                name = "x" if size == 1 else f"x{j + 1}"
                label = "x" if size == 1 else "x" + str(j + 1).translate(SUBSCRIPTS)
            elif li == len(sizes) - 1:
                name = f"out{j + 1}"
                label = "ŷ" if size == 1 else "ŷ" + str(j + 1).translate(SUBSCRIPTS)
            else:
                name = f"a{li}_{j + 1}"
                label = f"a{li},{j + 1}"
            row.append(name)
            biases = [] if li == 0 else [{"param": f"b{li}", "index": [j]}]
            nodes.append({"name": name, "label": label, "activation": acts[li], "layer": li, "biases": biases,
                          "other": []})
        names.append(row)
    edges = [{"param": f"W{li + 1}", "index": [j, i], "from": names[li][i], "to": names[li + 1][j]}  # W is (out, in)
             for li in range(len(sizes) - 1) for i in range(sizes[li]) for j in range(sizes[li + 1])]
    return {"kind": "mlp", "nodes": nodes, "edges": edges, "outputs": names[-1]}


def network_of(job: Job) -> dict[str, Any]:
    """Nodes (name, label, activation, layer, biases) and edges (param, index, from, to)."""
    if job.spec.network["kind"] == "mlp":
        return mlp_network(job)
    return formula_network(job.spec.network)
