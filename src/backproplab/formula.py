"""Networks written as formulas, such as ``h1 = softplus(w1 * x + b1)``.

A spec file may describe a network node by node, the way a worked example draws it. The
formulas are parsed here by a small recursive-descent parser into the engine's own ops;
nothing is ever passed to ``eval``. Allowed: numbers, names, + − * / ^ (or **), unary
minus, parentheses, and the functions exp, log, softplus, sigmoid, tanh, relu.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from backproplab import ops
from backproplab.nn import Module, Parameter, unknown_name_message
from backproplab.tensor import Tensor, apply

FUNCTIONS = {"exp": ops.exp, "log": ops.log, "softplus": ops.softplus_op, "sigmoid": ops.sigmoid_op,
             "tanh": ops.tanh, "relu": ops.relu}
TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_ŷ][A-Za-z_0-9ŷ]*)|"
                   r"(\*\*|[-+*/^()]))")


class FormulaError(ValueError):
    """A formula that cannot be read; the message says where."""


@dataclass(frozen=True)
class Node:
    kind: str  # "num", "name", "call", "neg", or an operator
    value: Any
    args: tuple[Node, ...] = ()


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FormulaError(f"unexpected {text[pos:].strip()[:10]!r} at position {pos + 1} of {text!r}")
        tokens.append(m.group(m.lastindex))
        pos = m.end()
    return tokens


class Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*; unary := '-' unary | power;
    power := atom ('^' unary)?; atom := number | name | name '(' expr ')' | '(' expr ')'."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise FormulaError("the formula is empty")
        node = self.expr()
        if self.i != len(self.tokens):
            raise FormulaError(f"unexpected {self.tokens[self.i]!r} in {self.text!r}")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            want = f"{expected!r}" if expected else "more"
            raise FormulaError(f"expected {want} {'but the formula ended' if tok is None else f'at {tok!r}'} "
                               f"in {self.text!r}")
        self.i += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            node = Node(self.take(), None, (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            node = Node(self.take(), None, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Node("neg", None, (self.unary(),))
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            return Node("^", None, (base, self.unary()))
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok == "(":
            node = self.expr()
            self.take(")")
            return node
        if re.fullmatch(r"[\d.].*", tok):
            return Node("num", float(tok))
        if re.fullmatch(r"[A-Za-z_ŷ].*", tok):
            if self.peek() == "(":
                if tok not in FUNCTIONS:
                    raise FormulaError(unknown_name_message("function", tok, FUNCTIONS))
                self.take("(")
                arg = self.expr()
                self.take(")")
                return Node("call", tok, (arg,))
            return Node("name", tok)
        raise FormulaError(f"unexpected {tok!r} in {self.text!r}")


def parse(text: str) -> Node:
    """The syntax tree of one formula."""
    return Parser(text).parse()


def names_in(node: Node) -> set[str]:
    if node.kind == "name":
        return {node.value}
    return set().union(*(names_in(a) for a in node.args)) if node.args else set()


BINARY = {"+": ops.add, "-": ops.sub, "*": ops.mul, "/": ops.div, "^": ops.pow}


def evaluate(node: Node, env: dict[str, Tensor]) -> Any:
    """Build the node with the engine's ops (recording the graph as any computation does)."""
    if node.kind == "num":
        return node.value
    if node.kind == "name":
        return env[node.value]
    if node.kind == "neg":
        return apply(ops.neg, evaluate(node.args[0], env))
    if node.kind == "call":
        return apply(FUNCTIONS[node.value], evaluate(node.args[0], env))
    return apply(BINARY[node.kind], *(evaluate(a, env) for a in node.args))


class FormulaNet(Module):
    """A network given as named scalar parameters and one formula per named node."""

    def __init__(self, params: dict[str, float], nodes: dict[str, str], output: str | list[str],
                 inputs: list[str]) -> None:
        super().__init__()
        self.inputs = list(inputs)
        self.outputs = [output] if isinstance(output, str) else list(output)
        self.formulas = {name: parse(text) for name, text in nodes.items()}
        self.texts = dict(nodes)
        known = set(inputs) | set(params)
        for name, tree in self.formulas.items():
            for used in sorted(names_in(tree) - known):
                raise FormulaError(f"node {name} uses {used!r}, which is not an input, a parameter or an earlier "
                                   f"node ({unknown_name_message('name', used, sorted(known))})")
            known.add(name)
        for out in self.outputs:
            if out not in self.formulas:
                raise FormulaError(unknown_name_message("output node", out, self.formulas))
        for name, value in params.items():
            setattr(self, name, Parameter(value, name))

    def forward(self, x: Any) -> Tensor:
        env: dict[str, Any] = dict(self._params)
        data = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=float)
        if data.ndim == 2:  # one column per input name
            for k, name in enumerate(self.inputs):
                env[name] = Tensor(data[:, k], name=name)
        else:
            env[self.inputs[0]] = x if isinstance(x, Tensor) else Tensor(data, name=self.inputs[0])
        for name, tree in self.formulas.items():
            value = evaluate(tree, env)
            value = value if isinstance(value, Tensor) else Tensor(value)
            if tree.kind != "name":  # a new node (not another name for an existing one) takes the name
                value.named("ŷ" if name == "yhat" else name)
            env[name] = value
        result = env[self.outputs[0]]
        for name in self.outputs[1:]:  # several outputs: one column each
            result = apply(ops.concat, result, env[name])
        return result
