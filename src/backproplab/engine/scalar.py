"""The replay of a tiny graph written in Python floats: every value a few numbers, each its own variable.

Where every array of a tape is float64 with at most ``SCALAR_UPTO`` entries (a single number or a
short vector), a NumPy call costs far more than the arithmetic it does. The forward and backward
pass are then written entry by entry as Python float arithmetic, which is the same IEEE arithmetic
as NumPy's (``+ − ×`` round the same way), so the bits are the plain path's:

- sums are written in the order NumPy adds a short vector (``codegen.float_sums_in_order``);
- a function such as ``exp`` is written with Python's ``math`` only where, checked at first use on
  thousands of values, it gives NumPy's bits for a vector of that length (NumPy may use SIMD code
  of its own); otherwise that one call goes through NumPy, on the entries packed into one array;
- an op or a VJP without a float form here is called through the op table, on arrays built from the
  entries, and its result unpacked again.

Each node's ``.data`` is still set every step (a new array, as the plain path makes for arrays
this small), so what is explained is what was trained.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from backproplab.engine.ops import OPS

if TYPE_CHECKING:
    from backproplab.engine.tape import Tape

SCALAR_UPTO = 7  # arrays up to this many entries (the sums' limit: codegen.FLOAT_SUM_UPTO)
LOG2 = 0.6931471805599453  # NumPy's NPY_LOGE2 as a float64: logaddexp(0, 0)


def softplus_float(z: float) -> float:
    """NumPy's ``logaddexp(0.0, z)`` in Python floats: its branches, libm's ``exp`` and ``log1p``."""
    if z == 0.0:
        return 0.0 + LOG2
    t = 0.0 - z
    if t > 0:
        return 0.0 + math.log1p(math.exp(-t))
    if t <= 0:
        return z + math.log1p(math.exp(t))
    return t  # NaN


def exp_float(x: float) -> float:
    """libm's ``exp``, as ``math.exp``, but infinity instead of an OverflowError (NumPy's result) above 709."""
    return math.exp(x) if x < 709.0 else float(np.exp(np.float64(x)))


FLOAT_NAMES = {"exp": "exp_float", "tanh": "math_tanh", "softplus": "softplus_float"}  # their names in the code
MATH: dict[str, Callable[[float], float]] = {"exp": exp_float, "tanh": math.tanh, "softplus": softplus_float}
NUMPY: dict[str, Callable[[Any], Any]] = {"exp": np.exp, "tanh": np.tanh, "softplus": lambda a: np.logaddexp(0.0, a)}
SAFE = {"exp": (-700.0, 700.0), "tanh": (-1e300, 1e300), "softplus": (-1e300, 1e300)}  # math.exp raises above 709


@cache
def math_matches(name: str, n: int) -> bool:
    """Whether ``MATH[name]`` gives ``NUMPY[name]``'s bits on every entry of float64 vectors of length ``n``."""
    rng = np.random.default_rng(1)
    low, high = SAFE[name]
    values = rng.normal(size=(300, n)) * 10.0 ** rng.integers(-12, 3, (300, n))
    values = np.clip(np.vstack([values, np.full((1, n), -0.0), np.full((1, n), 0.0)]), low, high)
    fn, vector = MATH[name], NUMPY[name]
    return all(vector(row).tolist() == [fn(v) for v in row.tolist()] for row in values)


def fits(tape: Tape, sums_in_order: bool) -> bool:
    """Whether every value of the tape is float64 with at most ``SCALAR_UPTO`` entries and at most one axis."""
    return sums_in_order and all(
        n.data.dtype == np.float64 and n.data.ndim <= 1 and 1 <= n.data.size <= SCALAR_UPTO for n in tape.nodes)


FORWARD = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "neg": "-{0}", "identity": "{0}"}
BACKWARD = {"add": ("{g}", "{g}"), "sub": ("{g}", "-{g}"), "mul": ("{g} * {1}", "{g} * {0}"), "neg": ("-{g}",),
            "identity": ("{g}",), "exp": ("{g} * {out}",), "tanh": ("{g} * (1.0 - {out} * {out})",)}
FUNCTIONS = ("exp", "tanh", "softplus")  # the ops whose forward is one function of the entry


