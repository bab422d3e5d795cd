"""Networks written as formulas, such as ``h1 = softplus(w1 * x + b1)``.

A spec file may describe a network node by node, the way a worked example draws it. The
formulas are parsed here into the engine's own ops; nothing is ever passed to ``eval``.
Allowed: numbers, names, + − * / ^ (or **), unary minus, parentheses, and the functions
exp, log, softplus, sigmoid, tanh, relu.

The parser works with an explicit stack (operator precedence), so a long formula never
meets Python's recursion limit: a sum of 10,000 terms is fine. What nests (parentheses,
function calls, signs, powers) may nest at most ``MAX_NESTING`` levels deep; past that the
formula is refused with a clear message, as no worked example needs more.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from backproplab.engine import ops
from backproplab.engine.tensor import Tensor, apply
from backproplab.nn import Module, Parameter
from backproplab.util.messages import InputError, excerpt, unknown_name_message

FUNCTIONS = {"exp": ops.exp, "log": ops.log, "softplus": ops.softplus_op, "sigmoid": ops.sigmoid_op,
             "tanh": ops.tanh, "relu": ops.relu}
GREEK = "αβγδθλμσ"
NAME = re.compile(rf"[A-Za-z_{GREEK}ŷ][A-Za-z0-9_{GREEK}ŷ]*")
MAX_NAME = 32
TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(" + NAME.pattern + r")|"
                   r"(\*\*|[-+*/^()]))")
MAX_NESTING = 100  # parentheses, calls, signs and powers inside one another
MAX_FORMULA = 1_000_000  # characters in one formula


class FormulaError(InputError):
    """A formula that cannot be read; the message says where (``where``: the node, if known)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


@dataclass(frozen=True, eq=False)
class Node:
    kind: str  # "num", "name", "call", "neg", or an operator
    value: Any
    args: tuple[Node, ...] = ()


def check_name(name: Any) -> str:
    """'' if ``name`` is a safe name (letters, digits, _, a few Greek letters), else why not."""
    if not isinstance(name, str) or not name:
        return "a name cannot be empty" if name == "" else f"a name must be text, got {excerpt(name)}"
    if len(name) > MAX_NAME:
        return f"the name {excerpt(name)} is longer than {MAX_NAME} characters; choose a shorter one"
    if not NAME.fullmatch(name):
        return (f"the name {excerpt(name)} may use only letters, digits, _ and the Greek letters {GREEK}, "
                "and may not start with a digit")
    if name in FUNCTIONS:
        return f"{name!r} is the name of a function; choose another name"
    return ""


def tokenize(text: str) -> list[str]:
    if len(text) > MAX_FORMULA:
        raise FormulaError(f"the formula has {len(text):,} characters; the limit is {MAX_FORMULA:,}")
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FormulaError(f"unexpected {excerpt(text[pos:].strip(), 10)} at position {pos + 1} of "
                               f"{excerpt(text)}")
        assert m.lastindex is not None  # every alternative of TOKEN is a group, so one of them matched
        tokens.append(m.group(m.lastindex))
        pos = m.end()
    return tokens


BINARY_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4, "**": 4}
PREFIX_PRECEDENCE = 3  # -x^2 is -(x^2), and -x*y is (-x)*y


class Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*; unary := '-' unary | power;
    power := atom ('^' unary)?; atom := number | name | name '(' expr ')' | '(' expr ')'.

    Read left to right with an operand stack and an operator stack (precedence climbing without
    recursion); '^' is right-associative, as in mathematics.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)

    def fail(self, message: str) -> FormulaError:
        return FormulaError(f"{message} in {excerpt(self.text)}")

    def too_deep(self) -> FormulaError:
        return FormulaError(f"the formula {excerpt(self.text, 30)} nests more than {MAX_NESTING} levels deep "
                            "(parentheses, functions, signs and powers); split it into several nodes")

    def parse(self) -> Node:
        if not self.tokens:
            raise FormulaError("the formula is empty")
        self.operands: list[Node] = []
        self.operators: list[str] = []  # binary operators, "neg", "(" and "call:NAME"
        self.nesting = 0  # open groups, pending signs and pending powers
        self.expect_operand = True
        self.i = 0
        while self.i < len(self.tokens):
            tok = self.tokens[self.i]
            self.i += 1
            if self.expect_operand:
                self.operand(tok)
            elif tok == ")":
                self.close_group()
            else:
                self.binary(tok)
        if self.expect_operand:
            raise self.fail("expected more but the formula ended")
        while self.operators:
            if self.operators[-1] == "(" or self.operators[-1].startswith("call:"):
                raise self.fail("expected ')' but the formula ended")
            self.reduce()
        return self.operands[0]

    def operand(self, tok: str) -> None:
        """Where an operand is due: a sign, '(', a function call, a name or a number."""
        if tok == "+":
            return
        if tok in ("-", "("):
            self.operators.append("neg" if tok == "-" else "(")
            self.nesting += 1
        elif NAME.fullmatch(tok) and self.i < len(self.tokens) and self.tokens[self.i] == "(":
            if tok not in FUNCTIONS:
                raise FormulaError(unknown_name_message("function", tok, FUNCTIONS))
            self.operators.append("call:" + tok)
            self.nesting += 1
            self.i += 1
        elif NAME.fullmatch(tok):
            self.operands.append(Node("name", tok))
            self.expect_operand = False
        elif tok[0].isdigit() or tok[0] == ".":
            value = float(tok)
            if not math.isfinite(value):
                raise self.fail(f"the number {excerpt(tok, 20)} is too large for a float64 (it would be infinity)")
            self.operands.append(Node("num", value))
            self.expect_operand = False
        else:
            raise self.fail(f"unexpected {excerpt(tok, 10)}")
        if self.nesting > MAX_NESTING:
            raise self.too_deep()

    def close_group(self) -> None:
        """')': reduce back to its '(' or function call."""
        operators = self.operators
        while operators and operators[-1] != "(" and not operators[-1].startswith("call:"):
            self.reduce()
        if not operators:
            raise self.fail("unexpected ')'")
        group = operators.pop()
        self.nesting -= 1
        if group.startswith("call:"):
            self.operands.append(Node("call", group[5:], (self.operands.pop(),)))

    def binary(self, tok: str) -> None:
        """A binary operator: reduce what binds tighter, then push it ('^' is right-associative)."""
        if tok not in BINARY_PRECEDENCE:
            raise self.fail(f"unexpected {excerpt(tok, 10)}")
        mine = BINARY_PRECEDENCE[tok]
        right_assoc = tok in ("^", "**")
        while self.operators and (precedence(self.operators[-1]) > mine or
                                  (precedence(self.operators[-1]) == mine and not right_assoc)):
            self.reduce()
        self.operators.append(tok)
        if right_assoc:
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise self.too_deep()
        self.expect_operand = True

    def reduce(self) -> None:
        """The operator on top of the stack, applied to the operands on top of theirs."""
        op = self.operators.pop()
        operands = self.operands
        if op == "neg":
            operands.append(Node("neg", None, (operands.pop(),)))
            self.nesting -= 1
            return
        right, left = operands.pop(), operands.pop()
        operands.append(Node("^" if op == "**" else op, None, (left, right)))
        if op in ("^", "**"):
            self.nesting -= 1