class ScalarPasses:
    """Writes the forward and backward pass of a tiny tape in Python floats (see the module's docstring)."""

    def __init__(self, tape: Tape, fn: Callable[[Any], str], comment: Callable[[int, Any], list[str]]) -> None:
        self.tape, self.fn, self.comment = tape, fn, comment
        self.temps = 0
        self.reads: list[int] = []  # the slots whose values the backward pass reads

    def sizes(self, i: int) -> int:
        return self.tape.nodes[i].data.size

    def names(self, prefix: str, i: int) -> list[str]:
        return [f"{prefix}{i}_{k}" for k in range(self.sizes(i))]

    def pack(self, names: list[str], i: int) -> str:
        """An array of node ``i``'s shape from its entries' names."""
        if self.tape.nodes[i].data.ndim == 0:
            return f"array({names[0]})"
        return f"array(({', '.join(names)},))" if len(names) == 1 else f"array(({', '.join(names)}))"

    def unpack(self, names: list[str], i: int, array_expr: str) -> str:
        """The line setting the entries' names from an array of node ``i``'s shape."""
        if self.tape.nodes[i].data.ndim == 0:
            return f"{names[0]} = {array_expr}.item()"
        target = f"[{names[0]}]" if len(names) == 1 else ", ".join(names)
        return f"{target} = {array_expr}.tolist()"

    def apply(self, lines: list[str], name: str, args: list[str]) -> list[str]:
        """``name`` (exp, tanh, softplus) of each expression: in ``math`` where it gives NumPy's bits, else one
        NumPy call on the entries packed into an array."""
        if math_matches(name, len(args)):
            return [f"{FLOAT_NAMES[name]}({a})" for a in args]
        temps = [f"t{self.temps + k}" for k in range(len(args))]
        self.temps += len(args)
        vector = "logaddexp(0.0, " if name == "softplus" else f"{name}("
        packed = f"array(({', '.join(args)},))" if len(args) == 1 else f"array(({', '.join(args)}))"
        target = f"[{temps[0]}]" if len(temps) == 1 else ", ".join(temps)
        lines.append(f"{target} = {vector}{packed}).tolist()")
        return temps

    def operand(self, j: int, k: int, prefix: str = "v") -> str:
        """Entry ``k`` of operand ``j``, a single number broadcast to every entry."""
        return f"{prefix}{j}_0" if self.tape.nodes[j].data.ndim == 0 else f"{prefix}{j}_{k}"

    def elementwise(self, i: int, ins: tuple[int, ...]) -> bool:
        """Whether node ``i``'s operands are its own shape or single numbers (broadcast)."""
        shape = self.tape.nodes[i].data.shape
        return all(self.tape.nodes[j].data.shape in (shape, ()) for j in ins)

    def forward(self) -> list[str]:
        """The forward pass: each input unpacked, each op entry by entry, each node's ``.data`` set."""
        tape = self.tape
        unpacked = {self.unpack(self.names("v", i), i, f"n{i}.data") for i, _ in tape.inputs}
        lines = sorted(unpacked, key=lambda line: int(line.split("_")[0].strip("[v")))
        for i, node, bound, ins in tape.forward_program:
            lines += self.comment(i, node)
            out = self.names("v", i)
            exprs = self.forward_exprs(lines, i, node, ins)
            if exprs is None:
                unpacked.add(self.unpack(out, i, "w"))
                lines += [f"w = asarray({self.fn(bound)}({', '.join(f'n{j}.data' for j in ins)}))",
                          f"n{i}.data = w", self.unpack(out, i, "w")]
                continue
            lines += [line for name, expr in zip(out, exprs) for line in assign(name, expr)]
            lines.append(f"n{i}.data = {self.pack(out, i)}")
        return _used_only([*lines, *self.values()], unpacked)

    def forward_exprs(self, lines: list[str], i: int, node: Any, ins: tuple[int, ...]) -> list[str] | None:
        """Node ``i``'s entries as float expressions, or None for an op without a float form here."""
        name, size = _name(node), self.sizes(i)
        if name in FORWARD and self.elementwise(i, ins):
            return [FORWARD[name].format(*(self.operand(j, k) for j in ins)) for k in range(size)]
        if name in FUNCTIONS and self.elementwise(i, ins):
            return self.apply(lines, name, [self.operand(ins[0], k) for k in range(size)])
        attrs = node.attrs or {}
        if name == "sum" and not attrs.get("keepdims") and attrs.get("axis") is None and _vector(self.tape, ins[0]):
            return [" + ".join(["0.0", *self.names("v", ins[0])])]
        if name in ("ssr", "mse") and _pair(self.tape, ins):
            a, b = (self.names("v", j) for j in ins)
            total = " + ".join(["0.0", *(f"({x} - {y}) * ({x} - {y})" for x, y in zip(a, b))])
            return [f"({total}) / {len(a)}" if name == "mse" else total]
        return None

    def backward(self) -> tuple[list[str], dict[int, list[str]]]:
        """The backward pass; returns its lines and each slot's gradient entries by name."""
        tape = self.tape
        root = len(tape.order) - 1
        grads: dict[int, list[str]] = {root: self.names("g", root)}
        lines: list[str] = []
        for i, ins, edges in tape.backward_program:
            node = tape.nodes[i]
            lines += self.comment(i, node)
            ks = [k for k, parent in enumerate(node.parents) if parent.requires_grad]
            for k, (bound, p, shape) in zip(ks, edges):
                local = self.vjp(lines, i, ins, k, node, bound, shape)
                if p not in grads:
                    grads[p] = self.names("g", p)
                    lines += [line for name, expr in zip(grads[p], local) for line in assign(name, expr)]
                else:
                    sums = [assign(name, f"{name} + {_term(expr)}") for name, expr in zip(grads[p], local)]
                    lines += [line for part in sums for line in part]
        code = "\n".join(lines)
        self.reads = [j for j in range(len(tape.nodes)) if re.search(rf"\bv{j}_\d", code)]
        names = [name for j in self.reads for name in self.names("v", j)]
        reads = [self.unpack(self.names("v", j), j, f"n{j}.data") for j in self.reads]
        given = ["(", *_rows(names), ") = values"] if names else ["pass"]
        return [self.unpack(grads[root], root, "seed"), "if values is None:  # the values of the forward pass",
                *_indent(reads or ["pass"]), "else:", *_indent(given), *lines], grads

    def values(self) -> list[str]:
        """The forward pass's return: the values the backward pass reads, which it would read from ``.data``."""
        names = [name for j in self.reads for name in self.names("v", j)]
        return ["return (", *_rows(names), ")"]

    def vjp(self, lines: list[str], i: int, ins: tuple[int, ...], k: int, node: Any, bound: Any,
            shape: tuple[int, ...]) -> list[str]:
        """The entries of the gradient node ``i`` passes to its ``k``-th input, summed back to its shape."""
        local = self.float_vjp(lines, i, ins, k, node)
        if local is None:  # the op table's own VJP, on arrays, summed back as the plain path does
            g, j = self.names("g", i), ins[k]
            temps = [f"t{self.temps + e}" for e in range(self.sizes(j))]
            self.temps += len(temps)
            args = ", ".join(f"n{m}.data" for m in [i, *ins])
            lines += [f"w = {self.pack(g, i)}",
                      self.unpack(temps, j, f"unbroadcast(asarray({self.fn(bound)}(w, {args})), {_shape_text(shape)})")]
            return temps
        if shape == () and self.tape.nodes[i].data.shape != ():
            return [" + ".join(["0.0", *local])]  # summed back to a single number, in NumPy's order
        return local

    def float_vjp(self, lines: list[str], i: int, ins: tuple[int, ...], k: int, node: Any) -> list[str] | None:
        """The VJP's entries as float expressions, at node ``i``'s shape; None for an op without a float form."""
        name, size, j = _name(node), self.sizes(i), ins[k]
        g = self.names("g", i)
        if name in BACKWARD and self.elementwise(i, ins):
            return [BACKWARD[name][k].format(*(self.operand(m, e) for m in ins), g=g[e], out=f"v{i}_{e}")
                    for e in range(size)]
        if name == "softplus" and self.elementwise(i, ins):
            e = self.apply(lines, "exp", [f"{self.operand(j, e)} - v{i}_{e}" for e in range(size)])
            return [f"{g[n]} * {e[n]}" for n in range(size)]
        if name == "sum" and self.forward_exprs([], i, node, ins) is not None:
            return [g[0]] * self.sizes(j)
        if name in ("ssr", "mse") and _pair(self.tape, ins):
            a, b = (self.names("v", m) for m in ins)
            factor = "2.0" if name == "ssr" else repr(2.0 / len(a))
            pairs = zip(a, b) if k == 0 else zip(b, a)
            return [f"(({x} - {y}) * {factor}) * {g[0]}" for x, y in pairs]
        return None


def assign(name: str, expr: str, width: int = 100) -> list[str]:
    """``name = expr``, a long sum broken before its ``+`` signs inside parentheses (one term per line)."""
    line = f"{name} = {expr}"
    if len(line) <= width or " + " not in expr:
        return [line]
    first, *rest = expr.split(" + ")
    return [f"{name} = (", f"    {first}", *(f"    + {term}" for term in rest), ")"]


def _used_only(lines: list[str], unpacked: set[str]) -> list[str]:
    """``lines`` without the unpacking lines whose names nothing else reads (an input only an op called
    as itself uses, say)."""
    counts = Counter(re.findall(r"\bv\d+_\d+\b", "\n".join(lines)))
    return [line for line in lines if line not in unpacked
            or any(counts[name] > 1 for name in re.findall(r"\bv\d+_\d+\b", line.split(" = ")[0]))]


def _rows(names: list[str], size: int = 8) -> list[str]:
    """Names as the rows of a parenthesized tuple, ``size`` a row, each row ending in a comma."""
    return [f"    {', '.join(names[k:k + size])}," for k in range(0, len(names), size)]


def _indent(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


def _term(expr: str) -> str:
    """``expr`` as one term of a sum: in parentheses unless it is a name (``a + (b + c)`` is not ``a + b + c``)."""
    return expr if expr.isidentifier() else f"({expr})"


def _name(node: Any) -> str:
    """The op's name where it is the op table's own (a custom op of the same name is called as itself)."""
    op = node.op
    if op is None or OPS.get(op.name) is not op:
        return ""
    return str(node.op.name)


def _vector(tape: Tape, j: int) -> bool:
    return tape.nodes[j].data.ndim == 1


def _pair(tape: Tape, ins: tuple[int, ...]) -> bool:
    a, b = (tape.nodes[j].data for j in ins)
    return a.ndim == 1 and a.shape == b.shape


def _shape_text(shape: tuple[int, ...]) -> str:
    return "()" if not shape else f"({', '.join(str(int(n)) for n in shape)},)"