def precedence(op: str) -> int:
    """How tightly an operator on the stack binds: a sign (neg) between '*' and '^'; '(' and calls not at all."""
    return PREFIX_PRECEDENCE if op == "neg" else BINARY_PRECEDENCE.get(op, 0)


def parse(text: str) -> Node:
    """The syntax tree of one formula."""
    return Parser(text).parse()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, children before their parent (no recursion: trees may be deep)."""
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        item, expanded = stack.pop()
        if expanded or not item.args:
            order.append(item)
            continue
        stack.append((item, True))
        stack.extend((a, False) for a in reversed(item.args))
    return order


def names_in(node: Node) -> set[str]:
    return {n.value for n in walk(node) if n.kind == "name"}


BINARY = {"+": ops.add, "-": ops.sub, "*": ops.mul, "/": ops.div, "^": ops.pow}


def evaluate(node: Node, env: dict[str, Tensor]) -> Any:
    """Build the node with the engine's ops (recording the graph as any computation does)."""
    values: dict[int, Any] = {}
    for n in walk(node):
        if n.kind == "num":
            value = n.value
        elif n.kind == "name":
            value = env[n.value]
        elif n.kind == "neg":
            value = apply(ops.neg, values.pop(id(n.args[0])))
        elif n.kind == "call":
            value = apply(FUNCTIONS[n.value], values.pop(id(n.args[0])))
        else:
            value = apply(BINARY[n.kind], *(values.pop(id(a)) for a in n.args))
        values[id(n)] = value
    return values[id(node)]


class FormulaNet(Module):
    """A network given as named scalar parameters and one formula per named node."""

    def __init__(self, params: dict[str, float], nodes: dict[str, str], output: str | list[str],
                 inputs: list[str]) -> None:
        super().__init__()
        self.inputs = list(inputs)
        self.outputs = [output] if isinstance(output, str) else list(output)
        self.texts = dict(nodes)
        for kind, names in (("input", self.inputs), ("parameter", params), ("node", nodes)):
            for name in names:
                problem = check_name(name)
                if problem:
                    raise FormulaError(problem, f"{kind} {excerpt(name)}")
        for name in set(self.inputs) & set(params):
            raise FormulaError(f"{name!r} is both an input and a parameter; rename one", f"parameter {name}")
        if len(set(self.inputs)) != len(self.inputs):
            raise FormulaError("an input name appears twice; give each input its own name", "inputs")
        self.formulas: dict[str, Node] = {}
        known = set(inputs) | set(params)
        for name, text in nodes.items():
            if name in known:
                what = "an input" if name in self.inputs else "a parameter" if name in params else "an earlier node"
                raise FormulaError(f"this node has the name of {what}, which it would hide; give it another name",
                                   f"node {name}")
            try:
                tree = parse(text)
            except FormulaError as exc:
                raise FormulaError(exc.message, f"node {name}") from None
            for used in sorted(names_in(tree) - known):
                raise FormulaError(f"uses {excerpt(used)}, which is not an input, a parameter or an earlier node "
                                   f"({unknown_name_message('name', used, sorted(known))})", f"node {name}")
            self.formulas[name] = tree
            known.add(name)
        for out in self.outputs:
            if out not in self.formulas:
                raise FormulaError(unknown_name_message("output node", out, self.formulas))
        for name, value in params.items():
            if name.isidentifier() and not hasattr(self, name):
                setattr(self, name, Parameter(value, name))
            else:  # a name such as 'forward' or 'inputs' stays a parameter without hiding a method
                self._params[name] = Parameter(value, name)

    def unused_parameters(self) -> list[str]:
        """The parameters no formula on the way to an output uses (their gradient is always 0)."""
        used: set[str] = set()
        todo = list(self.outputs)
        while todo:
            name = todo.pop()
            if name in used:
                continue
            used.add(name)
            if name in self.formulas:
                todo.extend(names_in(self.formulas[name]) - used)
        return [name for name in self._params if name not in used]

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
